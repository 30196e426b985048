"""The public statistics page: counts per programme without login, no small cells, no names."""

from __future__ import annotations

import datetime
import re

import pytest
from django.conf import settings
from django.urls import reverse

from rehabilitation.models import Enrolment
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("rehabilitation:public_statistics")
Status = Enrolment.Status


def _enrol(programme, institution, count, **fields):
    for _ in range(count):
        person = factories.participant(institution)
        factories.enrolment(person, programme, enrolled_on=datetime.date(2025, 8, 12), **fields)


@pytest.fixture
def world():
    """Three programmes filled through the services, and one of damaged data written as rows:
    a programme under a draft agreement with twelve people in a phase, which the services
    would refuse at every step (no programme runs under an unsigned agreement, and one made
    as a row has no phases to be in). It shows that the page never publishes such a
    programme, whatever its rows say."""
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pks = factories.agreement(bnnk, rutan, status="signed", title="PKS Rehabilitasi Publik")
    nine = factories.programme(pks, rutan, bnnk, name="Program Sembilan")
    ten = factories.programme(pks, rutan, bnnk, name="Program Sepuluh")
    eleven = factories.programme(pks, rutan, bnnk, name="Program Sebelas")
    _enrol(nine, rutan, 9, status=Status.IN_PHASE)
    _enrol(ten, rutan, 10, status=Status.IN_PHASE)
    _enrol(eleven, rutan, 11, status=Status.COMPLETED, end_date=datetime.date(2026, 2, 6))
    # Screened but never enrolled: not counted at all.
    factories.enrolment(factories.participant(rutan), eleven)
    draft = factories.agreement(bnnk, rutan, title="PKS Rancangan")
    hidden = factories.raw_programme(draft, rutan, name="Program Rancangan")
    for _ in range(12):
        factories.raw_enrolment(
            factories.participant(rutan),
            hidden,
            enrolled_on=datetime.date(2025, 8, 12),
            status=Status.IN_PHASE,
        )
    return {"rutan": rutan, "nine": nine, "ten": ten, "eleven": eleven, "pks": pks}


def _row(page: str, name: str) -> list[str]:
    """The cells of the programme's line: enrolled, active, completed."""
    row = re.search(rf"<tr><th scope=\"row\">{name}<br>.*?</tr>", page, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    return [cell.strip() for cell in cells[-3:]]


def test_anonymous_visitors_see_counts_with_small_cells_withheld(client, world):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert _row(page, "Program Sembilan") == ["&lt; 10", "&lt; 10", "0"]
    assert _row(page, "Program Sepuluh") == ["10", "10", "0"]
    # All 11 completed: showing it would tell everyone's outcome (rehabilitation.disclosure).
    assert _row(page, "Program Sebelas") == ["11", "0", "withheld"]
    assert "PKS Rehabilitasi Publik" in page
    assert reverse("public:agreement", args=[world["pks"].pk]) in page
    assert "Rutan Kelas IIA Pekalongan" in page
    assert "4 August 2025" in page
    # Programmes under unsigned agreements are not published.
    assert "Program Rancangan" not in page


def test_no_names_or_register_numbers_anywhere(client, world):
    page = client.get(URL).content.decode()
    assert "Warga Binaan Uji" not in page
    assert "REG-" not in page


def test_a_count_that_reveals_a_small_group_by_subtraction_is_withheld(client, world):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    # 12 enrolled, 10 still active, 2 dropped out: showing 12 would reveal the 2.
    _enrol(
        world["ten"],
        world["rutan"],
        2,
        status=Status.DROPPED_OUT,
        end_date=datetime.date(2026, 1, 5),
    )
    page = client.get(URL).content.decode()
    # "0 completed" would tell that all who left did not complete: withheld with the rest.
    assert _row(page, "Program Sepuluh") == ["withheld", "10", "&lt; 10"]
    assert "12" not in _row(page, "Program Sepuluh")


def test_indonesian_by_default_and_only_get(client, world):
    response = client.get(URL)
    assert response["Content-Language"] == "id"
    assert client.post(URL).status_code == 405


def test_query_count_does_not_grow_with_programmes(client, world, django_assert_num_queries):
    with django_assert_num_queries(1):
        client.get(URL)
    for _ in range(45):
        factories.programme(world["pks"], world["rutan"])
    with django_assert_num_queries(1):
        page = client.get(URL).content.decode()
    assert page.count('<th scope="row">') == 48
