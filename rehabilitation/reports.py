"""The figures of the rehabilitation reports: per programme and per institution, for a period.

Aggregates only: nothing here returns a name, a register number or a participant id. The
functions take querysets (or a programme or an institution) and dates and return frozen
dataclasses, so that the staff page, its charts, the Excel file and the tests read the same
numbers.

The figures, for a period from `start` to `end` (both days included):

- enrolled: enrolments whose `enrolled_on` falls in the period;
- active per phase, at the end of the period: enrolments enrolled on or before `end` that had
  not ended by then (an enrolment ending on `end` no longer counts), placed in the phase whose
  `EnrolmentPhase` row covers `end` (the latest-started one when two do). For an enrolment
  still active today without such a row, a period ending today or later uses its
  `current_phase`; otherwise it counts as "not yet in a phase";
- endings: enrolments that reached a final status with an `end_date` in the period, per status;
- completion rate: completed / all endings in the period;
- attendance rate: present / (present + absent) over sessions dated in the period ("excused"
  counts in neither). The marks are counted here in one query grouped by programme (so the
  institution report needs no query per programme); the rate follows the sessions' one rule,
  `services.sessions.rate`, and equals `programme_attendance_rate(programme, start, end)`;
- ASSIST risk at intake: for each enrolment started (`start_date`) in the period, the highest
  band of its first screening (the earliest linked to the enrolment; without one, the
  participant's latest unlinked screening on or before the start date).

What a reader gets of them is `Shown...`: exact for those who may see the participants'
records, protected by the one disclosure rule (`rehabilitation.disclosure`) for everyone else,
the public statistics (`public_counts`) included. The page, its charts and the Excel file all
read the shown figures, so that each carries the same withheld cells.
"""

from __future__ import annotations

import datetime
import functools
import io
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from institutions.models import Institution
from institutions.spreadsheets import text_row

from . import disclosure
from .assist import Risk, highest
from .disclosure import Cell, Sum
from .models import (
    Attendance,
    Enrolment,
    EnrolmentPhase,
    Phase,
    Programme,
    Screening,
)
from .services.sessions import rate

Status = Enrolment.Status

#: Key of the "active, but in no recorded phase" group of `Figures.active_by_phase`.
NO_PHASE = ""
#: Key of the "no screening found" group of `Figures.intake_risk`.
UNSCREENED = "unscreened"
#: Groups smaller than this are not shown on public pages (the one rule's threshold).
MIN_PUBLIC_CELL = disclosure.MIN_CELL


@dataclass(frozen=True, slots=True)
class Period:
    """A span of days, both ends included."""

    start: datetime.date
    end: datetime.date

    @classmethod
    def calendar_year(cls, day: datetime.date | None = None) -> Period:
        """The calendar year of `day` (today by default): the reports' default period."""
        year = (day or timezone.localdate()).year
        return cls(datetime.date(year, 1, 1), datetime.date(year, 12, 31))

    def __contains__(self, day: datetime.date | None) -> bool:
        return day is not None and self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class Group:
    """One group of a figure: a key for code and tests, a label for people, a count."""

    key: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Figures:
    """The report figures of a set of enrolments for a period."""

    period: Period
    enrolled: int
    active_by_phase: tuple[Group, ...]
    endings: tuple[Group, ...]
    attendance: tuple[Group, ...]
    intake_risk: tuple[Group, ...]

    @staticmethod
    def _get(groups: Iterable[Group], key: str) -> int:
        return sum(group.count for group in groups if group.key == key)

    def ending(self, status: str) -> int:
        return self._get(self.endings, status)

    def attended(self, status: str) -> int:
        return self._get(self.attendance, status)

    def risk(self, key: str) -> int:
        return self._get(self.intake_risk, key)

    def in_phase(self, key: str) -> int:
        return self._get(self.active_by_phase, key)

    @property
    def active(self) -> int:
        return sum(group.count for group in self.active_by_phase)

    @property
    def completed(self) -> int:
        return self.ending(Status.COMPLETED)

    @property
    def dropped_out(self) -> int:
        return self.ending(Status.DROPPED_OUT)

    @property
    def ended(self) -> int:
        return sum(group.count for group in self.endings)

    @property
    def completion_rate(self) -> Decimal | None:
        """Completed / all that ended in the period; None when none ended. (The sessions'
        `rate(a, b)` is a / (a + b), rounded the same way as the attendance rate.)"""
        return rate(self.completed, self.ended - self.completed)

    @property
    def attendance_rate(self) -> Decimal | None:
        """Present / (present + absent), by the sessions' one rule; None when no attendance
        was recorded."""
        return rate(
            self.attended(Attendance.Status.PRESENT), self.attended(Attendance.Status.ABSENT)
        )

    @property
    def completion_rate_text(self) -> str:
        return percent(self.completion_rate)

    @property
    def attendance_rate_text(self) -> str:
        return percent(self.attendance_rate)


