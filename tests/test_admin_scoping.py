"""The admin for staff accounts that are not superusers: given view permissions on every model,
they see in each list only their own institutions' rows (personal data only where their roles
allow it), and another institution's record is not there for them (redirect or 404). The history
is read by superusers only; login records and two-factor devices too."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from axes.models import AccessLog as LoginLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db.models import Model
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.models import DBTaskResult

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

Role = Membership.Role
User = get_user_model()
DAY = datetime.date(2025, 8, 11)


def _programme(inst: Institution) -> Programme:
    # A signed agreement has two parties at least: the other is a BNNK of no one here.
    pks = factories.agreement(
        inst, factories.institution(kind="bnnk"), status=Agreement.Status.SIGNED
    )
    return factories.programme(pks, inst)


def _enrolment(inst: Institution) -> Enrolment:
    return factories.enrolment(factories.participant(inst), _programme(inst))


def _meeting(inst: Institution) -> Meeting:
    return Meeting.objects.create(
        agreement=factories.agreement(inst),
        date=DAY,
        start_time=datetime.time(9, 0),
        venue="Aula",
        host=inst,
    )


#: For each model whose rows belong to an institution: a builder of a row of `inst`.
BUILDERS: dict[type[Model], Callable[[Institution], Model]] = {
    Institution: lambda inst: inst,
    Person: lambda inst: (
        Position.objects.create(person=factories.person(), institution=inst, title="Kepala").person
    ),
    Position: lambda inst: Position.objects.create(
        person=factories.person(), institution=inst, title="Kepala"
    ),
    Membership: lambda inst: factories.user(institution=inst).memberships.get(),
    User: lambda inst: factories.user(institution=inst),
    Programme: _programme,
    Participant: factories.participant,
    Enrolment: _enrolment,
    Screening: lambda inst: Screening.objects.create(
        participant=(enrolment := _enrolment(inst)).participant, enrolment=enrolment, date=DAY
    ),
    Assessment: lambda inst: Assessment.objects.create(
        enrolment=_enrolment(inst), date=DAY, team="dokter", recommendation="social"
    ),
    ProgressNote: lambda inst: ProgressNote.objects.create(
        enrolment=_enrolment(inst), date=DAY, text="Catatan"
    ),
    InstrumentScore: lambda inst: InstrumentScore.objects.create(
        enrolment=_enrolment(inst), instrument="gses", date=DAY, score=25
    ),
    Session: lambda inst: Session.objects.create(
        programme=_programme(inst), date=DAY, topic="Sesi"
    ),
    AccessLog: lambda inst: AccessLog.objects.create(
        user=factories.user(),
        participant=factories.participant(inst),
        institution=inst,
        action=AccessLog.Action.VIEW,
    ),
    TransferRequest: lambda inst: TransferRequest.objects.create(
        participant=factories.participant(inst),
        from_institution=inst,
        to_institution=factories.institution(),
        register_number="LP-1",
        date=DAY,
        reason="Pindah",
    ),
    # agreements/admin.py (not scoped yet: see PENDING)
    Agreement: lambda inst: factories.agreement(inst),
    Party: lambda inst: factories.agreement(inst).parties.get(),
    Article: lambda inst: factories.agreement(inst).articles.first(),
    Meeting: _meeting,
    Attendee: lambda inst: Attendee.objects.create(
        meeting=_meeting(inst), person=factories.person(), institution=inst
    ),
    FollowUp: lambda inst: FollowUp.objects.create(
        meeting=_meeting(inst), description="Draf", owner=inst, due_date=DAY
    ),
    SigningEvent: lambda inst: SigningEvent.objects.create(date=DAY, venue="Aula", host=inst),
    StatusChange: lambda inst: StatusChange.objects.create(
        agreement=factories.agreement(inst), from_status="draft", to_status="discussion"
    ),
    SignedScan: lambda inst: SignedScan.objects.create(
        agreement=factories.agreement(
            inst, factories.institution(kind="bnnk"), status=Agreement.Status.SIGNED
        ),
        file=ContentFile(b"%PDF-1.4", name="scan.pdf"),
        original_name="scan.pdf",
        size=8,
        sha256="0" * 64,
        pages=1,
    ),
    Notice: lambda inst: Notice.objects.create(
        kind=Notice.Kind.EXPIRING,
        agreement=factories.agreement(
            inst, factories.institution(kind="bnnk"), status=Agreement.Status.SIGNED
        ),
        event_date=DAY,
        recipients="staf@example.go.id",
    ),
    # A colleague's feed: the institution's administrators see it (to revoke it).
    CalendarFeed: lambda inst: CalendarFeed.objects.create(
        user=factories.user(institution=inst, roles=(Role.VIEWER,)), institution=inst
    ),
}

#: Scoped in agreements/admin.py, which another change covers (querysets through
#: `Agreement.objects.of_institutions(user)` for non-superusers); expected to fail until then.
PENDING: set = set()

#: Rows that only superusers see in the admin (the task queue's results hold agreement ids and
#: the errors of failed tasks).
SUPERUSERS_ONLY = {History, AccessAttempt, LoginLog, AccessFailureLog, TOTPDevice, DBTaskResult}

#: Rows of no institution: permission sets.
GLOBAL = {Group}


@pytest.fixture
def world():
    own = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    other = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    staff = factories.user(
        "staf.admin",
        own,
        roles=(Role.ADMIN, Role.PROGRAMME, Role.EDITOR),
        is_staff=True,
    )
    staff.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return {"own": own, "other": other, "staff": staff}


def _url(model: type[Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_registered_model_is_covered_here():
    registered = set(admin.site._registry)
    covered = set(BUILDERS) | SUPERUSERS_ONLY | GLOBAL
    assert registered - covered == set(), "add the new admin model to tests/test_admin_scoping"


def _scoped_cases():
    for model in BUILDERS:
        marks = (
            [pytest.mark.xfail(reason="agreements/admin.py is not scoped yet", strict=False)]
            if model in PENDING
            else []
        )
        yield pytest.param(model, marks=marks, id=model._meta.label)


@pytest.mark.parametrize("model", list(_scoped_cases()))
def test_non_superuser_sees_only_their_institutions_rows(client, world, model):
    own = BUILDERS[model](world["own"])
    other = BUILDERS[model](world["other"])
    client.force_login(world["staff"])

    changelist = client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    rows = set(changelist.context["cl"].result_list)
    assert own in rows
    assert other not in rows

    assert client.get(_url(model, "change", own.pk)).status_code == 200
    refused = client.get(_url(model, "change", other.pk))
    assert refused.status_code in (302, 404)
    if refused.status_code == 302:
        assert refused["Location"] == reverse("admin:index")


@pytest.mark.parametrize("model", sorted(SUPERUSERS_ONLY, key=lambda m: m._meta.label))
def test_non_superuser_sees_no_history_login_records_or_devices(client, admin_client, world, model):
    builders = {
        History: lambda: History.objects.create(
            content_type=ContentType.objects.get_for_model(Institution),
            object_id=str(world["own"].pk),
            object_repr=str(world["own"]),
            action=History.Action.CHANGE,
            user=world["staff"],
        ),
        AccessAttempt: lambda: AccessAttempt.objects.create(
            **_login_record(), get_data="", post_data="", failures_since_start=1
        ),
        LoginLog: lambda: LoginLog.objects.create(**_login_record()),
        AccessFailureLog: lambda: AccessFailureLog.objects.create(
            **_login_record(), locked_out=False
        ),
        TOTPDevice: lambda: TOTPDevice.objects.create(user=world["staff"], name="authenticator"),
        DBTaskResult: lambda: DBTaskResult.objects.get(
            pk=issue_agreement_document.enqueue(agreement_id=0).id
        ),
    }
    obj = builders[model]()
    client.force_login(world["staff"])
    changelist = client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == []
    assert client.get(_url(model, "change", obj.pk)).status_code in (302, 404)
    # A superuser still reads them.
    assert list(admin_client.get(_url(model, "changelist")).context["cl"].result_list) == [obj]


def _login_record() -> dict[str, str]:
    return {
        "username": "staf.admin",
        "ip_address": "192.0.2.7",
        "user_agent": "Mozilla/5.0",
        "http_accept": "text/html",
        "path_info": "/accounts/login/",
    }


def test_personal_data_follows_the_roles_not_only_the_institution(client, world):
    # An editor of the host institution sees its programmes, not its participants.
    editor = factories.user("editor.saja", world["own"], roles=(Role.EDITOR,), is_staff=True)
    editor.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    enrolment = _enrolment(world["own"])
    client.force_login(editor)
    programmes = client.get(_url(Programme, "changelist")).context["cl"].result_list
    assert enrolment.programme in set(programmes)
    for model in (Participant, Enrolment):
        assert list(client.get(_url(model, "changelist")).context["cl"].result_list) == []
    # The access log is the institution administrators'.
    AccessLog.objects.create(
        user=editor,
        participant=enrolment.participant,
        institution=world["own"],
        action=AccessLog.Action.VIEW,
    )
    assert list(client.get(_url(AccessLog, "changelist")).context["cl"].result_list) == []


def test_partner_staff_see_a_programme_but_only_the_hosts_editors_change_it(client, world):
    partner = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    programme = factories.programme(
        factories.agreement(world["own"], partner, status=Agreement.Status.SIGNED),
        world["own"],
        partner,
    )
    editor = factories.user("editor.bnnk", partner, roles=(Role.EDITOR,), is_staff=True)
    editor.user_permissions.set(
        Permission.objects.filter(codename__in=["view_programme", "change_programme"])
    )
    client.force_login(editor)
    response = client.get(_url(Programme, "change", programme.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert client.post(_url(Programme, "change", programme.pk), {"name": "X"}).status_code == 403
    programme.refresh_from_db()
    assert programme.name != "X"


def test_forms_offer_only_the_users_institutions(client, world):
    staff = world["staff"]
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_participant", "add_membership"])
    )
    client.force_login(staff)
    participant_form = client.get(_url(Participant, "add")).context["adminform"].form
    assert list(participant_form.fields["institution"].queryset) == [world["own"]]
    membership_form = client.get(_url(Membership, "add")).context["adminform"].form
    assert list(membership_form.fields["institution"].queryset) == [world["own"]]
    outsider = factories.user(institution=world["other"])
    response = client.post(
        _url(Membership, "add"),
        {"user": outsider.pk, "institution": world["other"].pk, "role": Role.ADMIN},
    )
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"user", "institution"}
    assert not Membership.objects.filter(user=outsider, role=Role.ADMIN).exists()


def test_non_superusers_cannot_hand_out_privileges_in_the_user_admin(client, world):
    staff = world["staff"]
    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    colleague = factories.user("rekan", world["own"], roles=(Role.VIEWER,))
    client.force_login(staff)
    url = _url(User, "change", colleague.pk)
    form = client.get(url).context["adminform"].form
    for privilege in ("is_staff", "is_superuser", "groups", "user_permissions"):
        assert privilege not in form.fields
    client.post(
        url,
        {
            "username": "rekan",
            "first_name": "Rekan",
            "last_name": "",
            "email": "",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "08:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    colleague.refresh_from_db()
    assert colleague.first_name == "Rekan"
    assert not colleague.is_superuser and not colleague.is_staff


def test_a_superuser_account_cannot_be_changed_by_a_non_superuser(client, world):
    staff = world["staff"]
    staff.user_permissions.add(Permission.objects.get(codename="change_user"))
    root = factories.user("root.pkl", world["own"], roles=(Role.VIEWER,), is_superuser=True)
    client.force_login(staff)
    response = client.get(_url(User, "change", root.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False


def test_superusers_see_every_institutions_rows(admin_client, world):
    own, other = factories.participant(world["own"]), factories.participant(world["other"])
    rows = set(admin_client.get(_url(Participant, "changelist")).context["cl"].result_list)
    assert {own, other} <= rows
    institutions = admin_client.get(_url(Institution, "changelist")).context["cl"].result_list
    assert {world["own"], world["other"]} <= set(institutions)
