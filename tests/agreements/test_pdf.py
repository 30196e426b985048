"""The agreement PDF: what it says, what it refuses to fetch, the PDF/A-3 file it is (tags,
language, metadata, embedded fonts, JSON attachment), and what it costs in queries."""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pikepdf
import pytest
import segno
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError, URLFetchingError, fetch

from agreements.document import (
    IssueInfo,
    agreement_pdf_filename,
    engine,
    render_agreement_document,
    render_agreement_html,
    render_agreement_pdf,
)
from agreements.document.content import _signature_rows, qr_data_uri, verification_url
from agreements.document.data import DATA_ATTACHMENT_NAME
from agreements.document.engine import (
    RefusedURLError,
    RenderProcessError,
    StaticOnlyURLFetcher,
    html_to_pdf,
    static_root,
)
from agreements.models import Agreement, Article, IssuedDocument, Party
from agreements.terbilang import DAYS, MONTHS, date_in_words
from institutions.models import Institution
from tests import factories

HOSTILE_IMG = '<img src="http://127.0.0.1:9/x.png">'
HOSTILE_LINK = '<link rel=stylesheet href="file:///etc/passwd">'

ARTICLE_HEADINGS = [
    "Maksud dan Tujuan",
    "Ruang Lingkup",
    "Hak dan Kewajiban",
    "Jangka Waktu",
    "Penyelesaian Perselisihan",
]


def page_texts(data: bytes) -> list[str]:
    """Each page's text with runs of whitespace made single spaces: line breaks don't matter."""
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def pdf_text(data: bytes) -> str:
    return " ".join(page_texts(data))


def squashed(text: str) -> str:
    """`text` without any whitespace: WeasyPrint may break a long URL after a slash."""
    return "".join(text.split())


#: What every document asks the fetcher for: its stylesheet and the fonts it names.
DOCUMENT_RESOURCES = [
    (static_root() / "pdf" / "agreement.css").resolve().as_uri(),
    (static_root() / "fonts" / "LiberationSerif-Regular.ttf").resolve().as_uri(),
    (static_root() / "fonts" / "LiberationSerif-Bold.ttf").resolve().as_uri(),
]


def required_tool(name: str) -> str:
    """The path of a command-line checker; skipped when missing, unless E2E_REQUIRED is set
    (CI installs them)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(f"{name} is required (E2E_REQUIRED is set) but not installed")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test, so a leaky fetcher cannot hide."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("PDF rendering tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every URL the PDF renderer asks the fetcher for, with 'served' or 'refused'."""
    calls: list[tuple[str, str]] = []
    original = StaticOnlyURLFetcher.fetch

    def spy(self: StaticOnlyURLFetcher, url: str, headers: dict[str, str] | None = None):
        try:
            response = original(self, url, headers)
        except RefusedURLError:
            calls.append((url, "refused"))
            raise
        calls.append((url, "served"))
        return response

    monkeypatch.setattr(StaticOnlyURLFetcher, "fetch", spy)
    # A fresh font configuration, which fetches the fonts (a kept one has them already).
    monkeypatch.setattr(engine._fonts, "config", None, raising=False)
    return calls


def _institutions(count: int) -> list[Institution]:
    made = [
        factories.institution(
            "Rumah Tahanan Negara Kelas IIB Pemalang",
            grade=Institution.Grade.IIB,
            address="Jl. Jenderal Sudirman No. 1, Pemalang",
        ),
        factories.institution(
            "Badan Narkotika Nasional Kabupaten Batang",
            kind=Institution.Kind.BNNK,
            address="Jl. Ahmad Yani No. 2, Batang",
        ),
        factories.institution(
            "Lembaga Pemasyarakatan Kelas IIA Pekalongan",
            kind=Institution.Kind.LAPAS,
            grade=Institution.Grade.IIA,
            address="Jl. Pekalongan No. 3, Pekalongan",
        ),
        factories.institution(
            "Rumah Tahanan Negara Kelas IIA Pekalongan",
            grade=Institution.Grade.IIA,
            address="Jl. Diponegoro No. 4, Pekalongan",
        ),
    ]
    return made[:count]


def make_agreement(
    parties: int = 2, status: str = Agreement.Status.SIGNED, **fields: object
) -> Agreement:
    """A PKS between `parties` institutions, with signatories, considerations and articles."""
    fields.setdefault("subject", "Rehabilitasi Sosial bagi Tahanan dan Narapidana")
    fields.setdefault("signing_place", "Rumah Tahanan Negara Kelas IIA Pekalongan")
    fields.setdefault(
        "considerations",
        "PIHAK PERTAMA menyelenggarakan pelayanan tahanan\n\n"
        "b. bahwa PIHAK KEDUA berwenang di bidang P4GN;",
    )
    fields.setdefault(
        "legal_basis",
        "1. Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika\n"
        "2) Peraturan Menteri Hukum dan HAM Nomor 12 Tahun 2017",
    )
    signed_on = fields.pop("signed_on", factories.SIGNING_DAY)
    # Completed as a draft, then moved on through the services (a signed text never changes).
    agreement = factories.agreement(*_institutions(parties), articles=0, **fields)
    for order in range(1, parties + 1):
        signatory = factories.person(f"Penandatangan Ke{order}", nip=f"19780101200501100{order}")
        Party.objects.filter(agreement=agreement, order=order).update(
            signatory=signatory, signatory_position=f"Kepala Unit {order}"
        )
    for number, heading in enumerate(ARTICLE_HEADINGS, start=1):
        Article.objects.create(
            agreement=agreement,
            number=number,
            heading=heading,
            body=f"(1) Ayat pertama pasal {number}.\n(2) Ayat kedua pasal {number}.",
        )
    return factories.advance(agreement, status, signed_on=signed_on)


