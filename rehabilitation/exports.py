"""Exports of participants' personal data as CSV or Excel, pseudonymised by default.

A pseudonymised export holds no name, no register number and only the year of birth; each
participant appears under a pseudonym, a keyed hash of their id that stays the same from one
export to the next (so that two exports can be compared) but cannot be turned back into the id
without the site's secret key. An identified export adds the name, the register number and the
full date of birth; the view decides who may have which (see `views.reports`).

Cells that a spreadsheet would read as a formula are neutralised: in CSV by the shared
`institutions.spreadsheets.csv_stream` (a leading quote), in Excel by storing every text as text.

An export costs what its rows cost, not what the table holds: participants are read in chunks
of `CHUNK_SIZE` with their enrolments and screenings fetched per chunk, the CSV is streamed as
it is written (its header first), and the Excel file is written row by row to a temporary
file that is then streamed.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import IO

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from institutions.spreadsheets import as_text, csv_stream

from . import access
from .assist import Risk, Substance, highest
from .models import Enrolment, Participant, Screening

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PSEUDONYM_PREFIX = "P-"
PSEUDONYM_LENGTH = 10
#: Participants read per query (with their enrolments and screenings fetched per chunk).
CHUNK_SIZE = 500


def pseudonym(participant_id: int) -> str:
    """A stable pseudonym: "P-" and the first 10 hex digits of HMAC-SHA256(id, SECRET_KEY)."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), str(participant_id).encode(), hashlib.sha256
    ).hexdigest()
    return f"{PSEUDONYM_PREFIX}{digest[:PSEUDONYM_LENGTH]}"


def for_export(participants: QuerySet[Participant], user) -> QuerySet[Participant]:
    """`participants` with what an export shows, in four queries per chunk read: the
    enrolments and screenings `user` may see (a partner of one programme does not learn of
    another programme's enrolment), with the programmes and the scores."""
    # Each chunk's rows are checked one by one (`*_among`): cheaper for a few hundred
    # participants than building every enrolment the user sees once per chunk.
    return participants.select_related("institution").prefetch_related(
        Prefetch(
            "enrolments",
            queryset=access.visible_enrolments_among(user, Enrolment.objects.all())
            .select_related("programme")
            .order_by("start_date", "pk"),
            to_attr="export_enrolments",
        ),
        Prefetch(
            "screenings",
            queryset=access.linked_screenings_among(user, Screening.objects.all())
            .order_by("date", "pk")
            .prefetch_related("scores"),
            to_attr="export_screenings",
        ),
    )


def intake_band(participant: Participant) -> Risk | None:
    """The highest ASSIST band of the participant's first screening (from `for_export`)."""
    screenings = getattr(participant, "export_screenings", None)
    if not screenings:
        return None
    return highest([Risk(score.risk) for score in screenings[0].scores.all()])


def headers(*, identified: bool) -> list[str]:
    """The column titles; an identified export has the name, number and date of birth."""
    personal = (
        [_("Register number"), _("Full name"), _("Date of birth")]
        if identified
        else [_("Year of birth")]
    )
    return [
        _("Pseudonym"),
        *personal,
        _("Sex"),
        _("Status"),
        _("Held at"),
        _("Case article"),
        _("Substances used"),
        _("Enrolments"),
        _("ASSIST risk at intake"),
    ]


def _substances(codes) -> str:
    """The substances' names; `substances` is a JSON field, so anything but a list is empty."""
    if not isinstance(codes, list):
        return ""
    labels = dict(Substance.choices)
    return "; ".join(str(labels.get(code, code)) for code in codes)


class _Labels:
    """The display text of each choice, translated once per export (not once per cell)."""

    def __init__(self) -> None:
        self.sex = {value: str(label) for value, label in Participant.Sex.choices}
        self.status = {value: str(label) for value, label in Participant.Status.choices}
        self.enrolment = {value: str(label) for value, label in Enrolment.Status.choices}
        self.risk = {value: str(label) for value, label in Risk.choices}


def _enrolments(participant: Participant, labels: _Labels) -> str:
    return "; ".join(
        f"{enrolment.programme.name}: "
        f"{labels.enrolment.get(enrolment.status, enrolment.status)}, "
        f"{enrolment.start_date.isoformat()} – "
        f"{enrolment.end_date.isoformat() if enrolment.end_date else '…'}"
        for enrolment in participant.export_enrolments
    )


def export_order(participants: QuerySet[Participant]) -> QuerySet[Participant]:
    """The order an export reads its participants in: by institution, so that each
    institution's rows come together (and can be sorted by pseudonym one institution at a
    time), then by register number."""
    return participants.order_by("institution__name", "institution_id", "register_number", "pk")


def _row(participant: Participant, *, identified: bool, labels: _Labels) -> tuple[str, list]:
    band = intake_band(participant)
    personal = (
        [participant.register_number, participant.full_name, participant.birth_date]
        if identified
        else [participant.birth_date.year if participant.birth_date else None]
    )
    alias = pseudonym(participant.pk)
    held_at = participant.institution.display_name
    return alias, [
        alias,
        *personal,
        labels.sex.get(participant.sex, participant.sex),
        labels.status.get(participant.status, participant.status),
        held_at,
        participant.case_article,
        _substances(participant.substances),
        _enrolments(participant, labels),
        labels.risk[band.value] if band else "",
    ]


def export_rows(participants: Iterable[Participant], *, identified: bool) -> Iterator[list]:
    """One row per participant, in `headers()` order; dates stay dates for the writers.
    `participants` come in `export_order`; pseudonymised rows are sorted by pseudonym within
    each institution, not by register number (only one institution's rows are held at once)."""
    group: list[tuple[str, list]] = []
    institution_id = None
    labels = _Labels()
    for participant in participants:
        alias, row = _row(participant, identified=identified, labels=labels)
        if identified:
            yield row
            continue
        if participant.institution_id != institution_id:
            group.sort(key=lambda item: item[0])
            yield from (row for _alias, row in group)
            group, institution_id = [], participant.institution_id
        group.append((alias, row))
    group.sort(key=lambda item: item[0])
    yield from (row for _alias, row in group)


def stream_csv(participants: Iterable[Participant], *, identified: bool) -> Iterator[bytes]:
    """The participants as CSV (`institutions.spreadsheets.csv_stream`): the header goes out
    before the first row is read."""
    return csv_stream(
        headers(identified=identified), export_rows(participants, identified=identified)
    )


def write_xlsx(participants: Iterable[Participant], *, identified: bool, output: IO[bytes]) -> None:
    """An Excel workbook with a bold frozen header, written row by row (openpyxl's write-only
    mode: memory does not grow with the rows); texts are always text, never formulas."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_("Participants")[:31])
    columns = headers(identified=identified)
    sheet.freeze_panes = "A2"
    for index in range(1, len(columns) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 22
    bold = Font(bold=True)
    sheet.append([_xlsx_cell(sheet, title, font=bold) for title in columns])
    for row in export_rows(participants, identified=identified):
        sheet.append([_xlsx_cell(sheet, value) for value in row])
    workbook.save(output)


def _xlsx_cell(sheet, value, *, font: Font | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    as_text(cell)
    if font is not None:
        cell.font = font
    if isinstance(value, datetime.date):
        cell.number_format = "DD-MM-YYYY"
    return cell
