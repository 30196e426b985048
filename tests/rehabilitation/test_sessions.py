"""Sessions and their attendance, progress notes and instrument scores: recorded by the
programme staff of the host and partners only, every change and view logged, and the
attendance rate computed as present / (present + absent)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from institutions.models import Institution, Membership
from rehabilitation.assist import Risk, Substance
from rehabilitation.models import (
    AccessLog,
    Attendance,
    Enrolment,
    InstrumentScore,
    ProgressNote,
    Screening,
    ScreeningScore,
    Session,
)
from rehabilitation.services import sessions as services
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Mark = Attendance.Status
SESSION_DAY = datetime.date(2025, 9, 1)
INTAKE_DAY = datetime.date(2025, 8, 11)


@pytest.fixture(autouse=True)
def _english(client, settings):
    """Assertions read the English messages, whatever the Indonesian catalogue says."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def world():
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )
    lapas = factories.institution(
        "Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind=Institution.Kind.LAPAS
    )
    elsewhere = factories.institution(
        "Lembaga Pemasyarakatan Kelas I Semarang", kind=Institution.Kind.LAPAS
    )
    pks = factories.agreement(batang, pekalongan, status="signed")
    programme = factories.programme(
        pks,
        pekalongan,
        batang,
        name="Rehabilitasi Sosial TC",
        phases=[("Orientasi", 2), ("Primer", 19)],
    )
    phases = list(programme.phases.order_by("order"))
    other_pks = factories.agreement(elsewhere, factories.institution(), status="signed")
    other_programme = factories.programme(other_pks, elsewhere, name="Program Semarang")
    enrolments = [
        factories.enrolment(
            factories.participant(pekalongan, full_name=f"Peserta {n}"),
            programme,
            status=Enrolment.Status.IN_PHASE,
        )
        for n in range(1, 4)
    ]
    # Held at Lapas Pekalongan, in the programme of Rutan Pekalongan.
    held_at_lapas = factories.enrolment(
        factories.participant(lapas, full_name="Peserta Lapas"),
        programme,
        status=Enrolment.Status.ENROLLED,
    )
    foreign = factories.enrolment(
        factories.participant(elsewhere, full_name="Peserta Semarang"),
        other_programme,
        status=Enrolment.Status.IN_PHASE,
    )
    users = {
        "host": factories.user("program.rutan", institution=pekalongan, roles=(Role.PROGRAMME,)),
        "partner": factories.user("program.bnnk", institution=batang, roles=(Role.PROGRAMME,)),
        "partner_admin": factories.user("admin.bnnk", institution=batang, roles=(Role.ADMIN,)),
        "lapas": factories.user("program.lapas", institution=lapas, roles=(Role.PROGRAMME,)),
        "editor": factories.user(
            "editor.rutan", institution=pekalongan, roles=(Role.EDITOR, Role.VIEWER)
        ),
        "viewer": factories.user("viewer.bnnk", institution=batang, roles=(Role.VIEWER,)),
        "outsider": factories.user(
            "program.semarang", institution=elsewhere, roles=(Role.PROGRAMME, Role.ADMIN)
        ),
    }
    session = services.session_create(
        programme=programme,
        user=users["host"],
        date=SESSION_DAY,
        topic="Morning meeting",
        phase=phases[1],
        facilitator="Anis Arum Nuraeni",
    )
    return {
        "programme": programme,
        "phases": phases,
        "other_programme": other_programme,
        "enrolments": enrolments,
        "held_at_lapas": held_at_lapas,
        "foreign": foreign,
        "session": session,
        **users,
    }


def _log(action: str, user) -> list[AccessLog]:
    return list(AccessLog.objects.filter(action=action, user=user).order_by("pk"))


def _named(lines: list[AccessLog]) -> set[int]:
    """The participants the lines name: alone, or listed (a list is one line)."""
    return {line.participant_id for line in lines if line.participant_id} | {
        record.participant_id for line in lines for record in line.records.all()
    }


# Access ------------------------------------------------------------------------------------


