"""Pages of long lists whose cost does not grow with the table.

An exact ``COUNT(*)`` over a million enrolments costs as much as reading them. The lists count at
most ``cap`` rows (``SELECT COUNT(*) FROM (… LIMIT cap + 1)``) and say "more than N" beyond it; the
page itself is an indexed ``ORDER BY … LIMIT/OFFSET`` whose cost is bounded by the page number, not
by the size of the table. Every list and the admin change lists use it (``_pagination.html``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Page, Paginator

#: Rows counted before a list says "more than N". Ten thousand rows is 500 pages of 20.
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A paginator whose count stops at ``cap``: ``count_is_capped`` says whether there are more."""

    def __init__(self, object_list: Any, per_page: int, *, cap: int = COUNT_CAP, **kwargs: Any):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap

    @cached_property
    def _bounded_count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "order_by"):
            # The ordering is dropped: counting needs none, and it keeps the index choice free.
            return object_list.order_by()[: self.cap + 1].count()
        return len(object_list)

    @cached_property
    def count(self) -> int:
        """The number of rows, or ``cap`` when there are more (see ``count_is_capped``)."""
        return min(self._bounded_count, self.cap)

    @cached_property
    def count_is_capped(self) -> bool:
        return self._bounded_count > self.cap


def page_of(object_list: Any, per_page: int, number: Any, *, cap: int = COUNT_CAP) -> Page:
    """The page numbered ``number`` (any input: a bad or too-high number gives a valid page)."""
    return CappedPaginator(object_list, per_page, cap=cap).get_page(number)
