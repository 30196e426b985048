"""Discussion meetings: scheduling, minutes, attendees, follow-ups and the .ics download, for
the parties' staff only, and changes for their editors only."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from icalendar import Calendar

from agreements.models import Attendee, FollowUp, Meeting
from agreements.services import meetings as services
from institutions.models import Institution, Membership, Person, Position
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
WIB = ZoneInfo("Asia/Jakarta")
MEETING_DAY = datetime.date(2025, 7, 29)


@pytest.fixture(autouse=True)
def _english(client, settings):
    """Assertions read the English messages, whatever the Indonesian catalogue says."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def world():
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang",
        kind=Institution.Kind.BNNK,
        short_name="BNNK Batang",
    )
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    lapas = factories.institution(
        "Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind=Institution.Kind.LAPAS
    )
    elsewhere = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(batang, pemalang, title="PKS P4GN dan Rehabilitasi")
    editor = factories.user("editor.batang", institution=batang)
    viewer = factories.user("viewer.pemalang", institution=pemalang, roles=(Role.VIEWER,))
    outsider = factories.user("editor.semarang", institution=elsewhere, roles=(Role.ADMIN,))
    meeting = services.meeting_schedule(
        agreement=pks,
        user=editor,
        date=MEETING_DAY,
        start_time=datetime.time(9, 0),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=batang,
        agenda="Pembahasan rancangan PKS.",
    )
    return {
        "batang": batang,
        "pemalang": pemalang,
        "lapas": lapas,
        "elsewhere": elsewhere,
        "pks": pks,
        "editor": editor,
        "viewer": viewer,
        "outsider": outsider,
        "meeting": meeting,
    }


def _attend(world, person=None, **fields) -> Attendee:
    return services.attendee_add(
        meeting=fields.pop("meeting", world["meeting"]),
        user=world["editor"],
        person=person or factories.person(),
        institution=fields.pop("institution", world["pemalang"]),
        **fields,
    )


def _follow_up(world, **fields) -> FollowUp:
    return services.follow_up_create(
        meeting=fields.pop("meeting", world["meeting"]),
        user=world["editor"],
        description=fields.pop("description", "Menyiapkan penandatanganan PKS."),
        owner=fields.pop("owner", world["pemalang"]),
        due_date=fields.pop("due_date", datetime.date(2025, 8, 4)),
    )


def _schedule_data(**changes) -> dict:
    data = {
        "date": "2025-08-12",
        "start_time": "09:00",
        "end_time": "11:30",
        "venue": "Aula Rutan Pemalang",
        "agenda": "Monitoring dan evaluasi.",
    }
    data.update(changes)
    return data


# Every URL, with the methods it answers and whether it is a change.
def _urls(world) -> list[tuple[str, str, bool]]:
    meeting = world["meeting"]
    attendee = _attend(world)
    follow_up = _follow_up(world)
    return [
        (reverse("agreements:meeting_create", args=[world["pks"].pk]), "get", True),
        (reverse("agreements:meeting_create", args=[world["pks"].pk]), "post", True),
        (reverse("agreements:meeting_detail", args=[meeting.pk]), "get", False),
        (reverse("agreements:meeting_edit", args=[meeting.pk]), "get", True),
        (reverse("agreements:meeting_edit", args=[meeting.pk]), "post", True),
        (reverse("agreements:meeting_ics", args=[meeting.pk]), "get", False),
        (reverse("agreements:attendee_add", args=[meeting.pk]), "post", True),
        (reverse("agreements:attendee_remove", args=[attendee.pk]), "post", True),
        (reverse("agreements:follow_up_create", args=[meeting.pk]), "get", True),
        (reverse("agreements:follow_up_create", args=[meeting.pk]), "post", True),
        (reverse("agreements:follow_up_done", args=[follow_up.pk]), "post", True),
        (reverse("agreements:follow_up_reopen", args=[follow_up.pk]), "post", True),
    ]


