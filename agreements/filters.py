"""Search and filters of the staff agreement list, shared by the list page and its exports.

One form turns the GET parameters into a filtered queryset, so that an export always holds
exactly the agreements the list shows (on every page, not only the current one). Archived
agreements are left out unless "include archived" is ticked.
"""

from __future__ import annotations

import datetime
from typing import Any, cast

from django import forms
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions import access as institution_access
from institutions.access import User
from institutions.models import Institution

from . import access
from .models import Agreement, AgreementQuerySet, FollowUp, Party

#: The notice window used when "ending soon" is ticked without a number of days.
DEFAULT_EXPIRING_DAYS = 90
MAX_QUERY_LENGTH = 200


def _blank_first(choices) -> list[tuple[str, str]]:
    return [("", _("All")), *choices]


class AgreementFilterForm(forms.Form):
    """The list's search box and filters. Every field is optional; an invalid value is
    reported on the form and left out of the filtering, the valid ones still apply."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=MAX_QUERY_LENGTH,
        strip=True,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Title, subject, party or number")}
        ),
    )
    party = forms.ModelChoiceField(
        label=_("Party"),
        queryset=Institution.objects.none(),
        required=False,
        empty_label=_("All"),
    )
    kind = forms.ChoiceField(label=_("Type"), required=False, choices=())
    status = forms.ChoiceField(label=_("Status"), required=False, choices=())
    year = forms.IntegerField(
        label=_("Year"),
        required=False,
        min_value=1945,
        max_value=2200,
        help_text=_("Year of signing; for agreements not yet signed, the year they were created."),
    )
    expiring = forms.BooleanField(label=_("Ending soon"), required=False)
    days = forms.IntegerField(
        label=_("Ending within (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        initial=DEFAULT_EXPIRING_DAYS,
        widget=forms.NumberInput(attrs={"placeholder": str(DEFAULT_EXPIRING_DAYS)}),
        help_text=_("Signed agreements whose end date falls between today and today + N days."),
    )
    archived = forms.BooleanField(label=_("Include archived"), required=False)

    def __init__(self, data: Any = None, *, user: User, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        cast(forms.ModelChoiceField, self.fields["party"]).queryset = party_choices(user)
        cast(forms.ChoiceField, self.fields["kind"]).choices = _blank_first(Agreement.Kind.choices)
        cast(forms.ChoiceField, self.fields["status"]).choices = _blank_first(
            Agreement.Status.choices
        )

    def filter(
        self, agreements: AgreementQuerySet, *, today: datetime.date | None = None
    ) -> AgreementQuerySet:
        """Apply the valid filters of the bound form to `agreements` (annotated with
        `current_status`); invalid fields are skipped. Archived agreements are left out
        unless asked for, also by an unbound form."""
        if not self.is_bound:
            return agreements.filter(archived_at__isnull=True)
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data = self.cleaned_data
        if not data.get("archived"):
            agreements = agreements.filter(archived_at__isnull=True)
        today = today or timezone.localdate()
        if query := data.get("q"):
            agreements = agreements.filter(
                Q(title__icontains=query)
                | Q(subject__icontains=query)
                | Q(
                    pk__in=Party.objects.filter(
                        Q(institution__name__icontains=query)
                        | Q(institution__short_name__icontains=query)
                        | Q(number__icontains=query)
                    ).values("agreement_id")
                )
            )
        if party := data.get("party"):
            agreements = agreements.filter(
                pk__in=Party.objects.filter(institution=party).values("agreement_id")
            )
        if kind := data.get("kind"):
            agreements = agreements.filter(kind=kind)
        if status := data.get("status"):
            # An annotation (see `with_current_status`), which the type checker cannot see.
            agreements = agreements.filter(Q(current_status=status))
        if year := data.get("year"):
            # Signed agreements count in the year of signing; the others in the year they
            # were entered (in WIB), so that this year's drafts are found under this year.
            agreements = agreements.filter(
                Q(signed_on__year=year) | Q(signed_on__isnull=True, created_at__year=year)
            )
        if data.get("expiring") and "days" not in self.errors:
            days = data.get("days") or DEFAULT_EXPIRING_DAYS
            agreements = agreements.filter(
                status=Agreement.Status.SIGNED,
                end_date__gte=today,
                end_date__lte=today + datetime.timedelta(days=days),
            )
        return agreements


def party_choices(user: User) -> QuerySet[Institution]:
    """Institutions that are party to at least one agreement `user` may see in the list."""
    return access.filter_party_choices(user).order_by("name")


def staff_agreements(user: User, *, today: datetime.date | None = None) -> AgreementQuerySet:
    """The agreements of `user`'s institutions (all for superusers), with `current_status`,
    newest first: agreements still being prepared on top, then by date of signing."""
    return (
        access.party_agreements(user)
        .with_current_status(today)
        .order_by(F("signed_on").desc(nulls_first=True), "-created_at", "-pk")
    )


def filter_agreements(
    user: User, params, *, today: datetime.date | None = None
) -> tuple[AgreementFilterForm, AgreementQuerySet]:
    """The filter form bound to `params` (request.GET) and the agreements it selects.

    An empty `params` gives an unbound form (no errors shown) and every agreement of the user.
    """
    today = today or timezone.localdate()
    form = AgreementFilterForm(params or None, user=user)
    return form, form.filter(staff_agreements(user, today=today), today=today)


class FollowUpFilterForm(forms.Form):
    """The filters of the open follow-ups list: only the overdue ones, only those one of the
    user's institutions is responsible for. An invalid value is left out, as above."""

    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    owner = forms.ModelChoiceField(
        label=_("Responsible institution"),
        queryset=Institution.objects.none(),
        required=False,
        empty_label=_("All"),
    )

    def __init__(self, data: Any = None, *, user: User, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["owner"]
        ).queryset = institution_access.own_institutions(user).order_by("name")

    def filter(
        self, follow_ups: QuerySet[FollowUp], *, today: datetime.date | None = None
    ) -> QuerySet[FollowUp]:
        """Apply the valid filters of the bound form to `follow_ups`."""
        if not self.is_bound:
            return follow_ups
        self.is_valid()
        data = self.cleaned_data
        if data.get("overdue"):
            follow_ups = follow_ups.filter(due_date__lt=today or timezone.localdate())
        if owner := data.get("owner"):
            follow_ups = follow_ups.filter(owner=owner)
        return follow_ups
