"""The agreement as the official PKS document: HTML from a Django template, PDF by WeasyPrint.

The PDF is PDF/A-3a: tagged, in Indonesian (`lang="id"`), with title, author and subject in its
metadata, every font embedded and subsetted (the project's own Liberation Serif from
static/fonts), and the agreement's data attached as JSON so that another system can read it
without parsing text. A signed agreement's document also carries its verification code and a QR
code leading to the public verification page; issuing it (storing the bytes once) is the
business of `agreements.services.issuing`.

WeasyPrint fetches every resource the HTML names (stylesheets, images, fonts, attachments)
through one URL fetcher. Ours only serves files from the project's own static directory and
data: URIs, so neither a bug in the template nor a future change that lets user text through
unescaped can make the renderer read local files or reach the network.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from weasyprint import HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError

from .models import Agreement, Article, Party
from .terbilang import date_in_words, long_date, ordinal, terbilang

logger = logging.getLogger(__name__)

TEMPLATE_NAME = "agreements/agreement_pdf.html"

#: The PDF flavour of every agreement document: archival PDF/A-3, level A (tagged, Unicode).
PDF_VARIANT = "pdf/a-3a"
#: The name of the JSON attachment holding the agreement's data.
DATA_ATTACHMENT_NAME = "perjanjian.json"
#: Identifies the layout of the JSON attachment, for the systems that read it.
DATA_FORMAT = "pks-agreement"
DATA_FORMAT_VERSION = 1
#: The `id` of the empty box kept for a visible digital-signature stamp, when asked for.
STAMP_ANCHOR = "stempel-tte"

#: Printed where a value is still missing, as a blank to fill in by hand.
BLANK = "……………………"
BLANK_SHORT = "……"

_FILENAME_SLUG_MAX = 80

# "1. ", "12) ", "a. ", "b) " typed at the start of a list line: the document numbers its lists.
_LIST_MARKER = re.compile(r"^(?:\d{1,2}|[a-z])[.)]\s+")

#: The document's own name by kind, as the title prints it and as the text refers to it.
_DOCUMENT_NAMES = {
    Agreement.Kind.PKS: "Perjanjian Kerja Sama",
    Agreement.Kind.MOU: "Nota Kesepahaman",
}

# CSS pixels (1/96 in) to PDF points (1/72 in).
_PX_TO_PT = 0.75


class RefusedURLError(URLFetchingError):
    """A resource URL the PDF renderer is not allowed to fetch.

    WeasyPrint turns any exception from a fetcher into a failed fetch (a logged warning and the
    resource left out), so refusing never breaks rendering of the rest of the document.
    """


class StaticOnlyURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves files below one directory, and data: URIs.

    Everything else (http, https, ftp, file URLs outside the directory, reached by `..` or by a
    symbolic link) raises `RefusedURLError`.
    """

    def __init__(self, root: Path | str) -> None:
        # The parent only ever sees data: URIs (see fetch); allowing just that protocol there
        # too means a mistake here still cannot open a network connection.
        super().__init__(allowed_protocols={"data"})
        self.root = Path(root).resolve(strict=True)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return the resource at `url`, or raise `RefusedURLError`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return self._fetch_file(url, parts.netloc, parts.path)
        raise RefusedURLError(f"Only static files and data: URIs may be used in a PDF: {url}")

    def _fetch_file(self, url: str, host: str, quoted_path: str) -> URLFetcherResponse:
        if host not in ("", "localhost"):
            raise RefusedURLError(f"Remote file URL refused: {url}")
        raw_path = unquote(quoted_path)
        if "\x00" in raw_path or not raw_path.startswith("/"):
            raise RefusedURLError(f"Malformed file URL refused: {url}")
        try:
            # strict resolution follows every symbolic link, so the containment check below
            # sees where the file really is, and `..` segments are gone.
            path = Path(raw_path).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise RefusedURLError(f"File not found: {url}") from exc
        if not path.is_relative_to(self.root) or not path.is_file():
            raise RefusedURLError(f"File outside the static directory refused: {url}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return URLFetcherResponse(
            path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type}
        )


def static_root() -> Path:
    """The project's own static directory: the first of STATICFILES_DIRS, else BASE_DIR/static."""
    dirs = list(getattr(settings, "STATICFILES_DIRS", []))
    if dirs:
        first = dirs[0]
        # An entry may be a (prefix, path) pair.
        return Path(first[1] if isinstance(first, tuple | list) else first)
    return Path(settings.BASE_DIR) / "static"