def _pages(world) -> dict[str, str]:
    enrolment = world["enrolments"][0]
    return {
        "sessions": reverse("rehabilitation:sessions", args=[world["programme"].pk]),
        "session_create": reverse("rehabilitation:session_create", args=[world["programme"].pk]),
        "session": reverse("rehabilitation:session", args=[world["session"].pk]),
        "note_add": reverse("rehabilitation:note_add", args=[enrolment.pk]),
        "score_add": reverse("rehabilitation:score_add", args=[enrolment.pk]),
    }


#: The user, and whether they get each page (the programme's pages, the enrolment's pages).
ACCESS = [
    ("host", True, True),
    ("partner", True, True),
    ("partner_admin", True, True),
    ("lapas", False, False),  # holds other participants of the programme, not this one
    ("editor", False, False),  # sees the programme, not its participants
    ("viewer", False, False),
    ("outsider", False, False),
]


@pytest.mark.parametrize(("who", "programme_pages", "enrolment_pages"), ACCESS)
def test_access_to_every_page(client, world, who, programme_pages, enrolment_pages):
    client.force_login(world[who])
    for name, url in _pages(world).items():
        allowed = enrolment_pages if name in ("note_add", "score_add") else programme_pages
        response = client.get(url)
        assert response.status_code == (200 if allowed else 404), (name, who)
        if not allowed:
            assert "Peserta 1" not in response.content.decode()


@pytest.mark.parametrize("who", ["lapas", "editor", "viewer", "outsider"])
def test_refused_users_change_nothing(client, world, who):
    client.force_login(world[who])
    enrolment = world["enrolments"][0]
    pages = _pages(world)
    posts = {
        "session_create": {"date": "2025-09-08", "topic": "Tidak boleh"},
        "session": {f"mark_{enrolment.pk}": Mark.PRESENT},
        "note_add": {"date": "2025-09-01", "text": "Tidak boleh"},
        "score_add": {"instrument": "gses", "date": "2025-09-01", "score": "30"},
    }
    for name, data in posts.items():
        assert client.post(pages[name], data).status_code == 404, name
    assert Session.objects.count() == 1
    assert not Attendance.objects.exists()
    assert not ProgressNote.objects.exists()
    assert not InstrumentScore.objects.exists()
    assert not AccessLog.objects.exists()


def test_staff_of_the_participants_institution_may_write_in_their_enrolment(client, world):
    client.force_login(world["lapas"])
    enrolment = world["held_at_lapas"]
    assert client.get(reverse("rehabilitation:note_add", args=[enrolment.pk])).status_code == 200
    response = client.post(
        reverse("rehabilitation:note_add", args=[enrolment.pk]),
        {"date": "2025-09-01", "text": "Mengikuti kegiatan dengan baik."},
    )
    assert response.status_code == 302
    assert ProgressNote.objects.get().author == world["lapas"]


