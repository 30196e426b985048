"""Issuing the official PDF: once per signed agreement, at signing (after the commit) or at
the first download, stored privately with its SHA-256, and never leaving an orphan file."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
from pathlib import Path

import pikepdf
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from pypdf import PdfReader

from agreements import caching
from agreements import document as official_document
from agreements.document import signing
from agreements.document.data import DATA_ATTACHMENT_NAME
from agreements.models import Agreement, IssuedDocument
from agreements.services import issuing, lifecycle
from institutions.models import Institution
from tests import factories

pytestmark = pytest.mark.django_db

Status = Agreement.Status
SIGNING_DAY = datetime.date(2025, 8, 4)


def issued_files() -> list[Path]:
    """Every file under the private 'issued' folder of the test's media root."""
    root = Path(settings.MEDIA_ROOT) / "private" / "issued"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def text_of(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text().split()) for page in pages)


@pytest.fixture
def rutan() -> Institution:
    return factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")


@pytest.fixture
def bnnk() -> Institution:
    return factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )


@pytest.fixture
def editor(rutan):
    return factories.user("editor", institution=rutan)


def make_ready(editor, rutan, bnnk, *, title: str = "PKS Rehabilitasi", complete: bool = True):
    """An agreement made and moved to ready through the services, numbered and with
    signatories unless `complete` is False."""
    agreement = lifecycle.agreement_create(
        user=editor,
        title=title,
        subject="Rehabilitasi Sosial bagi Tahanan dan Narapidana",
        institutions=[rutan, bnnk],
        term_months=24,
    )
    tag = agreement.pk
    lifecycle.parties_replace(
        agreement=agreement,
        user=editor,
        parties=[
            {
                "institution": rutan,
                "number": f"W13.PAS-{tag}/2025",
                "signatory": factories.person("Kepala Rutan", nip=f"19700101{tag % 10**10:010d}"),
                "signatory_position": "Kepala Rumah Tahanan Negara Kelas IIA Pekalongan",
            },
            {
                "institution": bnnk,
                "number": f"PKS/{tag}/VIII/2025" if complete else "",
                "signatory": factories.person("Kepala BNNK"),
                "signatory_position": "Kepala BNNK Batang",
            },
        ],
    )
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.DISCUSSION)
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status=Status.READY)
    return Agreement.objects.get(pk=agreement.pk)


def sign(editor, *agreements):
    return lifecycle.signing_event_record(
        user=editor,
        date=SIGNING_DAY,
        venue="Rutan Pekalongan",
        host=agreements[0].parties.first().institution,
        agreements=list(agreements),
    )


def test_signing_issues_the_document_once_the_signing_commits(
    editor, rutan, bnnk, django_capture_on_commit_callbacks
):
    agreement = make_ready(editor, rutan, bnnk)

    with django_capture_on_commit_callbacks() as callbacks:
        sign(editor, agreement)
        # Inside the signing's transaction nothing is rendered or stored yet.
        assert not IssuedDocument.objects.exists()
        assert issued_files() == []
    # Besides the issuing, only the cached registry and feeds are renewed at commit.
    callbacks = [c for c in callbacks if getattr(c, "func", None) is not caching.bump]
    assert len(callbacks) == 1
    callbacks[0]()

    document = IssuedDocument.objects.get(agreement=agreement)
    data = issuing.read_issued(document)
    assert issued_files() == [Path(document.file.path)]
    assert document.file.name.startswith(f"issued/{agreement.pk}/")
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.size == len(data)
    assert document.digitally_signed is False
    assert len(document.verification_code) == 16
    text = text_of(data)
    assert "DRAFT" not in text
    assert "Pada hari ini Senin tanggal empat bulan Agustus tahun dua ribu dua puluh lima" in text
    assert f"Kode verifikasi: {document.verification_code}" in text
    with pikepdf.open(io.BytesIO(data)) as opened:
        attached = json.loads(opened.attachments[DATA_ATTACHMENT_NAME].get_file().read_bytes())
    assert attached["status"] == "signed"
    assert attached["signed_on"] == "2025-08-04"
    assert attached["verification"]["code"] == document.verification_code
    assert attached["verification"]["issued_at"] == document.issued_at.isoformat()
    assert [party["number"] for party in attached["parties"]] == list(
        agreement.parties.order_by("order").values_list("number", flat=True)
    )


def test_one_signing_event_issues_every_agreement_it_signs(
    editor, rutan, bnnk, django_capture_on_commit_callbacks
):
    lapas = factories.institution("Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas")
    first = make_ready(editor, rutan, bnnk, title="PKS Satu")
    second = make_ready(editor, rutan, lapas, title="PKS Dua")

    with django_capture_on_commit_callbacks(execute=True):
        sign(editor, first, second)

    documents = IssuedDocument.objects.order_by("agreement_id")
    assert [document.agreement_id for document in documents] == [first.pk, second.pk]
    assert len({document.verification_code for document in documents}) == 2
    assert len(issued_files()) == 2


