"""The one disclosure rule (rehabilitation.disclosure) and everywhere a count of people leaves
the server: reports (page, charts, Excel), programme pages, the public statistics.

Attacks tested: a one-day window (small cells), subtraction from totals, differencing two
overlapping periods, a group whose outcome is all one value; and that those who may see the
records get exact figures, logged once per view."""

from __future__ import annotations

import datetime
import io
import re
from fractions import Fraction

import openpyxl
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from institutions.models import Membership
from rehabilitation import disclosure, reports
from rehabilitation.disclosure import MIN_CELL, Sum, suppress_table
from rehabilitation.models import AccessLog, Attendance, Enrolment, Session
from tests import factories

Role = Membership.Role
Status = Enrolment.Status
D = datetime.date
DAY = D(2025, 6, 10)


# --- The rule on random tables -----------------------------------------------------------


def _grid(cells: list[list[int]]):
    """A table with row, column and grand totals, as values and sums."""
    rows, columns = len(cells), len(cells[0])
    values = {(r, c): cells[r][c] for r in range(rows) for c in range(columns)}
    values |= {(r, "T"): sum(cells[r]) for r in range(rows)}
    values |= {("T", c): sum(cells[r][c] for r in range(rows)) for c in range(columns)}
    values[("T", "T")] = sum(map(sum, cells))
    sums = [Sum((r, "T"), tuple((r, c) for c in range(columns))) for r in range(rows)]
    sums += [Sum(("T", c), tuple((r, c) for r in range(rows))) for c in range(columns)]
    sums.append(Sum(("T", "T"), tuple((r, "T") for r in range(rows))))
    sums.append(Sum(("T", "T"), tuple(("T", c) for c in range(columns))))
    return values, sums


def _recoverable(values, sums, cells) -> set:
    """Withheld keys that a reader pins down from the shown ones by linear algebra (an
    independent check, exact over the rationals: a key is pinned down when its unit vector
    reduces to 0 against an echelon form of the sums)."""
    unknown = [key for key, cell in cells.items() if not cell.shown]
    column = {key: index for index, key in enumerate(unknown)}
    echelon: list[tuple[int, list[Fraction]]] = []  # (pivot, row with 1 at the pivot)

    def reduce(row):
        for pivot, other in echelon:
            if row[pivot]:
                factor = row[pivot]
                row = [a - factor * b for a, b in zip(row, other, strict=True)]
        return row

    for sum_ in sums:
        row = [Fraction(0)] * len(unknown)
        for key, sign in ((sum_.total, 1), *((part, -1) for part in sum_.parts)):
            if key in column:
                row[column[key]] += sign
        row = reduce(row)
        pivot = next((index for index, value in enumerate(row) if value), None)
        if pivot is not None:
            echelon.append((pivot, [value / row[pivot] for value in row]))
            echelon.sort(key=lambda item: item[0])
    found = set()
    for key, index in column.items():
        unit = [Fraction(0)] * len(unknown)
        unit[index] = Fraction(1)
        if not any(reduce(unit)):
            found.add(key)
    return found


def _check_grid(values, sums, cells):
    for key, cell in cells.items():
        # No shown count of 1 to 9; a withheld one says truly whether it is under 10.
        assert not (cell.shown and 0 < cell.value < MIN_CELL), key
        if not cell.shown:
            assert cell.small == (values[key] < MIN_CELL)
    for sum_ in sums:
        terms = (sum_.total, *sum_.parts)
        withheld = [key for key in terms if not cells[key].shown]
        # A row or column with a withheld cell has two of them (or its total withheld).
        assert len(withheld) != 1, (sum_, withheld)
        if cells[sum_.total].shown:
            rest = values[sum_.total] - sum(cells[p].value for p in sum_.parts if cells[p].shown)
            assert not 0 < rest < MIN_CELL, (sum_, rest)
    assert not _recoverable(values, sums, cells)