@dataclass(frozen=True, slots=True)
class ProgrammeFigures:
    """One programme's line in an institution report."""

    programme: Programme
    figures: Figures


@dataclass(frozen=True, slots=True)
class InstitutionFigures:
    """An institution report: the figures of all its programmes together, and each one's."""

    institution: Institution
    total: Figures
    programmes: tuple[ProgrammeFigures, ...] = field(default=())


def percent(fraction: Decimal | None) -> str:
    """A rate as a percentage with one decimal in the active language, or a dash."""
    if fraction is None:
        return "—"
    return f"{formats.number_format(fraction * 100, 1)} %"


# --- Collecting the facts ------------------------------------------------------------------


@dataclass(slots=True)
class _Facts:
    """What the figures need to know of one enrolment for the period."""

    programme_id: int
    enrolled_in_period: bool = False
    #: None: not active at the end of the period; otherwise the phase name (NO_PHASE: none).
    active_phase: str | None = None
    #: The final status reached in the period, if any.
    ending: str | None = None
    #: Started in the period: the intake band (a Risk value or UNSCREENED); else None.
    intake: str | None = None


def _active_at(row: Mapping, day: datetime.date) -> bool:
    """Whether an enrolment was taking a place in its programme at the end of `day`."""
    if row["enrolled_on"] is None or row["enrolled_on"] > day:
        return False
    if row["status"] in Enrolment.ACTIVE_STATUSES:
        return row["end_date"] is None or row["end_date"] > day
    if row["status"] in Enrolment.FINAL_STATUSES:
        # An ending without a date cannot be placed in time: not counted as active.
        return row["end_date"] is not None and row["end_date"] > day
    return False


def _phases_at(enrolments: QuerySet[Enrolment], day: datetime.date) -> dict[int, str]:
    """The phase name of each enrolment on `day`, from the rows covering that day."""
    covering = (
        EnrolmentPhase.objects.filter(enrolment__in=enrolments.values("pk"), start_date__lte=day)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))
        .order_by("enrolment_id", "start_date", "pk")
        .values_list("enrolment_id", "phase__name")
    )
    # Ordered by start: the latest-started row of each enrolment wins.
    return dict(covering)


def _intake_bands(started: QuerySet[Enrolment], rows: Sequence[Mapping]) -> dict[int, str]:
    """The highest ASSIST band of each started enrolment's intake screening (or UNSCREENED)."""
    found = (
        Screening.objects.filter(
            Q(enrolment__in=started.values("pk"))
            | Q(enrolment__isnull=True, participant__in=started.values("participant_id"))
        )
        .order_by()
        .values_list("pk", "enrolment_id", "participant_id", "date", "scores__risk")
    )
    screenings: dict[int, tuple[int | None, int, datetime.date]] = {}
    risks: dict[int, list[Risk]] = defaultdict(list)
    for pk, enrolment_id, participant_id, date, risk in found:
        screenings[pk] = (enrolment_id, participant_id, date)
        if risk:
            risks[pk].append(Risk(risk))
    linked: dict[int, list[tuple[datetime.date, int]]] = defaultdict(list)
    unlinked: dict[int, list[tuple[datetime.date, int]]] = defaultdict(list)
    for pk, (linked_to, participant_id, date) in screenings.items():
        if linked_to is None:
            unlinked[participant_id].append((date, pk))
        else:
            linked[linked_to].append((date, pk))
    bands: dict[int, str] = {}
    for row in rows:
        if own := linked.get(row["pk"]):
            _date, screening = min(own)
        else:
            before = [
                item
                for item in unlinked.get(row["participant_id"], ())
                if item[0] <= row["start_date"]
            ]
            if not before:
                bands[row["pk"]] = UNSCREENED
                continue
            _date, screening = max(before)
        band = highest(risks.get(screening, []))
        bands[row["pk"]] = band.value if band else UNSCREENED
    return bands


