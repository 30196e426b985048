"""Reports per programme and per institution: figures against hand-computed fixtures, the
staff pages with their SVG charts, the Excel files, and who may see them."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from institutions.models import Membership
from rehabilitation import charts, reports
from rehabilitation.models import (
    Enrolment,
    Screening,
    ScreeningScore,
)
from rehabilitation.services.sessions import programme_attendance_rate
from tests import factories
from tests.conftest import kept_for_module

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Enrolment.Status
D = datetime.date
YEAR_2025 = reports.Period(D(2025, 1, 1), D(2025, 12, 31))
#: A day after the 2025 period: phases come from the EnrolmentPhase rows only.
LATER = D(2026, 11, 28)


def _legacy_screening(participant, date, scores):
    """A screening linked to no enrolment: legacy data (the services link every screening)."""
    screening = Screening.objects.create(participant=participant, enrolment=None, date=date)
    for substance, score in scores.items():
        ScreeningScore.objects.create(screening=screening, substance=substance, score=score)
    return screening


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Once per module (`tests.conftest.kept_for_module`): the tests only read it, and what
    one adds is rolled back with its savepoint."""
    with kept_for_module(django_db_blocker):
        yield build_world()


def build_world():
    """The hand-counted world: eleven enrolments A–K, each reached through the services
    (screened, assessed, enrolled, through the phases on days of their own, ended), and the
    sessions with their attendance sheets.

    Made through the services, it differs from the rows it was once written as in three
    places, none of them a state the application can reach any more: C's intake screening is
    linked to its enrolment, as every screening is; G and the 2024 enrolments D and E were
    screened at intake (G at moderate risk: nobody at low risk is enrolled), so no enrolment
    started in 2025 is "not screened"; and K is held at Semarang, where its programme runs.
    The legacy rows the reports still read (an unlinked screening, an enrolment without one)
    have their own test below.
    """
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    semarang = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(batang, pekalongan, status="signed", title="PKS Batang-Pekalongan")
    programme = factories.programme(
        pks,
        pekalongan,
        batang,
        name="Program Sosial Pekalongan",
        phases=[("Orientasi", 2), ("Primer", 19), ("Re-entry", 3)],
    )
    _orientation, primary, reentry = programme.phases.order_by("order")
    # Another programme of the host institution, and one of an unrelated institution.
    other_pks = factories.agreement(pemalang, batang, status="signed")
    medical = factories.programme(other_pks, pemalang, pekalongan, name="Program Medis Pemalang")
    elsewhere = factories.programme(
        factories.agreement(semarang, factories.institution(kind="bnnk"), status="signed"),
        semarang,
        name="Program Semarang",
    )

    def enrol(name, scores, *, held=pekalongan, **fields):
        person = factories.participant(held, full_name=name, register_number=f"REG-{name}")
        return factories.enrolment(
            person, fields.pop("programme", programme), scores=scores, **fields
        )

    # A: enrolled in 2025, completed in September after all three phases.
    a = enrol(
        "A",
        {"stimulants": 30, "alcohol": 5},
        start_date=D(2025, 3, 1),
        enrolled_on=D(2025, 3, 5),
        phase_days=[D(2025, 3, 5), D(2025, 3, 19), D(2025, 9, 2)],
        status=Status.COMPLETED,
        end_date=D(2025, 9, 30),
    )
    # B: enrolled in June, still in the primary phase; two screenings, the first counts.
    b = enrol(
        "B",
        {"cannabis": 10},
        start_date=D(2025, 6, 1),
        enrolled_on=D(2025, 6, 2),
        phase_days=[D(2025, 6, 2), D(2025, 6, 16)],
        current_phase=primary,
        status=Status.IN_PHASE,
    )
    factories.screening(b, D(2025, 9, 1), {"cannabis": 2})
    # C: screened in November, enrolled in December, no phase yet.
    c = enrol(
        "C",
        {"stimulants": 4},
        start_date=D(2025, 11, 20),
        enrolled_on=D(2025, 12, 1),
        status=Status.ENROLLED,
    )
    factories.screening(c, D(2025, 12, 15), {"stimulants": 35})  # after intake: ignored
    # D: enrolled in 2024, dropped out in February 2025.
    enrol(
        "D",
        {"opioids": 15},
        start_date=D(2024, 10, 1),
        enrolled_on=D(2024, 10, 5),
        status=Status.DROPPED_OUT,
        end_date=D(2025, 2, 10),
    )
    # E: enrolled in 2024, in re-entry at the end of 2025.
    e = enrol(
        "E",
        {"opioids": 20},
        start_date=D(2024, 11, 1),
        enrolled_on=D(2024, 11, 2),
        phase_days=[D(2024, 11, 2), D(2024, 11, 16), D(2025, 6, 1)],
        current_phase=reentry,
        status=Status.IN_PHASE,
    )
    # F: screened in December at low risk, never enrolled.
    enrol("F", {"alcohol": 10}, start_date=D(2025, 12, 20))
    # G: enrolled in April, transferred in January 2026 from the primary phase: still active
    # at the end of 2025.
    g = enrol(
        "G",
        {"sedatives": 12},
        start_date=D(2025, 4, 1),
        enrolled_on=D(2025, 4, 2),
        phase_days=[D(2025, 4, 2), D(2025, 4, 16)],
        status=Status.TRANSFERRED,
        end_date=D(2026, 1, 15),
    )
    # H: released on the last day of the period, before any phase: an ending, no longer
    # active.
    enrol(
        "H",
        {"tobacco": 27},
        start_date=D(2025, 5, 1),
        enrolled_on=D(2025, 5, 1),
        status=Status.RELEASED,
        end_date=D(2025, 12, 31),
    )
    # I: all of it in 2023.
    enrol(
        "I",
        {"opioids": 10},
        start_date=D(2023, 1, 1),
        enrolled_on=D(2023, 1, 5),
        phase_days=[D(2023, 1, 5), D(2023, 1, 19), D(2023, 6, 1)],
        status=Status.COMPLETED,
        end_date=D(2023, 6, 30),
    )
    # J: in the host's other programme.
    j = enrol(
        "J",
        {"opioids": 10},
        programme=medical,
        start_date=D(2025, 2, 1),
        enrolled_on=D(2025, 2, 1),
        phase_days=[D(2025, 2, 1), D(2025, 2, 15), D(2025, 7, 1)],
        status=Status.COMPLETED,
        end_date=D(2025, 8, 1),
    )
    # K: in an unrelated institution's programme, held there.
    enrol(
        "K",
        {"opioids": 10},
        held=semarang,
        programme=elsewhere,
        start_date=D(2025, 2, 1),
        enrolled_on=D(2025, 2, 1),
        status=Status.ENROLLED,
    )

    factories.session(programme, D(2025, 7, 1), {b: "present", g: "present", a: "absent"})
    factories.session(programme, D(2025, 12, 31), {b: "excused", g: "absent"})
    factories.session(programme, D(2024, 12, 1), {e: "present"})
    factories.session(medical, D(2025, 3, 1), {j: "present"}, topic="Medis")
    return {
        "pekalongan": pekalongan,
        "batang": batang,
        "pemalang": pemalang,
        "semarang": semarang,
        "programme": programme,
        "medical": medical,
        "elsewhere": elsewhere,
        "primary": primary,
    }