@hypothesis_settings(max_examples=400, deadline=None)
@given(
    st.integers(min_value=1, max_value=4).flatmap(
        lambda columns: st.lists(
            st.lists(
                st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 40)),
                min_size=columns,
                max_size=columns,
            ),
            min_size=1,
            max_size=4,
        )
    )
)
def test_random_tables_show_no_small_cell_and_none_can_be_worked_out(cells):
    values, sums = _grid(cells)
    _check_grid(values, sums, suppress_table(values, sums))


@hypothesis_settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 40)), min_size=2, max_size=5)
)
def test_a_partition_by_outcome_never_tells_everyones_outcome(parts):
    values = {("part", i): v for i, v in enumerate(parts)} | {"total": sum(parts)}
    sums = [Sum("total", tuple(("part", i) for i in range(len(parts))), attribute=True)]
    cells = suppress_table(values, sums)
    nonzero = [i for i, value in enumerate(parts) if value]
    if len(nonzero) == 1:
        # The one non-zero group and another one withheld: nobody can tell the others are 0.
        assert not cells[("part", nonzero[0])].shown
        assert sum(not cells[("part", i)].shown for i in range(len(parts))) >= 2
    _check_grid(values, sums, cells)


def test_exact_tables_are_untouched():
    values, sums = _grid([[1, 2], [30, 0]])
    cells = disclosure.table(values, sums, exact=True)
    assert {key: cell.value for key, cell in cells.items()} == values


def test_protected_periods_are_whole_calendar_years():
    assert disclosure.protected_period(D(2025, 3, 1), D(2025, 3, 1)) == (
        D(2025, 1, 1),
        D(2025, 12, 31),
    )
    assert disclosure.protected_period(D(2025, 12, 31), D(2026, 4, 1)) == (
        D(2025, 1, 1),
        D(2025, 12, 31),
    )


# --- The reports -------------------------------------------------------------------------


@pytest.fixture
def world(db):
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    pks = factories.agreement(bnnk, rutan, status="signed")
    programme = factories.programme(pks, rutan, bnnk, name="Program Satu Hari")
    other = factories.programme(pks, rutan, name="Program Besar")
    # One person enrolled on DAY, started on DAY, screened at high risk that day.
    one = factories.enrolment(
        factories.participant(rutan, register_number="REG-ONE"),
        programme,
        start_date=DAY,
        enrolled_on=DAY,
        status=Status.DROPPED_OUT,
        end_date=DAY,
    )
    session = Session.objects.create(programme=programme, date=DAY, topic="Kelompok")
    Attendance.objects.create(session=session, enrolment=one, status="absent")
    # Twelve who all completed in 2025 in the other programme, and 11 active ones.
    for n in range(12):
        factories.enrolment(
            factories.participant(rutan),
            other,
            start_date=D(2025, 2, 1),
            enrolled_on=D(2025, 2, 1),
            status=Status.COMPLETED,
            end_date=D(2025, 9, 1 + n),
        )
    for _ in range(11):
        factories.enrolment(
            factories.participant(rutan),
            other,
            start_date=D(2025, 3, 1),
            enrolled_on=D(2025, 3, 1),
            status=Status.ENROLLED,
        )
    return {"rutan": rutan, "bnnk": bnnk, "programme": programme, "other": other}


def _login(client, world, *roles, institution="rutan"):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    user = factories.user(institution=world[institution], roles=roles)
    client.force_login(user)
    return user


def _url(name, pk, **query):
    url = reverse(f"rehabilitation:{name}", args=[pk])
    return url + "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else url


def _all_cells(figures: reports.ShownFigures):
    cells = {"enrolled": figures.enrolled, "active": figures.active, "ended": figures.ended}
    for kind in ("active_by_phase", "endings", "attendance", "intake_risk"):
        cells |= {(kind, line.key): line.cell for line in getattr(figures, kind)}
    return cells


