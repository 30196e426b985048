"""The signed scan: only a complete, unencrypted PDF is stored, privately, and only the parties'
staff can download it."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject, NumberObject

from agreements.document import render_agreement_html
from agreements.document.engine import html_to_pdf
from agreements.models import Agreement, SignedScan
from agreements.services import documents
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role


# --- PDFs made in the tests: nothing is committed ----------------------------------------


def pdf_bytes(pages: int = 2, *, text: bool = False, password: str | None = None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        page = writer.add_blank_page(width=595, height=842)
        if text:
            content = DecodedStreamObject()
            content.set_data(b"BT /F1 12 Tf 72 720 Td (PERJANJIAN KERJA SAMA) Tj ET\n" * 40)
            page[NameObject("/Contents")] = writer._add_object(content.flate_encode())
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png_bytes() -> bytes:
    # A PNG signature and header chunk: enough for anything that judges by content.
    return (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02"
        b"\x00\x00\x00\x90wS\xde" + b"\x00" * 200
    )


def upload(data: bytes, name: str = "scan.pdf", content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def private_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "private"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# --- Actors ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted in English, whatever the Indonesian catalogue holds later.
    with translation.override("en"):
        yield


@pytest.fixture
def client(client, settings):
    # The site is Indonesian whatever the browser says; English is chosen with the cookie.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def world():
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    elsewhere = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    signed = factories.agreement(
        batang, pekalongan, status=Agreement.Status.SIGNED, title="PKS Rehabilitasi Sosial"
    )
    draft = factories.agreement(batang, pekalongan, title="PKS Rancangan")
    return {
        "batang": batang,
        "pekalongan": pekalongan,
        "elsewhere": elsewhere,
        "signed": signed,
        "draft": draft,
        "editor": factories.user("editor.batang", batang, (Role.EDITOR,), first_name="Indra"),
        "admin": factories.user("admin.pekalongan", pekalongan, (Role.ADMIN,)),
        "viewer": factories.user("viewer.batang", batang, (Role.VIEWER,)),
        "programme": factories.user("programme.pekalongan", pekalongan, (Role.PROGRAMME,)),
        "outsider": factories.user("editor.semarang", elsewhere, (Role.EDITOR, Role.ADMIN)),
    }


def upload_url(agreement: Agreement) -> str:
    return reverse("agreements:scan_upload", args=[agreement.pk])


def scans_url(agreement: Agreement) -> str:
    return reverse("agreements:scans", args=[agreement.pk])


def download_url(scan: SignedScan) -> str:
    return reverse("agreements:scan_download", args=[scan.pk])


def stored(world, data: bytes | None = None, name: str = "scan.pdf") -> SignedScan:
    return documents.scan_upload(
        agreement=world["signed"],
        user=world["editor"],
        upload=upload(pdf_bytes() if data is None else data, name),
    )


# --- The service -----------------------------------------------------------------------


def test_a_valid_pdf_is_stored_privately_with_its_fingerprint(world, settings):
    data = pdf_bytes(3, text=True)
    scan = stored(world, data, "PKS ditandatangani.pdf")
    scan.refresh_from_db()
    assert scan.agreement == world["signed"]
    assert scan.original_name == "PKS ditandatangani.pdf"
    assert scan.size == len(data)
    assert scan.sha256 == hashlib.sha256(data).hexdigest()
    assert scan.pages == 3
    assert scan.uploaded_by == world["editor"]
    files = private_files(settings)
    assert len(files) == 1
    assert files[0].read_bytes() == data
    assert files[0].name != "PKS ditandatangani.pdf"  # a random name, never the uploader's
    assert files[0].suffix == ".pdf"


def test_a_real_world_pdf_with_fonts_and_compressed_streams_is_accepted(world):
    # The agreement as the site itself renders it (WeasyPrint): a PDF like a printed scan's.
    # Without the JSON attachment the official document carries: an embedded file is active
    # content, refused in a scan (see test_scan_active_content).
    data = html_to_pdf(render_agreement_html(world["signed"]))
    scan = stored(world, data)
    assert scan.pages == len(PdfReader(io.BytesIO(data)).pages) >= 1
    assert scan.sha256 == hashlib.sha256(data).hexdigest()


def test_a_later_upload_keeps_the_history_and_becomes_current(world, settings):
    first = stored(world, pdf_bytes(1))
    second = stored(world, pdf_bytes(2))
    assert list(world["signed"].scans.all()) == [second, first]
    assert world["signed"].current_scan == second
    assert len(private_files(settings)) == 2


def test_a_file_just_under_the_limit_is_accepted(world, settings):
    settings.SIGNED_SCAN_MAX_MB = 1
    data = big_pdf(0.9)
    assert stored(world, data).size == len(data)


def test_a_terminated_agreement_takes_a_scan(world):
    terminated = factories.agreement(
        world["batang"], world["pekalongan"], status=Agreement.Status.TERMINATED
    )
    scan = documents.scan_upload(
        agreement=terminated, user=world["editor"], upload=upload(pdf_bytes())
    )
    assert scan.agreement == terminated


def truncated_pdf() -> bytes:
    data = pdf_bytes(2, text=True)
    return data[: len(data) - 120]


def truncated_pdf_last_bytes() -> bytes:
    # Only the end marker is cut short: pypdf, even strict, reads this without complaint.
    data = pdf_bytes(2, text=True)
    return data[:-5]


def truncated_pdf_with_end_marker() -> bytes:
    # Cut through the cross-reference table, then add the end marker back: the cheap checks
    # pass and only reading the document finds what is missing.
    data = pdf_bytes(2, text=True)
    return data[: data.rindex(b"\nxref") + 30] + b"\n%%EOF\n"


def damaged_page_content() -> bytes:
    # A complete file whose page content stream does not decompress: pypdf only logs that.
    data = bytearray(pdf_bytes(1, text=True))
    start = data.index(b"stream") + len(b"stream\n") + 10
    data[start : start + 12] = b"\x00" * 12
    return bytes(data)


REFUSALS = [
    pytest.param(png_bytes, "not a PDF document", id="png-renamed-pdf"),
    pytest.param(lambda: b"", "not a PDF document", id="empty"),
    pytest.param(lambda: b"Hello, %PDF-1.7 is later", "not a PDF document", id="text"),
    pytest.param(truncated_pdf, "could not be read completely", id="truncated"),
    pytest.param(truncated_pdf_last_bytes, "could not be read completely", id="truncated-tail"),
    pytest.param(
        truncated_pdf_with_end_marker, "could not be read completely", id="truncated-eof-kept"
    ),
    pytest.param(damaged_page_content, "could not be read completely", id="damaged-content"),
    pytest.param(lambda: pdf_bytes(password=""), "encrypted", id="encrypted-empty-password"),
    pytest.param(lambda: pdf_bytes(password="rahasia"), "encrypted", id="encrypted"),
    pytest.param(lambda: pdf_bytes(0), "no pages", id="no-pages"),
]


@pytest.mark.parametrize(("make", "message"), REFUSALS)
def test_the_service_refuses_what_is_not_a_sound_pdf(world, settings, make, message):
    with pytest.raises(ValidationError) as refused:
        stored(world, make())
    assert message in " ".join(refused.value.messages)
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_pypdf_alone_would_accept_a_file_cut_short():
    # Why the service checks the end marker itself: strict pypdf reads this truncated file.
    reader = PdfReader(io.BytesIO(truncated_pdf_last_bytes()), strict=True)
    assert len(reader.pages) == 2


def test_a_draft_is_refused(world, settings):
    with pytest.raises(ValidationError) as refused:
        documents.scan_upload(
            agreement=world["draft"], user=world["editor"], upload=upload(pdf_bytes())
        )
    assert refused.value.code == "not_signed"
    assert "only be uploaded for a signed agreement" in refused.value.messages[0]
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_the_declared_size_is_checked_before_reading(world, settings):
    settings.SIGNED_SCAN_MAX_MB = 1
    big = upload(pdf_bytes())
    big.size = 2 * 1024 * 1024

    def never_read(*args, **kwargs):
        raise AssertionError("an oversized upload must not be read")

    big.chunks = never_read
    with pytest.raises(ValidationError) as refused:
        documents.scan_upload(agreement=world["signed"], user=world["editor"], upload=big)
    assert refused.value.code == "too_large"
    assert "larger than 1 MB" in refused.value.messages[0]
    assert private_files(settings) == []


def test_the_read_is_guarded_when_the_declared_size_is_wrong(world, settings):
    settings.SIGNED_SCAN_MAX_MB = 1
    data = pdf_bytes() + b"%" + b"0" * (1024 * 1024)
    lying = upload(data)
    lying.size = 100
    with pytest.raises(ValidationError) as refused:
        documents.scan_upload(agreement=world["signed"], user=world["editor"], upload=lying)
    assert refused.value.code == "too_large"
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_a_database_error_after_the_file_was_written_leaves_no_file(world, settings, monkeypatch):
    def failing_save(self, *args, **kwargs):
        assert len(private_files(settings)) == 1  # the file was written before the row
        raise DatabaseError("disk full")

    monkeypatch.setattr(SignedScan, "save", failing_save)
    with pytest.raises(DatabaseError):
        stored(world)
    monkeypatch.undo()
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_a_viewer_cannot_upload_through_the_service(world, settings):
    with pytest.raises(PermissionDenied):
        documents.scan_upload(
            agreement=world["signed"], user=world["viewer"], upload=upload(pdf_bytes())
        )
    assert private_files(settings) == []


def test_the_uploaders_file_name_is_kept_for_display_only(world):
    scan = stored(world, name='..\\..\\C:\\tmp\\scan\x07 "asli".pdf')
    assert scan.original_name == 'scan "asli".pdf'
    assert "scan" not in Path(scan.file.name).name


# --- Bounded checks: no upload holds a worker past the server's timeout ------------------


def many_pages(pages: int, *, declared: int | None = None) -> bytes:
    """A PDF of `pages` pages sharing one content stream of 200 text lines: small in bytes,
    slow to check page by page (1,040 pages took 21 s unbounded). `declared` overrides the
    page tree's /Count, as a hostile file could."""
    writer = PdfWriter()
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 12 Tf 72 720 Td (PERJANJIAN KERJA SAMA) Tj ET\n" * 200)
    shared = writer._add_object(content.flate_encode())
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)[NameObject("/Contents")] = shared
    if declared is not None:
        writer._root_object["/Pages"][NameObject("/Count")] = NumberObject(declared)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_thousand_page_scan_is_refused_from_its_page_count_at_once(world, settings):
    data = many_pages(1200)
    assert len(data) < 300_000
    started = time.monotonic()
    with pytest.raises(ValidationError) as refused:
        stored(world, data)
    assert refused.value.code == "too_many_pages"
    # From the page count alone: unbounded, the pages took over 20 s to check on a busy machine;
    # the refusal costs the child's start (about half a second of CPU, pypdf's import).
    assert time.monotonic() - started < 15
    assert "more than 500 pages" in refused.value.messages[0]
    assert private_files(settings) == [] and not SignedScan.objects.exists()


