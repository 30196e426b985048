"""Indonesian number words (terbilang), ordinals and dates as legal documents write them."""

from __future__ import annotations

import datetime

_UNITS = (
    "nol",
    "satu",
    "dua",
    "tiga",
    "empat",
    "lima",
    "enam",
    "tujuh",
    "delapan",
    "sembilan",
    "sepuluh",
    "sebelas",
)

DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)


def terbilang(number: int) -> str:
    """Write a whole number from 0 to 999 999 999 999 in Indonesian words.

    >>> terbilang(2025)
    'dua ribu dua puluh lima'
    """
    if number < 0 or number >= 10**12:
        raise ValueError(f"terbilang takes 0 to 999999999999, not {number}")
    if number == 0:
        return _UNITS[0]
    return " ".join(_words(number))


def _words(n: int) -> list[str]:
    if n == 0:
        return []
    if n < 12:
        return [_UNITS[n]]
    if n < 20:
        return [_UNITS[n - 10], "belas"]
    if n < 100:
        return [_UNITS[n // 10], "puluh", *_words(n % 10)]
    if n < 1000:
        head = ["seratus"] if n // 100 == 1 else [_UNITS[n // 100], "ratus"]
        return [*head, *_words(n % 100)]
    for size, name in ((10**9, "miliar"), (10**6, "juta"), (10**3, "ribu")):
        if n >= size:
            count, rest = divmod(n, size)
            head = ["seribu"] if size == 1000 and count == 1 else [*_words(count), name]
            return [*head, *_words(rest)]
    raise AssertionError("unreachable")


def ordinal(number: int) -> str:
    """Indonesian ordinal word: 1 → 'pertama', 2 → 'kedua', 10 → 'kesepuluh', 12 → 'kedua belas'."""
    if number < 1:
        raise ValueError(f"ordinal takes a positive number, not {number}")
    return "pertama" if number == 1 else "ke" + terbilang(number)


def pihak_label(order: int) -> str:
    """How the document calls the party in that place: 'PIHAK PERTAMA', 'PIHAK KEDUA', …"""
    return f"PIHAK {ordinal(order).upper()}"


def date_in_words(day: datetime.date) -> str:
    """The opening of an Indonesian agreement, with the date in words and in digits.

    >>> date_in_words(datetime.date(2025, 8, 4))
    'hari ini Senin tanggal empat bulan Agustus tahun dua ribu dua puluh lima (04-08-2025)'
    """
    return (
        f"hari ini {DAYS[day.weekday()]} tanggal {terbilang(day.day)} "
        f"bulan {MONTHS[day.month - 1]} tahun {terbilang(day.year)} ({day:%d-%m-%Y})"
    )


def long_date(day: datetime.date) -> str:
    """'4 Agustus 2025'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"