def test_a_signing_that_rolls_back_issues_nothing_and_leaves_no_file(
    editor, rutan, bnnk, django_capture_on_commit_callbacks
):
    lapas = factories.institution("Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas")
    good = make_ready(editor, rutan, bnnk, title="PKS Lengkap")
    incomplete = make_ready(editor, rutan, lapas, title="PKS Tanpa Nomor", complete=False)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ValidationError) as refused,
    ):
        sign(editor, good, incomplete)

    assert "PKS Tanpa Nomor" in " ".join(refused.value.messages)
    # The good agreement was signed inside the transaction, then rolled back with the rest:
    # its issuing, registered for after the commit, was dropped.
    assert callbacks == []
    assert Agreement.objects.get(pk=good.pk).status == Status.READY
    assert not IssuedDocument.objects.exists()
    assert issued_files() == []


def test_a_failure_after_the_signing_is_logged_and_the_first_download_issues(
    editor, rutan, bnnk, client, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    agreement = make_ready(editor, rutan, bnnk)

    def broken(agreement, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(official_document, "render_agreement_document", broken)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        sign(editor, agreement)

    assert Agreement.objects.get(pk=agreement.pk).status == Status.SIGNED
    assert not IssuedDocument.objects.exists()
    assert issued_files() == []
    assert "it will be issued at its first download" in caplog.text

    monkeypatch.undo()
    response = client.get(f"/pks/{agreement.pk}/pdf/")
    assert response.status_code == 200
    document = IssuedDocument.objects.get(agreement=agreement)
    assert hashlib.sha256(response.content).hexdigest() == document.sha256


def test_issuing_again_returns_the_same_document_without_rendering(
    editor, rutan, bnnk, django_capture_on_commit_callbacks, monkeypatch
):
    agreement = make_ready(editor, rutan, bnnk)
    with django_capture_on_commit_callbacks(execute=True):
        sign(editor, agreement)
    first = IssuedDocument.objects.get(agreement=agreement)

    def must_not_render(*args, **kwargs):
        raise AssertionError("an issued document is never rendered again")

    monkeypatch.setattr(official_document, "render_agreement_document", must_not_render)
    again = issuing.issue_document(agreement=agreement)

    assert again == first
    assert again.sha256 == first.sha256
    assert IssuedDocument.objects.count() == 1
    assert len(issued_files()) == 1


@pytest.mark.parametrize("status", [Status.DRAFT, Status.DISCUSSION, Status.READY])
def test_an_unsigned_agreement_is_refused_and_nothing_is_stored(rutan, bnnk, status):
    agreement = factories.agreement(rutan, bnnk, status=status)
    with pytest.raises(ValidationError) as refused:
        issuing.issue_document(agreement=agreement)
    assert refused.value.code == "not_signed"
    assert not IssuedDocument.objects.exists()
    assert issued_files() == []


def test_a_terminated_agreement_can_still_be_issued(rutan, bnnk):
    agreement = factories.agreement(rutan, bnnk, status=Status.TERMINATED)
    document = issuing.issue_document(agreement=agreement)
    assert document.agreement == agreement
    assert "DRAFT" not in text_of(issuing.read_issued(document))


def test_a_concurrent_issue_wins_and_the_loser_leaves_no_file(rutan, bnnk, monkeypatch):
    """Two first downloads at once: both render, one row is accepted, the other request deletes
    its file and serves the winner's document."""
    agreement = factories.agreement(rutan, bnnk, status=Status.SIGNED)
    original = official_document.render_agreement_document
    winners: list[IssuedDocument] = []

    def render_while_another_request_issues(agreement, **kwargs):
        if not winners:
            # The other request, started meanwhile, renders and stores first.
            monkeypatch.setattr(official_document, "render_agreement_document", original)
            winners.append(issuing.issue_document(agreement=agreement))
        return original(agreement, **kwargs)

    monkeypatch.setattr(
        official_document, "render_agreement_document", render_while_another_request_issues
    )
    result = issuing.issue_document(agreement=agreement)

    assert result == winners[0]
    assert IssuedDocument.objects.count() == 1
    assert issued_files() == [Path(winners[0].file.path)]


def test_a_refused_insert_deletes_the_file_it_wrote(rutan, bnnk, monkeypatch):
    agreement = factories.agreement(rutan, bnnk, status=Status.SIGNED)

    def refuse(self, *args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(IssuedDocument, "save", refuse)
    with pytest.raises(RuntimeError):
        issuing.issue_document(agreement=agreement)

    assert issued_files() == []
    assert not IssuedDocument.objects.exists()


def test_issued_document_for_uses_the_select_related_row(rutan, bnnk, django_assert_num_queries):
    agreement = factories.agreement(rutan, bnnk, status=Status.SIGNED)
    issuing.issue_document(agreement=agreement)
    loaded = Agreement.objects.select_related("issued_document").get(pk=agreement.pk)
    with django_assert_num_queries(0):
        assert issuing.issued_document_for(loaded).agreement_id == agreement.pk


def test_without_signing_configuration_documents_are_issued_unsigned(rutan, bnnk, settings):
    settings.PDF_SIGNING_PKCS12 = ""
    assert signing.signing_credentials() is None
    agreement = factories.agreement(rutan, bnnk, status=Status.SIGNED)
    document = issuing.issue_document(agreement=agreement)
    assert document.digitally_signed is False
    with pikepdf.open(io.BytesIO(issuing.read_issued(document))) as opened:
        assert "/AcroForm" not in opened.Root
