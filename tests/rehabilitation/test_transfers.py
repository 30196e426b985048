"""Transfers and transfer requests: a transfer tells the sender nothing about the receiving
institution's records (issue 10, finding 1), an institution where the sender may not see
personal data decides by accepting or refusing a request, and every sight of a request is in
the access log."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from institutions import access as institution_access
from institutions import history
from institutions.models import History, Membership
from rehabilitation.models import AccessLog, Enrolment, Participant, Transfer, TransferRequest
from rehabilitation.services import participants as participant_services
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

SESSION_SAVE = 3 if settings.SESSION_SAVE_EVERY_REQUEST else 0
Role = Membership.Role
State = TransferRequest.State


@pytest.fixture
def world():
    made = make_world()
    made["held"] = new_participant(made, register_number="PKL-001", full_name="Peserta Satu")
    made["enrolment"] = in_phase(made, screened(made, made["held"]))
    # An institution unrelated to the request, with its own programme staff.
    made["third"] = factories.institution("Lembaga Pemasyarakatan Kelas IIB Kendal", kind="lapas")
    made["stranger"] = factories.user(
        "stranger", institution=made["third"], roles=(Role.PROGRAMME, Role.ADMIN)
    )
    return made


@pytest.fixture
def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def login(client, world, who):
    client.force_login(world[who])
    return client


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


def send_request(world, participant=None, **overrides) -> TransferRequest:
    fields = {
        "participant": participant or world["held"],
        "user": world["staff"],
        "to_institution": world["other"],
        "date": day(20),
        "register_number": "SMG-77",
        "reason": "Pindah berdasarkan putusan",
        "end_enrolments": True,
    }
    fields.update(overrides)
    return participant_services.transfer_request_create(**fields)


def request_url(name, transfer_request):
    return reverse(f"rehabilitation:{name}", args=[transfer_request.pk])


def row_counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


# --- the oracle ------------------------------------------------------------------------------


def _normalised(text: str) -> str:
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    return re.sub(r"/staff/transfers/\d+/", "/staff/transfers/N/", text)


def _attempt(client, world, *, taken: bool):
    """Send the transfer form to `other` for a number `other` holds or not; undo it after."""
    with transaction.atomic():
        if taken:
            factories.participant(world["other"], register_number="SMG-77", full_name="Orang Lain")
        before = row_counts()
        held_there = Participant.objects.filter(institution=world["other"]).count()
        with CaptureQueriesContext(connection) as queries:
            response = client.post(
                reverse("rehabilitation:participant_transfer", args=[world["held"].pk]),
                transfer_post(world),
            )
        after = row_counts()
        outcome = {
            "status": response.status_code,
            "location": _normalised(response.get("Location", "")),
            "messages": [str(m) for m in get_messages(response.wsgi_request)],
            "created": {k: after[k] - before[k] for k in after if after[k] != before[k]},
            "queries": len(queries),
            "held there": Participant.objects.filter(institution=world["other"]).count()
            - held_there,
            "transfers": Transfer.objects.count(),
        }
        page = client.get(response["Location"]) if response.status_code == 302 else response
        outcome["page"] = _normalised(page.content.decode())
        transaction.set_rollback(True)
    return outcome


def test_a_transfer_answers_the_same_whether_the_destination_holds_the_number(english, world):
    login(english, world, "staff")
    _attempt(english, world, taken=False)  # warms the caches (content types, sessions)
    miss = _attempt(english, world, taken=False)
    hit = _attempt(english, world, taken=True)
    assert hit == miss
    assert miss["status"] == 302
    assert miss["messages"] == [
        "Request sent to Lembaga Pemasyarakatan Kelas I Semarang; the staff of Lembaga "
        "Pemasyarakatan Kelas I Semarang will accept or refuse it. The participant stays here "
        "until then."
    ]
    # Nothing is planted at the destination before it accepts: no participant, no transfer.
    assert miss["held there"] == 0 and miss["transfers"] == 0
    assert "already has" not in miss["page"]
    assert miss["created"]["rehabilitation.transferrequest"] == 1
    assert "rehabilitation.participant" not in miss["created"]
    assert "rehabilitation.transfer" not in miss["created"]


def test_the_service_refuses_an_immediate_transfer_before_reading_the_destination(world):
    factories.participant(world["other"], register_number="SMG-77")
    with pytest.raises(PermissionDenied):
        participant_services.participant_transfer(
            participant=world["held"],
            user=world["staff"],
            to_institution=world["other"],
            date=day(20),
            register_number="SMG-77",
        )
    world["held"].refresh_from_db()
    assert world["held"].institution == world["host"]
    assert not Transfer.objects.exists()


def test_a_request_does_not_depend_on_the_destinations_numbers(world):
    factories.participant(world["other"], register_number="SMG-77")
    transfer_request = send_request(world)
    assert transfer_request.state == State.PENDING
    world["held"].refresh_from_db()
    assert (world["held"].institution, world["held"].register_number) == (
        world["host"],
        "PKL-001",
    )


def test_an_immediate_transfer_still_says_the_number_is_taken_where_one_may_see_it(english, world):
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)
    factories.participant(world["other"], register_number="SMG-77")
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_transfer", args=[world["held"].pk]),
        transfer_post(world),
    )
    assert response.status_code == 200
    assert "already has a participant with the register number SMG-77" in response.text
    assert not TransferRequest.objects.exists()


def test_an_immediate_transfer_where_one_works_with_the_participants(english, world):
    Membership.objects.create(user=world["staff"], institution=world["other"], role=Role.PROGRAMME)
    login(english, world, "staff")
    response = english.post(
        reverse("rehabilitation:participant_transfer", args=[world["held"].pk]),
        transfer_post(world),
    )
    assert response["Location"] == reverse("rehabilitation:participant", args=[world["held"].pk])
    world["held"].refresh_from_db()
    assert world["held"].institution == world["other"]
    assert not TransferRequest.objects.exists()


# --- request, accept, refuse, cancel --------------------------------------------------------


def test_request_then_accept_moves_the_participant_with_the_history(english, world):
    transfer_request = send_request(world)
    assert history.history_of(transfer_request).filter(action=History.Action.CREATE).exists()
    login(english, world, "outsider")
    response = english.post(
        request_url("transfer_request_accept", transfer_request),
        {
            "accept-date": day(21).isoformat(),
            "accept-register_number": "SMG-78",
            "accept-note": "Diterima",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("rehabilitation:participant", args=[world["held"].pk])
    participant = Participant.objects.get(pk=world["held"].pk)
    assert (participant.institution, participant.register_number) == (world["other"], "SMG-78")
    transfer = Transfer.objects.get(participant=participant)
    assert (transfer.from_institution, transfer.to_institution, transfer.date) == (
        world["host"],
        world["other"],
        day(21),
    )
    assert transfer.recorded_by == world["outsider"]
    assert transfer.reason == "Pindah berdasarkan putusan"
    transfer_request.refresh_from_db()
    assert (transfer_request.state, transfer_request.decided_by, transfer_request.transfer) == (
        State.ACCEPTED,
        world["outsider"],
        transfer,
    )
    # Through the one history engine: the transfer, the participant's move, the decision.
    assert history.history_of(transfer).filter(action="create").exists()
    moved = history.history_of(participant).filter(action="change").first()
    assert moved.changes["institution_id"] == [world["host"].pk, world["other"].pk]
    decided = history.history_of(transfer_request).filter(action="change").get()
    assert decided.changes["state"] == ["pending", "accepted"]
    # The sender asked to close the enrolments that do not follow: closed in their name.
    enrolment = Enrolment.objects.get(pk=world["enrolment"].pk)
    assert enrolment.status == Enrolment.Status.TRANSFERRED
    assert enrolment.events.latest("pk").recorded_by == world["staff"]
    # The participant's page, now the receiver's, shows the request in the history.
    page = english.get(reverse("rehabilitation:participant", args=[participant.pk]))
    assert page.status_code == 200


def test_refusal_tells_the_sender_only_the_note(english, world):
    transfer_request = send_request(world)
    factories.participant(world["other"], register_number="SMG-77")
    login(english, world, "outsider")
    response = english.post(
        request_url("transfer_request_refuse", transfer_request),
        {"refuse-note": "Kapasitas penuh"},
    )
    assert response["Location"] == reverse("rehabilitation:transfer_requests")
    transfer_request.refresh_from_db()
    assert transfer_request.state == State.REFUSED
    world["held"].refresh_from_db()
    assert world["held"].institution == world["host"]
    # The receiver no longer sees a refused request.
    assert english.get(request_url("transfer_request", transfer_request)).status_code == 404
    login(english, world, "staff")
    page = english.get(request_url("transfer_request", transfer_request)).text
    assert "Refused" in page and "Kapasitas penuh" in page
    assert "already has" not in page


def test_a_refusal_needs_a_note(english, world):
    transfer_request = send_request(world)
    login(english, world, "outsider")
    response = english.post(request_url("transfer_request_refuse", transfer_request), {})
    assert response.status_code == 200
    transfer_request.refresh_from_db()
    assert transfer_request.state == State.PENDING


def test_the_sender_cancels_a_pending_request(english, world):
    transfer_request = send_request(world)
    login(english, world, "staff")
    response = english.post(request_url("transfer_request_cancel", transfer_request), {})
    assert response["Location"] == request_url("transfer_request", transfer_request)
    transfer_request.refresh_from_db()
    assert transfer_request.state == State.CANCELLED
    assert history.history_of(transfer_request).filter(action="change").exists()
    # No longer pending: nothing to accept.
    with pytest.raises(ValidationError) as refused:
        participant_services.transfer_request_accept(
            request=transfer_request, user=world["outsider"], date=TODAY, register_number="X"
        )
    assert refused.value.code == "not_pending"
    # A new request may be sent.
    send_request(world, register_number="SMG-79")


def test_accepting_a_number_taken_there_tells_the_accepting_user(english, world):
    transfer_request = send_request(world)
    factories.participant(world["other"], register_number="SMG-77", full_name="Orang Lain")
    login(english, world, "outsider")
    response = english.post(
        request_url("transfer_request_accept", transfer_request),
        {"accept-date": TODAY.isoformat(), "accept-register_number": "SMG-77"},
    )
    assert response.status_code == 200
    page = response.text
    assert "already has a participant with the register number SMG-77" in page
    # They may refuse from the same page.
    assert request_url("transfer_request_refuse", transfer_request) in page
    transfer_request.refresh_from_db()
    assert transfer_request.state == State.PENDING
    world["held"].refresh_from_db()
    assert world["held"].institution == world["host"]
    assert not Transfer.objects.exists()


def test_one_pending_request_at_a_time(english, world):
    send_request(world)
    with pytest.raises(ValidationError) as refused:
        send_request(world, to_institution=world["third"])
    assert refused.value.code == "pending_request"
    Membership.objects.create(user=world["staff"], institution=world["third"], role=Role.PROGRAMME)
    institution_access.forget(world["staff"])
    with pytest.raises(ValidationError) as refused:
        participant_services.participant_transfer(
            participant=world["held"],
            user=world["staff"],
            to_institution=world["third"],
            date=day(20),
            register_number="K-1",
        )
    assert refused.value.code == "pending_request"


# --- who sees a request ----------------------------------------------------------------------


def test_the_receiver_sees_what_it_needs_to_decide_and_the_read_is_logged(english, world):
    participant_services.participant_update(
        participant=world["held"], user=world["staff"], case_article="Pasal 127"
    )
    transfer_request = send_request(world)
    login(english, world, "outsider")
    before = AccessLog.objects.filter(user=world["outsider"]).count()
    response = english.get(request_url("transfer_request", transfer_request))
    assert response.status_code == 200
    page = response.text
    assert "Peserta Satu" in page and "PKL-001" in page and "SMG-77" in page
    assert "Pindah berdasarkan putusan" in page and "Rumah Tahanan Negara" in page
    assert "Pasal 127" not in page  # the rest of the record is not theirs yet
    logged = AccessLog.objects.filter(user=world["outsider"]).order_by("pk")
    assert logged.count() == before + 1
    line = logged.last()
    assert (line.participant, line.action, line.institution) == (
        world["held"],
        AccessLog.Action.VIEW,
        world["host"],
    )
    # Not the participant's page: that stays the holding institution's.
    assert (
        english.get(reverse("rehabilitation:participant", args=[world["held"].pk])).status_code
        == 404
    )
    # The list is a read too.
    before = AccessLog.objects.filter(user=world["outsider"]).count()
    listing = english.get(reverse("rehabilitation:transfer_requests"))
    assert "Peserta Satu" in listing.text
    assert AccessLog.objects.filter(user=world["outsider"]).count() == before + 1


def test_the_sender_reads_its_request_and_that_is_logged_too(english, world):
    transfer_request = send_request(world)
    login(english, world, "staff")
    before = AccessLog.objects.filter(user=world["staff"]).count()
    assert english.get(request_url("transfer_request", transfer_request)).status_code == 200
    assert AccessLog.objects.filter(user=world["staff"]).count() == before + 1


@pytest.mark.parametrize("who", ["stranger", "partner_staff", "viewer", "editor"])
def test_outsiders_get_404_on_every_page_of_a_request(client, world, who):
    transfer_request = send_request(world)
    login(client, world, who)
    before = row_counts()
    assert client.get(request_url("transfer_request", transfer_request)).status_code == 404
    for name in ("transfer_request_accept", "transfer_request_refuse", "transfer_request_cancel"):
        data = {"accept-date": TODAY.isoformat(), "accept-register_number": "X", "refuse-note": "x"}
        assert client.post(request_url(name, transfer_request), data).status_code == 404
    assert row_counts() == before
    assert "Peserta Satu" not in client.get(reverse("staff:home")).text


def test_the_sender_may_not_decide_and_the_receiver_may_not_cancel(client, world):
    transfer_request = send_request(world)
    login(client, world, "staff")
    data = {"accept-date": TODAY.isoformat(), "accept-register_number": "X", "refuse-note": "x"}
    assert (
        client.post(request_url("transfer_request_accept", transfer_request), data).status_code
        == 403
    )
    assert (
        client.post(request_url("transfer_request_refuse", transfer_request), data).status_code
        == 403
    )
    login(client, world, "outsider")
    assert client.post(request_url("transfer_request_cancel", transfer_request)).status_code == 403
    transfer_request.refresh_from_db()
    assert transfer_request.state == State.PENDING


def test_the_staff_home_counts_the_requests_waiting(english, world):
    send_request(world)
    login(english, world, "outsider")
    page = english.get(reverse("staff:home")).text
    assert "Transfer requests (1)" in page
    login(english, world, "staff")
    assert "Transfer requests (" not in english.get(reverse("staff:home")).text


# --- the list's query count ------------------------------------------------------------------


def _requests_to_other(world, count: int, series: int) -> None:
    for n in range(count):
        person = new_participant(world, register_number=f"PKL-{series}{n:02d}")
        send_request(world, participant=person, register_number=f"SMG-{series}{n:02d}")


def test_the_request_list_query_count_is_pinned(client, world, django_assert_num_queries):
    """Session and user, the roles, the requests received, those sent, the access log (its
    line and the records it lists)."""
    login(client, world, "outsider")
    for count, series in ((2, 1), (20, 2)):
        _requests_to_other(world, count, series)
        with django_assert_num_queries(7 + SESSION_SAVE):
            response = client.get(reverse("rehabilitation:transfer_requests"))
        assert response.status_code == 200
    assert len(response.context["incoming"]) == 22


def test_opening_a_request_in_the_admin_is_logged(admin_client, world):
    request = send_request(world)
    before = AccessLog.objects.count()
    response = admin_client.get(
        reverse("admin:rehabilitation_transferrequest_change", args=[request.pk])
    )
    assert response.status_code == 200
    [line] = AccessLog.objects.order_by("-pk")[: AccessLog.objects.count() - before]
    assert line.participant_id == world["held"].pk
    assert line.action == AccessLog.Action.VIEW
    # The list names no one, so it writes nothing.
    before = AccessLog.objects.count()
    admin_client.get(reverse("admin:rehabilitation_transferrequest_changelist"))
    assert AccessLog.objects.count() == before
