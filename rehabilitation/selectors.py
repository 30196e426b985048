"""Reads of rehabilitation records: where an enrolment may move next and why not, what its
screenings say, the places a programme has taken, and the history of a programme, a
participant or an enrolment. Nothing here changes anything; the services build on these.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection, models
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast, RowNumber
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from institutions.models import History

from . import access, assist

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise
from .models import (
    AccessLog,
    AccessLogRecord,
    Assessment,
    Attendance,
    Enrolment,
    InstrumentScore,
    Participant,
    Phase,
    Programme,
    ProgressNote,
    Screening,
    Transfer,
    TransferRequest,
)

Status = Enrolment.Status
Action = History.Action

#: Endings of an enrolment other than completion; each needs a date and a reason.
ENDINGS = (Status.DROPPED_OUT, Status.TRANSFERRED, Status.RELEASED, Status.REFERRED)

#: Every move an enrolment may make, from → allowed targets. In a phase → in a phase is the
#: move to the next phase. Nothing leaves a final status.
MOVES: dict[str, tuple[str, ...]] = {
    Status.SCREENED: (Status.ASSESSED, Status.REFERRED),
    Status.ASSESSED: (Status.ENROLLED, Status.REFERRED),
    Status.ENROLLED: (Status.IN_PHASE, *ENDINGS),
    Status.IN_PHASE: (Status.IN_PHASE, Status.COMPLETED, *ENDINGS),
}


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What an enrolment's latest ASSIST screening says: the highest band, and whether it
    leads to an assessment (moderate or high on some substance) or to education only."""

    highest: assist.Risk | None
    eligible: bool
    screened: bool


# --- an enrolment's moves ------------------------------------------------------------------


def enrolment_eligibility(enrolment: Enrolment) -> Eligibility:
    """The verdict of the enrolment's latest screening (by date), through `assist`."""
    latest = enrolment.screenings.order_by("-date", "-pk").first()
    if latest is None:
        return Eligibility(highest=None, eligible=False, screened=False)
    bands = [assist.Risk(score.risk) for score in latest.scores.all()]
    return Eligibility(
        highest=assist.highest(bands), eligible=assist.is_eligible(bands), screened=True
    )


def allowed_moves(enrolment: Enrolment) -> tuple[str, ...]:
    """The statuses the enrolment may move to now (before the checks of each move)."""
    return MOVES.get(enrolment.status, ())


def previous_move_date(enrolment: Enrolment) -> datetime.date:
    """The date of the enrolment's latest move (the intake screening at the least)."""
    last = enrolment.events.order_by("-date").values_list("date", flat=True).first()
    return max(enrolment.start_date, last) if last else enrolment.start_date


def next_phase(enrolment: Enrolment) -> Phase | None:
    """The phase the enrolment would move to next: the first one when enrolled, the
    following one when in a phase, None when there is none."""
    phases = Phase.objects.filter(programme_id=enrolment.programme_id).order_by("order")
    if enrolment.status == Status.ENROLLED:
        return phases.first()
    if enrolment.status == Status.IN_PHASE and enrolment.current_phase is not None:
        return phases.filter(order__gt=enrolment.current_phase.order).first()
    return None


@dataclass(frozen=True, slots=True)
class Move:
    """One move of an enrolment as its page offers it: `key` names it (and its page,
    "rehabilitation:enrolment_<key>"), `target` is the status it leads to (for an ending,
    any of `ENDINGS`), `open` says whether it may be made now, and `reason`, for a closed
    one, why not (in the user's language). `phase` is the phase a next-phase move starts."""

    key: str
    label: str
    target: str
    open: bool
    reason: str = ""
    phase: Phase | None = None

    @property
    def url_name(self) -> str:
        return f"rehabilitation:enrolment_{self.key}"


#: The moves of an enrolment in the order its page shows them: key, label, target status.
MOVE_TABLE: tuple[tuple[str, _StrOrPromise, str], ...] = (
    ("assess", gettext_lazy("Assessment"), Status.ASSESSED),
    ("enrol", gettext_lazy("Enrol"), Status.ENROLLED),
    ("next_phase", gettext_lazy("Next phase"), Status.IN_PHASE),
    ("complete", gettext_lazy("Completion and outcome"), Status.COMPLETED),
    # Every status that may end may end as referred.
    ("end", gettext_lazy("End the enrolment"), Status.REFERRED),
)


