"""Demo data: the scenario of the seed news report, for a developer's machine or a demo site.

Rutan Pemalang, Rutan Pekalongan and Lapas Pekalongan discuss a PKS on P4GN and narcotics
rehabilitation with BNNK Batang at the BNNK office on Tuesday 29 July 2025, and sign it on Monday
4 August 2025 at Rutan Pekalongan, where the social rehabilitation programme is launched.

Only Indra Biantong and Anis Arum Nuraeni are named in the report. Everyone else appears by
position under a placeholder name ("Kepala BNNK Batang", "Perwakilan Lapas Pekalongan"); the
agreement numbers, addresses and participants are invented, and the participants are
obviously so ("Peserta Demo 01").

Loading is idempotent: every row is found by its natural key and brought up to date, so running
it again leaves the same rows with the same primary keys.
"""

from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction

from agreements.models import (
    Agreement,
    Article,
    Attendee,
    FollowUp,
    Meeting,
    Party,
    SigningEvent,
)
from agreements.standard_articles import (
    STANDARD_CONSIDERATIONS,
    STANDARD_LEGAL_BASIS,
    add_standard_articles,
)
from institutions.models import Institution, Membership, Person, Position

from .models import Enrolment, Participant, Programme

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


@dataclass(frozen=True, slots=True)
class _DemoParticipant:
    """An invented detainee or prisoner and their enrolment in the demo programme."""

    unit: _Unit
    register_number: str
    full_name: str
    status: str
    sex: str
    enrolment_status: str
    start_date: datetime.date
    end_date: datetime.date | None = None


_FIRST_COHORT = datetime.date(2025, 8, 11)
_SECOND_COHORT = datetime.date(2026, 8, 10)
_PARTICIPANTS = (
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.I-0157/2025",
        full_name="Peserta Demo 01",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.COMPLETED,
        start_date=_FIRST_COHORT,
        end_date=datetime.date(2026, 2, 6),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.I-0163/2025",
        full_name="Peserta Demo 02",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.DROPPED_OUT,
        start_date=_FIRST_COHORT,
        end_date=datetime.date(2025, 9, 19),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="A.II-0412/2025",
        full_name="Peserta Demo 03",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.RELEASED,
        start_date=_FIRST_COHORT,
        end_date=datetime.date(2025, 10, 24),
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="B.IIa-0089/2026",
        full_name="Peserta Demo 04",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.FEMALE,
        enrolment_status=Enrolment.Status.IN_PHASE,
        start_date=_SECOND_COHORT,
    ),
    _DemoParticipant(
        unit=_RUTAN_PEKALONGAN,
        register_number="A.III-0208/2026",
        full_name="Peserta Demo 05",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.ENROLLED,
        start_date=_SECOND_COHORT,
    ),
    _DemoParticipant(
        unit=_RUTAN_PEMALANG,
        register_number="B.I-0071/2026",
        full_name="Peserta Demo 06",
        status=Participant.Status.PRISONER,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.IN_PHASE,
        start_date=_SECOND_COHORT,
    ),
    _DemoParticipant(
        unit=_RUTAN_PEMALANG,
        register_number="A.II-0133/2026",
        full_name="Peserta Demo 07",
        status=Participant.Status.DETAINEE,
        sex=Participant.Sex.MALE,
        enrolment_status=Enrolment.Status.ASSESSED,
        start_date=_SECOND_COHORT,
    ),
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


class _Tally:
    """Counts the rows created per model; a model that was only looked up counts 0."""

    def __init__(self) -> None:
        self.created: Counter[str] = Counter()

    def __call__[M: models.Model](self, found: tuple[M, bool]) -> M:
        row, created = found
        self.created[row._meta.label] += int(created)
        return row

    def add(self, model: type[models.Model], count: int) -> None:
        self.created[model._meta.label] += count


def seed_demo(*, with_accounts: bool) -> dict[str, int]:
    """Load the demo scenario and return how many rows of each model it created.

    Keys are model labels ("agreements.Agreement"); a second run returns zeros everywhere.
    With `with_accounts`, also makes the accounts `admin`, `staf.pemalang` and `staf.batang`
    with the password DEMO_PASSWORD; raises DemoAccountsRefused, before writing anything,
    when settings.DEBUG is off.
    """
    if with_accounts and not settings.DEBUG:
        raise DemoAccountsRefused(
            "Refusing to create demo accounts with DEBUG off: their password "
            f"{DEMO_PASSWORD!r} is published."
        )
    tally = _Tally()
    with transaction.atomic():
        institutions = _seed_institutions(tally)
        agreement = _seed_agreement(tally, institutions)
        _seed_meeting(tally, institutions, agreement)
        _seed_programme(tally, institutions, agreement)
        if with_accounts:
            _seed_accounts(tally, institutions)
    return dict(tally.created)


def _seed_institutions(tally: _Tally) -> dict[str, Institution]:
    return {
        unit.key: tally(
            Institution.objects.update_or_create(
                name=unit.name,
                defaults={
                    "short_name": unit.short_name,
                    "kind": unit.kind,
                    "grade": unit.grade,
                    "regency": unit.regency,
                    "province": "Jawa Tengah",
                    "address": unit.address,
                },
            )
        )
        for unit in _UNITS
    }


def _person(tally: _Tally, full_name: str, institution: Institution, title: str) -> Person:
    """The person of that name, holding `title` at `institution` (without dates: unknown)."""
    person = tally(Person.objects.get_or_create(full_name=full_name))
    tally(Position.objects.get_or_create(person=person, institution=institution, title=title))
    return person


