"""Authentication: password hashing and rules, password change and reset, login throttling and
lockout, session expiry, and two-factor authentication with TOTP codes."""

from __future__ import annotations

import datetime
import re

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.middleware import client_ip
from institutions.otp import PENDING_SESSION_KEY
from tests import factories

pytestmark = pytest.mark.django_db

LOCKOUT_MESSAGE = "Too many failed attempts. Try again in 15 minutes or ask your administrator."
PRODUCTION_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def client(client):
    return english(client)


def log_in(client: Client, username: str, password: str, address: str = "10.0.0.1", **extra):
    return client.post(
        reverse("login"),
        {"username": username, "password": password, **extra},
        REMOTE_ADDR=address,
    )


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def current_code(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code an authenticator app shows now (or `offset` time steps away)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    accepted = {current_code(device, offset=n) for n in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


# --- Passwords -------------------------------------------------------------------------------


def test_argon2_hashes_and_verifies_passwords(settings):
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    hashed = make_password("kata-sandi-yang-panjang")
    assert hashed.startswith("argon2$argon2id$")
    assert check_password("kata-sandi-yang-panjang", hashed)


def test_an_older_pbkdf2_hash_is_upgraded_to_argon2_at_login(client, settings):
    user = factories.user("staf.lama")
    # A hash from before Argon2 (with few iterations, to keep the test fast).
    user.password = PBKDF2PasswordHasher().encode(factories.PASSWORD, "garam-lama", 1000)
    user.save(update_fields=["password"])
    settings.PASSWORD_HASHERS = PRODUCTION_HASHERS
    assert log_in(client, "staf.lama", factories.PASSWORD).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$")


@pytest.mark.parametrize("password", ["pendek-1", "1234567890123", "password123", "staf.panjang1"])
def test_weak_passwords_are_refused(password):
    user = get_user_model()(username="staf.panjang1")
    with pytest.raises(ValidationError):
        validate_password(password, user)


def test_a_ten_character_password_is_accepted():
    validate_password("Kerja-Sama", get_user_model()(username="staf.uji"))


def test_password_change_needs_the_old_password_and_keeps_the_session(client):
    user = factories.user("staf.ganti")
    client.force_login(user)
    url = reverse("password_change")
    page = client.get(url)
    assert "Change your password" in page.content.decode()

    refused = client.post(
        url,
        {
            "old_password": "not-the-password",
            "new_password1": "Sandi-Baru-2025!",
            "new_password2": "Sandi-Baru-2025!",
        },
    )
    assert refused.status_code == 200
    assert "old_password" in refused.context["form"].errors

    short = client.post(
        url,
        {"old_password": factories.PASSWORD, "new_password1": "Ab-1", "new_password2": "Ab-1"},
    )
    assert "new_password2" in short.context["form"].errors

    done = client.post(
        url,
        {
            "old_password": factories.PASSWORD,
            "new_password1": "Sandi-Baru-2025!",
            "new_password2": "Sandi-Baru-2025!",
        },
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_change_done")
    user.refresh_from_db()
    assert user.check_password("Sandi-Baru-2025!")
    # Still logged in: the session hash was updated with the password.
    assert client.get(reverse("password_change_done")).status_code == 200
    assert logged_in_user_id(client) == str(user.pk)


def test_password_change_needs_a_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_password_reset_by_email_sets_the_new_password(client, settings):
    settings.SITE_URL = "https://pks.example.go.id"
    user = factories.user("staf.lupa", email="staf.lupa@example.go.id")

    response = client.post(reverse("password_reset"), {"email": "staf.lupa@example.go.id"})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["staf.lupa@example.go.id"]
    assert message.subject == "Reset your password for the PKS Registry"
    link = re.search(r"https://pks\.example\.go\.id(/\S+)", message.body)
    assert link, message.body

    # The link leads to a form (Django moves the token into the session first).
    form_page = client.get(link.group(1), follow=True)
    assert form_page.context["validlink"] is True
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_password_url,
        {"new_password1": "Sandi-Pulih-2025!", "new_password2": "Sandi-Pulih-2025!"},
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    user.refresh_from_db()
    assert user.check_password("Sandi-Pulih-2025!")
    assert not user.check_password(factories.PASSWORD)
    # Not logged in by the reset: the account logs in (with its second step, if any) as usual.
    assert logged_in_user_id(client) is None
    assert log_in(client, "staf.lupa", "Sandi-Pulih-2025!").status_code == 302

    # The link works once.
    again = Client()
    english(again)
    reused = again.get(link.group(1), follow=True)
    assert reused.context["validlink"] is False
    assert "has been used already or has expired" in reused.content.decode()


def test_password_reset_link_does_not_follow_the_host_header(client, settings):
    settings.SITE_URL = "https://pks.example.go.id"
    settings.ALLOWED_HOSTS = ["pks.example.go.id", "evil.example"]
    factories.user("staf.host", email="staf.host@example.go.id")
    client.post(
        reverse("password_reset"), {"email": "staf.host@example.go.id"}, HTTP_HOST="evil.example"
    )
    assert "evil.example" not in mail.outbox[0].body
    assert "https://pks.example.go.id/accounts/password/reset/" in mail.outbox[0].body


def test_password_reset_for_an_unknown_address_looks_the_same(client):
    factories.user("staf.ada", email="staf.ada@example.go.id")
    known = client.post(reverse("password_reset"), {"email": "staf.ada@example.go.id"})
    unknown = client.post(reverse("password_reset"), {"email": "tidak.ada@example.go.id"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mail.outbox) == 1
    page = client.get(unknown["Location"]).content.decode()
    assert "If the address you entered belongs to an account" in page


def test_logout_is_post_only(client):
    client.force_login(factories.user())
    assert client.get(reverse("logout")).status_code == 405
    assert logged_in_user_id(client) is not None
    client.post(reverse("logout"))
    assert logged_in_user_id(client) is None


# --- Login throttling and lockout ---------------------------------------------------------------


@pytest.fixture
def axes(settings):
    """django-axes on, as in production (the test settings switch it off for client.login)."""
    settings.AXES_ENABLED = True
    return settings


def test_account_is_locked_after_the_failure_limit_even_from_different_addresses(client, axes):
    factories.user("staf.kunci", institution=factories.institution())
    for n in range(settings.LOGIN_FAILURE_LIMIT - 1):
        response = log_in(client, "staf.kunci", "salah", address=f"10.0.1.{n}")
        assert response.status_code == 200  # the ordinary "did not match" page
        assert LOCKOUT_MESSAGE not in response.content.decode()
    # The failure that reaches the limit already answers with the lockout.
    last = log_in(client, "staf.kunci", "salah", address="10.0.1.99")
    assert last.status_code == 429
    assert LOCKOUT_MESSAGE in last.content.decode()

    locked = log_in(client, "staf.kunci", factories.PASSWORD, address="10.0.9.9")
    assert locked.status_code == 429
    assert LOCKOUT_MESSAGE in locked.content.decode()
    assert logged_in_user_id(client) is None
    # Other accounts from that address are not affected.
    factories.user("staf.lain")
    assert log_in(client, "staf.lain", factories.PASSWORD, address="10.0.9.9").status_code == 302


def test_address_is_locked_after_the_failure_limit_even_across_accounts(client, axes):
    factories.user("staf.sah")
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, f"tebakan{n}", "salah", address="192.0.2.7")

    locked = log_in(client, "staf.sah", factories.PASSWORD, address="192.0.2.7")
    assert locked.status_code == 429
    assert LOCKOUT_MESSAGE in locked.content.decode()
    assert logged_in_user_id(client) is None
    # The same account from another address is fine.
    assert log_in(client, "staf.sah", factories.PASSWORD, address="192.0.2.8").status_code == 302


def test_an_unknown_account_is_locked_the_same_way(client, axes):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "tidak.ada", "salah", address="10.0.3.1")
    locked = log_in(client, "tidak.ada", "salah", address="10.0.3.2")
    assert locked.status_code == 429
    assert LOCKOUT_MESSAGE in locked.content.decode()


def test_the_lockout_ends_after_the_period(client, axes):
    factories.user("staf.tunggu")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(client, "staf.tunggu", "salah")
    assert log_in(client, "staf.tunggu", factories.PASSWORD).status_code == 429

    # A minute short of the period: still locked (and the refused attempt did not extend it).
    almost = timezone.now() - datetime.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES - 1)
    AccessAttempt.objects.update(attempt_time=almost)
    assert log_in(client, "staf.tunggu", factories.PASSWORD).status_code == 429

    past = timezone.now() - datetime.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES, seconds=1)
    AccessAttempt.objects.update(attempt_time=past)
    assert log_in(client, "staf.tunggu", factories.PASSWORD).status_code == 302
    assert logged_in_user_id(client) is not None


