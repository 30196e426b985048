"""Signed means frozen: what the document states about the parties (institution names, short
names and addresses; signatories' names and NIPs) is copied at signing, and every signed page and
document prints the copy, so renaming a person or an institution afterwards changes nothing
there. Drafts still print the live rows."""

from __future__ import annotations

import importlib
import io
import json

import pikepdf
import pytest
from django.apps import apps as django_apps
from django.urls import reverse
from django.utils import translation

from agreements.document import render_agreement_html, render_agreement_pdf
from agreements.document.data import DATA_ATTACHMENT_NAME
from agreements.models import Agreement, IssuedDocument, Party
from agreements.services import issuing
from institutions.models import Institution, Person
from tests import factories
from tests.agreements.test_issuing import make_ready, sign, text_of
from tests.worker import run_queued_tasks

pytestmark = pytest.mark.django_db

OLD_RUTAN = "Rumah Tahanan Negara Kelas IIA Pekalongan"
NEW_RUTAN = "Lembaga Pemasyarakatan Perempuan Kelas III Pekalongan"
NEW_ADDRESS = "Jalan Baru Sekali No. 99"
NEW_SIGNATORY = "Drs. Nama Pengganti Sesudah Tanda Tangan"
NEW_NIP = "199912312099121001"


@pytest.fixture
def rutan() -> Institution:
    return factories.institution(OLD_RUTAN)


@pytest.fixture
def bnnk() -> Institution:
    return factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )


@pytest.fixture
def editor(rutan):
    return factories.user("editor", institution=rutan)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def attached(data: bytes) -> dict:
    with pikepdf.open(io.BytesIO(data)) as opened:
        return json.loads(opened.attachments[DATA_ATTACHMENT_NAME].get_file().read_bytes())


def rename_everything(agreement: Agreement) -> tuple[Party, str, str]:
    """Rename the first party's institution and signatory; return it and the old name, NIP."""
    party = agreement.parties.select_related("institution", "signatory").get(order=1)
    old_name, old_nip = party.signatory.full_name, party.signatory.nip
    Institution.objects.filter(pk=party.institution_id).update(
        name=NEW_RUTAN, short_name="Lapas Perempuan", address=NEW_ADDRESS
    )
    Person.objects.filter(pk=party.signatory_id).update(full_name=NEW_SIGNATORY, nip=NEW_NIP)
    return party, old_name, old_nip


def signed_and_issued(editor, rutan, bnnk, capture):
    agreement = make_ready(editor, rutan, bnnk)
    rutan_party = agreement.parties.get(order=1)
    Institution.objects.filter(pk=rutan.pk).update(address="Jl. Lama No. 1, Pekalongan")
    with capture(execute=True):
        sign(editor, agreement)
    # The signing queues the issuing; the worker issues the document.
    run_queued_tasks()
    assert IssuedDocument.objects.filter(agreement=agreement).exists()
    assert Party.objects.get(pk=rutan_party.pk).is_frozen
    return Agreement.objects.get(pk=agreement.pk)


def test_signing_freezes_what_the_document_states(
    editor,
    rutan,
    bnnk,
    django_capture_on_commit_callbacks,
):
    agreement = signed_and_issued(editor, rutan, bnnk, django_capture_on_commit_callbacks)
    for party in agreement.parties.select_related("institution", "signatory"):
        assert party.frozen_institution_name == party.institution.name
        assert party.frozen_institution_short_name == party.institution.short_name
        assert party.frozen_institution_kind == party.institution.kind
        assert party.frozen_institution_address == party.institution.address
        assert party.frozen_signatory_name == party.signatory.full_name
        assert party.frozen_signatory_nip == (party.signatory.nip or "")


