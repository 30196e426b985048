"""Calendar feeds: the staff page with the user's own address for each of their institutions,
making, replacing and removing it, its end with the membership or the account, and the feed
itself, read by calendar apps without logging in, showing what its owner may see."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from icalendar import Calendar

from agreements.access import visible_meetings
from agreements.models import CalendarFeed, Meeting, SigningEvent
from agreements.services import calendar as calendar_services
from agreements.services import meetings as services
from institutions import access
from institutions import services as staff_services
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


def _feed_url(user, institution: Institution) -> str:
    """The address of `user`'s feed of `institution`, made as the calendar page makes it."""
    feed = calendar_services.feed_replace(user=user, institution=institution)
    return reverse("agreements:calendar_feed", args=[feed.token])


def _member(world, institution: Institution, role: str = Role.VIEWER):
    return factories.user(institution=institution, roles=(role,))


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


def test_calendar_page_makes_no_address_until_asked(client, world):
    user = world["viewer"]
    client.force_login(user)
    page = client.get(reverse("agreements:calendar")).content.decode()
    assert not CalendarFeed.objects.exists()
    assert reverse("agreements:calendar_regenerate", args=[world["batang"].pk]) in page
    assert "webcal:" not in page
    # The shared addresses of the institutions are gone: the page says so.
    assert "no longer work" in page


def test_calendar_page_shows_the_users_own_addresses(client, world):
    user = world["viewer"]
    Membership.objects.create(user=user, institution=world["pekalongan"], role=Role.VIEWER)
    colleague = _member(world, world["batang"])
    colleagues_url = _feed_url(colleague, world["batang"])
    client.force_login(user)
    for institution in (world["batang"], world["pekalongan"]):
        response = client.post(reverse("agreements:calendar_regenerate", args=[institution.pk]))
        assert response.status_code == 302
        assert response["Location"] == reverse("agreements:calendar")
    page = client.get(reverse("agreements:calendar")).content.decode()
    feeds = CalendarFeed.objects.filter(user=user).order_by("institution__name")
    assert [feed.institution for feed in feeds] == [world["batang"], world["pekalongan"]]
    for feed in feeds:
        path = reverse("agreements:calendar_feed", args=[feed.token])
        assert SITE + path in page
        assert "webcal://pks.example.go.id" + path in page
        assert reverse("agreements:calendar_revoke", args=[feed.institution.pk]) in page
    assert colleagues_url not in page  # another person's address is theirs alone
    assert world["elsewhere"].name not in page
    # A second view keeps the same addresses.
    tokens = set(feeds.values_list("token", flat=True))
    client.get(reverse("agreements:calendar"))
    assert set(CalendarFeed.objects.filter(user=user).values_list("token", flat=True)) == tokens


def test_calendar_page_query_count(client, world, django_assert_num_queries):
    user = world["editor"]
    client.force_login(user)
    _feed_url(user, world["batang"])
    # session (read, then save: 4), user, roles, institutions, feeds
    with django_assert_num_queries(8):
        client.get(reverse("agreements:calendar"))
    for _ in range(3):
        institution = factories.institution()
        Membership.objects.create(user=user, institution=institution, role=Role.EDITOR)
        access.forget(user)
        _feed_url(user, institution)
    with django_assert_num_queries(8):
        client.get(reverse("agreements:calendar"))


# Making, replacing and removing one's address -------------------------------------------------


@pytest.mark.parametrize("name", ["agreements:calendar_regenerate", "agreements:calendar_revoke"])
def test_address_changes_need_login_and_post(client, world, name):
    url = reverse(name, args=[world["batang"].pk])
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    client.force_login(world["editor"])
    assert client.get(url).status_code == 405


@pytest.mark.parametrize("name", ["agreements:calendar_regenerate", "agreements:calendar_revoke"])
def test_address_of_an_institution_one_is_not_member_of_is_404(client, world, name):
    client.force_login(world["outsider"])
    assert client.post(reverse(name, args=[world["batang"].pk])).status_code == 404
    assert client.post(reverse(name, args=[999999])).status_code == 404
    assert not CalendarFeed.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "editor", "admin"])
