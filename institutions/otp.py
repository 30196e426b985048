"""Two-factor authentication with time-based one-time codes (TOTP), on django-otp.

Any account may enrol one authenticator app; from then on its login has a second step that asks
for the current code, and only a session verified with a code counts as verified. The secret
lives in django-otp's `TOTPDevice`; an administrator removes a lost device in the admin.

Some accounts can be required to verify (`requires_verification`: superusers, `is_staff`
accounts, holders of a personal-data role, each by a setting; and `is_staff` accounts in the
admin with ADMIN_REQUIRE_2FA): until their session is verified, `config.middleware.
TwoFactorMiddleware` lets them act only as an anonymous visitor.

Between the password and the code the account is not logged in: the session only holds a
pending login (`start_pending_login`), which expires after `PENDING_LOGIN_SECONDS`.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

import segno
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import access
from .access import Account

#: Session key of a login that passed the password step and waits for its code.
PENDING_SESSION_KEY = "otp_pending_login"
#: How long the code step waits after the password step.
PENDING_LOGIN_SECONDS = 5 * 60
#: The name given to the device an account enrols.
DEVICE_NAME = "authenticator"


class CodeForm(forms.Form):
    """The six-digit code shown by the authenticator app (spaces are ignored)."""

    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_otp_token(self) -> str:
        token = "".join(self.cleaned_data["otp_token"].split())
        if not re.fullmatch(r"[0-9]{6}", token):
            raise forms.ValidationError(
                _("Enter the 6 digits shown by your authenticator app."), code="invalid"
            )
        return token


def requires_verification(user, *, in_admin: bool = False) -> bool:
    """Whether `user` must verify its session with a code before it has any power: by the
    settings REQUIRE_2FA_SUPERUSERS, REQUIRE_2FA_STAFF (`is_staff` accounts) and
    REQUIRE_2FA_PERSONAL_DATA (a personal-data role at any institution), and in the admin
    (`in_admin`) by ADMIN_REQUIRE_2FA for `is_staff` accounts."""
    if not (user.is_authenticated and user.is_active):
        return False
    if settings.REQUIRE_2FA_SUPERUSERS and user.is_superuser:
        return True
    if user.is_staff and (settings.REQUIRE_2FA_STAFF or (in_admin and settings.ADMIN_REQUIRE_2FA)):
        return True
    return bool(
        settings.REQUIRE_2FA_PERSONAL_DATA and access.holds_role(user, access.PERSONAL_DATA_ROLES)
    )


def is_verified(user: access.User) -> bool:
    """Whether the session of `user` was verified with a code (django-otp's OTPMiddleware)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def confirmed_device(user: Account) -> TOTPDevice | None:
    """The account's confirmed TOTP device, if it has enrolled one."""
    if user.pk is None:  # the anonymous user
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


@transaction.atomic
def enrolment_device(*, user: Account) -> TOTPDevice:
    """The unconfirmed device an enrolment shows, made with a new secret on first use.

    The secret stays the same across page loads until it is confirmed, so that a code from an
    app that scanned it earlier still works.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def device_confirm(*, device: TOTPDevice, token: str) -> bool:
    """Confirm an enrolment with a code from the app; False (nothing changed) if it is wrong.

    Any other unconfirmed device of the account is dropped: one device per account.
    """
    if device.confirmed or not device.verify_token(token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user_id=device.user_id, confirmed=False).delete()
    return True


def device_verify(*, device: TOTPDevice, token: str) -> bool:
    """Whether `token` is the device's current code (django-otp throttles repeated failures
    and refuses a code used before)."""
    with transaction.atomic():
        # Lock the row so two requests cannot both spend the same code.
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        return locked.verify_token(token)


def wrong_code_message(device: TOTPDevice) -> str:
    """What to tell someone whose code was refused: wrong, or too many wrong ones in a row
    (django-otp then refuses even the right code for a while, longer after each failure)."""
    device.refresh_from_db()
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        return str(_("Too many wrong codes in a row. Wait a minute, then enter the current code."))
    return str(_("This code is wrong or has expired. Try the current one."))


def qr_data_uri(device: TOTPDevice) -> str:
    """The device's otpauth:// address as an SVG QR code in a data: URI, for an <img>."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def secret_text(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@dataclass(frozen=True)
class PendingLogin:
    """A login that passed the password step: who, with which backend, and where to after."""

    user: Account
    backend: str
    next_url: str


def start_pending_login(
    request: HttpRequest, *, user: Account, backend: str, next_url: str
) -> None:
    """Remember, in the anonymous session, that `user` gave the right password."""
    request.session[PENDING_SESSION_KEY] = {
        "user": str(user.pk),
        "backend": backend,
        "next": next_url,
        "since": time.time(),
    }


def pending_login(request: HttpRequest) -> PendingLogin | None:
    """The pending login of this session, or None if there is none or it has expired."""
    data = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(data, dict):
        return None
    if time.time() - float(data.get("since", 0)) > PENDING_LOGIN_SECONDS:
        clear_pending_login(request)
        return None
    user_id = data.get("user")
    user = (
        None
        if user_id is None
        else get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    )
    if user is None:
        clear_pending_login(request)
        return None
    return PendingLogin(user=user, backend=data["backend"], next_url=data["next"])


def clear_pending_login(request: HttpRequest) -> None:
    """Forget the pending login."""
    request.session.pop(PENDING_SESSION_KEY, None)
