"""The public counts kept per programme (`rehabilitation.statistics`): moved by the enrolment
services in the same transaction, rebuilt by `refresh()` to the same figures, and read by the
public page without counting enrolments."""

from __future__ import annotations

import datetime
import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from rehabilitation import statistics
from rehabilitation.models import Enrolment, ProgrammeTally
from rehabilitation.services import enrolment as enrolment_services
from tests import factories

pytestmark = pytest.mark.django_db

Status = Enrolment.Status


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution("BNN Kabupaten Batang", kind="bnnk", short_name="BNNK Batang")
    pks = factories.agreement(bnnk, rutan, status="signed")
    return {"rutan": rutan, "programme": factories.programme(pks, rutan, bnnk, name="Program A")}


def _tally(programme) -> tuple[int, int, int]:
    row = ProgrammeTally.objects.get(programme=programme)
    return (row.enrolled, row.active, row.completed)


def _enrol(world, status, **fields) -> Enrolment:
    return factories.enrolment(
        factories.participant(world["rutan"]),
        world["programme"],
        status=status,
        enrolled_on=datetime.date(2025, 8, 12),
        **fields,
    )


def test_each_move_adjusts_the_programme_counts(world):
    programme = world["programme"]
    factories.enrolment(factories.participant(world["rutan"]), programme)  # screened only
    assert not ProgrammeTally.objects.filter(programme=programme).exists()
    first = _enrol(world, Status.IN_PHASE)
    assert _tally(programme) == (1, 1, 0)
    _enrol(world, Status.COMPLETED, end_date=datetime.date(2025, 12, 1))
    assert _tally(programme) == (2, 1, 1)
    enrolment_services.enrolment_end(
        user=factories.actor(),
        enrolment=first,
        to_status=Status.DROPPED_OUT,
        date=datetime.date(2025, 12, 2),
        reason="Keluar.",
    )
    assert _tally(programme) == (2, 0, 1)


def test_refresh_rebuilds_the_same_counts_and_is_idempotent(world):
    programme = world["programme"]
    for _ in range(3):
        _enrol(world, Status.IN_PHASE)
    _enrol(world, Status.COMPLETED, end_date=datetime.date(2025, 12, 1))
    kept = _tally(programme)
    ProgrammeTally.objects.update(enrolled=0, active=0, completed=0)
    statistics.refresh()
    assert _tally(programme) == kept == (4, 3, 1)
    out = io.StringIO()
    call_command("refresh_statistics", stdout=out)
    assert "1 programme(s) counted." in out.getvalue()
    assert _tally(programme) == kept
    assert ProgrammeTally.objects.count() == 1


def test_the_public_page_reads_the_tally_not_the_enrolments(client, world):
    """A bulk load that bypassed the services shows once refreshed, with its date."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    for _ in range(12):
        factories.raw_enrolment(
            factories.participant(world["rutan"]),
            world["programme"],
            enrolled_on=datetime.date(2025, 8, 12),
            status=Status.IN_PHASE,
        )
    url = reverse("rehabilitation:public_statistics")

    def cells() -> list[str]:
        page = client.get(url).content.decode()
        row = re.search(r"<tr><th scope=\"row\">Program A<br>.*?</tr>", page, re.S).group(0)
        return [cell.strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)[-3:]]

    assert cells() == ["0", "0", "0"]
    statistics.refresh()
    assert cells() == ["12", "12", "0"]
    assert "Figures as of" in client.get(url).content.decode()
