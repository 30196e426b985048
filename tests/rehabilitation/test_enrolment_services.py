"""The services of programmes, participants and the enrolment lifecycle: every move allowed
and refused, capacity, the two-programme rule, agreements in force, minors, transfers."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from agreements.models import Agreement, SigningEvent
from institutions import access
from institutions.models import Membership
from rehabilitation import selectors
from rehabilitation.assist import Risk, Substance
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Participant,
    Phase,
    Programme,
    ScreeningScore,
    Transfer,
)
from rehabilitation.services import enrolment as enrolment_services
from rehabilitation.services import participants as participant_services
from rehabilitation.services import programmes as programme_services
from rehabilitation.services import screening as screening_services
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
Status = Enrolment.Status
TODAY = timezone.localdate()
#: Every test story starts here and moves one day per step, so no date is in the future.
START = TODAY - datetime.timedelta(days=60)
ELIGIBLE = {Substance.STIMULANTS: 27, Substance.TOBACCO: 12}
LOW = {Substance.ALCOHOL: 10, Substance.TOBACCO: 3}


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n)


def make_world() -> dict:
    """A programme at Rutan Pekalongan with BNNK Batang as partner, under a signed PKS, and
    the people who deal with it (and some who must not)."""
    host = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    partner = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    other = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    agreement = factories.agreement(partner, host, status=Agreement.Status.SIGNED)
    editor = factories.user("editor", institution=host)
    staff = factories.user("staff", institution=host, roles=(Role.PROGRAMME,))
    programme = programme_services.programme_create(
        user=editor,
        name="Program Rehabilitasi Sosial",
        kind=Programme.Kind.SOCIAL,
        host=host,
        partners=[partner],
        agreement=agreement,
        launch_date=START,
    )
    return {
        "host": host,
        "partner": partner,
        "other": other,
        "agreement": agreement,
        "editor": editor,
        "staff": staff,
        "partner_staff": factories.user("partner", institution=partner, roles=(Role.PROGRAMME,)),
        "viewer": factories.user("viewer", institution=host, roles=(Role.VIEWER,)),
        "outsider": factories.user(
            "outsider", institution=other, roles=(Role.PROGRAMME, Role.ADMIN)
        ),
        "superuser": factories.user("root", is_superuser=True, is_staff=True),
        "programme": programme,
    }


@pytest.fixture
def world():
    return make_world()


# --- builders that go through the services: tests of the views use them too ---------------


def new_participant(world, **fields) -> Participant:
    fields.setdefault("register_number", f"B.I-{Participant.objects.count() + 1:04d}/2025")
    fields.setdefault("full_name", "Peserta Uji")
    fields.setdefault("status", Participant.Status.PRISONER)
    return participant_services.participant_create(
        user=world["staff"], institution=fields.pop("institution", world["host"]), **fields
    )


def screened(world, participant=None, *, programme=None, scores=None, on=0) -> Enrolment:
    return screening_services.enrolment_screen(
        user=world["staff"],
        participant=participant or new_participant(world),
        programme=programme or world["programme"],
        date=day(on),
        scores=ELIGIBLE if scores is None else scores,
    )


def assessed(world, enrolment=None, *, recommendation=Assessment.Recommendation.SOCIAL):
    enrolment = refreshed(enrolment) if enrolment else screened(world)
    if enrolment.status == Status.SCREENED:
        enrolment_services.enrolment_assess(
            user=world["staff"],
            enrolment=enrolment,
            date=day(1),
            team="dr. Uji\nPsikolog Uji",
            recommendation=recommendation,
        )
    return refreshed(enrolment)


def enrolled(world, enrolment=None, **kwargs) -> Enrolment:
    enrolment = assessed(world, enrolment, **kwargs)
    if enrolment.status == Status.ASSESSED:
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=enrolment, date=day(2))
    return refreshed(enrolment)


def in_phase(world, enrolment=None, *, phases: int = 1) -> Enrolment:
    """In the programme's `phases`-th phase (1: the first), phase n started on day(2 + n)."""
    enrolment = enrolled(world, enrolment)
    while enrolment.current_phase is None or enrolment.current_phase.order < phases:
        order = enrolment.current_phase.order + 1 if enrolment.current_phase else 1
        enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=day(2 + order)
        )
        enrolment = refreshed(enrolment)
    return enrolment


def completed(world, enrolment=None, **outcome) -> Enrolment:
    enrolment = in_phase(world, enrolment, phases=3)
    enrolment_services.enrolment_complete(
        user=world["staff"],
        enrolment=enrolment,
        date=day(10),
        recovered=outcome.get("recovered", True),
        skilled=outcome.get("skilled", True),
        independent=outcome.get("independent", False),
    )
    return refreshed(enrolment)


def ended(world, status, enrolment=None) -> Enrolment:
    enrolment = enrolment or enrolled(world)
    enrolment_services.enrolment_end(
        user=world["staff"], enrolment=enrolment, to_status=status, date=day(8), reason="Alasan"
    )
    return refreshed(enrolment)


