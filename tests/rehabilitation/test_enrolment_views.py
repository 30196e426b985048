"""The enrolment pages: the access matrix on every URL, each move through the browser with
the database and the access log checked, refusals as form errors, and the list's query count."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse

from institutions.models import Membership
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Screening,
)
from tests.rehabilitation.test_enrolment_services import (
    LOW,
    TODAY,
    assessed,
    day,
    enrolled,
    in_phase,
    make_world,
    new_participant,
    refreshed,
    screened,
)

pytestmark = pytest.mark.django_db

#: With SESSION_SAVE_EVERY_REQUEST, each request ends by saving the session: savepoint,
#: update, release.
SESSION_SAVE = 3 if settings.SESSION_SAVE_EVERY_REQUEST else 0

Role = Membership.Role
Status = Enrolment.Status


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["enrolment"] = screened(made, made["held"])
    return made


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def login(client, world, who):
    client.force_login(world[who])
    return client


#: Each URL and the state its enrolment must be in for the page to be open.
PAGES = {
    "rehabilitation:enrolments": None,
    "rehabilitation:enrolment": "screened",
    "rehabilitation:enrolment_assess": "screened",
    "rehabilitation:enrolment_enrol": "assessed",
    "rehabilitation:enrolment_next_phase": "enrolled",
    "rehabilitation:enrolment_complete": "last_phase",
    "rehabilitation:enrolment_end": "enrolled",
    "rehabilitation:enrolment_screening": "in_phase",
    "rehabilitation:participant_screen": "participant",
}


def prepare(world, name):
    """The URL of `name`, with the world's enrolment brought to the state the page needs."""
    state = PAGES[name]
    enrolment = world["enrolment"]
    if state is None:
        return reverse(name)
    if state == "participant":
        return reverse(name, args=[new_participant(world, register_number="PKL-002").pk])
    if state == "assessed":
        assessed(world, enrolment)
    elif state == "enrolled":
        enrolled(world, enrolment)
    elif state == "in_phase":
        in_phase(world, enrolment)
    elif state == "last_phase":
        in_phase(world, enrolment, phases=3)
    return reverse(name, args=[enrolment.pk])


# Host programme staff and partner programme staff see and move; an unrelated institution's
# programme staff and administrator, and the host's editor and viewer (no personal-data
# rights) get 404 — they may not learn that the enrolment exists.
ACTORS = {
    "staff": 200,
    "partner_staff": 200,
    "outsider": 404,
    "editor": 404,
    "viewer": 404,
    "superuser": 200,
}
CASES = [(name, who, status) for name in PAGES for who, status in ACTORS.items()]


@pytest.mark.parametrize("name", list(PAGES))
def test_anonymous_goes_to_login(client, world, name):
    response = client.get(prepare(world, name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize(("name", "who", "status"), CASES)
def test_access_matrix(client, world, name, who, status):
    target = prepare(world, name)
    login(client, world, who)
    response = client.get(target)
    if name == "rehabilitation:enrolments" and who == "outsider":
        status = 200  # their own list: empty
        assert response.context["enrolments"] == []
    if name == "rehabilitation:participant_screen" and who == "partner_staff":
        status = 404  # the new participant is not in a programme of the partner yet
    assert response.status_code == status
    if status != 200:
        assert "Peserta Satu" not in response.content.decode()
        assert "PKL-00" not in response.content.decode()


@pytest.mark.parametrize("who", ["outsider", "editor", "viewer"])
@pytest.mark.parametrize(
    "name",
    [
        "rehabilitation:enrolment_assess",
        "rehabilitation:enrolment_end",
        "rehabilitation:enrolment_screening",
    ],
)
def test_posts_of_those_without_rights_change_nothing(client, world, name, who):
    login(client, world, who)
    response = client.post(
        reverse(name, args=[world["enrolment"].pk]),
        {"date": day(1).isoformat(), "to_status": "referred", "reason": "x", "team": "Tim"},
    )
    assert response.status_code == 404
    assert refreshed(world["enrolment"]).status == Status.SCREENED
    assert Screening.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("rehabilitation:enrolments", "post"),
        ("rehabilitation:enrolment", "post"),
        ("rehabilitation:enrolment_assess", "put"),
        ("rehabilitation:enrolment_enrol", "delete"),
        ("rehabilitation:enrolment_next_phase", "put"),
        ("rehabilitation:enrolment_complete", "put"),
        ("rehabilitation:enrolment_end", "patch"),
        ("rehabilitation:enrolment_screening", "put"),
        ("rehabilitation:participant_screen", "delete"),
    ],
)
def test_wrong_method_is_405(client, world, name, method):
    target = prepare(world, name)
    login(client, world, "staff")
    assert getattr(client, method)(target).status_code == 405