def test_a_page_tree_that_understates_its_pages_is_still_refused(world, settings):
    settings.SIGNED_SCAN_MAX_PAGES = 50
    with pytest.raises(ValidationError) as refused:
        stored(world, many_pages(80, declared=1))
    assert refused.value.code == "too_many_pages"


def test_a_check_that_takes_too_long_is_stopped(world, settings):
    settings.SIGNED_SCAN_MAX_PAGES = 100_000
    settings.SCAN_CHECK_SECONDS = 2
    started = time.monotonic()
    with pytest.raises(ValidationError) as refused:
        stored(world, many_pages(1200))
    elapsed = time.monotonic() - started
    assert refused.value.code == "too_slow"
    assert 2 <= elapsed < 8
    assert private_files(settings) == [] and not SignedScan.objects.exists()


def test_the_upload_page_says_a_long_scan_is_too_long(client, world, settings):
    client.force_login(world["editor"])
    response = client.post(upload_url(world["signed"]), {"file": upload(many_pages(1040))})
    assert response.status_code == 200
    assert "more than 500 pages" in response.content.decode()
    assert not SignedScan.objects.exists()


# --- Upload view -------------------------------------------------------------------------


def test_upload_by_an_editor_redirects_and_stores_the_scan(client, world, settings):
    data = pdf_bytes(2)
    client.force_login(world["editor"])
    response = client.post(upload_url(world["signed"]), {"file": upload(data, "PKS.pdf")})
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("agreements:detail", args=[world["signed"].pk]) + "#documents"
    )
    scan = SignedScan.objects.get()
    assert (scan.agreement, scan.original_name, scan.pages) == (world["signed"], "PKS.pdf", 2)
    assert scan.sha256 == hashlib.sha256(data).hexdigest()
    assert scan.uploaded_by == world["editor"]
    assert [path.read_bytes() for path in private_files(settings)] == [data]
    page = client.get(response["Location"]).content.decode()
    assert "The signed scan “PKS.pdf” was uploaded (2 pages)." in page