def test_anonymous_goes_to_login(client, world):
    for name, url in _pages(world).items():
        for method in (client.get, client.post) if name != "sessions" else (client.get,):
            response = method(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")


def test_wrong_methods_are_405(client, world):
    client.force_login(world["host"])
    pages = _pages(world)
    assert client.post(pages["sessions"]).status_code == 405
    for url in pages.values():
        assert client.put(url).status_code == 405
        assert client.delete(url).status_code == 405


def test_superuser_sees_the_session(client, world):
    client.force_login(factories.user(is_superuser=True, is_staff=True))
    assert client.get(_pages(world)["session"]).status_code == 200


def test_services_refuse_users_without_the_right(world):
    enrolment = world["enrolments"][0]
    for who in ("editor", "viewer", "outsider"):
        with pytest.raises(PermissionDenied):
            services.session_create(
                programme=world["programme"], user=world[who], date=SESSION_DAY, topic="X"
            )
        with pytest.raises(PermissionDenied):
            services.attendance_record(
                session=world["session"], user=world[who], marks={enrolment.pk: Mark.PRESENT}
            )
        with pytest.raises(PermissionDenied):
            services.progress_note_add(
                enrolment=enrolment, user=world[who], date=SESSION_DAY, text="X"
            )
        with pytest.raises(PermissionDenied):
            services.instrument_score_add(
                enrolment=enrolment, user=world[who], instrument="gses", date=SESSION_DAY, score=20
            )
    assert not Attendance.objects.exists()


# Sessions ----------------------------------------------------------------------------------


def test_session_list_shows_sessions_with_counts(client, world):
    first, second, third = world["enrolments"]
    services.attendance_record(
        session=world["session"],
        user=world["host"],
        marks={first.pk: Mark.PRESENT, second.pk: Mark.ABSENT, third.pk: Mark.EXCUSED},
    )
    client.force_login(world["partner"])
    response = client.get(_pages(world)["sessions"])
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    [(session, summary)] = response.context["rows"]
    assert session == world["session"]
    assert (summary.present, summary.absent, summary.excused) == (1, 1, 1)
    page = response.content.decode()
    assert "Morning meeting" in page
    assert "1 September 2025" in page
    assert "50.0%" in page
    # The list shows no participant, so it writes no access log.
    assert not AccessLog.objects.filter(action=AccessLog.Action.VIEW).exists()


def test_session_list_query_count_is_constant(client, world, django_assert_num_queries):
    client.force_login(world["host"])
    url = _pages(world)["sessions"]

    def add_sessions(count):
        for day in range(count):
            session = Session.objects.create(
                programme=world["programme"], date=SESSION_DAY, topic=f"Sesi {day}"
            )
            Attendance.objects.create(
                session=session, enrolment=world["enrolments"][0], status=Mark.PRESENT
            )

    add_sessions(4)
    # Session and user, memberships, programme, partners, sessions with counts; then the
    # session is saved (SESSION_SAVE_EVERY_REQUEST: savepoint, update, release).
    with django_assert_num_queries(9):
        client.get(url)
    add_sessions(45)
    with django_assert_num_queries(9):
        client.get(url)


def test_create_a_session_any_date(client, world):
    client.force_login(world["partner"])
    planned = timezone.localdate() + datetime.timedelta(days=60)
    response = client.post(
        _pages(world)["session_create"],
        {
            "date": planned.isoformat(),
            "topic": "  Relapse prevention  ",
            "phase": world["phases"][0].pk,
            "facilitator": "Konselor BNNK",
        },
    )
    session = Session.objects.get(topic="Relapse prevention")
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:session", args=[session.pk])
    assert session.programme == world["programme"]
    assert session.date == planned
    assert session.phase == world["phases"][0]
    assert session.facilitator == "Konselor BNNK"


def test_create_a_session_refuses_bad_input(client, world):
    client.force_login(world["host"])
    foreign_phase = world["other_programme"].phases.first()
    url = _pages(world)["session_create"]
    response = client.post(url, {"date": "2025-09-08", "topic": "Sesi", "phase": foreign_phase.pk})
    assert response.status_code == 200
    assert response.context["form"].errors["phase"]
    response = client.post(url, {"date": "not a date", "topic": ""})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"date", "topic"}
    assert Session.objects.count() == 1


def test_session_create_service_refuses_a_phase_of_another_programme(world):
    foreign_phase = world["other_programme"].phases.first()
    with pytest.raises(ValidationError) as refused:
        services.session_create(
            programme=world["programme"],
            user=world["host"],
            date=SESSION_DAY,
            topic="Sesi",
            phase=foreign_phase,
        )
    assert refused.value.error_dict["phase"][0].code == "phase_not_of_programme"
    with pytest.raises(ValidationError) as refused:
        services.session_create(
            programme=world["programme"], user=world["host"], date=SESSION_DAY, topic="  "
        )
    assert refused.value.error_dict["topic"][0].code == "topic_required"


# The attendance sheet ----------------------------------------------------------------------


