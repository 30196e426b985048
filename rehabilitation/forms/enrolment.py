"""Forms of the staff pages for programmes, participants and enrolments.

The forms check what the user typed (ranges, required fields, choices limited to what the user
may pick); the rules of the domain are the services' (`rehabilitation.services`),
whose refusals the views attach to the form with `add_service_error`.

Edit forms carry the `version` of the record they were loaded with (`VersionedForm`, the shared
`institutions.forms.VersionedFormMixin`): a form sent back without it is refused, and the
service refuses a save made on a record someone else changed meanwhile.
"""

from __future__ import annotations

from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agreements import access as agreement_access
from agreements.models import Agreement, SigningEvent
from institutions.access import User
from institutions.forms import RecordsChoiceField, VersionedFormMixin, VersionForm
from institutions.models import Institution

from .. import access, selectors
from ..assist import MAX_SCORE, MIN_SCORE, Substance
from ..models import Assessment, Enrolment, Participant, Programme
from ..services.common import AGREEMENT_IN_FORCE, agreement_problem
from ..services.participants import HOLDING_KINDS, PARTICIPANT_FIELDS

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")

#: Which form field a service refusal belongs to, by its code; the others are shown on top.
_FIELD_OF_CODE = {
    "future": "date",
    "date_order": "date",
    "register_number_taken": "register_number",
    "register_number": "register_number",
    "reason": "reason",
    "agreement_not_in_force": "agreement",
    "launch_event": "launch_event",
    "host_is_partner": "partners",
    "capacity": "capacity",
    "partner_in_use": "partners",
    "name": "name",
    "same_institution": "to_institution",
    "decision_note": "note",
    "birth_date": "birth_date",
    "team": "team",
    "outcome": "recovered",
    "programme_elsewhere": "programme",
    "already_enrolled": "programme",
}