@dataclass(frozen=True)
class DataAttachment:
    """A file embedded in the PDF (PDF/A-3 'associated file'), e.g. the agreement as JSON."""

    name: str
    content: bytes
    description: str
    #: How the file relates to the document (ISO 32000-2 7.11.3): 'Data', 'Source', ….
    relationship: str = "Data"
    #: Creation and modification time written into the file's entry.
    when: datetime.datetime | None = None


@dataclass(frozen=True)
class RenderedPdf:
    """A rendered document: the PDF bytes, and where the signature stamp box landed, if kept.

    `stamp_box` is (page index, (x1, y1, x2, y2)) in PDF points from the page's lower left
    corner, the box a visible digital-signature stamp may fill.
    """

    data: bytes
    stamp_box: tuple[int, tuple[float, float, float, float]] | None = None


def _weasyprint_attachment(item: DataAttachment, fetcher: URLFetcher) -> Attachment:
    # WeasyPrint writes the times with a literal 'Z': give them in UTC.
    when = (item.when or timezone.now()).astimezone(datetime.UTC).replace(tzinfo=None)
    return Attachment(
        string=item.content,
        url_fetcher=fetcher,
        name=item.name,
        description=item.description,
        created=when,
        modified=when,
        relationship=item.relationship,
    )


def html_to_pdf_document(
    html: str,
    *,
    attachments: tuple[DataAttachment, ...] = (),
    stamp_anchor: str | None = None,
) -> RenderedPdf:
    """Render `html` to a PDF/A-3a document; relative URLs resolve against, and are confined to,
    the static directory. With `stamp_anchor`, report where the element of that id landed."""
    root = static_root().resolve(strict=True)
    fetcher = StaticOnlyURLFetcher(root)
    document = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=fetcher).render(
        pdf_variant=PDF_VARIANT
    )
    stamp_box = None
    if stamp_anchor:
        stamp_box = _anchor_box(document, stamp_anchor)
    data = document.write_pdf(
        pdf_variant=PDF_VARIANT,
        attachments=[_weasyprint_attachment(item, fetcher) for item in attachments],
        finisher=_list_associated_files_once,
    )
    return RenderedPdf(data=data, stamp_box=stamp_box)


def _list_associated_files_once(document, pdf_file) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalogue's /AF array (once from the
    name tree, once from the file specifications): keep one reference of each."""
    associated = pdf_file.catalog.get("AF")
    if associated:
        unique = list(dict.fromkeys(associated))
        associated.clear()
        associated.extend(unique)


def html_to_pdf(html: str, *, attachments: tuple[DataAttachment, ...] = ()) -> bytes:
    """Render `html` to PDF/A-3a bytes through the static-only fetcher."""
    return html_to_pdf_document(html, attachments=attachments).data


def _anchor_box(document, anchor: str) -> tuple[int, tuple[float, float, float, float]] | None:
    """Where the element with id `anchor` sits: its page and its box in PDF points."""
    for index, page in enumerate(document.pages):
        if anchor not in page.anchors:
            continue
        # Anchors give the top left corner in CSS pixels; the box's size is found by walking
        # the page's boxes for the element.
        box = _find_box(page._page_box, anchor)
        if box is None:
            return None
        x, y = box.border_box_x(), box.border_box_y()
        width, height = box.border_width(), box.border_height()
        page_height = page.height * _PX_TO_PT
        return index, (
            x * _PX_TO_PT,
            page_height - (y + height) * _PX_TO_PT,
            (x + width) * _PX_TO_PT,
            page_height - y * _PX_TO_PT,
        )
    return None


def _find_box(box, element_id: str):
    element = getattr(box, "element", None)
    if element is not None and element.get("id") == element_id and hasattr(box, "border_width"):
        return box
    for child in getattr(box, "children", ()):
        found = _find_box(child, element_id)
        if found is not None:
            return found
    return None


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


def logo_data_uri(institution) -> str:
    """The institution's logo as a data: URI, so that it is embedded without a fetch; "" when
    it has none or the file cannot be read (a missing logo never stops a document)."""
    if not institution.logo:
        return ""
    try:
        with institution.logo.open("rb") as handle:
            content = handle.read()
    except OSError:
        logger.warning("Logo of institution %s cannot be read", institution.pk)
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
class _Parent:
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


def _list_items(text: str) -> list[str]:
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
    signatory = party.signatory
    return _PartyBlock(
        label=party.label,
        number=party.number or BLANK,
        institution_name=party.institution.name,
        institution_address=_one_line(party.institution.address) or BLANK,
        signatory_name=signatory.full_name if signatory else BLANK,
        signatory_nip=signatory.nip if signatory else "",
        signatory_position=party.signatory_position or BLANK,
        logo_uri=logo_data_uri(party.institution),
    )


def _numbers_phrase(parties: list[Party]) -> str:
    """'Nomor A dan Nomor B': how the text cites an agreement by its parties' numbers."""
    return _join([f"Nomor {party.number or BLANK}" for party in parties], "dan")


