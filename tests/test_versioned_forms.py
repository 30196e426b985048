"""The one stale-edit protection (`institutions.forms.VersionedFormMixin`), on every app's edit
pages: a form sent back without its version is refused, says so, overwrites nothing that
someone else changed meanwhile, and then carries the current version."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from agreements.forms.agreements import AgreementDetailsForm
from agreements.forms.meetings import MeetingEditForm
from agreements.models import Agreement, Meeting
from agreements.services import lifecycle
from agreements.services import meetings as meeting_services
from institutions.forms import VersionedFormMixin, VersionForm
from institutions.models import Institution
from rehabilitation.forms import enrolment as rehabilitation_forms
from rehabilitation.models import Participant, Programme
from rehabilitation.services import participants as participant_services
from rehabilitation.services import programmes as programme_services
from tests import factories
from tests.rehabilitation.test_enrolment_services import (
    TODAY,
    day,
    in_phase,
    make_world,
    new_participant,
    refreshed,
    screened,
)

pytestmark = pytest.mark.django_db

NO_VERSION = "did not say which version"


def browser(user) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(user)
    return client


def test_every_edit_form_has_the_one_version_base():
    for form in (
        AgreementDetailsForm,
        MeetingEditForm,
        VersionForm,
        rehabilitation_forms.VersionedForm,
        rehabilitation_forms.ProgrammeEditForm,
        rehabilitation_forms.ParticipantForm,
        rehabilitation_forms.TransferForm,
        rehabilitation_forms.ArchiveForm,
        rehabilitation_forms.AssessmentForm,
        rehabilitation_forms.MoveForm,
        rehabilitation_forms.CompleteForm,
        rehabilitation_forms.EndForm,
    ):
        assert issubclass(form, VersionedFormMixin), form


def test_the_mixin_refuses_a_missing_version_and_carries_the_one_loaded():
    form = VersionForm({}, initial={"version": 7})
    assert not form.is_valid()
    assert [e.code for e in form.non_field_errors().as_data()] == ["no_version"]
    assert form.data["version"] == "7"
    assert VersionForm({"version": "7"}).is_valid()


# --- rehabilitation ---------------------------------------------------------------------


@pytest.fixture
def rehab():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["second_staff"] = factories.user("staff2", institution=made["host"], roles=("programme",))
    return made


def test_participant_edit_without_version_is_refused(rehab):
    participant = rehab["held"]
    participant_services.participant_update(
        participant=participant, user=rehab["staff"], full_name="Baru"
    )
    response = browser(rehab["second_staff"]).post(
        reverse("rehabilitation:participant_edit", args=[participant.pk]),
        {
            "status": participant.status,
            "register_number": participant.register_number,
            "full_name": "Tanpa Versi",
        },
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert Participant.objects.get(pk=participant.pk).full_name == "Baru"
    assert response.context["form"]["version"].value() == "2"


def test_participant_transfer_without_version_is_refused(rehab):
    participant = rehab["held"]
    lapas = factories.institution(kind="lapas")
    response = browser(rehab["staff"]).post(
        reverse("rehabilitation:participant_transfer", args=[participant.pk]),
        {
            "to_institution": lapas.pk,
            "date": TODAY.isoformat(),
            "register_number": "LP-1",
            "reason": "Putusan",
        },
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert Participant.objects.get(pk=participant.pk).institution == rehab["host"]


def test_participant_archive_without_version_is_refused(rehab):
    participant = rehab["held"]
    response = browser(rehab["staff"]).post(
        reverse("rehabilitation:participant_archive", args=[participant.pk]), {}, follow=True
    )
    assert NO_VERSION in response.content.decode()
    assert Participant.objects.get(pk=participant.pk).archived_at is None


def test_programme_edit_without_version_is_refused(rehab):
    programme = rehab["programme"]
    programme_services.programme_update(
        programme=programme,
        user=rehab["editor"],
        name="Program Pertama",
        partners=list(programme.partners.all()),
        capacity=None,
    )
    response = browser(rehab["editor"]).post(
        reverse("rehabilitation:programme_edit", args=[programme.pk]),
        {"name": "Program Tanpa Versi", "capacity": "", "description": ""},
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert Programme.objects.get(pk=programme.pk).name == "Program Pertama"


def test_programme_phases_without_version_are_refused(rehab):
    programme = rehab["programme"]
    phases = list(programme.phases.order_by("order"))
    data = {
        "phases-TOTAL_FORMS": str(len(phases)),
        "phases-INITIAL_FORMS": str(len(phases)),
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "30",
    }
    for n, phase in enumerate(phases):
        data |= {
            f"phases-{n}-id": str(phase.pk),
            f"phases-{n}-name": phase.name,
            f"phases-{n}-planned_weeks": str(phase.planned_weeks + 7),
            f"phases-{n}-ORDER": str(n + 1),
        }
    response = browser(rehab["editor"]).post(
        reverse("rehabilitation:programme_phases", args=[programme.pk]), data
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert [p.planned_weeks for p in programme.phases.order_by("order")] == [
        p.planned_weeks for p in phases
    ]


@pytest.mark.parametrize("move", ["enrolment_next_phase", "enrolment_end"])
def test_enrolment_move_without_version_is_refused(rehab, move):
    enrolment = in_phase(rehab, screened(rehab, rehab["held"]))
    before = (enrolment.status, enrolment.current_phase_id, enrolment.version)
    response = browser(rehab["staff"]).post(
        reverse(f"rehabilitation:{move}", args=[enrolment.pk]),
        {"date": day(5).isoformat(), "reason": "Tanpa versi", "to_status": "dropped_out"},
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    enrolment = refreshed(enrolment)
    assert (enrolment.status, enrolment.current_phase_id, enrolment.version) == before


# --- agreements -------------------------------------------------------------------------


@pytest.fixture
def agreement_world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )
    ani = factories.user("ani", institution=rutan)
    budi = factories.user("budi", institution=bnnk)
    agreement = lifecycle.agreement_create(
        user=ani, title="PKS Uji", subject="Rehabilitasi", institutions=[rutan, bnnk]
    )
    return {"bnnk": bnnk, "ani": ani, "budi": budi, "agreement": agreement}


def test_agreement_edit_without_version_is_refused(agreement_world):
    agreement = agreement_world["agreement"]
    lifecycle.agreement_update(agreement=agreement, user=agreement_world["ani"], title="Ani")
    response = browser(agreement_world["budi"]).post(
        reverse("agreements:edit", args=[agreement.pk]),
        {"title": "Tanpa Versi", "subject": "Rehabilitasi"},
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert Agreement.objects.get(pk=agreement.pk).title == "Ani"


def test_meeting_edit_without_version_is_refused(agreement_world):
    meeting = meeting_services.meeting_schedule(
        agreement=agreement_world["agreement"],
        user=agreement_world["ani"],
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9),
        end_time=None,
        venue="Kantor BNNK Batang",
        host=agreement_world["bnnk"],
    )
    response = browser(agreement_world["budi"]).post(
        reverse("agreements:meeting_edit", args=[meeting.pk]),
        {
            "date": "2025-07-29",
            "start_time": "09:00",
            "venue": "Tanpa Versi",
            "host": agreement_world["bnnk"].pk,
            "minutes": "Notulen",
        },
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    assert Meeting.objects.get(pk=meeting.pk).venue == "Kantor BNNK Batang"
