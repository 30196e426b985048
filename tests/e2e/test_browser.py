"""A member of the public and a staff member use the site in a real browser."""

import datetime
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

#: Where the tests leave screenshots for a person to look at (git-ignored).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


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
    expect(page.get_by_role("heading", level=1)).to_contain_text("Peserta Demo Satu")
    page.get_by_label("Bahasa").select_option("en")
    page.get_by_role("button", name="Ganti").click()
    expect(page.get_by_text("Specific personal data")).to_be_visible()
    page.get_by_role("button", name=re.compile("Log out")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Public registry of cooperation agreements"
    )


def test_staff_starts_an_agreement_and_moves_it_to_discussion(live_server, page, scenario):
    rutan = scenario.parties.get(order=2).institution
    lapas = factories.institution(
        "Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas", short_name="Lapas Pekalongan"
    )
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Nama pengguna").fill("staf.pekalongan")
    page.get_by_label("Kata sandi").fill(factories.PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    page.get_by_role("link", name="Perjanjian baru").click()
    page.get_by_label("Judul singkat").fill("PKS Layanan Rehabilitasi Lapas")
    page.get_by_label("Perihal").fill("Layanan Rehabilitasi bagi Narapidana")
    page.get_by_label("PIHAK PERTAMA").select_option(str(rutan.pk))
    page.get_by_label("Pihak lainnya").select_option(str(lapas.pk))
    page.get_by_label("Jangka waktu (bulan)").fill("24")
    page.get_by_role("button", name="Buat draf").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PKS Layanan Rehabilitasi Lapas")
    expect(page.get_by_role("heading", name="Pasal 8 — Keadaan Kahar")).to_be_visible()
    page.get_by_role("button", name=re.compile("Dalam pembahasan")).click()
    expect(page.locator(".status").first).to_have_text("Dalam pembahasan")
    page.screenshot(path=str(SCREENSHOTS / "agreement-in-discussion.png"), full_page=True)