# --- Figures --------------------------------------------------------------------------------


def test_programme_figures_match_the_hand_count(world):
    with translation.override("en"):
        figures = reports.programme_figures(
            programme=world["programme"], period=YEAR_2025, today=LATER
        )
    assert figures.enrolled == 5  # A, B, C, G, H
    assert [(g.label, g.count) for g in figures.active_by_phase] == [
        ("Not yet in a phase", 1),  # C
        ("Orientasi", 0),
        ("Primer", 2),  # B, G
        ("Re-entry", 1),  # E
    ]
    assert figures.active == 4
    assert {g.key: g.count for g in figures.endings} == {
        "completed": 1,  # A
        "dropped_out": 1,  # D
        "transferred": 0,  # G ends after the period
        "released": 1,  # H, on the last day
        "referred": 0,
    }
    assert figures.completed == 1
    assert figures.dropped_out == 1
    assert figures.ended == 3
    assert figures.completion_rate == Decimal("0.3333")
    assert {g.key: g.count for g in figures.attendance} == {"present": 2, "absent": 2, "excused": 1}
    assert figures.attendance_rate == Decimal("0.5")
    # The same rule as the sessions' own rate.
    assert figures.attendance_rate == programme_attendance_rate(
        world["programme"], YEAR_2025.start, YEAR_2025.end
    )
    # Started in 2025: A high, B moderate (first screening), C moderate (the intake, not the
    # later high one), F low, G moderate, H high (tobacco 27). G was "not screened" when the
    # fixture was written as rows; the services screen everyone at intake (see `world`).
    assert {g.key: g.count for g in figures.intake_risk} == {
        "low": 1,
        "moderate": 3,
        "high": 2,
        reports.UNSCREENED: 0,
    }