def refreshed(enrolment: Enrolment) -> Enrolment:
    return Enrolment.objects.get(pk=enrolment.pk)


# States of the table: name → builder.
STATES = {
    "screened": screened,
    "assessed": assessed,
    "enrolled": enrolled,
    "in_phase_first": lambda world: in_phase(world, phases=1),
    "in_phase_last": lambda world: in_phase(world, phases=3),
    "completed": completed,
    "dropped_out": lambda world: ended(world, Status.DROPPED_OUT),
    "transferred": lambda world: ended(world, Status.TRANSFERRED),
    "released": lambda world: ended(world, Status.RELEASED),
    "referred": lambda world: ended(world, Status.REFERRED),
}
TARGETS = list(Status.values)
#: The expected result of each move: None when allowed, else the ValidationError code.
ALLOWED = {
    "screened": {Status.ASSESSED, Status.REFERRED},
    "assessed": {Status.ENROLLED, Status.REFERRED},
    "enrolled": {
        Status.IN_PHASE,
        Status.DROPPED_OUT,
        Status.TRANSFERRED,
        Status.RELEASED,
        Status.REFERRED,
    },
    "in_phase_first": {
        Status.IN_PHASE,
        Status.DROPPED_OUT,
        Status.TRANSFERRED,
        Status.RELEASED,
        Status.REFERRED,
    },
    "in_phase_last": {
        Status.COMPLETED,
        Status.DROPPED_OUT,
        Status.TRANSFERRED,
        Status.RELEASED,
        Status.REFERRED,
    },
}
#: Refusals that are not "this move does not exist" but a rule of the move itself.
SPECIAL_REFUSALS = {
    ("in_phase_first", Status.COMPLETED): "not_last_phase",
    ("in_phase_last", Status.IN_PHASE): "last_phase",
}