@pytest.mark.django_db
def test_signed_agreement_pdf_holds_the_document_text(fetched: list[tuple[str, str]]) -> None:
    agreement = make_agreement()
    data = render_agreement_pdf(agreement)
    pages = page_texts(data)
    text = " ".join(pages)

    assert data.startswith(b"%PDF-")
    assert (
        "PERJANJIAN KERJA SAMA ANTARA RUMAH TAHANAN NEGARA KELAS IIB PEMALANG DENGAN "
        "BADAN NARKOTIKA NASIONAL KABUPATEN BATANG TENTANG "
        "REHABILITASI SOSIAL BAGI TAHANAN DAN NARAPIDANA"
    ) in text
    for party in agreement.parties.select_related("institution"):
        assert party.institution.name in text
        assert f"NOMOR: {party.number}" in text
    assert (
        "Pada hari ini Senin tanggal empat bulan Agustus tahun dua ribu dua puluh lima "
        "(04-08-2025), bertempat di Rumah Tahanan Negara Kelas IIA Pekalongan, "
        "yang bertanda tangan di bawah ini:"
    ) in text
    assert (
        "Penandatangan Ke1, Kepala Unit 1, dalam hal ini bertindak untuk dan atas nama "
        "Rumah Tahanan Negara Kelas IIB Pemalang, berkedudukan di "
        "Jl. Jenderal Sudirman No. 1, Pemalang, selanjutnya disebut PIHAK PERTAMA."
    ) in text
    assert "PIHAK PERTAMA dan PIHAK KEDUA secara bersama-sama disebut PARA PIHAK" in text
    # One clause per line of the field, 'bahwa' added once, blank lines dropped.
    assert "bahwa PIHAK PERTAMA menyelenggarakan pelayanan tahanan;" in text
    assert "bahwa PIHAK KEDUA berwenang di bidang P4GN;" in text
    assert "bahwa bahwa" not in text
    assert "Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika" in text
    for number, heading in enumerate(ARTICLE_HEADINGS, start=1):
        assert f"Pasal {number} {heading}" in text
    assert (
        "dibuat dalam rangkap dua (2) asli, masing-masing bermeterai cukup dan "
        "mempunyai kekuatan hukum yang sama."
    ) in text
    assert "Meterai Rp10.000" in text
    assert "NIP. 197801012005011001" in text
    for number, page in enumerate(pages, start=1):
        assert f"Halaman {number} dari {len(pages)}" in page
    assert "DRAFT" not in text
    # The stylesheet and the fonts came from the static directory, and nothing else was asked.
    assert sorted(fetched) == sorted((url, "served") for url in DOCUMENT_RESOURCES)


@pytest.mark.django_db
def test_pdf_metadata_title_is_the_short_title() -> None:
    agreement = make_agreement(title="PKS Rehabilitasi Pekalongan")
    reader = PdfReader(io.BytesIO(render_agreement_pdf(agreement)))
    assert reader.metadata is not None
    assert reader.metadata.title == "Perjanjian Kerja Sama — PKS Rehabilitasi Pekalongan"


@pytest.mark.django_db
def test_three_parties_read_a_b_dan_c() -> None:
    agreement = make_agreement(parties=3)
    text = pdf_text(render_agreement_pdf(agreement))
    assert (
        "ANTARA RUMAH TAHANAN NEGARA KELAS IIB PEMALANG, BADAN NARKOTIKA NASIONAL KABUPATEN "
        "BATANG DAN LEMBAGA PEMASYARAKATAN KELAS IIA PEKALONGAN TENTANG"
    ) in text
    assert "PIHAK PERTAMA, PIHAK KEDUA dan PIHAK KETIGA secara bersama-sama" in text
    assert "selanjutnya disebut PIHAK KETIGA." in text
    assert "rangkap tiga (3) asli" in text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "is_draft"),
    [
        (Agreement.Status.DRAFT, True),
        (Agreement.Status.DISCUSSION, True),
        (Agreement.Status.READY, True),
        (Agreement.Status.SIGNED, False),
        (Agreement.Status.TERMINATED, False),
    ],
)
def test_only_unsigned_agreements_say_draft(status: str, is_draft: bool) -> None:
    text = pdf_text(render_agreement_pdf(make_agreement(status=status)))
    assert ("DRAFT" in text) is is_draft


@pytest.mark.django_db
def test_every_page_of_a_long_draft_says_draft() -> None:
    agreement = make_agreement(status=Agreement.Status.DRAFT)
    long_body = "\n".join(f"({n}) " + "Para pihak melaksanakan kegiatan. " * 12 for n in range(8))
    Article.objects.filter(agreement=agreement).update(body=long_body)

    pages = page_texts(render_agreement_pdf(agreement))

    assert len(pages) >= 3
    assert all("DRAFT" in page for page in pages)


