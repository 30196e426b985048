"""The participant pages: the access matrix on every URL, the access log, the list's query
count, and what each successful or refused request did to the database."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse

from institutions.models import Membership
from rehabilitation.models import AccessLog, Enrolment, Participant, Programme, Transfer
from rehabilitation.services import participants as participant_services
from rehabilitation.services import programmes as programme_services
from tests import factories
from tests.rehabilitation.test_enrolment_services import (
    TODAY,
    day,
    in_phase,
    make_world,
    new_participant,
    screened,
)

pytestmark = pytest.mark.django_db

#: With SESSION_SAVE_EVERY_REQUEST, each request ends by saving the session: savepoint,
#: update, release.
SESSION_SAVE = 3 if settings.SESSION_SAVE_EVERY_REQUEST else 0

Role = Membership.Role


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    in_phase(made, screened(made, made["held"]))
    return made


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def login(client, world, who):
    if who != "anonymous":
        client.force_login(world[who])
    return client


def url(name, world):
    if name in ("rehabilitation:participants", "rehabilitation:participant_create"):
        return reverse(name)
    return reverse(name, args=[world["held"].pk])


# Who gets what on a GET of each page: host programme staff, partner programme staff, an
# unrelated institution's programme staff and administrator, an editor and a viewer of the
# host (no personal-data rights), a superuser.
MATRIX = {
    "rehabilitation:participants": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 200,  # their own list, without this participant (checked below)
        "editor": 404,
        "viewer": 404,
        "superuser": 200,
    },
    "rehabilitation:participant_create": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 200,
        "editor": 403,
        "viewer": 403,
        "superuser": 200,
    },
    "rehabilitation:participant": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 404,
        "editor": 404,
        "viewer": 404,
        "superuser": 200,
    },
    "rehabilitation:participant_edit": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 404,
        "editor": 404,
        "viewer": 404,
        "superuser": 200,
    },
    "rehabilitation:participant_transfer": {
        "staff": 200,
        "partner_staff": 403,  # sees the participant, but only the holding institution moves them
        "outsider": 404,
        "editor": 404,
        "viewer": 404,
        "superuser": 200,
    },
}
CASES = [(name, who, status) for name, row in MATRIX.items() for who, status in row.items()]


@pytest.mark.parametrize("name", list(MATRIX))
def test_anonymous_goes_to_login(client, world, name):
    response = client.get(url(name, world))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize(("name", "who", "status"), CASES)
def test_access_matrix(client, world, name, who, status):
    login(client, world, who)
    response = client.get(url(name, world))
    assert response.status_code == status
    page = response.content.decode()
    if status != 200 or name == "rehabilitation:participant_create":
        assert "Peserta Satu" not in page
    if name == "rehabilitation:participants" and who == "outsider":
        assert "Peserta Satu" not in page and "PKL-001" not in page


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("rehabilitation:participants", "post"),
        ("rehabilitation:participant", "post"),
        ("rehabilitation:participant_create", "put"),
        ("rehabilitation:participant_edit", "delete"),
        ("rehabilitation:participant_transfer", "put"),
    ],
)
def test_wrong_method_is_405(client, world, name, method):
    login(client, world, "staff")
    assert getattr(client, method)(url(name, world)).status_code == 405


def test_the_lists_and_the_record_are_not_cached(client, world):
    login(client, world, "staff")
    for name in ("rehabilitation:participants", "rehabilitation:participant"):
        assert "no-store" in client.get(url(name, world))["Cache-Control"]


# --- the record ----------------------------------------------------------------------------


def test_viewing_the_record_is_logged(client, world):
    login(client, world, "partner_staff")
    before = AccessLog.objects.count()
    client.get(url("rehabilitation:participant", world))
    log = AccessLog.objects.order_by("-pk").first()
    assert AccessLog.objects.count() == before + 1
    assert (log.user, log.participant, log.action, log.institution) == (
        world["partner_staff"],
        world["held"],
        AccessLog.Action.VIEW,
        world["host"],
    )


def test_refused_access_is_not_logged_and_looks_like_a_missing_record(client, world):
    login(client, world, "outsider")
    before = AccessLog.objects.count()
    forbidden = client.get(url("rehabilitation:participant", world))
    missing = client.get(reverse("rehabilitation:participant", args=[999999]))
    assert forbidden.status_code == missing.status_code == 404
    assert AccessLog.objects.count() == before


def test_the_record_shows_identity_screenings_enrolments_and_transfers(english, world):
    participant = world["held"]
    participant_services.participant_update(
        participant=participant,
        user=world["staff"],
        case_article="127",
        substances=["stimulants"],
        use_duration_months=24,
        route=Participant.Route.SMOKED,
    )
    login(english, world, "staff")
    page = english.get(url("rehabilitation:participant", world)).content.decode()
    for text in (
        "Peserta Satu",
        "PKL-001",
        "127",
        "Amphetamine-type stimulants",
        "24 months",
        "Smoked or inhaled",
        "Program Rehabilitasi Sosial",
        "High risk",  # the intake screening's stimulants score of 27
        "Orientasi",  # the phase was named in the site's language when the programme was made
        "Screened → Assessed",
    ):
        assert text in page, text
    assert "Child — under 18" not in page


def test_a_partner_does_not_see_the_participants_place_in_another_programme(english, world):
    medical = programme_services.programme_create(
        user=world["editor"],
        name="Program Medis Rutan",
        kind=Programme.Kind.MEDICAL,
        host=world["host"],
        agreement=world["agreement"],
        launch_date=day(0),
    )
    screened(world, world["held"], programme=medical, scores={"cannabis": 5})
    login(english, world, "partner_staff")
    page = english.get(url("rehabilitation:participant", world)).content.decode()
    assert "Program Rehabilitasi Sosial" in page
    assert "Program Medis Rutan" not in page
    assert "Cannabis" not in page
    login(english, world, "staff")
    page = english.get(url("rehabilitation:participant", world)).content.decode()
    assert "Program Medis Rutan" in page and "Cannabis" in page


def test_a_child_is_shown_as_such(english, world):
    child = new_participant(
        world, full_name="Anak Uji", birth_date=TODAY - datetime.timedelta(days=16 * 366)
    )
    login(english, world, "staff")
    page = english.get(reverse("rehabilitation:participant", args=[child.pk])).content.decode()
    assert "Child — under 18" in page
    assert "extra protection" in page
    assert "16 years" in page


# --- registering, correcting, transferring -------------------------------------------------


def participant_post(**overrides):
    data = {
        "status": Participant.Status.DETAINEE,
        "register_number": "A.I-0001/2026",
        "full_name": "Peserta Baru",
        "sex": "m",
        "birth_date": "1995-03-04",
        "case_article": "127",
        "substances": ["stimulants", "cannabis"],
        "use_duration_months": "18",
        "route": "smoked",
    }
    data.update(overrides)
    return data


def test_register_a_participant(english, world):
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_create"),
        participant_post(institution=world["host"].pk),
    )
    participant = Participant.objects.get(register_number="A.I-0001/2026")
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:participant", args=[participant.pk])
    assert participant.institution == world["host"]
    assert participant.substances == ["stimulants", "cannabis"]
    assert participant.birth_date == datetime.date(1995, 3, 4)
    assert participant.use_duration_months == 18
    assert AccessLog.objects.filter(
        participant=participant, action=AccessLog.Action.CHANGE, user=world["staff"]
    ).exists()


def test_a_registered_child_gets_a_warning(english, world):
    login(english, world, "staff")
    birth = TODAY - datetime.timedelta(days=15 * 366)
    response = english.post(
        reverse("rehabilitation:participant_create"),
        participant_post(institution=world["host"].pk, birth_date=birth.isoformat()),
        follow=True,
    )
    assert "This participant is a child" in response.content.decode()


def test_a_taken_register_number_is_a_form_error(english, world):
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_create"),
        participant_post(institution=world["host"].pk, register_number="PKL-001"),
    )
    assert response.status_code == 200
    assert "already has a participant with this register number" in response.content.decode()
    assert Participant.objects.filter(register_number="PKL-001").count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_date", "2999-01-01"),
        ("substances", ["heroin"]),
        ("status", "bebas"),
        ("use_duration_months", "-3"),
        ("full_name", ""),
    ],
)
def test_bad_input_is_a_form_error(english, world, field, value):
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_create"),
        participant_post(institution=world["host"].pk, **{field: value}),
    )
    assert response.status_code == 200
    assert 'class="field-error"' in response.content.decode()
    assert not Participant.objects.filter(register_number="A.I-0001/2026").exists()


def test_registering_at_an_institution_that_is_not_ones_own_is_refused(english, world):
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_create"),
        participant_post(institution=world["other"].pk),
    )
    assert response.status_code == 200
    assert not Participant.objects.filter(register_number="A.I-0001/2026").exists()


def test_correct_the_record(english, world):
    login(english, world, "staff")
    before = AccessLog.objects.filter(action=AccessLog.Action.CHANGE).count()
    response = english.post(
        url("rehabilitation:participant_edit", world),
        participant_post(
            register_number="PKL-001",
            full_name="Peserta Satu Koreksi",
            version=str(world["held"].version),
        ),
    )
    assert response.status_code == 302
    world["held"].refresh_from_db()
    assert world["held"].full_name == "Peserta Satu Koreksi"
    assert world["held"].institution == world["host"]
    assert AccessLog.objects.filter(action=AccessLog.Action.CHANGE).count() == before + 1


def test_correcting_to_a_taken_number_is_a_form_error(english, world):
    new_participant(world, register_number="PKL-002")
    login(english, world, "staff")
    response = english.post(
        url("rehabilitation:participant_edit", world), participant_post(register_number="PKL-002")
    )
    assert response.status_code == 200
    assert "already has a participant with this register number" in response.content.decode()
    world["held"].refresh_from_db()
    assert world["held"].register_number == "PKL-001"


def transfer_post(world, **overrides):
    data = {
        "to_institution": world["other"].pk,
        "date": day(20).isoformat(),
        "register_number": "SMG-77",
        "reason": "Pindah berdasarkan putusan",
        "end_enrolments": "on",
        # As the page loaded now would send it back.
        "version": str(Participant.objects.get(pk=world["held"].pk).version),
    }
    data.update(overrides)
    return data


def works_at_other(world):
    """A transfer takes effect at once where the user works with the participants (elsewhere
    it is a request: tests/rehabilitation/test_transfers.py)."""
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)


def test_transfer(english, world):
    works_at_other(world)
    login(english, world, "staff")
    response = english.post(url("rehabilitation:participant_transfer", world), transfer_post(world))
    participant = Participant.objects.get(pk=world["held"].pk)
    transfer = Transfer.objects.get(participant=participant)
    assert (participant.institution, participant.register_number) == (world["other"], "SMG-77")
    assert (transfer.from_institution, transfer.to_institution, transfer.date) == (
        world["host"],
        world["other"],
        day(20),
    )
    assert transfer.recorded_by == world["staff"]
    # The programme runs with Pekalongan and Batang, not Semarang: the place is closed, and
    # the programme staff still see the participant through it.
    assert participant.enrolments.get().status == Enrolment.Status.TRANSFERRED
    assert response.status_code == 302
    page = english.get(response["Location"]).content.decode()
    assert "Semarang" in page and "Pindah berdasarkan putusan" in page


def test_a_transfer_out_of_sight_is_a_request_and_the_person_stays(english, world):
    stranger = new_participant(world, register_number="PKL-009")
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_transfer", args=[stranger.pk]), transfer_post(world)
    )
    assert response.status_code == 302
    request = stranger.transfer_requests.get()
    assert response["Location"] == reverse("rehabilitation:transfer_request", args=[request.pk])
    assert english.get(reverse("rehabilitation:participant", args=[stranger.pk])).status_code == 200
    stranger.refresh_from_db()
    assert stranger.institution == world["host"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"register_number": "SMG-1"}, "already has a participant with the register number"),
        ({"date": (TODAY + datetime.timedelta(days=2)).isoformat()}, "cannot be in the future"),
        ({"reason": ""}, "This field is required"),
    ],
)
def test_transfer_refusals_are_form_errors(english, world, overrides, message):
    works_at_other(world)
    factories.participant(world["other"], register_number="SMG-1")
    login(english, world, "staff")
    response = english.post(
        url("rehabilitation:participant_transfer", world), transfer_post(world, **overrides)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Transfer.objects.exists()
    world["held"].refresh_from_db()
    assert world["held"].institution == world["host"]


def test_partner_staff_cannot_transfer(client, world):
    login(client, world, "partner_staff")
    response = client.post(url("rehabilitation:participant_transfer", world), transfer_post(world))
    assert response.status_code == 403
    assert not Transfer.objects.exists()


# --- the list ------------------------------------------------------------------------------


def test_the_list_searches_and_logs_each_participant_shown(english, world):
    new_participant(world, register_number="PKL-002", full_name="Budi Santoso")
    new_participant(world, register_number="PKL-003", full_name="Joko Widodo")
    login(english, world, "staff")
    before = AccessLog.objects.filter(detail="participant list").count()
    response = english.get(reverse("rehabilitation:participants"), {"q": "budi"})
    page = response.content.decode()
    assert "Budi Santoso" in page
    assert "Joko Widodo" not in page and "Peserta Satu" not in page
    logged = AccessLog.objects.filter(detail="participant list")
    assert logged.count() == before + 1
    line = logged.order_by("-pk").first()
    assert [record.participant.full_name for record in line.records.all()] == ["Budi Santoso"]
    assert "budi" not in str(vars(line)).casefold()  # the search words are not kept
    response = english.get(reverse("rehabilitation:participants"), {"q": "PKL-00"})
    assert [p.register_number for p in response.context["participants"]] == [
        "PKL-001",
        "PKL-002",
        "PKL-003",
    ]


def test_the_partner_sees_only_the_participants_of_its_programmes(english, world):
    new_participant(world, register_number="PKL-002", full_name="Belum Ikut Program")
    login(english, world, "partner_staff")
    page = english.get(reverse("rehabilitation:participants")).content.decode()
    assert "Peserta Satu" in page
    assert "Belum Ikut Program" not in page


def test_the_list_query_count_is_pinned_for_5_and_50_rows(client, world, django_assert_num_queries):
    for n in range(4):
        participant = new_participant(world, register_number=f"Q-{n:03d}")
        screened(world, participant)
    login(client, world, "staff")
    # session, user, roles, count, page, their enrolments, the access log (its line and the
    # records listed), and the session saved again
    with django_assert_num_queries(8 + SESSION_SAVE):
        response = client.get(reverse("rehabilitation:participants"))
    assert len(response.context["participants"]) == 5
    for n in range(4, 49):
        participant = new_participant(world, register_number=f"Q-{n:03d}")
        screened(world, participant)
    with django_assert_num_queries(8 + SESSION_SAVE):
        response = client.get(reverse("rehabilitation:participants"))
    assert len(response.context["participants"]) == 50
    # One line per page shown, not one per participant.
    lines = AccessLog.objects.filter(detail="participant list").order_by("pk")
    assert [line.record_count for line in lines] == [5, 50]
    assert lines.last().records.count() == 50