def attempt(world, enrolment: Enrolment, target: str, date: datetime.date):
    if target == Status.ASSESSED:
        return enrolment_services.enrolment_assess(
            user=world["staff"],
            enrolment=enrolment,
            date=date,
            team="Tim Asesmen Terpadu",
            recommendation=Assessment.Recommendation.MEDICAL,
        )
    return enrolment_services.enrolment_move(
        user=world["staff"],
        enrolment=enrolment,
        to_status=target,
        date=date,
        reason="Alasan perpindahan",
        outcome={"recovered": True, "skilled": False, "independent": True},
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("state", list(STATES))
def test_every_move_between_every_pair_of_statuses(world, state, target):
    enrolment = STATES[state](world)
    before_status, before_events = enrolment.status, enrolment.events.count()
    allowed = target in ALLOWED.get(state, set())
    if allowed:
        attempt(world, enrolment, target, day(12))
        enrolment.refresh_from_db()
        assert enrolment.status == target
        event = enrolment.events.order_by("-recorded_at", "-pk").first()
        assert (event.from_status, event.to_status) == (before_status, target)
        assert event.date == day(12)
        assert event.recorded_by == world["staff"]
    else:
        with pytest.raises(ValidationError) as refused:
            attempt(world, enrolment, target, day(12))
        expected = SPECIAL_REFUSALS.get((state, target), "move_not_allowed")
        assert refused.value.code == expected
        enrolment.refresh_from_db()
        assert enrolment.status == before_status
        assert enrolment.events.count() == before_events


def test_the_table_of_the_services_is_the_table_of_the_tests():
    for state, targets in ALLOWED.items():
        status = Status.IN_PHASE if state.startswith("in_phase") else state
        assert set(selectors.MOVES[status]) >= targets
    assert set(selectors.MOVES) == {
        Status.SCREENED,
        Status.ASSESSED,
        Status.ENROLLED,
        Status.IN_PHASE,
    }


# --- screening ------------------------------------------------------------------------------


def test_screening_creates_the_enrolment_with_its_scores_and_bands(world):
    participant = new_participant(world)
    enrolment = screening_services.enrolment_screen(
        user=world["staff"],
        participant=participant,
        programme=world["programme"],
        date=day(0),
        scores={"alcohol": 11, "tobacco": 3, "cannabis": None, "stimulants": 27},
        notes="  Skrining awal  ",
    )
    assert enrolment.status == Status.SCREENED
    assert enrolment.start_date == day(0)
    screening = enrolment.screenings.get()
    assert screening.participant == participant
    assert screening.notes == "Skrining awal"
    assert screening.screened_by == world["staff"]
    assert {(s.substance, s.score, s.risk) for s in screening.scores.all()} == {
        ("alcohol", 11, Risk.MODERATE),
        ("tobacco", 3, Risk.LOW),
        ("stimulants", 27, Risk.HIGH),
    }
    event = enrolment.events.get()
    assert (event.from_status, event.to_status, event.date) == ("", Status.SCREENED, day(0))
    eligibility = selectors.enrolment_eligibility(enrolment)
    assert eligibility.eligible and eligibility.highest == Risk.HIGH


@pytest.mark.parametrize(
    ("scores", "code"),
    [
        ({"alcohol": 40}, "score_range"),
        ({"tobacco": -1}, "score_range"),
        ({"heroin": 5}, "substance"),
        ({}, "no_scores"),
        ({"alcohol": None}, "no_scores"),
    ],
)
def test_screening_refuses_bad_scores_and_saves_nothing(world, scores, code):
    participant = new_participant(world)
    with pytest.raises(ValidationError) as refused:
        screened(world, participant, scores=scores)
    assert refused.value.code == code
    assert not Enrolment.objects.exists()
    assert not ScreeningScore.objects.exists()


def test_low_risk_everywhere_is_education_only(world):
    enrolment = screened(world, scores=LOW)
    eligibility = selectors.enrolment_eligibility(enrolment)
    assert not eligibility.eligible and eligibility.highest == Risk.LOW
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        assessed(world, enrolment)
    assert refused.value.code == "not_eligible"
    assert "education only" in refused.value.messages[0]
    ended(world, Status.REFERRED, enrolment)
    assert refreshed(enrolment).status == Status.REFERRED


def test_a_participant_is_screened_once_per_programme(world):
    enrolment = screened(world)
    with pytest.raises(ValidationError) as refused:
        screened(world, enrolment.participant)
    assert refused.value.code == "already_enrolled"


def test_screening_for_a_programme_that_does_not_run_at_the_participants_institution(world):
    elsewhere = factories.institution()
    factories.user(institution=elsewhere, roles=(Role.PROGRAMME,))
    Membership.objects.create(user=world["staff"], institution=elsewhere, role=Role.PROGRAMME)
    access.forget(world["staff"])
    participant = new_participant(world, institution=elsewhere)
    with pytest.raises(ValidationError) as refused:
        screened(world, participant)
    assert refused.value.code == "programme_elsewhere"


def test_a_later_screening_is_kept_without_a_move(world):
    enrolment = in_phase(world)
    screening = screening_services.screening_record(
        user=world["staff"], enrolment=enrolment, date=day(9), scores={"stimulants": 3}
    )
    assert refreshed(enrolment).status == Status.IN_PHASE
    assert screening.scores.get().risk == Risk.LOW
    with pytest.raises(ValidationError):
        screening_services.screening_record(
            user=world["staff"], enrolment=enrolment, date=day(-1), scores={"alcohol": 1}
        )


# --- assessment and enrolment ---------------------------------------------------------------


def test_assessment_records_the_team_and_the_recommendation(world):
    enrolment = assessed(world, recommendation=Assessment.Recommendation.OUTPATIENT)
    assessment = enrolment.assessments.get()
    assert assessment.team == "dr. Uji\nPsikolog Uji"
    assert assessment.recommendation == "outpatient"
    assert assessment.recorded_by == world["staff"]
    assert enrolment.status == Status.ASSESSED


def test_no_rehabilitation_recommended_cannot_be_enrolled_but_can_be_referred(world):
    enrolment = assessed(world, recommendation=Assessment.Recommendation.NONE)
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=enrolment, date=day(2))
    assert refused.value.code == "not_recommended"
    ended(world, Status.REFERRED, enrolment)
    assert refreshed(enrolment).status == Status.REFERRED


def test_enrolment_sets_the_day_and_the_phases_keep_their_dates(world):
    enrolment = enrolled(world)
    assert enrolment.enrolled_on == day(2)
    for step in range(3):
        enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=day(3 + step)
        )
    enrolment = refreshed(enrolment)
    rows = list(EnrolmentPhase.objects.filter(enrolment=enrolment).order_by("start_date"))
    assert [(row.phase.order, row.start_date, row.end_date) for row in rows] == [
        (1, day(3), day(4)),
        (2, day(4), day(5)),
        (3, day(5), None),
    ]
    assert enrolment.current_phase == rows[-1].phase
    enrolment_services.enrolment_complete(
        user=world["staff"],
        enrolment=enrolment,
        date=day(20),
        recovered=True,
        skilled=False,
        independent=True,
        reason="Selesai",
    )
    enrolment = refreshed(enrolment)
    assert EnrolmentPhase.objects.get(pk=rows[-1].pk).end_date == day(20)
    assert (enrolment.status, enrolment.end_date, enrolment.current_phase) == (
        Status.COMPLETED,
        day(20),
        None,
    )
    assert (enrolment.recovered, enrolment.skilled, enrolment.independent) == (True, False, True)


def test_completion_needs_the_whole_outcome(world):
    enrolment = in_phase(world, phases=3)
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_move(
            user=world["staff"],
            enrolment=enrolment,
            to_status=Status.COMPLETED,
            date=day(12),
            outcome={"recovered": True, "skilled": None},
        )
    assert refused.value.code == "outcome"
    assert refreshed(enrolment).status == Status.IN_PHASE


