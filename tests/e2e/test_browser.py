"""A member of the public and a staff member use the site in a real browser."""

import datetime
import re

import pytest
from playwright.sync_api import expect

from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scenario():
    rutan = factories.institution(
        "Rumah Tahanan Negara Kelas IIA Pekalongan", short_name="Rutan Pekalongan"
    )
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pks = factories.agreement(
        bnnk,
        rutan,
        status="signed",
        title="PKS Rehabilitasi Sosial",
        effective_date=datetime.date(2025, 8, 4),
        end_date=datetime.date(2027, 8, 3),
    )
    programme = factories.programme(pks, rutan, bnnk, name="Program Rehabilitasi Sosial")
    inmate = factories.participant(rutan, full_name="Peserta Demo Satu")
    factories.enrolment(inmate, programme)
    factories.user(
        "staf.pekalongan",
        institution=rutan,
        roles=(Membership.Role.EDITOR, Membership.Role.PROGRAMME),
    )
    return pks


def test_public_finds_an_agreement_and_downloads_its_pdf(live_server, page, scenario):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Registri publik")
    page.get_by_label("Cari").fill("Rehabilitasi")
    page.get_by_role("button", name="Saring").click()
    page.get_by_role("link", name="PKS Rehabilitasi Sosial").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PKS Rehabilitasi Sosial")
    expect(page.get_by_text("PIHAK PERTAMA")).to_be_visible()
    expect(page.get_by_text("Peserta Demo Satu")).to_have_count(0)
    response = page.request.get(live_server.url + f"/pks/{scenario.pk}/pdf/")
    assert response.ok
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF-")


def test_staff_logs_in_sees_the_programme_and_a_participant(live_server, page, scenario):
    page.goto(live_server.url + "/staff/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Nama pengguna").fill("staf.pekalongan")
    page.get_by_label("Kata sandi").fill(factories.PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Beranda staf")
    page.get_by_role("link", name="Program Rehabilitasi Sosial").click()
    page.get_by_role("link", name=re.compile("REG-")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Peserta Demo Satu")
    page.get_by_label("Bahasa").select_option("en")
    page.get_by_role("button", name="Ganti").click()
    expect(page.get_by_text("Specific personal data")).to_be_visible()
    page.get_by_role("button", name=re.compile("Log out")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Public registry of cooperation agreements"
    )