def test_a_successful_login_resets_the_count(client, axes):
    factories.user("staf.lupa.sedikit")
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        log_in(client, "staf.lupa.sedikit", "salah")
    assert log_in(client, "staf.lupa.sedikit", factories.PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()
    client.post(reverse("logout"))

    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        log_in(client, "staf.lupa.sedikit", "salah")
    assert log_in(client, "staf.lupa.sedikit", factories.PASSWORD).status_code == 302


def test_the_limit_and_period_come_from_the_settings(client, axes):
    axes.AXES_FAILURE_LIMIT = 2
    axes.AXES_COOLOFF_TIME = datetime.timedelta(minutes=1)
    factories.user("staf.dua")
    log_in(client, "staf.dua", "salah")
    assert log_in(client, "staf.dua", "salah").status_code == 429
    locked = log_in(client, "staf.dua", factories.PASSWORD)
    assert locked.status_code == 429
    assert "Try again in 1 minute or ask your administrator." in locked.content.decode()


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lockout(client, axes):
    factories.user("staf.palsu")
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        log_in(
            client, f"coba{n}", "salah", address="198.51.100.1", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}"
        )
    locked = client.post(
        reverse("login"),
        {"username": "staf.palsu", "password": factories.PASSWORD},
        REMOTE_ADDR="198.51.100.1",
        HTTP_X_FORWARDED_FOR="9.9.9.9",
    )
    assert locked.status_code == 429


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "10.0.0.1"),  # no proxy trusted: the header is ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the client's own entry is ignored
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, "203.0.113.5", "10.0.0.1"),  # fewer entries than proxies: not trusted
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# --- Sessions ---------------------------------------------------------------------------------


