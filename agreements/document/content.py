"""The agreement as an Indonesian PKS document: what the template is given to print.

Everything the official document says and how it says it lives here: the title lines, the
parties and their signatories, the considerations and legal basis, the articles, the rows of
signature columns, the verification code with its QR code, and the institutions' logos. The
HTML itself is `templates/agreements/agreement_pdf.html`; turning it into a PDF is the
business of `engine`, which this module never needs to be read with.
"""

from __future__ import annotations

import base64
import datetime
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import segno
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from institutions.files import StorageUnavailable
from institutions.models import Institution

from ..models import Agreement, Article, Party
from ..terbilang import date_in_words, long_date, ordinal, terbilang

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "agreements/agreement_pdf.html"

#: The `id` of the empty box kept for a visible digital-signature stamp, when asked for.
STAMP_ANCHOR = "stempel-tte"

#: Printed where a value is still missing, as a blank to fill in by hand.
BLANK = "……………………"
BLANK_SHORT = "……"

# "1. ", "12) ", "a. ", "b) " typed at the start of a list line: the document numbers its lists.
_LIST_MARKER = re.compile(r"^(?:\d{1,2}|[a-z])[.)]\s+")

#: The document's own name by kind, as the title prints it and as the text refers to it.
_DOCUMENT_NAMES: dict[str, str] = {
    Agreement.Kind.PKS: "Perjanjian Kerja Sama",
    Agreement.Kind.MOU: "Nota Kesepahaman",
}


@dataclass(frozen=True)
class IssueInfo:
    """What only an issued document prints: its verification code, the page that checks it,
    and when it was issued."""

    verification_code: str
    issued_at: datetime.datetime
    verification_url: str = field(default="")

    def __post_init__(self) -> None:
        if not self.verification_url:
            object.__setattr__(self, "verification_url", verification_url(self.verification_code))


def verification_url(code: str) -> str:
    """The absolute address of the public verification page of `code`, for the QR code."""
    return settings.SITE_URL + reverse("public:verify", args=[code])


def qr_data_uri(text: str) -> str:
    """`text` as a QR code, an SVG data: URI (vector, so it prints sharp at any size)."""
    # Level M survives a crease or a stain on a printout; a border of 2 modules is the quiet
    # zone a phone needs, the white page around the image gives the rest.
    return segno.make(text, error="m").svg_data_uri(scale=1, border=2)


@dataclass(frozen=True)
class _PartyBlock:
    """What the document prints about one party, with blanks already filled in."""

    label: str
    number: str
    institution_name: str
    institution_address: str
    signatory_name: str
    signatory_nip: str
    signatory_position: str
    logo_uri: str = ""


def logo_data_uri(institution: Institution) -> str:
    """The institution's logo as a data: URI, so that it is embedded without a fetch; "" when
    it has none or the file cannot be read (a missing logo never stops a document)."""
    if not institution.logo:
        return ""
    try:
        with institution.logo.open("rb") as handle:
            content = handle.read()
    except StorageUnavailable:
        raise  # a store that is down must not issue a document without its logo for ever
    except OSError:
        logger.error("Logo of institution %s cannot be read", institution.pk)
        return ""
    mime = "image/png" if content.startswith(b"\x89PNG") else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


@dataclass(frozen=True)
class _ArticleBlock:
    number: int
    heading: str
    paragraphs: list[str]


@dataclass(frozen=True)
class _SignatureRow:
    """One row of signature columns; `width` is the CSS class that sizes a short last row."""

    parties: list[_PartyBlock]
    width: str


@dataclass(frozen=True)
class Parent:
    """The agreement an addendum amends, as the addendum refers to it."""

    agreement: Agreement
    parties: list[Party]
    name: str


def _lines(text: str) -> list[str]:
    """The non-empty lines of a multi-line field, each one a clause or paragraph."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def _join(items: list[str], conjunction: str) -> str:
    """'A', 'A dan B', 'A, B dan C': the way the document lists several things."""
    if len(items) <= 2:
        return f" {conjunction} ".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _title_lines(names: list[str]) -> list[str]:
    """The lines between ANTARA and TENTANG: 'A / DENGAN / B', or 'A, / B / DAN / C'."""
    names = [name.upper() for name in names]
    if len(names) <= 1:
        return names
    if len(names) == 2:
        return [names[0], "DENGAN", names[1]]
    return [*(f"{name}," for name in names[:-2]), names[-2], "DAN", names[-1]]


def list_items(text: str) -> list[str]:
    """The lines of a field printed as a numbered list, without numbers the author typed."""
    return [_LIST_MARKER.sub("", line, count=1) for line in _lines(text)]


def _signature_rows(blocks: list[_PartyBlock]) -> list[_SignatureRow]:
    """Signature columns, one per party, in rows of at most three so names and NIPs still fit.

    Two parties sign side by side, three in one row, four two by two; a shorter last row (five
    or seven parties) keeps its columns as wide as the others and is centred.
    """
    per_row = 2 if len(blocks) in (2, 4) else 3
    rows = []
    for start in range(0, len(blocks), per_row):
        chunk = blocks[start : start + per_row]
        rows.append(_SignatureRow(chunk, f"cols-{len(chunk)}-of-{per_row}"))
    return rows


def _consideration(line: str) -> str:
    """One 'bahwa …;' clause; the word is added unless the author already wrote it."""
    clause = line.rstrip(" ;,.")
    if not clause.lower().startswith("bahwa "):
        clause = f"bahwa {clause}"
    return f"{clause};"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _party_block(party: Party) -> _PartyBlock:
    # The `printed_*` values: frozen at signing, so a signed document never follows a rename.
    return _PartyBlock(
        label=party.label,
        number=party.number or BLANK,
        institution_name=party.printed_institution_name,
        institution_address=_one_line(party.printed_institution_address) or BLANK,
        signatory_name=party.printed_signatory_name or BLANK,
        signatory_nip=party.printed_signatory_nip,
        signatory_position=party.signatory_position or BLANK,
        logo_uri=logo_data_uri(party.institution),
    )


def _numbers_phrase(parties: list[Party]) -> str:
    """'Nomor A dan Nomor B': how the text cites an agreement by its parties' numbers."""
    return _join([f"Nomor {party.number or BLANK}" for party in parties], "dan")