def test_an_ending_needs_a_reason_and_closes_the_phase(world):
    enrolment = in_phase(world)
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_end(
            user=world["staff"],
            enrolment=enrolment,
            to_status=Status.DROPPED_OUT,
            date=day(8),
            reason="  ",
        )
    assert refused.value.code == "reason"
    ended(world, Status.DROPPED_OUT, enrolment)
    enrolment = refreshed(enrolment)
    assert enrolment.end_date == day(8) and enrolment.end_reason == "Alasan"
    assert enrolment.phases.get().end_date == day(8)
    assert enrolment.current_phase is None


def test_an_ending_must_be_one_of_the_endings(world):
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_end(
            user=world["staff"],
            enrolment=enrolled(world),
            to_status=Status.COMPLETED,
            date=day(8),
            reason="x",
        )
    assert refused.value.code == "move_not_allowed"


def test_a_programme_without_phases_cannot_start_one(world):
    Phase.objects.filter(programme=world["programme"]).delete()
    enrolment = enrolled(world)
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=day(3)
        )
    assert refused.value.code == "no_phases"


# --- dates ---------------------------------------------------------------------------------


def test_no_move_before_the_previous_one_nor_in_the_future(world):
    enrolment = enrolled(world)  # enrolled on day(2)
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=day(1)
        )
    assert refused.value.code == "date_order"
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=TODAY + datetime.timedelta(days=1)
        )
    assert refused.value.code == "future"
    enrolment_services.enrolment_next_phase(user=world["staff"], enrolment=enrolment, date=day(2))
    assert refreshed(enrolment).status == Status.IN_PHASE


def test_a_screening_in_the_future_is_refused(world):
    with pytest.raises(ValidationError) as refused:
        screening_services.enrolment_screen(
            user=world["staff"],
            participant=new_participant(world),
            programme=world["programme"],
            date=TODAY + datetime.timedelta(days=1),
            scores=ELIGIBLE,
        )
    assert refused.value.code == "future"


# --- capacity and the two-programme rule ---------------------------------------------------


def test_a_full_programme_refuses_and_a_place_frees_when_someone_completes(world):
    world["programme"].capacity = 2
    world["programme"].save()
    first, second = enrolled(world), in_phase(world, phases=3)
    waiting = assessed(world)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(2))
    assert refused.value.code == "full"
    assert "all 2 places are taken" in refused.value.messages[0]
    assert selectors.active_count(world["programme"]) == 2
    enrolment_services.enrolment_complete(
        user=world["staff"],
        enrolment=second,
        date=day(9),
        recovered=True,
        skilled=True,
        independent=True,
    )
    enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(9))
    assert refreshed(waiting).status == Status.ENROLLED
    assert refreshed(first).status == Status.ENROLLED
    assert selectors.active_count(world["programme"]) == 2


def test_a_place_frees_when_someone_drops_out(world):
    world["programme"].capacity = 1
    world["programme"].save()
    first = enrolled(world)
    waiting = assessed(world)
    with pytest.raises(ValidationError):
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(2))
    ended(world, Status.DROPPED_OUT, first)
    enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(8))
    assert refreshed(waiting).status == Status.ENROLLED


def test_screened_and_assessed_take_no_place(world):
    world["programme"].capacity = 1
    world["programme"].save()
    screened(world)
    assessed(world)
    enrolled(world)
    assert selectors.active_count(world["programme"]) == 1


def another_programme(world, kind):
    return programme_services.programme_create(
        user=world["editor"],
        name=f"Program {kind}",
        kind=kind,
        host=world["host"],
        agreement=world["agreement"],
        launch_date=START,
    )


def test_not_active_in_two_programmes_of_the_same_type(world):
    first = enrolled(world)
    participant = first.participant
    same_type = another_programme(world, Programme.Kind.SOCIAL)
    other_type = another_programme(world, Programme.Kind.MEDICAL)
    waiting = assessed(world, screened(world, participant, programme=same_type))
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(2))
    assert refused.value.code == "active_elsewhere"
    assert "Program Rehabilitasi Sosial" in refused.value.messages[0]
    medical = enrolled(world, screened(world, participant, programme=other_type))
    assert medical.status == Status.ENROLLED
    # After the first one is completed, the same type is possible again.
    completed(world, first)
    enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(10))
    assert refreshed(waiting).status == Status.ENROLLED


def test_screened_in_two_programmes_of_the_same_type_is_fine(world):
    participant = new_participant(world)
    screened(world, participant)
    screened(world, participant, programme=another_programme(world, Programme.Kind.SOCIAL))
    assert participant.enrolments.count() == 2


# --- agreements ----------------------------------------------------------------------------


