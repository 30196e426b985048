"""Participant exports stream: the CSV header goes out before any participant is read, rows
are read in chunks (the same file whatever the chunk size), and an export is one access-log
line listing its participants, which each participant's "who has seen" page shows."""

from __future__ import annotations

import csv
import datetime
import io

import openpyxl
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from institutions.models import Membership
from rehabilitation import exports
from rehabilitation.models import AccessLog, AccessLogRecord, Enrolment
from tests import factories

pytestmark = pytest.mark.django_db

CSV = reverse("rehabilitation:participants_export", args=["csv"])
XLSX = reverse("rehabilitation:participants_export", args=["xlsx"])


@pytest.fixture
def world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution("BNN Kabupaten Batang", kind="bnnk", short_name="BNNK Batang")
    pks = factories.agreement(bnnk, rutan, status="signed")
    programme = factories.programme(pks, rutan, bnnk)
    people = []
    for n in range(7):
        person = factories.participant(rutan, birth_date=datetime.date(1980, 1, n + 1))
        factories.enrolment(
            person,
            programme,
            status=Enrolment.Status.IN_PHASE,
            enrolled_on=datetime.date(2025, 8, 12),
        )
        people.append(person)
    admin = factories.user(
        institution=rutan, roles=(Membership.Role.ADMIN, Membership.Role.PROGRAMME)
    )
    return {"rutan": rutan, "people": people, "admin": admin}


@pytest.fixture
def reader(client, world):
    client.force_login(world["admin"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_the_csv_header_is_sent_before_any_participant_is_read(reader):
    response = reader.get(CSV)
    assert response.streaming
    pieces = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as queries:
        header = next(pieces)
    assert len(queries) == 0
    assert header.decode("utf-8").startswith("\ufeffPseudonym,Year of birth,")
    rest = b"".join(pieces).decode("utf-8")
    assert len(list(csv.reader(io.StringIO(rest)))) == 7


def test_the_rows_are_the_same_whatever_the_chunk_size(reader, monkeypatch):
    whole = b"".join(reader.get(CSV + "?identified=1").streaming_content)
    pseudonymised = b"".join(reader.get(CSV).streaming_content)
    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    assert b"".join(reader.get(CSV + "?identified=1").streaming_content) == whole
    assert b"".join(reader.get(CSV).streaming_content) == pseudonymised
    rows = list(csv.DictReader(io.StringIO(pseudonymised.decode("utf-8-sig"))))
    aliases = [row["Pseudonym"] for row in rows]
    assert aliases == sorted(aliases)


def test_an_export_is_one_log_line_listing_its_participants(reader, world):
    response = reader.get(XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert sheet.max_row == 8
    assert sheet["A1"].font.bold
    entry = AccessLog.objects.get(user=world["admin"], action=AccessLog.Action.EXPORT)
    assert entry.record_count == 7
    assert entry.detail == "pseudonymised xlsx"
    assert set(
        AccessLogRecord.objects.filter(entry=entry).values_list("participant", flat=True)
    ) == {person.pk for person in world["people"]}
    who = reverse("rehabilitation:participant_access_log", args=[world["people"][3].pk])
    assert "pseudonymised xlsx" in reader.get(who).content.decode()


def test_the_log_is_written_after_the_header_and_before_any_row(reader, world):
    pieces = iter(reader.get(CSV).streaming_content)
    exported = AccessLog.objects.filter(user=world["admin"], action=AccessLog.Action.EXPORT)
    next(pieces)  # the header: sent at once, before the log of every participant
    assert not exported.exists()
    rows = b"".join(pieces).decode("utf-8")
    assert len(list(csv.reader(io.StringIO(rows)))) == 7
    assert exported.get().record_count == 7


def test_a_log_that_cannot_be_written_stops_the_export_before_any_row(reader, monkeypatch):
    from rehabilitation.views import reports as report_views

    def broken(**kwargs):
        raise RuntimeError("the access log is unavailable")

    monkeypatch.setattr(report_views, "record_read", broken)
    pieces = iter(reader.get(CSV).streaming_content)
    assert next(pieces).decode("utf-8").startswith("\ufeffPseudonym,")
    with pytest.raises(RuntimeError):
        next(pieces)
    assert AccessLog.objects.filter(action=AccessLog.Action.EXPORT).count() == 0
    # Excel is written whole before it is sent: no file at all.
    with pytest.raises(RuntimeError):
        reader.get(XLSX)
