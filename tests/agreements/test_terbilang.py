"""Indonesian number words, ordinals and the dates written in an agreement's opening sentence."""

from __future__ import annotations

import datetime

import pytest

from agreements.terbilang import date_in_words, ordinal, pihak_label, terbilang


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "nol"),
        (1, "satu"),
        (10, "sepuluh"),
        (11, "sebelas"),
        (12, "dua belas"),
        (19, "sembilan belas"),
        (20, "dua puluh"),
        (21, "dua puluh satu"),
        (100, "seratus"),
        (101, "seratus satu"),
        (111, "seratus sebelas"),
        (1000, "seribu"),
        (1001, "seribu satu"),
        (2000, "dua ribu"),
        (2025, "dua ribu dua puluh lima"),
        (1_000_000, "satu juta"),
        (10_000, "sepuluh ribu"),
        (115_000, "seratus lima belas ribu"),
        (1_000_000_000, "satu miliar"),
        (
            999_999_999_999,
            "sembilan ratus sembilan puluh sembilan miliar sembilan ratus "
            "sembilan puluh sembilan juta sembilan ratus sembilan puluh sembilan ribu "
            "sembilan ratus sembilan puluh sembilan",
        ),
    ],
)
def test_terbilang_known_values(number: int, words: str) -> None:
    assert terbilang(number) == words


@pytest.mark.parametrize("number", [-1, -2025, 10**12])
def test_terbilang_refuses_numbers_out_of_range(number: int) -> None:
    with pytest.raises(ValueError, match=str(number)):
        terbilang(number)


@pytest.mark.parametrize(
    ("number", "word"),
    [
        (1, "pertama"),
        (2, "kedua"),
        (3, "ketiga"),
        (4, "keempat"),
        (5, "kelima"),
        (10, "kesepuluh"),
        (11, "kesebelas"),
        (12, "kedua belas"),
        (20, "kedua puluh"),
    ],
)
def test_ordinal(number: int, word: str) -> None:
    assert ordinal(number) == word


@pytest.mark.parametrize("number", [0, -1])
def test_ordinal_refuses_numbers_below_one(number: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        ordinal(number)


def test_pihak_label() -> None:
    assert [pihak_label(n) for n in (1, 2, 3)] == ["PIHAK PERTAMA", "PIHAK KEDUA", "PIHAK KETIGA"]


def test_date_in_words_for_the_signing_day() -> None:
    assert date_in_words(datetime.date(2025, 8, 4)) == (
        "hari ini Senin tanggal empat bulan Agustus tahun dua ribu dua puluh lima (04-08-2025)"
    )


def test_date_in_words_for_the_discussion_meeting() -> None:
    assert date_in_words(datetime.date(2025, 7, 29)) == (
        "hari ini Selasa tanggal dua puluh sembilan bulan Juli "
        "tahun dua ribu dua puluh lima (29-07-2025)"
    )


# An independent construction, written from tables rather than by recursion, to check every
# date of the century against.
_ONES = ["", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"]
_TEENS = {
    10: "sepuluh",
    11: "sebelas",
    **{10 + n: f"{_ONES[n]} belas" for n in range(2, 10)},
}
_BELOW_100 = {
    n: _TEENS[n] if n in _TEENS else f"{_ONES[n // 10]} puluh {_ONES[n % 10]}".strip()
    for n in range(10, 100)
} | {n: _ONES[n] for n in range(1, 10)}
_MONTHS = {
    1: "Januari",
    2: "Februari",
    3: "Maret",
    4: "April",
    5: "Mei",
    6: "Juni",
    7: "Juli",
    8: "Agustus",
    9: "September",
    10: "Oktober",
    11: "November",
    12: "Desember",
}
# 1 January 2000 was a Saturday; count days from there instead of asking date.weekday().
_DAY_NAMES_FROM_SATURDAY = ["Sabtu", "Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat"]
_Y2K = datetime.date(2000, 1, 1)


def _expected_date_in_words(day: datetime.date) -> str:
    weekday = _DAY_NAMES_FROM_SATURDAY[(day - _Y2K).days % 7]
    year = " ".join(["dua ribu", _BELOW_100.get(day.year - 2000, "")]).strip()
    digits = f"{day.day:02d}-{day.month:02d}-{day.year:04d}"
    return (
        f"hari ini {weekday} tanggal {_BELOW_100[day.day]} bulan {_MONTHS[day.month]} "
        f"tahun {year} ({digits})"
    )


def test_independent_construction_agrees_on_known_dates() -> None:
    # Guards the guard: the table-built version must itself be right.
    assert _expected_date_in_words(datetime.date(2025, 8, 4)) == date_in_words(
        datetime.date(2025, 8, 4)
    )
    assert _expected_date_in_words(datetime.date(2000, 1, 1)) == (
        "hari ini Sabtu tanggal satu bulan Januari tahun dua ribu (01-01-2000)"
    )
    assert _expected_date_in_words(datetime.date(2011, 11, 11)) == (
        "hari ini Jumat tanggal sebelas bulan November tahun dua ribu sebelas (11-11-2011)"
    )


def test_date_in_words_for_every_day_of_the_century() -> None:
    day, last = _Y2K, datetime.date(2099, 12, 31)
    wrong = []
    while day <= last:
        if date_in_words(day) != _expected_date_in_words(day):
            wrong.append(day)
        day += datetime.timedelta(days=1)
    assert wrong == []
