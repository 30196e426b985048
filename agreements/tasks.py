"""Background work of the agreements: issuing the official PDF after a signing, and the daily
notices. Each task is idempotent (running it twice does what running it once did) and is tried
again with back-off when it fails (config.tasks.retried)."""

from __future__ import annotations

import logging
from typing import Any

from config.tasks import retried

from .models import Agreement
from .services import issuing, notices

logger = logging.getLogger(__name__)


class NoticesNotSent(Exception):
    """Some notices could not be sent; the next attempt sends what is still owed."""


@retried()
def issue_agreement_document(*, agreement_id: int) -> dict[str, Any]:
    """Issue the official PDF of a signed agreement, if it has none yet (queued by the signing).

    An agreement no longer there, or not signed, is left alone: nothing is owed.
    """
    agreement = Agreement.objects.filter(pk=agreement_id).first()
    if agreement is None or not agreement.is_signed:
        logger.info("Agreement %s is not signed (or gone): no document to issue", agreement_id)
        return {"agreement": agreement_id, "issued": False}
    document = issuing.issue_document(agreement=agreement)
    return {"agreement": agreement_id, "issued": True, "sha256": document.sha256}


@retried()
def send_agreement_notices() -> dict[str, int]:
    """The daily notices (`notices.send_notices`); raises if some could not be sent, so that
    the attempt after the back-off sends them (those sent are never sent again)."""
    report = notices.send_notices()
    summary = {
        "sent": len(report.sent),
        "no_recipients": len(report.no_recipients),
        "failed": len(report.failed),
        "awaiting_decision": len(report.awaiting_decision),
    }
    if report.failed:
        raise NoticesNotSent(
            f"{len(report.failed)} notices not sent: "
            + "; ".join(f"{outcome.about}: {outcome.error}" for outcome in report.failed)
        )
    return summary
