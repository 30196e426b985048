"""Calendar feeds: the staff page with each institution's address, replacing an address, and
the feed itself, read by calendar apps without logging in."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from icalendar import Calendar

from agreements.models import CalendarFeed, Meeting, SigningEvent
from agreements.services import meetings as services
from institutions.models import Institution, Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
WIB = ZoneInfo("Asia/Jakarta")
MEETING_DAY = datetime.date(2025, 7, 29)
SITE = "https://pks.example.go.id"


@pytest.fixture(autouse=True)
def _english_and_site(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    settings.SITE_URL = SITE
    with translation.override("en"):
        yield


@pytest.fixture
def today(monkeypatch):
    """Pin today to a week after the seed meeting, so that it falls within the feed's year."""
    day = datetime.date(2025, 8, 5)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: day)
    return day


@pytest.fixture
def world():
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang",
        kind=Institution.Kind.BNNK,
        short_name="BNNK Batang",
    )
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    elsewhere = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(batang, pemalang, title="PKS P4GN dan Rehabilitasi")
    editor = factories.user("editor.batang", institution=batang)
    admin = factories.user("admin.pemalang", institution=pemalang, roles=(Role.ADMIN,))
    viewer = factories.user("viewer.batang", institution=batang, roles=(Role.VIEWER,))
    outsider = factories.user("editor.semarang", institution=elsewhere)
    return {
        "batang": batang,
        "pemalang": pemalang,
        "pekalongan": pekalongan,
        "elsewhere": elsewhere,
        "pks": pks,
        "editor": editor,
        "admin": admin,
        "viewer": viewer,
        "outsider": outsider,
    }


def _meeting(world, agreement=None, *, host=None, **fields) -> Meeting:
    agreement = agreement or world["pks"]
    editor = factories.user(institution=agreement.parties.first().institution)
    return services.meeting_schedule(
        agreement=agreement,
        user=editor,
        date=fields.pop("date", MEETING_DAY),
        start_time=fields.pop("start_time", datetime.time(9, 0)),
        end_time=fields.pop("end_time", None),
        venue=fields.pop("venue", "Kantor BNNK Batang"),
        host=host or world["batang"],
        agenda=fields.pop("agenda", "Pembahasan rancangan PKS."),
    )


def _feed_url(institution: Institution) -> str:
    feed, _created = CalendarFeed.objects.get_or_create(institution=institution)
    return reverse("agreements:calendar_feed", args=[feed.token])


def _events(response) -> dict[str, object]:
    """The feed's VEVENTs by UID."""
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    return {str(event["UID"]): event for event in calendar.events}


# The staff page ------------------------------------------------------------------------------