# Access ------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, world):
    for url, method, _write in _urls(world):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_outsider_gets_404_everywhere(client, world):
    client.force_login(world["outsider"])
    for url, method, _write in _urls(world):
        assert getattr(client, method)(url).status_code == 404, (method, url)


def test_unknown_objects_are_404(client, world):
    client.force_login(world["editor"])
    assert client.get(reverse("agreements:meeting_detail", args=[999999])).status_code == 404
    assert client.post(reverse("agreements:attendee_remove", args=[999999])).status_code == 404
    assert client.post(reverse("agreements:follow_up_done", args=[999999])).status_code == 404


def test_viewer_reads_but_may_not_change(client, world):
    client.force_login(world["viewer"])
    attendees, follow_ups = Attendee.objects.count(), FollowUp.objects.count()
    for url, method, write in _urls(world):
        response = getattr(client, method)(url)
        assert response.status_code == (403 if write else 200), (method, url)
    # The _urls() helper made one attendee and one follow-up; the viewer changed nothing.
    assert Attendee.objects.count() == attendees + 1
    assert FollowUp.objects.count() == follow_ups + 1
    assert FollowUp.objects.get().done_on is None
    assert Meeting.objects.count() == 1


def test_viewer_sees_no_edit_controls(client, world):
    _attend(world)
    _follow_up(world)
    client.force_login(world["viewer"])
    page = client.get(reverse("agreements:meeting_detail", args=[world["meeting"].pk]))
    content = page.content.decode()
    assert "Kantor BNNK Batang" in content
    assert reverse("agreements:meeting_edit", args=[world["meeting"].pk]) not in content
    assert reverse("agreements:attendee_add", args=[world["meeting"].pk]) not in content
    assert "Mark done" not in content


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("meeting_detail", "post"),
        ("meeting_ics", "post"),
        ("meeting_create", "put"),
        ("meeting_edit", "delete"),
        ("attendee_add", "get"),
        ("follow_up_create", "put"),
    ],
)
def test_wrong_method_is_405(client, world, name, method):
    client.force_login(world["editor"])
    pk = world["pks"].pk if name == "meeting_create" else world["meeting"].pk
    response = getattr(client, method)(reverse(f"agreements:{name}", args=[pk]))
    assert response.status_code == 405


def test_wrong_method_on_attendee_and_follow_up_actions_is_405(client, world):
    client.force_login(world["editor"])
    attendee = _attend(world)
    follow_up = _follow_up(world)
    assert client.get(reverse("agreements:attendee_remove", args=[attendee.pk])).status_code == 405
    assert client.get(reverse("agreements:follow_up_done", args=[follow_up.pk])).status_code == 405
    assert (
        client.get(reverse("agreements:follow_up_reopen", args=[follow_up.pk])).status_code == 405
    )
    assert Attendee.objects.filter(pk=attendee.pk).exists()


def test_superuser_may_edit_any_meeting(client, world):
    client.force_login(factories.user(is_superuser=True, is_staff=True))
    response = client.post(
        reverse("agreements:meeting_edit", args=[world["meeting"].pk]),
        {
            **_schedule_data(date="2025-07-29"),
            "host": world["batang"].pk,
            "minutes": "Notulen.",
            "version": world["meeting"].version,
        },
    )
    assert response.status_code == 302
    assert Meeting.objects.get().minutes == "Notulen."


# Scheduling and editing ----------------------------------------------------------------------


