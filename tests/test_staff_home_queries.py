"""The staff home at two sizes of a busy unit: the same pinned number of queries, the top of
each section only, and a count that stops at a cap."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from config import views
from institutions.models import Membership
from tests.agreements.test_query_counts import SIZES, Unit

pytestmark = pytest.mark.django_db

#: session, user, memberships, the session saved (three statements); institutions; for each
#: of the five sections a capped count and its top rows (+ the agreements' parties); the
#: administered institutions; for those who see personal data, the incoming transfer requests.
HOME_QUERIES = {Membership.Role.ADMIN: 20, Membership.Role.EDITOR: 18}


@pytest.mark.parametrize("role", [Membership.Role.ADMIN, Membership.Role.EDITOR])
def test_staff_home_query_count_is_constant(client, role, django_assert_num_queries):
    unit = Unit()
    user = unit.admin if role == Membership.Role.ADMIN else unit.editor
    client.force_login(user)
    for size in SIZES:
        unit.grow(size)
        with django_assert_num_queries(HOME_QUERIES[role]):
            response = client.get(reverse("staff:home"))
        assert response.status_code == 200


def test_staff_home_shows_the_top_of_each_section_with_a_capped_count(client, monkeypatch):
    monkeypatch.setattr(views, "HOME_ROWS", 3)
    monkeypatch.setattr(views, "HOME_COUNT_CAP", 5)
    unit = Unit()
    unit.grow(SIZES[-1])
    client.force_login(unit.admin)
    response = client.get(reverse("staff:home"))
    follow_ups = response.context["follow_ups"]
    assert len(follow_ups.object_list) == 3
    assert follow_ups.paginator.count == 5 and follow_ups.paginator.count_is_capped
    page = response.content.decode()
    assert len(re.findall(r"Tindak lanjut \d+", page)) == 3  # the top of the 12 open ones
    assert reverse("agreements:follow_ups") in page
    assert reverse("agreements:meetings") in page
    # The whole list has them all, a page at a time.
    whole = client.get(reverse("agreements:follow_ups"))
    assert len(whole.context["page"].object_list) == SIZES[-1]
