"""The agreement PDF: what it says, what it refuses to fetch, and what it costs in queries."""

from __future__ import annotations

import datetime
import io
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError, URLFetchingError, fetch

from agreements.models import Agreement, Article, Party
from agreements.pdf import (
    RefusedURLError,
    StaticOnlyURLFetcher,
    agreement_pdf_filename,
    html_to_pdf,
    render_agreement_html,
    render_agreement_pdf,
    static_root,
)
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
    agreement = factories.agreement(*_institutions(parties), status=status, articles=0, **fields)
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
    return agreement


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
    # The stylesheet came from the static directory, and nothing else was asked for.
    assert fetched == [((static_root() / "pdf" / "agreement.css").resolve().as_uri(), "served")]


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
    # Only the stylesheet was fetched: the markup never reached WeasyPrint as markup.
    assert [url for url, _ in fetched] == [
        (static_root() / "pdf" / "agreement.css").resolve().as_uri()
    ]


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
