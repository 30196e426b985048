"""The admin: every registered model's pages open, searches filter, lists make no N+1 queries,
and the agreement form with its party inline saves or shows errors."""

from __future__ import annotations

import datetime
import hashlib
import io
import itertools
from collections.abc import Callable

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as LoginLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core import checks
from django.core.files.base import ContentFile
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult
from pypdf import PdfWriter

from agreements.models import (
    Agreement,
    Article,
    Attendee,
    CalendarFeed,
    FollowUp,
    Meeting,
    Notice,
    Party,
    SignedScan,
    SigningEvent,
    StatusChange,
)
from agreements.tasks import issue_agreement_document
from institutions import history
from institutions.models import History, Institution, Membership, Person, Position
from rehabilitation.models import (
    AccessLog,
    Assessment,
    Enrolment,
    InstrumentScore,
    Participant,
    Programme,
    ProgressNote,
    Screening,
    Session,
    TransferRequest,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _meeting() -> Meeting:
    host = factories.institution(kind=Institution.Kind.BNNK)
    return Meeting.objects.create(
        agreement=factories.agreement(host, factories.institution()),
        date=datetime.date(2025, 7, 29),
        start_time=datetime.time(9, 0),
        venue="Kantor BNNK Batang",
        host=host,
    )


def _signing_event() -> SigningEvent:
    return SigningEvent.objects.create(
        date=datetime.date(2025, 8, 4), venue="Rutan Pekalongan", host=factories.institution()
    )


def _programme() -> Programme:
    host = factories.institution()
    partner = factories.institution()
    pks = factories.agreement(host, partner, status=Agreement.Status.SIGNED)
    return factories.programme(pks, host, partner)


def _enrolment() -> Enrolment:
    programme = _programme()
    return factories.enrolment(factories.participant(programme.host), programme)


def _agreement() -> Agreement:
    return factories.agreement(
        factories.institution(), factories.institution(), status=Agreement.Status.SIGNED
    )


#: A builder of a new object per admin-registered model, callable repeatedly. A model registered
#: without a builder here fails the tests below with a message, so that no admin page goes
#: untested.
BUILDERS: dict[type[Model], Callable[[], Model]] = {
    Institution: factories.institution,
    Person: factories.person,
    Position: lambda: Position.objects.create(
        person=factories.person(), institution=factories.institution(), title="Kepala Rutan"
    ),
    Membership: lambda: factories.user(institution=factories.institution()).memberships.get(),
    get_user_model(): lambda: factories.user(institution=factories.institution()),
    Group: lambda: Group.objects.create(name=f"Operator {Group.objects.count() + 1}"),
    Agreement: _agreement,
    Party: lambda: _agreement().parties.first(),
    Article: lambda: _agreement().articles.first(),
    SigningEvent: _signing_event,
    Meeting: _meeting,
    Attendee: lambda: Attendee.objects.create(
        meeting=(meeting := _meeting()), person=factories.person(), institution=meeting.host
    ),
    FollowUp: lambda: FollowUp.objects.create(
        meeting=(meeting := _meeting()),
        description="Menyiapkan draf PKS",
        owner=meeting.host,
        due_date=datetime.date(2025, 8, 1),
    ),
    Programme: _programme,
    Participant: lambda: factories.participant(factories.institution()),
    Enrolment: _enrolment,
    StatusChange: lambda: StatusChange.objects.create(
        agreement=_agreement(), from_status="draft", to_status="discussion"
    ),
    SignedScan: lambda: _signed_scan(),
    Notice: lambda: Notice.objects.create(
        kind=Notice.Kind.EXPIRING,
        agreement=_agreement(),
        event_date=datetime.date(2027, 5, 5),
        recipients="staf@example.go.id",
    ),
    CalendarFeed: lambda: CalendarFeed.objects.create(
        user=factories.user(institution=(institution := factories.institution())),
        institution=institution,
    ),
    Screening: lambda: _screening(),
    Assessment: lambda: Assessment.objects.create(
        enrolment=_enrolment(),
        date=datetime.date(2025, 8, 12),
        team="dokter\npsikolog",
        recommendation=Assessment.Recommendation.SOCIAL,
    ),
    ProgressNote: lambda: ProgressNote.objects.create(
        enrolment=_enrolment(), date=datetime.date(2025, 8, 20), text="Mengikuti sesi kelompok."
    ),
    InstrumentScore: lambda: InstrumentScore.objects.create(
        enrolment=_enrolment(), instrument="gses", date=datetime.date(2025, 9, 1), score=25
    ),
    Session: lambda: Session.objects.create(
        programme=_programme(), date=datetime.date(2025, 8, 18), topic="Orientasi"
    ),
    AccessAttempt: lambda: AccessAttempt.objects.create(
        **_login_record(), get_data="", post_data="", failures_since_start=1
    ),
    LoginLog: lambda: LoginLog.objects.create(**_login_record()),
    AccessFailureLog: lambda: AccessFailureLog.objects.create(**_login_record(), locked_out=False),
    TOTPDevice: lambda: TOTPDevice.objects.create(user=factories.user(), name="authenticator"),
    History: lambda: history.record_create(factories.institution(), user=None),
    TransferRequest: lambda: TransferRequest.objects.create(
        participant=(participant := factories.participant(factories.institution())),
        from_institution=participant.institution,
        to_institution=factories.institution(),
        register_number="LP-1",
        date=datetime.date(2025, 8, 11),
        reason="Pindah",
    ),
    AccessLog: lambda: AccessLog.objects.create(
        user=factories.user(),
        participant=(participant := factories.participant(factories.institution())),
        institution=participant.institution,
        action=AccessLog.Action.VIEW,
    ),
    # The task queue's rows (django-tasks-db's admin): written by the queue, read here.
    DBTaskResult: lambda: DBTaskResult.objects.get(
        pk=issue_agreement_document.enqueue(agreement_id=0).id
    ),
}


def _screening() -> Screening:
    programme = _programme()
    enrolment = factories.enrolment(
        factories.participant(programme.host), programme, scores={"stimulants": 28}
    )
    return enrolment.screenings.get()


#: Written by the system, never added or edited by hand in the admin.
SYSTEM_WRITTEN = {
    StatusChange,
    TransferRequest,
    Enrolment,  # begun by a screening on the staff pages
    SignedScan,
    Notice,
    AccessLog,
    AccessAttempt,
    LoginLog,
    AccessFailureLog,
    History,
    CalendarFeed,  # made by its owner on the calendar page
    DBTaskResult,
}

_login_records = itertools.count(1)


def _login_record() -> dict[str, str]:
    """The request details django-axes stores with each login attempt."""
    n = next(_login_records)
    return {
        "username": f"staf.uji{n}",
        "ip_address": f"192.0.2.{n % 250 + 1}",
        "user_agent": f"Mozilla/5.0 (uji {n})",
        "http_accept": "text/html",
        "path_info": "/accounts/login/",
    }


def _signed_scan() -> SignedScan:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return SignedScan.objects.create(
        agreement=_agreement(),
        file=ContentFile(buffer.getvalue(), name="scan.pdf"),
        original_name="scan.pdf",
        size=len(buffer.getvalue()),
        sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
        pages=1,
    )


#: Parametrizes a test over every model registered in the admin, as registered at collection.
each_registered_model = pytest.mark.parametrize(
    "model", list(admin.site._registry), ids=lambda model: model._meta.label
)


def _build(model: type[Model]) -> Model:
    if model not in BUILDERS:
        pytest.fail(f"Add a builder for {model._meta.label} to BUILDERS in {__name__}.")
    return BUILDERS[model]()


def _url(model: type[Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_admin_configuration_passes_system_checks():
    # Among others: every autocomplete field's admin has search_fields.
    assert checks.run_checks(tags=[checks.Tags.admin]) == []


@each_registered_model
def test_admin_pages_load(admin_client, model):
    obj = _build(model)
    change_url = _url(model, "change", obj.pk)

    changelist = admin_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    assert change_url in changelist.content.decode()

    add = admin_client.get(_url(model, "add"))
    if model in SYSTEM_WRITTEN:
        assert add.status_code == 403
    else:
        assert add.status_code == 200
        assert add.context["add"] is True

    change = admin_client.get(change_url)
    assert change.status_code == 200
    assert change.context["original"] == obj


def test_agreement_search_filters_by_title_and_party(admin_client):
    rutan = factories.institution("Rumah Tahanan Negara Pemalang")
    bnnk = factories.institution("BNNK Batang", kind=Institution.Kind.BNNK, short_name="")
    rehab = factories.agreement(rutan, bnnk, title="PKS Rehabilitasi Sosial")
    other = factories.agreement(factories.institution(), title="PKS Layanan Kesehatan")
    url = _url(Agreement, "changelist")

    by_title = admin_client.get(url, {"q": "rehabilitasi"})
    assert list(by_title.context["cl"].result_list) == [rehab]

    by_party = admin_client.get(url, {"q": "Batang"})
    assert list(by_party.context["cl"].result_list) == [rehab]
    assert "Rutan Pemalang, BNNK Batang" in by_party.content.decode()

    everything = admin_client.get(url)
    assert set(everything.context["cl"].result_list) == {rehab, other}


def test_agreement_changelist_shows_current_status_from_the_calendar(admin_client):
    ended = factories.agreement(
        factories.institution(),
        factories.institution(),
        status=Agreement.Status.SIGNED,
        signed_on=datetime.date(2019, 12, 20),
        effective_date=datetime.date(2020, 1, 1),
        end_date=datetime.date(2021, 1, 1),
    )
    response = admin_client.get(_url(Agreement, "changelist"), {"current_status": "expired"})
    assert list(response.context["cl"].result_list) == [ended]
    assert ended.get_current_status_display() in response.content.decode()


def _changelist_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_agreement_changelist_query_count_does_not_grow_with_rows(admin_client):
    url = _url(Agreement, "changelist")
    partners = [factories.institution() for _ in range(3)]
    for _ in range(2):
        factories.agreement(*partners, status=Agreement.Status.SIGNED)
    with_two = _changelist_queries(admin_client, url)

    for _ in range(8):
        factories.agreement(factories.institution(), factories.institution())
    with_ten = _changelist_queries(admin_client, url)

    assert with_ten == with_two


@each_registered_model
def test_changelist_query_count_does_not_grow_with_rows(admin_client, model):
    url = _url(model, "changelist")
    _build(model)
    with_one = _changelist_queries(admin_client, url)

    for _ in range(3):
        _build(model)
    assert _changelist_queries(admin_client, url) == with_one


def _agreement_form(*parties: tuple[int, Institution]) -> dict[str, str]:
    """POST data for the agreement add form: the agreement, its party forms, no articles."""
    data = {
        "kind": Agreement.Kind.PKS,
        "title": "PKS P4GN dan Rehabilitasi",
        "subject": "Pencegahan dan Pemberantasan Penyalahgunaan Narkotika",
        "status": Agreement.Status.DRAFT,
        "notice_days": "90",
        "parties-TOTAL_FORMS": str(len(parties)),
        "parties-INITIAL_FORMS": "0",
        "parties-MIN_NUM_FORMS": "0",
        "parties-MAX_NUM_FORMS": "1000",
        "articles-TOTAL_FORMS": "0",
        "articles-INITIAL_FORMS": "0",
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "1000",
    }
    for index, (order, institution) in enumerate(parties):
        data |= {
            f"parties-{index}-order": str(order),
            f"parties-{index}-institution": str(institution.pk),
            f"parties-{index}-number": f"PKS/{order}/VII/2025",
        }
    return data


def test_adding_an_agreement_with_two_parties(admin_client):
    rutan = factories.institution("Rumah Tahanan Negara Pemalang")
    bnnk = factories.institution("BNNK Batang", kind=Institution.Kind.BNNK)

    response = admin_client.post(_url(Agreement, "add"), _agreement_form((1, rutan), (2, bnnk)))

    assert response.status_code == 302, response.context and response.context["errors"]
    agreement = Agreement.objects.get()
    assert [(p.order, p.institution, p.number) for p in agreement.parties.order_by("order")] == [
        (1, rutan, "PKS/1/VII/2025"),
        (2, bnnk, "PKS/2/VII/2025"),
    ]


def test_the_same_institution_twice_as_party_is_a_form_error(admin_client):
    rutan = factories.institution()

    response = admin_client.post(_url(Agreement, "add"), _agreement_form((1, rutan), (2, rutan)))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {}
    (parties,) = (
        f.formset
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "parties"
    )
    assert parties.non_form_errors()
    assert [bool(form.errors) for form in parties] == [False, True]
    assert not Agreement.objects.exists()
    assert not Party.objects.exists()


def test_agreement_status_is_read_only_in_the_admin(admin_client):
    # The status moves through the lifecycle services (the list's actions), with their checks.
    assert "status" not in admin_client.get(_url(Agreement, "add")).context["adminform"].form.fields
    draft = factories.agreement(factories.institution(), factories.institution())
    form = admin_client.get(_url(Agreement, "change", draft.pk)).context["adminform"].form
    assert "status" not in form.fields


def test_signed_agreement_is_read_only_in_the_admin(admin_client):
    agreement = _agreement()
    party = agreement.parties.first()
    response = admin_client.get(_url(Agreement, "change", agreement.pk))
    assert response.context["has_change_permission"] is False
    response = admin_client.post(
        _url(Agreement, "change", agreement.pk), {"title": "Diubah", "subject": "x"}
    )
    assert response.status_code == 403
    assert admin_client.get(_url(Agreement, "delete", agreement.pk)).status_code == 403
    response = admin_client.post(_url(Party, "change", party.pk), {"number": "BARU"})
    assert response.status_code == 403
    assert admin_client.post(_url(Party, "delete", party.pk), {"post": "yes"}).status_code == 403
    agreement.refresh_from_db()
    party.refresh_from_db()
    assert agreement.title != "Diubah"
    assert party.number != "BARU"


def test_parties_cannot_be_added_to_a_signed_agreement_in_the_admin(admin_client):
    signed = _agreement()
    response = admin_client.post(
        _url(Party, "add"),
        {"agreement": signed.pk, "institution": factories.institution().pk, "order": "9"},
    )
    assert response.status_code == 200
    assert "agreement" in response.context["adminform"].form.errors
    assert signed.parties.count() == 2


def test_status_change_in_the_admin_goes_through_the_lifecycle_service(admin_client):
    rutan, bnnk = factories.institution(), factories.institution()
    draft = factories.agreement(rutan, bnnk, articles=0)
    data = _agreement_form()
    data.update(
        {
            "title": draft.title,
            "subject": draft.subject,
            "status": Agreement.Status.DISCUSSION,  # ignored: the field is read-only
            "parties-TOTAL_FORMS": "0",
        }
    )
    response = admin_client.post(_url(Agreement, "change", draft.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    draft.refresh_from_db()
    assert draft.status == Agreement.Status.DRAFT
    assert not StatusChange.objects.filter(agreement=draft).exists()

    response = admin_client.post(
        _url(Agreement, "changelist"),
        {"action": "move_to_discussion", "_selected_action": [draft.pk]},
    )
    assert response.status_code == 302
    change = StatusChange.objects.get(agreement=draft)
    assert (change.from_status, change.to_status) == ("draft", "discussion")
    assert change.changed_by.username == "admin"


def test_participants_have_no_bulk_delete(admin_client):
    factories.participant(factories.institution())
    response = admin_client.get(_url(Participant, "changelist"))
    model_admin = response.context["cl"].model_admin
    assert "delete_selected" not in model_admin.get_actions(response.wsgi_request)
    assert response.context["action_form"] is None


def test_staff_see_only_their_institutions_participants(client):
    own, other = factories.institution(), factories.institution()
    visible = factories.participant(own)
    hidden = factories.participant(other)
    staff = factories.user(institution=own, roles=(Membership.Role.PROGRAMME,), is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_participant"))
    client.force_login(staff)

    response = client.get(_url(Participant, "changelist"))

    assert list(response.context["cl"].result_list) == [visible]
    assert client.get(_url(Participant, "change", hidden.pk)).status_code == 302


def test_viewing_a_participant_in_the_admin_is_logged(admin_client):
    participant = factories.participant(factories.institution())
    admin_client.get(_url(Participant, "change", participant.pk))
    log = AccessLog.objects.get(participant=participant)
    assert (log.action, log.user.username, log.detail) == (
        "view",
        "admin",
        "admin participant record",
    )


def test_screening_score_band_is_computed_not_typed(admin_client):
    screening = _screening()
    assert screening.scores.get().risk == "high"
