"""Demo data: the scenario of the seed news report, for a developer's machine or a demo site.

Rutan Pemalang, Rutan Pekalongan and Lapas Pekalongan discuss a PKS on P4GN and narcotics
rehabilitation with BNNK Batang at the BNNK office on Tuesday 29 July 2025, and sign it on Monday
4 August 2025 at Rutan Pekalongan, where the social rehabilitation programme is launched.

Only Indra Biantong and Anis Arum Nuraeni are named in the report. Everyone else appears by
position under a placeholder name ("Kepala BNNK Batang", "Perwakilan Lapas Pekalongan"); the
agreement numbers, addresses and participants are invented, and the participants are
obviously so ("Peserta Demo 01").

Everything past the institutions and people is made through the apps' services, in the order
the staff pages would: the draft, its parties and numbers, the move to discussion, the meeting
with its attendees, minutes and follow-up, the move to ready, the signing ceremony (which
signs and issues the official PDF), the programme, the participants, their screening,
assessment, enrolment and phases. So the demo holds only states the application can reach,
with their status history, enrolment events and history entries. They are recorded by the
inactive account `DEMO_AUTHOR`, which nobody can log in with.

Loading is idempotent: every record is found by its natural key, and a step already taken is
not taken again, so running it again leaves the same rows with the same primary keys. Records
the services no longer let anyone change (a signed agreement, a recorded move) are left as
they are.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agreements.models import Agreement, FollowUp, Meeting, Party
from agreements.services.issuing import issued_document_for
from agreements.services.lifecycle import (
    agreement_create,
    agreement_move,
    parties_replace,
    signing_event_record,
)
from agreements.services.meetings import (
    attendee_add,
    follow_up_create,
    follow_up_mark_done,
    meeting_schedule,
    meeting_update,
)
from institutions.access import Account
from institutions.models import Institution, Membership, Person, Position
from institutions.services import role_grant
from rehabilitation.models import Assessment, Enrolment, Participant, Programme
from rehabilitation.services.enrolment import (
    enrolment_assess,
    enrolment_complete,
    enrolment_end,
    enrolment_enrol,
    enrolment_next_phase,
)
from rehabilitation.services.participants import participant_create
from rehabilitation.services.programmes import programme_create
from rehabilitation.services.screening import enrolment_screen

#: The password of every demo account, reset on each run so that it is always this one.
DEMO_PASSWORD = "demo-pks-2025"  # noqa: S105 - a published demo password, refused without DEBUG

SIGNING_DAY = datetime.date(2025, 8, 4)
MEETING_DAY = datetime.date(2025, 7, 29)

AGREEMENT_TITLE = "PKS P4GN dan Rehabilitasi Narkotika bagi Tahanan dan Narapidana"
AGREEMENT_SUBJECT = (
    "Pencegahan, Pemberantasan, Penyalahgunaan dan Peredaran Gelap Narkotika dan Prekursor "
    "Narkotika serta Program Rehabilitasi Narkotika bagi Tahanan dan Narapidana"
)
PROGRAMME_NAME = "Program Rehabilitasi Sosial Rutan Pekalongan"


class DemoAccountsRefused(Exception):
    """Demo accounts have a published password: they are only made when DEBUG is on."""


@dataclass(frozen=True, slots=True)
class _Unit:
    """An institution of the scenario, its agreement number and its (placeholder) head."""

    key: str
    name: str
    short_name: str
    kind: str
    grade: str
    regency: str
    address: str
    number: str
    head: str
    head_position: str


_BNNK_BATANG = _Unit(
    key="bnnk_batang",
    name="Badan Narkotika Nasional Kabupaten Batang",
    short_name="BNNK Batang",
    kind=Institution.Kind.BNNK,
    grade="",
    regency="Kabupaten Batang",
    address="Jl. Jenderal Sudirman, Batang",
    number="PKS/08/VIII/2025/BNNK-BTG",
    head="Kepala BNNK Batang",
    head_position="Kepala Badan Narkotika Nasional Kabupaten Batang",
)
_RUTAN_PEMALANG = _Unit(
    key="rutan_pemalang",
    name="Rumah Tahanan Negara Kelas IIB Pemalang",
    short_name="Rutan Pemalang",
    kind=Institution.Kind.RUTAN,
    grade=Institution.Grade.IIB,
    regency="Kabupaten Pemalang",
    address="Jl. Pemuda, Pemalang",
    number="W13.PAS.PAS24-HM.01.02-0512",
    head="Kepala Rutan Pemalang",
    head_position="Kepala Rumah Tahanan Negara Kelas IIB Pemalang",
)
_RUTAN_PEKALONGAN = _Unit(
    key="rutan_pekalongan",
    name="Rumah Tahanan Negara Kelas IIA Pekalongan",
    short_name="Rutan Pekalongan",
    kind=Institution.Kind.RUTAN,
    grade=Institution.Grade.IIA,
    regency="Kota Pekalongan",
    address="Jl. Merdeka, Pekalongan",
    number="W13.PAS.PAS10-PK.01.01.01-1187",
    head="Kepala Rutan Pekalongan",
    head_position="Kepala Rumah Tahanan Negara Kelas IIA Pekalongan",
)
_LAPAS_PEKALONGAN = _Unit(
    key="lapas_pekalongan",
    name="Lembaga Pemasyarakatan Kelas IIA Pekalongan",
    short_name="Lapas Pekalongan",
    kind=Institution.Kind.LAPAS,
    grade=Institution.Grade.IIA,
    regency="Kota Pekalongan",
    address="Jl. Sriwijaya, Pekalongan",
    number="W13.PAS.PAS9-HM.04.04-2109",
    head="Kepala Lapas Pekalongan",
    head_position="Kepala Lembaga Pemasyarakatan Kelas IIA Pekalongan",
)
#: In party order: BNNK Batang is PIHAK PERTAMA.
_UNITS = (_BNNK_BATANG, _RUTAN_PEMALANG, _RUTAN_PEKALONGAN, _LAPAS_PEKALONGAN)

#: The two people the report names, both of Rutan Pemalang: (name, position).
_NAMED_ATTENDEES = (
    ("Indra Biantong", "Kasubsi Pelayanan Tahanan"),
    ("Anis Arum Nuraeni", "JFT Perawat"),
)
#: Representatives the report mentions without names: (placeholder name, unit).
_UNNAMED_ATTENDEES = (
    ("Perwakilan Lapas Pekalongan", _LAPAS_PEKALONGAN),
    ("Perwakilan Rutan Pekalongan", _RUTAN_PEKALONGAN),
    ("Pejabat BNNK Batang", _BNNK_BATANG),
)

_AGENDA = "\n".join(
    (
        "1. Pembahasan rancangan Perjanjian Kerja Sama Pencegahan, Pemberantasan, "
        "Penyalahgunaan dan Peredaran Gelap Narkotika dan Prekursor Narkotika serta Program "
        "Rehabilitasi Narkotika bagi Tahanan dan Narapidana.",
        "2. Langkah-langkah strategis menekan penyalahgunaan narkotika di lingkungan "
        "pemasyarakatan.",
        "3. Penyusunan program rehabilitasi sosial bagi tahanan dan narapidana.",
        "4. Rencana penandatanganan Perjanjian Kerja Sama dan pencanangan program.",
    )
)
_MINUTES = (
    "Pembahasan difasilitasi oleh BNNK Batang dan dihadiri oleh perwakilan Rutan Pemalang "
    "(Kasubsi Pelayanan Tahanan dan JFT Perawat), Lapas Pekalongan dan Rutan Pekalongan. "
    "PARA PIHAK membahas langkah-langkah strategis untuk menekan penyalahgunaan narkotika di "
    "lingkungan pemasyarakatan, tidak hanya melalui pencegahan tetapi juga melalui penyusunan "
    "program rehabilitasi sosial bagi tahanan dan narapidana yang terjerat kasus narkotika, "
    "agar mereka dapat kembali ke masyarakat dalam kondisi yang lebih baik. PARA PIHAK "
    "sepakat bahwa kerja sama ini menjadi tonggak sinergi antara BNNK Batang serta Lapas dan "
    "Rutan di wilayah Eks Karesidenan Pekalongan dalam mewujudkan lingkungan pemasyarakatan "
    "yang bersih dari narkoba."
)
_DECISIONS = (
    "Penandatanganan PKS dan pencanangan program rehabilitasi sosial pada Senin, "
    "4 Agustus 2025 di Rutan Pekalongan"
)
_FOLLOW_UP = (
    "Menyiapkan penandatanganan PKS dan pencanangan program rehabilitasi sosial di Rutan "
    "Pekalongan."
)


PROGRAMME_CAPACITY = 30
#: The account that records the demo in the history: a superuser while the demo loads, made
#: inactive again at the end, with no usable password.
DEMO_AUTHOR = "demo.data"

Status = Enrolment.Status


@dataclass(frozen=True, slots=True)
class _Move:
    """One move of an enrolment after its screening: "assess", "enrol", "phase" (the next
    phase), "complete" or one of the endings (an `Enrolment.Status`), on `date`."""

    kind: str
    date: datetime.date
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _DemoParticipant:
    """An invented detainee or prisoner, screened for the demo programme and moved on."""

    unit: _Unit
    register_number: str
    full_name: str
    status: str
    sex: str
    screened_on: datetime.date
    scores: dict[str, int]
    moves: tuple[_Move, ...]


def _through_phases(
    screened: datetime.date, *, enrolled: datetime.date, phases: int
) -> tuple[_Move, ...]:
    """Assessed 3 days after the screening, enrolled on `enrolled` and started there on the
    first phase; then the next phase after 2 weeks (orientation) and 19 more (primary)."""
    starts = (
        enrolled,
        enrolled + datetime.timedelta(weeks=2),
        enrolled + datetime.timedelta(weeks=21),
    )
    moves = [_Move("assess", screened + datetime.timedelta(days=3)), _Move("enrol", enrolled)]
    moves += [_Move("phase", start) for start in starts[:phases]]
    return tuple(moves)


_FIRST_SCREENING = datetime.date(2025, 8, 5)
_FIRST_COHORT = datetime.date(2025, 8, 11)
_SECOND_SCREENING = datetime.date(2026, 8, 3)
_SECOND_COHORT = datetime.date(2026, 8, 10)
_PARTICIPANTS = (
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.I-0157/2025",
        full_name="Peserta Demo 01",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        screened_on=_FIRST_SCREENING,
        scores={"stimulants": 29, "tobacco": 24},
        moves=(
            *_through_phases(_FIRST_SCREENING, enrolled=_FIRST_COHORT, phases=3),
            _Move(Status.COMPLETED, datetime.date(2026, 2, 6)),
        ),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.I-0163/2025",
        full_name="Peserta Demo 02",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        screened_on=_FIRST_SCREENING,
        scores={"stimulants": 18, "cannabis": 12},
        moves=(
            *_through_phases(_FIRST_SCREENING, enrolled=_FIRST_COHORT, phases=2),
            _Move(
                Status.DROPPED_OUT,
                datetime.date(2025, 9, 19),
                "Tidak lagi mengikuti kegiatan fase primer.",
            ),
        ),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="A.II-0412/2025",
        full_name="Peserta Demo 03",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        screened_on=_FIRST_SCREENING,
        scores={"stimulants": 31},
        moves=(
            *_through_phases(_FIRST_SCREENING, enrolled=_FIRST_COHORT, phases=2),
            _Move(
                Status.RELEASED,
                datetime.date(2025, 10, 24),
                "Bebas setelah putusan pengadilan.",
            ),
        ),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.IIa-0089/2026",
        full_name="Peserta Demo 04",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.FEMALE,
        screened_on=_SECOND_SCREENING,
        scores={"sedatives": 15},
        moves=_through_phases(_SECOND_SCREENING, enrolled=_SECOND_COHORT, phases=2),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="A.III-0208/2026",
        full_name="Peserta Demo 05",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        screened_on=_SECOND_SCREENING,
        scores={"cannabis": 14},
        moves=_through_phases(_SECOND_SCREENING, enrolled=_SECOND_COHORT, phases=0),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEMALANG,
        register_number="B.I-0071/2026",
        full_name="Peserta Demo 06",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        screened_on=_SECOND_SCREENING,
        scores={"stimulants": 27},
        moves=_through_phases(_SECOND_SCREENING, enrolled=_SECOND_COHORT, phases=1),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEMALANG,
        register_number="A.II-0133/2026",
        full_name="Peserta Demo 07",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        screened_on=_SECOND_SCREENING,
        scores={"stimulants": 22},
        moves=(_Move("assess", _SECOND_SCREENING + datetime.timedelta(days=3)),),
    ),
)

#: The assessment team of every demo assessment (positions, no names).
_ASSESSMENT_TEAM = "\n".join(
    (
        "Dokter Rutan Pekalongan",
        "Psikolog BNNK Batang",
        "Konselor adiksi BNNK Batang",
        "Petugas pemasyarakatan Rutan Pekalongan",
    )
)

#: username → (superuser?, [(unit, role), …])
_ACCOUNTS: dict[str, tuple[bool, tuple[tuple[_Unit, str], ...]]] = {
    "admin": (True, ()),
    "staf.pemalang": (
        False,
        (
            (_RUTAN_PEMALANG, Membership.Role.EDITOR),
            (_RUTAN_PEMALANG, Membership.Role.PROGRAMME),
        ),
    ),
    "staf.batang": (
        False,
        (
            (_BNNK_BATANG, Membership.Role.EDITOR),
            (_BNNK_BATANG, Membership.Role.PROGRAMME),
        ),
    ),
}
DEMO_USERNAMES = tuple(_ACCOUNTS)

#: The apps whose rows the demo makes (and counts), besides the accounts.
SEEDED_APPS = ("institutions", "agreements", "rehabilitation")


def _counts() -> dict[str, int]:
    """Rows per model of the seeded apps (with their many-to-many tables) and accounts."""
    models = [
        model
        for label in SEEDED_APPS
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    return {
        model._meta.label: model._default_manager.count() for model in [*models, get_user_model()]
    }


def seed_demo(*, with_accounts: bool) -> dict[str, int]:
    """Load the demo scenario and return how many rows of each model it created.

    Keys are model labels ("agreements.Agreement"), every model of the seeded apps; a second
    run returns zeros everywhere. With `with_accounts`, also makes the accounts `admin`,
    `staf.pemalang` and `staf.batang` with the password DEMO_PASSWORD; raises
    DemoAccountsRefused, before writing anything, when settings.DEBUG is off.

    Signing issues the agreement's official PDF once the load commits (as on the staff
    pages); the document is then read, or issued if that failed, before returning.
    """
    if with_accounts and not settings.DEBUG:
        raise DemoAccountsRefused(
            "Refusing to create demo accounts with DEBUG off: their password "
            f"{DEMO_PASSWORD!r} is published."
        )
    before = _counts()
    with transaction.atomic():
        author = _author(active=True)
        institutions = _seed_institutions()
        agreement = _seed_agreement(author, institutions)
        _seed_programme(author, institutions, agreement)
        if with_accounts:
            _seed_accounts(author, institutions)
        _author(active=False)
    issued_document_for(Agreement.objects.get(pk=agreement.pk))
    after = _counts()
    return {label: after[label] - before[label] for label in after}


def _author(*, active: bool) -> Account:
    """The demo's author: active (and a superuser) only inside the loading transaction."""
    user, _ = get_user_model().objects.get_or_create(
        username=DEMO_AUTHOR, defaults={"first_name": "Data", "last_name": "Demo"}
    )
    user.is_superuser = True
    user.is_staff = False
    user.is_active = active
    user.set_unusable_password()
    user.save()
    return user