@pytest.mark.django_db
def test_draft_without_date_or_numbers_shows_blanks() -> None:
    agreement = make_agreement(status=Agreement.Status.DRAFT, signing_place="")
    Party.objects.filter(agreement=agreement, order=2).update(number="", signatory=None)

    text = pdf_text(render_agreement_pdf(agreement))

    assert "Pada hari ini …… tanggal …… bulan …… tahun ……, bertempat di ……" in text
    first = agreement.parties.get(order=1)
    assert f"NOMOR: {first.number}" in text
    assert "NOMOR: ……" in text
    assert "selanjutnya disebut PIHAK KEDUA." in text


@pytest.mark.django_db
def test_multi_line_fields_become_separate_paragraphs() -> None:
    html = render_agreement_html(make_agreement())
    assert "<p>(1) Ayat pertama pasal 1.</p>" in html
    assert "<p>(2) Ayat kedua pasal 1.</p>" in html
    # Numbers the author typed give way to the list's own.
    assert "<li>Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika</li>" in html
    assert "<li>Peraturan Menteri Hukum dan HAM Nomor 12 Tahun 2017</li>" in html
    assert "<li>bahwa PIHAK KEDUA berwenang di bidang P4GN;</li>" in html


@pytest.mark.django_db
def test_markup_in_user_text_prints_as_text_and_fetches_nothing(
    fetched: list[tuple[str, str]],
) -> None:
    hostile = f"Rehabilitasi {HOSTILE_IMG} {HOSTILE_LINK}"
    agreement = make_agreement(title=hostile, subject=hostile, considerations=hostile)
    Article.objects.filter(agreement=agreement, number=1).update(heading=hostile, body=hostile)
    Party.objects.filter(agreement=agreement, order=1).update(signatory_position=hostile)

    html = render_agreement_html(agreement)
    data = render_agreement_pdf(agreement)
    text = squashed(pdf_text(data))

    assert "<img" not in html
    assert "<link rel=stylesheet" not in html
    assert "&lt;img src=&quot;http://127.0.0.1:9/x.png&quot;&gt;" in html
    assert squashed(f"tentang Rehabilitasi {HOSTILE_IMG} {HOSTILE_LINK} dengan") in text
    assert squashed(f"bahwa Rehabilitasi {HOSTILE_IMG} {HOSTILE_LINK};") in text
    assert squashed(f"Pasal 1 Rehabilitasi {HOSTILE_IMG} {HOSTILE_LINK}") in text
    assert squashed(f"TENTANG REHABILITASI {HOSTILE_IMG.upper()} {HOSTILE_LINK.upper()}") in text
    reader = PdfReader(io.BytesIO(data))
    assert reader.metadata is not None
    assert hostile in str(reader.metadata.title)
    # Only the stylesheet and fonts were fetched: the markup never reached WeasyPrint as markup.
    assert sorted(url for url, _ in fetched) == sorted(DOCUMENT_RESOURCES)


def test_fetcher_refuses_markup_that_does_reach_weasyprint(
    fetched: list[tuple[str, str]],
) -> None:
    # The control for the test above: the spy does see what real markup asks for, and
    # refusing it leaves the rest of the document rendered.
    html = f"<html><head>{HOSTILE_LINK}</head><body>{HOSTILE_IMG}<p>Isi dokumen</p></body></html>"

    data = html_to_pdf(html)

    assert fetched == [
        ("file:///etc/passwd", "refused"),
        ("http://127.0.0.1:9/x.png", "refused"),
    ]
    assert "Isi dokumen" in pdf_text(data)


@pytest.fixture
def static_tree(tmp_path: Path) -> Path:
    """A static directory with a stylesheet, and files beside it that must stay out of reach."""
    root = tmp_path / "static"
    (root / "pdf").mkdir(parents=True)
    (root / "pdf" / "agreement.css").write_text("body { color: black }")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "static-other").mkdir()
    (tmp_path / "static-other" / "a.css").write_text("p {}")
    (root / "escape.css").symlink_to(tmp_path / "secret.txt")
    (root / "escape-dir").symlink_to(tmp_path / "static-other", target_is_directory=True)
    return root


def test_fetcher_serves_a_static_file(static_tree: Path) -> None:
    fetcher = StaticOnlyURLFetcher(static_tree)
    response = fetcher((static_tree / "pdf" / "agreement.css").as_uri())
    assert response.read() == b"body { color: black }"
    assert response.content_type == "text/css"
    assert response.charset == "utf-8"


def test_fetcher_serves_a_static_file_through_dot_segments_that_stay_inside(
    static_tree: Path,
) -> None:
    fetcher = StaticOnlyURLFetcher(static_tree)
    response = fetcher(f"{static_tree.as_uri()}/pdf/../pdf/agreement.css")
    assert response.read() == b"body { color: black }"


def test_fetcher_serves_data_uris(static_tree: Path) -> None:
    response = StaticOnlyURLFetcher(static_tree)("data:text/plain;base64,SGFsbyBQSUhBSw==")
    assert response.read() == b"Halo PIHAK"


