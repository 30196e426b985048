"""What every export that a spreadsheet opens (CSV, XLSX) shares: no cell read as a formula.

Every cell an export writes goes through here: `neutralise` for CSV, `text_row` (or
`as_text`) for openpyxl. No export builds a formula, from user text or otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: A cell starting with one of these is taken by spreadsheets for a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A CSV text cell made safe to open in a spreadsheet: one that would start a formula gets
    a leading quote, which spreadsheets show as text."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value


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