def test_phase_at_the_end_of_a_past_period_comes_from_the_phase_rows(world):
    first_half = reports.Period(D(2025, 1, 1), D(2025, 6, 30))
    figures = reports.programme_figures(
        programme=world["programme"], period=first_half, today=LATER
    )
    # On 30 June: A, B and G in primary; E in re-entry since 1 June; H enrolled, no phase row.
    assert figures.in_phase("Primer") == 3
    assert figures.in_phase("Re-entry") == 1
    assert figures.in_phase(reports.NO_PHASE) == 1
    assert figures.enrolled == 4  # A, B, G, H
    assert figures.ended == 1  # D
    assert figures.completion_rate == 0
    assert figures.attendance_rate is None


def test_a_period_ending_today_or_later_falls_back_on_the_current_phase(world):
    """Legacy data, written as a row because the services would not make it: an enrolment
    in a phase without its phase row. Only a period that has not ended falls back on its
    current phase."""
    held = factories.participant(world["pekalongan"])
    factories.raw_enrolment(
        held,
        world["programme"],
        start_date=D(2026, 1, 5),
        enrolled_on=D(2026, 1, 10),
        status=Status.IN_PHASE,
        current_phase=world["primary"],
    )
    this_year = reports.Period.calendar_year(LATER)
    assert this_year == reports.Period(D(2026, 1, 1), D(2026, 12, 31))
    figures = reports.programme_figures(programme=world["programme"], period=this_year, today=LATER)
    # B and E are still active (open phase rows), G left on 15 January 2026, C has no phase;
    # the new one is in primary by its current phase.
    assert figures.in_phase("Primer") == 2  # B and the new one
    assert figures.in_phase("Re-entry") == 1  # E
    assert figures.in_phase(reports.NO_PHASE) == 1  # C
    assert figures.ending(Status.TRANSFERRED) == 1  # G
    past = reports.Period(D(2026, 1, 1), D(2026, 6, 30))
    figures = reports.programme_figures(programme=world["programme"], period=past, today=LATER)
    assert figures.in_phase("Primer") == 1  # B only: the new one has no phase row
    assert figures.in_phase(reports.NO_PHASE) == 2  # C and the new one


def test_intake_risk_of_legacy_rows_falls_back_on_unlinked_screenings(world):
    """Legacy data, written as rows because the services no longer make it: screenings
    linked to no enrolment (before screenings were linked) and an enrolment without any.
    The reports still read them: the latest unlinked screening on or before the intake day
    counts, a later one does not, and without one the enrolment is "not screened"."""
    legacy = factories.programme(world["programme"].agreement, world["pekalongan"])
    screened = factories.participant(world["pekalongan"])
    factories.raw_enrolment(screened, legacy, start_date=D(2025, 11, 20))
    _legacy_screening(screened, D(2025, 10, 1), {"stimulants": 30})  # superseded: high
    _legacy_screening(screened, D(2025, 11, 20), {"stimulants": 4})  # the intake: moderate
    _legacy_screening(screened, D(2025, 12, 15), {"stimulants": 35})  # after intake: ignored
    factories.raw_enrolment(factories.participant(world["pekalongan"]), legacy)
    figures = reports.programme_figures(programme=legacy, period=YEAR_2025, today=LATER)
    assert {g.key: g.count for g in figures.intake_risk} == {
        "low": 0,
        "moderate": 1,
        "high": 0,
        reports.UNSCREENED: 1,
    }