def test_session_page_shows_the_sheet_and_logs_the_view(client, world):
    client.force_login(world["partner"])
    response = client.get(_pages(world)["session"])
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    shown = [enrolment for enrolment, _field in response.context["form"].rows()]
    assert set(shown) == {*world["enrolments"], world["held_at_lapas"]}
    page = response.content.decode()
    assert "Peserta Lapas" in page
    assert "Peserta Semarang" not in page
    logged = _log(AccessLog.Action.VIEW, world["partner"])
    assert _named(logged) == {e.participant_id for e in shown}
    assert all(line.detail == f"attendance of session {world['session'].pk}" for line in logged)
    # One line per institution holding the participants shown, listing them.
    lapas = world["held_at_lapas"].participant
    [lapas_line] = [line for line in logged if line.institution == lapas.institution]
    assert _named([lapas_line]) == {lapas.pk}


def test_attendance_saved_then_resaved(client, world):
    first, second, third = world["enrolments"]
    url = _pages(world)["session"]
    client.force_login(world["host"])
    response = client.post(
        url,
        {f"mark_{first.pk}": Mark.PRESENT, f"mark_{second.pk}": Mark.ABSENT},
    )
    assert response.status_code == 302
    assert response["Location"] == url
    marks = dict(Attendance.objects.values_list("enrolment_id", "status"))
    assert marks == {first.pk: Mark.PRESENT, second.pk: Mark.ABSENT}
    changes = _log(AccessLog.Action.CHANGE, world["host"])
    assert _named(changes) == {
        first.participant_id,
        second.participant_id,
    }

    # The page shows the marks; saving again updates them, never duplicates.
    page = client.get(url)
    assert page.context["form"][f"mark_{first.pk}"].value() == Mark.PRESENT
    response = client.post(
        url,
        {
            f"mark_{first.pk}": Mark.PRESENT,
            f"mark_{second.pk}": Mark.EXCUSED,
            f"mark_{third.pk}": Mark.ABSENT,
        },
    )
    assert response.status_code == 302
    assert Attendance.objects.count() == 3
    marks = dict(Attendance.objects.values_list("enrolment_id", "status"))
    assert marks == {first.pk: Mark.PRESENT, second.pk: Mark.EXCUSED, third.pk: Mark.ABSENT}
    # Only what changed is logged as changed: the second and the third, not the first again.
    later = _log(AccessLog.Action.CHANGE, world["host"])[len(changes) :]
    assert _named(later) == {
        second.participant_id,
        third.participant_id,
    }

    # A row left empty keeps its mark.
    client.post(url, {f"mark_{third.pk}": Mark.PRESENT})
    marks = dict(Attendance.objects.values_list("enrolment_id", "status"))
    assert marks == {first.pk: Mark.PRESENT, second.pk: Mark.EXCUSED, third.pk: Mark.PRESENT}


def test_the_sheet_ignores_an_enrolment_of_another_programme(client, world):
    client.force_login(world["host"])
    first = world["enrolments"][0]
    response = client.post(
        _pages(world)["session"],
        {f"mark_{first.pk}": Mark.PRESENT, f"mark_{world['foreign'].pk}": Mark.PRESENT},
    )
    assert response.status_code == 302
    assert list(Attendance.objects.values_list("enrolment_id", flat=True)) == [first.pk]


def test_an_unknown_mark_is_a_form_error(client, world):
    client.force_login(world["host"])
    first = world["enrolments"][0]
    response = client.post(_pages(world)["session"], {f"mark_{first.pk}": "late"})
    assert response.status_code == 200
    assert response.context["form"].errors[f"mark_{first.pk}"]
    assert not Attendance.objects.exists()


def test_service_refuses_an_enrolment_of_another_programme(world):
    first = world["enrolments"][0]
    with pytest.raises(ValidationError) as refused:
        services.attendance_record(
            session=world["session"],
            user=world["host"],
            marks={first.pk: Mark.PRESENT, world["foreign"].pk: Mark.PRESENT},
        )
    assert refused.value.code == "not_in_programme"
    assert "Only participants enrolled in this programme" in refused.value.messages[0]
    assert not Attendance.objects.exists()
    with pytest.raises(ValidationError) as refused:
        services.attendance_record(
            session=world["session"], user=world["host"], marks={999999: Mark.PRESENT}
        )
    assert refused.value.code == "not_in_programme"


