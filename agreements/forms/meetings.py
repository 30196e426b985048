"""Forms of discussion meetings, attendees and follow-ups: they validate, the services act."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from institutions.forms import VersionedFormMixin
from institutions.models import Institution, Person

from ..models import FollowUp, Meeting
from ..services.meetings import follow_up_owner_choices

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
_TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
_TEXT = forms.Textarea(attrs={"rows": 4})

#: Indonesian civil-servant numbers (NIP) have 18 digits.
NIP_LENGTH = 18


class MeetingForm(forms.ModelForm):
    """Schedule a meeting: when, where, who hosts it and what it will discuss."""

    class Meta:
        model = Meeting
        fields = ["date", "start_time", "end_time", "venue", "host", "agenda"]
        widgets = {"date": _DATE, "start_time": _TIME, "end_time": _TIME, "agenda": _TEXT}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = Institution.objects.order_by("name")

    def clean(self) -> dict:
        cleaned = super().clean()
        start_time, end_time = cleaned.get("start_time"), cleaned.get("end_time")
        if start_time and end_time and end_time <= start_time:
            self.add_error(
                "end_time",
                forms.ValidationError(
                    _("The meeting must end after it starts. Leave it empty for “until finished”."),
                    code="ends_before_start",
                ),
            )
        return cleaned


class MeetingEditForm(VersionedFormMixin, MeetingForm):
    """Change the schedule, and record the minutes (notulen) and decisions; with the version
    of the meeting the form was loaded with (`institutions.forms.VersionedFormMixin`)."""

    class Meta(MeetingForm.Meta):
        fields = [*MeetingForm.Meta.fields, "minutes", "decisions"]
        widgets = {
            **MeetingForm.Meta.widgets,
            "minutes": forms.Textarea(attrs={"rows": 8}),
            "decisions": forms.Textarea(attrs={"rows": 4}),
        }
        help_texts = {"decisions": _("One decision per line; each can become a follow-up.")}


class _PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Person) -> str:
        return f"{obj.full_name} (NIP {obj.nip})" if obj.nip else obj.full_name


class AttendeeForm(forms.Form):
    """Someone who attended: a known person, or a new one entered on the spot."""

    person = _PersonChoiceField(
        label=_("Known person"),
        queryset=Person.objects.order_by("full_name", "pk"),
        required=False,
        empty_label=_("— a new person, entered below —"),
    )
    new_full_name = forms.CharField(
        label=_("New person: full name"), max_length=200, required=False
    )
    new_nip = forms.CharField(
        label=_("New person: NIP"),
        max_length=NIP_LENGTH,
        required=False,
        help_text=_("Civil-servant number, 18 digits, if any."),
    )
    new_email = forms.EmailField(label=_("New person: e-mail"), required=False)
    position = forms.CharField(
        label=_("Position held (jabatan)"),
        max_length=200,
        required=False,
        help_text=_("Empty: taken from the person's recorded position, if any."),
    )
    institution = forms.ModelChoiceField(
        label=_("Institution represented"), queryset=Institution.objects.order_by("name")
    )

    def __init__(self, *args, meeting: Meeting, **kwargs) -> None:
        self.meeting = meeting
        super().__init__(*args, **kwargs)

    def clean_new_nip(self) -> str:
        nip = self.cleaned_data["new_nip"].strip().replace(" ", "")
        if nip and (not nip.isdigit() or len(nip) != NIP_LENGTH):
            raise forms.ValidationError(
                _("A NIP has %(length)d digits."), code="nip_format", params={"length": NIP_LENGTH}
            )
        if nip and Person.objects.filter(nip=nip).exists():
            raise forms.ValidationError(
                _("A person with this NIP is already known: choose them from the list."),
                code="nip_known",
            )
        return nip

    def clean(self) -> dict:
        cleaned = super().clean()
        person = cleaned.get("person")
        new_name = cleaned.get("new_full_name", "").strip()
        if person and new_name:
            raise forms.ValidationError(
                _("Choose a known person or enter the name of a new one, not both."),
                code="person_choice",
            )
        if not person and not new_name and "person" not in self.errors:
            self.add_error(
                "new_full_name",
                forms.ValidationError(
                    _("Choose a known person or enter the name of a new one."), code="required"
                ),
            )
        if person and self.meeting.attendees.filter(person=person).exists():
            self.add_error(
                "person",
                forms.ValidationError(
                    _("%(name)s is already recorded as attending this meeting."),
                    code="attendee_twice",
                    params={"name": person.full_name},
                ),
            )
        if person and (cleaned.get("new_nip") or cleaned.get("new_email")):
            self.add_error(
                None,
                forms.ValidationError(
                    _("NIP and e-mail are only for a new person; leave them empty."),
                    code="person_choice",
                ),
            )
        return cleaned


class FollowUpForm(forms.ModelForm):
    """A follow-up action decided at a meeting, owned by a party or the host."""

    class Meta:
        model = FollowUp
        fields = ["description", "owner", "due_date"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3}), "due_date": _DATE}

    def __init__(self, *args, meeting: Meeting, **kwargs) -> None:
        self.meeting = meeting
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = follow_up_owner_choices(meeting)

    def clean_due_date(self):
        due_date = self.cleaned_data["due_date"]
        if due_date < self.meeting.date:
            raise forms.ValidationError(
                _("The due date cannot be before the meeting."), code="due_before"
            )
        return due_date
