"""What every export that a spreadsheet opens (CSV, XLSX) shares: no cell read as a formula.

Every cell an export writes goes through here: `csv_stream` (which neutralises each text) for
CSV, `text_row` (or `as_text`) for openpyxl. No export builds a formula, from user text or
otherwise.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable, Iterator, Sequence

#: A cell starting with one of these is taken by spreadsheets for a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A CSV text cell made safe to open in a spreadsheet: one that would start a formula gets
    a leading quote, which spreadsheets show as text."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


#: A streamed CSV is sent in pieces of about this many bytes.
CSV_PIECE = 64 * 1024


def csv_cell(value) -> str | int:
    """A value as a CSV cell: dates in ISO form, texts neutralised, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    return value


def csv_stream(header: Sequence[str], rows: Iterable[Sequence]) -> Iterator[bytes]:
    """CSV in UTF-8 with a byte-order mark, so that Excel reads the Indonesian text right: the
    header alone first (before any row is read), then pieces of about `CSV_PIECE` bytes, so
    that a response streams with its memory bounded whatever the number of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    yield _drain(buffer)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= CSV_PIECE:
            yield _drain(buffer)
    if buffer.tell():
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    piece = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return piece


def as_text(cell) -> None:
    """Make an openpyxl cell holding a text a string cell: openpyxl stores any text starting
    with "=" as a formula unless its data type is forced."""
    if isinstance(cell.value, str):
        cell.data_type = "s"


def text_row(sheet, values: Iterable) -> Sequence:
    """Append `values` as a row of `sheet`, every text a string cell; returns the row's cells."""
    sheet.append(list(values))
    cells = sheet[sheet.max_row]
    for cell in cells:
        as_text(cell)
    return cells