def agreement_in_state(world, state: str) -> Agreement:
    fields = {}
    status = Agreement.Status.SIGNED
    if state == "expired":
        fields = {"effective_date": TODAY - datetime.timedelta(days=800), "end_date": day(-1)}
    elif state == "terminated":
        status = Agreement.Status.TERMINATED
    elif state in ("draft", "discussion", "ready"):
        status = state
    elif state == "expiring":
        fields = {"effective_date": day(-700), "end_date": TODAY + datetime.timedelta(days=10)}
    elif state == "not_yet_effective":
        fields = {"effective_date": TODAY + datetime.timedelta(days=10)}
    return factories.agreement(world["partner"], world["host"], status=status, **fields)


@pytest.mark.parametrize("state", ["expired", "terminated", "draft", "discussion", "ready"])
def test_a_programme_needs_an_agreement_in_force(world, state):
    agreement = agreement_in_state(world, state)
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        programme_services.programme_create(
            user=world["editor"],
            name="Program Baru",
            kind=Programme.Kind.MEDICAL,
            host=world["host"],
            agreement=agreement,
            launch_date=TODAY,
        )
    assert refused.value.code == "agreement_not_in_force"
    assert "signed and not expired" in refused.value.messages[0]
    assert not Programme.objects.filter(name="Program Baru").exists()


@pytest.mark.parametrize("state", ["active", "expiring", "not_yet_effective"])
def test_a_signed_agreement_not_expired_will_do(world, state):
    programme = programme_services.programme_create(
        user=world["editor"],
        name="Program Baru",
        kind=Programme.Kind.MEDICAL,
        host=world["host"],
        agreement=agreement_in_state(world, state),
        launch_date=TODAY,
    )
    assert programme.pk


def test_the_host_must_be_a_party_to_the_agreement(world):
    agreement = factories.agreement(
        world["partner"], world["other"], status=Agreement.Status.SIGNED
    )
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_create(
            user=world["editor"],
            name="Program Baru",
            kind=Programme.Kind.SOCIAL,
            host=world["host"],
            agreement=agreement,
            launch_date=TODAY,
        )
    assert refused.value.code == "agreement_not_in_force"


def expire(agreement: Agreement, how: str) -> None:
    if how == "expired":
        agreement.effective_date = TODAY - datetime.timedelta(days=800)
        agreement.end_date = TODAY - datetime.timedelta(days=1)
    elif how == "draft":  # not a move the services make; a programme made in the admin
        agreement.status = Agreement.Status.DRAFT
    else:
        agreement.status = Agreement.Status.TERMINATED
        agreement.terminated_on = TODAY
    agreement.save()


@pytest.mark.parametrize("how", ["expired", "terminated", "draft"])
def test_an_agreement_ended_since_refuses_new_enrolments_but_lets_the_others_go_on(world, how):
    running = in_phase(world)
    waiting = assessed(world)
    participant = new_participant(world)
    expire(world["agreement"], how)
    with pytest.raises(ValidationError) as refused:
        screened(world, participant)
    assert refused.value.code == "agreement_not_in_force"
    with pytest.raises(ValidationError) as refused:
        enrolment_services.enrolment_enrol(user=world["staff"], enrolment=waiting, date=day(3))
    assert refused.value.code == "agreement_not_in_force"
    enrolment_services.enrolment_next_phase(user=world["staff"], enrolment=running, date=day(4))
    assert refreshed(running).current_phase.order == 2


# --- programmes and phases -----------------------------------------------------------------


def test_programme_created_with_the_standard_tc_phases(world):
    with translation.override("en"):
        programme = another_programme(world, Programme.Kind.POST)
    assert [(p.order, p.name, p.planned_weeks) for p in programme.phases.all()] == [
        (1, "Orientation", 2),
        (2, "Primary", 19),
        (3, "Re-entry", 3),
    ]


def test_programme_created_with_its_own_phases_and_partners(world):
    event = factories.agreement(world["partner"], world["host"], status="signed")
    programme = programme_services.programme_create(
        user=world["editor"],
        name="Program Medis",
        kind=Programme.Kind.MEDICAL,
        host=world["host"],
        partners=[world["partner"], world["other"]],
        agreement=event,
        launch_date=TODAY,
        capacity=25,
        description="Rawat jalan",
        phases=[{"name": "Primer", "planned_weeks": 16}, {"name": "Re-entry", "planned_weeks": 8}],
    )
    assert set(programme.partners.all()) == {world["partner"], world["other"]}
    assert [(p.order, p.name, p.planned_weeks) for p in programme.phases.all()] == [
        (1, "Primer", 16),
        (2, "Re-entry", 8),
    ]
    assert programme.capacity == 25


@pytest.mark.parametrize("who", ["staff", "viewer", "outsider", "partner_staff"])
def test_only_editors_of_the_host_create_programmes(world, who):
    with pytest.raises(PermissionDenied):
        programme_services.programme_create(
            user=world[who],
            name="Program Baru",
            kind=Programme.Kind.SOCIAL,
            host=world["host"],
            agreement=world["agreement"],
            launch_date=TODAY,
        )


