"""Lifecycle moves of agreements: each one a function, in a transaction, recorded."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from ..models import Agreement


def ensure_editable(agreement: Agreement) -> None:
    """Refuse any change to the text, parties or numbers of a signed agreement.

    A signed agreement is amended by an addendum, never edited.
    """
    if not agreement.is_editable:
        raise ValidationError(
            _(
                "This agreement has been signed: its text, parties and numbers cannot change. "
                "Make an addendum instead."
            ),
            code="signed",
        )
