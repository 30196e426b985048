"""Institution administrators manage their staff: accounts, roles, access; nobody else may."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail import EmailMessage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse

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
        "admin": factories.user(
            "admin.pekalongan", pekalongan, (Role.ADMIN,), email="admin@pekalongan.example"
        ),
        "editor": factories.user(
            "editor.pekalongan",
            pekalongan,
            (Role.EDITOR,),
            first_name="Budi Santoso",
            email="budi@pekalongan.example",
        ),
        "viewer": factories.user("viewer.pekalongan", pekalongan, (Role.VIEWER,)),
        "programme": factories.user("konselor.pekalongan", pekalongan, (Role.PROGRAMME,)),
        "other_admin": factories.user("admin.batang", batang, (Role.ADMIN,)),
        "batang_staff": factories.user(
            "staf.batang", batang, (Role.EDITOR,), email="staf@batang.example"
        ),
        "nobody": factories.user("tanpa.instansi"),
        "superuser": factories.user("root", is_superuser=True, is_staff=True),
    }


def english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# The pages, with the method each answers and one it refuses.
ENDPOINTS = [
    ("staff", "get", "post", False),
    ("staff_create", "get", "put", False),
    ("member_add", "post", "get", False),
    ("role_grant", "post", "get", True),
    ("role_revoke", "post", "get", True),
    ("member_remove", "get", "put", True),
    ("password_email", "post", "get", True),
]


def url_of(name, institution, member=None):
    args = [institution.pk] if member is None else [institution.pk, member.pk]
    return reverse(f"institutions:{name}", args=args)


@pytest.mark.parametrize(("name", "method", "wrong_method", "per_member"), ENDPOINTS)
def test_access_matrix(client, world, name, method, wrong_method, per_member):
    member = world["editor"] if per_member else None
    url = url_of(name, world["pekalongan"], member)
    data = {"role": Role.VIEWER}

    response = getattr(client, method)(url, data if method == "post" else None)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")

    for actor in ("editor", "viewer", "programme", "other_admin"):
        client.force_login(world[actor])
        response = getattr(client, method)(url, data if method == "post" else None)
        assert response.status_code == 404, actor
    client.force_login(world["nobody"])  # no institution at all: the staff-wide explanation
    assert getattr(client, method)(url).status_code == 403

    for actor in ("admin", "superuser"):
        client.force_login(world[actor])
        assert getattr(client, wrong_method)(url).status_code == 405
        response = getattr(client, method)(url, data if method == "post" else None)
        assert response.status_code in (200, 302), actor
        if method == "get":
            assert response.status_code == 200

    # Nothing a member of another institution can be reached through this institution's pages.
    if per_member:
        client.force_login(world["admin"])
        outsider_url = url_of(name, world["pekalongan"], world["batang_staff"])
        assert getattr(client, method)(outsider_url, data).status_code == 404
    assert not Membership.objects.filter(
        user=world["batang_staff"], institution=world["pekalongan"]
    ).exists()


def test_admin_of_one_institution_cannot_manage_another(client, world):
    client.force_login(world["admin"])
    batang = world["batang"]
    assert client.get(url_of("staff", batang)).status_code == 404
    response = client.post(
        url_of("role_grant", batang, world["batang_staff"]), {"role": Role.ADMIN}
    )
    assert response.status_code == 404
    response = client.post(url_of("member_remove", batang, world["batang_staff"]))
    assert response.status_code == 404
    assert set(
        Membership.objects.filter(user=world["batang_staff"]).values_list("role", flat=True)
    ) == {Role.EDITOR}
    assert client.get(reverse("institutions:staff", args=[999999])).status_code == 404


def test_list_shows_members_with_their_roles_here_only(client, world):
    Membership.objects.create(user=world["editor"], institution=world["batang"], role=Role.ADMIN)
    english(client).force_login(world["admin"])
    with CaptureQueriesContext(connection) as first:
        response = client.get(url_of("staff", world["pekalongan"]))
    members = {m.username: [r.role for r in m.roles_here] for m in response.context["members"]}
    assert members == {
        "admin.pekalongan": [Role.ADMIN],
        "editor.pekalongan": [Role.EDITOR],
        "viewer.pekalongan": [Role.VIEWER],
        "konselor.pekalongan": [Role.PROGRAMME],
    }
    page = response.content.decode()
    assert "Budi Santoso" in page
    assert "staf.batang" not in page
    # Three members more, with two roles each: the same number of queries (no N+1; the
    # members and their roles here take two of them).
    for n in range(3):
        factories.user(f"tambahan{n}", world["pekalongan"], (Role.VIEWER, Role.EDITOR))
    with CaptureQueriesContext(connection) as second:
        response = client.get(url_of("staff", world["pekalongan"]))
    assert len(response.context["members"]) == 7
    assert len(second) == len(first)


def test_create_account_sends_a_working_password_link(client, world, caplog):
    english(client).force_login(world["admin"])
    caplog.set_level(logging.INFO, logger="institutions.services")
    response = client.post(
        url_of("staff_create", world["pekalongan"]),
        {
            "username": "siti.nurhaliza",
            "full_name": "Siti Nurhaliza",
            "email": "siti@pekalongan.example",
            "roles": [Role.PROGRAMME, Role.VIEWER],
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url_of("staff", world["pekalongan"])
    user = User.objects.get(username="siti.nurhaliza")
    assert user.get_full_name() == "Siti Nurhaliza"
    assert user.email == "siti@pekalongan.example"
    assert user.is_active
    assert not user.has_usable_password()
    assert set(Membership.objects.filter(user=user).values_list("institution_id", "role")) == {
        (world["pekalongan"].pk, Role.PROGRAMME),
        (world["pekalongan"].pk, Role.VIEWER),
    }
    assert any(
        "admin.pekalongan" in r.getMessage() and "siti.nurhaliza" in r.getMessage()
        for r in caplog.records
    )

    (message,) = mail.outbox
    assert message.to == ["siti@pekalongan.example"]
    assert "siti.nurhaliza" in message.body
    (path,) = [
        line.removeprefix(settings.SITE_URL)
        for line in message.body.splitlines()
        if line.startswith(settings.SITE_URL + "/")
    ]
    assert resolve(path).url_name == "password_reset_confirm"

    newcomer = english(type(client)())
    response = newcomer.get(path)
    assert response.status_code == 302  # Django hides the token behind a session redirect
    set_password_url = response["Location"]
    form_page = newcomer.get(set_password_url)
    assert form_page.status_code == 200
    assert form_page.context["validlink"] is True
    response = newcomer.post(
        set_password_url,
        {"new_password1": "kata-sandi-baru-2025!", "new_password2": "kata-sandi-baru-2025!"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("kata-sandi-baru-2025!")
    # The link works once.
    assert newcomer.get(path, follow=True).context["validlink"] is False


def test_create_refuses_a_taken_username_or_email_in_any_case(client, world):
    english(client).force_login(world["admin"])
    response = client.post(
        url_of("staff_create", world["pekalongan"]),
        {
            "username": "Editor.Pekalongan",
            "full_name": "Orang Lain",
            "email": "lain@pekalongan.example",
            "roles": [Role.VIEWER],
        },
    )
    assert response.status_code == 200
    assert "This username is taken" in response.content.decode()
    assert not User.objects.filter(username="Editor.Pekalongan").exists()
    # One person, one account: an address already in use points to the existing account.
    response = client.post(
        url_of("staff_create", world["pekalongan"]),
        {
            "username": "budi.lagi",
            "full_name": "Budi Santoso",
            "email": "BUDI@pekalongan.example",
            "roles": [Role.VIEWER],
        },
    )
    assert response.status_code == 200
    assert "Add an existing account" in response.content.decode()
    assert not User.objects.filter(username="budi.lagi").exists()
    assert mail.outbox == []


def test_create_creates_nothing_when_the_email_cannot_be_sent(client, world, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr(EmailMessage, "send", refuse)
    english(client).force_login(world["admin"])
    response = client.post(
        url_of("staff_create", world["pekalongan"]),
        {
            "username": "tanpa.surel",
            "full_name": "Tanpa Surel",
            "email": "x@pekalongan.example",
            "roles": [Role.VIEWER],
        },
    )
    assert response.status_code == 200
    assert "could not be sent" in response.content.decode()
    assert not User.objects.filter(username="tanpa.surel").exists()


def test_grant_and_revoke_a_role(client, world, caplog):
    caplog.set_level(logging.INFO, logger="institutions.services")
    english(client).force_login(world["admin"])
    editor = world["editor"]
    url = url_of("role_grant", world["pekalongan"], editor)
    response = client.post(url, {"role": Role.PROGRAMME}, follow=True)
    assert "is now Programme staff" in response.content.decode()
    assert Membership.objects.filter(
        user=editor, institution=world["pekalongan"], role=Role.PROGRAMME
    ).exists()
    assert any("granted role programme" in r.getMessage() for r in caplog.records)

    response = client.post(url, {"role": Role.PROGRAMME}, follow=True)
    assert "already holds this role" in response.content.decode()
    response = client.post(url, {"role": "superuser"}, follow=True)
    assert "Choose a valid role" in response.content.decode()

    response = client.post(
        url_of("role_revoke", world["pekalongan"], editor), {"role": Role.EDITOR}, follow=True
    )
    assert "is no longer Editor" in response.content.decode()
    assert set(Membership.objects.filter(user=editor).values_list("role", flat=True)) == {
        Role.PROGRAMME
    }
    editor.refresh_from_db()
    assert editor.is_active


def test_revoking_the_last_role_switches_the_account_off(client, world):
    client.force_login(world["admin"])
    viewer = world["viewer"]
    client.post(url_of("role_revoke", world["pekalongan"], viewer), {"role": Role.VIEWER})
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert not viewer.memberships.exists()


def test_remove_access_keeps_roles_elsewhere(client, world):
    editor = world["editor"]
    Membership.objects.create(user=editor, institution=world["pekalongan"], role=Role.VIEWER)
    Membership.objects.create(user=editor, institution=world["batang"], role=Role.PROGRAMME)
    english(client).force_login(world["admin"])
    url = url_of("member_remove", world["pekalongan"], editor)
    page = client.get(url)
    assert "will lose every role at" in page.content.decode()
    response = client.post(url, follow=True)
    assert "no longer has access" in response.content.decode()
    assert list(Membership.objects.filter(user=editor).values_list("institution_id", "role")) == [
        (world["batang"].pk, Role.PROGRAMME)
    ]
    editor.refresh_from_db()
    assert editor.is_active
    assert client.get(url).status_code == 404  # no longer a member here


def test_remove_access_switches_off_an_account_left_without_roles_but_not_a_superuser(
    client, world
):
    superuser_member = factories.user(
        "root.member", world["pekalongan"], (Role.EDITOR,), is_superuser=True
    )
    client.force_login(world["admin"])
    for member in (world["programme"], superuser_member):
        client.post(url_of("member_remove", world["pekalongan"], member))
        member.refresh_from_db()
        assert not member.memberships.exists()
    assert not world["programme"].is_active
    assert superuser_member.is_active


def test_last_admin_cannot_remove_their_own_admin_role(client, world):
    admin = world["admin"]
    english(client).force_login(admin)
    for response in (
        client.post(
            url_of("role_revoke", world["pekalongan"], admin), {"role": Role.ADMIN}, follow=True
        ),
        client.post(url_of("member_remove", world["pekalongan"], admin), follow=True),
    ):
        assert "is the last administrator of" in response.content.decode()
    assert Membership.objects.filter(
        user=admin, institution=world["pekalongan"], role=Role.ADMIN
    ).exists()
    # An inactive second administrator does not count.
    factories.user("admin.lama", world["pekalongan"], (Role.ADMIN,), is_active=False)
    client.post(url_of("role_revoke", world["pekalongan"], admin), {"role": Role.ADMIN})
    assert Membership.objects.filter(user=admin, role=Role.ADMIN).exists()


def test_admin_may_step_down_when_another_admin_remains(client, world):
    admin = world["admin"]
    client.force_login(admin)
    client.post(url_of("role_grant", world["pekalongan"], world["editor"]), {"role": Role.ADMIN})
    response = client.post(url_of("role_revoke", world["pekalongan"], admin), {"role": Role.ADMIN})
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:home")
    assert not Membership.objects.filter(user=admin).exists()
    admin.refresh_from_db()
    assert not admin.is_active


def test_add_an_existing_account_needs_its_username_and_email(client, world):
    english(client).force_login(world["admin"])
    url = url_of("member_add", world["pekalongan"])
    response = client.post(
        url, {"username": "staf.batang", "email": "wrong@batang.example", "role": Role.VIEWER}
    )
    assert response.status_code == 200
    assert "No active account has this username and e-mail address" in (response.content.decode())
    assert not Membership.objects.filter(
        user=world["batang_staff"], institution=world["pekalongan"]
    ).exists()
    response = client.post(
        url, {"username": "STAF.batang", "email": "Staf@Batang.example", "role": Role.VIEWER}
    )
    assert response.status_code == 302
    assert set(
        Membership.objects.filter(user=world["batang_staff"]).values_list("institution_id", "role")
    ) == {(world["batang"].pk, Role.EDITOR), (world["pekalongan"].pk, Role.VIEWER)}


def test_inactive_account_is_not_given_roles(client, world):
    editor = world["editor"]
    editor.is_active = False
    editor.save()
    english(client).force_login(world["admin"])
    response = client.post(
        url_of("role_grant", world["pekalongan"], editor), {"role": Role.VIEWER}, follow=True
    )
    assert "Ask a system administrator" in response.content.decode()
    assert not Membership.objects.filter(user=editor, role=Role.VIEWER).exists()


def test_password_link_sent_again(client, world):
    english(client).force_login(world["admin"])
    response = client.post(
        url_of("password_email", world["pekalongan"], world["editor"]), follow=True
    )
    assert "budi@pekalongan.example" in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["budi@pekalongan.example"]
    (path,) = [
        line.removeprefix(settings.SITE_URL)
        for line in message.body.splitlines()
        if line.startswith(settings.SITE_URL + "/")
    ]
    assert resolve(path).url_name == "password_reset_confirm"
    # An account without an e-mail address gets an explanation instead.
    response = client.post(
        url_of("password_email", world["pekalongan"], world["viewer"]), follow=True
    )
    assert "no e-mail address" in response.content.decode()
    assert len(mail.outbox) == 1


def test_services_refuse_an_actor_who_is_not_admin(world):
    from django.core.exceptions import PermissionDenied

    from institutions import services

    with pytest.raises(PermissionDenied):
        services.role_grant(
            actor=world["editor"],
            institution=world["pekalongan"],
            user=world["viewer"],
            role=Role.ADMIN,
        )
    with pytest.raises(PermissionDenied):
        services.member_remove(
            actor=world["other_admin"], institution=world["pekalongan"], user=world["viewer"]
        )
    assert world["viewer"].memberships.count() == 1
