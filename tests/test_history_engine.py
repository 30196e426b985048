"""The one history engine and the one display: the same edit leaves the same shape of entry
whether made on a staff page (the services) or in the admin, and every page reads it the same
way (verbose names, choice labels in the user's language, related records by name, dates in
the user's language and Asia/Jakarta time). The admin is no second write path: status moves,
archiving and memberships go through the services, with their checks."""

from __future__ import annotations

import datetime

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from agreements.models import Agreement, Meeting, StatusChange
from agreements.services import lifecycle
from agreements.services import meetings as meeting_services
from institutions import history
from institutions.history_display import history_for, history_rows
from institutions.models import History, Membership
from rehabilitation import selectors
from rehabilitation.models import Enrolment, Participant
from rehabilitation.services import enrolment as rehab
from rehabilitation.services import participants as participant_services
from tests import factories
from tests.rehabilitation.test_enrolment_services import day, enrolled, make_world, new_participant

pytestmark = pytest.mark.django_db

Action = History.Action
Role = Membership.Role


def _url(obj, view: str = "change") -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])


def _plain(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [getattr(item, "pk", item) for item in value]
    return getattr(value, "pk", value)


def _form_data(form) -> dict:
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.BooleanField):
            if value:
                data[form.add_prefix(name)] = "on"
            continue
        data[form.add_prefix(name)] = _plain(value)
    return data


def admin_save(client, obj, **changes) -> None:
    """Submit `obj`'s admin change form as shown, with `changes`; fail unless it is saved."""
    page = client.get(_url(obj))
    assert page.status_code == 200
    data = _form_data(page.context["adminform"].form)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= _form_data(formset.management_form)
        for form in formset.forms:
            data |= _form_data(form)
    data |= {name: _plain(value) for name, value in changes.items()}
    response = client.post(_url(obj), data)
    assert response.status_code == 302, response.context and response.context["errors"]


def last_change(obj) -> History:
    return (
        History.objects.filter(
            content_type=ContentType.objects.get_for_model(obj),
            object_id=str(obj.pk),
            action=Action.CHANGE,
        )
        .order_by("-at", "-pk")
        .first()
    )


def shape(entry: History) -> dict:
    """What an entry says, apart from the values that differ between two runs."""
    return {
        key: (type(pair[0]).__name__, type(pair[1]).__name__) for key, pair in entry.changes.items()
    }


# --- the same edit leaves the same entry, on a staff page or in the admin --------------------


@pytest.fixture
def world():
    return make_world()


def test_an_agreement_edit_is_recorded_alike_by_the_service_and_the_admin(admin_client):
    staff_made, admin_made = (
        factories.agreement(factories.institution(), factories.institution()) for _ in range(2)
    )
    editor = factories.user(institution=staff_made.parties.first().institution)
    lifecycle.agreement_update(agreement=staff_made, user=editor, title="Judul baru")
    admin_save(admin_client, admin_made, title="Judul baru")
    by_staff, by_admin = last_change(staff_made), last_change(admin_made)
    assert by_staff.changes["title"][1] == by_admin.changes["title"][1] == "Judul baru"
    assert (
        shape(by_staff) == shape(by_admin) == {"title": ("str", "str"), "version": ("int", "int")}
    )


def _meeting(agreement: Agreement, user) -> Meeting:
    return meeting_services.meeting_schedule(
        agreement=agreement,
        user=user,
        date=datetime.date(2025, 9, 1),
        start_time=datetime.time(9, 0),
        end_time=None,
        venue="Aula",
        host=agreement.parties.first().institution,
    )


def test_a_meeting_edit_is_recorded_alike_by_the_service_and_the_admin(admin_client):
    agreement = factories.agreement(factories.institution(), factories.institution())
    editor = factories.user(institution=agreement.parties.first().institution)
    staff_made, admin_made = _meeting(agreement, editor), _meeting(agreement, editor)
    meeting_services.meeting_update(meeting=staff_made, user=editor, venue="Ruang Rapat")
    admin_save(admin_client, admin_made, venue="Ruang Rapat")
    assert shape(last_change(staff_made)) == shape(last_change(admin_made))
    assert set(last_change(admin_made).changes) == {"venue", "version"}