# --- the enrolment page --------------------------------------------------------------------


def test_viewing_the_enrolment_is_logged(client, world):
    login(client, world, "partner_staff")
    before = AccessLog.objects.count()
    response = client.get(reverse("rehabilitation:enrolment", args=[world["enrolment"].pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert AccessLog.objects.count() == before + 1
    log = AccessLog.objects.order_by("-pk").first()
    assert (log.user, log.participant, log.action, log.detail) == (
        world["partner_staff"],
        world["held"],
        AccessLog.Action.VIEW,
        f"enrolment {world['enrolment'].pk}",
    )


def test_the_page_offers_the_moves_open_now(english, world):
    login(english, world, "staff")
    enrolment = world["enrolment"]
    page_url = reverse("rehabilitation:enrolment", args=[enrolment.pk])
    actions = english.get(page_url).context["actions"]
    assert set(actions) == {"assess", "end"}
    assessed(world, enrolment)
    assert set(english.get(page_url).context["actions"]) == {"enrol", "end"}
    enrolled(world, enrolment)
    assert set(english.get(page_url).context["actions"]) == {"next_phase", "upcoming_phase", "end"}
    in_phase(world, enrolment, phases=3)
    response = english.get(page_url)
    assert set(response.context["actions"]) == {"complete", "end"}
    page = response.content.decode()
    for text in (
        "Re-entry",
        "Screened → Assessed",
        "High risk",
        "dr. Uji",
        "Social rehabilitation",
    ):
        assert text in page, text


def test_low_risk_is_education_only_on_the_page(english, world):
    enrolment = screened(world, new_participant(world), scores=LOW)
    login(english, world, "staff")
    response = english.get(reverse("rehabilitation:enrolment", args=[enrolment.pk]))
    assert "education only — not eligible for assessment" in response.content.decode().lower()
    assert set(response.context["actions"]) == {"end"}
    assert response.context["actions"]["end"].fields["to_status"].choices == [
        ("referred", "Referred (education only, or elsewhere)")
    ]
    # The assessment form is not offered, and asking for it directly is refused.
    response = english.get(reverse("rehabilitation:enrolment_assess", args=[enrolment.pk]))
    assert response.status_code == 302
    response = english.post(
        reverse("rehabilitation:enrolment_assess", args=[enrolment.pk]),
        {"date": day(1).isoformat(), "team": "Tim", "recommendation": "social"},
    )
    assert response.status_code == 200
    assert "not eligible for assessment" in response.content.decode()
    assert refreshed(enrolment).status == Status.SCREENED
    assert not Assessment.objects.filter(enrolment=enrolment).exists()


def test_a_child_is_flagged_on_the_enrolment_page(english, world):
    child = new_participant(world, birth_date=TODAY - datetime.timedelta(days=15 * 366))
    enrolment = screened(world, child)
    login(english, world, "staff")
    page = english.get(reverse("rehabilitation:enrolment", args=[enrolment.pk])).content.decode()
    assert "Child — under 18" in page


def test_the_sessions_section_is_included(english, world):
    login(english, world, "staff")
    response = english.get(reverse("rehabilitation:enrolment", args=[world["enrolment"].pk]))
    assert response.context["sessions_section"] == "rehabilitation/sessions/_enrolment_section.html"
    assert reverse("rehabilitation:note_add", args=[world["enrolment"].pk]) in (
        response.content.decode()
    )


# --- the whole story through the browser ---------------------------------------------------


def post(client, name, enrolment, data):
    """Send a move's form as the page loaded now would: with the enrolment's current version."""
    version = Enrolment.objects.values_list("version", flat=True).get(pk=enrolment.pk)
    return client.post(reverse(name, args=[enrolment.pk]), {"version": str(version), **data})


def test_screen_assess_enrol_phases_complete(english, world):
    participant = new_participant(world, register_number="PKL-002", full_name="Peserta Dua")
    login(english, world, "staff")
    before = AccessLog.objects.filter(action=AccessLog.Action.CHANGE).count()
    response = english.post(
        reverse("rehabilitation:participant_screen", args=[participant.pk]),
        {
            "programme": world["programme"].pk,
            "date": day(0).isoformat(),
            "score_alcohol": "11",
            "score_stimulants": "30",
            "score_tobacco": "",
            "notes": "Skrining awal",
        },
    )
    enrolment = Enrolment.objects.get(participant=participant)
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:enrolment", args=[enrolment.pk])
    assert (enrolment.status, enrolment.start_date) == (Status.SCREENED, day(0))
    scores = dict(enrolment.screenings.get().scores.values_list("substance", "risk"))
    assert scores == {"alcohol": "moderate", "stimulants": "high"}

    response = post(
        english,
        "rehabilitation:enrolment_assess",
        enrolment,
        {"date": day(1).isoformat(), "team": "dr. A\nPsikolog B", "recommendation": "social"},
    )
    assert response.status_code == 302
    assert refreshed(enrolment).status == Status.ASSESSED
    assert enrolment.assessments.get().team == "dr. A\nPsikolog B"

    assert (
        post(english, "rehabilitation:enrolment_enrol", enrolment, {"date": day(2)}).status_code
        == 302
    )
    assert refreshed(enrolment).enrolled_on == day(2)
    for step in range(3):
        response = post(
            english, "rehabilitation:enrolment_next_phase", enrolment, {"date": day(3 + step)}
        )
        assert response.status_code == 302
    enrolment = refreshed(enrolment)
    assert enrolment.current_phase.order == 3
    assert EnrolmentPhase.objects.filter(enrolment=enrolment, end_date__isnull=True).count() == 1

    response = post(
        english,
        "rehabilitation:enrolment_complete",
        enrolment,
        {
            "date": day(30).isoformat(),
            "recovered": "yes",
            "skilled": "no",
            "independent": "yes",
            "reason": "Selesai",
        },
    )
    assert response.status_code == 302
    enrolment = refreshed(enrolment)
    assert (enrolment.status, enrolment.end_date) == (Status.COMPLETED, day(30))
    assert (enrolment.recovered, enrolment.skilled, enrolment.independent) == (True, False, True)
    events = list(enrolment.events.values_list("from_status", "to_status", "recorded_by"))
    staff = world["staff"].pk
    assert events == [
        ("", "screened", staff),
        ("screened", "assessed", staff),
        ("assessed", "enrolled", staff),
        ("enrolled", "in_phase", staff),
        ("in_phase", "in_phase", staff),
        ("in_phase", "in_phase", staff),
        ("in_phase", "completed", staff),
    ]
    assert AccessLog.objects.filter(action=AccessLog.Action.CHANGE).count() == before + 7
    page = english.get(response["Location"]).content.decode()
    assert "Recovered" in page and "not skilled" in page


@pytest.mark.parametrize("ending", ["dropped_out", "transferred", "released", "referred"])
def test_end_an_enrolment(english, world, ending):
    enrolment = enrolled(world, world["enrolment"])
    login(english, world, "partner_staff")
    response = post(
        english,
        "rehabilitation:enrolment_end",
        enrolment,
        {"to_status": ending, "date": day(5).isoformat(), "reason": "Alasan yang jelas"},
    )
    assert response.status_code == 302
    enrolment = refreshed(enrolment)
    assert (enrolment.status, enrolment.end_date, enrolment.end_reason) == (
        ending,
        day(5),
        "Alasan yang jelas",
    )
    event = enrolment.events.order_by("-pk").first()
    assert event.recorded_by == world["partner_staff"]


def test_a_later_screening(english, world):
    enrolment = in_phase(world, world["enrolment"])
    login(english, world, "staff")
    response = post(
        english,
        "rehabilitation:enrolment_screening",
        enrolment,
        {"date": day(9).isoformat(), "score_stimulants": "3"},
    )
    assert response.status_code == 302
    assert enrolment.screenings.count() == 2
    assert refreshed(enrolment).status == Status.IN_PHASE


# --- refusals as form errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"score_alcohol": "40"}, "less than or equal to 39"),
        ({"score_alcohol": "-1"}, "greater than or equal to 0"),
        ({"score_alcohol": "banyak"}, "Enter a whole number"),
        ({}, "Score at least one substance"),
        ({"score_alcohol": "5", "date": "2999-01-01"}, "cannot be in the future"),
        ({"score_alcohol": "5", "programme": "999999"}, "Select a valid choice"),
    ],
)
def test_bad_screenings_are_form_errors(english, world, data, message):
    participant = new_participant(world, register_number="PKL-002")
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_screen", args=[participant.pk]),
        {"programme": world["programme"].pk, "date": day(0).isoformat(), **data},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Enrolment.objects.filter(participant=participant).exists()


def test_a_second_screening_for_the_same_programme_is_not_offered(english, world):
    login(english, world, "staff")
    response = english.get(reverse("rehabilitation:participant_screen", args=[world["held"].pk]))
    assert response.status_code == 200
    assert "already has a place" in response.content.decode()
    assert not response.context["has_programmes"]


def test_a_screening_after_the_agreement_ended_is_refused_clearly(english, world):
    agreement = world["agreement"]
    agreement.effective_date = TODAY - datetime.timedelta(days=800)
    agreement.end_date = TODAY - datetime.timedelta(days=1)
    agreement.save()
    participant = new_participant(world, register_number="PKL-002")
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_screen", args=[participant.pk]),
        {"programme": world["programme"].pk, "date": day(0).isoformat(), "score_alcohol": "20"},
    )
    assert response.status_code == 200
    assert "takes no new participants" in response.content.decode()
    assert not Enrolment.objects.filter(participant=participant).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"date": day(3).isoformat(), "reason": ""}, "This field is required"),
        ({"date": day(-5).isoformat(), "reason": "x"}, "cannot be dated before the previous one"),
        ({"date": (TODAY + datetime.timedelta(1)).isoformat(), "reason": "x"}, "future"),
        ({"date": day(3).isoformat(), "reason": "x", "to_status": "completed"}, "valid choice"),
    ],
)
def test_bad_endings_are_form_errors(english, world, data, message):
    enrolment = enrolled(world, world["enrolment"])
    login(english, world, "staff")
    response = post(
        english, "rehabilitation:enrolment_end", enrolment, {"to_status": "dropped_out", **data}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert refreshed(enrolment).status == Status.ENROLLED


def test_completion_needs_the_whole_outcome(english, world):
    enrolment = in_phase(world, world["enrolment"], phases=3)
    login(english, world, "staff")
    response = post(
        english,
        "rehabilitation:enrolment_complete",
        enrolment,
        {"date": day(20).isoformat(), "recovered": "yes", "skilled": "no"},
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert refreshed(enrolment).status == Status.IN_PHASE


def test_a_full_programme_is_a_form_error(english, world):
    world["programme"].capacity = 1
    world["programme"].save()
    enrolled(world)
    enrolment = assessed(world, world["enrolment"])
    login(english, world, "staff")
    response = post(english, "rehabilitation:enrolment_enrol", enrolment, {"date": day(3)})
    assert response.status_code == 200
    assert "is full: all 1 places are taken" in response.content.decode()
    assert refreshed(enrolment).status == Status.ASSESSED


def test_no_rehabilitation_recommended_is_not_enrolled(english, world):
    enrolment = assessed(world, world["enrolment"], recommendation=Assessment.Recommendation.NONE)
    login(english, world, "staff")
    page = english.get(reverse("rehabilitation:enrolment", args=[enrolment.pk]))
    assert "enrol" not in page.context["actions"]
    assert "recommended no rehabilitation" in page.content.decode()
    response = post(english, "rehabilitation:enrolment_enrol", enrolment, {"date": day(3)})
    assert response.status_code == 200
    assert "recommended no rehabilitation" in response.content.decode()
    assert refreshed(enrolment).status == Status.ASSESSED


def test_a_move_not_open_sends_back_with_a_message(english, world):
    login(english, world, "staff")
    response = english.get(
        reverse("rehabilitation:enrolment_complete", args=[world["enrolment"].pk]), follow=True
    )
    assert "This move is not open" in response.content.decode()
    response = post(
        english,
        "rehabilitation:enrolment_next_phase",
        world["enrolment"],
        {"date": day(3).isoformat()},
    )
    assert response.status_code == 200
    assert "cannot move to" in response.content.decode()
    assert not EnrolmentEvent.objects.filter(to_status=Status.IN_PHASE).exists()


# --- the list ------------------------------------------------------------------------------


def test_the_list_filters_by_programme_status_and_name(english, world):
    enrolled(world, screened(world, new_participant(world, full_name="Budi Santoso")))
    login(english, world, "staff")
    response = english.get(reverse("rehabilitation:enrolments"), {"status": "enrolled"})
    assert [e.participant.full_name for e in response.context["enrolments"]] == ["Budi Santoso"]
    response = english.get(reverse("rehabilitation:enrolments"), {"q": "satu"})
    assert [e.participant.full_name for e in response.context["enrolments"]] == ["Peserta Satu"]
    response = english.get(reverse("rehabilitation:enrolments"), {"status": "bogus"})
    assert response.status_code == 200
    assert len(response.context["enrolments"]) == 2


def test_the_list_query_count_is_pinned_for_5_and_50_rows(client, world, django_assert_num_queries):
    for _ in range(4):
        screened(world)
    login(client, world, "staff")
    # session, user, roles, the tallies that choose how visibility is read, programme
    # choices of the filter, count, page, the access log (its line and the records listed),
    # and the session saved again
    with django_assert_num_queries(9 + SESSION_SAVE):
        response = client.get(reverse("rehabilitation:enrolments"))
    assert len(response.context["enrolments"]) == 5
    for _ in range(45):
        screened(world)
    with django_assert_num_queries(9 + SESSION_SAVE):
        response = client.get(reverse("rehabilitation:enrolments"))
    assert len(response.context["enrolments"]) == 50
    # One line per list shown, listing its participants.
    lines = AccessLog.objects.filter(detail="enrolment list").order_by("pk")
    assert [line.record_count for line in lines] == [5, 50]
