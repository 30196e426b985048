"""Exports of participants' personal data: who may export what, pseudonyms, formula
injection, the Excel file, and the access log."""

from __future__ import annotations

import csv
import datetime
import hashlib
import hmac
import io
import re

import openpyxl
import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from institutions.models import Membership
from rehabilitation import exports
from rehabilitation.models import AccessLog, Enrolment, Screening
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Enrolment.Status
CSV = reverse("rehabilitation:participants_export", args=["csv"])
XLSX = reverse("rehabilitation:participants_export", args=["xlsx"])


@pytest.fixture
def world():
    pekalongan = factories.institution(
        "Rumah Tahanan Negara Kelas IIA Pekalongan", short_name="Rutan Pekalongan"
    )
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pemalang = factories.institution(
        "Rumah Tahanan Negara Kelas IIB Pemalang", short_name="Rutan Pemalang"
    )
    semarang = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(batang, pekalongan, status="signed")
    social = factories.programme(pks, pekalongan, batang, name="Program Sosial Pekalongan")
    medical = factories.programme(
        factories.agreement(pemalang, factories.institution(kind="bnnk"), status="signed"),
        pemalang,
        name="Program Medis Pemalang",
    )
    one = factories.participant(
        pekalongan,
        full_name="Peserta Satu",
        register_number="B.I-0157/2025",
        birth_date=datetime.date(1990, 5, 17),
        sex="m",
        case_article="127",
        substances=["stimulants", "cannabis"],
    )
    factories.enrolment(
        one,
        social,
        scores={"stimulants": 30, "cannabis": 5},
        enrolled_on=datetime.date(2025, 8, 12),
        status=Status.IN_PHASE,
    )
    two = factories.participant(
        pekalongan,
        full_name='=HYPERLINK("http://evil.example","klik")',
        register_number="B.I-0158/2025",
        birth_date=datetime.date(2008, 1, 2),
        case_article="+62 127",
    )
    factories.enrolment(two, social)
    # Held at Pemalang, in both programmes: the BNNK sees the social one only.
    three = factories.participant(pemalang, full_name="Peserta Tiga", register_number="P-77")
    # Both programmes are of the default (social) type, and a participant is active in one
    # programme of a type at a time: the completed place comes first.
    factories.enrolment(three, medical, status=Status.COMPLETED, end_date=datetime.date(2026, 1, 5))
    factories.enrolment(
        three, social, enrolled_on=datetime.date(2025, 9, 1), status=Status.ENROLLED
    )
    four = factories.participant(pemalang, full_name="Peserta Empat", register_number="P-78")
    factories.enrolment(four, medical)
    return {
        "pekalongan": pekalongan,
        "batang": batang,
        "pemalang": pemalang,
        "semarang": semarang,
        "one": one,
        "two": two,
        "three": three,
        "four": four,
    }


def _login(client, world, institution=None, roles=(Role.PROGRAMME,), **fields):
    user = factories.user(
        institution=world[institution] if institution else None, roles=roles, **fields
    )
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return user


def _content(response) -> bytes:
    """The whole body (an export streams, and a stream is read once: kept on the response)."""
    if not response.streaming:
        return response.content
    if not hasattr(response, "read_body"):
        response.read_body = b"".join(response.streaming_content)
    return response.read_body


def _csv(response) -> list[dict[str, str]]:
    text = _content(response).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def _pseudonyms(rows, world, *keys):
    return {exports.pseudonym(world[key].pk) for key in keys} == {row["Pseudonym"] for row in rows}


# --- Pseudonyms -----------------------------------------------------------------------------


def test_pseudonym_is_a_stable_keyed_hash():
    expected = hmac.new(settings.SECRET_KEY.encode(), b"42", hashlib.sha256).hexdigest()[:10]
    assert exports.pseudonym(42) == f"P-{expected}"
    assert exports.pseudonym(42) == exports.pseudonym(42)
    assert re.fullmatch(r"P-[0-9a-f]{10}", exports.pseudonym(42))
    assert exports.pseudonym(42) != "P-42"
    with override_settings(SECRET_KEY="another-secret-key-for-another-site-0123456789"):
        assert exports.pseudonym(42) != f"P-{expected}"
    assert len({exports.pseudonym(pk) for pk in range(1, 2001)}) == 2000