def _assert_protected(figures: reports.ShownFigures):
    """No shown 1 to 9; each breakdown with a withheld cell has two, or its total withheld."""
    assert not figures.exact
    for cell in _all_cells(figures).values():
        assert not (cell.shown and 0 < cell.value < MIN_CELL)
    for total, kind in [
        (figures.active, "active_by_phase"),
        (figures.ended, "endings"),
        (None, "attendance"),  # the totals of these are never shown
        (None, "intake_risk"),
    ]:
        lines = getattr(figures, kind)
        withheld = sum(not line.cell.shown for line in lines)
        if total is not None and total.shown:
            assert withheld != 1, kind
        if kind == "active_by_phase":
            continue  # a phase is where one is, not an outcome
        nonzero = [line for line in lines if line.cell.shown and line.cell.value]
        zeros = [line for line in lines if line.cell.shown and line.cell.value == 0]
        # Never "all in one group, 0 in the others" (the outcome of everyone).
        assert not (withheld == 1 and len(zeros) == len(lines) - 1), kind
        assert not (len(nonzero) == 1 and len(zeros) == len(lines) - 1), kind


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_a_one_day_window_shows_no_small_cell_to_a_role_without_the_records(client, world, role):
    _login(client, world, role)
    response = client.get(
        _url("programme_report", world["programme"].pk, start="2025-06-10", end="2025-06-10")
    )
    assert response.status_code == 200
    figures = response.context["figures"]
    _assert_protected(figures)
    # The one person's intake band, outcome and attendance are not shown.
    assert not figures.enrolled.shown
    assert figures.completion_rate is None and figures.completion_rate_text == "withheld"
    assert figures.attendance_rate is None and figures.attendance_rate_text == "withheld"
    page = response.content.decode()
    assert 'data-report-mode="protected"' in page
    assert "whole calendar years" in page
    assert "REG-ONE" not in page


def test_the_institution_report_withholds_across_programmes_and_totals(client, world):
    _login(client, world, Role.VIEWER)
    response = client.get(_url("institution_report", world["rutan"].pk, start="2025-01-01"))
    result = response.context["result"]
    _assert_protected(result.total)
    lines = {line.programme.pk: line.figures for line in result.programmes}
    small, big = lines[world["programme"].pk], lines[world["other"].pk]
    _assert_protected(small)
    _assert_protected(big)
    # Column sums: the total of a figure minus the other programme's never gives the small one.
    for name in ("enrolled", "active", "ended", "completed", "dropped_out"):
        column = [getattr(small, name), getattr(big, name), getattr(result.total, name)]
        assert sum(not cell.shown for cell in column) != 1, name
    # 12 of 12 endings of the big programme are completions: not shown as such.
    assert not big.completed.shown
    assert big.completion_rate_text == "withheld"


def test_two_overlapping_periods_cannot_be_differenced(client, world):
    _login(client, world, Role.VIEWER)
    url = world["programme"].pk
    short = client.get(_url("programme_report", url, start="2025-06-01", end="2025-06-09"))
    long = client.get(_url("programme_report", url, start="2025-06-01", end="2025-06-10"))
    # Both are snapped to the whole year 2025, and say so: the difference is nothing.
    assert short.context["figures"].period == reports.Period(D(2025, 1, 1), D(2025, 12, 31))
    assert short.context["figures"] == long.context["figures"]
    assert "Your role sees whole calendar years only" in long.content.decode()


def test_a_group_all_of_one_outcome_is_not_revealed(world):
    figures = reports.shown_figures(
        reports.programme_figures(
            programme=world["other"], period=reports.Period(D(2025, 1, 1), D(2025, 12, 31))
        ),
        exact=False,
    )
    assert figures.ended.value is None or not figures.completed.shown
    assert not figures.completed.shown
    shown_zero = [
        line for line in figures.endings if line.key != Status.COMPLETED and line.cell.shown
    ]
    assert len(shown_zero) < len(figures.endings) - 1  # another outcome withheld with it
    _assert_protected(figures)