@pytest.mark.parametrize(
    "make_url",
    [
        lambda root: "http://127.0.0.1:9/x.png",
        lambda root: "https://example.org/agreement.css",
        lambda root: "ftp://example.org/agreement.css",
        lambda root: "gopher://example.org/",
        lambda root: "file:///etc/passwd",
        lambda root: f"{root.as_uri()}/../secret.txt",
        lambda root: f"{root.as_uri()}/%2e%2e/secret.txt",
        lambda root: f"{root.as_uri()}/pdf/..%2f..%2fsecret.txt",
        lambda root: f"{root.as_uri()}-other/a.css",
        lambda root: f"{root.as_uri()}/escape.css",
        lambda root: f"{root.as_uri()}/escape-dir/a.css",
        lambda root: f"{root.as_uri()}/pdf/",
        lambda root: f"{root.as_uri()}/pdf/missing.css",
        lambda root: f"{root.as_uri()}/pdf/agreement.css%00.png",
        lambda root: f"file://evil.example{root}/pdf/agreement.css",
        lambda root: "pdf/agreement.css",
    ],
    ids=[
        "http",
        "https",
        "ftp",
        "gopher",
        "file-outside",
        "dot-dot",
        "encoded-dot-dot",
        "encoded-slashes",
        "sibling-with-same-prefix",
        "symlinked-file",
        "symlinked-dir",
        "directory",
        "missing",
        "nul-byte",
        "remote-host-file",
        "relative",
    ],
)
def test_fetcher_refuses(static_tree: Path, make_url: Callable[[Path], str]) -> None:
    with pytest.raises(RefusedURLError):
        StaticOnlyURLFetcher(static_tree)(make_url(static_tree))


def test_weasyprint_treats_a_refusal_as_a_failed_fetch(static_tree: Path) -> None:
    # A plain URLFetchingError is logged and skipped; a fatal one would abort the document.
    with (
        pytest.raises(URLFetchingError),
        fetch(StaticOnlyURLFetcher(static_tree), "http://127.0.0.1:9/x.png"),
    ):
        pytest.fail("the fetch should have failed")
    assert not issubclass(RefusedURLError, FatalURLFetchingError)


def test_project_static_directory_is_the_fetch_root() -> None:
    assert static_root() == Path(settings.BASE_DIR) / "static"
    css = static_root() / "pdf" / "agreement.css"
    assert StaticOnlyURLFetcher(static_root())(css.as_uri()).content_type == "text/css"
    with pytest.raises(RefusedURLError):
        StaticOnlyURLFetcher(static_root())((Path(settings.BASE_DIR) / "manage.py").as_uri())


@pytest.mark.django_db
def test_filename_is_safe_ascii() -> None:
    agreement = factories.agreement(
        factories.institution(),
        factories.institution(),
        status=Agreement.Status.SIGNED,
        title='PKS "Rehabilitasi" / Narkotika\\Rutan: Lapas Pekalongan — Café 日本',
        signed_on=datetime.date(2025, 8, 4),
    )
    name = agreement_pdf_filename(agreement)
    assert name == "PKS-pks-rehabilitasi-narkotikarutan-lapas-pekalongan-cafe-2025-08-04.pdf"
    assert name.isascii()


@pytest.mark.django_db
def test_filename_of_a_draft_says_draft_even_with_a_planned_date() -> None:
    agreement = factories.agreement(title="PKS Uji", signed_on=datetime.date(2025, 8, 4))
    assert agreement_pdf_filename(agreement) == "PKS-pks-uji-draft.pdf"


@pytest.mark.django_db
def test_filename_of_a_title_without_latin_letters_or_too_long() -> None:
    assert agreement_pdf_filename(factories.agreement(title="日本 / ..")) == (
        "PKS-perjanjian-draft.pdf"
    )
    long_name = agreement_pdf_filename(factories.agreement(title=("Kerja Sama " * 40)[:255]))
    assert len(long_name) <= len("PKS--draft.pdf") + 80
    assert "--" not in long_name


@pytest.mark.django_db
@pytest.mark.parametrize("parties", [2, 4])
def test_rendering_costs_a_fixed_number_of_queries(
    parties: int, django_assert_num_queries: Callable
) -> None:
    agreement = make_agreement(parties=parties)
    agreement = Agreement.objects.get(pk=agreement.pk)  # nothing cached from building it
    with django_assert_num_queries(2):
        data = render_agreement_pdf(agreement)
    assert f"rangkap {'dua (2)' if parties == 2 else 'empat (4)'} asli" in pdf_text(data)


# --- The issued document as a file: one 4-party agreement rendered once for the module ---

ISSUED_AT = datetime.datetime(2025, 8, 4, 3, 30, tzinfo=datetime.UTC)  # 10.30 WIB
CODE = "Kode-Uji_0123456"