# --- Permission matrix ----------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, world):
    for url in (CSV, XLSX, CSV + "?identified=1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("institution", "roles", "pseudonymised", "identified"),
    [
        # host institution: its administrator and its programme staff
        ("pekalongan", (Role.ADMIN,), {"one", "two", "three"}, {"one", "two"}),
        ("pekalongan", (Role.PROGRAMME,), {"one", "two", "three"}, 403),
        # partner: sees those in its programme
        ("batang", (Role.PROGRAMME,), {"one", "two", "three"}, 403),
        ("batang", (Role.ADMIN,), {"one", "two", "three"}, set()),  # holds nobody itself
        # held at Pemalang
        ("pemalang", (Role.ADMIN,), {"three", "four"}, {"three", "four"}),
        # roles without personal data
        ("pekalongan", (Role.EDITOR,), 403, 403),
        ("pekalongan", (Role.VIEWER,), 403, 403),
        # unrelated institution's programme staff: an export without any of them
        ("semarang", (Role.PROGRAMME,), set(), 403),
    ],
)
def test_export_permission_matrix(client, world, institution, roles, pseudonymised, identified):
    _login(client, world, institution, roles)
    for query, expected in (("", pseudonymised), ("?identified=1", identified)):
        response = client.get(CSV + query)
        if expected == 403:
            assert response.status_code == 403
            continue
        assert response.status_code == 200
        assert _pseudonyms(_csv(response), world, *expected)


def test_superuser_may_export_everyone_identified(client, world):
    _login(client, world, is_superuser=True, is_staff=True)
    rows = _csv(client.get(CSV + "?identified=1"))
    assert _pseudonyms(rows, world, "one", "two", "three", "four")


def test_account_without_institution_gets_403(client, world):
    _login(client, world)
    assert client.get(CSV).status_code == 403


def test_wrong_method_and_unknown_format(client, world):
    _login(client, world, "pekalongan", (Role.ADMIN,))
    assert client.post(CSV).status_code == 405
    assert (
        client.get(reverse("rehabilitation:participants_export", args=["pdf"])).status_code == 404
    )


# --- Content --------------------------------------------------------------------------------


def test_pseudonymised_csv_has_no_name_number_or_date_of_birth(client, world):
    _login(client, world, "pekalongan", (Role.PROGRAMME,))
    response = client.get(CSV)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="peserta-pseudonim-\d{4}-\d{2}-\d{2}\.csv"',
        response["Content-Disposition"],
    )
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    text = _content(response).decode("utf-8")
    for secret in ("Peserta Satu", "B.I-0157/2025", "1990-05-17", "HYPERLINK", "Peserta Tiga"):
        assert secret not in text
    rows = _csv(response)
    assert list(rows[0]) == [
        "Pseudonym",
        "Year of birth",
        "Sex",
        "Status",
        "Held at",
        "Case article",
        "Substances used",
        "Enrolments",
        "ASSIST risk at intake",
    ]
    one = next(row for row in rows if row["Pseudonym"] == exports.pseudonym(world["one"].pk))
    assert one["Year of birth"] == "1990"
    assert one["Sex"] == "Male"
    assert one["Status"] == "Prisoner (narapidana)"
    assert one["Held at"] == "Rutan Pekalongan"
    assert one["Case article"] == "127"
    assert one["Substances used"] == (
        "Amphetamine-type stimulants (e.g. shabu, ecstasy); Cannabis (ganja)"
    )
    assert one["Enrolments"] == "Program Sosial Pekalongan: In a phase, 2025-08-11 – …"
    assert one["ASSIST risk at intake"] == "High risk"
    two = next(row for row in rows if row["Pseudonym"] == exports.pseudonym(world["two"].pk))
    assert two["Case article"] == "'+62 127"  # formula injection neutralised


def test_a_partner_does_not_learn_of_another_programmes_enrolment(client, world):
    _login(client, world, "batang", (Role.PROGRAMME,))
    rows = _csv(client.get(CSV))
    three = next(row for row in rows if row["Pseudonym"] == exports.pseudonym(world["three"].pk))
    assert "Program Medis Pemalang" not in three["Enrolments"]
    assert three["Enrolments"].startswith("Program Sosial Pekalongan")
    # The held-at institution's administrator sees both.
    client.force_login(factories.user(institution=world["pemalang"], roles=(Role.ADMIN,)))
    rows = _csv(client.get(CSV))
    three = next(row for row in rows if row["Pseudonym"] == exports.pseudonym(world["three"].pk))
    assert "Program Medis Pemalang" in three["Enrolments"]