def _move_closed(key: str, enrolment: Enrolment, upcoming: Phase | None) -> str:
    """Why the move `key`, allowed by the enrolment's status, may not be made now ("" when
    it may). The services check the same again, with the date and the rest."""
    if key == "assess" and not enrolment_eligibility(enrolment).eligible:
        return _("Education only — not eligible for assessment.")
    if key == "enrol":
        assessment = enrolment.assessments.order_by("-date", "-pk").first()
        if assessment is None or assessment.recommendation == Assessment.Recommendation.NONE:
            return _(
                "The assessment recommended no rehabilitation: the participant cannot be "
                "enrolled. Close the enrolment as referred."
            )
    if key == "next_phase" and upcoming is None:
        if enrolment.status == Status.ENROLLED:
            return _("This programme has no phases.")
        return _("There is no further phase: record the completion instead.")
    if key == "complete" and upcoming is not None:
        return _("The participant is not in the last phase yet.")
    return ""


def enrolment_moves(enrolment: Enrolment) -> list[Move]:
    """Every move of the enrolment, each open or closed with the reason: the one answer the
    enrolment's page and each move's page read."""
    allowed = allowed_moves(enrolment)
    upcoming = next_phase(enrolment) if Status.IN_PHASE in allowed else None
    moves = []
    for key, label, target in MOVE_TABLE:
        if target not in allowed:
            reason = _("This move is not open to an enrolment that is “%(status)s”.") % {
                "status": enrolment.get_status_display()
            }
        else:
            reason = _move_closed(key, enrolment, upcoming)
        moves.append(
            Move(
                key=key,
                label=str(label),
                target=target,
                open=not reason,
                reason=reason,
                phase=upcoming if key == "next_phase" else None,
            )
        )
    return moves


# --- programmes ----------------------------------------------------------------------------


def active_count(programme: Programme) -> int:
    """How many places of the programme are taken (enrolled or in a phase)."""
    return Enrolment.objects.filter(
        programme=programme, status__in=Enrolment.ACTIVE_STATUSES
    ).count()


#: Enrolments of each status a programme's page lists by name; the rest are in the
#: enrolment list (filtered by programme and status).
SHOWN_PER_STATUS = 10


def programme_counts(programme: Programme) -> dict[str, int]:
    """The programme's enrolments by status (an index-only read of its own rows)."""
    return dict(
        Enrolment.objects.filter(programme=programme)
        .order_by()
        .values("status")
        .annotate(n=models.Count("pk"))
        .values_list("status", "n")
    )


def newest_enrolments_by_status(
    user, programme: Programme, per_status: int = SHOWN_PER_STATUS
) -> dict[str, list[Enrolment]]:
    """The `per_status` newest enrolments (by start date) of each status in `programme` that
    `user` sees, with their participants: two queries whatever the programme's size (the
    ids, one index range of `enrolment_programme_newest` per status, then the rows)."""
    visible = access.visible_enrolments_among(user, Enrolment.objects.filter(programme=programme))
    ids: list[int]
    if connection.features.supports_slicing_ordering_in_compound:
        newest = [
            visible.filter(status=status).order_by("-start_date", "-pk").values("pk")[:per_status]
            for status in Status.values
        ]
        ids = [row["pk"] for row in newest[0].union(*newest[1:], all=True).order_by()]
    else:
        # SQLite allows no LIMIT inside a UNION: the same rows, ranked within each status.
        ranked = visible.annotate(
            rank=models.Window(
                RowNumber(),
                partition_by=[models.F("status")],
                order_by=[models.F("start_date").desc(), models.F("pk").desc()],
            )
        )
        ids = list(ranked.filter(rank__lte=per_status).values_list("pk", flat=True))
    rows = (
        Enrolment.objects.filter(pk__in=ids)
        .select_related("participant__institution", "current_phase")
        .order_by("-start_date", "-pk")
    )
    by_status: dict[str, list[Enrolment]] = {status: [] for status in Status.values}
    for enrolment in rows:
        by_status[enrolment.status].append(enrolment)
    return by_status


def programme_serves(programme: Programme, institution_id: int) -> bool:
    """Whether the programme runs for people held at the institution (host or partner)."""
    return institution_id in programme.institution_ids


# --- reading the history -------------------------------------------------------------------


def entries_of(model: type[models.Model], keys) -> Q:
    """Entries of `model`'s records whose ids (as text) are `keys`: a list or a subquery."""
    return Q(
        content_type__app_label=model._meta.app_label,
        content_type__model=model._meta.model_name,
        object_id__in=keys,
    )


def ids_as_keys(queryset: QuerySet) -> QuerySet:
    """The ids of `queryset` as text, as `History.object_id` holds them (one subquery)."""
    return queryset.order_by().annotate(history_key=Cast("pk", CharField())).values("history_key")


