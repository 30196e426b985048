"""The record of who viewed, changed or exported a participant's personal data."""

from __future__ import annotations

from collections.abc import Iterable

from institutions.models import Institution

from ..models import AccessLog, Participant


def record_access(*, user, participant: Participant, action: str, detail: str = "") -> AccessLog:
    """Write one line of the access log: `user` did `action` on `participant`'s data.

    Called by every view and export that shows or changes personal data, after the access
    check passed. The institution is the one holding the participant at that moment, so its
    administrators see the line even after a transfer.
    """
    return AccessLog.objects.create(
        user=user,
        participant=participant,
        institution_id=participant.institution_id,
        action=action,
        detail=detail[:255],
    )


def record_bulk_access(
    *, user, participants: Iterable[Participant], action: str, detail: str = ""
) -> list[AccessLog]:
    """One line per participant for a list or an export, in one query."""
    return AccessLog.objects.bulk_create(
        AccessLog(
            user=user,
            participant=participant,
            institution_id=participant.institution_id,
            action=action,
            detail=detail[:255],
        )
        for participant in participants
    )


def record_report_access(*, user, institution: Institution, detail: str) -> AccessLog:
    """One compact line for a report shown with exact figures (derived from the records of
    the institution's participants): no participant, the report and its period in `detail`."""
    return AccessLog.objects.create(
        user=user,
        participant=None,
        institution=institution,
        action=AccessLog.Action.VIEW,
        detail=detail[:255],
    )
