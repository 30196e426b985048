"""Forms of the staff pages an institution administrator uses to manage staff accounts, and
of the login and the password reset, and the form parts every app's pages share: a safe
multiple choice of records, and the one stale-edit protection of edit forms
(`VersionedFormMixin`)."""

from __future__ import annotations

import hashlib
import logging

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from .models import Membership
from .services import EMAIL_TAKEN

Role = Membership.Role

logger = logging.getLogger(__name__)

#: The longest username the lockout records (django-axes keeps at most 255 characters).
_LOCKOUT_USERNAME_LENGTH = 255


class LoginForm(AuthenticationForm):
    """Django's login form, with a bound on the username that Django sets but does not check.

    A username longer than any account's is a wrong login like any other: the same error, and
    counted by the lockout (django-axes) under its first 255 characters, so that such attempts
    are throttled too instead of failing where the lockout writes them down.
    """

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and len(username) > self.fields["username"].max_length:
            credentials = {"username": username[:_LOCKOUT_USERNAME_LENGTH]}
            if settings.AXES_ENABLED and not AxesProxyHandler.is_allowed(self.request, credentials):
                self.request.axes_locked_out = True
            else:
                user_login_failed.send(
                    sender=__name__, credentials=credentials, request=self.request
                )
            raise self.get_invalid_login_error()
        return super().clean()