def test_the_launch_event_must_be_the_signing_of_the_agreement(world):
    elsewhere = SigningEvent.objects.create(date=TODAY, venue="Aula", host=world["host"])
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_create(
            user=world["editor"],
            name="Program Baru",
            kind=Programme.Kind.SOCIAL,
            host=world["host"],
            agreement=world["agreement"],
            launch_date=TODAY,
            launch_event=elsewhere,
        )
    assert refused.value.code == "launch_event"
    world["agreement"].signing_event = elsewhere
    world["agreement"].save()
    programme = programme_services.programme_create(
        user=world["editor"],
        name="Program Baru",
        kind=Programme.Kind.SOCIAL,
        host=world["host"],
        agreement=world["agreement"],
        launch_date=TODAY,
        launch_event=elsewhere,
    )
    assert programme.launch_event == elsewhere


def test_the_host_is_not_its_own_partner(world):
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_create(
            user=world["editor"],
            name="Program Baru",
            kind=Programme.Kind.SOCIAL,
            host=world["host"],
            partners=[world["host"]],
            agreement=world["agreement"],
            launch_date=TODAY,
        )
    assert refused.value.code == "host_is_partner"


def test_programme_update(world):
    programme = programme_services.programme_update(
        programme=world["programme"],
        user=world["editor"],
        name="  Program Baru  ",
        partners=[world["partner"], world["other"]],
        capacity=40,
        description="x",
    )
    programme.refresh_from_db()
    assert (programme.name, programme.capacity) == ("Program Baru", 40)
    assert set(programme.partners.all()) == {world["partner"], world["other"]}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": " "}, "name"),
        ({"capacity": 1}, "capacity"),  # two places are taken
        ({"partners": ["host"]}, "host_is_partner"),
    ],
)
def test_programme_update_refusals(world, changes, code):
    enrolled(world)
    in_phase(world)
    arguments = {
        "programme": world["programme"],
        "user": world["editor"],
        "name": "Program",
        "partners": [world["partner"]],
        "capacity": None,
        "description": "",
    }
    if changes.get("partners") == ["host"]:
        changes = {"partners": [world["host"]]}
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_update(**{**arguments, **changes})
    assert refused.value.code == code


def test_a_partner_holding_people_in_the_programme_cannot_be_removed(world):
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.ADMIN)
    access.forget(world["staff"])
    world["programme"].partners.add(world["other"])
    enrolment = screened(world, new_participant(world, institution=world["other"]))
    arguments = {
        "programme": world["programme"],
        "user": world["editor"],
        "name": "Program",
        "partners": [world["partner"]],
        "capacity": None,
    }
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_update(**arguments)
    assert refused.value.code == "partner_in_use"
    ended(world, Status.REFERRED, enrolment)
    programme_services.programme_update(**arguments)
    assert list(world["programme"].partners.all()) == [world["partner"]]


@pytest.mark.parametrize("who", ["staff", "viewer", "partner_staff", "outsider"])
def test_only_editors_of_the_host_change_a_programme(world, who):
    with pytest.raises(PermissionDenied):
        programme_services.programme_update(
            programme=world["programme"], user=world[who], name="X", partners=[], capacity=None
        )


def test_phases_are_replaced_in_order_keeping_the_ones_in_use(world):
    programme = world["programme"]
    orientation, primary, reentry = programme.phases.all()
    in_phase(world)  # someone is in the orientation
    programme_services.phases_replace(
        programme=programme,
        user=world["editor"],
        phases=[
            {"id": orientation.pk, "name": "Orientasi", "planned_weeks": 3},
            {"id": None, "name": "Pendalaman", "planned_weeks": 4},
            {"id": reentry.pk, "name": "Re-entry", "planned_weeks": 3},
            {"id": primary.pk, "name": "Primer", "planned_weeks": 18},
        ],
    )
    phases = list(programme.phases.order_by("order"))
    assert [(p.order, p.name, p.planned_weeks) for p in phases] == [
        (1, "Orientasi", 3),
        (2, "Pendalaman", 4),
        (3, "Re-entry", 3),
        (4, "Primer", 18),
    ]
    assert phases[0].pk == orientation.pk and phases[3].pk == primary.pk
    with pytest.raises(ValidationError) as refused:
        programme_services.phases_replace(
            programme=programme,
            user=world["editor"],
            phases=[{"id": primary.pk, "name": "Primer", "planned_weeks": 18}],
        )
    assert refused.value.code == "phase_in_use"
    assert programme.phases.count() == 4
    programme_services.phases_replace(
        programme=programme,
        user=world["editor"],
        phases=[
            {"id": orientation.pk, "name": "Orientasi", "planned_weeks": 3},
            {"id": primary.pk, "name": "Primer", "planned_weeks": 18},
        ],
    )
    assert programme.phases.count() == 2


