"""Small builders for test data.

Draft-level records (institutions, people, a draft agreement, a participant, a screened
enrolment with its intake screening) are plain rows. An agreement in discussion, ready,
signed or terminated is reached through `agreements.services.lifecycle`, a programme is made
through `programme_create`, and an enrolment past "screened" moves through the enrolment
services, as the staff pages do, so that each carries its events and history entries.
The moves are made by `actor()`, a superuser who holds no role anywhere (so that no
institution's staff lists change). `raw_programme` and `raw_enrolment` write rows the
services would not write, for tests of damaged or legacy data only.

Signing issues the official PDF once the signing commits; tests run inside a transaction that
never commits, so no PDF is rendered unless a test asks for it (`issuing.issued_document_for`).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Mapping, Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

from agreements.models import Agreement, Article, Party
from agreements.services.lifecycle import agreement_move, agreement_terminate, signing_event_record
from institutions.models import Institution, Membership, Person
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Enrolment,
    Participant,
    Phase,
    Programme,
    Screening,
    ScreeningScore,
    Session,
)
from rehabilitation.services import enrolment as enrolment_services
from rehabilitation.services import programmes as programme_services
from rehabilitation.services import screening as screening_services
from rehabilitation.services import sessions as session_services

PASSWORD = "a-long-test-password-2025"
_seq = itertools.count(1)


def institution(
    name: str | None = None, kind: str = Institution.Kind.RUTAN, **fields
) -> Institution:
    n = next(_seq)
    name = name or f"Rumah Tahanan Negara Uji {n}"
    fields.setdefault("short_name", name.replace("Rumah Tahanan Negara", "Rutan"))
    return Institution.objects.create(name=name, kind=kind, **fields)


def user(
    username: str | None = None,
    institution: Institution | None = None,
    roles: tuple[str, ...] = (Membership.Role.EDITOR,),
    **fields,
) -> AbstractUser:
    account = get_user_model().objects.create_user(
        username=username or f"user{next(_seq)}", password=PASSWORD, **fields
    )
    if institution is not None:
        for role in roles:
            Membership.objects.create(user=account, institution=institution, role=role)
    return account


def person(full_name: str | None = None, **fields) -> Person:
    return Person.objects.create(full_name=full_name or f"Orang Uji {next(_seq)}", **fields)


#: The username of `actor()`.
ACTOR = "factory.actor"
#: The day the factories sign agreements on, unless told otherwise (the seed's signing).
SIGNING_DAY = datetime.date(2025, 8, 4)

Status = Agreement.Status
#: How far along the lifecycle each status is; a status is reached through those before it.
_LIFECYCLE = (Status.DRAFT, Status.DISCUSSION, Status.READY, Status.SIGNED, Status.TERMINATED)


def actor() -> AbstractUser:
    """The superuser who makes the factories' moves through the services (one per test)."""
    made, _ = get_user_model().objects.get_or_create(
        username=ACTOR, defaults={"is_superuser": True, "is_staff": False}
    )
    return made


def agreement(
    *institutions: Institution,
    status: str = Agreement.Status.DRAFT,
    articles: int = 2,
    signing_venue: str = "Aula Rumah Tahanan Negara",
    signing_host: Institution | None = None,
    signing_time: datetime.time | None = None,
    **fields,
) -> Agreement:
    """An agreement between `institutions` (in party order), numbered per party.

    A draft is made as rows. Any other `status` is reached from there through the lifecycle
    services: discussion, ready for signing, signed at a ceremony on `signed_on` (4 August
    2025 by default) at `signing_venue`, hosted by `signing_host` (the first party by
    default), and terminated on `terminated_on` (1 December 2025 by default). Parties
    without a signatory get one ("Kepala <institution>") before the signing. `fields` are the
    agreement's own fields, set on the draft (term, dates, signing place, …).
    """
    n = next(_seq)
    # The signing and the termination set these dates; on a draft they are plain fields.
    target = _LIFECYCLE.index(status)
    signed = target >= _LIFECYCLE.index(Status.SIGNED)
    signed_on = (fields.pop("signed_on", None) if signed else None) or SIGNING_DAY
    terminated = target >= _LIFECYCLE.index(Status.TERMINATED)
    terminated_on = (fields.pop("terminated_on", None) if terminated else None) or (
        datetime.date(2025, 12, 1)
    )
    made = Agreement.objects.create(
        title=fields.pop("title", f"PKS Uji {n}"),
        subject=fields.pop("subject", f"Kerja Sama Uji {n}"),
        **fields,
    )
    for order, inst in enumerate(institutions, start=1):
        Party.objects.create(
            agreement=made, institution=inst, order=order, number=f"PKS/{n}/{order}/2025"
        )
    for number in range(1, articles + 1):
        Article.objects.create(
            agreement=made, number=number, heading=f"Judul Pasal {number}", body="Isi pasal."
        )
    return advance(
        made,
        status,
        signed_on=signed_on,
        terminated_on=terminated_on,
        signing_venue=signing_venue,
        signing_host=signing_host,
        signing_time=signing_time,
    )