def test_editor_schedules_a_meeting(client, world):
    client.force_login(world["editor"])
    url = reverse("agreements:meeting_create", args=[world["pks"].pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _schedule_data(host=world["lapas"].pk))
    meeting = Meeting.objects.exclude(pk=world["meeting"].pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agreements:meeting_detail", args=[meeting.pk])
    assert meeting.agreement == world["pks"]
    assert meeting.date == datetime.date(2025, 8, 12)
    assert meeting.start_time == datetime.time(9, 0)
    assert meeting.end_time == datetime.time(11, 30)
    assert meeting.venue == "Aula Rutan Pemalang"
    assert meeting.host == world["lapas"]  # any institution may host


def test_until_finished_is_an_empty_end_time(client, world):
    client.force_login(world["editor"])
    client.post(
        reverse("agreements:meeting_create", args=[world["pks"].pk]),
        _schedule_data(end_time="", host=world["batang"].pk),
    )
    assert Meeting.objects.exclude(pk=world["meeting"].pk).get().end_time is None
    page = client.get(reverse("agreements:meeting_detail", args=[world["meeting"].pk]))
    assert "until finished" in page.content.decode()


def test_meetings_can_be_added_after_signing(client, world):
    signed = factories.agreement(world["batang"], world["pemalang"], status="signed")
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:meeting_create", args=[signed.pk]),
        _schedule_data(host=world["batang"].pk),
    )
    assert response.status_code == 302
    assert signed.meetings.count() == 1


@pytest.mark.parametrize("end_time", ["08:30", "09:00"])
def test_end_before_start_is_a_form_error(client, world, end_time):
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:meeting_create", args=[world["pks"].pk]),
        _schedule_data(end_time=end_time, host=world["batang"].pk),
    )
    assert response.status_code == 200
    assert "must end after it starts" in response.content.decode()
    assert "Aula Rutan Pemalang" in response.content.decode()  # what was typed is kept
    assert Meeting.objects.count() == 1


def test_missing_fields_are_form_errors(client, world):
    client.force_login(world["editor"])
    response = client.post(reverse("agreements:meeting_create", args=[world["pks"].pk]), {})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"date", "start_time", "venue", "host"}
    assert Meeting.objects.count() == 1


def test_editor_records_minutes_and_decisions(client, world):
    client.force_login(world["editor"])
    url = reverse("agreements:meeting_edit", args=[world["meeting"].pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            **_schedule_data(date="2025-07-29", end_time=""),
            "venue": "Kantor BNNK Batang",
            "host": world["batang"].pk,
            "minutes": "PARA PIHAK membahas langkah strategis.",
            "decisions": "Penandatanganan PKS pada 4 Agustus 2025\nPencanangan program",
            "version": world["meeting"].version,
        },
    )
    assert response.status_code == 302
    meeting = Meeting.objects.get(pk=world["meeting"].pk)
    assert meeting.minutes == "PARA PIHAK membahas langkah strategis."
    assert meeting.decisions.splitlines() == [
        "Penandatanganan PKS pada 4 Agustus 2025",
        "Pencanangan program",
    ]
    assert meeting.end_time is None
    page = client.get(reverse("agreements:meeting_detail", args=[meeting.pk])).content.decode()
    assert "Pencanangan program" in page
    assert reverse("agreements:follow_up_create", args=[meeting.pk]) + "?decision=1" in page


def test_edit_with_end_before_start_changes_nothing(client, world):
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:meeting_edit", args=[world["meeting"].pk]),
        {
            **_schedule_data(start_time="13:00", end_time="10:00"),
            "host": world["batang"].pk,
            "minutes": "Tidak tersimpan.",
            "version": world["meeting"].version,
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["end_time"]  # one clear message, not the constraint's as well
    meeting = Meeting.objects.get(pk=world["meeting"].pk)
    assert meeting.start_time == datetime.time(9, 0)
    assert meeting.minutes == ""


def test_service_refuses_end_before_start_and_viewers():
    batang = factories.institution(kind=Institution.Kind.BNNK)
    pks = factories.agreement(batang, factories.institution())
    editor = factories.user(institution=batang)
    viewer = factories.user(institution=batang, roles=(Role.VIEWER,))
    fields = {
        "agreement": pks,
        "date": MEETING_DAY,
        "start_time": datetime.time(9),
        "venue": "Kantor",
        "host": batang,
    }
    with pytest.raises(ValidationError) as raised:
        services.meeting_schedule(user=editor, end_time=datetime.time(8), **fields)
    assert "end_time" in raised.value.message_dict
    with pytest.raises(PermissionDenied):
        services.meeting_schedule(user=viewer, end_time=None, **fields)
    assert not Meeting.objects.exists()


# Attendees -----------------------------------------------------------------------------------


def test_known_person_attends_with_recorded_position(client, world):
    indra = factories.person("Indra Biantong")
    Position.objects.create(
        person=indra,
        institution=world["pemalang"],
        title="Kasubsi Pelayanan Tahanan",
        start_date=datetime.date(2024, 1, 1),
    )
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {"person": indra.pk, "institution": world["pemalang"].pk},
    )
    assert response.status_code == 302
    attendee = Attendee.objects.get()
    assert attendee.person == indra
    assert attendee.institution == world["pemalang"]
    assert attendee.position == "Kasubsi Pelayanan Tahanan"


