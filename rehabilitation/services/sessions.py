"""Sessions of a programme and their attendance, and the progress of each enrolment: dated
notes by the counsellor or nurse, and follow-up instrument scores (GSES, WHOQOL-BREF).

All of it is personal data of the participants (UU PDP 27/2022). Recording needs a
programme-staff or administrator role (`rehabilitation.access`) at the programme's host
or partners (for notes and scores, also at the institution holding the participant); the views
check it first and answer 404, the functions here check again. Every change is written to the
history (`institutions.history`: who, when, values before and after) and to the access log.

The attendance rate is present / (present + absent): an excused absence does not count
either way. Rates are fractions between 0 and 1, rounded to four places (`RATE_PLACES`).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Prefetch, Q, QuerySet, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from institutions import history
from institutions.access import Account
from institutions.models import History

from .. import access, assist
from ..models import (
    AccessLog,
    Attendance,
    Enrolment,
    InstrumentScore,
    Phase,
    Programme,
    ProgressNote,
    Screening,
    Session,
)
from ..selectors import entries_of, history_where, ids_as_keys
from .audit import record_access, record_bulk_access

#: Rates are rounded to this many places (0.6667 for two sessions attended out of three).
RATE_PLACES = Decimal("0.0001")

Status = Attendance.Status

#: The instruments' names in messages (acronyms, the same in every language).
INSTRUMENT_NAMES = {
    InstrumentScore.Instrument.GSES: "GSES",
    InstrumentScore.Instrument.WHOQOL: "WHOQOL-BREF",
}


# Who may record -----------------------------------------------------------------------------


def _ensure_may_record(user: Account, programme: Programme) -> None:
    if not access.may_record_sessions(user, programme):
        raise PermissionDenied(_("Only the programme's staff may record its sessions."))


def _ensure_may_write_enrolment(user: Account, enrolment: Enrolment) -> None:
    # The same rule as every read of an enrolment: one place decides.
    if not access.visible_enrolments(user).filter(pk=enrolment.pk).exists():
        raise PermissionDenied(_("Only the programme's staff may write in this record."))


# Sessions and attendance --------------------------------------------------------------------


def _active_on(day: datetime.date) -> Q:
    """Enrolments taking part in their programme on `day`.

    Active ones (enrolled or in a phase) from the day they were enrolled (the intake day when
    that is not recorded), and ended ones (completed, dropped out, …) that had been enrolled
    by `day` and ended on or after it.
    """
    active = Q(status__in=Enrolment.ACTIVE_STATUSES) & (
        Q(enrolled_on__lte=day) | Q(enrolled_on__isnull=True, start_date__lte=day)
    )
    ended_since = Q(status__in=Enrolment.FINAL_STATUSES, enrolled_on__lte=day, end_date__gte=day)
    return active | ended_since


def sheet_enrolments(
    session: Session, queryset: QuerySet[Enrolment] | None = None
) -> QuerySet[Enrolment]:
    """The rows of a session's attendance sheet: the programme's enrolments active on the
    session's date, and any already marked for it (so a record never disappears from the
    sheet). Pass `access.visible_enrolments(user)` as `queryset` in views."""
    queryset = Enrolment.objects.all() if queryset is None else queryset
    recorded = Attendance.objects.filter(session=session).values("enrolment_id")
    return queryset.filter(programme_id=session.programme_id).filter(
        _active_on(session.date) | Q(pk__in=recorded)
    )


@transaction.atomic
def session_create(
    *,
    programme: Programme,
    user: Account,
    date: datetime.date,
    topic: str,
    phase: Phase | None = None,
    facilitator: str = "",
) -> Session:
    """Plan or record a session of `programme`, on any date (sessions are planned ahead)."""
    _ensure_may_record(user, programme)
    topic = topic.strip()
    if not topic:
        raise ValidationError(
            {"topic": ValidationError(_("Give the session a topic."), code="topic_required")}
        )
    if phase is not None and phase.programme_id != programme.pk:
        raise ValidationError(
            {
                "phase": ValidationError(
                    _("That phase belongs to another programme."), code="phase_not_of_programme"
                )
            }
        )
    session = Session.objects.create(
        programme=programme, date=date, topic=topic, phase=phase, facilitator=facilitator.strip()
    )
    history.record_create(session, user=user)
    return session


@transaction.atomic
def attendance_record(
    *, session: Session, user: Account, marks: Mapping[int, str]
) -> list[Attendance]:
    """Record the attendance sheet of `session`: `marks` maps enrolment ids to present,
    absent or excused.

    Idempotent: a mark already recorded is updated, never duplicated; enrolments left out
    keep what they had. Refuses enrolments of another programme and enrolments that were not
    active on the session's date. Returns the rows created or changed; only those are logged.
    """
    _ensure_may_record(user, session.programme)
    # One sheet saved at a time per session, so two clerks cannot create the same row twice.
    session = Session.objects.select_for_update().get(pk=session.pk)
    unknown = sorted({status for status in marks.values() if status not in Status.values})
    if unknown:
        raise ValidationError(
            _("Unknown attendance mark: %(marks)s."),
            code="invalid_status",
            params={"marks": ", ".join(map(str, unknown))},
        )
    ids = set(marks)
    in_programme = set(
        Enrolment.objects.filter(pk__in=ids, programme_id=session.programme_id).values_list(
            "pk", flat=True
        )
    )
    if ids - in_programme:
        raise ValidationError(
            _("Only participants enrolled in this programme can be marked on its sessions."),
            code="not_in_programme",
        )
    on_sheet = set(sheet_enrolments(session).filter(pk__in=ids).values_list("pk", flat=True))
    if missing := len(ids - on_sheet):
        raise ValidationError(
            ngettext(
                "%(count)d participant was not taking part in the programme on %(date)s.",
                "%(count)d participants were not taking part in the programme on %(date)s.",
                missing,
            ),
            code="not_active",
            params={"count": missing, "date": session.date.isoformat()},
        )
    existing = {row.enrolment_id: row for row in session.attendance.filter(enrolment_id__in=ids)}
    created = [
        Attendance(session=session, enrolment_id=pk, status=marks[pk])
        for pk in sorted(ids)
        if pk not in existing
    ]
    changed = [row for pk, row in sorted(existing.items()) if row.status != marks[pk]]
    before = {row.pk: history.snapshot(row) for row in changed}
    for row in changed:
        row.status = marks[row.enrolment_id]
    Attendance.objects.bulk_create(created)
    Attendance.objects.bulk_update(changed, ["status"])
    for row in created:
        history.record_create(row, user=user)
    for row in changed:
        history.record_change(row, user=user, before=before[row.pk])
    saved = created + changed
    if saved:
        enrolments = Enrolment.objects.filter(
            pk__in=[row.enrolment_id for row in saved]
        ).select_related("participant")
        record_bulk_access(
            user=user,
            participants=[enrolment.participant for enrolment in enrolments],
            action=AccessLog.Action.CHANGE,
            detail=f"attendance of session {session.pk} ({session.date.isoformat()})",
        )
    return saved


def session_history(session: Session) -> QuerySet[History]:
    """The session's history entries and those of its attendance marks, newest first (for
    those who may record the session: the marks are personal data)."""
    return history_where(
        entries_of(Session, [str(session.pk)])
        | entries_of(Attendance, ids_as_keys(Attendance.objects.filter(session=session)))
    )


# Progress notes and instrument scores ------------------------------------------------------


def _validate_day(enrolment: Enrolment, day: datetime.date) -> None:
    if day > timezone.localdate():
        raise ValidationError(
            {"date": ValidationError(_("The date cannot be in the future."), code="future_date")}
        )
    if day < enrolment.start_date:
        raise ValidationError(
            {
                "date": ValidationError(
                    _("The date cannot be before the intake screening (%(start)s)."),
                    code="before_enrolment",
                    params={"start": enrolment.start_date.isoformat()},
                )
            }
        )


@transaction.atomic
def progress_note_add(
    *, enrolment: Enrolment, user: Account, date: datetime.date, text: str
) -> ProgressNote:
    """Add a dated progress note to `enrolment`, written by `user` (the counsellor or nurse).

    Notes are never edited or deleted: a later note corrects an earlier one.
    """
    _ensure_may_write_enrolment(user, enrolment)
    text = text.strip()
    if not text:
        raise ValidationError({"text": ValidationError(_("The note is empty."), code="empty_note")})
    _validate_day(enrolment, date)
    note = ProgressNote.objects.create(enrolment=enrolment, date=date, text=text, author=user)
    history.record_create(note, user=user)
    record_access(
        user=user,
        participant=enrolment.participant,
        action=AccessLog.Action.CHANGE,
        detail=f"progress note {note.pk} on enrolment {enrolment.pk}",
    )
    return note


def score_range_error(instrument: str, score: int) -> ValidationError | None:
    """The error for a score outside its instrument's range (GSES 10–40, WHOQOL-BREF
    0–100), or None when it is within it. Forms and `instrument_score_add` share it."""
    low, high = InstrumentScore.RANGES[InstrumentScore.Instrument(instrument)]
    if low <= score <= high:
        return None
    return ValidationError(
        _("A %(instrument)s score runs from %(low)d to %(high)d."),
        code="out_of_range",
        params={
            "instrument": INSTRUMENT_NAMES[InstrumentScore.Instrument(instrument)],
            "low": low,
            "high": high,
        },
    )


@transaction.atomic
def instrument_score_add(
    *, enrolment: Enrolment, user: Account, instrument: str, date: datetime.date, score: int
) -> InstrumentScore:
    """Record a self-efficacy (GSES, 10–40) or quality-of-life (WHOQOL-BREF, 0–100) score
    of `enrolment` on `date`."""
    _ensure_may_write_enrolment(user, enrolment)
    if instrument not in InstrumentScore.Instrument.values:
        raise ValidationError(
            {"instrument": ValidationError(_("Unknown instrument."), code="unknown_instrument")}
        )
    if error := score_range_error(instrument, score):
        raise ValidationError({"score": error})
    _validate_day(enrolment, date)
    recorded = InstrumentScore.objects.create(
        enrolment=enrolment, instrument=instrument, date=date, score=score
    )
    history.record_create(recorded, user=user)
    record_access(
        user=user,
        participant=enrolment.participant,
        action=AccessLog.Action.CHANGE,
        detail=f"{instrument} score {recorded.pk} on enrolment {enrolment.pk}",
    )
    return recorded


# Attendance rates ---------------------------------------------------------------------------


def rate(present: int, absent: int) -> Decimal | None:
    """present / (present + absent), rounded to `RATE_PLACES`; None when nothing counts."""
    if present + absent == 0:
        return None
    return (Decimal(present) / Decimal(present + absent)).quantize(
        RATE_PLACES, rounding=ROUND_HALF_UP
    )


@dataclass(frozen=True)
class AttendanceSummary:
    """Counts of present, absent and excused marks, and the rate they give."""

    present: int = 0
    absent: int = 0
    excused: int = 0

    @classmethod
    def of(cls, marks: Iterable[str]) -> AttendanceSummary:
        """Count marks already read (present, absent, excused)."""
        counts = Counter(marks)
        return cls(**{status: counts[status] for status in Status.values})

    @property
    def rate(self) -> Decimal | None:
        return rate(self.present, self.absent)

    @property
    def percent(self) -> Decimal | None:
        """The rate as a percentage with one decimal, for pages."""
        value = self.rate
        return None if value is None else (value * 100).quantize(Decimal("0.1"))


def summarise(attendance: QuerySet[Attendance]) -> AttendanceSummary:
    """Count the marks of `attendance` in one query."""
    counts = attendance.aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in Status.values}
    )
    return AttendanceSummary(**counts)


def with_attendance_counts(sessions: QuerySet[Session]) -> QuerySet[Session]:
    """Annotate each session with its `present`, `absent` and `excused` counts (one query)."""
    return sessions.annotate(
        **{
            status: Count("attendance", filter=Q(attendance__status=status))
            for status in Status.values
        }
    )


def attendance_summary(enrolment: Enrolment) -> AttendanceSummary:
    """The marks of one enrolment over all its programme's sessions."""
    return summarise(Attendance.objects.filter(enrolment=enrolment))