def test_the_excel_file_carries_the_same_withheld_cells(client, world):
    _login(client, world, Role.VIEWER)
    query = {"start": "2025-06-10", "end": "2025-06-10"}
    page = client.get(_url("programme_report", world["programme"].pk, **query))
    xlsx = client.get(_url("programme_report", world["programme"].pk, format="xlsx", **query))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert "Protected figures" in sheet["D2"].value
    rows = {(r[0], r[1]): r[2] for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]}
    figures = page.context["figures"]
    assert rows[("Enrolments", "Enrolled in the period")] == figures.enrolled.text == "< 10"
    for line in figures.intake_risk:
        expected = line.cell.value if line.cell.shown else line.cell.text
        assert rows[("ASSIST risk at intake", line.label)] == expected
    for value in rows.values():
        assert not (isinstance(value, int) and 0 < value < MIN_CELL)
    assert rows[("Endings in the period", "Completion rate")] == "withheld"
    # The institution's Excel file too, its programmes sheet included.
    _url_inst = _url("institution_report", world["rutan"].pk, format="xlsx", start="2025-01-01")
    workbook = openpyxl.load_workbook(io.BytesIO(client.get(_url_inst).content))
    for row in workbook["Programmes"].iter_rows(min_row=2, values_only=True):
        for value in row[2:7]:
            assert not (isinstance(value, int) and 0 < value < MIN_CELL), row


def test_charts_draw_no_withheld_value(client, world):
    _login(client, world, Role.VIEWER)
    response = client.get(
        _url("programme_report", world["programme"].pk, start="2025-06-10", end="2025-06-10")
    )
    for chart in response.context["charts"]:
        svg = str(chart.svg)
        for bar in chart.bars:
            if not bar.shown:
                assert escape(f"{bar.label}: {bar.text}") in svg
                assert bar.text in ("< 10", "withheld")
        # No bar length: a withheld bar is drawn with width 0, a shown one from shown values.
        top = max((bar.value for bar in chart.bars if bar.shown), default=0)
        widths = [int(w) for w in re.findall(r'<rect x="\d+" y="\d+" width="(\d+)"', svg)]
        for bar, width in zip(chart.bars, widths, strict=True):
            assert (width == 0) if not bar.shown or not top else width > 0 or bar.value == 0
        assert ": 1;" not in svg and ": 1<" not in svg


