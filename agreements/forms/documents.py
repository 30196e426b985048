"""The upload form of an agreement's signed scan. The content checks live in the service."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.functional import lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


def _help_text() -> str:
    return gettext(
        "The signed agreement, scanned as one PDF file of at most %(max)s MB, not "
        "password-protected, without scripts, links or attached files."
    ) % {"max": settings.SIGNED_SCAN_MAX_MB}


class SignedScanForm(forms.Form):
    """One file; whether it is a complete, readable PDF without active content is decided by
    `scan_upload`."""

    file = forms.FileField(
        label=_("Signed scan (PDF)"),
        # Read when shown, so the limit follows the setting and the active language.
        help_text=lazy(_help_text, str)(),
        widget=forms.FileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    def __init__(self, *args, **kwargs) -> None:
        # Ids of its own, as the form shares the agreement page with other sections' forms.
        kwargs.setdefault("auto_id", "scan_%s")
        super().__init__(*args, **kwargs)