@pytest.fixture(scope="module")
def issued(django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    """A signed 4-party agreement with an addendum's worth of fields, rendered once as issued;
    the rows are rolled back and what the tests compare with is kept beside the bytes."""
    with django_db_blocker.unblock(), transaction.atomic():
        agreement = make_agreement(
            parties=4,
            effective_date=datetime.date(2025, 8, 4),
            end_date=datetime.date(2027, 8, 3),
            term_months=24,
        )
        agreement = Agreement.objects.get(pk=agreement.pk)
        issue = IssueInfo(verification_code=CODE, issued_at=ISSUED_AT)
        rendered = render_agreement_document(agreement, issue=issue, stamp_space=True)
        parties = list(
            agreement.parties.select_related("institution", "signatory").order_by("order")
        )
        expected = {
            "agreement": agreement,
            "parties": parties,
            "articles": list(agreement.articles.order_by("number")),
            "html": render_agreement_html(agreement, issue=issue),
        }
        transaction.set_rollback(True)
    yield {"data": rendered.data, "stamp_box": rendered.stamp_box, **expected}


def test_issued_pdf_text_has_every_number_party_article_and_the_date(
    issued: dict[str, Any],
) -> None:
    pages = page_texts(issued["data"])
    text = " ".join(pages)
    for party in issued["parties"]:
        assert f"NOMOR: {party.number}" in text
        assert party.institution.name in text
        assert f"selanjutnya disebut {party.label}." in text
        assert party.signatory.full_name in text
        assert f"NIP. {party.signatory.nip}" in text
    numbers = " ".join(f"NOMOR: {party.number}" for party in issued["parties"])
    assert f"TENTANG REHABILITASI SOSIAL BAGI TAHANAN DAN NARAPIDANA {numbers}" in text
    assert (
        "Pada hari ini Senin tanggal empat bulan Agustus tahun dua ribu dua puluh lima (04-08-2025)"
    ) in text
    for article in issued["articles"]:
        assert f"Pasal {article.number} {article.heading}" in text
    assert "PIHAK PERTAMA, PIHAK KEDUA, PIHAK KETIGA dan PIHAK KEEMPAT secara bersama-sama" in text
    assert "rangkap empat (4) asli" in text
    assert "DRAFT" not in text


def test_every_page_has_initial_boxes_and_its_number(issued: dict[str, Any]) -> None:
    pages = page_texts(issued["data"])
    labels = " ".join(party.label for party in issued["parties"])
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert page.endswith(f"Paraf {labels} Halaman {number} dari {len(pages)}")


def test_last_page_carries_the_verification_code_and_qr_code(issued: dict[str, Any]) -> None:
    pages = page_texts(issued["data"])
    url = verification_url(CODE)
    assert url == f"{settings.SITE_URL}/verify/{CODE}/"
    assert squashed(url) in squashed(pages[-1])
    assert f"Kode verifikasi: {CODE}" in pages[-1]
    assert "Diterbitkan 04-08-2025 10.30 WIB" in pages[-1]
    assert all(CODE not in page for page in pages[:-1])
    # The QR code is the segno code of exactly that address, as an inline SVG image.
    html = issued["html"]
    qr = segno.make(url, error="m")
    assert f'src="{qr.svg_data_uri(scale=1, border=2)}"' in html.replace("&#x27;", "'")
    assert qr_data_uri(url) == qr.svg_data_uri(scale=1, border=2)
    # Level M at least (segno raises it when the code has room to spare).
    assert qr.error in ("M", "Q", "H")


def test_stamp_space_is_kept_on_the_last_page_inside_the_paper(issued: dict[str, Any]) -> None:
    page, (x1, y1, x2, y2) = issued["stamp_box"]
    assert page == len(page_texts(issued["data"])) - 1
    # A4 is 595 × 842 points; the box is 7 × 2 cm inside the margins.
    assert 0 < x1 < x2 <= 595 and 0 < y1 < y2 <= 842
    assert round((x2 - x1) / 72 * 2.54, 1) == 7.0
    assert round((y2 - y1) / 72 * 2.54, 1) == 2.0


def test_pdf_a3_is_claimed_with_output_intent_structure_and_language(
    issued: dict[str, Any],
) -> None:
    agreement = issued["agreement"]
    with pikepdf.open(io.BytesIO(issued["data"])) as document:
        root = document.Root
        metadata = document.open_metadata()
        assert metadata["pdfaid:part"] == "3"
        assert metadata["pdfaid:conformance"] == "A"
        assert metadata["dc:title"] == f"Perjanjian Kerja Sama — {agreement.title}"
        assert metadata["dc:creator"] == [p.institution.name for p in issued["parties"]]
        assert "Rehabilitasi Sosial" in metadata["dc:description"]
        assert metadata["xmp:CreateDate"] == "2025-08-04T10:30:00+07:00"
        assert str(root.Lang) == "id"
        intents = root.OutputIntents
        assert len(intents) == 1
        assert intents[0].S == "/GTS_PDFA1"
        assert "/DestOutputProfile" in intents[0]
        assert root.StructTreeRoot.Type == "/StructTreeRoot"
        assert len(root.StructTreeRoot.K) == 1
        assert bool(root.MarkInfo.Marked)
        info = document.docinfo
        assert str(info.Title) == f"Perjanjian Kerja Sama — {agreement.title}"
        assert issued["parties"][0].institution.name in str(info.Author)
        assert str(info.Subject).startswith("Perjanjian Kerja Sama tentang Rehabilitasi")


def _fonts(resources: pikepdf.Dictionary, seen: set) -> Iterator[pikepdf.Dictionary]:
    """Every font used in `resources`, through form XObjects and annotation appearances."""
    if resources is None or (resources.objgen in seen and resources.objgen != (0, 0)):
        return
    seen.add(resources.objgen)
    yield from resources.get("/Font", {}).values()
    for xobject in resources.get("/XObject", {}).values():
        if xobject.get("/Subtype") == "/Form":
            yield from _fonts(xobject.get("/Resources"), seen)


def all_fonts(document: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    seen: set = set()
    fonts = []
    for page in document.pages:
        fonts.extend(_fonts(page.Resources, seen))
        for annotation in page.get("/Annots", []):
            appearance = annotation.get("/AP", {}).get("/N")
            if appearance is not None:
                fonts.extend(_fonts(appearance.get("/Resources"), seen))
    return fonts


def font_is_embedded(font: pikepdf.Dictionary) -> bool:
    descriptors = [font.get("/FontDescriptor")] + [
        descendant.get("/FontDescriptor") for descendant in font.get("/DescendantFonts", [])
    ]
    return any(
        descriptor is not None
        and any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))
        for descriptor in descriptors
    )