def test_empty_programme_has_zero_counts_and_no_rates(world):
    empty = factories.programme(world["programme"].agreement, world["pekalongan"])
    figures = reports.programme_figures(programme=empty, period=YEAR_2025)
    assert figures.enrolled == figures.active == figures.ended == 0
    assert figures.completion_rate is None and figures.attendance_rate is None
    assert figures.completion_rate_text == "—"


def test_institution_figures_cover_hosted_and_partner_programmes(world):
    result = reports.institution_figures(
        institution=world["pekalongan"], period=YEAR_2025, today=LATER
    )
    # Same launch date: by name.
    assert [line.programme for line in result.programmes] == [world["medical"], world["programme"]]
    lines = {line.programme.pk: line.figures for line in result.programmes}
    assert lines[world["programme"].pk].enrolled == 5
    assert lines[world["medical"].pk].enrolled == 1  # J
    assert lines[world["medical"].pk].completed == 1
    assert lines[world["medical"].pk].attendance_rate == 1
    assert result.total.enrolled == 6
    assert result.total.completed == 2
    assert result.total.ended == 4
    assert result.total.completion_rate == Decimal("0.5")
    assert result.total.attendance_rate == Decimal("0.6")
    assert world["elsewhere"].pk not in lines
    # The partner BNNK runs only the social programme.
    batang = reports.institution_figures(institution=world["batang"], period=YEAR_2025, today=LATER)
    assert [line.programme for line in batang.programmes] == [world["programme"]]


def test_figures_query_count_does_not_grow_with_enrolments(world, django_assert_num_queries):
    programme = world["programme"]
    with django_assert_num_queries(5):
        reports.programme_figures(programme=programme, period=YEAR_2025, today=LATER)
    for _ in range(30):
        person = factories.participant(world["pekalongan"])
        factories.enrolment(
            person,
            programme,
            start_date=D(2025, 2, 1),
            scores={"opioids": 12},
            enrolled_on=D(2025, 2, 2),
            status=Status.ENROLLED,
        )
    with django_assert_num_queries(5):
        figures = reports.programme_figures(programme=programme, period=YEAR_2025, today=LATER)
    assert figures.enrolled == 35


# --- Public suppression rule ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "shown"),
    [
        ((0, 0, 0), (0, 0, 0)),
        ((9, 9, 0), (None, None, 0)),
        ((10, 10, 0), (10, 10, 0)),
        ((11, 0, 11), (11, 0, None)),  # everyone who ended completed: an outcome revealed
        ((25, 12, 11), (None, 12, 11)),  # 2 left without completing: withheld
        ((30, 12, 11), (None, 12, 11)),  # 7 others: withheld too
        ((33, 12, 11), (33, 12, 11)),  # 10 others: shown
        ((12, 10, 2), (None, 10, None)),  # 12 - 10 = 2 would bound the completed
        ((25, 5, 12), (25, None, 12)),  # 25 - 12 = 13 people: no small group
    ],
)
def test_suppress(counts, shown):
    enrolled, active, completed = counts
    cells = reports.suppress(enrolled=enrolled, active=active, completed=completed)
    assert tuple(cell.value for cell in cells) == shown
    for cell, count in zip(cells, counts, strict=True):
        assert cell.small == (0 < count < reports.MIN_PUBLIC_CELL)


# --- Charts ----------------------------------------------------------------------------------


def test_chart_is_accessible_and_escapes_labels():
    chart = charts.bar_chart(
        key="risk", title="Risk <at> intake", bars=[("Low & <b>", 3), ("High", 0)]
    )
    svg = str(chart.svg)
    assert svg.startswith('<svg class="chart"')
    assert 'role="img"' in svg
    assert '<title id="chart-risk-title">Risk &lt;at&gt; intake</title>' in svg
    assert "Low &amp; &lt;b&gt;: 3; High: 0" in svg  # the description names every bar
    assert "<b>" not in svg
    assert "style=" not in svg
    assert "<script" not in svg


# --- Staff pages ----------------------------------------------------------------------------