def test_service_refuses_an_unknown_mark(world):
    with pytest.raises(ValidationError) as refused:
        services.attendance_record(
            session=world["session"],
            user=world["host"],
            marks={world["enrolments"][0].pk: "late"},
        )
    assert refused.value.code == "invalid_status"


def test_the_sheet_lists_who_took_part_on_the_day(world):
    programme, session = world["programme"], world["session"]

    def enrol(**fields):
        return factories.enrolment(factories.participant(programme.host), programme, **fields)

    screened = enrol(status=Enrolment.Status.SCREENED)
    enrolled_later = enrol(
        status=Enrolment.Status.ENROLLED,
        start_date=datetime.date(2025, 9, 2),
        enrolled_on=datetime.date(2025, 9, 3),
    )
    enrolled_before = enrol(
        status=Enrolment.Status.ENROLLED,
        start_date=datetime.date(2025, 8, 20),
        enrolled_on=SESSION_DAY,
    )
    completed_after = enrol(
        status=Enrolment.Status.COMPLETED,
        enrolled_on=datetime.date(2025, 8, 18),
        end_date=datetime.date(2025, 9, 30),
    )
    dropped_before = enrol(
        status=Enrolment.Status.DROPPED_OUT,
        enrolled_on=datetime.date(2025, 8, 18),
        end_date=datetime.date(2025, 8, 25),
    )
    sheet = set(services.sheet_enrolments(session))
    assert sheet == {*world["enrolments"], world["held_at_lapas"], enrolled_before, completed_after}
    for absent_from_sheet in (screened, enrolled_later, dropped_before):
        with pytest.raises(ValidationError) as refused:
            services.attendance_record(
                session=session, user=world["host"], marks={absent_from_sheet.pk: Mark.PRESENT}
            )
        assert refused.value.code == "not_active"

    # Once marked, a participant stays on the sheet even after their enrolment ends.
    services.attendance_record(
        session=session, user=world["host"], marks={enrolled_before.pk: Mark.PRESENT}
    )
    Enrolment.objects.filter(pk=enrolled_before.pk).update(
        status=Enrolment.Status.RELEASED, end_date=datetime.date(2025, 8, 31)
    )
    assert enrolled_before in set(services.sheet_enrolments(session))
    services.attendance_record(
        session=session, user=world["host"], marks={enrolled_before.pk: Mark.EXCUSED}
    )
    assert Attendance.objects.get(enrolment=enrolled_before).status == Mark.EXCUSED


def test_session_page_query_count_is_constant(client, world, django_assert_num_queries):
    programme = world["programme"]

    def enrol(count):
        for _ in range(count):
            enrolment = factories.enrolment(
                factories.participant(programme.host), programme, status=Enrolment.Status.IN_PHASE
            )
            Attendance.objects.create(
                session=world["session"], enrolment=enrolment, status=Mark.PRESENT
            )

    client.force_login(world["host"])
    url = _pages(world)["session"]
    enrol(1)  # 5 on the sheet, with the four of the world
    # Session and user, memberships, session with programme, partners, enrolments, marks,
    # the access log (its line and the records listed), the history of the session and its
    # marks, the phase named in it; then the session is saved (savepoint, update, release).
    with django_assert_num_queries(14):
        response = client.get(url)
    assert len(response.context["form"].rows()) == 5
    enrol(45)
    with django_assert_num_queries(14):
        response = client.get(url)
    assert len(response.context["form"].rows()) == 50


# Progress notes ----------------------------------------------------------------------------