def _load_parent(agreement: Agreement) -> Parent | None:
    """The amended agreement and its parties, for an addendum (two queries), else None."""
    if agreement.kind != Agreement.Kind.ADDENDUM or agreement.parent_id is None:
        return None
    parent = Agreement.objects.get(pk=agreement.parent_id)
    parties = list(parent.parties.select_related("institution").order_by("order"))
    return Parent(parent, parties, _DOCUMENT_NAMES.get(parent.kind, "Perjanjian Kerja Sama"))


def _addendum_ordinal(agreement: Agreement) -> str:
    """'pertama', 'kedua', …: the addendum's place among those of the same agreement."""
    place = Agreement.objects.filter(parent_id=agreement.parent_id, pk__lte=agreement.pk).count()
    return ordinal(max(place, 1))


def _document_names(agreement: Agreement, parent: Parent | None) -> dict[str, Any]:
    """The title's head lines and how the text calls the document."""
    if parent is None:
        name = _DOCUMENT_NAMES.get(agreement.kind, "Perjanjian Kerja Sama")
        return {"heading_lines": [name.upper()], "document_name": name, "short_name": name}
    word = _addendum_ordinal(agreement)
    name = f"Adendum {word.title()} atas {parent.name}"
    return {
        "heading_lines": [f"ADENDUM {word.upper()}", parent.name.upper()],
        "document_name": name,
        "short_name": "Adendum",
    }


def document_context(
    agreement: Agreement,
    parties: list[Party],
    articles: list[Article],
    *,
    parent: Parent | None,
    issue: IssueInfo | None,
    stamp_space: bool,
) -> dict[str, object]:
    blocks = [_party_block(party) for party in parties]
    subject = _one_line(agreement.subject)
    if agreement.signed_on:
        opening_date = date_in_words(agreement.signed_on)
    else:
        opening_date = (
            f"hari ini {BLANK_SHORT} tanggal {BLANK_SHORT} bulan {BLANK_SHORT} tahun {BLANK_SHORT}"
        )
    considerations = [_consideration(line) for line in list_items(agreement.considerations)]
    parent_reference = ""
    if parent is not None:
        signed = (
            f" tanggal {long_date(parent.agreement.signed_on)}"
            if parent.agreement.signed_on
            else ""
        )
        parent_reference = (
            f"{parent.name} {_numbers_phrase(parent.parties)}{signed} tentang "
            f"{_one_line(parent.agreement.subject)}"
        )
        considerations.insert(
            0,
            f"bahwa PARA PIHAK telah membuat dan menandatangani {parent_reference} "
            f"(selanjutnya disebut {parent.name});",
        )
    issued_at = issue.issued_at if issue else timezone.now()
    return {
        "agreement": agreement,
        "is_draft": not agreement.is_signed,
        **_document_names(agreement, parent),
        "parent": parent,
        "parent_reference": parent_reference,
        "title_lines": _title_lines([block.institution_name for block in blocks]),
        # An addendum's title names the subject of the agreement it amends; its own subject
        # is what the text says it changes.
        "title_subject": _one_line(parent.agreement.subject if parent else subject).upper(),
        "subject": subject.upper(),
        "subject_text": subject,
        "parties": blocks,
        "has_logos": any(block.logo_uri for block in blocks),
        "authors": [block.institution_name for block in blocks],
        "all_labels": _join([block.label for block in blocks], "dan"),
        "opening_date": opening_date,
        "signing_place": agreement.signing_place or BLANK,
        "considerations": considerations,
        "legal_basis": list_items(agreement.legal_basis),
        "articles": [
            _ArticleBlock(article.number, article.heading, _lines(article.body))
            for article in articles
        ],
        "signature_rows": _signature_rows(blocks),
        "copies_in_words": terbilang(len(blocks)),
        "copies": len(blocks),
        "issue": issue,
        "issued_at_wib": timezone.localtime(issued_at),
        "qr_code": qr_data_uri(issue.verification_url) if issue else "",
        "stamp_anchor": STAMP_ANCHOR if stamp_space else "",
        "created": timezone.localtime(issued_at).isoformat(timespec="seconds"),
    }


def load(agreement: Agreement) -> tuple[list[Party], list[Article], Parent | None]:
    # Queried afresh rather than trusting a caller's prefetch: the count stays fixed and the
    # related rows each party needs come in the same query.
    parties = list(agreement.parties.select_related("institution", "signatory").order_by("order"))
    articles = list(agreement.articles.order_by("number"))
    return parties, articles, _load_parent(agreement)