def advance(
    made: Agreement,
    status: str,
    *,
    signed_on: datetime.date = SIGNING_DAY,
    terminated_on: datetime.date = datetime.date(2025, 12, 1),
    signing_venue: str = "Aula Rumah Tahanan Negara",
    signing_host: Institution | None = None,
    signing_time: datetime.time | None = None,
) -> Agreement:
    """Move a draft `made` on to `status` through the lifecycle services (see `agreement`)."""
    target = _LIFECYCLE.index(status)
    if target == 0:
        return made
    if target >= _LIFECYCLE.index(Status.SIGNED):
        # Still a draft: its parties are completed as rows, as the draft itself was made.
        for party in made.parties.select_related("institution").filter(signatory=None):
            party.signatory = person(f"Kepala {party.institution.display_name}")
            party.signatory_position = party.signatory_position or "Kepala"
            party.save(update_fields=["signatory", "signatory_position"])
    user = actor()
    agreement_move(agreement=made, user=user, to_status=Status.DISCUSSION)
    if target >= _LIFECYCLE.index(Status.READY):
        agreement_move(agreement=made, user=user, to_status=Status.READY)
    if target >= _LIFECYCLE.index(Status.SIGNED):
        signing_event_record(
            user=user,
            date=signed_on,
            venue=signing_venue,
            host=signing_host or made.parties.order_by("order").first().institution,
            agreements=[made],
            start_time=signing_time,
        )
    if target >= _LIFECYCLE.index(Status.TERMINATED):
        agreement_terminate(
            agreement=made, user=user, date=terminated_on, reason="Diakhiri lebih awal (uji)."
        )
    return Agreement.objects.get(pk=made.pk)


def programme(
    agreement: Agreement,
    host: Institution,
    *partners: Institution,
    phases: list[tuple[str, int]] | None = None,
    **fields,
) -> Programme:
    """A programme at `host` under `agreement` (in force), made through `programme_create`:
    with the standard TC phases, or `phases` as (name, planned weeks) in order."""
    return programme_services.programme_create(
        user=actor(),
        name=fields.pop("name", f"Program Uji {next(_seq)}"),
        kind=fields.pop("kind", Programme.Kind.SOCIAL),
        host=host,
        agreement=agreement,
        launch_date=fields.pop("launch_date", datetime.date(2025, 8, 4)),
        partners=partners,
        phases=None
        if phases is None
        else [{"name": name, "planned_weeks": weeks} for name, weeks in phases],
        **fields,
    )


def participant(institution: Institution, **fields) -> Participant:
    n = next(_seq)
    return Participant.objects.create(
        institution=institution,
        register_number=fields.pop("register_number", f"REG-{n:05d}"),
        full_name=fields.pop("full_name", f"Warga Binaan Uji {n}"),
        status=fields.pop("status", Participant.Status.PRISONER),
        **fields,
    )


EStatus = Enrolment.Status
_ENDINGS = (EStatus.DROPPED_OUT, EStatus.TRANSFERRED, EStatus.RELEASED, EStatus.REFERRED)