def test_every_font_is_embedded_and_subsetted(issued: dict[str, Any]) -> None:
    with pikepdf.open(io.BytesIO(issued["data"])) as document:
        fonts = all_fonts(document)
        assert fonts
        for font in fonts:
            assert font_is_embedded(font), font.get("/BaseFont")
            # Subsets are named 'ABCDEF+Name'; every font is the project's own serif.
            assert re.fullmatch(r"/[A-Z]{6}\+PKS-Serif(-Bold)?", str(font.BaseFont))


def test_pdffonts_reports_every_font_embedded(issued: dict[str, Any], tmp_path: Path) -> None:
    pdffonts = required_tool("pdffonts")
    path = tmp_path / "issued.pdf"
    path.write_bytes(issued["data"])
    output = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [pdffonts, str(path)], check=True, capture_output=True, text=True
    ).stdout
    rows = output.splitlines()[2:]
    assert rows
    for row in rows:
        emb, sub = row.split()[-5:-3]
        assert (emb, sub) == ("yes", "yes"), row


def test_qpdf_finds_the_file_clean(issued: dict[str, Any], tmp_path: Path) -> None:
    qpdf = required_tool("qpdf")
    path = tmp_path / "issued.pdf"
    path.write_bytes(issued["data"])
    result = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [qpdf, "--check", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def attached_data(data: bytes) -> tuple[dict[str, Any], pikepdf.Dictionary]:
    """The JSON attachment, parsed, and its file specification."""
    with pikepdf.open(io.BytesIO(data)) as document:
        assert list(document.attachments) == [DATA_ATTACHMENT_NAME]
        spec = document.attachments[DATA_ATTACHMENT_NAME]
        parsed = json.loads(spec.get_file().read_bytes())
        filespec = spec.obj
        # PDF/A-3: the file is associated with the document (catalogue /AF), once, as data.
        assert [item.objgen for item in document.Root.AF] == [filespec.objgen]
        return parsed, pikepdf.Dictionary(
            AFRelationship=filespec.AFRelationship,
            Subtype=filespec.EF.F.Subtype,
            ModDate=filespec.EF.F.Params.ModDate,
        )


def test_json_attachment_matches_the_database(issued: dict[str, Any]) -> None:
    data, filespec = attached_data(issued["data"])
    agreement = issued["agreement"]

    assert filespec.AFRelationship == "/Data"
    assert filespec.Subtype == "/application/json"
    assert str(filespec.ModDate) == "D:20250804033000Z"
    assert data["format"] == "pks-agreement" and data["format_version"] == 1
    assert data["id"] == agreement.pk
    assert data["url"] == f"{settings.SITE_URL}/pks/{agreement.pk}/"
    assert data["kind"] == "pks"
    assert data["title"] == agreement.title
    assert data["subject"] == agreement.subject
    assert data["status"] == "signed"
    assert data["signed_on"] == "2025-08-04"
    assert data["effective_date"] == "2025-08-04"
    assert data["end_date"] == "2027-08-03"
    assert data["term_months"] == 24
    assert data["signing_place"] == agreement.signing_place
    assert data["amends"] is None
    assert data["parties"] == [
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
            "signatory": {
                "name": party.signatory.full_name,
                "nip": party.signatory.nip,
                "position": party.signatory_position,
            },
        }
        for party in issued["parties"]
    ]
    assert data["articles"] == [
        {"number": a.number, "heading": a.heading, "body": a.body} for a in issued["articles"]
    ]
    assert data["considerations"] == [
        "PIHAK PERTAMA menyelenggarakan pelayanan tahanan",
        "bahwa PIHAK KEDUA berwenang di bidang P4GN;",
    ]
    assert data["legal_basis"] == [
        "Undang-Undang Nomor 35 Tahun 2009 tentang Narkotika",
        "Peraturan Menteri Hukum dan HAM Nomor 12 Tahun 2017",
    ]
    assert data["verification"] == {
        "code": CODE,
        "url": verification_url(CODE),
        "issued_at": "2025-08-04T03:30:00+00:00",
    }


@pytest.mark.django_db
def test_draft_has_data_but_no_verification_or_qr_code() -> None:
    agreement = make_agreement(status=Agreement.Status.READY)
    data = render_agreement_pdf(agreement)
    parsed, _ = attached_data(data)
    assert parsed["status"] == "ready"
    assert parsed["verification"] is None
    assert "verify" not in pdf_text(data)
    assert "data:image/svg+xml" not in render_agreement_html(agreement)


def test_signature_rows_are_balanced_for_two_to_seven_parties() -> None:
    def shape(count: int) -> list[tuple[int, str]]:
        blocks = list(range(count))
        return [(len(row.parties), row.width) for row in _signature_rows(blocks)]  # type: ignore[arg-type]

    assert shape(2) == [(2, "cols-2-of-2")]
    assert shape(3) == [(3, "cols-3-of-3")]
    assert shape(4) == [(2, "cols-2-of-2"), (2, "cols-2-of-2")]
    assert shape(5) == [(3, "cols-3-of-3"), (2, "cols-2-of-3")]
    assert shape(7) == [(3, "cols-3-of-3"), (3, "cols-3-of-3"), (1, "cols-1-of-3")]
    css = (static_root() / "pdf" / "agreement.css").read_text()
    for width in ("cols-2-of-2", "cols-3-of-3", "cols-2-of-3", "cols-1-of-2", "cols-1-of-3"):
        assert f"table.{width}" in css