def _url(name, pk, **query):
    url = reverse(f"rehabilitation:{name}", args=[pk])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def test_report_pages_send_anonymous_users_to_login(client, world):
    for url in [
        _url("programme_report", world["programme"].pk),
        _url("institution_report", world["pekalongan"].pk),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("institution", "roles", "status"),
    [
        ("pekalongan", (Role.VIEWER,), 200),  # aggregates: any staff role of the host
        ("pekalongan", (Role.PROGRAMME,), 200),
        ("batang", (Role.EDITOR,), 200),  # partner
        ("pemalang", (Role.PROGRAMME, Role.ADMIN), 404),  # unrelated to this programme
        ("semarang", (Role.PROGRAMME,), 404),
    ],
)
def test_programme_report_access(english, world, institution, roles, status):
    english.force_login(factories.user(institution=world[institution], roles=roles))
    response = english.get(
        _url("programme_report", world["programme"].pk, start="2025-01-01", end="2025-12-31")
    )
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert "Program Sosial Pekalongan" in page
        assert "<svg" in page and "<title" in page
        assert "Not yet in a phase" in page
        if Role.PROGRAMME in roles:  # may see the records: exact figures
            assert "33,3 %" in page or "33.3 %" in page  # completion rate
            assert 'data-report-mode="exact"' in page
        else:  # 1 completed of 3: protected, withheld (rehabilitation.disclosure)
            assert "33.3 %" not in page
            assert 'data-report-mode="protected"' in page
        # Aggregates only: no names or register numbers.
        for name in "ABCDEFGHIJK":
            assert f"REG-{name}" not in page
        assert "Warga Binaan" not in page
        assert response["Cache-Control"].startswith("max-age=0")


def test_programme_report_defaults_to_this_calendar_year(english, world):
    english.force_login(factories.user(institution=world["pekalongan"], roles=(Role.VIEWER,)))
    response = english.get(_url("programme_report", world["programme"].pk))
    assert response.status_code == 200
    assert response.context["figures"].period == reports.Period.calendar_year()


def test_programme_report_refuses_a_backwards_period_with_a_form_error(english, world):
    english.force_login(factories.user(institution=world["pekalongan"], roles=(Role.VIEWER,)))
    for query in [{"start": "2025-12-31", "end": "2025-01-01"}, {"start": "not-a-date"}]:
        response = english.get(_url("programme_report", world["programme"].pk, **query))
        assert response.status_code == 200
        assert response.context["figures"] is None
        assert 'class="field-error"' in response.content.decode()
    response = english.get(
        _url(
            "programme_report",
            world["programme"].pk,
            start="2025-12-31",
            end="2025-01-01",
            format="xlsx",
        )
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_report_pages_refuse_other_methods_and_formats(client, world):
    client.force_login(factories.user(institution=world["pekalongan"], roles=(Role.VIEWER,)))
    for url in [
        _url("programme_report", world["programme"].pk),
        _url("institution_report", world["pekalongan"].pk),
    ]:
        assert client.post(url).status_code == 405
        assert client.get(url + "?format=pdf").status_code == 404


def test_programme_report_as_xlsx(english, world):
    english.force_login(factories.user(institution=world["batang"], roles=(Role.PROGRAMME,)))
    response = english.get(
        _url(
            "programme_report",
            world["programme"].pk,
            start="2025-01-01",
            end="2025-12-31",
            format="xlsx",
        )
    )
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].startswith(
        'attachment; filename="laporan-program-sosial'
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert sheet["A1"].value == "Program Sosial Pekalongan"
    assert sheet["B2"].value.date() == D(2025, 1, 1)
    assert sheet["C2"].value.date() == D(2025, 12, 31)
    values = {(row[0], row[1]): row[2] for row in sheet.iter_rows(min_row=5, values_only=True)}
    assert values[("Enrolments", "Enrolled in the period")] == 5
    assert values[("Enrolments", "Active at the end of the period")] == 4
    assert values[("Active per phase", "Primer")] == 2
    assert values[("Endings in the period", "Completed")] == 1
    assert values[("Endings in the period", "Completion rate")] == 0.3333
    assert values[("Attendance", "Attendance rate")] == 0.5
    assert values[("ASSIST risk at intake", "High risk")] == 2
    assert values[("ASSIST risk at intake", "Moderate risk")] == 3
    assert values[("ASSIST risk at intake", "No screening recorded")] == 0
    texts = " ".join(str(cell) for row in sheet.iter_rows(values_only=True) for cell in row)
    assert "REG-" not in texts


def test_programme_report_query_count_is_pinned(client, world, django_assert_num_queries):
    user = factories.user(institution=world["pekalongan"], roles=(Role.VIEWER,))
    client.force_login(user)
    url = _url("programme_report", world["programme"].pk, start="2025-01-01", end="2025-12-31")
    # session, user, roles, programme, the five queries of the figures, and the session's
    # save (in a savepoint: three)
    with django_assert_num_queries(12):
        assert client.get(url).status_code == 200
    for _ in range(45):
        person = factories.participant(world["pekalongan"])
        factories.enrolment(
            person,
            world["programme"],
            start_date=D(2025, 2, 1),
            enrolled_on=D(2025, 2, 2),
            status=Status.ENROLLED,
        )
    with django_assert_num_queries(12):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("institution", "roles", "status"),
    [
        ("pekalongan", (Role.VIEWER,), 200),
        ("pekalongan", (Role.EDITOR,), 200),
        ("batang", (Role.PROGRAMME,), 404),  # staff of another institution
        ("semarang", (Role.ADMIN,), 404),
    ],
)
def test_institution_report_access(english, world, institution, roles, status):
    english.force_login(factories.user(institution=world[institution], roles=roles))
    response = english.get(
        _url("institution_report", world["pekalongan"].pk, start="2025-01-01", end="2025-12-31")
    )
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert "Program Sosial Pekalongan" in page
        assert "Program Medis Pemalang" in page
        assert "Program Semarang" not in page
        assert "REG-" not in page


