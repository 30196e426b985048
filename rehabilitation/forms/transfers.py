"""Forms of the transfer requests: the receiving staff's acceptance and refusal, the sender's
cancellation. The request itself is sent with the transfer form (`TransferForm`)."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import TransferRequest
from .enrolment import DATE_WIDGET


class TransferAcceptForm(forms.Form):
    date = forms.DateField(label=_("Date of the transfer"), widget=DATE_WIDGET)
    register_number = forms.CharField(label=_("Register number at your institution"), max_length=60)
    note = forms.CharField(
        label=_("Note to the sending institution"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, request: TransferRequest, **kwargs) -> None:
        super().__init__(*args, prefix="accept", **kwargs)
        self.fields["date"].initial = timezone.localdate()
        self.fields["register_number"].initial = request.register_number


class TransferRefuseForm(forms.Form):
    note = forms.CharField(
        label=_("Why the request is refused"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("The sending institution reads this note, and nothing else of your records."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, prefix="refuse", **kwargs)


class TransferCancelForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, prefix="cancel", **kwargs)