def test_add_a_progress_note(client, world):
    enrolment = world["enrolments"][0]
    url = reverse("rehabilitation:note_add", args=[enrolment.pk])
    client.force_login(world["partner"])
    page = client.get(url)
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0")
    assert "Peserta 1" in page.content.decode()
    response = client.post(url, {"date": "2025-09-02", "text": "  Aktif dalam sesi kelompok.  "})
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:enrolment", args=[enrolment.pk])
    note = ProgressNote.objects.get()
    assert (note.enrolment, note.author, note.date, note.text) == (
        enrolment,
        world["partner"],
        datetime.date(2025, 9, 2),
        "Aktif dalam sesi kelompok.",
    )
    [viewed] = _log(AccessLog.Action.VIEW, world["partner"])
    assert viewed.participant == enrolment.participant
    [changed] = _log(AccessLog.Action.CHANGE, world["partner"])
    assert changed.participant == enrolment.participant
    assert changed.detail == f"progress note {note.pk} on enrolment {enrolment.pk}"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"date": "2025-09-02", "text": "   "}, "text", "This field is required."),
        ({"date": "2099-01-01", "text": "Catatan"}, "date", "The date cannot be in the future."),
        (
            {"date": "2025-08-10", "text": "Catatan"},
            "date",
            "The date cannot be before the intake screening (2025-08-11).",
        ),
        ({"date": "", "text": "Catatan"}, "date", "This field is required."),
    ],
)
def test_a_bad_note_is_a_form_error(client, world, data, field, message):
    client.force_login(world["host"])
    url = reverse("rehabilitation:note_add", args=[world["enrolments"][0].pk])
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert not ProgressNote.objects.exists()
    assert not AccessLog.objects.filter(action=AccessLog.Action.CHANGE).exists()


def test_progress_note_service_validates(world):
    enrolment = world["enrolments"][0]
    with pytest.raises(ValidationError) as refused:
        services.progress_note_add(
            enrolment=enrolment, user=world["host"], date=SESSION_DAY, text=""
        )
    assert refused.value.error_dict["text"][0].code == "empty_note"
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        services.progress_note_add(enrolment=enrolment, user=world["host"], date=tomorrow, text="X")
    assert refused.value.error_dict["date"][0].code == "future_date"
    assert not ProgressNote.objects.exists()


# Instrument scores -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument", "score", "accepted"),
    [
        ("gses", 9, False),
        ("gses", 10, True),
        ("gses", 40, True),
        ("gses", 41, False),
        ("whoqol", 0, True),
        ("whoqol", 100, True),
        ("whoqol", 101, False),
    ],
)
def test_instrument_score_range(client, world, instrument, score, accepted):
    enrolment = world["enrolments"][0]
    client.force_login(world["host"])
    response = client.post(
        reverse("rehabilitation:score_add", args=[enrolment.pk]),
        {"instrument": instrument, "date": "2025-09-15", "score": str(score)},
    )
    if accepted:
        assert response.status_code == 302
        assert response["Location"] == reverse("rehabilitation:enrolment", args=[enrolment.pk])
        recorded = InstrumentScore.objects.get()
        assert (recorded.enrolment, recorded.instrument, recorded.score, recorded.date) == (
            enrolment,
            instrument,
            score,
            datetime.date(2025, 9, 15),
        )
        [changed] = _log(AccessLog.Action.CHANGE, world["host"])
        assert changed.participant == enrolment.participant
    else:
        assert response.status_code == 200
        expected = {
            "gses": "A GSES score runs from 10 to 40.",
            "whoqol": "A WHOQOL-BREF score runs from 0 to 100.",
        }[instrument]
        assert response.context["form"].errors["score"] == [expected]
        assert not response.context["form"].non_field_errors()
        assert not InstrumentScore.objects.exists()
        assert not AccessLog.objects.filter(action=AccessLog.Action.CHANGE).exists()


def test_a_negative_or_missing_score_is_a_form_error(client, world):
    client.force_login(world["host"])
    url = reverse("rehabilitation:score_add", args=[world["enrolments"][0].pk])
    for data in (
        {"instrument": "gses", "date": "2025-09-15", "score": "-1"},
        {"instrument": "gses", "date": "2025-09-15", "score": "dua puluh"},
        {"instrument": "sf36", "date": "2025-09-15", "score": "20"},
        {"instrument": "gses", "date": "2099-09-15", "score": "20"},
    ):
        response = client.post(url, data)
        assert response.status_code == 200, data
        assert response.context["form"].errors, data
    assert not InstrumentScore.objects.exists()