def _seed_institutions() -> dict[str, Institution]:
    # Institutions have no lifecycle and no service: the demo keeps them up to date.
    return {
        unit.key: Institution.objects.update_or_create(
            name=unit.name,
            defaults={
                "short_name": unit.short_name,
                "kind": unit.kind,
                "grade": unit.grade,
                "regency": unit.regency,
                "province": "Jawa Tengah",
                "address": unit.address,
            },
        )[0]
        for unit in _UNITS
    }


def _person(full_name: str, institution: Institution | None = None, title: str = "") -> Person:
    """The person of that name, holding `title` at `institution` (without dates: unknown).
    People and positions have no service: made as rows."""
    person = Person.objects.get_or_create(full_name=full_name)[0]
    if institution is not None:
        Position.objects.get_or_create(person=person, institution=institution, title=title)
    return person


def _seed_agreement(author: Account, institutions: dict[str, Institution]) -> Agreement:
    """The PKS, from draft to signed, with its discussion meeting on the way."""
    bnnk = institutions[_BNNK_BATANG.key]
    # The natural key the database enforces: the number PIHAK PERTAMA's registry gave it.
    party = Party.objects.filter(institution=bnnk, number=_BNNK_BATANG.number).first()
    if party is None:
        agreement = agreement_create(
            user=author,
            title=AGREEMENT_TITLE,
            subject=AGREEMENT_SUBJECT,
            institutions=[institutions[unit.key] for unit in _UNITS],
            kind=Agreement.Kind.PKS,
            term_months=24,
        )
        parties_replace(
            agreement=agreement,
            user=author,
            parties=[
                {
                    "institution": institutions[unit.key],
                    "number": unit.number,
                    "signatory": _person(unit.head, institutions[unit.key], unit.head_position),
                    "signatory_position": unit.head_position,
                }
                for unit in _UNITS
            ],
        )
        agreement_move(agreement=agreement, user=author, to_status=Agreement.Status.DISCUSSION)
    agreement = Agreement.objects.get(
        parties__institution=bnnk, parties__number=_BNNK_BATANG.number
    )
    _seed_meeting(author, institutions, agreement)
    if agreement.status == Agreement.Status.DISCUSSION:
        agreement = agreement_move(
            agreement=agreement, user=author, to_status=Agreement.Status.READY
        )
    if agreement.status == Agreement.Status.READY:
        signing_event_record(
            user=author,
            date=SIGNING_DAY,
            venue="Rutan Pekalongan",
            host=institutions[_RUTAN_PEKALONGAN.key],
            agreements=[agreement],
            start_time=datetime.time(9, 0),
            notes=(
                "Penandatanganan Perjanjian Kerja Sama dan pencanangan resmi program "
                "rehabilitasi sosial bagi tahanan dan narapidana."
            ),
        )
    return Agreement.objects.select_related("signing_event").get(pk=agreement.pk)