def test_identified_csv_for_an_administrator(client, world):
    _login(client, world, "pekalongan", (Role.ADMIN,))
    response = client.get(CSV + "?identified=1")
    assert "peserta-identitas-" in response["Content-Disposition"]
    rows = _csv(response)
    assert list(rows[0])[:4] == ["Pseudonym", "Register number", "Full name", "Date of birth"]
    by_number = {row["Register number"]: row for row in rows}
    assert by_number["B.I-0157/2025"]["Full name"] == "Peserta Satu"
    assert by_number["B.I-0157/2025"]["Date of birth"] == "1990-05-17"
    assert by_number["B.I-0158/2025"]["Full name"] == ('\'=HYPERLINK("http://evil.example","klik")')


def test_xlsx_parsed_back(client, world):
    _login(client, world, "pekalongan", (Role.ADMIN,))
    response = client.get(XLSX + "?identified=1")
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(_content(response))).active
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["Pseudonym", "Register number", "Full name", "Date of birth"]
    rows = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
    assert rows["B.I-0157/2025"][3].value.date() == datetime.date(1990, 5, 17)
    dangerous = rows["B.I-0158/2025"][2]
    assert dangerous.data_type == "s"  # text, not a formula
    assert dangerous.value.startswith("=HYPERLINK")
    # Pseudonymised: the year of birth is a number and nothing identifying is in the file.
    response = client.get(XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(_content(response))).active
    values = [cell for row in sheet.iter_rows(values_only=True) for cell in row]
    assert 1990 in values
    assert not any(
        isinstance(value, str) and ("Peserta Satu" in value or "B.I-0157" in value)
        for value in values
    )


# --- Access log -----------------------------------------------------------------------------


def test_every_export_is_written_to_the_access_log(client, world):
    user = _login(client, world, "pekalongan", (Role.ADMIN,))
    # A CSV streams: its log is written once the header is out, before the first row.
    assert _content(client.get(CSV))
    client.get(XLSX + "?identified=1")
    # One line per export and institution holding the participants, listing them.
    lines = AccessLog.objects.filter(user=user)
    assert {
        (
            line.institution_id,
            line.action,
            line.detail,
            frozenset(line.records.values_list("participant_id", flat=True)),
        )
        for line in lines
    } == {
        (
            world["pekalongan"].pk,
            "export",
            "pseudonymised csv",
            frozenset({world["one"].pk, world["two"].pk}),
        ),
        (world["pemalang"].pk, "export", "pseudonymised csv", frozenset({world["three"].pk})),
        (
            world["pekalongan"].pk,
            "export",
            "identified xlsx",
            frozenset({world["one"].pk, world["two"].pk}),
        ),
    }
    assert {line.path for line in lines} == {CSV, XLSX}
    assert {line.participant_id for line in lines} == {None}


def test_a_refused_export_writes_nothing(client, world):
    _login(client, world, "pekalongan", (Role.PROGRAMME,))
    assert client.get(CSV + "?identified=1").status_code == 403
    assert not AccessLog.objects.exists()


def test_export_query_count_is_constant(client, world, django_assert_num_queries):
    _login(client, world, "pekalongan", (Role.ADMIN,))
    # session, user, roles, then once the header is out the log in its own transaction
    # (begin, the ids logged, the log's line and its records, commit), then (per chunk of
    # rows streamed) participants, enrolments, screenings, scores, and the session's save
    # (three)
    with django_assert_num_queries(15):
        _content(client.get(CSV))
    for n in range(45):
        person = factories.participant(
            world["pekalongan"], birth_date=datetime.date(1980, 1, n % 28 + 1)
        )
        factories.enrolment(person, world["one"].enrolments.get().programme)
        Screening.objects.create(participant=person, date=datetime.date(2025, 8, 11))
    with django_assert_num_queries(15):
        rows = _csv(client.get(CSV))
    assert len(rows) == 48