def _seed_agreement(tally: _Tally, institutions: dict[str, Institution]) -> Agreement:
    rutan_pekalongan = institutions[_RUTAN_PEKALONGAN.key]
    event = tally(
        SigningEvent.objects.update_or_create(
            date=SIGNING_DAY,
            venue="Rutan Pekalongan",
            host=rutan_pekalongan,
            defaults={
                "notes": (
                    "Penandatanganan Perjanjian Kerja Sama dan pencanangan resmi program "
                    "rehabilitasi sosial bagi tahanan dan narapidana."
                )
            },
        )
    )
    # The natural key the database enforces: the number PIHAK PERTAMA's registry gave it.
    agreement = tally(
        Agreement.objects.update_or_create(
            parties__institution=institutions[_BNNK_BATANG.key],
            parties__number=_BNNK_BATANG.number,
            defaults={
                "kind": Agreement.Kind.PKS,
                "title": AGREEMENT_TITLE,
                "subject": AGREEMENT_SUBJECT,
                "status": Agreement.Status.SIGNED,
                "considerations": STANDARD_CONSIDERATIONS,
                "legal_basis": STANDARD_LEGAL_BASIS,
                "term_months": 24,
                "effective_date": SIGNING_DAY,
                "end_date": datetime.date(2027, 8, 3),
                "signed_on": SIGNING_DAY,
                "signing_place": "Rutan Pekalongan",
                "signing_event": event,
            },
        )
    )
    for order, unit in enumerate(_UNITS, start=1):
        institution = institutions[unit.key]
        head = _person(tally, unit.head, institution, unit.head_position)
        tally(
            Party.objects.update_or_create(
                agreement=agreement,
                order=order,
                defaults={
                    "institution": institution,
                    "number": unit.number,
                    "signatory": head,
                    "signatory_position": unit.head_position,
                },
            )
        )
    articles = [] if agreement.articles.exists() else add_standard_articles(agreement)
    tally.add(Article, len(articles))
    return agreement


def _seed_meeting(
    tally: _Tally, institutions: dict[str, Institution], agreement: Agreement
) -> Meeting:
    bnnk_batang = institutions[_BNNK_BATANG.key]
    meeting = tally(
        Meeting.objects.update_or_create(
            agreement=agreement,
            date=MEETING_DAY,
            start_time=datetime.time(9, 0),
            defaults={
                "end_time": None,
                "venue": "Kantor BNNK Batang",
                "host": bnnk_batang,
                "agenda": _AGENDA,
                "minutes": _MINUTES,
                "decisions": _DECISIONS,
            },
        )
    )
    rutan_pemalang = institutions[_RUTAN_PEMALANG.key]
    for full_name, title in _NAMED_ATTENDEES:
        person = _person(tally, full_name, rutan_pemalang, title)
        tally(
            Attendee.objects.update_or_create(
                meeting=meeting,
                person=person,
                defaults={"institution": rutan_pemalang, "position": title},
            )
        )
    for placeholder, unit in _UNNAMED_ATTENDEES:
        # The report gives neither name nor position: the placeholder names the role.
        person = tally(Person.objects.get_or_create(full_name=placeholder))
        tally(
            Attendee.objects.update_or_create(
                meeting=meeting,
                person=person,
                defaults={"institution": institutions[unit.key], "position": ""},
            )
        )
    tally(
        FollowUp.objects.update_or_create(
            meeting=meeting,
            description=_FOLLOW_UP,
            defaults={
                "owner": institutions[_RUTAN_PEKALONGAN.key],
                "due_date": SIGNING_DAY,
                "done_on": SIGNING_DAY,
            },
        )
    )
    return meeting


def _seed_programme(
    tally: _Tally, institutions: dict[str, Institution], agreement: Agreement
) -> Programme:
    programme = tally(
        Programme.objects.update_or_create(
            name=PROGRAMME_NAME,
            host=institutions[_RUTAN_PEKALONGAN.key],
            defaults={
                "kind": Programme.Kind.SOCIAL,
                "agreement": agreement,
                "launch_date": SIGNING_DAY,
                "launch_event": agreement.signing_event,
                "capacity": 30,
            },
        )
    )
    # Partners see the participants' personal data: only BNNK Batang, which runs the
    # programme with the host, and Rutan Pemalang, which sends participants. Lapas Pekalongan
    # is a party to the PKS but has nobody enrolled here.
    programme.partners.set([institutions[_BNNK_BATANG.key], institutions[_RUTAN_PEMALANG.key]])
    for spec in _PARTICIPANTS:
        participant = tally(
            Participant.objects.update_or_create(
                institution=institutions[spec.unit.key],
                register_number=spec.register_number,
                defaults={"full_name": spec.full_name, "status": spec.status, "sex": spec.sex},
            )
        )
        tally(
            Enrolment.objects.update_or_create(
                participant=participant,
                programme=programme,
                defaults={
                    "status": spec.enrolment_status,
                    "start_date": spec.start_date,
                    "end_date": spec.end_date,
                },
            )
        )
    return programme


def _seed_accounts(tally: _Tally, institutions: dict[str, Institution]) -> None:
    user_model = get_user_model()
    for username, (superuser, roles) in _ACCOUNTS.items():
        user = tally(user_model.objects.get_or_create(username=username))
        user.is_active = True
        user.is_staff = superuser
        user.is_superuser = superuser
        user.set_password(DEMO_PASSWORD)
        user.save()
        for unit, role in roles:
            tally(
                Membership.objects.get_or_create(
                    user=user, institution=institutions[unit.key], role=role
                )
            )