def _collect(enrolments: QuerySet[Enrolment], period: Period, today: datetime.date) -> list[_Facts]:
    """The facts of every enrolment that touches the period, in four queries."""
    rows = list(
        enrolments.filter(start_date__lte=period.end)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=period.start))
        .order_by()
        .values(
            "pk",
            "participant_id",
            "programme_id",
            "status",
            "start_date",
            "enrolled_on",
            "end_date",
            "current_phase__name",
        )
    )
    phases = _phases_at(enrolments, period.end)
    started = [row for row in rows if row["start_date"] in period]
    bands = (
        _intake_bands(
            enrolments.filter(start_date__gte=period.start, start_date__lte=period.end), started
        )
        if started
        else {}
    )
    facts = []
    for row in rows:
        fact = _Facts(programme_id=row["programme_id"])
        fact.enrolled_in_period = row["enrolled_on"] in period
        if _active_at(row, period.end):
            phase = phases.get(row["pk"])
            if phase is None and row["status"] in Enrolment.ACTIVE_STATUSES and period.end >= today:
                phase = row["current_phase__name"]
            fact.active_phase = phase or NO_PHASE
        if row["status"] in Enrolment.FINAL_STATUSES and row["end_date"] in period:
            fact.ending = row["status"]
        fact.intake = bands.get(row["pk"])
        facts.append(fact)
    return facts


def _attendance(enrolments: QuerySet[Enrolment], period: Period) -> dict[int, Counter[str]]:
    """Attendance marks per programme over the sessions dated in the period."""
    marks = (
        Attendance.objects.filter(
            enrolment__in=enrolments.values("pk"),
            session__date__gte=period.start,
            session__date__lte=period.end,
        )
        .order_by()
        .values_list("enrolment__programme_id", "status")
        .annotate(n=Count("pk"))
    )
    by_programme: dict[int, Counter[str]] = defaultdict(Counter)
    for programme_id, status, n in marks:
        by_programme[programme_id][status] += n
    return by_programme


def _summarise(
    facts: Iterable[_Facts],
    attendance: Counter[str],
    period: Period,
    phase_names: Sequence[str],
) -> Figures:
    facts = list(facts)
    in_phase = Counter(fact.active_phase for fact in facts if fact.active_phase is not None)
    names = list(dict.fromkeys([*phase_names, *sorted(k for k in in_phase if k != NO_PHASE)]))
    active = [Group(name, name, in_phase[name]) for name in names]
    if in_phase[NO_PHASE]:
        active.insert(0, Group(NO_PHASE, _("Not yet in a phase"), in_phase[NO_PHASE]))
    endings = Counter(fact.ending for fact in facts if fact.ending)
    intake = Counter(fact.intake for fact in facts if fact.intake)
    return Figures(
        period=period,
        enrolled=sum(fact.enrolled_in_period for fact in facts),
        active_by_phase=tuple(active),
        endings=tuple(
            Group(status, str(Status(status).label), endings[status])
            for status in Enrolment.FINAL_STATUSES
        ),
        attendance=tuple(
            Group(status, str(label), attendance[status])
            for status, label in Attendance.Status.choices
        ),
        intake_risk=(
            *(Group(risk, str(label), intake[risk]) for risk, label in Risk.choices),
            Group(UNSCREENED, _("No screening recorded"), intake[UNSCREENED]),
        ),
    )


def _phase_names(phases: Iterable[Phase]) -> list[str]:
    """Phase names in programme order, each once (institution reports merge equal names)."""
    ordered = sorted(phases, key=lambda phase: (phase.order, phase.name))
    return list(dict.fromkeys(phase.name for phase in ordered))


# --- The figures -------------------------------------------------------------------------


