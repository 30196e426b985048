"""Query counts of every agreements page, pinned at two sizes of data.

Each page is rendered with 2 and then 12 of each related thing (agreements of the unit,
parties' agreements, articles, meetings, attendees, follow-ups, signings), made through the
factories and the services, and must take the same pinned number of queries both times: an
N+1 or a query that grows with the data fails here.
"""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from agreements.models import Agreement, Article, CalendarFeed, Meeting
from agreements.services import calendar as calendar_services
from agreements.services import issuing
from agreements.services import meetings as meeting_services
from agreements.views import exports, meetings, public
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
SIZES = (2, 12)
_seq = itertools.count(1)


class Unit:
    """A busy unit: its staff, one agreement followed closely, and as many of everything else
    as `grow` was told."""

    def __init__(self) -> None:
        today = timezone.localdate()
        self.institution = factories.institution("Lembaga Pemasyarakatan Uji Hitung", kind="lapas")
        self.partner = factories.institution("Badan Narkotika Uji Hitung", kind="bnnk")
        self.editor = factories.user(institution=self.institution, roles=(Role.EDITOR,))
        self.admin = factories.user(institution=self.institution, roles=(Role.ADMIN,))
        self.superuser = factories.user(is_superuser=True, is_staff=True)
        self.draft = factories.agreement(self.institution, self.partner, title="PKS Diikuti")
        self.signed = factories.agreement(
            self.institution,
            self.partner,
            status=Agreement.Status.SIGNED,
            title="PKS Ditandatangani",
            signed_on=today - datetime.timedelta(days=10),
            term_months=24,
        )
        self.meeting = self._meeting(self.draft, days=-5)
        self.feed = calendar_services.feed_replace(user=self.editor, institution=self.institution)
        self.size = 0

    def _meeting(self, agreement: Agreement, *, days: int) -> Meeting:
        return meeting_services.meeting_schedule(
            agreement=agreement,
            user=self.editor,
            date=timezone.localdate() + datetime.timedelta(days=days),
            start_time=datetime.time(9),
            end_time=None,
            venue="Aula",
            host=self.institution,
        )

    def grow(self, size: int) -> None:
        """Bring each related thing up to `size`."""
        today = timezone.localdate()
        for i in range(self.size, size):
            n = next(_seq)
            other = factories.institution(f"Rumah Tahanan Negara Hitung {n}")
            factories.agreement(
                self.institution,
                other,
                status=Agreement.Status.SIGNED,
                title=f"PKS Hitung {n}",
                signed_on=today - datetime.timedelta(days=i),
                end_date=today + datetime.timedelta(days=30 + i),
            )
            factories.agreement(self.institution, other, title=f"Draf Hitung {n}")
            Article.objects.create(
                agreement=self.draft, number=100 + n, heading=f"Pasal {n}", body="Isi."
            )
            Article.objects.create(
                agreement=self.signed, number=100 + n, heading=f"Pasal {n}", body="Isi."
            )
            self._meeting(self.draft, days=i)
            meeting_services.attendee_add(
                meeting=self.meeting,
                user=self.editor,
                institution=self.institution,
                new_full_name=f"Peserta Rapat {n}",
                position="Staf",
            )
            meeting_services.follow_up_create(
                meeting=self.meeting,
                user=self.editor,
                description=f"Tindak lanjut {n}",
                owner=self.partner if i % 2 else self.institution,
                due_date=today + datetime.timedelta(days=(i % 7) - 3),  # some overdue
            )
        self.size = size


@pytest.fixture
def unit() -> Unit:
    return Unit()


def _get(client, url: str, **headers):
    response = client.get(url, **headers)
    if response.streaming:
        b"".join(response.streaming_content)
    return response


def _assert_constant(client, unit: Unit, django_assert_num_queries, url, expected: int, **kw):
    """The page `url(unit)` answers 200 in `expected` queries at each size (a fresh cache)."""
    for size in SIZES:
        unit.grow(size)
        cache.clear()
        with django_assert_num_queries(expected):
            response = _get(client, url(unit), **kw)
        assert response.status_code == 200, (size, response.status_code)


# --- Public pages ------------------------------------------------------------------------

