"""Who may switch an account off, and what switching it off ends.

An institution administrator switches off only accounts the institution manages: all of whose
memberships are at institutions the administrator administers, and never an operator's
(superuser or `is_staff`) account. Adding an existing account to the institution gives no
power over it. A switched-off account's sessions end, so that reactivating it later does not
bring an old session cookie back to life.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from institutions import services
from institutions.models import Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
User = get_user_model()


@pytest.fixture
def world():
    pekalongan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    batang = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    return {
        "pekalongan": pekalongan,
        "batang": batang,
        "admin": factories.user("admin.pekalongan", pekalongan, (Role.ADMIN,)),
        "operator": factories.user("operator", is_staff=True, email="operator@example.go.id"),
        "root": factories.user(
            "root", is_staff=True, is_superuser=True, email="root@example.go.id"
        ),
        "batang_staff": factories.user(
            "staf.batang", batang, (Role.EDITOR,), email="staf@batang.example"
        ),
        "editor": factories.user(
            "editor.pekalongan", pekalongan, (Role.EDITOR,), email="editor@pekalongan.example"
        ),
    }


@pytest.mark.parametrize("target", ["operator", "root"])
@pytest.mark.parametrize("how", ["member_remove", "role_revoke"])
def test_adding_and_removing_an_operator_does_not_switch_it_off(client, world, target, how):
    """The attack: add an admin-only operator by username and e-mail, then take it away."""
    account = world[target]
    client.force_login(world["admin"])
    pekalongan = world["pekalongan"]
    response = client.post(
        reverse("institutions:member_add", args=[pekalongan.pk]),
        {"username": account.username, "email": account.email, "role": Role.VIEWER},
    )
    assert response.status_code == 302
    assert Membership.objects.filter(user=account, institution=pekalongan).exists()
    if how == "member_remove":
        client.post(reverse("institutions:member_remove", args=[pekalongan.pk, account.pk]))
    else:
        client.post(
            reverse("institutions:role_revoke", args=[pekalongan.pk, account.pk]),
            {"role": Role.VIEWER},
        )
    account.refresh_from_db()
    assert not account.memberships.exists()
    assert account.is_active


def test_an_account_with_roles_elsewhere_is_not_switched_off_by_a_removal_here(world):
    staff = world["batang_staff"]
    pekalongan = world["pekalongan"]
    services.member_add_existing(
        actor=world["admin"],
        institution=pekalongan,
        username=staff.username,
        email=staff.email,
        role=Role.VIEWER,
    )
    services.member_remove(actor=world["admin"], institution=pekalongan, user=staff)
    staff.refresh_from_db()
    assert staff.is_active
    assert staff.memberships.filter(institution=world["batang"]).exists()


def test_the_institutions_own_account_is_still_switched_off(world):
    editor = world["editor"]
    services.member_remove(actor=world["admin"], institution=world["pekalongan"], user=editor)
    editor.refresh_from_db()
    assert not editor.is_active


def _logged_in(user) -> Client:
    browser = Client()
    browser.post(reverse("login"), {"username": user.username, "password": factories.PASSWORD})
    assert browser.get(reverse("staff:home")).status_code == 200
    return browser


def test_switching_off_by_the_staff_pages_ends_the_sessions(world):
    editor = world["editor"]
    browser = _logged_in(editor)
    services.member_remove(actor=world["admin"], institution=world["pekalongan"], user=editor)
    # Reactivated (and given a role again) by a system administrator: the old cookie is dead.
    editor.refresh_from_db()
    editor.is_active = True
    editor.save()
    Membership.objects.create(user=editor, institution=world["pekalongan"], role=Role.EDITOR)
    response = browser.get(reverse("staff:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_switching_off_in_the_admin_ends_the_sessions(world):
    editor = world["editor"]
    browser = _logged_in(editor)
    other = _logged_in(world["admin"])
    editor.is_active = False
    editor.save()
    editor.is_active = True
    editor.save()
    response = browser.get(reverse("staff:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    # Other accounts' sessions are untouched.
    assert other.get(reverse("staff:home")).status_code == 200


def test_switching_off_through_the_admin_change_page_ends_the_sessions(world):
    editor = world["editor"]
    browser = _logged_in(editor)
    root = Client()
    root.force_login(world["root"])
    page = root.get(reverse("admin:auth_user_change", args=[editor.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("groups", "user_permissions", "password")
    }
    data |= {"is_active": "", "date_joined_0": "2025-01-01", "date_joined_1": "00:00:00"}
    data.pop("date_joined", None)
    data.pop("last_login", None)
    # The change page has inlines: send their management forms as the page holds them.
    for formset in page.context.get("inline_admin_formsets", []):
        management = formset.formset.management_form
        for name, field in management.fields.items():
            data[f"{management.prefix}-{name}"] = management.initial.get(name, field.initial)
        for index, inline in enumerate(formset.formset.forms):
            for name, value in inline.initial.items():
                if value is not None:
                    data[f"{inline.prefix}-{name}"] = value
            data[f"{formset.formset.prefix}-{index}-id"] = inline.instance.pk
    root.post(reverse("admin:auth_user_change", args=[editor.pk]), data)
    editor.refresh_from_db()
    assert not editor.is_active
    response = browser.get(reverse("staff:home"))
    assert response.status_code == 302
