"""The lifecycle of an enrolment: its moves, each one an `EnrolmentEvent` (who, when, on which
day, why), written to the history and to the personal-data access log.

    screened ──► assessed ──► enrolled ──► in a phase ──► (next phase …) ──► completed
        │            │            │             │
        └────────────┴──► referred (before enrolment: education only, or elsewhere)
                                  └─────────────┴──► dropped out, transferred,
                                                     released before completion, referred

Rules: low risk on every substance (ASSIST) is education only and never moves to assessed; a
"none" recommendation is never enrolled; enrolling respects the programme's capacity (the
programme row is locked) and the rule that a participant is active in only one programme of a
type at a time (the participant row is locked); a programme whose agreement has expired or
been terminated takes nobody new; no move is dated before the previous one, nor in the future.
Each move takes the enrolment's `version` the user's form was loaded with: a move made
meanwhile by someone else refuses it (code "stale"). Which moves are open, and why the others
are not, is read with `selectors.enrolment_moves`.

The end of this module turns history entries into what a page shows (`described_history`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from institutions import history
from institutions.access import Account
from institutions.models import History

from .. import access, statistics
from ..models import (
    AccessLog,
    Assessment,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Participant,
    Programme,
)
from ..selectors import (
    ENDINGS,
    allowed_moves,
    enrolment_eligibility,
    next_phase,
    previous_move_date,
)
from .audit import record_access
from .common import (
    day_text,
    ensure,
    ensure_not_future,
    ensure_programme_takes_participants,
    lock_enrolment,
    record_change,
)

Status = Enrolment.Status
Action = History.Action


# --- the moves -----------------------------------------------------------------------------


def _ensure_move(enrolment: Enrolment, to_status: str) -> None:
    if to_status not in allowed_moves(enrolment):
        raise ValidationError(
            _("An enrolment that is “%(current)s” cannot move to “%(target)s”.")
            % {
                "current": Status(enrolment.status).label,
                "target": Status(to_status).label if to_status in Status.values else to_status,
            },
            code="move_not_allowed",
        )


def _ensure_date(enrolment: Enrolment, date: datetime.date) -> None:
    ensure_not_future(date, _("a move"))
    previous = previous_move_date(enrolment)
    if date < previous:
        raise ValidationError(
            _("This move cannot be dated before the previous one (%(date)s).")
            % {"date": day_text(previous)},
            code="date_order",
        )


def _record(
    enrolment: Enrolment, *, user: Account, to_status: str, date: datetime.date, reason: str
) -> None:
    EnrolmentEvent.objects.create(
        enrolment=enrolment,
        from_status=enrolment.status,
        to_status=to_status,
        date=date,
        reason=reason,
        recorded_by=user,
    )
    record_access(
        user=user,
        participant=enrolment.participant,
        action=AccessLog.Action.CHANGE,
        detail=f"enrolment {enrolment.pk}: {enrolment.status} → {to_status}",
    )
    enrolment.status = to_status


def _prepare(
    enrolment: Enrolment, *, user: Account, to_status: str, date: datetime.date, version: int | None
) -> tuple[Enrolment, dict]:
    """Lock the enrolment and check the move; return it with its values before the move."""
    enrolment = lock_enrolment(enrolment)
    ensure(access.may_write_enrolment(user, enrolment), _("You may not change this enrolment."))
    history.ensure_current(enrolment, version)
    _ensure_move(enrolment, to_status)
    _ensure_date(enrolment, date)
    return enrolment, history.snapshot(enrolment)


def _save_move(enrolment: Enrolment, *, user: Account, before: dict, fields: Sequence[str]) -> None:
    enrolment.save(update_fields=list(fields))
    # The public counts move with the enrolment, in the same transaction.
    statistics.enrolment_moved(
        enrolment, status=before["status"], was_enrolled=before["enrolled_on"] is not None
    )
    record_change(enrolment, user=user, before=before, after=history.snapshot(enrolment))


@transaction.atomic
def enrolment_assess(
    *,
    user: Account,
    enrolment: Enrolment,
    date: datetime.date,
    team: str,
    recommendation: str,
    notes: str = "",
    version: int | None = None,
) -> Assessment:
    """Record the assessment team's recommendation and move screened → assessed.

    Only an eligible screening (moderate or high risk on some substance) is assessed; low
    risk on every substance is education only. `version`, here and in every move, is the
    enrolment's as the user's form was loaded with: a move made meanwhile refuses this one.
    """
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.ASSESSED, date=date, version=version
    )
    if not enrolment_eligibility(enrolment).eligible:
        raise ValidationError(
            _(
                "Low risk on every substance: education only — not eligible for assessment. "
                "Close the enrolment as referred."
            ),
            code="not_eligible",
        )
    if not team.strip():
        raise ValidationError(_("Name the members of the assessment team."), code="team")
    if recommendation not in Assessment.Recommendation.values:
        raise ValidationError(_("Unknown recommendation."), code="recommendation")
    assessment = Assessment.objects.create(
        enrolment=enrolment,
        date=date,
        team=team.strip(),
        recommendation=recommendation,
        notes=notes.strip(),
        recorded_by=user,
    )
    history.record_create(assessment, user=user)
    _record(enrolment, user=user, to_status=Status.ASSESSED, date=date, reason=notes.strip())
    _save_move(enrolment, user=user, before=before, fields=["status"])
    return assessment


def _ensure_place(programme: Programme) -> None:
    """Capacity: enrolled and in-phase participants take the places. The caller holds the
    programme row lock, so two enrolments cannot both take the last place."""
    if programme.capacity is None:
        return
    active = Enrolment.objects.filter(
        programme=programme, status__in=Enrolment.ACTIVE_STATUSES
    ).count()
    if active >= programme.capacity:
        raise ValidationError(
            _("%(programme)s is full: all %(capacity)s places are taken.")
            % {"programme": programme, "capacity": programme.capacity},
            code="full",
        )


def _ensure_not_active_elsewhere(enrolment: Enrolment) -> None:
    """One active programme of a type per participant. The caller holds the participant row
    lock, so two enrolments of the same person cannot race past this check."""
    other = (
        Enrolment.objects.filter(
            participant_id=enrolment.participant_id,
            programme__kind=enrolment.programme.kind,
            status__in=Enrolment.ACTIVE_STATUSES,
        )
        .exclude(pk=enrolment.pk)
        .select_related("programme")
        .first()
    )
    if other is not None:
        raise ValidationError(
            _(
                "This participant is already active in %(programme)s, a programme of the same "
                "type (%(kind)s)."
            )
            % {"programme": other.programme, "kind": other.programme.get_kind_display().lower()},
            code="active_elsewhere",
        )


@transaction.atomic
def enrolment_enrol(
    *,
    user: Account,
    enrolment: Enrolment,
    date: datetime.date,
    reason: str = "",
    version: int | None = None,
) -> Enrolment:
    """Give an assessed participant a place: assessed → enrolled.

    Refused when the assessment recommended no rehabilitation, when the programme is full,
    when the participant is active in another programme of the same type, or when the
    programme's agreement is no longer in force.
    """
    # Lock order everywhere: programme, then participant, then enrolment.
    Programme.objects.select_for_update().filter(pk=enrolment.programme_id).first()
    Participant.objects.select_for_update().filter(pk=enrolment.participant_id).first()
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.ENROLLED, date=date, version=version
    )
    assessment = enrolment.assessments.order_by("-date", "-pk").first()
    if assessment is None or assessment.recommendation == Assessment.Recommendation.NONE:
        raise ValidationError(
            _(
                "The assessment recommended no rehabilitation: the participant cannot be "
                "enrolled. Close the enrolment as referred."
            ),
            code="not_recommended",
        )
    ensure_programme_takes_participants(enrolment.programme)
    _ensure_place(enrolment.programme)
    _ensure_not_active_elsewhere(enrolment)
    _record(enrolment, user=user, to_status=Status.ENROLLED, date=date, reason=reason.strip())
    enrolment.enrolled_on = date
    _save_move(enrolment, user=user, before=before, fields=["status", "enrolled_on"])
    return enrolment


def _close_current_phase(enrolment: Enrolment, date: datetime.date) -> None:
    EnrolmentPhase.objects.filter(enrolment=enrolment, end_date__isnull=True).update(end_date=date)


@transaction.atomic
def enrolment_next_phase(
    *,
    user: Account,
    enrolment: Enrolment,
    date: datetime.date,
    reason: str = "",
    version: int | None = None,
) -> EnrolmentPhase:
    """Start the first phase (enrolled → in a phase) or move on to the next one; the phase
    left gets its end date, the phase started its start date."""
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.IN_PHASE, date=date, version=version
    )
    phase = next_phase(enrolment)
    if phase is None:
        if enrolment.status == Status.ENROLLED:
            raise ValidationError(_("This programme has no phases."), code="no_phases")
        raise ValidationError(
            _("This is the last phase: record the completion instead."), code="last_phase"
        )
    _close_current_phase(enrolment, date)
    made = EnrolmentPhase.objects.create(enrolment=enrolment, phase=phase, start_date=date)
    _record(
        enrolment,
        user=user,
        to_status=Status.IN_PHASE,
        date=date,
        # Without a note, the phase's own name (stored data, not a translated text).
        reason=reason.strip() or str(phase),
    )
    enrolment.current_phase = phase
    _save_move(enrolment, user=user, before=before, fields=["status", "current_phase"])
    return made


@transaction.atomic
def enrolment_complete(
    *,
    user: Account,
    enrolment: Enrolment,
    date: datetime.date,
    recovered: bool | None,
    skilled: bool | None,
    independent: bool | None,
    reason: str = "",
    version: int | None = None,
) -> Enrolment:
    """Complete the programme from its last phase, with the outcome: recovered or not,
    skilled or not, independent or not (all three required)."""
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.COMPLETED, date=date, version=version
    )
    if next_phase(enrolment) is not None:
        raise ValidationError(
            _(
                "The participant is not in the last phase yet (%(phase)s)."
                " Move on to the next phase first."
            )
            % {"phase": enrolment.current_phase},
            code="not_last_phase",
        )
    outcome = {"recovered": recovered, "skilled": skilled, "independent": independent}
    if any(not isinstance(value, bool) for value in outcome.values()):
        raise ValidationError(
            _("Record the whole outcome: recovered, skilled and independent, yes or no."),
            code="outcome",
        )
    _close_current_phase(enrolment, date)
    _record(enrolment, user=user, to_status=Status.COMPLETED, date=date, reason=reason.strip())
    enrolment.end_date = date
    enrolment.end_reason = reason.strip()
    enrolment.current_phase = None
    for name, value in outcome.items():
        setattr(enrolment, name, value)
    _save_move(
        enrolment,
        user=user,
        before=before,
        fields=[
            "status",
            "end_date",
            "end_reason",
            "current_phase",
            "recovered",
            "skilled",
            "independent",
        ],
    )
    return enrolment


@transaction.atomic
def enrolment_end(
    *,
    user: Account,
    enrolment: Enrolment,
    to_status: str,
    date: datetime.date,
    reason: str,
    version: int | None = None,
) -> Enrolment:
    """End an enrolment before completion: dropped out, transferred, released before
    completion, or referred elsewhere (before enrolment, only referred). A reason is required.
    """
    if to_status not in ENDINGS:
        raise ValidationError(
            _("“%(target)s” is not a way to end an enrolment here.")
            % {"target": Status(to_status).label if to_status in Status.values else to_status},
            code="move_not_allowed",
        )
    enrolment, before = _prepare(
        enrolment, user=user, to_status=to_status, date=date, version=version
    )
    if not reason.strip():
        raise ValidationError(_("Say why the enrolment ends."), code="reason")
    _close_current_phase(enrolment, date)
    _record(enrolment, user=user, to_status=to_status, date=date, reason=reason.strip())
    enrolment.end_date = date
    enrolment.end_reason = reason.strip()
    enrolment.current_phase = None
    _save_move(
        enrolment,
        user=user,
        before=before,
        fields=["status", "end_date", "end_reason", "current_phase"],
    )
    return enrolment


def enrolment_move(
    *,
    user: Account,
    enrolment: Enrolment,
    to_status: str,
    date: datetime.date,
    reason: str = "",
    outcome: Mapping[str, bool] | None = None,
    version: int | None = None,
) -> Enrolment:
    """Any move but the assessment (see `enrolment_assess`), by its target status.

    Completion takes `outcome` = {"recovered": …, "skilled": …, "independent": …}.
    """
    if to_status == Status.ENROLLED:
        return enrolment_enrol(
            user=user, enrolment=enrolment, date=date, reason=reason, version=version
        )
    if to_status == Status.IN_PHASE:
        return enrolment_next_phase(
            user=user, enrolment=enrolment, date=date, reason=reason, version=version
        ).enrolment
    if to_status == Status.COMPLETED:
        outcome = outcome or {}
        return enrolment_complete(
            user=user,
            enrolment=enrolment,
            date=date,
            reason=reason,
            recovered=outcome.get("recovered"),
            skilled=outcome.get("skilled"),
            independent=outcome.get("independent"),
            version=version,
        )
    if to_status == Status.ASSESSED:
        raise ValidationError(
            _("An assessment moves the enrolment to assessed: record the assessment."),
            code="use_assessment",
        )
    return enrolment_end(
        user=user,
        enrolment=enrolment,
        to_status=to_status,
        date=date,
        reason=reason,
        version=version,
    )