def compute_figures(
    *,
    enrolments: QuerySet[Enrolment],
    period: Period,
    phases: Iterable[Phase] = (),
    today: datetime.date | None = None,
) -> Figures:
    """The figures of `enrolments` for `period`; `phases` are listed even when empty."""
    today = today or timezone.localdate()
    attendance: Counter[str] = Counter()
    for counts in _attendance(enrolments, period).values():
        attendance.update(counts)
    return _summarise(_collect(enrolments, period, today), attendance, period, _phase_names(phases))


def programme_figures(
    *, programme: Programme, period: Period, today: datetime.date | None = None
) -> Figures:
    """The report of one programme for `period`."""
    return compute_figures(
        enrolments=Enrolment.objects.filter(programme=programme),
        period=period,
        phases=programme.phases.order_by("order"),
        today=today,
    )


def institution_programmes(institution: Institution | int) -> QuerySet[Programme]:
    """The programmes an institution runs: those it hosts and those it is a partner of."""
    return (
        Programme.objects.filter(Q(host=institution) | Q(partners=institution))
        .distinct()
        .order_by("-launch_date", "name")
    )


def institution_figures(
    *, institution: Institution, period: Period, today: datetime.date | None = None
) -> InstitutionFigures:
    """The report of an institution's programmes for `period`: all together and each one."""
    today = today or timezone.localdate()
    programmes = list(
        institution_programmes(institution)
        .select_related("host")
        .prefetch_related(Prefetch("phases", queryset=Phase.objects.order_by("order")))
    )
    enrolments = Enrolment.objects.filter(programme__in=[p.pk for p in programmes])
    facts = _collect(enrolments, period, today) if programmes else []
    attendance = _attendance(enrolments, period) if programmes else {}
    all_phases = [phase for programme in programmes for phase in programme.phases.all()]
    total_attendance: Counter[str] = Counter()
    for counts in attendance.values():
        total_attendance.update(counts)
    return InstitutionFigures(
        institution=institution,
        total=_summarise(facts, total_attendance, period, _phase_names(all_phases)),
        programmes=tuple(
            ProgrammeFigures(
                programme,
                _summarise(
                    (fact for fact in facts if fact.programme_id == programme.pk),
                    attendance.get(programme.pk, Counter()),
                    period,
                    _phase_names(programme.phases.all()),
                ),
            )
            for programme in programmes
        ),
    )


# --- What a reader is shown --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One group of a shown figure: its key, its label and its count as shown."""

    key: str
    label: str
    cell: Cell


@dataclass(frozen=True, slots=True)
class ShownFigures:
    """The figures of a report as its reader sees them: exact (`exact`, for those who may see
    the records) or protected, with rates only where both their counts are shown."""

    period: Period
    exact: bool
    enrolled: Cell
    active: Cell
    ended: Cell
    active_by_phase: tuple[Line, ...]
    endings: tuple[Line, ...]
    attendance: tuple[Line, ...]
    intake_risk: tuple[Line, ...]
    completion_rate: Decimal | None
    attendance_rate: Decimal | None
    completion_rate_withheld: bool = False
    attendance_rate_withheld: bool = False

    def _cell(self, lines: Iterable[Line], key: str) -> Cell:
        return next((line.cell for line in lines if line.key == key), Cell(0))

    @property
    def completed(self) -> Cell:
        return self._cell(self.endings, Status.COMPLETED)

    @property
    def dropped_out(self) -> Cell:
        return self._cell(self.endings, Status.DROPPED_OUT)

    @staticmethod
    def _rate_text(rate: Decimal | None, withheld: bool) -> str:
        return _("withheld") if withheld else percent(rate)

    @property
    def completion_rate_text(self) -> str:
        return self._rate_text(self.completion_rate, self.completion_rate_withheld)

    @property
    def attendance_rate_text(self) -> str:
        return self._rate_text(self.attendance_rate, self.attendance_rate_withheld)


@dataclass(frozen=True, slots=True)
class ShownProgramme:
    """One programme's line of an institution report, as shown."""

    programme: Programme
    figures: ShownFigures


@dataclass(frozen=True, slots=True)
class ShownInstitution:
    """An institution report as shown: all programmes together and each one."""

    institution: Institution
    total: ShownFigures
    programmes: tuple[ShownProgramme, ...] = field(default=())


