"""Two staff members editing the same record: the second save, made on the version both
loaded, is refused with what the first one changed; nothing of the first is overwritten, the
second person's input stays in the form, and saving it again (after review) is taken."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from institutions import history
from institutions.models import History
from rehabilitation.models import Enrolment, Participant, Programme
from rehabilitation.services import enrolment as enrolment_services
from rehabilitation.services import participants as participant_services
from rehabilitation.services import programmes as programme_services
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

Status = Enrolment.Status
STALE = "Someone else saved this record while you were editing it"


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["second_editor"] = factories.user("editor2", institution=made["host"], roles=("editor",))
    made["second_staff"] = factories.user("staff2", institution=made["host"], roles=("programme",))
    return made


def browser(world, who: str) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(world[who])
    return client


def loaded_version(response) -> str:
    return str(response.context["form"]["version"].value())


# --- programmes ----------------------------------------------------------------------------


def _programme_data(version: str, **fields) -> dict:
    return {"name": "Program", "capacity": "", "description": "", "version": version, **fields}


def test_second_programme_edit_from_the_same_version_is_refused(world):
    programme = world["programme"]
    url = reverse("rehabilitation:programme_edit", args=[programme.pk])
    first, second = browser(world, "editor"), browser(world, "second_editor")
    version = loaded_version(first.get(url))
    assert loaded_version(second.get(url)) == version == "1"

    saved = first.post(url, _programme_data(version, name="Program Pertama", capacity="20"))
    assert saved.status_code == 302

    refused = second.post(
        url, _programme_data(version, name="Program Kedua", description="Catatan saya")
    )
    assert refused.status_code == 200
    page = refused.content.decode()
    assert STALE in page
    assert "editor (" in page  # who changed it, and when
    assert "name: Program Pertama" in page and "capacity: 20" in page
    # The second person's input is kept in the form; the first person's save stands.
    assert 'value="Program Kedua"' in page and "Catatan saya" in page
    programme.refresh_from_db()
    assert (programme.name, programme.capacity, programme.description) == (
        "Program Pertama",
        20,
        "",
    )
    assert programme.version == 2
    # The form now carries the current version: saving again, after review, is taken.
    assert loaded_version(refused) == "2"
    again = second.post(url, _programme_data("2", name="Program Kedua", capacity="20"))
    assert again.status_code == 302
    programme.refresh_from_db()
    assert (programme.name, programme.version) == ("Program Kedua", 3)


def test_second_phase_edit_from_the_same_version_is_refused(world):
    programme = world["programme"]
    url = reverse("rehabilitation:programme_phases", args=[programme.pk])
    phases = list(programme.phases.order_by("order"))

    def data(version: str, weeks: int) -> dict:
        rows = {
            "version": version,
            "phases-TOTAL_FORMS": str(len(phases)),
            "phases-INITIAL_FORMS": str(len(phases)),
            "phases-MIN_NUM_FORMS": "0",
            "phases-MAX_NUM_FORMS": "30",
        }
        for n, phase in enumerate(phases):
            rows |= {
                f"phases-{n}-id": str(phase.pk),
                f"phases-{n}-name": phase.name,
                f"phases-{n}-planned_weeks": str(weeks if n == 0 else phase.planned_weeks),
                f"phases-{n}-ORDER": str(n + 1),
            }
        return rows

    first, second = browser(world, "editor"), browser(world, "second_editor")
    form = first.get(url).context["version_form"]
    assert form["version"].value() == 1
    assert first.post(url, data("1", 4)).status_code == 302
    refused = second.post(url, data("1", 6))
    assert refused.status_code == 200
    assert STALE in refused.content.decode()
    assert programme.phases.get(order=1).planned_weeks == 4
    assert refused.context["version_form"]["version"].value() == "2"
    assert second.post(url, data("2", 6)).status_code == 302
    assert programme.phases.get(order=1).planned_weeks == 6


def test_a_programme_edit_refuses_a_stale_phase_change_and_the_reverse(world):
    # The phases are part of the programme: changing them moves the programme's version.
    programme = world["programme"]
    orientation = programme.phases.get(order=1)
    programme_services.phases_replace(
        programme=programme,
        user=world["editor"],
        phases=[{"id": orientation.pk, "name": orientation.name, "planned_weeks": 3}],
        version=1,
    )
    with pytest.raises(ValidationError) as refused:
        programme_services.programme_update(
            programme=programme,
            user=world["second_editor"],
            name="Nama Lain",
            partners=[world["partner"]],
            capacity=None,
            version=1,
        )
    assert refused.value.code == "stale"
    assert Programme.objects.get(pk=programme.pk).name == "Program Rehabilitasi Sosial"


# --- participants --------------------------------------------------------------------------


def _participant_data(participant: Participant, version: str, **fields) -> dict:
    data = {
        "status": participant.status,
        "register_number": participant.register_number,
        "full_name": participant.full_name,
        "sex": "",
        "birth_date": "",
        "case_article": "",
        "use_duration_months": "",
        "route": "",
        "version": version,
    }
    return data | fields


def test_second_participant_correction_from_the_same_version_is_refused(world):
    participant = world["held"]
    url = reverse("rehabilitation:participant_edit", args=[participant.pk])
    first, second = browser(world, "staff"), browser(world, "second_staff")
    version = loaded_version(first.get(url))
    second.get(url)
    assert first.post(url, _participant_data(participant, version, case_article="127")).status_code
    refused = second.post(
        url, _participant_data(participant, version, full_name="Peserta Satu Koreksi")
    )
    assert refused.status_code == 200
    page = refused.content.decode()
    assert STALE in page and "case article: 127" in page
    assert 'value="Peserta Satu Koreksi"' in page
    participant.refresh_from_db()
    assert (participant.full_name, participant.case_article) == ("Peserta Satu", "127")
    # Nothing was written for the refused save: one correction in the history.
    assert (
        History.objects.filter(
            content_type=ContentType.objects.get_for_model(Participant),
            object_id=str(participant.pk),
            action="change",
        ).count()
        == 1
    )


def test_a_transfer_made_on_a_stale_record_is_refused(world):
    participant = world["held"]
    url = reverse("rehabilitation:participant_transfer", args=[participant.pk])
    client = browser(world, "staff")
    version = loaded_version(client.get(url))
    participant_services.participant_update(
        participant=participant, user=world["second_staff"], sex="m"
    )
    lapas = factories.institution(kind="lapas")
    refused = client.post(
        url,
        {
            "to_institution": lapas.pk,
            "date": TODAY.isoformat(),
            "register_number": "LP-1",
            "reason": "Putusan",
            "version": version,
        },
    )
    assert refused.status_code == 200
    assert STALE in refused.content.decode()
    participant.refresh_from_db()
    assert participant.institution == world["host"]


def test_archiving_a_stale_record_is_refused(world):
    participant = world["held"]
    participant_services.participant_update(participant=participant, user=world["staff"], sex="f")
    client = browser(world, "second_staff")
    response = client.post(
        reverse("rehabilitation:participant_archive", args=[participant.pk]),
        {"version": "1"},
        follow=True,
    )
    assert STALE in response.content.decode()
    participant.refresh_from_db()
    assert participant.archived_at is None


# --- the moves of an enrolment -------------------------------------------------------------


def test_second_move_from_the_same_version_is_refused(world):
    # Both start the next phase from phase 1: without the version, the second would skip
    # the participant on to phase 3.
    enrolment = in_phase(world, screened(world, world["held"]))
    url = reverse("rehabilitation:enrolment_next_phase", args=[enrolment.pk])
    first, second = browser(world, "staff"), browser(world, "partner_staff")
    version = loaded_version(first.get(url))
    assert loaded_version(second.get(url)) == version
    data = {"date": day(5).isoformat(), "reason": "", "version": version}
    assert first.post(url, data).status_code == 302
    refused = second.post(url, data | {"reason": "Kemajuan baik"})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert STALE in page and "current phase" in page
    assert "Kemajuan baik" in page
    enrolment = refreshed(enrolment)
    assert enrolment.current_phase.order == 2
    assert enrolment.events.filter(to_status=Status.IN_PHASE).count() == 2


def test_the_move_forms_on_the_enrolment_page_carry_the_version(world):
    enrolment = enrolled(world, screened(world, world["held"]))
    response = browser(world, "staff").get(reverse("rehabilitation:enrolment", args=[enrolment.pk]))
    actions = response.context["actions"]
    assert actions["next_phase"]["version"].value() == enrolment.version
    assert actions["end"]["version"].value() == enrolment.version
    assert f'name="version" value="{enrolment.version}"' in response.content.decode()


@pytest.mark.parametrize("move", ["assess", "enrol", "next_phase", "complete", "end"])
def test_every_move_service_refuses_a_stale_version(world, move):
    enrolment = screened(world, world["held"])
    if move in ("enrol", "end"):
        enrolment = enrolment_services.enrolment_assess(
            user=world["staff"],
            enrolment=enrolment,
            date=day(1),
            team="Tim",
            recommendation="social",
        ).enrolment
    if move == "next_phase":
        enrolment = enrolled(world, enrolment)
    if move == "complete":
        enrolment = in_phase(world, enrolment, phases=3)
    enrolment = refreshed(enrolment)
    stale = enrolment.version
    # Someone else changes the enrolment (here: the admin) after this form was loaded.
    history.bump_version(refreshed(enrolment))
    enrolment = refreshed(enrolment)
    calls = {
        "assess": lambda: enrolment_services.enrolment_assess(
            user=world["staff"],
            enrolment=enrolment,
            date=day(1),
            team="Tim",
            recommendation="social",
            version=stale,
        ),
        "enrol": lambda: enrolment_services.enrolment_enrol(
            user=world["staff"], enrolment=enrolment, date=day(2), version=stale
        ),
        "next_phase": lambda: enrolment_services.enrolment_next_phase(
            user=world["staff"], enrolment=enrolment, date=day(3), version=stale
        ),
        "complete": lambda: enrolment_services.enrolment_complete(
            user=world["staff"],
            enrolment=enrolment,
            date=day(10),
            recovered=True,
            skilled=True,
            independent=True,
            version=stale,
        ),
        "end": lambda: enrolment_services.enrolment_move(
            user=world["staff"],
            enrolment=enrolment,
            to_status=Status.REFERRED,
            date=day(2),
            reason="Rujuk",
            version=stale,
        ),
    }
    with pytest.raises(ValidationError) as refused:
        calls[move]()
    assert refused.value.code == "stale"
    assert refreshed(enrolment).version == enrolment.version
    assert refreshed(enrolment).status == enrolment.status


def test_the_current_version_is_taken_and_raises_it(world):
    enrolment = screened(world, world["held"])
    assert enrolment.version == 1
    enrolment_services.enrolment_assess(
        user=world["staff"],
        enrolment=enrolment,
        date=day(1),
        team="Tim",
        recommendation="social",
        version=1,
    )
    assert refreshed(enrolment).version == 2


# --- what the refusal says, and bad input ----------------------------------------------------


def test_the_refusal_names_who_changed_what(world):
    participant = world["held"]
    participant_services.participant_update(
        participant=participant, user=world["staff"], full_name="Baru"
    )
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        participant_services.participant_update(
            participant=participant, user=world["second_staff"], sex="m", version=1
        )
    message = refused.value.messages[0]
    assert "staff (" in message and "full name: Baru" in message


NO_VERSION = "did not say which version"


@pytest.mark.parametrize("version", ["abc", "-1", "0", "1" * 400, "1.5", "<script>"])
def test_a_damaged_version_is_a_form_error_and_saves_nothing(world, version):
    # The same refusal as for a missing version, as on every page (`VersionedFormMixin`).
    participant = world["held"]
    url = reverse("rehabilitation:participant_edit", args=[participant.pk])
    response = browser(world, "staff").post(
        url, _participant_data(participant, version, full_name="Tidak Tersimpan")
    )
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    participant.refresh_from_db()
    assert participant.full_name == "Peserta Satu"


def test_a_form_sent_without_a_version_is_refused_and_overwrites_nothing(world):
    # Someone else changed the record; a form sent back without its version must not
    # overwrite that change unseen. The page then carries the current version.
    participant = world["held"]
    participant_services.participant_update(
        participant=participant, user=world["staff"], full_name="Baru"
    )
    data = _participant_data(participant, "", full_name="Tanpa Versi", sex="m")
    del data["version"]
    client = browser(world, "second_staff")
    url = reverse("rehabilitation:participant_edit", args=[participant.pk])
    response = client.post(url, data)
    assert response.status_code == 200
    assert NO_VERSION in response.content.decode()
    participant.refresh_from_db()
    assert (participant.full_name, participant.sex) == ("Baru", "")
    assert loaded_version(response) == "2"
    assert client.post(url, data | {"version": "2"}).status_code == 302
    participant.refresh_from_db()
    assert participant.full_name == "Tanpa Versi"
