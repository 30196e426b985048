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

Public aggregates (`public_counts`) follow the small-cell rule: see `suppress`.
"""

from __future__ import annotations

import datetime
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
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

from .assist import Risk, highest
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
#: Groups smaller than this are not shown on public pages.
MIN_PUBLIC_CELL = 10


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
    for pk, (enrolment_id, participant_id, date) in screenings.items():
        if enrolment_id is None:
            unlinked[participant_id].append((date, pk))
        else:
            linked[enrolment_id].append((date, pk))
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


# --- The Excel file ----------------------------------------------------------------------

#: Number format of the rates in the Excel file.
_PERCENT = "0.0%"


def _figure_rows(figures: Figures) -> list[tuple[str, str, int | Decimal | None]]:
    """(section, figure, value) rows, in the order of the page."""
    rows: list[tuple[str, str, int | Decimal | None]] = [
        (_("Enrolments"), _("Enrolled in the period"), figures.enrolled),
        (_("Enrolments"), _("Active at the end of the period"), figures.active),
    ]
    rows += [(_("Active per phase"), group.label, group.count) for group in figures.active_by_phase]
    rows += [(_("Endings in the period"), group.label, group.count) for group in figures.endings]
    rows.append((_("Endings in the period"), _("Completion rate"), figures.completion_rate))
    rows += [(_("Attendance"), group.label, group.count) for group in figures.attendance]
    rows.append((_("Attendance"), _("Attendance rate"), figures.attendance_rate))
    rows += [
        (_("ASSIST risk at intake"), group.label, group.count) for group in figures.intake_risk
    ]
    return rows


def _sheet_header(sheet, cells: Sequence[str], widths: Sequence[int]) -> None:
    for cell in text_row(sheet, cells):
        cell.font = Font(bold=True)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width


def render_xlsx(
    *, title: str, figures: Figures, programmes: Sequence[ProgrammeFigures] = ()
) -> bytes:
    """The figures as an Excel workbook: a "Report" sheet of (section, figure, value) rows
    under the title and the period, and for an institution a sheet with a line per programme.
    Rates are fractions formatted as percentages; an empty rate cell means "no data"."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Report")[:31]
    text_row(sheet, [title])  # a programme's or institution's name: never a formula
    sheet["A1"].font = Font(bold=True, size=14)
    text_row(sheet, [_("Period"), figures.period.start, figures.period.end])
    for cell in sheet[2][1:]:
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
                    f.enrolled,
                    f.active,
                    f.completed,
                    f.dropped_out,
                    f.ended,
                    f.completion_rate,
                    f.attendance_rate,
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
class Cell:
    """A public count: shown, or withheld. `small` says why it is withheld: a group of 1 to
    9 people (shown as "< 10"), or a count that would let such a group be worked out."""

    value: int | None
    small: bool = False

    @property
    def shown(self) -> bool:
        return self.value is not None


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


def _primary(count: int) -> Cell:
    return Cell(None, small=True) if 0 < count < MIN_PUBLIC_CELL else Cell(count)


def suppress(*, enrolled: int, active: int, completed: int) -> tuple[Cell, Cell, Cell]:
    """The three public counts of a programme with small groups withheld.

    Primary: every count from 1 to 9 is withheld (0 is shown). Secondary: active and
    completed people are among the enrolled, the rest (those who dropped out, were
    transferred, released or referred) is not shown. When what the enrolled count leaves
    after the shown counts is 1 to 9, it is that small group (or a bound on a withheld
    count) worked out by subtraction; the enrolled count is then withheld too. No totals are
    shown, across programmes or otherwise, so nothing else can be subtracted.
    """
    cells = (_primary(enrolled), _primary(active), _primary(completed))
    if cells[0].shown:
        remainder = enrolled - sum(cell.value for cell in cells[1:] if cell.shown)
        if 0 < remainder < MIN_PUBLIC_CELL:
            cells = (Cell(None), cells[1], cells[2])
    return cells


def public_counts(programmes: QuerySet[Programme]) -> list[PublicCounts]:
    """The public line of each programme, in one query: counts of people ever enrolled, now
    active and completed, with small groups withheld."""
    ever = Q(enrolments__enrolled_on__isnull=False)
    annotated = programmes.annotate(
        n_enrolled=Count("enrolments", filter=ever),
        n_active=Count(
            "enrolments", filter=ever & Q(enrolments__status__in=Enrolment.ACTIVE_STATUSES)
        ),
        n_completed=Count("enrolments", filter=ever & Q(enrolments__status=Status.COMPLETED)),
    )
    return [
        PublicCounts(
            programme,
            *suppress(
                enrolled=programme.n_enrolled,
                active=programme.n_active,
                completed=programme.n_completed,
            ),
        )
        for programme in annotated
    ]
