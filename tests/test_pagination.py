"""Lists count at most a cap of rows and say "more than N" beyond it."""

import pytest

from institutions.models import Institution
from institutions.pagination import CappedPaginator, page_of

from . import factories


@pytest.mark.django_db
def test_count_stops_at_the_cap_and_says_so(django_assert_num_queries):
    for number in range(7):
        factories.institution(name=f"Unit {number}")
    paginator = CappedPaginator(Institution.objects.order_by("name"), 2, cap=5)
    with django_assert_num_queries(1):
        assert paginator.count == 5
        assert paginator.count_is_capped
    assert paginator.num_pages == 3

    exact = CappedPaginator(Institution.objects.order_by("name"), 2, cap=50)
    assert exact.count == Institution.objects.count()
    assert not exact.count_is_capped


@pytest.mark.django_db
def test_a_bad_page_number_gives_a_valid_page():
    factories.institution(name="Unit")
    assert page_of(Institution.objects.order_by("pk"), 20, "x").number == 1
    assert page_of(Institution.objects.order_by("pk"), 20, "999").number == 1
