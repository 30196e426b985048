"""A signing in a real browser: the page answers at once with the documents "being issued",
and shows them without a click once a worker has issued them (the page reloads itself)."""

import pytest
from playwright.sync_api import expect

from agreements.models import Agreement, IssuedDocument
from institutions.models import Membership
from tests import factories
from tests.worker import run_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ready():
    rutan = factories.institution(
        "Rumah Tahanan Negara Kelas IIA Pekalongan", short_name="Rutan Pekalongan"
    )
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    agreement = factories.agreement(
        rutan, bnnk, status=Agreement.Status.READY, title="PKS Rehabilitasi Sosial"
    )
    for party in agreement.parties.select_related("institution"):
        party.signatory = factories.person(f"Kepala {party.institution.display_name}")
        party.signatory_position = "Kepala"
        party.save(update_fields=["signatory", "signatory_position"])
    factories.user("staf.pekalongan", institution=rutan, roles=(Membership.Role.EDITOR,))
    return agreement


def test_a_signing_answers_at_once_and_its_pdf_appears_when_issued(live_server, page, ready):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Nama pengguna").fill("staf.pekalongan")
    page.get_by_label("Kata sandi").fill(factories.PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.goto(live_server.url + "/staff/signings/new/")
    page.locator("[name=date]").fill("2025-08-04")
    page.locator("[name=venue]").fill("Aula Rutan Pekalongan")
    page.locator("[name=host]").select_option(str(ready.parties.get(order=1).institution_id))
    page.get_by_label("PKS Rehabilitasi Sosial").check()
    page.locator("form.form button[type=submit]").click()

    expect(page.get_by_text("PDF resmi sedang diterbitkan")).to_be_visible()
    assert not IssuedDocument.objects.exists()

    assert run_queued_tasks() == 1
    # No click: the page reloads itself while a document is being issued.
    expect(page.get_by_role("link", name="PDF resmi")).to_be_visible(timeout=20_000)
    expect(page.get_by_text("PDF resmi sedang diterbitkan")).to_have_count(0)
    assert IssuedDocument.objects.filter(agreement=ready).count() == 1