def enrolment(
    participant: Participant,
    programme: Programme,
    *,
    status: str = EStatus.SCREENED,
    start_date: datetime.date = datetime.date(2025, 8, 11),
    scores: dict[str, int] | None = None,
    enrolled_on: datetime.date | None = None,
    current_phase: Phase | None = None,
    phase_days: Sequence[datetime.date] | None = None,
    end_date: datetime.date | None = None,
    **fields,
) -> Enrolment:
    """An enrolment of `participant` in `programme`, screened on `start_date`.

    The screened enrolment and its screening (`scores`: substance → ASSIST score, opioids at
    moderate risk by default) are rows. Any later `status` is reached through the enrolment
    services, in date order: assessed on the screening day, enrolled on `enrolled_on` (the
    screening day by default), through the phases up to `current_phase` (the first by
    default; every phase before a completion) on the enrolment day, and completed or ended
    on `end_date` (1 December 2025 by default). A referral before enrolment comes from the
    screened enrolment. `fields` are the outcome of a completion (all True by default).

    `phase_days` starts the phases on days of their own instead: the first phase on the
    first day, the next on the second, and so on (each phase left ends on the day the next
    one starts). Its length says how far the enrolment went, before it stays in that phase,
    ends (dropped out, transferred, …) or, through every phase, completes.
    """
    made = Enrolment.objects.create(
        participant=participant, programme=programme, start_date=start_date
    )
    screening = Screening.objects.create(participant=participant, enrolment=made, date=start_date)
    for substance, score in (scores or {"opioids": 10}).items():
        ScreeningScore(screening=screening, substance=substance, score=score).save()
    if status == EStatus.SCREENED:
        if enrolled_on or current_phase or end_date or fields:
            raise TypeError("a screened enrolment has no enrolment, phase, end or outcome")
        return made
    user = actor()
    end_date = end_date or datetime.date(2025, 12, 1)
    if status == EStatus.REFERRED and enrolled_on is None:
        enrolment_services.enrolment_end(
            user=user, enrolment=made, to_status=status, date=end_date, reason="Dirujuk (uji)."
        )
        _forget_actor_access(participant)
        return Enrolment.objects.get(pk=made.pk)
    enrolment_services.enrolment_assess(
        user=user,
        enrolment=made,
        date=start_date,
        team="Tim Asesmen Terpadu (uji)",
        recommendation=Assessment.Recommendation.SOCIAL,
    )
    if status == EStatus.ASSESSED:
        return Enrolment.objects.get(pk=made.pk)
    enrolled_on = enrolled_on or start_date
    enrolment_services.enrolment_enrol(user=user, enrolment=made, date=enrolled_on)
    phases = list(programme.phases.order_by("order"))
    if phase_days is None:
        if status == EStatus.IN_PHASE:
            upto = phases.index(current_phase) + 1 if current_phase is not None else 1
        elif status == EStatus.COMPLETED:
            upto = len(phases)
        else:
            upto = 0
        phase_days = [enrolled_on] * upto
    elif current_phase is not None and phases.index(current_phase) + 1 != len(phase_days):
        raise TypeError(f"{len(phase_days)} phase days do not lead to {current_phase}")
    elif status == EStatus.COMPLETED and len(phase_days) != len(phases):
        raise TypeError(f"a completion goes through all {len(phases)} phases")
    for day in phase_days:
        enrolment_services.enrolment_next_phase(user=user, enrolment=made, date=day)
    if status == EStatus.COMPLETED:
        enrolment_services.enrolment_complete(
            user=user,
            enrolment=made,
            date=end_date,
            recovered=fields.pop("recovered", True),
            skilled=fields.pop("skilled", True),
            independent=fields.pop("independent", True),
        )
    elif status in _ENDINGS:
        enrolment_services.enrolment_end(
            user=user, enrolment=made, to_status=status, date=end_date, reason="Berakhir (uji)."
        )
    if fields:
        raise TypeError(f"enrolment() got unexpected fields: {sorted(fields)}")
    _forget_actor_access(participant)
    return Enrolment.objects.get(pk=made.pk)


def screening(enrolment: Enrolment, date: datetime.date, scores: Mapping[str, int]) -> Screening:
    """A later ASSIST screening of `enrolment` on `date`, through `screening_record`."""
    made = screening_services.screening_record(
        user=actor(), enrolment=enrolment, date=date, scores=scores
    )
    _forget_actor_access(enrolment.participant)
    return made


def session(
    programme: Programme,
    date: datetime.date,
    marks: Mapping[Enrolment, str] | None = None,
    topic: str = "Kelompok",
) -> Session:
    """A session of `programme` on `date` with its attendance sheet (`marks`: enrolment →
    present, absent or excused), through `session_create` and `attendance_record`."""
    made = session_services.session_create(
        programme=programme, user=actor(), date=date, topic=topic
    )
    if marks:
        session_services.attendance_record(
            session=made,
            user=actor(),
            marks={enrolment.pk: status for enrolment, status in marks.items()},
        )
        for enrolment in marks:
            _forget_actor_access(enrolment.participant)
    return made


def _forget_actor_access(participant: Participant) -> None:
    """Drop the access-log lines of the factories' own moves: the log records who on the
    staff read or changed a person's data, and tests count the lines of their users."""
    AccessLog.objects.filter(user=actor(), participant=participant).delete()


def raw_programme(agreement: Agreement, host: Institution, **fields) -> Programme:
    """A row the services would not write (no phases, any agreement), for tests of damaged
    or legacy data."""
    return Programme.objects.create(
        name=fields.pop("name", f"Program Uji {next(_seq)}"),
        kind=fields.pop("kind", Programme.Kind.SOCIAL),
        host=host,
        agreement=agreement,
        launch_date=fields.pop("launch_date", datetime.date(2025, 8, 4)),
        **fields,
    )


def raw_enrolment(participant: Participant, programme: Programme, **fields) -> Enrolment:
    """A row the services would not write, for tests of damaged or legacy data."""
    return Enrolment.objects.create(
        participant=participant,
        programme=programme,
        start_date=fields.pop("start_date", datetime.date(2025, 8, 11)),
        **fields,
    )