def _reset_counter(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", errors="replace")).hexdigest()
    return f"password-reset:{kind}:{digest}"


def _count(key: str) -> int:
    """Count one request under `key` for the window; returns the count so far."""
    window = settings.PASSWORD_RESET_WINDOW_MINUTES * 60
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's password-reset form, sending at most PASSWORD_RESET_LIMIT_PER_ADDRESS mails to
    one address and answering at most PASSWORD_RESET_LIMIT_PER_CLIENT requests of one client
    address (as the login lockout derives it, TRUSTED_PROXY_COUNT included) per
    PASSWORD_RESET_WINDOW_MINUTES, so the form cannot bomb a mailbox.

    Over a limit nothing is sent, and the answer is the same page as always ("if the address
    belongs to an account, a mail was sent"), so the limit reveals nothing about the address.
    The counts live in the cache, keyed by digests (no address is stored in clear).
    """

    def save(self, *args, request=None, **kwargs) -> None:
        email = self.cleaned_data["email"].strip().lower()
        client = (get_client_ip_address(request) if request is not None else None) or "-"
        per_address = _count(_reset_counter("address", email))
        per_client = _count(_reset_counter("client", client))
        if (
            per_address > settings.PASSWORD_RESET_LIMIT_PER_ADDRESS
            or per_client > settings.PASSWORD_RESET_LIMIT_PER_CLIENT
        ):
            logger.warning("Password reset: request over the limit; no mail sent")
            return
        super().save(*args, request=request, **kwargs)


class StaffAccountForm(forms.Form):
    """A new staff account: it receives an e-mail with a link to choose its password."""

    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("Letters, digits and @ . + - _ only, e.g. budi.santoso."),
    )
    full_name = forms.CharField(label=_("Full name"), max_length=150)
    email = forms.EmailField(
        label=_("E-mail"), help_text=_("The link to choose a password is sent here.")
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles at this institution"),
        choices=Role.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is taken. Choose another."), code="unique")
        return username

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        try:
            # The welcome e-mail must be deliverable: the domain has to be IDNA-encodable.
            email.rpartition("@")[2].encode("idna")
        except UnicodeError:
            raise forms.ValidationError(_("Enter a valid e-mail address.")) from None
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(EMAIL_TAKEN, code="unique")
        return email


class ExistingAccountForm(forms.Form):
    """An account that already exists (e.g. staff of another institution) given a role here.

    Both the username and the e-mail address are asked, so that the form cannot be used to
    find out which usernames exist.
    """

    username = forms.CharField(label=_("Username"), max_length=150)
    email = forms.EmailField(label=_("E-mail of the account"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class RoleForm(forms.Form):
    """One role, to grant or to revoke."""

    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


#: The range of the databases' 64-bit integer keys.
_KEY_RANGE = range(-(2**63), 2**63)


class RecordsChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice of records that answers a key beyond 64 bits with a form error.

    Django's own field hands such a number to the database, and SQLite cannot take it (an
    OverflowError, so a 500); a key that large cannot exist anyway.
    """

    def _check_values(self, value):
        if not self.to_field_name:
            for key in value if isinstance(value, list | tuple | set | frozenset) else ():
                try:
                    number = int(str(key).strip())
                except ValueError:
                    continue  # Django reports a key that is not a number itself.
                if number not in _KEY_RANGE:
                    raise forms.ValidationError(
                        self.error_messages["invalid_choice"],
                        code="invalid_choice",
                        params={"value": key},
                    )
        return super()._check_values(value)


# --- stale-edit protection ------------------------------------------------------------------

#: The refusal of a form whose hidden version did not come back, or came back damaged.
NO_VERSION = _(
    "This form did not say which version of the record it was loaded with, so it could not be "
    "checked against changes made meanwhile. Nothing was saved. Check the values shown and "
    "save again."
)
#: The codes of a refusal for the version: the form's own (`no_version`) and the services'
#: (`stale`, from `institutions.history.ensure_current`).
VERSION_CODES = frozenset({"no_version", "stale"})


class VersionField(forms.IntegerField):
    """The version of the record the form was loaded with, sent back hidden.

    A missing or malformed value never raises here, where a hidden field's error would not be
    seen: it cleans to None, and `VersionedFormMixin` refuses the form on top.
    """

    widget = forms.HiddenInput

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, min_value=1, max_value=2_147_483_647, **kwargs)

    def clean(self, value):
        try:
            return super().clean(value)
        except ValidationError:
            return None


class VersionedFormMixin:
    """An edit form that carries, hidden, the `version` of the record it was loaded with, so
    that a save made on a record someone else has changed meanwhile is refused.

    Put it before the form class: `class EditForm(VersionedFormMixin, forms.ModelForm)`. The
    version shown is `version=` if given, else the model form's instance's. A form sent back
    without a (valid) version is refused here (`no_version`); a stale one is refused by the
    service, under its row lock (`institutions.history.ensure_current`, which names who changed
    what: pass its refusal to `refuse`). Either way the form then carries the record's current
    version, so that what the user typed stays and saving it again is a deliberate choice.
    A form that edits nothing yet (a new record) deletes its `version` field and is not checked.
    """

    def __init__(self, *args, version: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if version is None:
            version = getattr(getattr(self, "instance", None), "version", None)
        self.fields["version"] = VersionField(initial=version)

    def clean(self):
        cleaned = super().clean()
        if "version" in self.fields and cleaned.get("version") is None:
            self.add_error(None, ValidationError(NO_VERSION, code="no_version"))
            self._carry_version(self.get_initial_for_field(self.fields["version"], "version"))
        return cleaned

    @property
    def submitted_version(self) -> int | None:
        """The version the form was loaded with (after `is_valid()`); None if not sent."""
        return self.cleaned_data.get("version")

    def version_refused(self, error: ValidationError | None = None) -> bool:
        """Whether the form (or the service's `error`) refused the version it was sent with."""
        codes = {e.code for e in self.non_field_errors().as_data()}
        if error is not None and not hasattr(error, "error_dict"):
            codes |= {e.code for e in error.error_list}
        return bool(codes & VERSION_CODES)

    def carry_current_version(self, record: models.Model) -> None:
        """Put `record`'s version as it is now in the database in the bound form."""
        current = type(record).objects.filter(pk=record.pk).values_list("version", flat=True)
        self._carry_version(current.first())

    def _carry_version(self, version: int | None) -> None:
        if not self.is_bound or "version" not in self.fields:
            return
        data = self.data.copy()
        data[self.add_prefix("version")] = "" if version is None else str(version)
        self.data = data


class VersionForm(VersionedFormMixin, forms.Form):
    """The version alone, for pages whose fields are a formset (parties, articles, phases)."""


def date_input() -> forms.DateInput:
    """A browser date picker whose value is in the ISO form a date input needs."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