def test_calendar_page_needs_login(client):
    response = client.get(reverse("agreements:calendar"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_calendar_page_wrong_method_is_405(client, world):
    client.force_login(world["editor"])
    assert client.post(reverse("agreements:calendar")).status_code == 405


def test_calendar_page_makes_and_shows_each_feed(client, world):
    user = world["editor"]
    Membership.objects.create(user=user, institution=world["pekalongan"], role=Role.VIEWER)
    client.force_login(user)
    response = client.get(reverse("agreements:calendar"))
    assert response.status_code == 200
    page = response.content.decode()
    feeds = CalendarFeed.objects.order_by("institution__name")
    assert [feed.institution for feed in feeds] == [world["batang"], world["pekalongan"]]
    for feed in feeds:
        assert SITE + reverse("agreements:calendar_feed", args=[feed.token]) in page
    assert world["elsewhere"].name not in page
    # Editor at Batang may replace its address; a viewer at Pekalongan may not.
    assert reverse("agreements:calendar_regenerate", args=[world["batang"].pk]) in page
    assert reverse("agreements:calendar_regenerate", args=[world["pekalongan"].pk]) not in page
    # A second view keeps the same addresses.
    tokens = set(feeds.values_list("token", flat=True))
    client.get(reverse("agreements:calendar"))
    assert set(CalendarFeed.objects.values_list("token", flat=True)) == tokens


def test_calendar_page_query_count(client, world, django_assert_num_queries):
    user = world["editor"]
    client.force_login(user)
    # session (read, then save: 3), user, roles, institutions, feeds, make, reread
    with django_assert_num_queries(10):
        client.get(reverse("agreements:calendar"))
    for _ in range(3):
        Membership.objects.create(user=user, institution=factories.institution(), role=Role.EDITOR)
    with django_assert_num_queries(10):
        client.get(reverse("agreements:calendar"))
    with django_assert_num_queries(8):  # every feed exists now
        client.get(reverse("agreements:calendar"))


# Replacing an address ------------------------------------------------------------------------


def test_regenerate_needs_login_and_post(client, world):
    url = reverse("agreements:calendar_regenerate", args=[world["batang"].pk])
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(world["editor"])
    assert client.get(url).status_code == 405


def test_regenerate_by_outsider_is_404_and_by_viewer_403(client, world):
    old_url = _feed_url(world["batang"])
    url = reverse("agreements:calendar_regenerate", args=[world["batang"].pk])
    client.force_login(world["outsider"])
    assert client.post(url).status_code == 404
    assert client.post(reverse("agreements:calendar_regenerate", args=[999999])).status_code == 404
    client.force_login(world["viewer"])
    assert client.post(url).status_code == 403
    assert client.get(old_url).status_code == 200  # unchanged


def test_regenerate_replaces_the_address(client, world):
    old_url = _feed_url(world["batang"])
    client.force_login(world["editor"])
    response = client.post(reverse("agreements:calendar_regenerate", args=[world["batang"].pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agreements:calendar")
    new_url = _feed_url(world["batang"])
    assert new_url != old_url
    client.logout()
    assert client.get(old_url).status_code == 404
    assert client.get(new_url).status_code == 200


def test_admin_of_the_institution_may_regenerate(client, world):
    old_url = _feed_url(world["pemalang"])
    client.force_login(world["admin"])
    client.post(reverse("agreements:calendar_regenerate", args=[world["pemalang"].pk]))
    assert _feed_url(world["pemalang"]) != old_url


# The feed ------------------------------------------------------------------------------------


def test_unknown_token_is_404(client, world):
    _feed_url(world["batang"])
    response = client.get(reverse("agreements:calendar_feed", args=["no-such-token"]))
    assert response.status_code == 404


def test_feed_wrong_method_is_405(client, world):
    assert client.post(_feed_url(world["batang"])).status_code == 405


def test_feed_holds_the_meeting_in_wib(client, world, today):
    meeting = _meeting(world)
    services.attendee_add(
        meeting=meeting,
        user=world["editor"],
        new_full_name="Indra Biantong",
        institution=world["pemalang"],
        position="Kasubsi Pelayanan Tahanan",
    )
    response = client.get(_feed_url(world["pemalang"]))  # no login
    events = _events(response)
    event = events[f"meeting-{meeting.pk}@pks.example.go.id"]
    assert str(event["SUMMARY"]) == "PKS P4GN dan Rehabilitasi"
    assert str(event["LOCATION"]) == "Kantor BNNK Batang"
    start = event.decoded("DTSTART")
    assert start == datetime.datetime(2025, 7, 29, 9, 0, tzinfo=WIB)
    assert start == datetime.datetime(2025, 7, 29, 2, 0, tzinfo=datetime.UTC)
    assert event["DTSTART"].params["TZID"] == "Asia/Jakarta"
    assert event.decoded("DTEND") == datetime.datetime(2025, 7, 29, 12, 0, tzinfo=WIB)
    assert SITE + reverse("agreements:meeting_detail", args=[meeting.pk]) in str(
        event["DESCRIPTION"]
    )
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT6H" in response.content
    calendar = Calendar.from_ical(response.content)
    assert [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")] == ["Asia/Jakarta"]
    # No attendee (nor any participant) data in a feed.
    assert b"Indra Biantong" not in response.content
    assert b"Kasubsi" not in response.content


def test_feed_holds_the_institutions_meetings_and_signings_only(client, world, today):
    own = _meeting(world)
    # Hosted by Pekalongan for an agreement it is not party to.
    hosted = _meeting(world, host=world["pekalongan"], venue="Aula Rutan Pekalongan")
    unrelated_pks = factories.agreement(world["elsewhere"], factories.institution())
    unrelated = _meeting(world, unrelated_pks, host=world["elsewhere"], venue="Semarang")
    too_old = _meeting(world, date=today - datetime.timedelta(days=366))
    future = _meeting(world, date=today + datetime.timedelta(days=200))

    # One ceremony signs the Batang-Pemalang PKS and an agreement of other parties.
    ceremony = SigningEvent.objects.create(
        date=datetime.date(2025, 8, 4),
        start_time=datetime.time(9, 0),
        venue="Rutan Pekalongan",
        host=world["pekalongan"],
    )
    world["pks"].signing_event = ceremony
    world["pks"].save(update_fields=["signing_event"])
    others = factories.agreement(world["elsewhere"], factories.institution(), title="PKS Lain")
    others.signing_event = ceremony
    others.save(update_fields=["signing_event"])
    elsewhere_signing = SigningEvent.objects.create(
        date=datetime.date(2025, 8, 10), venue="Semarang", host=world["elsewhere"]
    )

    def uid(kind: str, pk: int) -> str:
        return f"{kind}-{pk}@pks.example.go.id"

    batang = _events(client.get(_feed_url(world["batang"])))
    assert set(batang) == {
        uid("meeting", own.pk),
        uid("meeting", hosted.pk),
        uid("meeting", future.pk),
        uid("signing", ceremony.pk),
    }
    signing = batang[uid("signing", ceremony.pk)]
    assert str(signing["SUMMARY"]) == "Signing: PKS P4GN dan Rehabilitasi"  # not "PKS Lain"
    assert str(signing["LOCATION"]) == "Rutan Pekalongan"
    assert signing.decoded("DTSTART") == datetime.datetime(2025, 8, 4, 9, 0, tzinfo=WIB)

    pekalongan = _events(client.get(_feed_url(world["pekalongan"])))
    assert set(pekalongan) == {uid("meeting", hosted.pk), uid("signing", ceremony.pk)}
    # The host of the ceremony knows every agreement signed there.
    assert str(pekalongan[uid("signing", ceremony.pk)]["SUMMARY"]) == (
        "Signing: PKS Lain; PKS P4GN dan Rehabilitasi"
    )

    elsewhere = _events(client.get(_feed_url(world["elsewhere"])))
    assert set(elsewhere) == {
        uid("meeting", unrelated.pk),
        uid("signing", ceremony.pk),
        uid("signing", elsewhere_signing.pk),
    }
    assert str(elsewhere[uid("signing", ceremony.pk)]["SUMMARY"]) == "Signing: PKS Lain"
    # Without a start time a signing is an all-day event.
    assert elsewhere[uid("signing", elsewhere_signing.pk)].decoded("DTSTART") == datetime.date(
        2025, 8, 10
    )
    assert uid("meeting", too_old.pk) not in batang


def test_feed_uids_are_stable(client, world, today):
    meeting = _meeting(world)
    url = _feed_url(world["batang"])
    first, second = _events(client.get(url)), _events(client.get(url))
    assert set(first) == set(second) == {f"meeting-{meeting.pk}@pks.example.go.id"}


def test_feed_query_count_is_constant(client, world, today, django_assert_num_queries):
    url = _feed_url(world["batang"])

    def add(count: int) -> None:
        for n in range(count):
            agreement = factories.agreement(world["batang"], factories.institution())
            _meeting(world, agreement)
            ceremony = SigningEvent.objects.create(
                date=MEETING_DAY, venue=f"Tempat {n}", host=factories.institution()
            )
            agreement.signing_event = ceremony
            agreement.save(update_fields=["signing_event"])

    add(2)
    with django_assert_num_queries(4):  # feed, meetings, signings, their agreements
        assert len(_events(client.get(url))) == 4
    add(18)
    with django_assert_num_queries(4):
        assert len(_events(client.get(url))) == 40
