"""Every cell an export writes from user text is text, never a formula (CSV/XLSX injection).

Institutions, programmes, agreements and participants are named with texts that spreadsheets
take for formulas, then every export is downloaded and opened: in XLSX every text cell has the
string type and no cell is a formula; in CSV such a text starts with a quote.
"""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from institutions import spreadsheets
from institutions.models import Membership
from institutions.spreadsheets import FORMULA_PREFIXES, neutralise
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "@SUM(1)",
    "+1",
    "-1",
    "\t=1+1",
    "\r=1+1",
]


@pytest.fixture
def world():
    host = factories.institution(HOSTILE[0], short_name=HOSTILE[1])
    partner = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    agreement = factories.agreement(host, partner, status="signed", title=HOSTILE[2])
    factories.agreement(host, partner, title=HOSTILE[3], subject=HOSTILE[4])
    programme = factories.programme(agreement, host, partner, name=HOSTILE[0])
    for index, text in enumerate(HOSTILE):
        participant = factories.participant(
            host, full_name=text, register_number=f"R-{index}", case_article=text
        )
        factories.enrolment(participant, programme)
    root = Client()
    root.force_login(factories.user("root", is_superuser=True, is_staff=True))
    return {"host": host, "programme": programme, "client": root}


def _exports(world) -> list[tuple[str, str]]:
    programme, host = world["programme"], world["host"]
    period = "start=2020-01-01&end=2030-12-31"
    return [
        ("agreements csv", reverse("agreements:export", args=["csv"])),
        ("agreements xlsx", reverse("agreements:export", args=["xlsx"])),
        ("participants csv", reverse("rehabilitation:participants_export", args=["csv"])),
        (
            "participants xlsx identified",
            reverse("rehabilitation:participants_export", args=["xlsx"]) + "?identified=1",
        ),
        ("participants xlsx", reverse("rehabilitation:participants_export", args=["xlsx"])),
        (
            "programme report xlsx",
            reverse("rehabilitation:programme_report", args=[programme.pk])
            + f"?{period}&format=xlsx",
        ),
        (
            "institution report xlsx",
            reverse("rehabilitation:institution_report", args=[host.pk]) + f"?{period}&format=xlsx",
        ),
    ]


def _is_hostile(text: str) -> bool:
    return text.startswith(FORMULA_PREFIXES)


def test_every_export_writes_user_text_as_text(world):
    browser = world["client"]
    for name, url in _exports(world):
        response = browser.get(url)
        assert response.status_code == 200, name
        content = b"".join(response.streaming_content) if response.streaming else response.content
        if name.endswith("csv"):
            rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
            cells = [cell for row in rows for cell in row]
            assert not [cell for cell in cells if _is_hostile(cell)], name
            assert any(cell.startswith("'=HYPERLINK") or cell.startswith("'+") for cell in cells)
            continue
        workbook = openpyxl.load_workbook(io.BytesIO(content))
        seen = []
        for sheet in workbook.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (name, sheet.title, cell.coordinate)
                    if isinstance(cell.value, str):
                        assert cell.data_type == "s", (name, sheet.title, cell.coordinate)
                        seen.append(cell.value)
        assert any(text in value for text in HOSTILE for value in seen), name


def test_the_report_title_is_a_text_cell_not_a_hyperlink_formula(world):
    url = dict(_exports(world))["programme report xlsx"]
    sheet = openpyxl.load_workbook(io.BytesIO(world["client"].get(url).content)).active
    assert sheet["A1"].data_type == "s"
    assert sheet["A1"].value == HOSTILE[0]


@pytest.mark.parametrize("text", HOSTILE)
def test_the_guard_neutralises_csv_text_and_types_xlsx_cells(text):
    assert neutralise(text) == "'" + text
    sheet = openpyxl.Workbook().active
    (cell, number) = spreadsheets.text_row(sheet, [text, 5])
    assert cell.data_type == "s"
    assert cell.value == text
    assert number.data_type == "n"
    reread = openpyxl.load_workbook(_saved(sheet.parent)).active
    assert reread["A1"].data_type == "s"
    assert reread["A1"].value == text


def _saved(workbook) -> io.BytesIO:
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    return buffer