def test_institution_report_unknown_institution_is_404_even_for_a_superuser(client, world):
    client.force_login(factories.user(is_superuser=True, is_staff=True))
    assert client.get(_url("institution_report", world["pekalongan"].pk)).status_code == 200
    assert client.get(_url("institution_report", 999999)).status_code == 404


def test_institution_report_as_xlsx_has_a_line_per_programme(english, world):
    # Exact figures: a role that may see the records (viewers get them protected).
    english.force_login(factories.user(institution=world["pekalongan"], roles=(Role.PROGRAMME,)))
    response = english.get(
        _url(
            "institution_report",
            world["pekalongan"].pk,
            start="2025-01-01",
            end="2025-12-31",
            format="xlsx",
        )
    )
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["Report", "Programmes"]
    lines = list(workbook["Programmes"].iter_rows(min_row=2, values_only=True))
    by_name = {line[0]: line for line in lines}
    assert set(by_name) == {"Program Sosial Pekalongan", "Program Medis Pemalang"}
    social = by_name["Program Sosial Pekalongan"]
    assert social[1] == "Rutan Kelas IIA Pekalongan"
    assert social[2:7] == (5, 4, 1, 1, 3)
    assert social[7] == 0.3333
    total = {(r[0], r[1]): r[2] for r in workbook["Report"].iter_rows(min_row=5, values_only=True)}
    assert total[("Enrolments", "Enrolled in the period")] == 6


def test_institution_report_query_count_is_pinned(client, world, django_assert_num_queries):
    client.force_login(factories.user(institution=world["pekalongan"], roles=(Role.VIEWER,)))
    url = _url("institution_report", world["pekalongan"].pk, start="2025-01-01", end="2025-12-31")
    # session, user, roles, institution, programmes, phases, four of the figures, and the
    # session's save (three)
    with django_assert_num_queries(13):
        assert client.get(url).status_code == 200
    for _ in range(45):
        person = factories.participant(world["pekalongan"])
        factories.enrolment(
            person,
            world["medical"],
            start_date=D(2025, 2, 1),
            enrolled_on=D(2025, 2, 2),
            status=Status.ENROLLED,
        )
    with django_assert_num_queries(13):
        assert client.get(url).status_code == 200
