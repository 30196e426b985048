"""Forms of the staff pages for agreements: create, details, parties, articles, moves, signing.

The edit forms carry the `version` of the record they were loaded with, in a hidden field
(`institutions.forms.VersionedFormMixin`, `VersionForm`), so that a form sent back without it
is refused and the service can refuse a change made on a version someone else has changed
since (`institutions.history.ensure_current`).
"""

from __future__ import annotations

from django import forms
from django.core.validators import MaxValueValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.access import User
from institutions.forms import RecordsChoiceField, VersionedFormMixin
from institutions.models import Institution, Person

from .. import access
from ..models import Agreement, SigningEvent


class AgreementCreateForm(forms.Form):
    """A new draft: what it is about and who the parties are."""

    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[
            (Agreement.Kind.PKS, Agreement.Kind.PKS.label),
            (Agreement.Kind.MOU, Agreement.Kind.MOU.label),
        ],
    )
    title = forms.CharField(label=_("Short title"), max_length=255)
    subject = forms.CharField(
        label=_("Subject"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the agreement is about: the words after TENTANG in the title."),
    )
    first_party = forms.ModelChoiceField(
        label=_("First party (PIHAK PERTAMA)"), queryset=Institution.objects.none()
    )
    other_parties = RecordsChoiceField(
        label=_("Other parties"),
        queryset=Institution.objects.all(),
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_("The order can be changed afterwards."),
    )
    term_months = forms.IntegerField(
        label=_("Term (months)"), min_value=1, max_value=600, required=False
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["first_party"].queryset = access.first_party_choices(user)

    def clean(self):
        cleaned = super().clean()
        first, others = cleaned.get("first_party"), cleaned.get("other_parties")
        if first is not None and others is not None:
            if first in others:
                self.add_error("other_parties", _("The same institution cannot be a party twice."))
            cleaned["institutions"] = [first, *[i for i in others if i != first]]
        return cleaned


#: The longest notice period the details form accepts: ten years.
MAX_NOTICE_DAYS = 3650


class AgreementDetailsForm(VersionedFormMixin, forms.ModelForm):
    """The details of an unsigned agreement, with the version they were loaded with."""

    class Meta:
        model = Agreement
        fields = [
            "title",
            "subject",
            "considerations",
            "legal_basis",
            "term_months",
            "effective_date",
            "end_date",
            "notice_days",
            "signing_place",
        ]
        widgets = {
            "subject": forms.Textarea(attrs={"rows": 3}),
            "considerations": forms.Textarea(attrs={"rows": 6}),
            "legal_basis": forms.Textarea(attrs={"rows": 6}),
            "effective_date": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["notice_days"].max_value = MAX_NOTICE_DAYS
        self.fields["notice_days"].widget.attrs["max"] = MAX_NOTICE_DAYS
        self.fields["notice_days"].validators.append(MaxValueValidator(MAX_NOTICE_DAYS))


class PartyForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.all())
    number = forms.CharField(label=_("Agreement number"), max_length=120, required=False)
    signatory = forms.ModelChoiceField(
        label=_("Signatory"), queryset=Person.objects.all(), required=False
    )
    signatory_position = forms.CharField(
        label=_("Signatory's position"), max_length=200, required=False
    )


class BasePartyFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        chosen = [
            form.cleaned_data["institution"]
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        if len(set(chosen)) != len(chosen):
            raise forms.ValidationError(_("The same institution cannot be a party twice."))
        if len(chosen) < 2:
            raise forms.ValidationError(_("An agreement needs at least two parties."))


PartyFormSet = forms.formset_factory(
    PartyForm, formset=BasePartyFormSet, extra=1, can_delete=True, max_num=20, validate_max=True
)


class ArticleForm(forms.Form):
    heading = forms.CharField(label=_("Heading"), max_length=200)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 5}))


ArticleFormSet = forms.formset_factory(
    ArticleForm, extra=1, can_delete=True, max_num=100, validate_max=True
)


class MoveForm(forms.Form):
    to_status = forms.ChoiceField(choices=Agreement.Status.choices)
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class TerminateForm(forms.Form):
    date = forms.DateField(label=_("Terminated on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea)


class AddendumForm(forms.Form):
    title = forms.CharField(label=_("Short title"), max_length=255)
    subject = forms.CharField(
        label=_("Subject"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What the addendum changes."),
    )


class SigningEventForm(forms.ModelForm):
    """A signing ceremony and the agreements signed in it."""

    agreements = RecordsChoiceField(
        label=_("Agreements signed"),
        queryset=Agreement.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only agreements that are ready for signing are listed."),
    )

    class Meta:
        model = SigningEvent
        fields = ["date", "start_time", "venue", "host", "notes"]
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "start_time": forms.TimeInput(attrs={"type": "time"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agreements"].queryset = (
            access.editable_agreements(user).filter(status=Agreement.Status.READY).order_by("title")
        )
        self.fields["date"].initial = timezone.localdate()