def test_new_person_on_the_spot_is_created(client, world):
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {
            "new_full_name": "Anis Arum Nuraeni",
            "new_nip": "198705122010122001",
            "new_email": "anis@example.org",
            "position": "JFT Perawat",
            "institution": world["pemalang"].pk,
        },
    )
    assert response.status_code == 302
    anis = Person.objects.get(full_name="Anis Arum Nuraeni")
    assert anis.nip == "198705122010122001"
    assert anis.email == "anis@example.org"
    attendee = Attendee.objects.get()
    assert (attendee.person, attendee.position) == (anis, "JFT Perawat")


def test_same_person_twice_is_a_form_error(client, world):
    indra = factories.person("Indra Biantong")
    _attend(world, person=indra)
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {"person": indra.pk, "institution": world["lapas"].pk},
    )
    assert response.status_code == 200
    assert "already recorded as attending" in response.content.decode()
    assert Attendee.objects.count() == 1


def test_service_refuses_the_same_person_twice(world):
    indra = factories.person("Indra Biantong")
    _attend(world, person=indra)
    with pytest.raises(ValidationError) as raised:
        _attend(world, person=indra)
    assert "person" in raised.value.message_dict
    assert Attendee.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a known person or enter the name of a new one."),
        ({"new_full_name": "Orang Baru", "new_nip": "12345"}, "A NIP has 18 digits."),
        ({"new_full_name": "Orang Baru", "new_email": "not-an-address"}, "valid email"),
    ],
)
def test_bad_attendee_input_is_a_form_error(client, world, data, message):
    client.force_login(world["editor"])
    people = Person.objects.count()
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {"institution": world["pemalang"].pk, **data},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Person.objects.count() == people
    assert not Attendee.objects.exists()


def test_known_person_and_new_name_together_is_a_form_error(client, world):
    known = factories.person()
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {"person": known.pk, "new_full_name": "Orang Baru", "institution": world["lapas"].pk},
    )
    assert response.status_code == 200
    assert "not both" in response.content.decode()
    assert not Attendee.objects.exists()
    assert not Person.objects.filter(full_name="Orang Baru").exists()


def test_new_person_with_a_known_nip_is_a_form_error(client, world):
    factories.person("Indra Biantong", nip="198001012005011001")
    client.force_login(world["editor"])
    response = client.post(
        reverse("agreements:attendee_add", args=[world["meeting"].pk]),
        {
            "new_full_name": "Indra B.",
            "new_nip": "198001012005011001",
            "institution": world["pemalang"].pk,
        },
    )
    assert response.status_code == 200
    assert "already known" in response.content.decode()
    assert Person.objects.count() == 1
    assert not Attendee.objects.exists()