def _seed_meeting(
    author: Account, institutions: dict[str, Institution], agreement: Agreement
) -> Meeting:
    bnnk_batang = institutions[_BNNK_BATANG.key]
    meeting = Meeting.objects.filter(
        agreement=agreement, date=MEETING_DAY, start_time=datetime.time(9, 0)
    ).first()
    if meeting is None:
        meeting = meeting_schedule(
            agreement=agreement,
            user=author,
            date=MEETING_DAY,
            start_time=datetime.time(9, 0),
            end_time=None,  # "hingga selesai": until finished
            venue="Kantor BNNK Batang",
            host=bnnk_batang,
            agenda=_AGENDA,
        )
    if not meeting.minutes:
        meeting = meeting_update(
            meeting=meeting, user=author, minutes=_MINUTES, decisions=_DECISIONS
        )
    rutan_pemalang = institutions[_RUTAN_PEMALANG.key]
    attendees = [
        (_person(full_name, rutan_pemalang, title), rutan_pemalang, title)
        for full_name, title in _NAMED_ATTENDEES
    ]
    # The report gives neither name nor position: the placeholder names the role.
    attendees += [
        (_person(placeholder), institutions[unit.key], "")
        for placeholder, unit in _UNNAMED_ATTENDEES
    ]
    for person, institution, title in attendees:
        if not meeting.attendees.filter(person=person).exists():
            attendee_add(
                meeting=meeting, user=author, institution=institution, person=person, position=title
            )
    follow_up = FollowUp.objects.filter(meeting=meeting, description=_FOLLOW_UP).first()
    if follow_up is None:
        follow_up = follow_up_create(
            meeting=meeting,
            user=author,
            description=_FOLLOW_UP,
            owner=institutions[_RUTAN_PEKALONGAN.key],
            due_date=SIGNING_DAY,
        )
    if follow_up.done_on is None:
        follow_up_mark_done(follow_up=follow_up, user=author, done_on=SIGNING_DAY)
    return meeting


