"""Forms of sessions, attendance sheets, progress notes and instrument scores: they validate,
`rehabilitation.services.sessions` acts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django import forms
from django.forms import BoundField
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import Attendance, Enrolment, InstrumentScore, Programme, ProgressNote, Session
from ..services.sessions import score_range_error

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class SessionForm(forms.ModelForm):
    """Plan or record a session: its date (past or future), topic, phase and facilitator."""

    class Meta:
        model = Session
        fields = ["date", "topic", "phase", "facilitator"]
        widgets = {"date": _DATE}
        help_texts = {
            "phase": _("Optional: the phase of the programme the session belongs to."),
            "facilitator": _("E.g. the counsellor, nurse or officer leading it."),
        }

    def __init__(self, *args, programme: Programme, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["phase"].queryset = programme.phases.order_by("order")
        self.fields["phase"].empty_label = _("— no particular phase —")


class AttendanceSheetForm(forms.Form):
    """One present / absent / excused choice per enrolment on the sheet; a row left empty is
    not recorded (an existing mark is kept)."""

    PREFIX = "mark_"

    def __init__(
        self,
        *args,
        enrolments: Iterable[Enrolment],
        marks: Mapping[int, str],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.enrolments = list(enrolments)
        for enrolment in self.enrolments:
            self.fields[f"{self.PREFIX}{enrolment.pk}"] = forms.ChoiceField(
                label=enrolment.participant.full_name,
                choices=Attendance.Status.choices,
                widget=forms.RadioSelect,
                required=False,
                initial=marks.get(enrolment.pk),
            )

    def rows(self) -> list[tuple[Enrolment, BoundField]]:
        """Each enrolment with its choice, in the order of the sheet."""
        return [(enrolment, self[f"{self.PREFIX}{enrolment.pk}"]) for enrolment in self.enrolments]

    def marks(self) -> dict[int, str]:
        """The marks chosen, by enrolment id (after `is_valid()`)."""
        return {
            enrolment.pk: self.cleaned_data[f"{self.PREFIX}{enrolment.pk}"]
            for enrolment in self.enrolments
            if self.cleaned_data.get(f"{self.PREFIX}{enrolment.pk}")
        }


class _EnrolmentDatedForm(forms.ModelForm):
    """A dated entry in an enrolment's record: not in the future, not before the intake."""

    def __init__(self, *args, enrolment: Enrolment, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.enrolment = enrolment
        self.fields["date"].initial = timezone.localdate()

    def clean_date(self):
        day = self.cleaned_data["date"]
        if day > timezone.localdate():
            raise forms.ValidationError(_("The date cannot be in the future."), code="future_date")
        if day < self.enrolment.start_date:
            raise forms.ValidationError(
                _("The date cannot be before the intake screening (%(start)s)."),
                code="before_enrolment",
                params={"start": self.enrolment.start_date.isoformat()},
            )
        return day


class ProgressNoteForm(_EnrolmentDatedForm):
    """A dated progress note; it cannot be changed afterwards, only corrected by a new one."""

    class Meta:
        model = ProgressNote
        fields = ["date", "text"]
        widgets = {"date": _DATE, "text": forms.Textarea(attrs={"rows": 8})}
        help_texts = {
            "text": _("Notes cannot be edited or deleted; write a new note to correct one."),
        }


class InstrumentScoreForm(_EnrolmentDatedForm):
    """A total score on GSES (10–40) or WHOQOL-BREF (0–100), checked against its range."""

    class Meta:
        model = InstrumentScore
        fields = ["instrument", "date", "score"]
        widgets = {"date": _DATE}

    def clean(self) -> dict:
        cleaned = super().clean()
        instrument, score = cleaned.get("instrument"), cleaned.get("score")
        if instrument and score is not None and (error := score_range_error(instrument, score)):
            self.add_error("score", error)
        return cleaned
