"""The record of who viewed, changed or exported a participant's personal data, and why.

A page that shows one participant writes one line naming them (`record_access`); a list, a
search or an export writes one line per read event listing the records it showed
(`record_bulk_access`, `record_read`), in a constant number of queries whatever their number:
the line, then its records in one bulk insert. A search is logged without the words typed (a
detainee's name): `search_terms` keeps only a keyed hash, so that two reads of the same search
can be matched but the name cannot be read back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

from institutions.models import Institution

from ..models import AccessLog, AccessLogRecord, Participant

#: The session key under which the reason a reader gave is remembered.
REASON_SESSION_KEY = "rehabilitation_access_reason"
#: Records inserted per query (SQLite binds at most 999 values).
RECORD_BATCH = 450


def record_access(
    *,
    user,
    participant: Participant,
    action: str,
    detail: str = "",
    reason: str = "",
    path: str = "",
) -> AccessLog:
    """Write one line of the access log: `user` did `action` on `participant`'s data.

    Called by every view and export that shows or changes personal data, after the access
    check passed. The institution is the one holding the participant at that moment, so its
    administrators see the line even after a transfer.
    """
    return record_one(
        user=user,
        participant_id=participant.pk,
        institution_id=participant.institution_id,
        action=action,
        detail=detail,
        reason=reason,
        path=path,
    )


def record_read(
    *,
    user,
    records: Iterable[tuple[int, int]],
    action: str,
    detail: str = "",
    reason: str = "",
    path: str = "",
) -> list[AccessLog]:
    """Log one read event of many participants, given as (participant id, institution id).

    One line per institution holding them (a list of one institution's participants is one
    line), so that each institution's administrators read exactly the lines of their own
    participants; two queries in all, whatever the number of records (more only past
    `RECORD_BATCH` records, as an export of thousands), also for one record, so that a list
    costs the same queries whatever its length. Nothing is written for no records.
    """
    by_institution: dict[int, list[int]] = defaultdict(list)
    seen: set[int] = set()
    for participant_id, institution_id in records:
        if participant_id not in seen:
            seen.add(participant_id)
            by_institution[institution_id].append(participant_id)
    if not by_institution:
        return []
    entries = AccessLog.objects.bulk_create(
        AccessLog(
            user=user,
            institution_id=institution_id,
            action=action,
            detail=detail[:255],
            reason=reason,
            path=path[:255],
            record_count=len(ids),
        )
        for institution_id, ids in by_institution.items()
    )
    AccessLogRecord.objects.bulk_create(
        (
            AccessLogRecord(entry=entry, participant_id=participant_id)
            for entry, ids in zip(entries, by_institution.values(), strict=True)
            for participant_id in ids
        ),
        batch_size=RECORD_BATCH,
    )
    return entries


def record_one(
    *,
    user,
    participant_id: int,
    institution_id: int,
    action: str,
    detail: str = "",
    reason: str = "",
    path: str = "",
) -> AccessLog:
    """One line about one record known by its ids (`record_access`, the admin's pages)."""
    return AccessLog.objects.create(
        user=user,
        participant_id=participant_id,
        institution_id=institution_id,
        action=action,
        detail=detail[:255],
        reason=reason,
        path=path[:255],
        record_count=1,
    )


def record_bulk_access(
    *,
    user,
    participants: Iterable[Participant],
    action: str,
    detail: str = "",
    reason: str = "",
    path: str = "",
) -> list[AccessLog]:
    """One line for a list or an export of `participants` (see `record_read`)."""
    return record_read(
        user=user,
        records=((participant.pk, participant.institution_id) for participant in participants),
        action=action,
        detail=detail,
        reason=reason,
        path=path,
    )


def record_report_access(
    *, user, institution: Institution, detail: str, reason: str = "", path: str = ""
) -> AccessLog:
    """One compact line for a report shown with exact figures (derived from the records of
    the institution's participants): no participant, the report and its period in `detail`."""
    return AccessLog.objects.create(
        user=user,
        participant=None,
        institution=institution,
        action=AccessLog.Action.VIEW,
        detail=detail[:255],
        reason=reason,
        path=path[:255],
    )


def search_terms(query: str) -> str:
    """What the log keeps of a search: a keyed hash of the words, never the words."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), query.strip().casefold().encode(), hashlib.sha256
    ).hexdigest()
    return f"search #{digest[:12]}"


def access_reason(request: HttpRequest) -> str:
    """The reason for access the reader gave: `?reason=` (remembered for the session), or
    the one remembered; empty when none was given (it is optional)."""
    asked = request.GET.get("reason", "")
    if asked in AccessLog.Reason.values:
        if request.session.get(REASON_SESSION_KEY) != asked:
            request.session[REASON_SESSION_KEY] = asked
        return asked
    if asked == "none" and REASON_SESSION_KEY in request.session:
        del request.session[REASON_SESSION_KEY]
        return ""
    remembered = request.session.get(REASON_SESSION_KEY, "")
    return remembered if remembered in AccessLog.Reason.values else ""


def log_context(request: HttpRequest) -> dict[str, str]:
    """The `reason` and `path` of a staff page's read, for `record_access` and friends."""
    return {"reason": access_reason(request), "path": request.path}