def test_four_parties_sign_two_by_two(issued: dict[str, Any]) -> None:
    html = issued["html"]
    assert html.count('<table class="signatures cols-2-of-2">') == 2
    last_page = page_texts(issued["data"])[-1]
    places = [
        last_page.index(f"{party.label}, Kepala Unit {party.order}") for party in issued["parties"]
    ]
    assert places == sorted(places)


@pytest.mark.django_db
def test_addendum_refers_to_the_agreement_it_amends(
    django_assert_num_queries: Callable,
) -> None:
    parent = make_agreement(effective_date=datetime.date(2025, 8, 4))
    institutions = [party.institution for party in parent.parties.order_by("order")]
    factories.agreement(
        *[factories.institution(), factories.institution()],
        status=Agreement.Status.DRAFT,
        kind=Agreement.Kind.ADDENDUM,
        parent=parent,
        title="Adendum lain",
    )
    addendum = factories.agreement(
        *institutions,
        status=Agreement.Status.SIGNED,
        kind=Agreement.Kind.ADDENDUM,
        parent=parent,
        title="Adendum Jangka Waktu",
        subject="Perubahan Jangka Waktu",
        signed_on=datetime.date(2026, 2, 2),
    )
    addendum = Agreement.objects.get(pk=addendum.pk)
    parent_numbers = [party.number for party in parent.parties.order_by("order")]

    with django_assert_num_queries(5):
        data = render_agreement_pdf(addendum)
    text = pdf_text(data)

    assert (
        "ADENDUM KEDUA PERJANJIAN KERJA SAMA ANTARA RUMAH TAHANAN NEGARA KELAS IIB PEMALANG "
        "DENGAN BADAN NARKOTIKA NASIONAL KABUPATEN BATANG TENTANG "
        "REHABILITASI SOSIAL BAGI TAHANAN DAN NARAPIDANA"
    ) in text
    for party in addendum.parties.all():
        assert f"NOMOR: {party.number}" in text
    assert (
        "bahwa PARA PIHAK telah membuat dan menandatangani Perjanjian Kerja Sama "
        f"Nomor {parent_numbers[0]} dan Nomor {parent_numbers[1]} tanggal 4 Agustus 2025 "
        "tentang Rehabilitasi Sosial bagi Tahanan dan Narapidana "
        "(selanjutnya disebut Perjanjian Kerja Sama);"
    ) in text
    assert (
        "sepakat untuk mengadakan Adendum Kedua atas Perjanjian Kerja Sama mengenai "
        "Perubahan Jangka Waktu dengan ketentuan sebagai berikut:"
    ) in text
    assert "Demikian Adendum ini dibuat dalam rangkap dua (2) asli" in text
    parsed, _ = attached_data(data)
    assert parsed["kind"] == "addendum"
    assert parsed["amends"] == {
        "id": parent.pk,
        "title": parent.title,
        "subject": parent.subject,
        "signed_on": "2025-08-04",
        "numbers": parent_numbers,
    }


@pytest.mark.django_db
def test_memorandum_is_titled_nota_kesepahaman() -> None:
    agreement = make_agreement(kind=Agreement.Kind.MOU, status=Agreement.Status.DRAFT)
    text = pdf_text(render_agreement_pdf(agreement))
    assert "NOTA KESEPAHAMAN ANTARA RUMAH TAHANAN NEGARA" in text
    assert "sepakat untuk mengadakan Nota Kesepahaman tentang" in text
    assert "Demikian Nota Kesepahaman ini dibuat" in text


# --- The date in words, read back by an independent parser ---

_WORD_VALUES = {
    "nol": 0,
    "satu": 1,
    "dua": 2,
    "tiga": 3,
    "empat": 4,
    "lima": 5,
    "enam": 6,
    "tujuh": 7,
    "delapan": 8,
    "sembilan": 9,
    "sepuluh": 10,
    "sebelas": 11,
    "seratus": 100,
    "seribu": 1000,
}


def words_to_number(words: str) -> int:
    """Indonesian number words back to a number (up to the thousands), independently of
    agreements.terbilang: 'dua ribu dua puluh lima' → 2025."""
    total = current = 0
    for word in words.split():
        if word in _WORD_VALUES:
            value = _WORD_VALUES[word]
            if value == 1000:
                total += 1000
            else:
                current += value
        elif word == "belas":
            current += 10
        elif word == "puluh":
            current = (current % 10) * 10 + current - current % 10
        elif word == "ratus":
            current *= 100
        elif word == "ribu":
            total += current * 1000
            current = 0
        else:
            raise ValueError(f"not a number word: {word}")
    return total + current


_OPENING = re.compile(
    r"hari ini (?P<day>\w+) tanggal (?P<date>[a-z ]+) bulan (?P<month>\w+) "
    r"tahun (?P<year>[a-z ]+) \((?P<digits>\d\d-\d\d-\d{4})\)"
)


@given(st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2099, 12, 31)))
def test_opening_date_reads_back_to_the_same_day(day: datetime.date) -> None:
    match = _OPENING.fullmatch(date_in_words(day))
    assert match is not None
    assert match["day"] == DAYS[day.weekday()]
    assert words_to_number(match["date"]) == day.day
    assert MONTHS.index(match["month"]) + 1 == day.month
    assert words_to_number(match["year"]) == day.year
    assert match["digits"] == day.strftime("%d-%m-%Y")