def test_instrument_score_service_refuses_out_of_range(world):
    with pytest.raises(ValidationError) as refused:
        services.instrument_score_add(
            enrolment=world["enrolments"][0],
            user=world["host"],
            instrument="gses",
            date=SESSION_DAY,
            score=41,
        )
    assert refused.value.error_dict["score"][0].code == "out_of_range"
    with pytest.raises(ValidationError) as refused:
        services.instrument_score_add(
            enrolment=world["enrolments"][0],
            user=world["host"],
            instrument="sf36",
            date=SESSION_DAY,
            score=41,
        )
    assert refused.value.error_dict["instrument"][0].code == "unknown_instrument"
    assert not InstrumentScore.objects.exists()


# Attendance rates --------------------------------------------------------------------------


def _mark(world, day: datetime.date, marks: dict[Enrolment, str]) -> Session:
    session = services.session_create(
        programme=world["programme"], user=world["host"], date=day, topic=f"Sesi {day}"
    )
    services.attendance_record(
        session=session,
        user=world["host"],
        marks={enrolment.pk: mark for enrolment, mark in marks.items()},
    )
    return session


def test_attendance_rates_against_hand_computed_figures(world):
    a, b, c = world["enrolments"]
    sept = datetime.date(2025, 9, 1)
    # The world's session (1 September) has no marks and counts for nothing.
    _mark(world, datetime.date(2025, 9, 8), {a: Mark.PRESENT, b: Mark.ABSENT, c: Mark.EXCUSED})
    _mark(world, datetime.date(2025, 9, 15), {a: Mark.PRESENT, b: Mark.PRESENT, c: Mark.EXCUSED})
    _mark(world, datetime.date(2025, 9, 30), {a: Mark.ABSENT, b: Mark.EXCUSED})
    _mark(world, datetime.date(2025, 10, 1), {a: Mark.PRESENT, b: Mark.ABSENT})

    # a: 3 present, 1 absent -> 3/4; b: 2 absent, 1 present, 1 excused -> 1/3;
    # c: only excused -> no rate.
    assert services.attendance_rate(a) == Decimal("0.7500")
    assert services.attendance_rate(b) == Decimal("0.3333")
    assert services.attendance_rate(c) is None
    assert services.attendance_summary(b) == services.AttendanceSummary(
        present=1, absent=2, excused=1
    )
    assert services.AttendanceSummary(present=2, absent=1).percent == Decimal("66.7")

    programme = world["programme"]
    # Whole programme: 4 present, 3 absent -> 4/7 = 0.571428… -> 0.5714.
    assert services.programme_attendance_rate(programme) == Decimal("0.5714")
    # September, both ends included: present a, a, b; absent b, a -> 3/5.
    assert services.programme_attendance_rate(
        programme, sept, datetime.date(2025, 9, 30)
    ) == Decimal("0.6000")
    # From 15 September: present a, b, a; absent a, b -> 3/5 again, through different rows.
    assert services.programme_attendance_rate(
        programme, datetime.date(2025, 9, 15), datetime.date(2025, 12, 31)
    ) == Decimal("0.6000")
    # One day, 30 September: a absent, b excused -> 0.
    assert services.programme_attendance_rate(
        programme, datetime.date(2025, 9, 30), datetime.date(2025, 9, 30)
    ) == Decimal("0.0000")
    # A period without sessions.
    assert (
        services.programme_attendance_rate(
            programme, datetime.date(2025, 1, 1), datetime.date(2025, 8, 31)
        )
        is None
    )
    # Another programme's marks never count.
    assert services.programme_attendance_rate(world["other_programme"]) is None


def test_rate_rounds_half_up():
    assert services.rate(1, 7) == Decimal("0.1250")
    assert services.rate(2, 1) == Decimal("0.6667")
    assert services.rate(1, 2) == Decimal("0.3333")
    assert services.rate(0, 0) is None
    assert services.rate(5, 0) == Decimal("1.0000")


# The enrolment section ---------------------------------------------------------------------