@pytest.mark.parametrize(
    ("institution", "roles"), [("rutan", (Role.PROGRAMME,)), ("bnnk", (Role.ADMIN,))]
)
def test_roles_with_the_records_see_exact_figures_and_each_view_is_logged(
    client, world, institution, roles
):
    user = _login(client, world, *roles, institution=institution)
    before = AccessLog.objects.count()
    response = client.get(
        _url("programme_report", world["programme"].pk, start="2025-06-10", end="2025-06-10")
    )
    figures = response.context["figures"]
    assert figures.exact and figures.enrolled.value == 1
    assert figures.period == reports.Period(DAY, DAY)  # no snapping
    assert 'data-report-mode="exact"' in response.content.decode()
    [entry] = AccessLog.objects.filter(pk__gt=0).order_by("-pk")[
        : AccessLog.objects.count() - before
    ]
    assert entry.user == user and entry.participant is None
    assert entry.institution == world["rutan"]
    assert f"programme {world['programme'].pk}" in entry.detail and "2025-06-10" in entry.detail
    # The Excel file: exact, logged once more.
    xlsx = client.get(
        _url(
            "programme_report",
            world["programme"].pk,
            start="2025-06-10",
            end="2025-06-10",
            format="xlsx",
        )
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = {(r[0], r[1]): r[2] for r in sheet.iter_rows(min_row=5, values_only=True) if r[0]}
    assert rows[("Enrolments", "Enrolled in the period")] == 1
    assert AccessLog.objects.count() == before + 2


def test_the_institution_report_is_exact_and_logged_for_its_programme_staff(client, world):
    _login(client, world, Role.PROGRAMME)
    before = AccessLog.objects.count()
    response = client.get(
        _url("institution_report", world["rutan"].pk, start="2025-06-10", end="2025-06-10")
    )
    assert response.context["figures"].exact
    assert response.context["figures"].enrolled.value == 1
    assert AccessLog.objects.count() == before + 1


def test_protected_reports_write_nothing_to_the_access_log(client, world):
    _login(client, world, Role.VIEWER)
    before = AccessLog.objects.count()
    client.get(_url("programme_report", world["programme"].pk))
    client.get(_url("institution_report", world["rutan"].pk))
    assert AccessLog.objects.count() == before


# --- Programme pages ---------------------------------------------------------------------


def test_programme_pages_protect_counts_for_viewers_and_not_for_programme_staff(client, world):
    programme = world["programme"]
    programme.capacity = 20
    programme.save()
    _login(client, world, Role.VIEWER)
    response = client.get(reverse("rehabilitation:programme", args=[programme.pk]))
    counts = {group["status"]: group["count"] for group in response.context["by_status"]}
    assert not counts[Status.DROPPED_OUT].shown
    assert not response.context["total"].shown
    assert response.context["active"].value == 0  # nobody active: 0 is shown, and the free
    assert response.context["free"] == 20
    listing = client.get(reverse("rehabilitation:programmes"))
    active = {p.pk: p.active for p in listing.context["programmes"]}
    assert active[world["other"].pk].value == 11
    _login(client, world, Role.PROGRAMME)
    response = client.get(reverse("rehabilitation:programme", args=[programme.pk]))
    counts = {group["status"]: group["count"] for group in response.context["by_status"]}
    assert counts[Status.DROPPED_OUT].value == 1
    assert response.context["total"].value == 1
    assert response.context["free"] == 20


def test_free_places_are_not_shown_beside_a_withheld_count(client, world):
    programme = world["programme"]
    programme.capacity = 20
    programme.save()
    for _ in range(3):
        factories.enrolment(
            factories.participant(world["rutan"]),
            programme,
            start_date=DAY,
            enrolled_on=DAY,
            status=Status.ENROLLED,
        )
    _login(client, world, Role.VIEWER)
    response = client.get(reverse("rehabilitation:programme", args=[programme.pk]))
    assert not response.context["active"].shown
    assert response.context["free"] is None  # 20 minus it would give it away
    page = response.content.decode()
    assert "&lt; 10 of 20 taken" in page and "free" not in page.split("taken")[1][:20]


def test_the_protection_is_explained_in_indonesian(client, world):
    client.force_login(factories.user(institution=world["rutan"], roles=(Role.VIEWER,)))
    page = client.get(
        _url("programme_report", world["programme"].pk, start="2025-06-10", end="2025-06-10")
    ).content.decode()
    assert "Angka terlindungi" in page
    assert "Peran Anda hanya melihat satu tahun kalender penuh" in page
    assert "dirahasiakan" in page
    detail = client.get(reverse("rehabilitation:programme", args=[world["programme"].pk]))
    assert "Jumlah dilindungi" in detail.content.decode()


# --- An institution's report against its programmes' own ---------------------------------

_COUNT = st.one_of(st.just(0), st.integers(1, 9), st.integers(10, 30))
_PHASES = ("Orientasi", "Primer")


def _figures(draw_counts) -> reports.Figures:
    phases, endings, marks, risks, enrolled = draw_counts
    return reports.Figures(
        period=reports.Period(D(2025, 1, 1), D(2025, 12, 31)),
        enrolled=enrolled,
        active_by_phase=tuple(
            reports.Group(key, key or "none", n)
            for key, n in zip((reports.NO_PHASE, *_PHASES), phases, strict=True)
        ),
        endings=tuple(
            reports.Group(status, status, n)
            for status, n in zip(Enrolment.FINAL_STATUSES, endings, strict=True)
        ),
        attendance=tuple(
            reports.Group(status, status, n)
            for status, n in zip(Attendance.Status.values, marks, strict=True)
        ),
        intake_risk=tuple(
            reports.Group(key, key, n)
            for key, n in zip(("low", "moderate", "high", reports.UNSCREENED), risks, strict=True)
        ),
    )


_PROGRAMME_COUNTS = st.tuples(
    st.lists(_COUNT, min_size=3, max_size=3),
    st.lists(_COUNT, min_size=5, max_size=5),
    st.lists(_COUNT, min_size=3, max_size=3),
    st.lists(_COUNT, min_size=4, max_size=4),
    _COUNT,
)


def _added(counts):
    return tuple(
        [sum(column) for column in zip(*parts, strict=True)]
        if isinstance(parts[0], list)
        else sum(parts)
        for parts in zip(*counts, strict=True)
    )


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(_PROGRAMME_COUNTS, min_size=1, max_size=3))
# Programme 3's withheld completions (9) came from its ended (64) less its shown endings, with
# the released and referred totals (17 each) less programme 2's (its ended 51 less its shown
# ones): no term of programme 3's own sums could be withheld, a total further away had to be.
@example(
    [
        ([0, 0, 0], [2, 0, 0, 0, 0], [0, 28, 6], [7, 4, 0, 2], 8),
        ([6, 13, 0], [0, 15, 19, 9, 8], [0, 0, 13], [15, 1, 2, 19], 0),
        ([26, 0, 0], [9, 24, 14, 8, 9], [0, 0, 0], [0, 23, 4, 13], 0),
    ]
)
def test_an_institution_report_never_undoes_its_programmes_protection(counts):
    from institutions.models import Institution
    from rehabilitation.models import Programme

    programmes = [Programme(pk=n + 1, name=f"P{n}") for n in range(len(counts))]
    lines = tuple(
        reports.ProgrammeFigures(programme, _figures(c))
        for programme, c in zip(programmes, counts, strict=True)
    )
    result = reports.InstitutionFigures(Institution(pk=1), _figures(_added(counts)), lines)
    shown = reports.shown_institution(result, exact=False)
    for line, shown_line in zip(lines, shown.programmes, strict=True):
        # The same cells as the programme's own report.
        assert shown_line.figures == reports.shown_figures(line.figures, exact=False)
    for figures in (shown.total, *(line.figures for line in shown.programmes)):
        for cell in _all_cells(figures).values():
            assert not (cell.shown and 0 < cell.value < MIN_CELL)
    # No withheld cell of a programme (nor a small hidden group) can be worked out from the
    # whole institution report: an independent rank check over all its sums.
    values, sums = reports._table("total", result.total, False)
    for line in lines:
        more_values, more_sums = reports._table(line.programme.pk, line.figures, False)
        values |= more_values
        sums += more_sums
    measures = {key[1:] for key in values if key[0] == "total"} - {("marks",), ("started",)}
    for measure in measures:
        sums.append(Sum(("total", *measure), tuple((p.pk, *measure) for p in programmes)))
    cells = {}
    for scope, figures in [
        ("total", shown.total),
        *(
            (p.pk, shown_line.figures)
            for p, shown_line in zip(programmes, shown.programmes, strict=True)
        ),
    ]:
        cells |= {
            (scope, "enrolled"): figures.enrolled,
            (scope, "active"): figures.active,
            (scope, "ended"): figures.ended,
        }
        for kind, attr in [
            ("phase", "active_by_phase"),
            ("ending", "endings"),
            ("attendance", "attendance"),
            ("risk", "intake_risk"),
        ]:
            cells |= {(scope, kind, line.key): line.cell for line in getattr(figures, attr)}
        for hidden in ("marks", "started"):
            value = values[(scope, hidden)]
            cells[(scope, hidden)] = disclosure.Cell(None, small=value < MIN_CELL)
    found = _recoverable(values, sums, cells)
    leaks = {
        key
        for key in found
        if 0 < values[key] < MIN_CELL or (key[0] != "total" and key[1] not in ("marks", "started"))
    }
    assert not leaks