def _seed_programme(
    author: Account, institutions: dict[str, Institution], agreement: Agreement
) -> Programme:
    host = institutions[_RUTAN_PEKALONGAN.key]
    programme = Programme.objects.filter(name=PROGRAMME_NAME, host=host).first()
    if programme is None:
        # Partners see the participants' personal data: only BNNK Batang, which runs the
        # programme with the host, and Rutan Pemalang, which sends participants. Lapas
        # Pekalongan is a party to the PKS but has nobody enrolled here.
        programme = programme_create(
            user=author,
            name=PROGRAMME_NAME,
            kind=Programme.Kind.SOCIAL,
            host=host,
            agreement=agreement,
            launch_date=SIGNING_DAY,
            launch_event=agreement.signing_event,
            partners=[institutions[_BNNK_BATANG.key], institutions[_RUTAN_PEMALANG.key]],
            capacity=PROGRAMME_CAPACITY,
        )
    for spec in _PARTICIPANTS:
        _seed_enrolment(author, institutions, programme, spec)
    return programme


def _seed_enrolment(
    author: Account,
    institutions: dict[str, Institution],
    programme: Programme,
    spec: _DemoParticipant,
) -> Enrolment:
    institution = institutions[spec.unit.key]
    participant = Participant.objects.filter(
        institution=institution, register_number=spec.register_number
    ).first()
    if participant is None:
        participant = participant_create(
            user=author,
            institution=institution,
            register_number=spec.register_number,
            full_name=spec.full_name,
            status=spec.status,
            sex=spec.sex,
            case_article="Pasal 127 UU 35/2009",
            substances=sorted(spec.scores),
        )
    enrolment = Enrolment.objects.filter(participant=participant, programme=programme).first()
    if enrolment is None:
        enrolment = enrolment_screen(
            user=author,
            participant=participant,
            programme=programme,
            date=spec.screened_on,
            scores=spec.scores,
        )
    # The screening is the first event; each later one is one move of the plan.
    done = enrolment.events.count() - 1
    for move in spec.moves[done:]:
        _make_move(author, enrolment, move)
    return enrolment


