"""The agreement as plain data: the JSON file attached to its PDF, for other systems to read
without parsing the document's text."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.conf import settings

from ..models import Agreement, Article, Party
from .content import IssueInfo, Parent, list_items
from .engine import DataAttachment

#: The name of the JSON attachment holding the agreement's data.
DATA_ATTACHMENT_NAME = "perjanjian.json"
#: Identifies the layout of the JSON attachment, for the systems that read it.
DATA_FORMAT = "pks-agreement"
DATA_FORMAT_VERSION = 1


def _iso(day: datetime.date | None) -> str | None:
    return day.isoformat() if day else None


def agreement_data(
    agreement: Agreement,
    parties: list[Party],
    articles: list[Article],
    *,
    parent: Parent | None = None,
    issue: IssueInfo | None = None,
) -> dict[str, Any]:
    """The agreement as plain data, for the JSON attachment: what the document says, in fields.

    Only what the printed document shows (plus identifiers and links): no meeting, programme
    or participant data ever goes into a public file. Parties as frozen at signing.
    """
    return {
        "format": DATA_FORMAT,
        "format_version": DATA_FORMAT_VERSION,
        "id": agreement.pk,
        "url": settings.SITE_URL + agreement.get_absolute_url(),
        "kind": agreement.kind,
        "title": agreement.title,
        "subject": agreement.subject,
        "status": agreement.status,
        "signed_on": _iso(agreement.signed_on),
        "signing_place": agreement.signing_place,
        "effective_date": _iso(agreement.effective_date),
        "end_date": _iso(agreement.end_date),
        "term_months": agreement.term_months,
        "amends": (
            {
                "id": parent.agreement.pk,
                "title": parent.agreement.title,
                "subject": parent.agreement.subject,
                "signed_on": _iso(parent.agreement.signed_on),
                "numbers": [party.number for party in parent.parties],
            }
            if parent
            else None
        ),
        "parties": [
            {
                "order": party.order,
                "label": party.label,
                "institution": {
                    "name": party.printed_institution_name,
                    "short_name": party.printed_institution_short_name,
                    "kind": party.printed_institution_kind,
                    "address": party.printed_institution_address,
                },
                "number": party.number,
                "signatory": (
                    {
                        "name": party.printed_signatory_name,
                        "nip": party.printed_signatory_nip,
                        "position": party.signatory_position,
                    }
                    if party.has_signatory
                    else None
                ),
            }
            for party in parties
        ],
        "considerations": list_items(agreement.considerations),
        "legal_basis": list_items(agreement.legal_basis),
        "articles": [
            {"number": article.number, "heading": article.heading, "body": article.body}
            for article in articles
        ],
        "verification": (
            {
                "code": issue.verification_code,
                "url": issue.verification_url,
                "issued_at": issue.issued_at.isoformat(),
            }
            if issue
            else None
        ),
    }


def data_attachment(
    agreement: Agreement,
    parties: list[Party],
    articles: list[Article],
    *,
    parent: Parent | None = None,
    issue: IssueInfo | None = None,
) -> DataAttachment:
    """`agreement_data` as the JSON file the PDF carries."""
    data = agreement_data(agreement, parties, articles, parent=parent, issue=issue)
    return DataAttachment(
        name=DATA_ATTACHMENT_NAME,
        content=json.dumps(data, ensure_ascii=False, indent=2).encode(),
        description="Data perjanjian (JSON)",
        when=issue.issued_at if issue else None,
    )