def _groups(figures: Figures, exact: bool) -> dict[str, tuple[Group, ...]]:
    """The groups of each figure; a protected report always lists "not yet in a phase", so
    that its presence says nothing."""
    phases = figures.active_by_phase
    if not exact and not any(group.key == NO_PHASE for group in phases):
        phases = (Group(NO_PHASE, _("Not yet in a phase"), 0), *phases)
    return {
        "phase": phases,
        "ending": figures.endings,
        "attendance": figures.attendance,
        "risk": figures.intake_risk,
    }


#: Which sum each breakdown makes up, and whether it splits people by an attribute.
_BREAKDOWNS = {"phase": ("active", False), "ending": ("ended", True)}
_BREAKDOWNS |= {"attendance": ("marks", True), "risk": ("started", True)}
#: Never published: the sums that only the breakdowns show.
_HIDDEN = ("marks", "started")


def _table(scope, figures: Figures, exact: bool) -> tuple[dict, list[Sum]]:
    """The cells and sums of one report's figures, keyed by (scope, measure[, group])."""
    groups = _groups(figures, exact)
    values: dict[Hashable, int] = {(scope, "enrolled"): figures.enrolled}
    sums = []
    for kind, (total, attribute) in _BREAKDOWNS.items():
        parts = tuple((scope, kind, group.key) for group in groups[kind])
        values[(scope, total)] = sum(group.count for group in groups[kind])
        values |= {(scope, kind, group.key): group.count for group in groups[kind]}
        sums.append(Sum((scope, total), parts, attribute=attribute))
    return values, sums


def _shown(scope, figures: Figures, cells: Mapping, exact: bool) -> ShownFigures:
    groups = _groups(figures, exact)

    def lines(kind: str) -> tuple[Line, ...]:
        return tuple(
            Line(group.key, group.label, cells[(scope, kind, group.key)]) for group in groups[kind]
        )

    def withheld(*keys) -> bool:
        return not all(cells[(scope, *key)].shown for key in keys)

    completion = withheld(("ended",), ("ending", Status.COMPLETED))
    present, absent = Attendance.Status.PRESENT, Attendance.Status.ABSENT
    attendance = withheld(("attendance", present), ("attendance", absent))
    return ShownFigures(
        period=figures.period,
        exact=exact,
        enrolled=cells[(scope, "enrolled")],
        active=cells[(scope, "active")],
        ended=cells[(scope, "ended")],
        active_by_phase=lines("phase"),
        endings=lines("ending"),
        attendance=lines("attendance"),
        intake_risk=lines("risk"),
        completion_rate=None if completion else figures.completion_rate,
        attendance_rate=None if attendance else figures.attendance_rate,
        completion_rate_withheld=completion,
        attendance_rate_withheld=attendance,
    )


def _hidden(scopes: Iterable) -> list:
    return [(scope, measure) for scope in scopes for measure in _HIDDEN]


def shown_figures(figures: Figures, *, exact: bool) -> ShownFigures:
    """A programme's figures as a reader sees them: exact, or protected by the one rule."""
    values, sums = _table("report", figures, exact)
    cells = disclosure.table(values, sums, hidden=_hidden(["report"]), exact=exact)
    return _shown("report", figures, cells, exact)


def shown_institution(result: InstitutionFigures, *, exact: bool) -> ShownInstitution:
    """An institution report as a reader sees it. Protected, the programmes' lines and the
    total are one table: each count of the total is the sum of the programmes' (the column
    sums). Each programme's cells are exactly those of its own report, and the total's
    cells are withheld as needed so that no programme's withheld cell can be worked out."""
    values, sums = _table("total", result.total, exact)
    settled: dict = {}
    for line in result.programmes:
        more_values, more_sums = _table(line.programme.pk, line.figures, exact)
        values |= more_values
        sums += more_sums
        if not exact:  # each programme's cells exactly as its own report shows them
            hidden = _hidden([line.programme.pk])
            settled |= disclosure.suppress_table(more_values, more_sums, hidden=hidden)
    if result.programmes:
        measures = {key[1:] for key in values if key[0] == "total"} - {(m,) for m in _HIDDEN}
        for measure in sorted(measures, key=str):
            parts = tuple(
                (line.programme.pk, *measure)
                for line in result.programmes
                if (line.programme.pk, *measure) in values
            )
            sums.append(Sum(("total", *measure), parts))
    scopes = ["total", *(line.programme.pk for line in result.programmes)]
    if exact:
        cells = disclosure.exact_table(values, hidden=_hidden(scopes))
    else:
        cells = disclosure.suppress_table(values, sums, hidden=_hidden(scopes), settled=settled)
    return ShownInstitution(
        institution=result.institution,
        total=_shown("total", result.total, cells, exact),
        programmes=tuple(
            ShownProgramme(line.programme, _shown(line.programme.pk, line.figures, cells, exact))
            for line in result.programmes
        ),
    )


