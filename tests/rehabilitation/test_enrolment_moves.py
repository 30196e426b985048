"""`selectors.enrolment_moves`: the one read of which moves an enrolment may make now and, for
each closed one, why; the enrolment page and each move's page are fed by it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from rehabilitation import selectors
from rehabilitation.models import Assessment, Enrolment
from rehabilitation.views.enrolments import MOVE_PAGES
from tests.rehabilitation.test_enrolment_services import (
    LOW,
    assessed,
    enrolled,
    in_phase,
    make_world,
    new_participant,
    screened,
)

pytestmark = pytest.mark.django_db

Status = Enrolment.Status


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["enrolment"] = screened(made, made["held"])
    return made


@pytest.fixture(autouse=True)
def in_english():
    """The reasons are read in English here (the default language is Indonesian)."""
    with translation.override("en"):
        yield


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def moves(enrolment) -> dict[str, selectors.Move]:
    with_reasons = selectors.enrolment_moves(enrolment)
    assert [move.key for move in with_reasons] == list(MOVE_PAGES)
    return {move.key: move for move in with_reasons}


def test_a_screened_enrolment_may_be_assessed_or_ended(world):
    found = moves(world["enrolment"])
    assert {key for key, move in found.items() if move.open} == {"assess", "end"}
    for key in ("enrol", "next_phase", "complete"):
        assert not found[key].open
        assert "not open to an enrolment that is" in found[key].reason
    assert all(move.reason == "" for move in found.values() if move.open)


def test_low_risk_closes_the_assessment_with_the_reason(world):
    found = moves(screened(world, new_participant(world), scores=LOW))
    assert not found["assess"].open
    assert found["assess"].reason == "Education only — not eligible for assessment."
    assert found["end"].open


def test_no_rehabilitation_recommended_closes_enrolling(world):
    enrolment = assessed(world, world["enrolment"], recommendation=Assessment.Recommendation.NONE)
    found = moves(enrolment)
    assert not found["enrol"].open
    assert "recommended no rehabilitation" in found["enrol"].reason
    assert found["end"].open


def test_the_next_phase_carries_its_phase_and_the_last_one_opens_completion(world):
    enrolment = enrolled(world, world["enrolment"])
    found = moves(enrolment)
    assert found["next_phase"].open
    assert found["next_phase"].phase == world["programme"].phases.get(order=1)
    assert not found["complete"].open
    enrolment = in_phase(world, enrolment, phases=1)
    found = moves(enrolment)
    assert found["next_phase"].phase == world["programme"].phases.get(order=2)
    assert not found["complete"].open
    assert found["complete"].reason == "The participant is not in the last phase yet."
    found = moves(in_phase(world, enrolment, phases=3))
    assert found["complete"].open
    assert not found["next_phase"].open
    assert found["next_phase"].reason.startswith("There is no further phase")


def test_a_final_enrolment_has_no_open_move(world):
    enrolment = world["enrolment"]
    enrolment.status = Status.REFERRED
    assert not any(move.open for move in selectors.enrolment_moves(enrolment))


def test_the_enrolment_page_shows_the_closed_moves_with_their_reasons(english, world):
    english.force_login(world["staff"])
    response = english.get(reverse("rehabilitation:enrolment", args=[world["enrolment"].pk]))
    page = response.content.decode()
    assert set(response.context["actions"]) == {"assess", "end"}
    assert "Not open now" in page
    assert "This move is not open to an enrolment that is “Screened”." in page
    assert [move.key for move in response.context["moves"] if not move.open] == [
        "enrol",
        "next_phase",
        "complete",
    ]


def test_the_page_of_a_closed_move_sends_back_with_the_reason(english, world):
    enrolment = assessed(world, world["enrolment"], recommendation=Assessment.Recommendation.NONE)
    english.force_login(world["staff"])
    response = english.get(
        reverse("rehabilitation:enrolment_enrol", args=[enrolment.pk]), follow=True
    )
    assert response.redirect_chain[-1][0] == reverse(
        "rehabilitation:enrolment", args=[enrolment.pk]
    )
    assert "recommended no rehabilitation" in response.content.decode()


def test_every_move_keeps_its_url(world):
    pk = world["enrolment"].pk
    base = reverse("rehabilitation:enrolment", args=[pk])
    assert {key: reverse(f"rehabilitation:enrolment_{key}", args=[pk]) for key in MOVE_PAGES} == {
        "assess": f"{base}assess/",
        "enrol": f"{base}enrol/",
        "next_phase": f"{base}next-phase/",
        "complete": f"{base}complete/",
        "end": f"{base}end/",
    }
