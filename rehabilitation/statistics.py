"""The public counts of each programme's people, kept as a small table (`ProgrammeTally`).

The public statistics show, per programme, the people ever enrolled, those active now and
those who completed. Counting them over every enrolment on each request grows with the whole
table; instead each enrolment move adjusts its programme's row in the same transaction
(`enrolment_moved`, called by the enrolment services), and `refresh()` rebuilds every row from
the enrolments in one grouped query (idempotent: a background task or `manage.py
refresh_statistics` runs it after a bulk load, or to repair a drift). The figures read from
the table pass through the same disclosure rule as before (`reports.suppress`).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from .models import Enrolment, Programme, ProgrammeTally

Status = Enrolment.Status

#: Ever enrolled: an enrolment that reached "enrolled" (its `enrolled_on` is set).
_EVER = Q(enrolled_on__isnull=False)


def _contribution(status: str, enrolled: bool) -> tuple[int, int, int]:
    """What one enrolment adds to its programme's (enrolled, active, completed)."""
    if not enrolled:
        return (0, 0, 0)
    return (1, int(status in Enrolment.ACTIVE_STATUSES), int(status == Status.COMPLETED))


def _counts(programme_ids: list[int] | None = None) -> dict[int, tuple[int, int, int]]:
    """(enrolled, active, completed) per programme, counted from the enrolments."""
    enrolments = Enrolment.objects.filter(_EVER)
    if programme_ids is not None:
        enrolments = enrolments.filter(programme_id__in=programme_ids)
    rows = (
        enrolments.order_by()
        .values("programme_id")
        .annotate(
            enrolled=Count("pk"),
            active=Count("pk", filter=Q(status__in=Enrolment.ACTIVE_STATUSES)),
            completed=Count("pk", filter=Q(status=Status.COMPLETED)),
        )
    )
    return {row["programme_id"]: (row["enrolled"], row["active"], row["completed"]) for row in rows}


def enrolment_moved(enrolment: Enrolment, *, status: str, was_enrolled: bool) -> None:
    """Adjust the programme's row after `enrolment` moved from `status` (ever enrolled or
    not before the move: `was_enrolled`) to its current values. One UPDATE, which locks the
    row, so that concurrent moves add up; a programme without a row yet gets one counted
    from its own enrolments."""
    before = _contribution(status, was_enrolled)
    after = _contribution(enrolment.status, enrolment.enrolled_on is not None)
    delta = [b - a for a, b in zip(before, after, strict=True)]
    if not any(delta):
        return
    updated = ProgrammeTally.objects.filter(programme_id=enrolment.programme_id).update(
        enrolled=F("enrolled") + delta[0],
        active=F("active") + delta[1],
        completed=F("completed") + delta[2],
        updated_at=timezone.now(),
    )
    if not updated:
        # Counted after the move was saved: the row includes it.
        _store(_counts([enrolment.programme_id]), [enrolment.programme_id])


def _store(counts: dict[int, tuple[int, int, int]], programme_ids: list[int]) -> None:
    now = timezone.now()
    ProgrammeTally.objects.bulk_create(
        [
            ProgrammeTally(
                programme_id=pk,
                enrolled=counts.get(pk, (0, 0, 0))[0],
                active=counts.get(pk, (0, 0, 0))[1],
                completed=counts.get(pk, (0, 0, 0))[2],
                updated_at=now,
            )
            for pk in programme_ids
        ],
        update_conflicts=True,
        unique_fields=["programme"],
        update_fields=["enrolled", "active", "completed", "updated_at"],
        batch_size=500,
    )


@transaction.atomic
def refresh() -> int:
    """Rebuild every programme's row from the enrolments (one grouped query, then one upsert
    per 500 programmes); running it twice changes nothing. Returns the number of rows."""
    programme_ids = list(Programme.objects.order_by("pk").values_list("pk", flat=True))
    _store(_counts(), programme_ids)
    return len(programme_ids)