def status_cells(counts: Mapping[str, int], *, exact: bool) -> dict[Hashable, Cell]:
    """A programme's enrolments by status now (`counts`), with their total ("total") and the
    places taken ("active"), as shown: exact for those who may see its participants,
    protected by the one rule for everyone else (the outcomes are an attribute)."""
    values: dict[Hashable, int] = {status: counts.get(status, 0) for status in Status.values}
    values["total"] = sum(values.values())
    values["active"] = sum(values[status] for status in Enrolment.ACTIVE_STATUSES)
    values["ended"] = sum(values[status] for status in Enrolment.FINAL_STATUSES)
    sums = [
        Sum("total", tuple(Status.values)),
        Sum("active", tuple(Enrolment.ACTIVE_STATUSES)),
        Sum("ended", tuple(Enrolment.FINAL_STATUSES), attribute=True),
    ]
    return disclosure.table(values, sums, hidden=("ended",), exact=exact)


# --- The Excel file ----------------------------------------------------------------------

#: Number format of the rates in the Excel file.
_PERCENT = "0.0%"


def _value(cell: Cell) -> int | str:
    """A count for the Excel file: the number, or the text of a withheld count."""
    return cell.value if cell.value is not None else cell.text


def _rate(rate: Decimal | None, withheld: bool) -> Decimal | str | None:
    return _("withheld") if withheld else rate


def _figure_rows(figures: ShownFigures) -> list[tuple[str, str, int | str | Decimal | None]]:
    """(section, figure, value) rows, in the order of the page."""
    rows: list[tuple[str, str, int | str | Decimal | None]] = [
        (_("Enrolments"), _("Enrolled in the period"), _value(figures.enrolled)),
        (_("Enrolments"), _("Active at the end of the period"), _value(figures.active)),
    ]
    sections = [
        (_("Active per phase"), figures.active_by_phase),
        (_("Endings in the period"), figures.endings),
    ]
    for section, lines in sections:
        rows += [(section, line.label, _value(line.cell)) for line in lines]
    rows.append(
        (
            _("Endings in the period"),
            _("Completion rate"),
            _rate(figures.completion_rate, figures.completion_rate_withheld),
        )
    )
    rows += [(_("Attendance"), line.label, _value(line.cell)) for line in figures.attendance]
    rows.append(
        (
            _("Attendance"),
            _("Attendance rate"),
            _rate(figures.attendance_rate, figures.attendance_rate_withheld),
        )
    )
    rows += [
        (_("ASSIST risk at intake"), line.label, _value(line.cell)) for line in figures.intake_risk
    ]
    return rows


def mode_text(figures: ShownFigures) -> str:
    """What kind of figures a report shows, for its page and its Excel file."""
    if figures.exact:
        return _(
            "Exact figures: your role gives access to these participants' records. "
            "This view is recorded in the personal data access log."
        )
    return _(
        "Protected figures: a group of fewer than %(min)s people is shown as “< %(min)s”, "
        "a count that would let such a group or everyone's outcome be worked out is "
        "withheld, and periods are whole calendar years."
    ) % {"min": disclosure.MIN_CELL}