def test_a_participant_edit_is_recorded_alike_by_the_service_and_the_admin(admin_client, world):
    staff_made = new_participant(world, full_name="Peserta Satu")
    admin_made = new_participant(world, full_name="Peserta Dua")
    participant_services.participant_update(
        participant=staff_made, user=world["staff"], full_name="Nama Baru"
    )
    admin_save(admin_client, admin_made, full_name="Nama Baru")
    assert shape(last_change(staff_made)) == shape(last_change(admin_made))
    assert set(last_change(admin_made).changes) == {"full_name", "version"}


def test_an_enrolment_moves_only_through_the_services_not_the_admin(admin_client, world):
    # The staff pages' move writes its event and history; the admin shows the course of an
    # enrolment read-only, so a hand-made "dropped out" posted there changes nothing.
    staff_made, admin_made = enrolled(world), enrolled(world)
    rehab.enrolment_end(
        user=world["staff"],
        enrolment=staff_made,
        to_status=Enrolment.Status.DROPPED_OUT,
        date=day(3),
        reason="Mengundurkan diri",
    )
    assert last_change(staff_made).changes["status"][1] == Enrolment.Status.DROPPED_OUT
    before = last_change(admin_made)
    admin_save(
        admin_client,
        admin_made,
        status=Enrolment.Status.DROPPED_OUT,
        end_date=day(3),
        end_reason="Mengundurkan diri",
    )
    admin_made.refresh_from_db()
    assert admin_made.status == Enrolment.Status.ENROLLED
    assert admin_made.end_date is None
    assert last_change(admin_made) == before
    assert admin_client.get(reverse("admin:rehabilitation_enrolment_add")).status_code == 403


def test_admin_archive_goes_through_the_service_and_writes_the_same_entry(admin_client, world):
    staff_made, admin_made = new_participant(world), new_participant(world)
    participant_services.participant_archive(participant=staff_made, user=world["staff"])
    response = admin_client.post(
        _url(admin_made),
        {"CHANGE_FORM-action": "archive", "_selected_action": [str(admin_made.pk)]},
    )
    assert response.status_code == 302

    def archived(participant: Participant) -> History:
        return History.objects.get(object_id=str(participant.pk), action=Action.ARCHIVE)

    assert shape(archived(staff_made)) == shape(archived(admin_made))
    admin_made.refresh_from_db()
    assert admin_made.archived_at is not None and admin_made.version == 2


# --- every page reads it the same way ----------------------------------------------------------


def _shown(rows, label: str) -> tuple[str, str]:
    for row in rows:
        for change in row.changes:
            if change.label == label:
                return change.before, change.after
    raise AssertionError(f"{label} not shown in {[c.label for r in rows for c in r.changes]}")


def test_an_agreement_history_reads_in_the_users_language(world):
    agreement = factories.agreement(world["host"], world["partner"])
    editor = factories.user(institution=world["host"])
    lifecycle.agreement_move(agreement=agreement, user=editor, to_status="discussion")
    lifecycle.agreement_update(agreement=agreement, user=editor, effective_date=day(4))
    with translation.override("en"):
        rows = history_for(agreement)
        assert _shown(rows, "Status") == ("Draft", "In discussion")
        assert _shown(rows, "Effective from") == ("", date_format(day(4), "j F Y"))
        assert date_format(day(4), "j F Y").split()[1] in {"August", "September", "October"}
    with translation.override("id"):
        rows = history_for(agreement)
        assert _shown(rows, "Status") == ("Draf", "Dalam pembahasan")
        assert _shown(rows, "Berlaku sejak") == ("", date_format(day(4), "j F Y"))
        assert date_format(day(4), "j F Y").split()[1] in {"Agustus", "September", "Oktober"}


def test_a_meeting_history_names_related_records_and_localises_times(world):
    agreement = factories.agreement(world["host"], world["partner"])
    editor = factories.user(institution=world["host"])
    meeting = _meeting(agreement, editor)
    meeting_services.meeting_update(meeting=meeting, user=editor, host=world["partner"])
    with translation.override("en"):
        assert _shown(history_for(meeting), "Host") == (str(world["host"]), str(world["partner"]))
    with translation.override("id"):
        rows = history_for(meeting)
        assert _shown(rows, "Penyelenggara") == (str(world["host"]), str(world["partner"]))


def test_a_participant_history_shows_moments_in_jakarta_time_without_microseconds(world):
    participant = new_participant(world)
    participant_services.participant_archive(participant=participant, user=world["staff"])
    participant.refresh_from_db()
    stored = History.objects.get(object_id=str(participant.pk), action=Action.ARCHIVE)
    assert "." in stored.changes["archived_at"][1]  # kept with microseconds, in UTC
    jakarta = participant.archived_at.astimezone(datetime.timezone(datetime.timedelta(hours=7)))
    with translation.override("en"):
        [row] = [row for row in history_for(participant) if row.action == Action.ARCHIVE]
        [change] = [c for c in row.changes if c.after]
        assert change.after == f"{jakarta.day} {jakarta:%B %Y %H.%M}"
        assert "T" not in change.after and ":" not in change.after


