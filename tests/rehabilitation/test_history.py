"""The history of rehabilitation records and of staff accounts: every create, change and delete
written with who, when and the values before and after — by the services, by the admin — and
shown on the record's page to those who may see the record (and nobody else). Participants with
enrolments are archived, never deleted."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from institutions import access as institution_access
from institutions import history_display
from institutions import services as staff_services
from institutions.models import History, Membership
from rehabilitation import selectors
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Attendance,
    Enrolment,
    Participant,
    Phase,
    ProgressNote,
    Screening,
    Session,
    Transfer,
)
from rehabilitation.services import enrolment as enrolment_services
from rehabilitation.services import participants as participant_services
from rehabilitation.services import programmes as programme_services
from rehabilitation.services import screening as screening_services
from rehabilitation.services import sessions as session_services
from tests import factories
from tests.rehabilitation.test_enrolment_services import (
    TODAY,
    day,
    enrolled,
    in_phase,
    make_world,
    new_participant,
    refreshed,
    screened,
)

pytestmark = pytest.mark.django_db

Action = History.Action
Role = Membership.Role
Status = Enrolment.Status


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    return made


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield client


def entries(obj, action: str | None = None) -> list[History]:
    found = History.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).order_by("at", "pk")
    return list(found.filter(action=action) if action else found)


def page(client, world, who: str, name: str, pk: int):
    client.force_login(world[who])
    return client.get(reverse(name, args=[pk]))


# --- programmes and phases -----------------------------------------------------------------


def test_creating_a_programme_records_it_and_its_phases(world):
    programme = world["programme"]
    [created] = entries(programme)
    assert created.action == Action.CREATE
    assert created.user == world["editor"]
    assert created.changes["name"] == [None, "Program Rehabilitasi Sosial"]
    assert created.changes["partners"] == [None, [world["partner"].pk]]
    for phase in programme.phases.all():
        [phase_created] = entries(phase)
        assert phase_created.action == Action.CREATE
        assert phase_created.changes["name"] == [None, phase.name]


def test_changing_a_programme_records_before_and_after_and_raises_the_version(world):
    programme = world["programme"]
    extra = factories.institution()
    programme_services.programme_update(
        programme=programme,
        user=world["editor"],
        name="Program Baru",
        partners=[world["partner"], extra],
        capacity=12,
        version=1,
    )
    [change] = entries(programme, Action.CHANGE)
    assert change.user == world["editor"]
    assert change.changes == {
        "name": ["Program Rehabilitasi Sosial", "Program Baru"],
        "capacity": [None, 12],
        "version": [1, 2],
        "partners": [[world["partner"].pk], sorted([world["partner"].pk, extra.pk])],
    }
    programme.refresh_from_db()
    assert programme.version == 2


def test_saving_a_programme_unchanged_records_nothing(world):
    programme = world["programme"]
    programme_services.programme_update(
        programme=programme,
        user=world["editor"],
        name=programme.name,
        partners=[world["partner"]],
        capacity=None,
    )
    assert entries(programme, Action.CHANGE) == []
    programme.refresh_from_db()
    assert programme.version == 1


def test_replacing_phases_records_each_phase_and_the_programme(world):
    programme = world["programme"]
    orientation, primary, reentry = programme.phases.order_by("order")
    programme_services.phases_replace(
        programme=programme,
        user=world["editor"],
        phases=[
            {"id": primary.pk, "name": "Primer Panjang", "planned_weeks": 20},
            {"id": orientation.pk, "name": orientation.name, "planned_weeks": 2},
            {"id": None, "name": "Pasca", "planned_weeks": 4},
        ],
    )
    [changed_primary] = entries(primary, Action.CHANGE)
    assert changed_primary.changes == {
        "order": [2, 1],
        "name": [primary.name, "Primer Panjang"],
        "planned_weeks": [19, 20],
    }
    assert entries(orientation, Action.CHANGE)[0].changes == {"order": [1, 2]}
    [deleted] = History.objects.filter(action=Action.DELETE, object_id=str(reentry.pk))
    assert deleted.changes["name"] == [reentry.name, None]
    added = Phase.objects.get(programme=programme, name="Pasca")
    assert entries(added)[0].action == Action.CREATE
    [programme_change] = entries(programme, Action.CHANGE)
    assert programme_change.changes["version"] == [1, 2]
    assert programme_change.changes["phases"][1] == [
        "1. Primer Panjang (20)",
        f"2. {orientation.name} (2)",
        "3. Pasca (4)",
    ]


def test_the_programme_page_shows_its_history_to_every_staff_member_who_sees_it(english, world):
    programme = world["programme"]
    orientation = programme.phases.get(order=1)
    programme_services.programme_update(
        programme=programme,
        user=world["editor"],
        name="Program Rehabilitasi Sosial Terpadu",
        partners=[world["partner"]],
        capacity=25,
    )
    programme_services.phases_replace(
        programme=programme,
        user=world["editor"],
        phases=[{"id": orientation.pk, "name": "Orientasi", "planned_weeks": 3}],
    )
    for who in ("viewer", "editor", "staff", "partner_staff", "superuser"):
        response = page(english, world, who, "rehabilitation:programme", programme.pk)
        assert response.status_code == 200
        history = response.context["history"]
        assert {entry.object_id for entry in history} >= {
            str(programme.pk),
            str(orientation.pk),
        }
        text = response.content.decode()
        assert "Change history" in text
        assert "Capacity" in text or "capacity" in text
        assert "— → 25" in text
        assert "Program Rehabilitasi Sosial → Program Rehabilitasi Sosial Terpadu" in text
        # The removed phases are still in the programme's history.
        assert text.count("Deleted") >= 2
    assert (
        page(english, world, "outsider", "rehabilitation:programme", programme.pk).status_code
        == 404
    )


def test_the_programme_history_holds_nothing_of_participants(english, world):
    screened(world, world["held"])
    response = page(english, world, "viewer", "rehabilitation:programme", world["programme"].pk)
    kinds = {entry.content_type.model for entry in response.context["history"]}
    assert kinds <= {"programme", "phase"}
    assert "Peserta Satu" not in response.content.decode()


# --- participants and transfers ------------------------------------------------------------


def test_participant_create_correct_and_transfer_are_recorded(world):
    participant = world["held"]
    [created] = entries(participant)
    assert created.action == Action.CREATE and created.user == world["staff"]
    assert created.changes["full_name"] == [None, "Peserta Satu"]

    participant_services.participant_update(
        participant=participant, user=world["staff"], full_name="Peserta Satu Dua", version=1
    )
    [corrected] = entries(participant, Action.CHANGE)
    assert corrected.changes == {
        "full_name": ["Peserta Satu", "Peserta Satu Dua"],
        "version": [1, 2],
    }

    lapas = factories.institution(kind="lapas")
    # An immediate transfer: the user works with the participants there.
    Membership.objects.create(
        user=world["staff"], institution=lapas, role=Membership.Role.PROGRAMME
    )
    institution_access.forget(world["staff"])
    transfer = participant_services.participant_transfer(
        participant=participant,
        user=world["staff"],
        to_institution=lapas,
        date=TODAY,
        register_number="LP-9",
        reason="Putusan",
        version=2,
    )
    assert entries(transfer)[0].action == Action.CREATE
    moved = entries(participant, Action.CHANGE)[-1]
    assert moved.changes["institution_id"] == [world["host"].pk, lapas.pk]
    assert moved.changes["register_number"] == ["PKL-001", "LP-9"]
    assert moved.changes["version"] == [2, 3]


def test_the_participant_page_shows_the_history_only_to_personal_data_roles(english, world):
    participant = world["held"]
    participant_services.participant_update(
        participant=participant, user=world["staff"], case_article="127"
    )
    screened(world, participant)
    for who in ("staff", "partner_staff", "superuser"):
        before = AccessLog.objects.filter(participant=participant).count()
        response = page(english, world, who, "rehabilitation:participant", participant.pk)
        assert response.status_code == 200
        assert [e.action for e in response.context["history"]] == [Action.CHANGE, Action.CREATE]
        text = response.content.decode()
        assert "Case article" in text and "— → 127" in text
        # Viewing the page (and its history) is written to the access log, as before.
        assert AccessLog.objects.filter(participant=participant).count() == before + 1
    for who in ("editor", "viewer", "outsider"):
        response = page(english, world, who, "rehabilitation:participant", participant.pk)
        assert response.status_code == 404


# --- enrolments, and what is recorded with them --------------------------------------------


def test_every_move_of_an_enrolment_is_recorded_with_its_version(world):
    enrolment = in_phase(world, screened(world, world["held"]), phases=2)
    assert entries(enrolment)[0].action == Action.CREATE
    moves = [entry.changes for entry in entries(enrolment, Action.CHANGE)]
    assert [move.get("status") for move in moves] == [
        [Status.SCREENED, Status.ASSESSED],
        [Status.ASSESSED, Status.ENROLLED],
        [Status.ENROLLED, Status.IN_PHASE],
        None,  # in a phase → the next phase: the status stays, the phase changes
    ]
    assert [move["version"] for move in moves] == [[1, 2], [2, 3], [3, 4], [4, 5]]
    assert moves[1]["enrolled_on"] == [None, day(2).isoformat()]
    first, second = (world["programme"].phases.get(order=n).pk for n in (1, 2))
    assert moves[2]["current_phase_id"] == [None, first]
    assert moves[3]["current_phase_id"] == [first, second]
    assert refreshed(enrolment).version == 5
    [assessment] = Assessment.objects.filter(enrolment=enrolment)
    assert entries(assessment)[0].changes["recommendation"] == [None, "social"]


def test_completion_and_ending_record_the_outcome(world):
    enrolment = in_phase(world, screened(world, world["held"]), phases=3)
    enrolment_services.enrolment_complete(
        user=world["staff"],
        enrolment=enrolment,
        date=day(10),
        recovered=True,
        skilled=False,
        independent=True,
    )
    last = entries(enrolment, Action.CHANGE)[-1]
    assert last.changes["status"] == [Status.IN_PHASE, Status.COMPLETED]
    assert last.changes["recovered"] == [None, True]
    assert last.changes["skilled"] == [None, False]
    other = enrolled(world, screened(world))
    enrolment_services.enrolment_end(
        user=world["staff"],
        enrolment=other,
        to_status=Status.DROPPED_OUT,
        date=day(8),
        reason="Tidak hadir",
    )
    ended = entries(other, Action.CHANGE)[-1]
    assert ended.changes["end_reason"] == ["", "Tidak hadir"]


def test_screenings_are_recorded_with_their_scores(world):
    enrolment = screened(world, world["held"])
    [intake] = Screening.objects.filter(enrolment=enrolment)
    [created] = entries(intake)
    assert created.user == world["staff"]
    assert created.changes["scores"] == [None, {"stimulants": 27, "tobacco": 12}]
    later = screening_services.screening_record(
        user=world["partner_staff"], enrolment=enrolment, date=day(3), scores={"alcohol": 4}
    )
    assert entries(later)[0].changes["scores"] == [None, {"alcohol": 4}]
    assert entries(later)[0].user == world["partner_staff"]


def test_sessions_attendance_notes_and_scores_are_recorded(world):
    enrolment = in_phase(world, screened(world, world["held"]))
    session = session_services.session_create(
        programme=world["programme"], user=world["staff"], date=day(5), topic="Kelompok"
    )
    assert entries(session)[0].changes["topic"] == [None, "Kelompok"]
    session_services.attendance_record(
        session=session, user=world["staff"], marks={enrolment.pk: "present"}
    )
    mark = Attendance.objects.get(session=session, enrolment=enrolment)
    assert entries(mark)[0].changes["status"] == [None, "present"]
    session_services.attendance_record(
        session=session, user=world["partner_staff"], marks={enrolment.pk: "excused"}
    )
    [changed] = entries(mark, Action.CHANGE)
    assert (changed.user, changed.changes) == (
        world["partner_staff"],
        {"status": ["present", "excused"]},
    )
    # Saving the same sheet again changes nothing and records nothing.
    session_services.attendance_record(
        session=session, user=world["staff"], marks={enrolment.pk: "excused"}
    )
    assert len(entries(mark)) == 2
    note = session_services.progress_note_add(
        enrolment=enrolment, user=world["staff"], date=day(6), text="Aktif"
    )
    assert entries(note)[0].changes["text"] == [None, "Aktif"]
    score = session_services.instrument_score_add(
        enrolment=enrolment, user=world["staff"], instrument="gses", date=day(6), score=30
    )
    assert entries(score)[0].changes["score"] == [None, 30]


def test_the_enrolment_page_shows_the_history_of_the_enrolment_and_its_records(english, world):
    enrolment = in_phase(world, screened(world, world["held"]))
    session = session_services.session_create(
        programme=world["programme"], user=world["staff"], date=day(5), topic="Kelompok"
    )
    session_services.attendance_record(
        session=session, user=world["staff"], marks={enrolment.pk: "absent"}
    )
    session_services.progress_note_add(
        enrolment=enrolment, user=world["staff"], date=day(6), text="Catatan kemajuan"
    )
    session_services.instrument_score_add(
        enrolment=enrolment, user=world["staff"], instrument="whoqol", date=day(6), score=60
    )
    other = screened(world)  # another enrolment's entries stay on its own page
    response = page(english, world, "partner_staff", "rehabilitation:enrolment", enrolment.pk)
    assert response.status_code == 200
    kinds = [entry.content_type.model for entry in response.context["history"]]
    assert set(kinds) == {
        "enrolment",
        "screening",
        "assessment",
        "attendance",
        "progressnote",
        "instrumentscore",
    }
    assert str(other.pk) not in {
        e.object_id for e in response.context["history"] if e.content_type.model == "enrolment"
    }
    text = response.content.decode()
    assert "Change history" in text
    assert "Screened → Assessed" in text  # the status shown by its label
    assert "Catatan kemajuan" in text
    for who in ("editor", "viewer", "outsider"):
        assert (
            page(english, world, who, "rehabilitation:enrolment", enrolment.pk).status_code == 404
        )


def test_deleted_records_of_an_enrolment_stay_in_its_history(admin_client, world):
    enrolment = in_phase(world, screened(world, world["held"]))
    note = session_services.progress_note_add(
        enrolment=enrolment, user=world["staff"], date=day(6), text="Salah tulis"
    )
    response = admin_client.post(
        reverse("admin:rehabilitation_progressnote_delete", args=[note.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not ProgressNote.objects.filter(pk=note.pk).exists()
    history = selectors.enrolment_history(enrolment)
    deleted = history.get(action=Action.DELETE)
    assert deleted.user.username == "admin"
    assert deleted.changes["text"] == ["Salah tulis", None]


def test_the_session_page_shows_the_history_of_the_session_and_its_marks(english, world):
    enrolment = in_phase(world, screened(world, world["held"]))
    session = session_services.session_create(
        programme=world["programme"], user=world["staff"], date=day(5), topic="Kelompok"
    )
    session_services.attendance_record(
        session=session, user=world["staff"], marks={enrolment.pk: "present"}
    )
    response = page(english, world, "staff", "rehabilitation:session", session.pk)
    assert [e.content_type.model for e in response.context["history"]] == [
        "attendance",
        "session",
    ]
    assert page(english, world, "viewer", "rehabilitation:session", session.pk).status_code == 404


def test_history_labels_fields_and_choices_in_the_users_language(world):
    enrolment = enrolled(world, screened(world, world["held"]))
    with translation.override("en"):
        [entry] = history_display.history_rows(
            selectors.history_where(selectors.entries_of(Enrolment, [str(enrolment.pk)])).filter(
                action=Action.CHANGE, changes__status__1=Status.ENROLLED
            )
        )
        labels = {change.label: (change.before, change.after) for change in entry.changes}
        assert labels["Status"] == ("Assessed", "Enrolled")
        assert labels["Enrolled on"] == ("", date_format(day(2), "j F Y"))
        assert "Version" not in labels
        assert entry.content_type.model == "enrolment"


# --- archiving instead of deleting ---------------------------------------------------------


def test_archive_and_restore_are_recorded_and_raise_the_version(world):
    participant = world["held"]
    participant_services.participant_archive(
        participant=participant, user=world["staff"], version=1
    )
    participant.refresh_from_db()
    assert participant.archived_at is not None and participant.version == 2
    [archived] = entries(participant, Action.ARCHIVE)
    assert archived.changes["archived_at"][0] is None
    assert archived.changes["version"] == [1, 2]
    participant_services.participant_restore(
        participant=participant, user=world["staff"], version=2
    )
    participant.refresh_from_db()
    assert participant.archived_at is None and participant.version == 3
    [restored] = entries(participant, Action.RESTORE)
    assert restored.changes["archived_at"][1] is None
    assert AccessLog.objects.filter(participant=participant, detail="archived").exists()


def test_archive_refuses_open_enrolments_and_the_wrong_people(world):
    participant = world["held"]
    enrolment = screened(world, participant)
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_archive(participant=participant, user=world["staff"])
    assert refused.value.code == "open_enrolment"
    enrolment_services.enrolment_end(
        user=world["staff"],
        enrolment=enrolment,
        to_status=Status.REFERRED,
        date=day(1),
        reason="Edukasi",
    )
    # Programme staff of a partner see the participant, but only the holding institution
    # archives the record.
    for who in ("partner_staff", "outsider", "editor"):
        with pytest.raises(PermissionDenied):
            participant_services.participant_archive(participant=participant, user=world[who])
    participant_services.participant_archive(participant=participant, user=world["staff"])
    with pytest.raises(ValidationError) as again:
        participant_services.participant_archive(participant=participant, user=world["staff"])
    assert again.value.code == "archived"
    with pytest.raises(ValidationError) as screening:
        screened(
            world,
            participant,
            programme=programme_services.programme_create(
                user=world["editor"],
                name="Program Medis",
                kind="medical",
                host=world["host"],
                agreement=world["agreement"],
                launch_date=day(0),
            ),
        )
    assert screening.value.code == "archived"


def test_archive_and_restore_from_the_participant_page(english, world):
    participant = world["held"]
    english.force_login(world["staff"])
    detail = english.get(reverse("rehabilitation:participant", args=[participant.pk]))
    assert "Archive the record" in detail.content.decode()
    assert detail.context["archive_form"]["version"].value() == 1
    response = english.post(
        reverse("rehabilitation:participant_archive", args=[participant.pk]), {"version": "1"}
    )
    assert response.status_code == 302
    participant.refresh_from_db()
    assert participant.archived_at is not None
    detail = english.get(reverse("rehabilitation:participant", args=[participant.pk]))
    text = detail.content.decode()
    assert "This record was archived on" in text and "Restore the record" in text
    assert not detail.context["may_screen"]
    english.post(
        reverse("rehabilitation:participant_restore", args=[participant.pk]), {"version": "2"}
    )
    participant.refresh_from_db()
    assert participant.archived_at is None


def test_archive_page_refusals_are_messages_or_403_never_500(english, world):
    participant = world["held"]
    screened(world, participant)
    english.force_login(world["staff"])
    url = reverse("rehabilitation:participant_archive", args=[participant.pk])
    response = english.post(url, {"version": "1"}, follow=True)
    assert "still open" in response.content.decode()
    response = english.post(url, {"version": "x" * 5000}, follow=True)
    assert response.status_code == 200
    assert "did not say which version" in response.content.decode()
    assert english.get(url).status_code == 405
    english.force_login(world["partner_staff"])
    assert english.post(url, {"version": "1"}).status_code == 403
    english.force_login(world["outsider"])
    assert english.post(url, {"version": "1"}).status_code == 404
    participant.refresh_from_db()
    assert participant.archived_at is None


def test_archived_participants_are_left_out_of_the_lists_unless_asked_for(english, world):
    kept = world["held"]
    screened(world, kept)
    gone = new_participant(world, register_number="PKL-002", full_name="Peserta Arsip")
    enrolment = screened(world, gone)
    enrolment_services.enrolment_end(
        user=world["staff"],
        enrolment=enrolment,
        to_status=Status.REFERRED,
        date=day(1),
        reason="Edukasi",
    )
    participant_services.participant_archive(participant=gone, user=world["staff"])
    english.force_login(world["staff"])
    participants = reverse("rehabilitation:participants")
    assert english.get(participants).context["participants"] == [kept]
    with_archived = english.get(participants, {"archived": "on"})
    assert set(with_archived.context["participants"]) == {kept, gone}
    assert "Archived" in with_archived.content.decode()
    enrolments = reverse("rehabilitation:enrolments")
    assert [e.participant for e in english.get(enrolments).context["enrolments"]] == [kept]
    both = english.get(enrolments, {"archived": "on"}).context["enrolments"]
    assert {e.participant for e in both} == {kept, gone}


# --- the admin -----------------------------------------------------------------------------


def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:rehabilitation_{model._meta.model_name}_{view}", args=args)


def test_admin_changes_are_recorded_with_the_values_read_from_the_database(admin_client, world):
    programme = world["programme"]
    phases = list(programme.phases.order_by("order"))
    data = {
        "name": "Program Diubah di Admin",
        "kind": programme.kind,
        "host": programme.host_id,
        "partners": [world["partner"].pk],
        "agreement": programme.agreement_id,
        "launch_date": programme.launch_date.isoformat(),
        "launch_event": "",
        "capacity": "30",
        "description": "",
        "phases-TOTAL_FORMS": str(len(phases)),
        "phases-INITIAL_FORMS": str(len(phases)),
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "1000",
        "enrolments-TOTAL_FORMS": "0",
        "enrolments-INITIAL_FORMS": "0",
        "enrolments-MIN_NUM_FORMS": "0",
        "enrolments-MAX_NUM_FORMS": "1000",
    }
    for index, phase in enumerate(phases):
        data |= {
            f"phases-{index}-id": str(phase.pk),
            f"phases-{index}-programme": str(programme.pk),
            f"phases-{index}-order": str(phase.order),
            f"phases-{index}-name": phase.name,
            f"phases-{index}-planned_weeks": "5" if index == 0 else str(phase.planned_weeks),
        }
    response = admin_client.post(_admin_url(programme, "change", programme.pk), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    [change] = entries(programme, Action.CHANGE)
    assert change.user.username == "admin"
    assert change.changes["name"] == ["Program Rehabilitasi Sosial", "Program Diubah di Admin"]
    assert change.changes["capacity"] == [None, 30]
    assert change.changes["version"] == [1, 2]
    [phase_change] = entries(phases[0], Action.CHANGE)
    assert phase_change.changes == {"planned_weeks": [phases[0].planned_weeks, 5]}
    programme.refresh_from_db()
    assert programme.version == 2


def test_admin_create_and_delete_are_recorded(admin_client, world):
    response = admin_client.post(
        _admin_url(Session, "add"),
        {
            "programme": world["programme"].pk,
            "date": "2025-09-01",
            "topic": "Sesi Admin",
            "facilitator": "",
            "attendance-TOTAL_FORMS": "0",
            "attendance-INITIAL_FORMS": "0",
            "attendance-MIN_NUM_FORMS": "0",
            "attendance-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302
    session = Session.objects.get(topic="Sesi Admin")
    assert entries(session)[0].action == Action.CREATE
    admin_client.post(_admin_url(Session, "delete", session.pk), {"post": "yes"})
    assert not Session.objects.filter(pk=session.pk).exists()
    deleted = History.objects.get(action=Action.DELETE, object_id=str(session.pk))
    assert deleted.changes["topic"] == ["Sesi Admin", None]


def test_admin_refuses_to_delete_a_participant_with_enrolments(admin_client, world):
    admin_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the message is read in English
    participant = world["held"]
    screened(world, participant)
    change = admin_client.get(_admin_url(Participant, "change", participant.pk))
    assert change.context["has_delete_permission"] is False
    with translation.override("en"):
        response = admin_client.post(
            _admin_url(Participant, "delete", participant.pk), {"post": "yes"}, follow=True
        )
    assert response.status_code == 200
    assert "never deleted" in response.content.decode()
    assert Participant.objects.filter(pk=participant.pk).exists()
    model_admin = change.context["adminform"].model_admin
    with pytest.raises(PermissionDenied):
        model_admin.delete_queryset(change.wsgi_request, Participant.objects.all())
    assert Participant.objects.filter(pk=participant.pk).exists()


def test_admin_deletes_a_participant_without_enrolments_and_records_it(admin_client, world):
    lone = new_participant(world, register_number="PKL-009")
    response = admin_client.post(_admin_url(Participant, "delete", lone.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Participant.objects.filter(pk=lone.pk).exists()
    assert History.objects.filter(action=Action.DELETE, object_id=str(lone.pk)).exists()


def test_admin_archive_action_on_the_participant_page(admin_client, world):
    participant = world["held"]
    url = _admin_url(Participant, "change", participant.pk)
    response = admin_client.post(
        url,
        {"CHANGE_FORM-action": "archive", "_selected_action": [str(participant.pk)]},
    )
    assert response.status_code == 302
    participant.refresh_from_db()
    assert participant.archived_at is not None
    assert entries(participant, Action.ARCHIVE)[0].user.username == "admin"
    admin_client.post(
        url, {"CHANGE_FORM-action": "restore", "_selected_action": [str(participant.pk)]}
    )
    participant.refresh_from_db()
    assert participant.archived_at is None


def test_admin_archive_action_refusal_is_a_message(admin_client, world):
    participant = world["held"]
    screened(world, participant)
    with translation.override("en"):
        response = admin_client.post(
            _admin_url(Participant, "change", participant.pk),
            {"CHANGE_FORM-action": "archive", "_selected_action": [str(participant.pk)]},
            follow=True,
        )
    assert response.status_code == 200
    participant.refresh_from_db()
    assert participant.archived_at is None
    assert not entries(participant, Action.ARCHIVE)


# --- staff accounts --------------------------------------------------------------------------


def test_staff_management_is_recorded_as_history_of_accounts_and_memberships(world, mailoutbox):
    admin = factories.user("admin.pkl", world["host"], (Role.ADMIN,))
    account = staff_services.staff_account_create(
        actor=admin,
        institution=world["host"],
        username="baru",
        full_name="Staf Baru",
        email="baru@example.go.id",
        roles=[Role.VIEWER, Role.EDITOR],
    )
    [created] = entries(account)
    assert (created.action, created.user) == (Action.CREATE, admin)
    assert created.changes["username"] == [None, "baru"]
    assert "password" not in created.changes and "last_login" not in created.changes
    memberships = Membership.objects.filter(user=account)
    assert all(entries(m)[0].action == Action.CREATE for m in memberships)

    granted = staff_services.role_grant(
        actor=admin, institution=world["host"], user=account, role=Role.PROGRAMME
    )
    assert entries(granted)[0].user == admin
    staff_services.role_revoke(
        actor=admin, institution=world["host"], user=account, role=Role.PROGRAMME
    )
    revoked = History.objects.get(action=Action.DELETE, object_id=str(granted.pk))
    assert revoked.changes["role"] == [Role.PROGRAMME, None]

    staff_services.member_remove(actor=admin, institution=world["host"], user=account)
    removed = History.objects.filter(
        action=Action.DELETE,
        content_type=ContentType.objects.get_for_model(Membership),
        changes__user_id__0=account.pk,
    )
    assert removed.count() == 3
    [deactivated] = entries(account, Action.CHANGE)
    assert deactivated.changes == {"is_active": [True, False]}


def test_admin_changes_of_accounts_keep_the_password_out_of_the_history(admin_client):
    user = factories.user("akun.uji", factories.institution())
    response = admin_client.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        {
            "username": "akun.uji",
            "first_name": "Akun",
            "last_name": "",
            "email": "akun@example.go.id",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "08:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    [change] = entries(user, Action.CHANGE)
    assert change.changes["first_name"] == ["", "Akun"]
    assert "password" not in change.changes
    assert get_user_model().objects.get(pk=user.pk).check_password(factories.PASSWORD)


def test_history_is_read_only_in_the_admin_and_hidden_from_non_superusers(admin_client, client):
    entry = History.objects.create(
        content_type=ContentType.objects.get_for_model(Transfer),
        object_id="1",
        object_repr="PKL-001 — Peserta",
        action=Action.CREATE,
    )
    url = reverse("admin:institutions_history_change", args=[entry.pk])
    assert admin_client.get(url).context["has_change_permission"] is False
    assert admin_client.get(reverse("admin:institutions_history_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:institutions_history_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    found = admin_client.get(reverse("admin:institutions_history_changelist"), {"q": "PKL-001"})
    assert list(found.context["cl"].result_list) == [entry]
    assert History.objects.filter(pk=entry.pk).exists()


def test_dates_in_history_are_stored_as_text(world):
    participant = world["held"]
    participant_services.participant_update(
        participant=participant, user=world["staff"], birth_date=datetime.date(1990, 5, 17)
    )
    assert entries(participant, Action.CHANGE)[0].changes["birth_date"] == [None, "1990-05-17"]
