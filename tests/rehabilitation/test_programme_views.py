"""The programme pages: list, creation with phases, the programme page, editing phases —
the access matrix, refusals as form errors, and the database after each success."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse

from agreements.models import Agreement
from institutions import access
from institutions.models import Membership
from rehabilitation import selectors
from rehabilitation.models import AccessLog, Enrolment, Phase, Programme
from rehabilitation.services import programmes as programme_services
from tests import factories
from tests.rehabilitation.test_enrolment_services import (
    TODAY,
    assessed,
    completed,
    enrolled,
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
    client.force_login(world[who])
    return client


def url(name, world):
    if name in ("rehabilitation:programmes", "rehabilitation:programme_create"):
        return reverse(name)
    return reverse(name, args=[world["programme"].pk])


MATRIX = {
    "rehabilitation:programmes": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 200,  # an empty list (checked below)
        "editor": 200,
        "viewer": 200,
        "superuser": 200,
    },
    "rehabilitation:programme_create": {
        "staff": 403,  # programme staff run programmes; editors and administrators create them
        "partner_staff": 403,
        "outsider": 200,  # an administrator, for programmes of their own institution
        "editor": 200,
        "viewer": 403,
        "superuser": 200,
    },
    "rehabilitation:programme": {
        "staff": 200,
        "partner_staff": 200,
        "outsider": 404,
        "editor": 200,
        "viewer": 200,
        "superuser": 200,
    },
    "rehabilitation:programme_edit": {
        "staff": 403,
        "partner_staff": 403,
        "outsider": 404,
        "editor": 200,
        "viewer": 403,
        "superuser": 200,
    },
    "rehabilitation:programme_phases": {
        "staff": 403,
        "partner_staff": 403,
        "outsider": 404,
        "editor": 200,
        "viewer": 403,
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
    sees_names = who in ("staff", "partner_staff", "superuser")
    if name == "rehabilitation:programme" and status == 200:
        assert ("Peserta Satu" in page) is sees_names
    if who == "outsider":
        assert "Program Rehabilitasi Sosial" not in page


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("rehabilitation:programmes", "post"),
        ("rehabilitation:programme", "post"),
        ("rehabilitation:programme_create", "put"),
        ("rehabilitation:programme_phases", "delete"),
        ("rehabilitation:programme_edit", "put"),
    ],
)
def test_wrong_method_is_405(client, world, name, method):
    login(client, world, "editor")
    assert getattr(client, method)(url(name, world)).status_code == 405


# --- the programme page --------------------------------------------------------------------


def test_programme_page_shows_facts_phases_places_and_enrolments(english, world):
    programme = world["programme"]
    programme.capacity = 10
    programme.save()
    enrolled(world)
    assessed(world)
    completed(world)
    login(english, world, "staff")
    response = english.get(url("rehabilitation:programme", world))
    page = response.content.decode()
    assert response.context["active"].value == 2
    assert response.context["free"] == 8
    assert "2 of 10 taken, 8 free" in page
    counts = {group["status"]: group["count"].value for group in response.context["by_status"]}
    assert counts[Enrolment.Status.IN_PHASE] == 1
    assert counts[Enrolment.Status.ENROLLED] == 1
    assert counts[Enrolment.Status.ASSESSED] == 1
    assert counts[Enrolment.Status.COMPLETED] == 1
    # The standard phases were named when the programme was made, in the site's language.
    for text in (
        "Orientasi",
        "Primer",
        "Re-entry",
        "24 weeks",
        "BNNK",
        world["agreement"].title,
    ):
        assert text in page, text
    enrolment = Enrolment.objects.get(participant=world["held"])
    assert reverse("rehabilitation:enrolment", args=[enrolment.pk]) in page
    assert reverse("rehabilitation:programme_phases", args=[programme.pk]) not in page


def test_programme_page_for_a_viewer_has_counts_and_no_names(english, world):
    login(english, world, "viewer")
    before = AccessLog.objects.count()
    response = english.get(url("rehabilitation:programme", world))
    page = response.content.decode()
    assert "Peserta Satu" not in page and "PKL-001" not in page
    assert "only programme staff and institution administrators see them" in page
    # One person: protected for a viewer, no count of 1 to 9 shown (rehabilitation.disclosure).
    counts = [group["count"] for group in response.context["by_status"]]
    assert all(count.value in (None, 0) for count in counts)
    assert not response.context["total"].shown
    assert "The counts are protected" in page
    assert AccessLog.objects.count() == before


def test_programme_page_logs_each_participant_listed(client, world):
    screened(world)
    login(client, world, "partner_staff")
    before = AccessLog.objects.filter(action=AccessLog.Action.VIEW).count()
    client.get(url("rehabilitation:programme", world))
    # One line for the page, listing both participants.
    assert AccessLog.objects.filter(action=AccessLog.Action.VIEW).count() == before + 1
    line = AccessLog.objects.order_by("-pk").first()
    assert line.user == world["partner_staff"]
    assert line.record_count == line.records.count() == 2


def test_programme_page_of_an_expired_agreement_says_it_takes_nobody_new(english, world):
    agreement = world["agreement"]
    agreement.effective_date = TODAY - datetime.timedelta(days=800)
    agreement.end_date = TODAY - datetime.timedelta(days=1)
    agreement.save()
    login(english, world, "staff")
    page = english.get(url("rehabilitation:programme", world)).content.decode()
    assert "takes no new participants" in page


def test_programme_page_query_count_is_constant(client, world, django_assert_num_queries):
    for _ in range(4):
        screened(world)
    login(client, world, "staff")
    # session, user, roles, programme, partners, counts by status, the ids of the newest
    # enrolments of each status and their rows, access log (its line and the records
    # listed), phases, the history of the programme and its phases, the institutions named
    # in it, and the session saved again
    with django_assert_num_queries(13 + SESSION_SAVE):
        client.get(url("rehabilitation:programme", world))
    for _ in range(45):
        screened(world)
    with django_assert_num_queries(13 + SESSION_SAVE):
        response = client.get(url("rehabilitation:programme", world))
    [group] = [g for g in response.context["by_status"] if g["status"] == "screened"]
    # The newest few by name, the rest counted and linked to the enrolment list.
    assert len(group["enrolments"]) == selectors.SHOWN_PER_STATUS
    assert group["more"] == group["count"].value - selectors.SHOWN_PER_STATUS > 0
    assert "status=screened" in response.content.decode()


def test_the_list_shows_places_taken_once_per_programme(english, world):
    world["programme"].partners.add(factories.institution())
    world["programme"].capacity = 5
    world["programme"].save()
    login(english, world, "staff")
    response = english.get(reverse("rehabilitation:programmes"))
    [programme] = response.context["programmes"]
    assert programme.active.value == 1
    assert "1 of 5" in response.content.decode()


# --- creating a programme ------------------------------------------------------------------


def programme_post(world, **overrides):
    data = {
        "name": "Program Rehabilitasi Medis",
        "kind": Programme.Kind.MEDICAL,
        "host": world["host"].pk,
        "partners": [world["partner"].pk],
        "agreement": world["agreement"].pk,
        "launch_date": TODAY.isoformat(),
        "launch_event": "",
        "capacity": "20",
        "description": "Rawat jalan di klinik rutan",
        "phases-TOTAL_FORMS": "3",
        "phases-INITIAL_FORMS": "0",
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "30",
        "phases-0-name": "Orientasi",
        "phases-0-planned_weeks": "2",
        "phases-0-ORDER": "1",
        "phases-1-name": "Primer",
        "phases-1-planned_weeks": "16",
        "phases-1-ORDER": "2",
        "phases-2-name": "",
        "phases-2-planned_weeks": "",
        "phases-2-ORDER": "",
    }
    data.update(overrides)
    return data


def test_the_create_form_offers_the_standard_phases_and_agreements_in_force(english, world):
    draft = factories.agreement(world["partner"], world["host"], title="PKS Masih Draf")
    login(english, world, "editor")
    response = english.get(reverse("rehabilitation:programme_create"))
    formset = response.context["formset"]
    assert [(f.initial["name"], f.initial["planned_weeks"]) for f in formset.initial_forms] == [
        ("Orientation", 2),
        ("Primary", 19),
        ("Re-entry", 3),
    ]
    choices = dict(response.context["form"].fields["agreement"].choices)
    assert world["agreement"].pk in choices
    assert draft.pk not in choices


def test_create_a_programme(english, world):
    login(english, world, "editor")
    response = english.post(reverse("rehabilitation:programme_create"), programme_post(world))
    programme = Programme.objects.get(name="Program Rehabilitasi Medis")
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:programme", args=[programme.pk])
    assert (programme.kind, programme.host, programme.agreement, programme.capacity) == (
        Programme.Kind.MEDICAL,
        world["host"],
        world["agreement"],
        20,
    )
    assert list(programme.partners.all()) == [world["partner"]]
    assert [(p.order, p.name, p.planned_weeks) for p in programme.phases.all()] == [
        (1, "Orientasi", 2),
        (2, "Primer", 16),
    ]


def test_the_order_field_orders_the_phases(english, world):
    login(english, world, "editor")
    english.post(
        reverse("rehabilitation:programme_create"),
        programme_post(world, **{"phases-0-ORDER": "2", "phases-1-ORDER": "1"}),
    )
    programme = Programme.objects.get(name="Program Rehabilitasi Medis")
    assert [p.name for p in programme.phases.all()] == ["Primer", "Orientasi"]


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("draft", "signed and not expired"),
        ("expired", "signed and not expired"),
        ("terminated", "signed and not expired"),
        ("not_a_party", "is not a party to the agreement"),
    ],
)
def test_an_agreement_not_in_force_is_refused_with_a_clear_message(english, world, state, message):
    if state == "draft":
        agreement = factories.agreement(world["partner"], world["host"])
    elif state == "expired":
        agreement = factories.agreement(
            world["partner"],
            world["host"],
            status=Agreement.Status.SIGNED,
            effective_date=TODAY - datetime.timedelta(days=800),
            end_date=TODAY - datetime.timedelta(days=1),
        )
    elif state == "terminated":
        agreement = factories.agreement(
            world["partner"], world["host"], status=Agreement.Status.TERMINATED
        )
    else:
        agreement = factories.agreement(
            world["partner"], world["other"], world["host"], status=Agreement.Status.SIGNED
        )
        agreement.parties.filter(institution=world["host"]).delete()
        Membership.objects.create(user=world["editor"], institution=world["partner"], role="editor")
    login(english, world, "editor")
    response = english.post(
        reverse("rehabilitation:programme_create"), programme_post(world, agreement=agreement.pk)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Programme.objects.filter(name="Program Rehabilitasi Medis").exists()


def test_an_agreement_of_other_institutions_is_not_a_choice(english, world):
    foreign = factories.agreement(world["other"], factories.institution(), status="signed")
    login(english, world, "editor")
    response = english.post(
        reverse("rehabilitation:programme_create"), programme_post(world, agreement=foreign.pk)
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Programme.objects.filter(name="Program Rehabilitasi Medis").exists()


def test_the_launch_event_must_be_the_agreements_signing(english, world):
    elsewhere = factories.agreement(
        world["partner"], world["host"], status="signed", signing_venue="Aula Lain"
    ).signing_event
    login(english, world, "editor")
    response = english.post(
        reverse("rehabilitation:programme_create"),
        programme_post(world, launch_event=elsewhere.pk),
    )
    assert response.status_code == 200
    assert "The launch event must be the signing of this agreement" in response.content.decode()
    world["agreement"].signing_event = elsewhere
    world["agreement"].save()
    response = english.post(
        reverse("rehabilitation:programme_create"),
        programme_post(world, launch_event=elsewhere.pk),
    )
    assert response.status_code == 302
    assert Programme.objects.get(name="Program Rehabilitasi Medis").launch_event == elsewhere


@pytest.mark.parametrize(
    "overrides",
    [
        {"host": "999999"},
        {"capacity": "0"},
        {"kind": "spa"},
        {"launch_date": "kemarin"},
        {"phases-0-planned_weeks": "0"},
        {"phases-0-DELETE": "on", "phases-1-DELETE": "on"},
        {"partners": ["PLACEHOLDER"]},
    ],
)
def test_bad_input_is_a_form_error(english, world, overrides):
    if overrides.get("partners") == ["PLACEHOLDER"]:
        overrides = {"partners": [world["host"].pk]}  # the host as its own partner
    login(english, world, "editor")
    response = english.post(
        reverse("rehabilitation:programme_create"), programme_post(world, **overrides)
    )
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert not Programme.objects.filter(name="Program Rehabilitasi Medis").exists()


def test_an_editor_cannot_create_a_programme_hosted_elsewhere(english, world):
    login(english, world, "editor")
    response = english.post(
        reverse("rehabilitation:programme_create"), programme_post(world, host=world["partner"].pk)
    )
    assert response.status_code == 200
    assert not Programme.objects.filter(name="Program Rehabilitasi Medis").exists()


# --- changing a programme ------------------------------------------------------------------


def edit_post(world, **overrides):
    data = {
        "name": "Program Rehabilitasi Sosial Terpadu",
        "partners": [world["partner"].pk, world["other"].pk],
        "capacity": "15",
        "description": "Diperluas",
        # As the page loaded now would send it back.
        "version": str(Programme.objects.get(pk=world["programme"].pk).version),
    }
    data.update(overrides)
    return data


def test_change_the_programme(english, world):
    login(english, world, "editor")
    response = english.post(url("rehabilitation:programme_edit", world), edit_post(world))
    assert response.status_code == 302
    programme = Programme.objects.get(pk=world["programme"].pk)
    assert (programme.name, programme.capacity, programme.description) == (
        "Program Rehabilitasi Sosial Terpadu",
        15,
        "Diperluas",
    )
    assert set(programme.partners.all()) == {world["partner"], world["other"]}
    assert programme.agreement == world["agreement"] and programme.host == world["host"]


def test_the_capacity_cannot_drop_below_the_places_taken(english, world):
    enrolled(world)  # with the world's participant in a phase: 2 places taken
    login(english, world, "editor")
    response = english.post(
        url("rehabilitation:programme_edit", world), edit_post(world, capacity="1")
    )
    assert response.status_code == 200
    assert "cannot be less than the 2 places taken" in response.content.decode()
    assert Programme.objects.get(pk=world["programme"].pk).capacity is None


def test_a_partner_holding_participants_in_the_programme_stays(english, world):
    lapas = factories.institution("Lembaga Pemasyarakatan Kelas IIA Pekalongan", kind="lapas")
    world["programme"].partners.add(lapas)
    Membership.objects.create(user=world["staff"], institution=lapas, role=Role.PROGRAMME)
    access.forget(world["staff"])
    screened(world, new_participant(world, institution=lapas, register_number="LP-1"))
    login(english, world, "editor")
    response = english.post(url("rehabilitation:programme_edit", world), edit_post(world))
    assert response.status_code == 200
    assert "holds participants with an open place" in response.content.decode()
    assert lapas in world["programme"].partners.all()


def test_the_host_is_not_offered_as_its_own_partner(english, world):
    login(english, world, "editor")
    response = english.post(
        url("rehabilitation:programme_edit", world),
        edit_post(world, partners=[world["host"].pk]),
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


# --- editing phases ------------------------------------------------------------------------


def phases_post(rows, initial, version=1):
    data = {
        "version": str(version),
        "phases-TOTAL_FORMS": str(len(rows)),
        "phases-INITIAL_FORMS": str(initial),
        "phases-MIN_NUM_FORMS": "0",
        "phases-MAX_NUM_FORMS": "30",
    }
    for n, row in enumerate(rows):
        for key, value in row.items():
            data[f"phases-{n}-{key}"] = value
    return data


def test_edit_the_phases(english, world):
    orientation, primary, reentry = world["programme"].phases.all()
    login(english, world, "editor")
    response = english.post(
        url("rehabilitation:programme_phases", world),
        phases_post(
            [
                {"id": orientation.pk, "name": "Orientasi", "planned_weeks": 2, "ORDER": 1},
                {"id": primary.pk, "name": "Primer", "planned_weeks": 16, "ORDER": 2},
                {"id": reentry.pk, "name": "Re-entry", "planned_weeks": 3, "DELETE": "on"},
                {"id": "", "name": "Re-entry panjang", "planned_weeks": 8, "ORDER": 3},
            ],
            initial=3,
        ),
    )
    assert response.status_code == 302
    assert [(p.pk, p.order, p.name, p.planned_weeks) for p in world["programme"].phases.all()] == [
        (orientation.pk, 1, "Orientasi", 2),
        (primary.pk, 2, "Primer", 16),
        (Phase.objects.get(name="Re-entry panjang").pk, 3, "Re-entry panjang", 8),
    ]
    assert not Phase.objects.filter(pk=reentry.pk).exists()


def test_a_phase_someone_is_in_cannot_be_removed(english, world):
    orientation, primary, reentry = world["programme"].phases.all()
    login(english, world, "editor")
    response = english.post(
        url("rehabilitation:programme_phases", world),
        phases_post(
            [
                {"id": orientation.pk, "name": "Orientasi", "planned_weeks": 2, "DELETE": "on"},
                {"id": primary.pk, "name": "Primer", "planned_weeks": 16, "ORDER": 1},
                {"id": reentry.pk, "name": "Re-entry", "planned_weeks": 3, "ORDER": 2},
            ],
            initial=3,
        ),
    )
    assert response.status_code == 200
    assert "history and cannot be removed" in response.content.decode()
    assert world["programme"].phases.count() == 3


def test_the_phases_of_another_programme_cannot_be_smuggled_in(english, world):
    other = programme_services.programme_create(
        user=world["editor"],
        name="Program Lain",
        kind=Programme.Kind.POST,
        host=world["host"],
        agreement=world["agreement"],
        launch_date=TODAY,
    )
    stolen = other.phases.first()
    name = stolen.name
    login(english, world, "editor")
    response = english.post(
        url("rehabilitation:programme_phases", world),
        phases_post([{"id": stolen.pk, "name": "X", "planned_weeks": 1, "ORDER": 1}], initial=1),
    )
    assert response.status_code == 200
    assert "do not belong to this programme" in response.content.decode()
    stolen.refresh_from_db()
    assert (stolen.programme, stolen.name) == (other, name)
    assert world["programme"].phases.count() == 3


def test_a_viewer_cannot_post_phases(client, world):
    login(client, world, "viewer")
    response = client.post(
        url("rehabilitation:programme_phases", world),
        phases_post([{"id": "", "name": "X", "planned_weeks": 1, "ORDER": 1}], initial=0),
    )
    assert response.status_code == 403
    assert world["programme"].phases.count() == 3