def test_an_admin_of_the_other_party_may_upload(client, world):
    client.force_login(world["admin"])
    response = client.post(upload_url(world["signed"]), {"file": upload(pdf_bytes(1))})
    assert response.status_code == 302
    assert SignedScan.objects.get().uploaded_by == world["admin"]


@pytest.mark.parametrize(("make", "message"), REFUSALS)
def test_upload_of_a_bad_file_shows_the_reason_and_keeps_nothing(
    client, world, settings, make, message
):
    earlier = stored(world)
    client.force_login(world["editor"])
    data = make()
    response = client.post(
        upload_url(world["signed"]),
        # The name and declared type say PDF; only the content counts.
        {"file": SimpleUploadedFile("scan.pdf", data, "application/pdf")} if data else {},
    )
    assert response.status_code == 200
    page = response.content.decode()
    if data:
        assert message in page
    else:
        assert "This field is required" in page or "empty" in page
    assert 'class="error"' in page
    assert list(SignedScan.objects.all()) == [earlier]  # what was saved is untouched
    assert len(private_files(settings)) == 1
    assert earlier.original_name in page


def big_pdf(megabytes: float) -> bytes:
    """A sound one-page PDF of about `megabytes`, its content stream left uncompressed."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    content = DecodedStreamObject()
    line = b"0 0 m 595 842 l S\n"
    content.set_data(line * int(megabytes * 1024 * 1024 / len(line)))
    page[NameObject("/Contents")] = writer._add_object(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_upload_of_an_oversized_file_is_refused(client, world, settings):
    settings.SIGNED_SCAN_MAX_MB = 1
    data = big_pdf(1.1)
    assert len(data) > 1024 * 1024
    client.force_login(world["editor"])
    response = client.post(upload_url(world["signed"]), {"file": upload(data)})
    assert response.status_code == 200
    assert "The file is larger than 1 MB." in response.content.decode()
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_upload_for_a_draft_is_refused_with_a_message(client, world, settings):
    client.force_login(world["editor"])
    response = client.post(upload_url(world["draft"]), {"file": upload(pdf_bytes())})
    assert response.status_code == 200
    page = response.content.decode()
    assert "can only be uploaded for a signed agreement" in page
    assert "“Draft”" in page
    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_upload_without_a_file_is_a_form_error(client, world, settings):
    client.force_login(world["editor"])
    response = client.post(upload_url(world["signed"]), {})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not SignedScan.objects.exists()


def test_upload_access_rules(client, world, settings):
    url = upload_url(world["signed"])

    response = client.post(url, {"file": upload(pdf_bytes())})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")

    client.force_login(world["outsider"])
    assert client.post(url, {"file": upload(pdf_bytes())}).status_code == 404

    for role in ("viewer", "programme"):
        client.force_login(world[role])
        assert client.post(url, {"file": upload(pdf_bytes())}).status_code == 403

    client.force_login(factories.user())  # no institution at all
    assert client.post(url, {"file": upload(pdf_bytes())}).status_code == 403

    client.force_login(world["editor"])
    assert client.get(url).status_code == 405
    assert client.put(url).status_code == 405
    assert client.post(upload_url(Agreement(pk=999_999)), {}).status_code == 404

    assert not SignedScan.objects.exists()
    assert private_files(settings) == []


def test_a_superuser_may_upload(client, world):
    client.force_login(factories.user(is_superuser=True))
    assert (
        client.post(upload_url(world["signed"]), {"file": upload(pdf_bytes())}).status_code == 302
    )
    assert SignedScan.objects.count() == 1


# --- Download view -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "admin", "viewer", "programme"])
def test_party_staff_download_the_exact_bytes(client, world, role):
    data = pdf_bytes(2, text=True)
    scan = stored(world, data, "Scan Ketua “asli”.pdf")
    client.force_login(world[role])
    response = client.get(download_url(scan))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Length"] == str(len(data))
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"
    disposition = response["Content-Disposition"]
    expected = f"PKS-pks-rehabilitasi-sosial-2025-08-04-scan-{scan.pk}.pdf"
    assert disposition == f'attachment; filename="{expected}"'
    assert disposition.isascii()
    assert "Ketua" not in disposition


def test_an_earlier_scan_can_still_be_downloaded(client, world):
    first_data = pdf_bytes(1)
    first = stored(world, first_data)
    stored(world, pdf_bytes(3))
    client.force_login(world["viewer"])
    assert b"".join(client.get(download_url(first)).streaming_content) == first_data


def test_download_access_rules(client, world):
    scan = stored(world)
    url = download_url(scan)

    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")

    client.force_login(world["outsider"])
    response = client.get(url)
    assert response.status_code == 404
    assert "PKS Rehabilitasi Sosial" not in response.content.decode()

    client.force_login(world["editor"])
    assert client.post(url).status_code == 405
    assert client.get(reverse("agreements:scan_download", args=[999_999])).status_code == 404

    client.force_login(factories.user(is_superuser=True))
    assert client.get(url).status_code == 200


def test_a_public_agreement_does_not_make_its_scan_public(client, world):
    # The agreement is signed, so its page is public; its scan is still for the parties only.
    scan = stored(world)
    client.force_login(world["outsider"])
    assert client.get(reverse("public:agreement", args=[world["signed"].pk])).status_code == 200
    assert client.get(download_url(scan)).status_code == 404


def test_a_missing_file_is_404_not_500(client, world, settings):
    scan = stored(world)
    private_files(settings)[0].unlink()
    client.force_login(world["editor"])
    assert client.get(download_url(scan)).status_code == 404


def test_the_private_storage_has_no_url(world):
    scan = stored(world)
    with pytest.raises(NotImplementedError):
        scan.file.url  # noqa: B018


# --- Scans page and section partial --------------------------------------------------------


def test_the_section_shows_the_current_and_earlier_scans(client, world):
    first = stored(world, pdf_bytes(1), "pertama.pdf")
    data = pdf_bytes(3)
    current = stored(world, data, "kedua.pdf")
    client.force_login(world["editor"])
    response = client.get(scans_url(world["signed"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "kedua.pdf" in page and "pertama.pdf" in page
    assert hashlib.sha256(data).hexdigest() in page  # in full
    assert first.sha256 in page
    assert "Earlier scans" in page
    assert download_url(current) in page and download_url(first) in page
    assert "by Indra" in page
    wib = current.uploaded_at.astimezone(ZoneInfo("Asia/Jakarta"))
    assert wib.strftime("%H.%M WIB") in page
    assert 'enctype="multipart/form-data"' in page
    assert upload_url(world["signed"]) in page


def test_a_viewer_sees_the_scan_but_no_upload_form(client, world):
    scan = stored(world)
    client.force_login(world["viewer"])
    page = client.get(scans_url(world["signed"])).content.decode()
    assert scan.sha256 in page
    assert upload_url(world["signed"]) not in page


def test_an_editor_of_a_draft_is_told_to_sign_first(client, world):
    client.force_login(world["editor"])
    page = client.get(scans_url(world["draft"])).content.decode()
    assert "No signed scan has been uploaded yet." in page
    assert "once the agreement has been signed" in page
    assert upload_url(world["draft"]) not in page


def test_scans_page_access_rules(client, world):
    url = scans_url(world["signed"])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    client.force_login(world["outsider"])
    assert client.get(url).status_code == 404
    client.force_login(world["viewer"])
    assert client.post(url).status_code == 405


def test_the_partial_renders_on_its_own_with_agreement_and_may_edit(world, rf):
    scan = stored(world)
    request = rf.get("/")
    request.user = world["editor"]
    html = render_to_string(
        "agreements/documents/_section.html",
        {"agreement": world["signed"], "may_edit": True},
        request=request,
    )
    assert scan.sha256 in html
    assert 'name="file"' in html and "csrfmiddlewaretoken" in html
    html = render_to_string(
        "agreements/documents/_section.html", {"agreement": world["signed"], "may_edit": False}
    )
    assert scan.sha256 in html and 'name="file"' not in html


def test_scans_page_query_count_does_not_grow_with_scans(client, world, django_assert_num_queries):
    stored(world)
    client.force_login(world["editor"])
    url = scans_url(world["signed"])
    with django_assert_num_queries(9) as small:
        client.get(url)
    for _ in range(6):
        stored(world, pdf_bytes(1))
    with django_assert_num_queries(9) as large:
        response = client.get(url)
    assert response.content.decode().count("/download/") == 7
    assert len(small.captured_queries) == len(large.captured_queries)


def test_the_agreement_page_shows_the_section(client, world):
    scan = stored(world)
    client.force_login(world["admin"])
    page = client.get(reverse("agreements:detail", args=[world["signed"].pk])).content.decode()
    assert 'id="documents"' in page
    assert scan.sha256 in page
    assert download_url(scan) in page
    assert upload_url(world["signed"]) in page