def test_editor_removes_an_attendee(client, world):
    attendee = _attend(world)
    client.force_login(world["editor"])
    response = client.post(reverse("agreements:attendee_remove", args=[attendee.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("agreements:meeting_detail", args=[world["meeting"].pk])
    assert not Attendee.objects.exists()
    assert Person.objects.filter(pk=attendee.person_id).exists()  # the person stays known


# Follow-ups ----------------------------------------------------------------------------------


def test_follow_up_from_a_decision(client, world):
    services.meeting_update(
        meeting=world["meeting"],
        user=world["editor"],
        decisions="Penandatanganan PKS\nPencanangan program rehabilitasi sosial",
    )
    client.force_login(world["editor"])
    url = reverse("agreements:follow_up_create", args=[world["meeting"].pk])
    page = client.get(url + "?decision=1")
    assert page.status_code == 200
    assert page.context["form"].initial["description"] == "Pencanangan program rehabilitasi sosial"
    assert client.get(url + "?decision=99").status_code == 200  # out of range: an empty form
    response = client.post(
        url,
        {
            "description": "Pencanangan program rehabilitasi sosial",
            "owner": world["pemalang"].pk,
            "due_date": "2025-08-04",
        },
    )
    assert response.status_code == 302
    follow_up = FollowUp.objects.get()
    assert follow_up.meeting == world["meeting"]
    assert follow_up.owner == world["pemalang"]
    assert follow_up.due_date == datetime.date(2025, 8, 4)
    assert follow_up.done_on is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"due_date": "2025-07-01"}, "due_date"),  # before the meeting
        ({"due_date": "not a date"}, "due_date"),
        ({"description": ""}, "description"),
        ("outsider_owner", "owner"),  # neither a party nor the host
    ],
)
def test_bad_follow_up_is_a_form_error(client, world, changes, field):
    data = {"description": "Tindak lanjut", "owner": world["batang"].pk, "due_date": "2025-08-04"}
    if changes == "outsider_owner":
        data["owner"] = world["elsewhere"].pk
    else:
        data.update(changes)
    client.force_login(world["editor"])
    response = client.post(reverse("agreements:follow_up_create", args=[world["meeting"].pk]), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not FollowUp.objects.exists()


def test_follow_up_done_and_reopened(client, world):
    follow_up = _follow_up(world)
    client.force_login(world["editor"])
    response = client.post(reverse("agreements:follow_up_done", args=[follow_up.pk]))
    assert response.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.done_on == timezone.localdate()
    # Done twice: a message, not an error page, and the date stays.
    response = client.post(reverse("agreements:follow_up_done", args=[follow_up.pk]), follow=True)
    assert "already done" in response.content.decode()
    response = client.post(reverse("agreements:follow_up_reopen", args=[follow_up.pk]))
    assert response.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.done_on is None


def test_open_follow_ups_for_only_the_users_institutions(world):
    late = _follow_up(world, description="Terlambat", due_date=datetime.date(2025, 8, 1))
    later = _follow_up(world, description="Nanti", due_date=datetime.date(2025, 9, 1))
    done = _follow_up(world, description="Selesai", due_date=datetime.date(2025, 7, 30))
    services.follow_up_mark_done(follow_up=done, user=world["editor"])
    other_host = factories.institution(kind=Institution.Kind.BNNK)
    other_editor = factories.user(institution=other_host)
    other_pks = factories.agreement(other_host, factories.institution())
    other_meeting = services.meeting_schedule(
        agreement=other_pks,
        user=other_editor,
        date=MEETING_DAY,
        start_time=datetime.time(10),
        end_time=None,
        venue="Tempat lain",
        host=other_host,
    )
    elsewhere = services.follow_up_create(
        meeting=other_meeting,
        user=other_editor,
        description="Tindak lanjut lain",
        owner=other_host,
        due_date=datetime.date(2025, 7, 31),
    )
    assert list(services.open_follow_ups_for(world["viewer"])) == [late, later]
    assert list(services.open_follow_ups_for(world["outsider"])) == []
    assert list(services.open_follow_ups_for(other_editor)) == [elsewhere]
    assert late.is_overdue(today=datetime.date(2025, 8, 2))
    assert not later.is_overdue(today=datetime.date(2025, 8, 2))


def test_open_follow_ups_query_count(world, django_assert_num_queries):
    for day in range(1, 6):
        _follow_up(world, due_date=datetime.date(2025, 8, day))
    user = world["viewer"]
    with django_assert_num_queries(2):  # the user's memberships, then the follow-ups
        rows = [
            (f.meeting.agreement.title, f.owner.name) for f in services.open_follow_ups_for(user)
        ]
    assert len(rows) == 5


# The meeting page ----------------------------------------------------------------------------


def test_meeting_page_query_count_is_constant(client, world, django_assert_num_queries):
    client.force_login(world["editor"])
    url = reverse("agreements:meeting_detail", args=[world["meeting"].pk])

    def add(count: int) -> None:
        for _ in range(count):
            _attend(world)
            _follow_up(world)

    add(2)
    with django_assert_num_queries(14):  # the history is one query, whatever its length
        client.get(url)
    add(8)
    with django_assert_num_queries(14):
        response = client.get(url)
    assert len(response.context["attendees"]) == 10
    assert len(response.context["follow_ups"]) == 10


def test_section_partial_lists_meetings_and_the_schedule_link(world):
    agreement = world["pks"]
    html = render_to_string(
        "agreements/meetings/_section.html", {"agreement": agreement, "may_edit": True}
    )
    assert "Kantor BNNK Batang" in html
    assert "BNNK Batang" in html
    assert reverse("agreements:meeting_detail", args=[world["meeting"].pk]) in html
    assert reverse("agreements:meeting_ics", args=[world["meeting"].pk]) in html
    assert reverse("agreements:meeting_create", args=[agreement.pk]) in html
    html = render_to_string(
        "agreements/meetings/_section.html", {"agreement": agreement, "may_edit": False}
    )
    assert reverse("agreements:meeting_create", args=[agreement.pk]) not in html


# The .ics download ---------------------------------------------------------------------------


def test_meeting_ics(client, world, settings):
    settings.SITE_URL = "https://pks.example.go.id"
    _attend(world, person=factories.person("Indra Biantong"))
    client.force_login(world["viewer"])
    response = client.get(reverse("agreements:meeting_ics", args=[world["meeting"].pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="meeting-2025-07-29-pks-p4gn-dan-rehabilitasi.ics"'
    )
    calendar = Calendar.from_ical(response.content)
    [event] = calendar.events
    assert str(event["SUMMARY"]) == "PKS P4GN dan Rehabilitasi"
    assert str(event["LOCATION"]) == "Kantor BNNK Batang"
    assert str(event["UID"]) == f"meeting-{world['meeting'].pk}@pks.example.go.id"
    start = event.decoded("DTSTART")
    assert start == datetime.datetime(2025, 7, 29, 9, 0, tzinfo=WIB)
    assert start == datetime.datetime(2025, 7, 29, 2, 0, tzinfo=datetime.UTC)
    assert event["DTSTART"].params["TZID"] == "Asia/Jakarta"
    # Until finished: shown as three hours, with a note.
    assert event.decoded("DTEND") == datetime.datetime(2025, 7, 29, 12, 0, tzinfo=WIB)
    description = str(event["DESCRIPTION"])
    assert "Pembahasan rancangan PKS." in description
    assert "hingga selesai" in description
    meeting_url = reverse("agreements:meeting_detail", args=[world["meeting"].pk])
    assert "https://pks.example.go.id" + meeting_url in description
    [zone] = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Asia/Jakarta"
    assert b"+0700" in response.content
    assert b"Indra Biantong" not in response.content


def test_meeting_ics_with_an_end_time(client, world):
    services.meeting_update(
        meeting=world["meeting"], user=world["editor"], end_time=datetime.time(11, 30)
    )
    client.force_login(world["editor"])
    response = client.get(reverse("agreements:meeting_ics", args=[world["meeting"].pk]))
    [event] = Calendar.from_ical(response.content).events
    assert event.decoded("DTEND") == datetime.datetime(2025, 7, 29, 11, 30, tzinfo=WIB)
    assert "hingga selesai" not in str(event["DESCRIPTION"])
