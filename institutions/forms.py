"""Forms of the staff pages an institution administrator uses to manage staff accounts."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils.translation import gettext_lazy as _

from .models import Membership
from .services import EMAIL_TAKEN

Role = Membership.Role


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