def _progress(world, enrolment, count: int) -> None:
    for n in range(count):
        services.progress_note_add(
            enrolment=enrolment,
            user=world["host"],
            date=SESSION_DAY + datetime.timedelta(days=n),
            text=f"Catatan ke-{n + 1}",
        )
        services.instrument_score_add(
            enrolment=enrolment,
            user=world["partner"],
            instrument="whoqol",
            date=SESSION_DAY + datetime.timedelta(days=n),
            score=50 + n,
        )
        screening = Screening.objects.create(
            participant=enrolment.participant, enrolment=enrolment, date=SESSION_DAY
        )
        ScreeningScore.objects.create(
            screening=screening, substance=Substance.STIMULANTS, score=4 + n
        )
        ScreeningScore.objects.create(screening=screening, substance=Substance.ALCOHOL, score=2)


def _section(enrolment_pk: int, may_write: bool = True) -> str:
    enrolment = Enrolment.objects.select_related("participant").get(pk=enrolment_pk)
    services.load_enrolment_section(enrolment)
    return render_to_string(
        "rehabilitation/sessions/_enrolment_section.html",
        {"enrolment": enrolment, "may_write": may_write},
    )


def test_enrolment_section_shows_attendance_notes_and_scores(world):
    a, b, _c = world["enrolments"]
    _mark(world, datetime.date(2025, 9, 8), {a: Mark.PRESENT, b: Mark.ABSENT})
    _mark(world, datetime.date(2025, 9, 15), {a: Mark.PRESENT})
    _mark(world, datetime.date(2025, 9, 22), {a: Mark.ABSENT})
    _mark(world, datetime.date(2025, 9, 29), {a: Mark.EXCUSED})
    _progress(world, a, 2)
    page = _section(a.pk)
    assert "66.7%" in page  # 2 present / (2 present + 1 absent)
    assert page.index("Catatan ke-2") < page.index("Catatan ke-1")  # newest first
    assert "2 September 2025" in page
    assert "program.rutan" in page
    assert "Quality of life (WHOQOL-BREF, 0–100)" in page
    assert "Moderate risk" in page
    assert reverse("rehabilitation:note_add", args=[a.pk]) in page
    assert reverse("rehabilitation:score_add", args=[a.pk]) in page
    assert "Catatan" not in _section(b.pk)
    read_only = _section(a.pk, may_write=False)
    assert reverse("rehabilitation:note_add", args=[a.pk]) not in read_only


def test_enrolment_section_query_count_is_constant(world, django_assert_num_queries):
    enrolment = world["enrolments"][0]
    _progress(world, enrolment, 2)
    with django_assert_num_queries(6):  # the enrolment, then five for the section
        _section(enrolment.pk)
    _progress(world, enrolment, 20)
    with django_assert_num_queries(6):
        _section(enrolment.pk)


def test_highest_band_over_screenings(world):
    enrolment = world["enrolments"][0]
    # The intake screening (moderate on opioids), with a high score and a moderate one.
    screening = enrolment.screenings.get()
    ScreeningScore.objects.create(screening=screening, substance=Substance.CANNABIS, score=27)
    ScreeningScore.objects.create(screening=screening, substance=Substance.ALCOHOL, score=11)
    loaded = services.load_enrolment_section(
        Enrolment.objects.select_related("participant").get(pk=enrolment.pk)
    )
    [shown] = loaded.screenings.all()
    assert shown.highest_risk == Risk.HIGH


def test_note_page_query_count_is_constant(client, world, django_assert_num_queries):
    enrolment = world["enrolments"][0]
    url = reverse("rehabilitation:note_add", args=[enrolment.pk])
    client.force_login(world["host"])
    _progress(world, enrolment, 2)
    # Session and user, memberships, the enrolment, the access log line, five for the
    # section; then the session is saved (savepoint, update, release).
    with django_assert_num_queries(13):
        client.get(url)
    _progress(world, enrolment, 20)
    with django_assert_num_queries(13):
        page = client.get(url)
    assert page.content.decode().count('class="card"') == 22
