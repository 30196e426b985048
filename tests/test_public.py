"""The public registry, agreement pages and PDF: open to all, and never showing personal data."""

import datetime

import pytest
from django.urls import reverse

from agreements.models import Agreement
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    signed = factories.agreement(
        rutan,
        bnnk,
        status=Agreement.Status.SIGNED,
        title="PKS Rehabilitasi Sosial",
        effective_date=datetime.date(2025, 8, 4),
        end_date=datetime.date(2027, 8, 3),
    )
    draft = factories.agreement(rutan, bnnk, title="PKS Rancangan Rahasia")
    programme = factories.programme(signed, rutan, bnnk, name="Program Rehabilitasi Sosial")
    inmate = factories.participant(
        rutan, full_name="Budi Santoso Rahasia", register_number="B.I-77/2025"
    )
    factories.enrolment(inmate, programme)
    return {"rutan": rutan, "bnnk": bnnk, "signed": signed, "draft": draft, "inmate": inmate}


def test_registry_lists_signed_agreements_with_parties_and_status(client, world):
    response = client.get(reverse("public:registry"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "PKS Rehabilitasi Sosial" in page
    assert "BNNK Batang" in page
    assert 'class="status status-active"' in page
    assert "PKS Rancangan Rahasia" not in page


def test_registry_search_and_status_filter(client, world):
    other = factories.agreement(
        world["rutan"], factories.institution(), status="signed", title="PKS Lain"
    )
    page = client.get(reverse("public:registry"), {"q": "Rehabilitasi"}).content.decode()
    assert "PKS Rehabilitasi Sosial" in page and other.title not in page
    page = client.get(
        reverse("public:registry"), {"q": other.parties.last().number}
    ).content.decode()
    assert other.title in page and "PKS Rehabilitasi Sosial" not in page
    page = client.get(reverse("public:registry"), {"status": "expired"}).content.decode()
    assert "PKS Rehabilitasi Sosial" not in page
    page = client.get(reverse("public:registry"), {"status": "nonsense", "page": "x"})
    assert page.status_code == 200


def test_registry_query_count_does_not_grow_with_rows(client, world, django_assert_max_num_queries):
    for _ in range(30):
        factories.agreement(world["rutan"], factories.institution(), status="signed")
    with django_assert_max_num_queries(4):
        client.get(reverse("public:registry"))


def test_detail_shows_parties_numbers_and_programme_but_no_participant(client, world):
    signed = world["signed"]
    response = client.get(reverse("public:agreement", args=[signed.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    for party in signed.parties.all():
        assert party.number in page
        assert party.label in page
    assert "Program Rehabilitasi Sosial" in page
    assert "Budi Santoso Rahasia" not in page
    assert "B.I-77/2025" not in page


def test_draft_is_404_for_the_public(client, world):
    assert client.get(reverse("public:agreement", args=[world["draft"].pk])).status_code == 404
    assert client.get(reverse("public:agreement_pdf", args=[world["draft"].pk])).status_code == 404


def test_draft_is_visible_to_a_party_staff_member(client, world):
    client.force_login(factories.user(institution=world["rutan"]))
    assert client.get(reverse("public:agreement", args=[world["draft"].pk])).status_code == 200


def test_draft_is_404_for_staff_of_another_institution(client, world):
    client.force_login(factories.user(institution=factories.institution()))
    assert client.get(reverse("public:agreement", args=[world["draft"].pk])).status_code == 404


def test_pdf_download(client, world):
    response = client.get(reverse("public:agreement_pdf", args=[world["signed"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert 'filename="PKS-' in response["Content-Disposition"]


def test_public_pages_refuse_post(client, world):
    assert client.post(reverse("public:registry")).status_code == 405


@pytest.mark.parametrize("name", ["public:registry"])
def test_no_participant_data_on_any_public_page(client, world, name):
    for url in [
        reverse(name),
        reverse("public:agreement", args=[world["signed"].pk]),
    ]:
        page = client.get(url).content.decode()
        assert world["inmate"].full_name not in page
        assert world["inmate"].register_number not in page