def attendance_rate(enrolment: Enrolment) -> Decimal | None:
    """One enrolment's attendance rate; None before any present or absent mark."""
    return attendance_summary(enrolment).rate


def programme_attendance_rate(
    programme: Programme,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
) -> Decimal | None:
    """The attendance rate over the sessions of `programme` dated from `start` to `end`
    (both included; None leaves that side open), every participant's marks together."""
    attendance = Attendance.objects.filter(session__programme=programme)
    if start is not None:
        attendance = attendance.filter(session__date__gte=start)
    if end is not None:
        attendance = attendance.filter(session__date__lte=end)
    return summarise(attendance).rate


# The enrolment page's section ---------------------------------------------------------------


def section_prefetches() -> list[Prefetch]:
    """What `rehabilitation/sessions/_enrolment_section.html` reads through the enrolment:
    notes with their authors (newest first), instrument scores by instrument and date, and
    screenings with their scores. One query each, whatever their number."""
    return [
        Prefetch(
            "notes",
            queryset=ProgressNote.objects.select_related("author").order_by("-date", "-pk"),
        ),
        Prefetch(
            "instrument_scores",
            queryset=InstrumentScore.objects.order_by("instrument", "date", "pk"),
        ),
        Prefetch(
            "screenings",
            queryset=Screening.objects.order_by("date", "pk").prefetch_related("scores"),
        ),
    ]


def load_enrolment_section(enrolment: Enrolment) -> Enrolment:
    """Load everything the enrolment section shows, in five queries, and return `enrolment`.

    Sets `enrolment.attendance_summary` (an `AttendanceSummary`) and, on each screening,
    `highest_risk` (the highest ASSIST band, from `assist.highest`).
    """
    # Attributes for the template, beside the model's fields.
    enrolment.attendance_summary = attendance_summary(enrolment)  # type: ignore[attr-defined]
    prefetch_related_objects([enrolment], *section_prefetches())
    for screening in enrolment.screenings.all():
        screening.highest_risk = assist.highest(  # type: ignore[attr-defined]
            [assist.Risk(score.risk) for score in screening.scores.all()]
        )
    return enrolment