PUBLIC_PAGES = {
    # cache version, results (count, page, parties)
    "registry": (lambda u: reverse("public:registry"), 3),
    "registry deep page": (lambda u: reverse("public:registry") + "?page=2", 3),
    "registry search": (lambda u: reverse("public:registry") + "?q=Hitung&page=2", 3),
    "registry status": (lambda u: reverse("public:registry") + "?status=active&page=2", 3),
    # agreement, parties, articles, issued document, scan, addenda, programmes
    "agreement detail": (lambda u: reverse("public:agreement", args=[u.signed.pk]), 7),
}


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_page_query_count_is_constant(
    name, client, unit, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(public, "REGISTRY_PAGE_SIZE", 1)  # a deep page at both sizes
    url, expected = PUBLIC_PAGES[name]
    _assert_constant(client, unit, django_assert_num_queries, url, expected)


def test_registry_is_answered_from_the_cache_until_an_agreement_changes(
    client, unit, django_assert_num_queries
):
    unit.grow(2)
    url = reverse("public:registry") + "?q=Hitung"
    first = client.get(url)
    assert "PKS Hitung" in first.content.decode()
    with django_assert_num_queries(0):  # the version and the results from the cache
        again = client.get(url)
    assert again.content.decode().count("PKS Hitung") == first.content.decode().count("PKS Hitung")
    # A conditional request with the validator gets 304, without rendering.
    with django_assert_num_queries(0):
        not_modified = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert not_modified.status_code == 304
    # A newly signed agreement is listed at once.
    factories.agreement(
        unit.institution,
        unit.partner,
        status=Agreement.Status.SIGNED,
        title="PKS Hitung Baru",
        signed_on=timezone.localdate(),
    )
    fresh = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert fresh.status_code == 200
    assert "PKS Hitung Baru" in fresh.content.decode()


def test_issued_pdf_and_verification_query_counts_are_constant(
    client, unit, django_assert_num_queries
):
    for size in SIZES:
        unit.grow(size)
        document = issuing.issued_document_for(unit.signed)
        # agreement with its issued document
        with django_assert_num_queries(1):
            response = client.get(reverse("public:agreement_pdf", args=[unit.signed.pk]))
        assert response.status_code == 200
        # document with agreement and parent, parties with institutions and signatories
        with django_assert_num_queries(2):
            response = client.get(reverse("public:verify", args=[document.verification_code]))
        assert response.status_code == 200


# --- Staff pages -------------------------------------------------------------------------

#: Every staff page reads the session, the user and their memberships, and saves the session
#: (three statements): six queries before its own.
STAFF_PAGES = {
    # party choices, capped count, page, parties
    "agreement list": (lambda u: reverse("agreements:list"), 10),
    "agreement list, filtered deep page": (
        lambda u: reverse("agreements:list") + "?q=Hitung&kind=pks&status=active&page=2",
        10,
    ),
    "agreement detail": (lambda u: reverse("agreements:detail", args=[u.draft.pk]), 15),
    "meeting detail": (lambda u: reverse("agreements:meeting_detail", args=[u.meeting.pk]), 14),
    "meeting ics": (lambda u: reverse("agreements:meeting_ics", args=[u.meeting.pk]), 8),
    # capped count, page
    "meeting list": (lambda u: reverse("agreements:meetings") + "?page=2", 8),
    # owner choices, capped count, page
    "follow-up list": (lambda u: reverse("agreements:follow_ups") + "?owner=&page=2", 9),
    # and the chosen owner
    "follow-up list, filtered": (
        lambda u: reverse("agreements:follow_ups") + f"?overdue=on&owner={u.institution.pk}",
        10,
    ),
    # party choices, agreements, parties (one chunk of 500)
    "export csv": (lambda u: reverse("agreements:export", args=["csv"]) + "?q=Hitung", 8),
    "export xlsx": (lambda u: reverse("agreements:export", args=["xlsx"]), 8),
    "calendar page": (lambda u: reverse("agreements:calendar"), 8),
    "institution staff page": (lambda u: reverse("institutions:staff", args=[u.institution.pk]), 9),
}


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_staff_page_query_count_is_constant(
    name, client, unit, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(exports, "LIST_PAGE_SIZE", 1)
    monkeypatch.setattr(meetings, "LIST_PAGE_SIZE", 1)
    url, expected = STAFF_PAGES[name]
    client.force_login(unit.admin)
    _assert_constant(client, unit, django_assert_num_queries, url, expected)


def test_calendar_feed_query_count_is_constant_and_answers_304(
    client, unit, django_assert_num_queries
):
    url = reverse("agreements:calendar_feed", args=[unit.feed.token])
    # feed with owner and institution, owner's memberships, meetings, signings, their agreements
    _assert_constant(client, unit, django_assert_num_queries, lambda u: url, 5)
    first = client.get(url)
    body = first.content.decode()
    assert body.count("BEGIN:VEVENT") >= 12
    # Polled again with its validators: 304 after the feed's two access queries.
    for headers in (
        {"HTTP_IF_NONE_MATCH": first["ETag"]},
        {"HTTP_IF_MODIFIED_SINCE": first["Last-Modified"]},
    ):
        with django_assert_num_queries(2):
            again = client.get(url, **headers)
        assert again.status_code == 304
    # A new meeting changes the feed.
    unit._meeting(unit.draft, days=200)
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_calendar_feed_covers_a_bounded_window(client, unit):
    unit.grow(2)
    old = unit._meeting(unit.draft, days=-120)
    far = unit._meeting(unit.draft, days=400)
    body = client.get(reverse("agreements:calendar_feed", args=[unit.feed.token])).content
    assert f"meeting-{old.pk}@".encode() not in body
    assert f"meeting-{far.pk}@".encode() not in body
    assert f"meeting-{unit.meeting.pk}@".encode() in body
    assert CalendarFeed.objects.filter(pk=unit.feed.pk).exists()


# --- Admin change lists -------------------------------------------------------------------

ADMIN_LISTS = {
    # session, user, the session saved, capped count, page, and each list's own
    "agreements/agreement": 9,
    "agreements/agreement/?q=Hitung": 9,
    "agreements/meeting": 9,
    "agreements/signingevent": 9,
    "agreements/party": 7,
    "agreements/followup": 9,
    "institutions/institution": 8,
    "institutions/person": 8,
    "institutions/membership": 7,
    "institutions/history": 10,
}


@pytest.mark.parametrize("path", ADMIN_LISTS)
def test_admin_change_list_query_count_is_constant(path, client, unit, django_assert_num_queries):
    client.force_login(unit.superuser)
    url = f"/admin/{path}" if "?" in path else f"/admin/{path}/"
    _assert_constant(client, unit, django_assert_num_queries, lambda u: url, ADMIN_LISTS[path])


def test_admin_counts_are_read_per_row_and_zero_when_there_is_nothing(client, unit):
    unit.grow(2)
    client.force_login(unit.superuser)
    meetings = client.get("/admin/agreements/meeting/").context["cl"].result_list
    counts = {meeting.pk: meeting.attendee_count for meeting in meetings}
    assert counts.pop(unit.meeting.pk) == 2
    assert counts and set(counts.values()) == {0}
    events = client.get("/admin/agreements/signingevent/").context["cl"].result_list
    assert events and {event.agreement_count for event in events} == {1}