def _sheet_header(sheet, cells: Sequence[str], widths: Sequence[int]) -> None:
    for cell in text_row(sheet, cells):
        cell.font = Font(bold=True)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def render_xlsx(
    *, title: str, figures: ShownFigures, programmes: Sequence[ShownProgramme] = ()
) -> bytes:
    """The shown figures as an Excel workbook: a "Report" sheet of (section, figure, value)
    rows under the title, the period and the kind of figures, and for an institution a sheet
    with a line per programme. Rates are fractions formatted as percentages; an empty rate
    cell means "no data"; a withheld count or rate is a text cell saying so."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Report")[:31]
    text_row(sheet, [title])  # a programme's or institution's name: never a formula
    sheet["A1"].font = Font(bold=True, size=14)
    text_row(sheet, [_("Period"), figures.period.start, figures.period.end, mode_text(figures)])
    for cell in sheet[2][1:3]:
        cell.number_format = "DD-MM-YYYY"
    sheet.append([])
    _sheet_header(sheet, [_("Section"), _("Figure"), _("Value")], (28, 40, 12))
    for section, label, value in _figure_rows(figures):
        text_row(sheet, [section, label, value])  # phase names are data: never a formula
        if isinstance(value, Decimal):
            sheet.cell(row=sheet.max_row, column=3).number_format = _PERCENT
    if programmes:
        per = workbook.create_sheet(_("Programmes")[:31])
        _sheet_header(
            per,
            [
                _("Programme"),
                _("Host institution"),
                _("Enrolled"),
                _("Active"),
                _("Completed"),
                _("Dropped out"),
                _("All endings"),
                _("Completion rate"),
                _("Attendance rate"),
            ],
            (40, 30, 10, 10, 10, 12, 12, 14, 14),
        )
        for line in programmes:
            f = line.figures
            text_row(
                per,
                [
                    line.programme.name,
                    line.programme.host.display_name,
                    *(_value(cell) for cell in (f.enrolled, f.active, f.completed)),
                    *(_value(cell) for cell in (f.dropped_out, f.ended)),
                    _rate(f.completion_rate, f.completion_rate_withheld),
                    _rate(f.attendance_rate, f.attendance_rate_withheld),
                ],
            )
            row = per.max_row
            for column in (8, 9):
                per.cell(row=row, column=column).number_format = _PERCENT
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


# --- Public aggregates -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicCounts:
    """The public line of one programme: enrolled, active and completed, after suppression."""

    programme: Programme
    enrolled: Cell
    active: Cell
    completed: Cell

    @property
    def cells(self) -> tuple[Cell, Cell, Cell]:
        return (self.enrolled, self.active, self.completed)


@functools.lru_cache(maxsize=65536)
def suppress(*, enrolled: int, active: int, completed: int) -> tuple[Cell, Cell, Cell]:
    """The three public counts of a programme, protected by the one rule.

    Active and completed people are among the enrolled; the rest (those who dropped out,
    were transferred, released or referred) is never shown, and neither are totals across
    programmes. Those who ended are the completed and the rest: an outcome, so a programme
    where everyone who ended completed does not show its completed count.
    """
    cells = disclosure.suppress_table(
        {
            "enrolled": enrolled,
            "active": active,
            "completed": completed,
            "rest": enrolled - active - completed,
            "ended": enrolled - active,
        },
        [
            Sum("enrolled", ("active", "completed", "rest")),
            Sum("ended", ("completed", "rest"), attribute=True),
        ],
        hidden=("rest", "ended"),
    )
    return cells["enrolled"], cells["active"], cells["completed"]


def public_counts(programmes: Iterable[Programme]) -> list[PublicCounts]:
    """The public line of each programme (read with `select_related("tally")`: one query):
    counts of people ever enrolled, now active and completed, read from the programme's
    tally (`rehabilitation.statistics`, kept by the enrolment services), with small groups
    withheld."""
    lines = []
    for programme in programmes:
        tally = getattr(programme, "tally", None)
        lines.append(
            PublicCounts(
                programme,
                *suppress(
                    enrolled=tally.enrolled if tally else 0,
                    active=tally.active if tally else 0,
                    completed=tally.completed if tally else 0,
                ),
            )
        )
    return lines


def counted_as_of(lines: Iterable[PublicCounts]) -> datetime.datetime | None:
    """When the public counts last changed (the latest programme tally's update)."""
    return max(
        (
            line.programme.tally.updated_at
            for line in lines
            if getattr(line.programme, "tally", None) is not None
        ),
        default=None,
    )
