"""Two-factor authentication applies to the account, not to a URL prefix.

With REQUIRE_2FA_SUPERUSERS, REQUIRE_2FA_STAFF or REQUIRE_2FA_PERSONAL_DATA on, an account of
that kind whose session has not been verified with a code has no more power than an anonymous
visitor: staff pages, participants, exports and the admin send it to the two-factor page (or
answer as they answer an anonymous visitor), public pages still work. After a code it has its
powers; with the settings off nothing changes.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from institutions.models import Membership
from tests import factories
from tests.test_auth import current_code

pytestmark = pytest.mark.django_db

Role = Membership.Role

SETTING_OF = {
    "root": "REQUIRE_2FA_SUPERUSERS",
    "operator": "REQUIRE_2FA_STAFF",
    "konselor": "REQUIRE_2FA_PERSONAL_DATA",
}
ALL_SETTINGS = (*SETTING_OF.values(), "ADMIN_REQUIRE_2FA")


@pytest.fixture
def world(settings):
    for name in ALL_SETTINGS:
        setattr(settings, name, False)
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    institution = factories.institution()
    partner = factories.institution(kind="bnnk")
    agreement = factories.agreement(institution, partner, status="signed")
    programme = factories.programme(agreement, institution, partner)
    participant = factories.participant(institution, full_name="Peserta Rahasia")
    factories.enrolment(participant, programme)
    accounts = {
        "root": factories.user("root", is_superuser=True, is_staff=True),
        "operator": factories.user("operator", institution, (Role.ADMIN,), is_staff=True),
        "konselor": factories.user("konselor", institution, (Role.PROGRAMME,)),
    }
    for account in accounts.values():
        TOTPDevice.objects.create(user=account, name="authenticator", confirmed=True)
    return {"accounts": accounts, "participant": participant, "agreement": agreement}


def _pages(world) -> dict[str, str]:
    return {
        "staff home": reverse("staff:home"),
        "participant": reverse("rehabilitation:participant", args=[world["participant"].pk]),
        "participants": reverse("rehabilitation:participants"),
        "export": reverse("rehabilitation:participants_export", args=["csv"]),
        "agreement export": reverse("agreements:export", args=["csv"]),
        "admin": reverse("admin:index"),
    }


def _password_only(account) -> Client:
    browser = Client()
    browser.force_login(account)  # a session that never gave a code
    return browser


def _verified(browser: Client, account) -> None:
    device = TOTPDevice.objects.get(user=account)
    done = browser.post(reverse("two_factor"), {"otp_token": current_code(device)})
    assert done.status_code == 302


@pytest.mark.parametrize("kind", list(SETTING_OF))
def test_a_password_only_session_has_no_power_until_verified(settings, world, kind):
    setattr(settings, SETTING_OF[kind], True)
    account = world["accounts"][kind]
    browser = _password_only(account)
    for name, url in _pages(world).items():
        response = browser.get(url)
        assert response.status_code in (302, 404), (name, response.status_code)
        if response.status_code == 302:
            assert response["Location"].startswith(reverse("two_factor")) or response[
                "Location"
            ].startswith(reverse("login")), name
        assert b"Peserta Rahasia" not in response.content
    home = browser.get(reverse("staff:home"))
    assert home["Location"] == reverse("two_factor") + "?next=%2Fstaff%2F"
    # Public pages still work, as for anyone.
    assert browser.get(reverse("public:registry")).status_code == 200
    assert browser.get(reverse("public:agreement", args=[world["agreement"].pk])).status_code == 200
    # The two-factor page itself opens, and after the code every power is back.
    assert browser.get(reverse("two_factor")).status_code == 200
    _verified(browser, account)
    for name in ("staff home", "participant", "export"):
        response = browser.get(_pages(world)[name])
        assert response.status_code == 200, name
    if account.is_staff:
        assert browser.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("kind", list(SETTING_OF))
def test_with_the_settings_off_nothing_changes(world, kind):
    account = world["accounts"][kind]
    browser = _password_only(account)
    for name in ("staff home", "participant", "export"):
        assert browser.get(_pages(world)[name]).status_code == 200, name
    if account.is_staff:
        assert browser.get(reverse("admin:index")).status_code == 200


def test_a_setting_leaves_other_kinds_of_account_alone(settings, world):
    settings.REQUIRE_2FA_SUPERUSERS = True
    browser = _password_only(world["accounts"]["konselor"])
    assert browser.get(_pages(world)["participant"]).status_code == 200
    settings.REQUIRE_2FA_PERSONAL_DATA = True
    viewer = factories.user("viewer", world["participant"].institution, (Role.VIEWER,))
    assert _password_only(viewer).get(reverse("staff:home")).status_code == 200


def test_a_post_of_an_unverified_session_is_refused_too(settings, world):
    settings.REQUIRE_2FA_PERSONAL_DATA = True
    browser = _password_only(world["accounts"]["konselor"])
    participant = world["participant"]
    response = browser.post(
        reverse("rehabilitation:participant_edit", args=[participant.pk]),
        {"full_name": "Diubah"},
    )
    assert response.status_code in (302, 404)
    participant.refresh_from_db()
    assert participant.full_name == "Peserta Rahasia"


def test_logging_in_with_the_code_gives_the_powers(settings, world):
    settings.REQUIRE_2FA_PERSONAL_DATA = True
    browser = Client()
    browser.post(reverse("login"), {"username": "konselor", "password": factories.PASSWORD})
    device = TOTPDevice.objects.get(user=world["accounts"]["konselor"])
    browser.post(reverse("login_code"), {"otp_token": current_code(device)})
    assert browser.get(_pages(world)["participant"]).status_code == 200