def _deleted(model: type[models.Model], field: str, pk: int) -> Q:
    """Delete entries of `model`'s records that pointed at `pk` through `field`: the records
    are gone, their last values tell whose they were."""
    return Q(
        content_type__app_label=model._meta.app_label,
        content_type__model=model._meta.model_name,
        action=Action.DELETE,
        **{f"changes__{field}__0": pk},
    )


def history_where(condition: Q) -> QuerySet[History]:
    """History entries matching `condition` (built with `entries_of`), newest first, with
    their users and kinds of record (one query)."""
    return (
        History.objects.filter(condition)
        .select_related("user", "content_type")
        .order_by("-at", "-pk")
    )


def programme_history(programme: Programme) -> QuerySet[History]:
    """The programme's entries and those of its phases (removed ones too), newest first. Shown
    to everyone who sees the programme: nothing of participants is in them."""
    return history_where(
        entries_of(Programme, [str(programme.pk)])
        | entries_of(Phase, ids_as_keys(Phase.objects.filter(programme=programme)))
        | _deleted(Phase, "programme_id", programme.pk)
    )


def participant_history(participant: Participant) -> QuerySet[History]:
    """The participant's entries (created, corrected, transferred, archived, restored) and
    those of their transfers. Personal data: for those who see the participant."""
    return history_where(
        entries_of(Participant, [str(participant.pk)])
        | entries_of(Transfer, ids_as_keys(Transfer.objects.filter(participant=participant)))
        | entries_of(
            TransferRequest,
            ids_as_keys(TransferRequest.objects.filter(participant=participant)),
        )
    )


#: The records kept with an enrolment, whose entries its page shows with its own.
ENROLMENT_RECORDS = (Assessment, Screening, ProgressNote, InstrumentScore, Attendance)


def enrolment_history(enrolment: Enrolment) -> QuerySet[History]:
    """The enrolment's entries (every move, the outcome) and those of its assessments,
    screenings, progress notes, instrument scores and attendance marks. Personal data: for
    those who see the enrolment."""
    condition = entries_of(Enrolment, [str(enrolment.pk)])
    for model in ENROLMENT_RECORDS:
        condition |= entries_of(model, ids_as_keys(model.objects.filter(enrolment=enrolment)))
        condition |= _deleted(model, "enrolment_id", enrolment.pk)
    return history_where(condition)


# --- transfer requests ---------------------------------------------------------------------


def _requests(user, queryset: QuerySet[TransferRequest]) -> QuerySet[TransferRequest]:
    return (
        access.visible_transfer_requests(user, queryset)
        .select_related("participant", "from_institution", "to_institution", "requested_by")
        .order_by("-requested_at", "-pk")
    )


def incoming_transfer_requests(user) -> QuerySet[TransferRequest]:
    """Pending requests addressed to the institutions where `user` may see personal data
    (all of them for a superuser): what they accept or refuse. Personal data: whoever lists
    them writes the access log."""
    pending = TransferRequest.objects.filter(state=TransferRequest.State.PENDING)
    if not access.is_superuser(user):
        ids = access.own_institutions(user, access.PERSONAL_DATA_ROLES).values("pk")
        pending = pending.filter(to_institution__in=ids)
    return _requests(user, pending)


def outgoing_transfer_requests(user) -> QuerySet[TransferRequest]:
    """Requests sent by the institutions where `user` may see personal data, in every state."""
    sent = TransferRequest.objects.all()
    if not access.is_superuser(user):
        ids = access.own_institutions(user, access.PERSONAL_DATA_ROLES).values("pk")
        sent = sent.filter(from_institution__in=ids)
    return _requests(user, sent)


def incoming_transfer_request_count(user) -> int:
    """How many pending requests wait for `user`'s institutions (a count: nothing personal)."""
    if not access.may_see_personal_data(user):
        return 0
    return incoming_transfer_requests(user).count()


# --- The access log -------------------------------------------------------------------------


def access_log_about(participant_id: int, queryset: QuerySet | None = None) -> QuerySet:
    """The access-log lines that read `participant_id`'s record: those naming them and the
    lists and exports listing them (an indexed lookup of `AccessLogRecord`)."""
    queryset = AccessLog.objects.all() if queryset is None else queryset
    return queryset.filter(
        Q(participant_id=participant_id)
        | Q(pk__in=AccessLogRecord.objects.filter(participant_id=participant_id).values("entry_id"))
    )
