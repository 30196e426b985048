"""What every export that a spreadsheet opens (CSV, XLSX) shares: no cell read as a formula."""

#: A cell starting with one of these is taken by spreadsheets for a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """A text cell made safe to open in a spreadsheet: one that would start a formula gets a
    leading quote, which spreadsheets show as text."""
    return f"'{value}" if value.startswith(FORMULA_PREFIXES) else value
