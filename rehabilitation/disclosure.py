"""The disclosure control of every count of people that leaves the server: the one rule.

Counts of participants, enrolments, screenings and attendance marks are derived from specific
personal data (UU PDP 27/2022). Those who may see the records themselves (a personal-data role
for the institution or programme, see `access.may_see_personal_data`) get exact figures; the
public and every other staff role get protected figures, made here:

1. Primary suppression: a count of 1 to `MIN_CELL` - 1 is withheld (0 is shown).
2. Complementary suppression: a table is a set of sums (`Sum`: a total and its parts, some
   terms perhaps never published, `hidden`). No withheld count, and no hidden group of 1 to
   9, may be worked out from the shown ones by any combination of subtractions (checked by
   linear algebra over all the sums, `_determined`): another term of a sum it is in is
   withheld, the total first; when none is left (a programme's cells are settled by its own
   report), a shown term of the sums that pin it down through others (`_breaker`). A sum
   whose shown total leaves 1 to 9 for its unknown parts gives away a small group (or a
   bound on a withheld one), so its total is withheld.
3. Group disclosure: when a sum that splits people by an attribute (an outcome, a risk band,
   an attendance mark: `attribute=True`) has a single non-zero part, showing it (or showing
   the other parts as 0) tells everyone's attribute. The full part is withheld, and another
   part with it, so that no reader can tell that the others are 0.
4. The period: roles without personal-data access see whole calendar years only
   (`protected_period`), so that no two periods they may ask for overlap and nothing can be
   worked out by subtracting one period's figures from another's.

A withheld count shows "< 10" when it is under 10 (a primary cell, or a 0 withheld with one:
both are "fewer than 10", so that a reader cannot tell them apart) and "withheld" otherwise.
Rates are shown only when both of their counts are.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from django.utils import formats
from django.utils.translation import gettext as _

#: Groups smaller than this are never shown to those who may not see the records.
MIN_CELL = 10


@dataclass(frozen=True, slots=True)
class Cell:
    """A count: shown (`value`), or withheld. `small` says a withheld count is under
    `MIN_CELL` ("< 10"); otherwise it is shown as "withheld"."""

    value: int | None
    small: bool = False

    @property
    def shown(self) -> bool:
        return self.value is not None

    @property
    def text(self) -> str:
        """The count as a reader sees it, in the active language."""
        if self.value is not None:
            return formats.localize(self.value)
        if self.small:
            return f"< {MIN_CELL}"
        return _("withheld")

    @classmethod
    def exact(cls, value: int) -> Cell:
        return cls(value)


@dataclass(frozen=True, slots=True)
class Sum:
    """`total` is the sum of `parts` (keys of a table). With `attribute`, the parts split the
    total's people by something about them (an outcome, a risk band), which must not be
    revealed for everyone at once."""

    total: Hashable
    parts: tuple[Hashable, ...]
    attribute: bool = False


def _complement(sum_: Sum, unknown: set, values: Mapping, hidden: frozenset) -> Hashable | None:
    """The next term of `sum_` to withhold: the total when it is shown, else the smallest
    shown part (a non-zero one first)."""
    if sum_.total not in unknown and sum_.total not in hidden:
        return sum_.total
    shown = [part for part in sum_.parts if part not in unknown and part not in hidden]
    if not shown:
        return None
    return min(shown, key=lambda part: (values[part] == 0, values[part]))


def _weakness(sum_: Sum, values: Mapping, unknown: set) -> Hashable | None:
    """A term of `sum_` that must also be withheld for it to give nothing away, or None.
    `unknown`: the terms a reader cannot work out (withheld, or hidden and not derivable)."""
    if sum_.attribute and values[sum_.total] > 0 and len(sum_.parts) >= 2:
        nonzero = [part for part in sum_.parts if values[part]]
        if len(nonzero) == 1:
            (full,) = nonzero
            if full not in unknown:
                return full
            if not any(part in unknown for part in sum_.parts if part != full):
                return next(part for part in sum_.parts if part != full)
    if sum_.total not in unknown:
        rest = values[sum_.total] - sum(values[p] for p in sum_.parts if p not in unknown)
        if 0 < rest < MIN_CELL:
            return sum_.total
    return None


def _determined(sums: Sequence[Sum], unknown: set) -> set:
    """The unknown terms that the sums pin down all together (by any combination of
    subtractions): those alone in a row of the reduced echelon form of the system."""
    variables = sorted(
        {key for sum_ in sums for key in (sum_.total, *sum_.parts) if key in unknown}, key=repr
    )
    column = {key: index for index, key in enumerate(variables)}
    rows = []
    for sum_ in sums:
        row = [Fraction(0)] * len(variables)
        for key, sign in ((sum_.total, 1), *((part, -1) for part in sum_.parts)):
            if key in column:
                row[column[key]] += sign
        if any(row):
            rows.append(row)
    pivot_row = 0
    for col in range(len(variables)):
        found = next((r for r in range(pivot_row, len(rows)) if rows[r][col]), None)
        if found is None:
            continue
        rows[pivot_row], rows[found] = rows[found], rows[pivot_row]
        lead = rows[pivot_row][col]
        rows[pivot_row] = [value / lead for value in rows[pivot_row]]
        for r in range(len(rows)):
            if r != pivot_row and rows[r][col]:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[pivot_row], strict=True)]
        pivot_row += 1
    determined = set()
    for row in rows[:pivot_row]:
        nonzero = [index for index, value in enumerate(row) if value]
        if len(nonzero) == 1:
            determined.add(variables[nonzero[0]])
    return determined


def _breaker(
    key: Hashable, sums: Sequence[Sum], values: Mapping, unknown: set, settled: frozenset
) -> Hashable | None:
    """A shown term, not `settled`, to withhold so that `key` is no longer pinned down: of
    the sums joined to `key` through `unknown` terms, the first (a non-zero one first, then
    the smallest) whose withholding alone frees `key`, else the first of them; None if
    there is none."""
    joined, reached, grown = [], {key}, True
    while grown:
        grown = False
        for sum_ in sums:
            terms = (sum_.total, *sum_.parts)
            if sum_ not in joined and reached.intersection(terms):
                joined.append(sum_)
                reached |= {term for term in terms if term in unknown}
                grown = True
    candidates = sorted(
        {
            term
            for sum_ in joined
            for term in (sum_.total, *sum_.parts)
            if term not in unknown and term not in settled
        },
        key=lambda term: (values[term] == 0, values[term], repr(term)),
    )
    for candidate in candidates:
        if key not in _determined(sums, unknown | {candidate}):
            return candidate
    return candidates[0] if candidates else None


def _next_withheld(
    sums: Sequence[Sum], values: Mapping, withheld: set, hidden: frozenset, fixed: frozenset
) -> Hashable | None:
    """The next key to withhold for the table to give nothing away, or None when it is safe
    (or could only be made so by changing a `fixed` key)."""
    derivable = _determined(sums, withheld | hidden)
    settled = hidden | fixed
    # A withheld count, or a small hidden group, that the sums pin down: withhold another term
    # of a sum it is in.
    pinned = [
        key for key in sorted(derivable, key=repr) if key in withheld or 0 < values[key] < MIN_CELL
    ]
    for key in pinned:
        for sum_ in sums:
            if key in (sum_.total, *sum_.parts):
                complement = _complement(sum_, withheld, values, settled)
                if complement is not None:
                    return complement
    # Hidden terms that can be worked out are as good as shown.
    unknown = withheld | (hidden - derivable)
    for sum_ in sums:
        key = _weakness(sum_, values, unknown)
        if key is not None and key not in settled:
            return key
    # Still pinned down, with every term of its own sums withheld or settled: through sums
    # further away (the totals of two programmes, say). Withhold a term of those.
    for key in pinned:
        complement = _breaker(key, sums, values, withheld | hidden, settled)
        if complement is not None:
            return complement
    return None


def suppress_table(
    values: Mapping[Hashable, int],
    sums: Iterable[Sum] = (),
    *,
    hidden: Iterable[Hashable] = (),
    settled: Mapping[Hashable, Cell] | None = None,
) -> dict[Hashable, Cell]:
    """The protected cells of a table: `values` by key, the `sums` that hold between them,
    and the `hidden` keys that are never published (but may be worked out). Returns a cell
    for every key that is not hidden.

    `settled`: cells already protected elsewhere (a programme's own report), kept as they
    are, so that two views of the same cell never differ; only the other keys are withheld
    to protect the sums that join them (the totals of an institution's programmes)."""
    sums = list(sums)
    hidden = frozenset(hidden)
    settled = settled or {}
    withheld = {key for key, cell in settled.items() if not cell.shown}
    withheld |= {
        key
        for key, value in values.items()
        if key not in hidden and key not in settled and 0 < value < MIN_CELL
    }
    fixed = frozenset(settled)
    while (key := _next_withheld(sums, values, withheld, hidden, fixed)) is not None:
        withheld.add(key)
    return {
        key: Cell(None, small=value < MIN_CELL) if key in withheld else Cell(value)
        for key, value in values.items()
        if key not in hidden
    }


def exact_table(values: Mapping[Hashable, int], *, hidden: Iterable[Hashable] = ()) -> dict:
    """The cells of a table shown as they are (for those who may see the records)."""
    hidden = frozenset(hidden)
    return {key: Cell(value) for key, value in values.items() if key not in hidden}


def table(
    values: Mapping[Hashable, int],
    sums: Sequence[Sum] = (),
    *,
    hidden: Iterable[Hashable] = (),
    exact: bool,
) -> dict[Hashable, Cell]:
    """Exact cells for those who may see the records, protected cells for everyone else."""
    if exact:
        return exact_table(values, hidden=hidden)
    return suppress_table(values, sums, hidden=hidden)


# --- The period ---------------------------------------------------------------------------


def protected_period(
    start: datetime.date, end: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period shown to a role without personal-data access for the period asked: the
    whole calendar year of its start. Years never overlap, so no figure can be worked out by
    subtracting one period's figures from another's."""
    return datetime.date(start.year, 1, 1), datetime.date(start.year, 12, 31)
