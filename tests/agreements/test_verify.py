"""The public side of issued documents: the PDF download (the same bytes every time, ETag and
304), the verification page its QR code leads to, and the public download of the signed scan."""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader, PdfWriter

from agreements.document.content import verification_url
from agreements.models import VERIFICATION_ALPHABET, Agreement, IssuedDocument, _verification_code
from agreements.services import documents, issuing
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Agreement.Status


@pytest.fixture
def client(client, settings):
    # Pages are asserted in English, whatever the Indonesian catalogue holds later.
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    signed = factories.agreement(
        rutan,
        bnnk,
        status=Status.SIGNED,
        title="PKS Rehabilitasi Sosial",
        signing_place="Rutan Pekalongan",
        effective_date=datetime.date(2025, 8, 4),
        end_date=datetime.date(2027, 8, 3),
    )
    draft = factories.agreement(rutan, bnnk, title="PKS Rancangan Rahasia")
    programme = factories.programme(signed, rutan, bnnk, name="Program Rehabilitasi Sosial")
    inmate = factories.participant(rutan, full_name="Budi Santoso Rahasia")
    factories.enrolment(inmate, programme)
    return {
        "rutan": rutan,
        "bnnk": bnnk,
        "signed": signed,
        "draft": draft,
        "inmate": inmate,
        "editor": factories.user("editor", institution=rutan),
        "viewer": factories.user("viewer", institution=rutan, roles=(Role.VIEWER,)),
        "outsider": factories.user("outsider", institution=factories.institution()),
    }


def pdf_url(agreement: Agreement) -> str:
    return reverse("public:agreement_pdf", args=[agreement.pk])


def verify_url(code: str) -> str:
    return reverse("public:verify", args=[code])


def scan_url(agreement: Agreement) -> str:
    return reverse("public:agreement_scan", args=[agreement.pk])


def issued_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "private" / "issued"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


# --- The PDF download ------------------------------------------------------------------


def test_signed_pdf_is_issued_once_and_served_byte_for_byte(client, world, settings):
    first = client.get(pdf_url(world["signed"]))
    second = client.get(pdf_url(world["signed"]))

    document = IssuedDocument.objects.get(agreement=world["signed"])
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    digest = hashlib.sha256(first.content).hexdigest()
    assert digest == document.sha256
    assert first["ETag"] == second["ETag"] == f'"{digest}"'
    assert first["Cache-Control"] == "public, max-age=86400"
    assert first["Content-Type"] == "application/pdf"
    assert first["Content-Length"] == str(document.size) == str(len(first.content))
    assert first["X-Content-Type-Options"] == "nosniff"
    assert first["Content-Disposition"] == (
        'inline; filename="PKS-pks-rehabilitasi-sosial-2025-08-04.pdf"'
    )
    assert IssuedDocument.objects.count() == 1
    assert len(issued_files(settings)) == 1