def add_service_error(
    form: forms.BaseForm, error: ValidationError, record: models.Model | None = None
) -> None:
    """Show a refusal of a service on the field it is about, or on top of the form.

    A refusal of a stale edit (someone else saved `record` meanwhile) is shown on top, and the
    form then carries the record's current version: what the user typed stays, and saving it
    again, once they have reviewed the other change, is taken."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return
    code = getattr(error, "code", None) or ""
    field = _FIELD_OF_CODE.get(code)
    form.add_error(field if field in form.fields else None, error.messages)
    if code == "stale" and record is not None and isinstance(form, VersionedFormMixin):
        form.carry_current_version(record)


def carry_current_version(form: VersionedFormMixin, record: models.Model) -> None:
    """Put the record's version as it is now in the bound form's hidden `version` field."""
    form.carry_current_version(record)


#: The version alone, or the base of a form that edits a versioned record: the one
#: stale-edit protection of every app (`institutions.forms.VersionedFormMixin`).
VersionedForm = VersionForm


def _today_initial(form: forms.BaseForm) -> None:
    if "date" in form.fields:
        form.fields["date"].initial = timezone.localdate()


def _own_institutions(user: User, roles) -> Institution:
    return access.own_institutions(user, roles).order_by("name")


# --- programmes ----------------------------------------------------------------------------


class AgreementChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Agreement) -> str:
        return f"{obj.title} ({obj.get_current_status_display()})"


class ProgrammeForm(forms.Form):
    """A new programme: what, where, with whom, under which agreement, from when."""

    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Type"), choices=Programme.Kind.choices)
    host = forms.ModelChoiceField(label=_("Host institution"), queryset=Institution.objects.none())
    partners = RecordsChoiceField(
        label=_("Partner institutions"),
        queryset=Institution.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=_(
            "Their programme staff see the participants. Add the institutions that run the "
            "programme with the host or send participants to it."
        ),
    )
    agreement = AgreementChoiceField(
        label=_("Agreement"),
        queryset=Agreement.objects.none(),
        help_text=_("Only a signed agreement that has not expired, to which the host is a party."),
    )
    launch_date = forms.DateField(label=_("Launch date (pencanangan)"), widget=DATE_WIDGET)
    launch_event = forms.ModelChoiceField(
        label=_("Launched at"),
        queryset=SigningEvent.objects.none(),
        required=False,
        help_text=_("Optional: the signing event of the agreement, if the launch was there."),
    )
    capacity = forms.IntegerField(
        label=_("Capacity"),
        min_value=1,
        max_value=10000,
        required=False,
        help_text=_("Places for participants enrolled or in a phase; empty: no limit."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = _own_institutions(user, access.EDIT_ROLES)
        own_agreements = agreement_access.party_agreements(user)
        field = self.fields["agreement"]
        # Any agreement of the user's institutions is accepted by the field, so that one that
        # is not in force gets the service's clear refusal; only those in force are offered.
        field.queryset = own_agreements
        in_force = (
            own_agreements.with_current_status()
            .filter(current_status__in=AGREEMENT_IN_FORCE)
            .order_by("title")
        )
        field.choices = [("", field.empty_label)] + [
            (agreement.pk, field.label_from_instance(agreement)) for agreement in in_force
        ]
        self.fields["launch_event"].queryset = (
            SigningEvent.objects.filter(agreements__in=own_agreements).distinct().order_by("-date")
        )

    def clean(self):
        cleaned = super().clean()
        agreement, host = cleaned.get("agreement"), cleaned.get("host")
        if agreement is not None and (problem := agreement_problem(agreement, host)):
            self.add_error("agreement", problem)
        event = cleaned.get("launch_event")
        if agreement is not None and event is not None and agreement.signing_event_id != event.pk:
            self.add_error(
                "launch_event", _("The launch event must be the signing of this agreement.")
            )
        if host is not None and host in (cleaned.get("partners") or ()):
            self.add_error("partners", _("The host institution cannot also be a partner."))
        return cleaned


class ProgrammeEditForm(VersionedForm):
    """What may change once a programme runs: name, partners, capacity, description."""

    name = forms.CharField(label=_("Name"), max_length=200)
    partners = RecordsChoiceField(
        label=_("Partner institutions"),
        queryset=Institution.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=ProgrammeForm.base_fields["partners"].help_text,
    )
    capacity = forms.IntegerField(
        label=_("Capacity"),
        min_value=1,
        max_value=10000,
        required=False,
        help_text=ProgrammeForm.base_fields["capacity"].help_text,
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, programme: Programme, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": programme.name,
                "partners": list(programme.partners.all()),
                "capacity": programme.capacity,
                "description": programme.description,
            },
        )
        super().__init__(*args, version=programme.version, **kwargs)
        self.fields["partners"].queryset = Institution.objects.exclude(
            pk=programme.host_id
        ).order_by("name")


class PhaseForm(forms.Form):
    id = forms.IntegerField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=_("Phase"), max_length=100)
    planned_weeks = forms.IntegerField(
        label=_("Planned length (weeks)"), min_value=1, max_value=260
    )


class BasePhaseFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        # A damaged management form is already reported as the formset's error.
        if not self.management_form.is_valid() or any(self.errors):
            return
        if not self.rows():
            raise ValidationError(_("A programme needs at least one phase."))

    def rows(self) -> list[dict]:
        """The phases kept, in the order asked for (the order field, then the rows' order)."""
        forms_in_order = self.ordered_forms if self.can_order else self.forms
        return [
            {
                "id": form.cleaned_data.get("id"),
                "name": form.cleaned_data["name"],
                "planned_weeks": form.cleaned_data["planned_weeks"],
            }
            for form in forms_in_order
            if form.cleaned_data and not self._should_delete_form(form)
        ]


PhaseFormSet = cast(
    type[BasePhaseFormSet],
    forms.formset_factory(
        PhaseForm,
        formset=BasePhaseFormSet,
        extra=1,
        can_delete=True,
        can_order=True,
        max_num=30,
        validate_max=True,
    ),
)


# --- participants --------------------------------------------------------------------------


class ParticipantForm(VersionedForm):
    """A detainee's or prisoner's record. With `institution_choices`, the institution holding
    them is chosen (a new participant); otherwise it is `institution` (an edit)."""

    institution = forms.ModelChoiceField(label=_("Held at"), queryset=Institution.objects.none())
    status = forms.ChoiceField(label=_("Status"), choices=[("", "—"), *Participant.Status.choices])
    register_number = forms.CharField(
        label=_("Register number"),
        max_length=60,
        help_text=_("Unique at the institution holding the participant."),
    )
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    sex = forms.ChoiceField(
        label=_("Sex"), choices=[("", "—"), *Participant.Sex.choices], required=False
    )
    birth_date = forms.DateField(
        label=_("Date of birth"),
        required=False,
        widget=DATE_WIDGET,
        help_text=_("Under 18: a child, whose data have extra protection."),
    )
    case_article = forms.CharField(
        label=_("Case article"),
        max_length=60,
        required=False,
        help_text=_("E.g. 127 (UU 35/2009)."),
    )
    substances = forms.MultipleChoiceField(
        label=_("Substances used"),
        choices=Substance.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    use_duration_months = forms.IntegerField(
        label=_("Duration of use (months)"), min_value=0, max_value=1200, required=False
    )
    route = forms.ChoiceField(
        label=_("Route of use"),
        choices=[("", "—"), *Participant.Route.choices],
        required=False,
    )

    def __init__(self, *args, user: User = None, participant: Participant | None = None, **kwargs):
        if participant is not None:
            kwargs.setdefault(
                "initial",
                {name: getattr(participant, name) for name in PARTICIPANT_FIELDS},
            )
        super().__init__(
            *args, version=participant.version if participant is not None else None, **kwargs
        )
        self.participant = participant
        if participant is not None:
            del self.fields["institution"]
        else:
            del self.fields["version"]
            own = _own_institutions(user, access.PERSONAL_DATA_ROLES).filter(kind__in=HOLDING_KINDS)
            self.fields["institution"].queryset = own
            if not access.is_superuser(user) and len(own) == 1:
                self.fields["institution"].initial = own[0]

    def clean_birth_date(self):
        birth_date = self.cleaned_data.get("birth_date")
        if birth_date is not None and birth_date > timezone.localdate():
            raise ValidationError(_("The date of birth cannot be in the future."))
        return birth_date

    def clean(self):
        cleaned = super().clean()
        institution = (
            self.participant.institution if self.participant else cleaned.get("institution")
        )
        number = (cleaned.get("register_number") or "").strip()
        if institution is not None and number:
            taken = Participant.objects.filter(institution=institution, register_number=number)
            if self.participant is not None:
                taken = taken.exclude(pk=self.participant.pk)
            if taken.exists():
                self.add_error(
                    "register_number",
                    _("%(institution)s already has a participant with this register number.")
                    % {"institution": institution},
                )
        return cleaned

    def participant_fields(self) -> dict:
        """The cleaned values, as the services take them."""
        return {name: self.cleaned_data[name] for name in PARTICIPANT_FIELDS}


class TransferForm(VersionedForm):
    to_institution = forms.ModelChoiceField(
        label=_("To institution"), queryset=Institution.objects.none()
    )
    date = forms.DateField(label=_("Date of the transfer"), widget=DATE_WIDGET)
    register_number = forms.CharField(
        label=_("Register number at the new institution"), max_length=60
    )
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    end_enrolments = forms.BooleanField(
        label=_("Close the enrolments in programmes that do not run at the new institution"),
        required=False,
        initial=True,
        help_text=_("Active ones as transferred, those not yet enrolled as referred."),
    )

    def __init__(self, *args, participant: Participant, **kwargs) -> None:
        super().__init__(*args, version=participant.version, **kwargs)
        self.participant = participant
        self.fields["to_institution"].queryset = (
            Institution.objects.filter(kind__in=HOLDING_KINDS)
            .exclude(pk=participant.institution_id)
            .order_by("name")
        )
        _today_initial(self)

    # No check of the register number here: whether the receiving institution holds it is
    # answered by the service, and only to those who may see that institution's participants.


class ParticipantSearchForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    archived = forms.BooleanField(label=_("Include archived records"), required=False)


class ArchiveForm(VersionedForm):
    """The button that archives (or restores) a participant's record, with its version."""


# --- screening, assessment and moves -------------------------------------------------------


def _score_field_name(substance: str) -> str:
    return f"score_{substance}"


class ScreeningForm(forms.Form):
    """A WHO ASSIST screening: a 0–39 score per substance (blank: not scored). With
    `programmes`, the intake screening for one of them, which starts an enrolment."""

    programme = forms.ModelChoiceField(label=_("Programme"), queryset=Programme.objects.none())
    date = forms.DateField(label=_("Date of the screening"), widget=DATE_WIDGET)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, programmes=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if programmes is None:
            del self.fields["programme"]
        else:
            self.fields["programme"].queryset = programmes
        for substance in Substance:
            self.fields[_score_field_name(substance)] = forms.IntegerField(
                label=substance.label,
                min_value=MIN_SCORE,
                max_value=MAX_SCORE,
                required=False,
                widget=forms.NumberInput(attrs={"min": MIN_SCORE, "max": MAX_SCORE}),
            )
        _today_initial(self)

    def score_fields(self):
        return [self[_score_field_name(substance)] for substance in Substance]

    def other_fields(self):
        return [self[name] for name in ("programme", "date", "notes") if name in self.fields]

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not any(
            cleaned.get(_score_field_name(s)) is not None for s in Substance
        ):
            raise ValidationError(_("Score at least one substance."))
        return cleaned

    def scores(self) -> dict[str, int | None]:
        return {
            substance.value: self.cleaned_data.get(_score_field_name(substance))
            for substance in Substance
        }


def screenable_programmes(user: User, participant: Participant):
    """The programmes `user` may screen `participant` for: visible to the user, running at
    the participant's institution, and without a place for them yet."""
    institution = participant.institution_id
    return (
        access.visible_programmes(user)
        .filter(Q(host_id=institution) | Q(partners=institution))
        .exclude(enrolments__participant=participant)
        .select_related("host")
        .distinct()
        .order_by("name")
    )


class AssessmentForm(VersionedForm):
    date = forms.DateField(label=_("Date of the assessment"), widget=DATE_WIDGET)
    team = forms.CharField(
        label=_("Team members"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Doctor, psychologist, counsellor, officer; one per line."),
    )
    recommendation = forms.ChoiceField(
        label=_("Recommendation"), choices=[("", "—"), *Assessment.Recommendation.choices]
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _today_initial(self)


class MoveForm(VersionedForm):
    """A dated move with an optional note: enrol, or start the next phase."""

    date = forms.DateField(label=_("Date"), widget=DATE_WIDGET)
    reason = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _today_initial(self)


def _yes_no(yes, no) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        choices=[("", "—"), ("yes", yes), ("no", no)], coerce=lambda value: value == "yes"
    )


class CompleteForm(VersionedForm):
    """Completion with the outcome: all three answers are required."""

    date = forms.DateField(label=_("Completed on"), widget=DATE_WIDGET)
    recovered = _yes_no(_("Recovered"), _("Not recovered"))
    skilled = _yes_no(_("Skilled"), _("Not skilled"))
    independent = _yes_no(_("Independent"), _("Not independent"))
    reason = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["recovered"].label = _("Recovery")
        self.fields["skilled"].label = _("Skills")
        self.fields["independent"].label = _("Independence")
        _today_initial(self)


class EndForm(VersionedForm):
    """An ending other than completion, among those open to the enrolment now."""

    to_status = forms.ChoiceField(label=_("Outcome"))
    date = forms.DateField(label=_("Date"), widget=DATE_WIDGET)
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, enrolment: Enrolment, **kwargs) -> None:
        kwargs.setdefault("version", enrolment.version)
        super().__init__(*args, **kwargs)
        endings = [s for s in selectors.ENDINGS if s in selectors.allowed_moves(enrolment)]
        choices = [(status.value, ending_label(enrolment, status)) for status in endings]
        # One possible ending is preselected; among several, the user must choose.
        self.fields["to_status"].choices = choices if len(choices) == 1 else [("", "—"), *choices]
        _today_initial(self)


def ending_label(enrolment: Enrolment, status: Enrolment.Status) -> str:
    """Before enrolment, "referred" is education only or a referral elsewhere."""
    if status == Enrolment.Status.REFERRED and not enrolment.is_active:
        return str(_("Referred (education only, or elsewhere)"))
    return str(status.label)


class EnrolmentFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    programme = forms.ModelChoiceField(
        label=_("Programme"),
        queryset=Programme.objects.none(),
        required=False,
        empty_label=_("All programmes"),
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All")), *Enrolment.Status.choices], required=False
    )
    archived = forms.BooleanField(label=_("Include archived participants"), required=False)

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["programme"].queryset = access.visible_programmes(user).order_by("name")