def test_the_word_parser_is_right_on_hand_checked_values() -> None:
    assert words_to_number("dua ribu dua puluh lima") == 2025
    assert words_to_number("dua ribu sebelas") == 2011
    assert words_to_number("dua ribu sembilan puluh sembilan") == 2099
    assert words_to_number("tiga puluh satu") == 31
    assert words_to_number("sembilan belas") == 19
    assert words_to_number("dua ribu") == 2000


@pytest.mark.django_db
def test_issue_time_prints_in_wib() -> None:
    agreement = make_agreement()
    late = datetime.datetime(2025, 8, 4, 20, 5, tzinfo=datetime.UTC)  # 5 August, 03.05 WIB
    html = render_agreement_html(agreement, issue=IssueInfo("K", issued_at=late))
    assert "Diterbitkan 05-08-2025 03.05 WIB" in html
    assert timezone.get_current_timezone_name() == "Asia/Jakarta"


@pytest.mark.django_db
def test_benchmark_command_runs_and_leaves_nothing_behind(settings) -> None:
    agreements_before = Agreement.objects.count()
    out = io.StringIO()
    call_command("benchmark_pdf", "--runs", "1", stdout=out)
    report = out.getvalue()
    assert "seed (4 parties, standard articles): 10 articles" in report
    assert "20 articles, 4 parties: 20 articles" in report
    assert report.count("render overhead") == 2
    assert report.count("download/render") == 2
    assert Agreement.objects.count() == agreements_before
    assert not IssuedDocument.objects.exists()
    assert not (Path(settings.MEDIA_ROOT) / "private").exists()


# --- Rendering in a child process (PDF_RENDER_IN_CHILD) ---------------------------------------


def _resident_mb() -> float:
    with Path("/proc/self/statm").open(encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.fixture
def forks(settings, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rendering in a child process on, past the thread's first (warm) render; the pids of the
    children forked."""
    if not hasattr(os, "fork"):
        pytest.skip("No os.fork here: PDFs render in the process.")
    settings.PDF_RENDER_IN_CHILD = True
    monkeypatch.setattr(engine._warm, "done", True, raising=False)
    pids: list[int] = []
    real_fork = os.fork

    def counted_fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted_fork)
    return pids


@pytest.mark.django_db
def test_a_child_process_renders_the_same_document(forks: list[int], settings) -> None:
    agreement = make_agreement(parties=4)
    issue = IssueInfo(verification_code="CHILD0000000TEST", issued_at=timezone.now())
    in_child = render_agreement_document(agreement, issue=issue, stamp_space=True)
    assert len(forks) == 1
    settings.PDF_RENDER_IN_CHILD = False
    here = render_agreement_document(agreement, issue=issue, stamp_space=True)
    assert len(forks) == 1
    assert page_texts(in_child.data) == page_texts(here.data)
    assert in_child.stamp_box == here.stamp_box is not None
    reader = PdfReader(io.BytesIO(in_child.data))
    assert DATA_ATTACHMENT_NAME in reader.attachments


@pytest.mark.django_db
def test_the_first_render_of_a_thread_warms_it_in_the_process(forks, monkeypatch) -> None:
    monkeypatch.setattr(engine._warm, "done", False)
    agreement = make_agreement()
    render_agreement_pdf(agreement)
    assert forks == []
    render_agreement_pdf(agreement)
    assert len(forks) == 1


def test_an_error_in_the_child_is_raised_here(forks: list[int], monkeypatch) -> None:
    def broken(*args: object) -> None:
        raise ValueError("layout failed")

    monkeypatch.setattr(engine, "_render", broken)
    with pytest.raises(ValueError, match="layout failed"):
        html_to_pdf("<p>x</p>")
    assert len(forks) == 1


def test_a_child_that_dies_is_an_error(forks: list[int], monkeypatch) -> None:
    monkeypatch.setattr(engine, "_render", lambda *args: os._exit(3))
    with pytest.raises(RenderProcessError, match="without a result"):
        html_to_pdf("<p>x</p>")
    assert len(forks) == 1


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
@pytest.mark.django_db
def test_rendering_in_children_keeps_this_process_from_growing(forks: list[int]) -> None:
    """In this process WeasyPrint keeps about 0.3 MB of every document (`manage.py
    benchmark_pdf --memory 1000 --in-process`); rendered in children, none stays here."""
    agreement = make_agreement(parties=4)
    render_agreement_pdf(agreement)
    before = _resident_mb()
    for _ in range(15):
        render_agreement_pdf(agreement)
    assert len(forks) == 16
    assert _resident_mb() - before < 1.5


@pytest.mark.django_db
def test_the_fonts_are_fetched_once_per_thread(fetched: list[tuple[str, str]]) -> None:
    agreement = make_agreement()
    first_pdf = render_agreement_pdf(agreement)
    first = sorted(url for url, _ in fetched)
    fetched.clear()
    second = render_agreement_pdf(agreement)
    assert first == sorted(DOCUMENT_RESOURCES)
    # The kept font configuration has the fonts: only the stylesheet is read again, and the
    # document is the same.
    assert [url for url, _ in fetched] == [DOCUMENT_RESOURCES[0]]
    assert page_texts(second) == page_texts(first_pdf)
    assert len(second) == pytest.approx(len(first_pdf), rel=0.01)