def test_a_repeated_download_with_the_etag_gets_304(client, world):
    etag = client.get(pdf_url(world["signed"]))["ETag"]

    response = client.get(pdf_url(world["signed"]), HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert response["Cache-Control"] == "public, max-age=86400"
    stale = client.get(pdf_url(world["signed"]), HTTP_IF_NONE_MATCH='"0000"')
    assert stale.status_code == 200
    assert stale.content.startswith(b"%PDF-")


def test_stored_bytes_are_served_even_after_the_agreement_data_changed(client, world):
    before = client.get(pdf_url(world["signed"])).content
    # A signed agreement cannot be edited through the services; the admin could still do it.
    Agreement.objects.filter(pk=world["signed"].pk).update(subject="Subjek yang diubah")
    world["rutan"].name = "Nama Baru"
    world["rutan"].save()
    assert client.get(pdf_url(world["signed"])).content == before


def test_downloading_an_issued_pdf_costs_a_fixed_number_of_queries(
    client, world, django_assert_num_queries: Callable
):
    client.get(pdf_url(world["signed"]))  # issue it
    with django_assert_num_queries(1):
        response = client.get(pdf_url(world["signed"]))
    assert response.status_code == 200
    with django_assert_num_queries(1):
        assert (
            client.get(pdf_url(world["signed"]), HTTP_IF_NONE_MATCH=response["ETag"]).status_code
            == 304
        )


def test_draft_pdf_is_rendered_live_for_party_staff_and_never_cached(client, world):
    client.force_login(world["viewer"])
    response = client.get(pdf_url(world["draft"]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert "ETag" not in response
    assert "DRAFT" in PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert not IssuedDocument.objects.exists()


def test_draft_pdf_is_404_for_the_public_and_for_outsiders(client, world):
    assert client.get(pdf_url(world["draft"])).status_code == 404
    client.force_login(world["outsider"])
    assert client.get(pdf_url(world["draft"])).status_code == 404
    assert client.get(pdf_url(world["signed"])).status_code == 200
    assert not IssuedDocument.objects.filter(agreement=world["draft"]).exists()


def test_pdf_refuses_other_methods(client, world):
    assert client.post(pdf_url(world["signed"])).status_code == 405
    assert client.put(pdf_url(world["signed"])).status_code == 405
    assert not IssuedDocument.objects.exists()


def test_a_missing_issued_file_is_404_and_logged(client, world, caplog):
    document = issuing.issue_document(agreement=world["signed"])
    Path(document.file.path).unlink()
    with caplog.at_level(logging.ERROR):
        response = client.get(pdf_url(world["signed"]))
    assert response.status_code == 404
    assert "is missing" in caplog.text
    # Not silently issued anew: the verification page keeps the hash of what was issued.
    assert IssuedDocument.objects.get().sha256 == document.sha256


# --- The verification page -------------------------------------------------------------


def test_verification_page_shows_the_agreement_status_and_hash(client, world):
    download = client.get(pdf_url(world["signed"]))
    document = IssuedDocument.objects.get()
    code = document.verification_code
    # The address printed under the QR code of the PDF is this page's.
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(download.content)).pages)
    assert "".join(verification_url(code).split()) in "".join(text.split())

    response = client.get(verify_url(code))

    page = response.content.decode()
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex"
    assert hashlib.sha256(download.content).hexdigest() in page
    assert "PKS Rehabilitasi Sosial" in page
    assert 'class="status status-active"' in page
    for party in world["signed"].parties.select_related("institution"):
        assert party.institution.name in page
        assert party.number in page
        assert party.label in page
    assert timezone.localtime(document.issued_at).strftime("%H.%M") in page
    assert code in page
    assert reverse("public:agreement", args=[world["signed"].pk]) in page
    assert pdf_url(world["signed"]) in page
    assert "Budi Santoso Rahasia" not in page
    assert "Program Rehabilitasi Sosial" not in page


def test_verification_page_shows_the_status_of_today(client, world):
    document = issuing.issue_document(agreement=world["signed"])
    Agreement.objects.filter(pk=world["signed"].pk).update(
        status=Status.TERMINATED, terminated_on=datetime.date(2025, 12, 1)
    )
    page = client.get(verify_url(document.verification_code)).content.decode()
    assert 'class="status status-terminated"' in page
    assert "Terminated on" in page


@pytest.mark.parametrize("code", ["unknown-code-0000", "x" * 200, "%3Cscript%3E", "A" * 16])
def test_an_unknown_code_gets_a_clear_not_found_page(client, world, code):
    issuing.issue_document(agreement=world["signed"])
    response = client.get(f"/verify/{code}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "Document not found" in page
    assert "No document issued by this registry has the verification code" in page
    assert "<script>" not in page
    assert "PKS Rehabilitasi Sosial" not in page


def test_verification_page_refuses_post(client, world):
    document = issuing.issue_document(agreement=world["signed"])
    assert client.post(verify_url(document.verification_code)).status_code == 405


def test_verification_page_costs_the_same_queries_for_two_or_four_parties(
    client, world, django_assert_num_queries: Callable
):
    two = issuing.issue_document(agreement=world["signed"])
    four = factories.agreement(
        world["rutan"],
        world["bnnk"],
        factories.institution(),
        factories.institution(),
        status=Status.SIGNED,
    )
    four_document = issuing.issue_document(agreement=four)
    with django_assert_num_queries(2):
        assert client.get(verify_url(two.verification_code)).status_code == 200
    with django_assert_num_queries(2):
        assert client.get(verify_url(four_document.verification_code)).status_code == 200


# --- The public page and the signed scan -----------------------------------------------


def scan_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def upload_scan(world, data: bytes | None = None):
    return documents.scan_upload(
        agreement=world["signed"],
        user=world["editor"],
        upload=SimpleUploadedFile("../../etc/ttd basah.pdf", data or scan_pdf()),
    )


def test_public_page_links_the_issued_pdf_its_verification_and_the_scan(client, world):
    document = issuing.issue_document(agreement=world["signed"])
    scan = upload_scan(world)

    page = client.get(reverse("public:agreement", args=[world["signed"].pk])).content.decode()

    assert verify_url(document.verification_code) in page
    assert document.sha256 in page
    assert scan_url(world["signed"]) in page
    assert "1 page" in page
    assert scan.original_name not in page


def test_public_page_of_a_draft_shows_no_documents_section(client, world):
    client.force_login(world["editor"])
    page = client.get(reverse("public:agreement", args=[world["draft"].pk])).content.decode()
    assert scan_url(world["draft"]) not in page
    assert "/verify/" not in page


def test_anyone_downloads_the_current_scan_of_a_signed_agreement(client, world):
    upload_scan(world, scan_pdf())
    newer_data = scan_pdf().replace(b"%%EOF", b"%%EOF\n")
    newer = upload_scan(world, newer_data)

    response = client.get(scan_url(world["signed"]))

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == newer_data
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="PKS-pks-rehabilitasi-sosial-2025-08-04-scan-{newer.pk}.pdf"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["ETag"] == f'"{newer.sha256}"'
    assert response["Cache-Control"] == "public, max-age=3600"
    again = client.get(scan_url(world["signed"]), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


def test_scan_route_is_404_for_drafts_and_when_there_is_no_scan(client, world):
    assert client.get(scan_url(world["signed"])).status_code == 404
    client.force_login(world["editor"])
    assert client.get(scan_url(world["draft"])).status_code == 404


def test_scan_route_refuses_post(client, world):
    upload_scan(world)
    assert client.post(scan_url(world["signed"])).status_code == 405


def test_a_missing_scan_file_is_404(client, world):
    scan = upload_scan(world)
    Path(scan.file.path).unlink()
    assert client.get(scan_url(world["signed"])).status_code == 404


# --- Verification codes: no look-alikes, any case ----------------------------------------


def test_new_codes_use_an_alphabet_without_look_alikes():
    assert not {"O", "I", "L", "l", "U"} & set(VERIFICATION_ALPHABET)
    codes = {_verification_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert len(code) == 16
        assert set(code) <= set(VERIFICATION_ALPHABET)
        assert code == code.upper()


def test_an_issued_code_is_found_however_it_is_typed(client, world):
    document = issuing.issue_document(agreement=world["signed"])
    IssuedDocument.objects.filter(pk=document.pk).update(verification_code="0A1B2C3D4E5F6G7H")
    for typed in (
        "0A1B2C3D4E5F6G7H",
        "0a1b2c3d4e5f6g7h",
        "OA1B2C3D4E5F6G7H",  # O for 0
        "oaIb2c3d4e5f6g7h",  # o for 0, I for 1
        "0AlB2C3D4E5F6G7H",  # l for 1
        "0A1B-2C3D-4E5F-6G7H",  # in groups
    ):
        response = client.get(verify_url(typed))
        assert response.status_code == 200, typed
        assert "PKS Rehabilitasi Sosial" in response.content.decode()


def test_a_code_issued_before_the_new_alphabet_still_verifies_exactly(client, world):
    document = issuing.issue_document(agreement=world["signed"])
    old = "aB3_x-Yz0OlI9kQw"  # secrets.token_urlsafe(12), as codes were made before
    IssuedDocument.objects.filter(pk=document.pk).update(verification_code=old)
    response = client.get(verify_url(old))
    assert response.status_code == 200
    assert "PKS Rehabilitasi Sosial" in response.content.decode()
    # Old codes were case-sensitive: another case is another code, and finds nothing.
    assert client.get(verify_url(old.swapcase())).status_code == 404


def test_the_issued_pdf_prints_a_code_of_the_new_alphabet(client, world):
    download = client.get(pdf_url(world["signed"]))
    code = IssuedDocument.objects.get().verification_code
    assert set(code) <= set(VERIFICATION_ALPHABET)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(download.content)).pages)
    assert code in "".join(text.split())
    assert client.get(verify_url(code.lower())).status_code == 200
