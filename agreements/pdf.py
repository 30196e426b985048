"""The agreement as the official PKS document: HTML from a Django template, PDF by WeasyPrint.

WeasyPrint fetches every resource the HTML names (stylesheets, images, fonts, attachments)
through one URL fetcher. Ours only serves files from the project's own static directory and
data: URIs, so neither a bug in the template nor a future change that lets user text through
unescaped can make the renderer read local files or reach the network.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.text import slugify
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError

from .models import Agreement, Article, Party
from .terbilang import date_in_words, terbilang

TEMPLATE_NAME = "agreements/agreement_pdf.html"

#: Printed where a value is still missing, as a blank to fill in by hand.
BLANK = "……………………"
BLANK_SHORT = "……"

_FILENAME_SLUG_MAX = 80

# "1. ", "12) ", "a. ", "b) " typed at the start of a list line: the document numbers its lists.
_LIST_MARKER = re.compile(r"^(?:\d{1,2}|[a-z])[.)]\s+")


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


def html_to_pdf(html: str) -> bytes:
    """Render `html` to PDF bytes; relative URLs resolve against, and are confined to, static."""
    root = static_root().resolve(strict=True)
    document = HTML(
        string=html,
        base_url=root.as_uri() + "/",
        url_fetcher=StaticOnlyURLFetcher(root),
    )
    return document.write_pdf()


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


@dataclass(frozen=True)
class _ArticleBlock:
    number: int
    heading: str
    paragraphs: list[str]


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


def _signature_rows(blocks: list[_PartyBlock]) -> list[list[_PartyBlock]]:
    """Signature columns, one per party, in rows of at most three so names and NIPs still fit.

    Four parties sign two by two rather than three and one.
    """
    per_row = 2 if len(blocks) == 4 else 3
    return [blocks[start : start + per_row] for start in range(0, len(blocks), per_row)]


def _consideration(line: str) -> str:
    """One 'bahwa …;' clause; the word is added unless the author already wrote it."""
    clause = line.rstrip(" ;,.")
    if not clause.lower().startswith("bahwa "):
        clause = f"bahwa {clause}"
    return f"{clause};"


def _party_block(party: Party) -> _PartyBlock:
    signatory = party.signatory
    return _PartyBlock(
        label=party.label,
        number=party.number or BLANK,
        institution_name=party.institution.name,
        institution_address=" ".join(party.institution.address.split()) or BLANK,
        signatory_name=signatory.full_name if signatory else BLANK,
        signatory_nip=signatory.nip if signatory else "",
        signatory_position=party.signatory_position or BLANK,
    )


def _context(
    agreement: Agreement, parties: list[Party], articles: list[Article]
) -> dict[str, object]:
    blocks = [_party_block(party) for party in parties]
    subject = " ".join(agreement.subject.split())
    if agreement.signed_on:
        opening_date = date_in_words(agreement.signed_on)
    else:
        opening_date = (
            f"hari ini {BLANK_SHORT} tanggal {BLANK_SHORT} bulan {BLANK_SHORT} tahun {BLANK_SHORT}"
        )
    return {
        "agreement": agreement,
        "is_draft": not agreement.is_signed,
        "title_lines": _title_lines([block.institution_name for block in blocks]),
        "subject": subject.upper(),
        "subject_text": subject,
        "parties": blocks,
        "all_labels": _join([block.label for block in blocks], "dan"),
        "opening_date": opening_date,
        "signing_place": agreement.signing_place or BLANK,
        "considerations": [_consideration(line) for line in _list_items(agreement.considerations)],
        "legal_basis": _list_items(agreement.legal_basis),
        "articles": [
            _ArticleBlock(article.number, article.heading, _lines(article.body))
            for article in articles
        ],
        "signature_rows": _signature_rows(blocks),
        "copies_in_words": terbilang(len(blocks)),
        "copies": len(blocks),
    }


def render_agreement_html(agreement: Agreement) -> str:
    """The agreement as the HTML the PDF is made from, in two queries whatever its size."""
    # Queried afresh rather than trusting a caller's prefetch: the count stays fixed and the
    # related rows each party needs come in the same query.
    parties = list(agreement.parties.select_related("institution", "signatory").order_by("order"))
    articles = list(agreement.articles.order_by("number"))
    return render_to_string(TEMPLATE_NAME, _context(agreement, parties, articles))


def render_agreement_pdf(agreement: Agreement) -> bytes:
    """The agreement as the official PKS document (A4 PDF), marked DRAFT until it is signed."""
    return html_to_pdf(render_agreement_html(agreement))


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