def _load_parent(agreement: Agreement) -> _Parent | None:
    """The amended agreement and its parties, for an addendum (two queries), else None."""
    if agreement.kind != Agreement.Kind.ADDENDUM or agreement.parent_id is None:
        return None
    parent = Agreement.objects.get(pk=agreement.parent_id)
    parties = list(parent.parties.select_related("institution").order_by("order"))
    return _Parent(parent, parties, _DOCUMENT_NAMES.get(parent.kind, "Perjanjian Kerja Sama"))


def _addendum_ordinal(agreement: Agreement) -> str:
    """'pertama', 'kedua', …: the addendum's place among those of the same agreement."""
    place = Agreement.objects.filter(parent_id=agreement.parent_id, pk__lte=agreement.pk).count()
    return ordinal(max(place, 1))


def _document_names(agreement: Agreement, parent: _Parent | None) -> dict[str, Any]:
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


def _context(
    agreement: Agreement,
    parties: list[Party],
    articles: list[Article],
    *,
    parent: _Parent | None,
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
    considerations = [_consideration(line) for line in _list_items(agreement.considerations)]
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
        "legal_basis": _list_items(agreement.legal_basis),
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


def _load(agreement: Agreement) -> tuple[list[Party], list[Article], _Parent | None]:
    # Queried afresh rather than trusting a caller's prefetch: the count stays fixed and the
    # related rows each party needs come in the same query.
    parties = list(agreement.parties.select_related("institution", "signatory").order_by("order"))
    articles = list(agreement.articles.order_by("number"))
    return parties, articles, _load_parent(agreement)


def _iso(day: datetime.date | None) -> str | None:
    return day.isoformat() if day else None


def agreement_data(
    agreement: Agreement,
    parties: list[Party],
    articles: list[Article],
    *,
    parent: _Parent | None = None,
    issue: IssueInfo | None = None,
) -> dict[str, Any]:
    """The agreement as plain data, for the JSON attachment: what the document says, in fields.

    Only what the printed document shows (plus identifiers and links): no meeting, programme
    or participant data ever goes into a public file.
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
                    "name": party.institution.name,
                    "short_name": party.institution.short_name,
                    "kind": party.institution.kind,
                    "address": party.institution.address,
                },
                "number": party.number,
                "signatory": (
                    {
                        "name": party.signatory.full_name,
                        "nip": party.signatory.nip,
                        "position": party.signatory_position,
                    }
                    if party.signatory
                    else None
                ),
            }
            for party in parties
        ],
        "considerations": _list_items(agreement.considerations),
        "legal_basis": _list_items(agreement.legal_basis),
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


def render_agreement_html(
    agreement: Agreement, *, issue: IssueInfo | None = None, stamp_space: bool = False
) -> str:
    """The agreement as the HTML the PDF is made from, in two queries whatever its size (four
    for an addendum, which cites the agreement it amends)."""
    parties, articles, parent = _load(agreement)
    return render_to_string(
        TEMPLATE_NAME,
        _context(agreement, parties, articles, parent=parent, issue=issue, stamp_space=stamp_space),
    )


def render_agreement_document(
    agreement: Agreement, *, issue: IssueInfo | None = None, stamp_space: bool = False
) -> RenderedPdf:
    """The agreement as the official document (A4, PDF/A-3a), with its data attached as JSON.

    Marked DRAFT on every page until it is signed. With `issue`, the last page carries the
    verification code and its QR code; with `stamp_space`, an empty box is kept beside them for
    a visible digital-signature stamp, and the result says where it is.
    """
    parties, articles, parent = _load(agreement)
    html = render_to_string(
        TEMPLATE_NAME,
        _context(agreement, parties, articles, parent=parent, issue=issue, stamp_space=stamp_space),
    )
    data = agreement_data(agreement, parties, articles, parent=parent, issue=issue)
    attachment = DataAttachment(
        name=DATA_ATTACHMENT_NAME,
        content=json.dumps(data, ensure_ascii=False, indent=2).encode(),
        description="Data perjanjian (JSON)",
        when=issue.issued_at if issue else None,
    )
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