def test_a_rename_after_signing_changes_no_signed_page_or_document(
    client,
    editor,
    rutan,
    bnnk,
    django_capture_on_commit_callbacks,
):
    agreement = signed_and_issued(editor, rutan, bnnk, django_capture_on_commit_callbacks)
    issued = IssuedDocument.objects.get(agreement=agreement)
    issued_text = text_of(issuing.read_issued(issued))
    _, old_name, old_nip = rename_everything(agreement)
    assert OLD_RUTAN in issued_text and old_name in issued_text

    pages = {
        "public": client.get(reverse("public:agreement", args=[agreement.pk])),
        "verify": client.get(reverse("public:verify", args=[issued.verification_code])),
        "registry": client.get(reverse("public:registry")),
    }
    client.force_login(editor)
    pages["staff"] = client.get(reverse("agreements:detail", args=[agreement.pk]))
    for where, response in pages.items():
        page = response.content.decode()
        assert response.status_code == 200, where
        assert NEW_RUTAN not in page and "Lapas Perempuan" not in page, where
        assert NEW_SIGNATORY not in page, where
    for where in ("public", "verify", "staff"):
        assert OLD_RUTAN in pages[where].content.decode(), where
    for where in ("public", "staff"):
        assert old_name in pages[where].content.decode(), where

    # The download is the issued file; a fresh rendering states the same parties.
    download = client.get(reverse("public:agreement_pdf", args=[agreement.pk]))
    assert download.content == issuing.read_issued(issued)
    fresh = render_agreement_pdf(agreement)
    fresh_text = text_of(fresh)
    for text in (issued_text, fresh_text):
        assert OLD_RUTAN.upper() in text
        assert old_name in text and old_nip in text
        assert "Jl. Lama No. 1, Pekalongan" in text
        assert NEW_RUTAN.upper() not in text and NEW_SIGNATORY not in text
        assert NEW_NIP not in text and NEW_ADDRESS not in text
    assert attached(fresh)["parties"] == attached(issuing.read_issued(issued))["parties"]
    first = attached(fresh)["parties"][0]
    assert first["institution"]["name"] == OLD_RUTAN
    assert first["institution"]["address"] == "Jl. Lama No. 1, Pekalongan"
    assert first["signatory"]["name"] == old_name
    assert first["signatory"]["nip"] == old_nip


def test_a_draft_prints_the_live_rows(client, editor, rutan, bnnk):
    agreement = make_ready(editor, rutan, bnnk)
    party, old_name, _ = rename_everything(agreement)
    assert not Party.objects.get(pk=party.pk).is_frozen
    html = render_agreement_html(agreement)
    assert NEW_RUTAN.upper() in html and NEW_SIGNATORY in html and NEW_NIP in html
    assert old_name not in html
    client.force_login(editor)
    page = client.get(reverse("agreements:detail", args=[agreement.pk])).content.decode()
    assert NEW_RUTAN in page and NEW_SIGNATORY in page


def test_an_agreement_signed_by_another_path_is_frozen_before_its_document_is_issued(
    editor,
    rutan,
    bnnk,
):
    agreement = factories.agreement(rutan, bnnk, status=Agreement.Status.SIGNED)
    # Signed before parties were frozen at signing (or by a path that does not freeze them).
    agreement.parties.update(frozen_at=None)
    assert not agreement.parties.filter(frozen_at__isnull=False).exists()
    document = issuing.issue_document(agreement=agreement)
    assert not agreement.parties.filter(frozen_at__isnull=True).exists()
    Institution.objects.filter(pk=rutan.pk).update(name=NEW_RUTAN)
    assert NEW_RUTAN.upper() not in render_agreement_html(agreement)
    assert OLD_RUTAN.upper() in text_of(issuing.read_issued(document))


def test_the_data_migration_freezes_signed_agreements_only(rutan, bnnk):
    signed = factories.agreement(rutan, bnnk, status=Agreement.Status.SIGNED)
    draft = factories.agreement(rutan, bnnk, title="PKS Rancangan")
    migration = importlib.import_module("agreements.migrations.0006_freeze_signed_parties")
    migration.freeze(django_apps, None)
    frozen = signed.parties.select_related("institution").get(order=1)
    assert frozen.is_frozen
    assert frozen.frozen_institution_name == rutan.name
    assert frozen.frozen_institution_address == rutan.address
    assert not draft.parties.filter(frozen_at__isnull=False).exists()