@pytest.mark.parametrize(
    ("phases", "code"),
    [
        ([], "no_phases"),
        ([{"name": "", "planned_weeks": 2}], "phase_name"),
        ([{"name": "Primer", "planned_weeks": 0}], "phase_length"),
    ],
)
def test_bad_phases_are_refused(world, phases, code):
    with pytest.raises(ValidationError) as refused:
        programme_services.phases_replace(
            programme=world["programme"], user=world["editor"], phases=phases
        )
    assert refused.value.code == code
    assert world["programme"].phases.count() == 3


def test_phases_of_another_programme_are_refused(world):
    other = another_programme(world, Programme.Kind.MEDICAL)
    with pytest.raises(ValidationError) as refused:
        programme_services.phases_replace(
            programme=world["programme"],
            user=world["editor"],
            phases=[{"id": other.phases.first().pk, "name": "X", "planned_weeks": 1}],
        )
    assert refused.value.code == "phase"


@pytest.mark.parametrize("who", ["staff", "viewer", "partner_staff", "outsider"])
def test_only_editors_of_the_host_change_phases(world, who):
    with pytest.raises(PermissionDenied):
        programme_services.phases_replace(
            programme=world["programme"],
            user=world[who],
            phases=[{"name": "Satu", "planned_weeks": 1}],
        )


# --- participants --------------------------------------------------------------------------


def test_participant_created_with_the_access_log(world):
    participant = new_participant(
        world,
        register_number=" B.I-0157/2025 ",
        full_name="Peserta Satu",
        sex=Participant.Sex.MALE,
        birth_date=datetime.date(1990, 5, 1),
        case_article="127",
        substances=["stimulants", "cannabis", "stimulants"],
        use_duration_months=36,
        route=Participant.Route.SMOKED,
    )
    assert participant.register_number == "B.I-0157/2025"
    assert participant.substances == ["stimulants", "cannabis"]
    assert not participant.is_minor()
    log = AccessLog.objects.get(participant=participant)
    assert (log.user, log.action, log.institution) == (
        world["staff"],
        AccessLog.Action.CHANGE,
        world["host"],
    )


def test_register_number_unique_per_institution(world):
    new_participant(world, register_number="B.I-1/2025")
    with pytest.raises(ValidationError) as refused:
        new_participant(world, register_number="B.I-1/2025")
    assert refused.value.code == "register_number_taken"
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.ADMIN)
    access.forget(world["staff"])
    elsewhere = new_participant(world, register_number="B.I-1/2025", institution=world["other"])
    assert elsewhere.pk


def test_a_minor_is_flagged(world):
    on = datetime.date(2026, 1, 15)
    seventeen = new_participant(world, birth_date=datetime.date(2008, 1, 16))
    eighteen_that_day = new_participant(world, birth_date=datetime.date(2008, 1, 15))
    unknown = new_participant(world)
    assert seventeen.is_minor(on) and seventeen.age_on(on) == 17
    assert not eighteen_that_day.is_minor(on)
    assert not unknown.is_minor(on)
    assert new_participant(world, birth_date=TODAY - datetime.timedelta(days=3650)).is_minor()


def test_a_birth_date_in_the_future_is_refused(world):
    with pytest.raises(ValidationError) as refused:
        new_participant(world, birth_date=TODAY + datetime.timedelta(days=1))
    assert refused.value.code == "birth_date"


@pytest.mark.parametrize("who", ["viewer", "editor", "partner_staff", "outsider"])
def test_only_programme_staff_and_admins_of_the_institution_register_people(world, who):
    with pytest.raises(PermissionDenied):
        participant_services.participant_create(
            user=world[who],
            institution=world["host"],
            register_number="X",
            full_name="Y",
            status=Participant.Status.DETAINEE,
        )


def test_participant_update(world):
    participant = new_participant(world, register_number="A-1")
    new_participant(world, register_number="A-2")
    participant_services.participant_update(
        participant=participant, user=world["staff"], full_name="Nama Baru", case_article="112"
    )
    participant.refresh_from_db()
    assert (participant.full_name, participant.case_article) == ("Nama Baru", "112")
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_update(
            participant=participant, user=world["staff"], register_number="A-2"
        )
    assert refused.value.code == "register_number_taken"
    with pytest.raises(PermissionDenied):
        participant_services.participant_update(
            participant=participant, user=world["outsider"], full_name="X"
        )
    assert AccessLog.objects.filter(participant=participant, action="change").count() == 2