def test_every_role_makes_its_own_address(client, world, who):
    user = world[who]
    institution = user.memberships.get().institution
    client.force_login(user)
    client.post(reverse("agreements:calendar_regenerate", args=[institution.pk]))
    feed = CalendarFeed.objects.get()
    assert (feed.user, feed.institution) == (user, institution)


def test_replacing_the_address_kills_the_old_one(client, world):
    user = world["editor"]
    old_url = _feed_url(user, world["batang"])
    colleagues_url = _feed_url(world["viewer"], world["batang"])
    client.force_login(user)
    response = client.post(reverse("agreements:calendar_regenerate", args=[world["batang"].pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agreements:calendar")
    new_url = reverse("agreements:calendar_feed", args=[CalendarFeed.objects.get(user=user).token])
    assert new_url != old_url
    client.logout()
    assert client.get(old_url).status_code == 404
    assert client.get(new_url).status_code == 200
    assert client.get(colleagues_url).status_code == 200  # a colleague's is untouched


def test_removing_the_address(client, world):
    user = world["viewer"]
    url = _feed_url(user, world["batang"])
    client.force_login(user)
    response = client.post(reverse("agreements:calendar_revoke", args=[world["batang"].pk]))
    assert response.status_code == 302
    assert not CalendarFeed.objects.exists()
    assert client.get(url).status_code == 404
    # Removing what is not there is harmless.
    client.post(reverse("agreements:calendar_revoke", args=[world["batang"].pk]))


# Revoked with the membership ------------------------------------------------------------------


def _gone(client, url: str) -> bool:
    client.logout()
    return client.get(url).status_code == 404


def test_a_removed_members_feed_is_404(client, world):
    url = _feed_url(world["editor"], world["batang"])
    staff_services.member_remove(
        actor=_member(world, world["batang"], Role.ADMIN),
        institution=world["batang"],
        user=world["editor"],
    )
    assert _gone(client, url)
    assert not CalendarFeed.objects.exists()


def test_revoking_the_last_role_at_the_institution_revokes_the_feed(client, world):
    user = world["editor"]
    Membership.objects.create(user=user, institution=world["batang"], role=Role.PROGRAMME)
    url = _feed_url(user, world["batang"])
    admin = _member(world, world["batang"], Role.ADMIN)
    staff_services.role_revoke(
        actor=admin, institution=world["batang"], user=user, role=Role.EDITOR
    )
    assert client.get(url).status_code == 200  # still staff there: still their feed
    staff_services.role_revoke(
        actor=admin, institution=world["batang"], user=user, role=Role.PROGRAMME
    )
    assert _gone(client, url)


def test_leaving_one_institution_keeps_the_feed_of_another(client, world):
    user = world["editor"]
    Membership.objects.create(user=user, institution=world["pekalongan"], role=Role.VIEWER)
    batang_url = _feed_url(user, world["batang"])
    pekalongan_url = _feed_url(user, world["pekalongan"])
    staff_services.member_remove(
        actor=_member(world, world["pekalongan"], Role.ADMIN),
        institution=world["pekalongan"],
        user=user,
    )
    assert client.get(batang_url).status_code == 200
    assert client.get(pekalongan_url).status_code == 404


def test_a_membership_removed_in_the_admin_revokes_the_feed(admin_client, client, world):
    url = _feed_url(world["viewer"], world["batang"])
    membership = world["viewer"].memberships.get()
    response = admin_client.post(
        reverse("admin:institutions_membership_delete", args=[membership.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert _gone(client, url)


def test_a_membership_gone_any_other_way_stops_the_feed(client, world):
    """Whatever removed the role, the feed is asked for its owner each time."""
    url = _feed_url(world["viewer"], world["batang"])
    Membership.objects.filter(user=world["viewer"]).delete()
    assert _gone(client, url)


@pytest.mark.parametrize("how", ["save", "admin"])
def test_a_deactivated_users_feed_is_404_and_stays_so(admin_client, client, world, how):
    user = world["viewer"]
    url = _feed_url(user, world["batang"])
    if how == "save":
        user.is_active = False
        user.save()
    else:
        change = reverse("admin:auth_user_change", args=[user.pk])
        form = admin_client.get(change).context["adminform"].form
        data = {key: value for key, value in form.initial.items() if value is not None}
        data.update(
            {
                "username": user.username,
                "is_active": "",
                "date_joined_0": "2025-01-01",
                "date_joined_1": "00:00:00",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
                "positions-TOTAL_FORMS": "0",
                "positions-INITIAL_FORMS": "0",
            }
        )
        data.pop("password", None)
        data.pop("groups", None)
        data.pop("user_permissions", None)
        data.pop("last_login", None)
        data.pop("date_joined", None)
        response = admin_client.post(change, data)
        assert response.status_code == 302, response.context["adminform"].form.errors
        user.refresh_from_db()
        assert not user.is_active
    assert _gone(client, url)
    # Switching the account on again does not bring the old address back.
    user.is_active = True
    user.save()
    assert client.get(url).status_code == 404


def test_deactivation_by_the_staff_pages_revokes_the_feed(client, world):
    url = _feed_url(world["outsider"], world["elsewhere"])
    staff_services.member_remove(
        actor=_member(world, world["elsewhere"], Role.ADMIN),
        institution=world["elsewhere"],
        user=world["outsider"],
    )
    world["outsider"].refresh_from_db()
    assert not world["outsider"].is_active
    assert _gone(client, url)


# What a feed shows: what its owner may see, asked each time ------------------------------------


def test_a_feed_follows_what_its_owner_may_see_now(client, world, today):
    meeting = _meeting(world)
    url = _feed_url(world["admin"], world["pemalang"])
    assert f"meeting-{meeting.pk}@pks.example.go.id" in _events(client.get(url))
    # Pemalang is no longer a party of the draft: its staff no longer see its meetings.
    world["pks"].parties.filter(institution=world["pemalang"]).delete()
    assert _events(client.get(url)) == {}


def test_a_viewers_feed_never_lists_what_the_viewer_cannot_see(client, world, today):
    own = _meeting(world)
    others_draft = factories.agreement(world["elsewhere"], world["pekalongan"], title="Rahasia")
    others = _meeting(world, others_draft, host=world["elsewhere"], venue="Ruang Lapas")
    secret_signing = SigningEvent.objects.create(
        date=MEETING_DAY, venue="Aula Lapas", host=world["elsewhere"]
    )
    others_draft.signing_event = secret_signing
    others_draft.save(update_fields=["signing_event"])
    response = client.get(_feed_url(world["viewer"], world["batang"]))
    assert set(_events(response)) == {f"meeting-{own.pk}@pks.example.go.id"}
    assert b"Rahasia" not in response.content
    assert b"Ruang Lapas" not in response.content
    assert b"Aula Lapas" not in response.content
    assert not visible_meetings(world["viewer"]).filter(pk=others.pk).exists()


def test_a_feed_of_one_user_never_shows_what_only_another_may_see(client, world, today):
    """A at Batang and Pekalongan, B at Semarang: A's feeds hold none of B's drafts, and A's
    Pekalongan feed none of Batang's."""
    a = world["editor"]
    Membership.objects.create(user=a, institution=world["pekalongan"], role=Role.VIEWER)
    batang_meeting = _meeting(world)
    b_only = _meeting(
        world,
        factories.agreement(world["elsewhere"], factories.institution(), title="Hanya B"),
        host=world["elsewhere"],
        venue="Ruang B",
    )
    b_url = _feed_url(world["outsider"], world["elsewhere"])
    assert f"meeting-{b_only.pk}@pks.example.go.id" in _events(client.get(b_url))
    for institution in (world["batang"], world["pekalongan"]):
        response = client.get(_feed_url(a, institution))
        assert f"meeting-{b_only.pk}@pks.example.go.id" not in _events(response)
        assert b"Hanya B" not in response.content
    pekalongan = _events(client.get(_feed_url(a, world["pekalongan"])))
    assert f"meeting-{batang_meeting.pk}@pks.example.go.id" not in pekalongan


# The feed ------------------------------------------------------------------------------------


def test_unknown_token_is_404(client, world):
    _feed_url(world["editor"], world["batang"])
    response = client.get(reverse("agreements:calendar_feed", args=["no-such-token"]))
    assert response.status_code == 404


def test_feed_wrong_method_is_405(client, world):
    assert client.post(_feed_url(world["editor"], world["batang"])).status_code == 405


def test_feed_holds_the_meeting_in_wib(client, world, today):
    meeting = _meeting(world)
    services.attendee_add(
        meeting=meeting,
        user=world["editor"],
        new_full_name="Indra Biantong",
        institution=world["pemalang"],
        position="Kasubsi Pelayanan Tahanan",
    )
    response = client.get(_feed_url(world["admin"], world["pemalang"]))  # no login
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

    batang = _events(client.get(_feed_url(world["editor"], world["batang"])))
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

    pekalongan_staff = _member(world, world["pekalongan"])
    pekalongan = _events(client.get(_feed_url(pekalongan_staff, world["pekalongan"])))
    assert set(pekalongan) == {uid("meeting", hosted.pk), uid("signing", ceremony.pk)}
    # The host of the ceremony knows every agreement signed there.
    assert str(pekalongan[uid("signing", ceremony.pk)]["SUMMARY"]) == (
        "Signing: PKS Lain; PKS P4GN dan Rehabilitasi"
    )

    elsewhere = _events(client.get(_feed_url(world["outsider"], world["elsewhere"])))
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
    url = _feed_url(world["editor"], world["batang"])
    first, second = _events(client.get(url)), _events(client.get(url))
    assert set(first) == set(second) == {f"meeting-{meeting.pk}@pks.example.go.id"}


def test_feed_query_count_is_constant(client, world, today, django_assert_num_queries):
    url = _feed_url(world["editor"], world["batang"])

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
    # feed with its owner and institution, the owner's roles, meetings, signings, their
    # agreements
    with django_assert_num_queries(5):
        assert len(_events(client.get(url))) == 4
    add(18)
    with django_assert_num_queries(5):
        assert len(_events(client.get(url))) == 40


# The admin -----------------------------------------------------------------------------------


def test_the_admin_shows_feeds_to_superusers_and_scoped(admin_client, client, world):
    own = calendar_services.feed_replace(user=world["editor"], institution=world["batang"])
    colleague = _member(world, world["batang"])
    colleagues = calendar_services.feed_replace(user=colleague, institution=world["batang"])
    outsiders = calendar_services.feed_replace(
        user=world["outsider"], institution=world["elsewhere"]
    )
    changelist = reverse("admin:agreements_calendarfeed_changelist")
    everything = set(admin_client.get(changelist).context["cl"].result_list)
    assert everything == {own, colleagues, outsiders}

    # An operator account with the view permission sees its own feed only ...
    editor = world["editor"]
    editor.is_staff = True
    editor.save()
    editor.user_permissions.set(Permission.objects.filter(codename="view_calendarfeed"))
    client.force_login(editor)
    assert set(client.get(changelist).context["cl"].result_list) == {own}
    assert client.get(
        reverse("admin:agreements_calendarfeed_change", args=[colleagues.pk])
    ).status_code in (302, 404)
    # ... and an institution's administrator those of its staff, to revoke them.
    admin = _member(world, world["batang"], Role.ADMIN)
    admin.is_staff = True
    admin.save()
    admin.user_permissions.set(Permission.objects.filter(codename="view_calendarfeed"))
    client.force_login(admin)
    assert set(client.get(changelist).context["cl"].result_list) == {own, colleagues}
    # The token itself is shown nowhere in the admin.
    page = admin_client.get(reverse("admin:agreements_calendarfeed_change", args=[own.pk]))
    assert own.token not in page.content.decode()


# The migration ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_removes_the_shared_institution_feeds():
    """The old feeds belonged to no person: the data migration deletes them (404 from then)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("agreements", "0006_freeze_signed_parties")]
    after = [("agreements", "0008_calendar_feed_per_user")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old_apps = executor.loader.project_state(before).apps
    institution = factories.institution()  # its table is as today
    old_apps.get_model("agreements", "CalendarFeed").objects.create(
        institution_id=institution.pk, token="old-shared-token"
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert not CalendarFeed.objects.exists()
    assert (
        Client().get(reverse("agreements:calendar_feed", args=["old-shared-token"])).status_code
        == 404
    )
