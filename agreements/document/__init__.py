"""The agreement as the official PKS document: HTML from a Django template, PDF by WeasyPrint.

The PDF is PDF/A-3a: tagged, in Indonesian (`lang="id"`), with title, author and subject in its
metadata, every font embedded and subsetted (the project's own Liberation Serif from
static/fonts), and the agreement's data attached as JSON so that another system can read it
without parsing text. A signed agreement's document also carries its verification code and a QR
code leading to the public verification page; issuing it (storing the bytes once) is the
business of `agreements.services.issuing`.

The package is in layers, so that the document's form can be changed without reading the
engine:

- `content`: the Indonesian document, i.e. what the template is given to print;
- `data`: the JSON attachment;
- `engine`: WeasyPrint, the static-only URL fetcher, attachments, PDF/A, anchor boxes;
- `signing`: the optional PAdES signature (pyHanko) of an issued document;
- here: the public entry points that put them together.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.text import slugify

from ..models import Agreement
from .content import STAMP_ANCHOR, TEMPLATE_NAME, IssueInfo, document_context, load
from .data import data_attachment
from .engine import RenderedPdf, html_to_pdf_document

__all__ = [
    "IssueInfo",
    "RenderedPdf",
    "agreement_pdf_filename",
    "render_agreement_document",
    "render_agreement_html",
    "render_agreement_pdf",
]

_FILENAME_SLUG_MAX = 80


def render_agreement_html(
    agreement: Agreement, *, issue: IssueInfo | None = None, stamp_space: bool = False
) -> str:
    """The agreement as the HTML the PDF is made from, in two queries whatever its size (four
    for an addendum, which cites the agreement it amends)."""
    parties, articles, parent = load(agreement)
    return render_to_string(
        TEMPLATE_NAME,
        document_context(
            agreement, parties, articles, parent=parent, issue=issue, stamp_space=stamp_space
        ),
    )


def render_agreement_document(
    agreement: Agreement, *, issue: IssueInfo | None = None, stamp_space: bool = False
) -> RenderedPdf:
    """The agreement as the official document (A4, PDF/A-3a), with its data attached as JSON.

    Marked DRAFT on every page until it is signed. With `issue`, the last page carries the
    verification code and its QR code; with `stamp_space`, an empty box is kept beside them for
    a visible digital-signature stamp, and the result says where it is.
    """
    parties, articles, parent = load(agreement)
    html = render_to_string(
        TEMPLATE_NAME,
        document_context(
            agreement, parties, articles, parent=parent, issue=issue, stamp_space=stamp_space
        ),
    )
    attachment = data_attachment(agreement, parties, articles, parent=parent, issue=issue)
    return html_to_pdf_document(
        html, attachments=(attachment,), stamp_anchor=STAMP_ANCHOR if stamp_space else None
    )


def render_agreement_pdf(agreement: Agreement, *, issue: IssueInfo | None = None) -> bytes:
    """The agreement as the official PKS document (PDF/A-3a bytes); see
    `render_agreement_document`."""
    return render_agreement_document(agreement, issue=issue).data


def agreement_pdf_filename(agreement: Agreement) -> str:
    """A safe ASCII download name: 'PKS-<title slug>-<yyyy-mm-dd of signing or draft>.pdf'."""
    # slugify folds accents to ASCII and drops everything but letters, digits and hyphens, so
    # the name cannot carry path separators, quotes or header-breaking characters.
    slug = slugify(agreement.title)[:_FILENAME_SLUG_MAX].strip("-") or "perjanjian"
    # A draft may carry a planned signing date; its file name still says it is a draft.
    when = "draft"
    if agreement.is_signed and agreement.signed_on:
        when = agreement.signed_on.isoformat()
    return f"PKS-{slug}-{when}.pdf"