def test_sessions_end_after_inactivity_and_activity_extends_them(client):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST is True
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    factories.user("staf.sesi", institution=factories.institution())
    response = log_in(client, "staf.sesi", factories.PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["max-age"]  # ends with the browser

    session = Session.objects.get(session_key=cookie.value)
    expected = timezone.now() + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert abs(session.expire_date - expected) < datetime.timedelta(seconds=30)

    # Activity pushes the expiry forward.
    Session.objects.filter(pk=session.pk).update(
        expire_date=timezone.now() + datetime.timedelta(minutes=5)
    )
    assert client.get(reverse("staff:home")).status_code == 200
    session.refresh_from_db()
    assert session.expire_date > timezone.now() + datetime.timedelta(minutes=29)

    # Thirty minutes without a request: the session is over.
    Session.objects.filter(pk=session.pk).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = client.get(reverse("staff:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- Two-factor authentication -------------------------------------------------------------------


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def test_enrolment_shows_a_qr_code_and_secret_and_is_confirmed_with_a_code(client, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # allow the right code straight after a wrong one
    user = factories.user("staf.dua.langkah", institution=factories.institution())
    client.force_login(user)
    url = reverse("two_factor")

    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in html
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed is False
    assert page.context["secret"].replace(" ", "") in html.replace(" ", "")
    # The secret stays the same until confirmed, so an app that scanned it keeps working.
    assert client.get(url).context["secret"] == page.context["secret"]
    assert TOTPDevice.objects.filter(user=user).count() == 1

    wrong = client.post(url, {"otp_token": wrong_code(device)})
    assert wrong.status_code == 200
    assert "This code is wrong or has expired" in wrong.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False

    done = client.post(url, {"otp_token": current_code(device)})
    assert done.status_code == 302
    assert done["Location"] == reverse("staff:home")
    device.refresh_from_db()
    assert device.confirmed is True
    status = client.get(url)
    assert status.context["verified"] is True
    assert "Two-factor authentication is on for your account." in status.content.decode()


def test_enrolment_needs_a_login(client):
    response = client.get(reverse("two_factor"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_asks_for_the_code_when_a_device_is_confirmed(client):
    user = factories.user("staf.kode", institution=factories.institution())
    device = confirmed_device(user)

    first = log_in(client, "staf.kode", factories.PASSWORD, next="/staff/")
    assert first.status_code == 302
    assert first["Location"] == reverse("login_code")
    # The password alone does not log in.
    assert logged_in_user_id(client) is None
    assert client.get(reverse("staff:home")).status_code == 302

    page = client.get(reverse("login_code"))
    assert "Enter your code" in page.content.decode()
    second = client.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert second.status_code == 302
    assert second["Location"] == "/staff/"
    assert logged_in_user_id(client) == str(user.pk)
    assert client.session["otp_device_id"] == device.persistent_id
    assert PENDING_SESSION_KEY not in client.session
    assert client.get(reverse("two_factor")).context["verified"] is True


def test_a_wrong_code_is_refused(client):
    user = factories.user("staf.salah.kode")
    device = confirmed_device(user)
    log_in(client, "staf.salah.kode", factories.PASSWORD)
    for token in (wrong_code(device), "12345", "abcdef"):
        response = client.post(reverse("login_code"), {"otp_token": token})
        assert response.status_code == 200
        assert response.context["form"].errors
        assert logged_in_user_id(client) is None


def test_quick_repeated_wrong_codes_are_throttled(client):
    user = factories.user("staf.cepat")
    device = confirmed_device(user)
    log_in(client, "staf.cepat", factories.PASSWORD)
    client.post(reverse("login_code"), {"otp_token": wrong_code(device)})
    # Straight after a wrong code even the right one waits (django-otp's growing delay).
    response = client.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert response.status_code == 200
    assert "Too many wrong codes in a row." in response.content.decode()
    assert logged_in_user_id(client) is None


def test_a_used_code_is_refused_the_second_time(client):
    user = factories.user("staf.ulang")
    device = confirmed_device(user)
    code = current_code(device)
    log_in(client, "staf.ulang", factories.PASSWORD)
    assert client.post(reverse("login_code"), {"otp_token": code}).status_code == 302
    client.post(reverse("logout"))
    log_in(client, "staf.ulang", factories.PASSWORD)
    assert client.post(reverse("login_code"), {"otp_token": code}).status_code == 200
    assert logged_in_user_id(client) is None


def test_the_code_step_without_a_password_goes_back_to_the_login(client):
    response = client.post(reverse("login_code"), {"otp_token": "123456"})
    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_the_code_step_expires(client):
    user = factories.user("staf.lambat")
    device = confirmed_device(user)
    log_in(client, "staf.lambat", factories.PASSWORD)
    session = client.session
    session[PENDING_SESSION_KEY] = {**session[PENDING_SESSION_KEY], "since": 0}
    session.save()
    response = client.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert logged_in_user_id(client) is None


def test_wrong_codes_count_towards_the_lockout(client, axes):
    axes.AXES_FAILURE_LIMIT = 3
    user = factories.user("staf.tebak.kode")
    device = confirmed_device(user)
    log_in(client, "staf.tebak.kode", factories.PASSWORD)
    client.post(reverse("login_code"), {"otp_token": wrong_code(device)})
    client.post(reverse("login_code"), {"otp_token": wrong_code(device)})
    locked = client.post(reverse("login_code"), {"otp_token": wrong_code(device)})
    assert locked.status_code == 429
    assert "Too many failed attempts." in locked.content.decode()
    # Even the right code is refused now, and the password step too.
    locked = client.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert locked.status_code in (302, 429)
    assert logged_in_user_id(client) is None
    assert log_in(client, "staf.tebak.kode", factories.PASSWORD).status_code == 429


# --- The admin and two-factor authentication ----------------------------------------------------


@pytest.fixture
def admin_user_with_device():
    user = factories.user("admin.dua", is_staff=True, is_superuser=True)
    return user, confirmed_device(user)


def test_admin_login_goes_through_the_site_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    followed = client.get(response["Location"])
    assert followed.status_code == 302
    assert followed["Location"] == reverse("login") + "?next=/admin/"


def test_admin_does_not_require_a_code_by_default(client, admin_user_with_device):
    assert settings.ADMIN_REQUIRE_2FA is False
    user, _device = admin_user_with_device
    client.force_login(user)
    assert client.get(reverse("admin:index")).status_code == 200


def test_admin_requires_a_verified_session_when_switched_on(client, settings):
    settings.ADMIN_REQUIRE_2FA = True
    user = factories.user("admin.baru", is_staff=True, is_superuser=True)
    client.force_login(user)  # e.g. logged in before 2FA was required

    response = client.get(reverse("admin:agreements_agreement_changelist"))
    assert response.status_code == 302
    assert response["Location"] == (
        reverse("two_factor") + "?next=%2Fadmin%2Fagreements%2Fagreement%2F"
    )
    # No device yet: the page enrols one, then returns to the admin.
    page = client.get(response["Location"])
    assert page.context["enrolling"] is True
    device = TOTPDevice.objects.get(user=user)
    done = client.post(
        reverse("two_factor"),
        {"otp_token": current_code(device), "next": "/admin/agreements/agreement/"},
    )
    assert done["Location"] == "/admin/agreements/agreement/"
    assert client.get("/admin/agreements/agreement/").status_code == 200


def test_admin_gate_accepts_a_session_verified_at_login(client, settings, admin_user_with_device):
    settings.ADMIN_REQUIRE_2FA = True
    _user, device = admin_user_with_device
    log_in(client, "admin.dua", factories.PASSWORD, next="/admin/")
    response = client.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_gate_asks_an_unverified_session_for_a_code(client, settings, admin_user_with_device):
    settings.ADMIN_REQUIRE_2FA = True
    user, device = admin_user_with_device
    client.force_login(user)  # a session that never gave a code
    response = client.get("/admin/")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.context["enrolling"] is False
    assert "has not been verified with a code yet" in page.content.decode()
    done = client.post(
        reverse("two_factor"), {"otp_token": current_code(device), "next": "/admin/"}
    )
    assert done["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_gate_leaves_other_pages_and_non_staff_alone(client, settings):
    settings.ADMIN_REQUIRE_2FA = True
    client.force_login(factories.user(institution=factories.institution()))
    assert client.get(reverse("staff:home")).status_code == 200
    # Not staff: the admin's own answer (to the login page), not the two-factor page.
    response = client.get("/admin/")
    assert response.status_code == 302
    assert reverse("two_factor") not in response["Location"]


def test_the_two_factor_page_ignores_an_outside_next(client):
    user = factories.user("staf.arah", institution=factories.institution())
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    client.force_login(user)
    client.get(reverse("two_factor"))
    done = client.post(
        reverse("two_factor"), {"otp_token": current_code(device), "next": "https://evil.example/"}
    )
    assert done["Location"] == reverse("staff:home")