def test_an_enrolment_history_shows_labels_names_and_dates_on_its_page(client, world):
    enrolment = enrolled(world)
    client.force_login(world["staff"])
    with translation.override("id"):
        client.cookies["django_language"] = "id"
        text = client.get(reverse("rehabilitation:enrolment", args=[enrolment.pk])).content.decode()
        enrolled_on = date_format(day(2), "j F Y")
        rows = history_rows(selectors.enrolment_history(enrolment))
    assert _shown(rows, "Tanggal terdaftar") == ("", enrolled_on)
    assert f"— → {enrolled_on}" in text  # the day enrolled, in Indonesian
    assert str(world["programme"]) in text  # the programme by name, in the creation entry
    created = rows[-1]
    assert str(world["programme"]) in [change.after for change in created.changes]


# --- the admin is no second write path ----------------------------------------------------------


def test_admin_cannot_move_an_agreement_to_ready_when_it_is_not_ready(admin_client):
    agreement = factories.agreement(
        factories.institution(), factories.institution(), status="discussion", articles=0
    )
    admin_client.cookies["django_language"] = "en"
    response = admin_client.post(
        reverse("admin:agreements_agreement_changelist"),
        {"action": "move_to_ready", "_selected_action": [agreement.pk]},
        follow=True,
    )
    agreement.refresh_from_db()
    assert agreement.status == "discussion"
    assert not StatusChange.objects.filter(agreement=agreement, to_status="ready").exists()
    shown = [str(message) for message in response.context["messages"]]
    with translation.override("en"):
        assert any("The agreement has no articles." in message for message in shown)


def test_agreement_status_is_read_only_in_the_admin_change_form(admin_client):
    agreement = factories.agreement(factories.institution(), factories.institution())
    response = admin_client.get(_url(agreement))
    assert "status" not in response.context["adminform"].form.fields
    admin_save(admin_client, agreement, status="ready")
    agreement.refresh_from_db()
    assert agreement.status == "draft"


@pytest.fixture
def escalator(client):
    """An is_staff account with every membership (and user) permission but no admin role."""
    own = factories.institution()
    user = factories.user("staf.biasa", own, roles=(Role.VIEWER,), is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__endswith="_membership")
        | Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client.force_login(user)
    return client, user, own


def test_staff_without_an_admin_role_cannot_grant_itself_a_role_in_membership_admin(escalator):
    client, user, own = escalator
    response = client.post(
        reverse("admin:institutions_membership_add"),
        {"user": user.pk, "institution": own.pk, "role": Role.PROGRAMME},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=user, role=Role.PROGRAMME).exists()


def test_staff_without_an_admin_role_cannot_grant_itself_a_role_in_the_inline(escalator):
    client, user, own = escalator
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "date_joined_0": "2025-01-01",
        "date_joined_1": "08:00:00",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": str(user.memberships.get().pk),
        "memberships-0-user": str(user.pk),
        "memberships-0-institution": str(own.pk),
        "memberships-0-role": Role.VIEWER,
        "memberships-1-user": str(user.pk),
        "memberships-1-institution": str(own.pk),
        "memberships-1-role": Role.PROGRAMME,
    }
    client.post(reverse("admin:auth_user_change", args=[user.pk]), data)
    assert not Membership.objects.filter(user=user, role=Role.PROGRAMME).exists()


def test_an_institution_administrator_grants_through_the_admin_as_on_the_staff_pages(client):
    own = factories.institution()
    admin_user = factories.user("admin.lembaga", own, roles=(Role.ADMIN,), is_staff=True)
    admin_user.user_permissions.set(Permission.objects.filter(codename__endswith="_membership"))
    colleague = factories.user("rekan", own, roles=(Role.VIEWER,))
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:institutions_membership_add"),
        {"user": colleague.pk, "institution": own.pk, "role": Role.PROGRAMME},
    )
    assert response.status_code == 302
    granted = Membership.objects.get(user=colleague, role=Role.PROGRAMME)
    [entry] = history.history_of(granted)
    assert (entry.action, entry.user) == (Action.CREATE, admin_user)