def _make_move(author: Account, enrolment: Enrolment, move: _Move) -> None:
    if move.kind == "assess":
        enrolment_assess(
            user=author,
            enrolment=enrolment,
            date=move.date,
            team=_ASSESSMENT_TEAM,
            recommendation=Assessment.Recommendation.SOCIAL,
        )
    elif move.kind == "enrol":
        enrolment_enrol(user=author, enrolment=enrolment, date=move.date)
    elif move.kind == "phase":
        enrolment_next_phase(user=author, enrolment=enrolment, date=move.date)
    elif move.kind == Status.COMPLETED:
        enrolment_complete(
            user=author,
            enrolment=enrolment,
            date=move.date,
            recovered=True,
            skilled=True,
            independent=True,
        )
    else:
        enrolment_end(
            user=author,
            enrolment=enrolment,
            to_status=move.kind,
            date=move.date,
            reason=move.reason,
        )


def _seed_accounts(author: Account, institutions: dict[str, Institution]) -> None:
    user_model = get_user_model()
    for username, (superuser, roles) in _ACCOUNTS.items():
        user = user_model.objects.get_or_create(username=username)[0]
        user.is_active = True
        user.is_staff = superuser
        user.is_superuser = superuser
        user.set_password(DEMO_PASSWORD)
        user.save()
        for unit, role in roles:
            institution = institutions[unit.key]
            if not Membership.objects.filter(
                user=user, institution=institution, role=role
            ).exists():
                role_grant(actor=author, institution=institution, user=user, role=role)