def test_transfer_keeps_the_history(world):
    participant = new_participant(world, register_number="PKL-1")
    lapas = factories.institution("Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas")
    Membership.objects.create(user=world["staff"], institution=lapas, role=Role.PROGRAMME)
    # A transfer takes effect at once where the user works with the participants.
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)
    Membership.objects.create(user=world["outsider"], institution=lapas, role=Role.PROGRAMME)
    access.forget(world["staff"])
    first = participant_services.participant_transfer(
        participant=participant,
        user=world["staff"],
        to_institution=world["other"],
        date=day(5),
        register_number="SMG-1",
        reason="Putusan pengadilan",
    )
    participant.refresh_from_db()
    assert (participant.institution, participant.register_number) == (world["other"], "SMG-1")
    assert (first.from_institution, first.to_institution, first.date, first.reason) == (
        world["host"],
        world["other"],
        day(5),
        "Putusan pengadilan",
    )
    # The staff of the first institution no longer hold the person: transferring is for others.
    Membership.objects.filter(user=world["staff"], institution=world["other"]).delete()
    access.forget(world["staff"])
    with pytest.raises(PermissionDenied):
        participant_services.participant_transfer(
            participant=participant,
            user=world["staff"],
            to_institution=lapas,
            date=day(6),
            register_number="L-1",
        )
    participant_services.participant_transfer(
        participant=participant,
        user=world["outsider"],
        to_institution=lapas,
        date=day(6),
        register_number="L-1",
    )
    history = Transfer.objects.filter(participant=participant).order_by("date")
    assert [(t.from_institution, t.to_institution) for t in history] == [
        (world["host"], world["other"]),
        (world["other"], lapas),
    ]
    logged = AccessLog.objects.filter(participant=participant, detail__startswith="transferred")
    assert {log.institution for log in logged} == {world["host"], world["other"], lapas}


def test_transfer_refusals(world):
    participant = new_participant(world, register_number="PKL-1")
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)
    access.forget(world["staff"])
    factories.participant(world["other"], register_number="SMG-1")
    transfer = {
        "participant": participant,
        "user": world["staff"],
        "to_institution": world["other"],
        "date": day(5),
        "register_number": "SMG-1",
    }
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_transfer(**transfer)
    assert refused.value.code == "register_number_taken"
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_transfer(**{**transfer, "to_institution": world["host"]})
    assert refused.value.code == "same_institution"
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_transfer(
            **{**transfer, "register_number": "SMG-2", "date": TODAY + datetime.timedelta(1)}
        )
    assert refused.value.code == "future"
    assert not Transfer.objects.exists()
    participant.refresh_from_db()
    assert participant.institution == world["host"]


def test_transfer_can_close_the_enrolments_that_do_not_follow(world):
    participant = new_participant(world)
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)
    access.forget(world["staff"])
    running = in_phase(world, screened(world, participant))
    other_programme = another_programme(world, Programme.Kind.MEDICAL)
    waiting = screened(world, participant, programme=other_programme)
    participant_services.participant_transfer(
        participant=participant,
        user=world["staff"],
        to_institution=world["other"],
        date=day(9),
        register_number="SMG-9",
        reason="Dipindahkan",
        end_enrolments=True,
    )
    running, waiting = refreshed(running), refreshed(waiting)
    assert (running.status, running.end_date, running.end_reason) == (
        Status.TRANSFERRED,
        day(9),
        "Dipindahkan",
    )
    assert waiting.status == Status.REFERRED


# --- rights and the log -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_moves_need_personal_data_rights_at_an_institution_involved(world, who):
    enrolment = screened(world)
    with pytest.raises(PermissionDenied):
        enrolment_services.enrolment_assess(
            user=world[who],
            enrolment=enrolment,
            date=day(1),
            team="Tim",
            recommendation=Assessment.Recommendation.SOCIAL,
        )
    with pytest.raises(PermissionDenied):
        enrolment_services.enrolment_end(
            user=world[who], enrolment=enrolment, to_status=Status.REFERRED, date=day(1), reason="x"
        )
    with pytest.raises(PermissionDenied):
        screened(world | {"staff": world[who]}, new_participant(world))


def test_partner_staff_move_enrolments(world):
    enrolment = screened(world)
    enrolment_services.enrolment_assess(
        user=world["partner_staff"],
        enrolment=enrolment,
        date=day(1),
        team="Tim BNNK",
        recommendation=Assessment.Recommendation.SOCIAL,
    )
    assert refreshed(enrolment).status == Status.ASSESSED


def test_every_move_is_logged_as_a_change(world):
    enrolment = completed(world)
    details = list(
        AccessLog.objects.filter(participant=enrolment.participant)
        .order_by("at", "pk")
        .values_list("action", "detail")
    )
    assert details[0] == ("change", "created")
    assert details[1:] == [
        ("change", f"enrolment {enrolment.pk}: screened"),
        ("change", f"enrolment {enrolment.pk}: screened → assessed"),
        ("change", f"enrolment {enrolment.pk}: assessed → enrolled"),
        ("change", f"enrolment {enrolment.pk}: enrolled → in_phase"),
        ("change", f"enrolment {enrolment.pk}: in_phase → in_phase"),
        ("change", f"enrolment {enrolment.pk}: in_phase → in_phase"),
        ("change", f"enrolment {enrolment.pk}: in_phase → completed"),
    ]
    assert EnrolmentEvent.objects.filter(enrolment=enrolment).count() == 7
