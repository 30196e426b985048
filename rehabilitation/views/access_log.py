"""The personal-data access log (UU PDP 27/2022), for institutions' administrators only.

- The institution's log: who viewed, changed or exported which of its participants' data,
  when and why, filtered by user, participant, action, reason and days, with the reads per
  user counted.
- A participant's own "who has seen my record" list, for a data subject's request: every
  read of their record by anyone (name, institution, role), when, what and why, as a
  printable page or CSV, for the administrators of the institution holding them.

Reading the log is itself a read of personal data and is logged (who read the log of whom),
as is the data subject's list and its export. Everyone else gets 404.
"""

from __future__ import annotations

import csv
import io
from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from institutions.access import staff_required
from institutions.forms import date_input
from institutions.models import Institution, Membership
from institutions.pagination import page_of
from institutions.spreadsheets import neutralise

from .. import access, selectors
from ..models import AccessLog, Participant
from ..services.audit import log_context, record_access, record_read

ACCESS_LOG_PAGE_SIZE = 50
#: The reads per user shown above the log.
TOP_READERS = 20


class _UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        full_name = obj.get_full_name()
        return f"{full_name} ({obj.get_username()})" if full_name else obj.get_username()


class AccessLogFilterForm(forms.Form):
    """Filters of the access log: who, whose record, what, why, from and until which day."""

    user = _UserChoiceField(
        label=gettext_lazy("User"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=gettext_lazy("Everyone"),
    )
    participant = forms.ModelChoiceField(
        label=gettext_lazy("Register number"),
        queryset=Participant.objects.none(),
        to_field_name="register_number",
        required=False,
        widget=forms.TextInput,
        help_text=gettext_lazy("The reads of one participant held here."),
        error_messages={"invalid_choice": gettext_lazy("No participant here has this number.")},
    )
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        choices=[("", gettext_lazy("All")), *AccessLog.Action.choices],
        required=False,
    )
    reason = forms.ChoiceField(
        label=gettext_lazy("Reason"),
        choices=[("", gettext_lazy("All")), *AccessLog.Reason.choices],
        required=False,
    )
    date_from = forms.DateField(label=gettext_lazy("From"), required=False, widget=date_input())
    date_to = forms.DateField(label=gettext_lazy("Until"), required=False, widget=date_input())

    def __init__(self, data, *, institution: Institution) -> None:
        super().__init__(data)
        # Only the people who appear in this institution's log.
        cast(forms.ModelChoiceField, self.fields["user"]).queryset = (
            get_user_model()
            .objects.filter(
                pk__in=AccessLog.objects.filter(institution=institution).values("user_id")
            )
            .order_by("username")
        )
        participant_field = cast(forms.ModelChoiceField, self.fields["participant"])
        participant_field.queryset = Participant.objects.filter(institution=institution)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end of the period cannot be before its start."))
        return cleaned


@never_cache
@require_GET
@staff_required
def access_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Who viewed, changed or exported which of the institution's participants, when and
    why: for the institution's administrators only (404 for everyone else). The read is
    logged with the participants the page names."""
    if not access.may_read_access_log(request.user, pk):
        raise Http404(_("No such institution."))
    institution = get_object_or_404(Institution, pk=pk)
    form = AccessLogFilterForm(request.GET or None, institution=institution)
    entries = access.visible_access_log(request.user).filter(institution=institution)
    chosen = None
    if form.is_bound:
        form.is_valid()
        # Each valid filter applies; a wrong one is shown as an error and ignored.
        cleaned = getattr(form, "cleaned_data", {})
        if cleaned.get("user"):
            entries = entries.filter(user=cleaned["user"])
        if chosen := cleaned.get("participant"):
            entries = selectors.access_log_about(chosen.pk, entries)
        if cleaned.get("action"):
            entries = entries.filter(action=cleaned["action"])
        if cleaned.get("reason"):
            entries = entries.filter(reason=cleaned["reason"])
        if cleaned.get("date_from"):
            entries = entries.filter(at__date__gte=cleaned["date_from"])
        if cleaned.get("date_to"):
            entries = entries.filter(at__date__lte=cleaned["date_to"])
    page = page_of(
        entries.select_related("user", "participant").order_by("-at", "-pk"),
        ACCESS_LOG_PAGE_SIZE,
        request.GET.get("page"),
    )
    rows = list(page.object_list)
    readers = list(
        entries.order_by()
        .values("user__username", "user__first_name", "user__last_name")
        .annotate(reads=Count("pk"))
        .order_by("-reads", "user__username")[:TOP_READERS]
    )
    shown = {(row.participant_id, institution.pk) for row in rows if row.participant_id}
    if chosen is not None:
        shown.add((chosen.pk, institution.pk))
    record_read(
        **log_context(request),
        user=request.user,
        records=sorted(shown),
        action=AccessLog.Action.VIEW,
        detail="access log",
    )
    return render(
        request,
        "rehabilitation/reports/access_log.html",
        {
            "institution": institution,
            "form": form,
            "page": page,
            "readers": readers,
            "participant": chosen,
        },
    )


# --- Who has seen a participant's record ---------------------------------------------------


def _roles_by_user(user_ids: set[int]) -> dict[int, list[str]]:
    """Each user's roles, as "role, institution", in one query."""
    roles: dict[int, list[str]] = {}
    for membership in (
        Membership.objects.filter(user_id__in=user_ids)
        .select_related("institution")
        .order_by("institution__name", "role")
    ):
        roles.setdefault(membership.user_id, []).append(
            f"{membership.get_role_display()}, {membership.institution.display_name}"
        )
    return roles


def _reader_name(user) -> str:
    return user.get_full_name() or user.get_username()


@never_cache
@require_GET
@staff_required
def participant_access_log(request: HttpRequest, pk: int) -> HttpResponse:
    """Everyone who has read one participant's record (name, institution and role), when,
    what and why, for a data subject's request (UU PDP 27/2022): a printable page, or CSV with
    `?format=csv`; for the administrators of the institution holding them (404 for everyone
    else). Every read is counted, wherever the participant was held at the time."""
    participant, _may_write = access.get_participant_for_user(request.user, pk)
    if not access.may_read_access_log(request.user, participant.institution_id):
        raise Http404(_("No such participant."))
    fmt = request.GET.get("format") or "html"
    if fmt not in ("html", "csv"):
        raise Http404(_("No such format."))
    entries = selectors.access_log_about(participant.pk).select_related("user", "institution")
    entries = entries.order_by("-at", "-pk")
    if fmt == "csv":
        rows = list(entries)
    else:
        page = page_of(entries, ACCESS_LOG_PAGE_SIZE * 2, request.GET.get("page"))
        rows = list(page.object_list)
    roles = _roles_by_user({row.user_id for row in rows})
    for row in rows:
        row.reader = _reader_name(row.user)
        row.reader_roles = roles.get(row.user_id, [])
    record_access(
        **log_context(request),
        user=request.user,
        participant=participant,
        action=AccessLog.Action.EXPORT if fmt == "csv" else AccessLog.Action.VIEW,
        detail=f"who has seen this record{' csv' if fmt == 'csv' else ''}",
    )
    if fmt == "csv":
        return _csv_response(participant, rows)
    return render(
        request,
        "rehabilitation/participant_access_log.html",
        {"participant": participant, "page": page, "entries": rows},
    )


def _csv_response(participant: Participant, rows: list[AccessLog]) -> HttpResponse:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [_("When"), _("User"), _("Institution and role"), _("Action"), _("What"), _("Why")]
    )
    for row in rows:
        writer.writerow(
            neutralise(value)
            for value in [
                timezone.localtime(row.at).strftime("%Y-%m-%d %H:%M"),
                row.reader,  # type: ignore[attr-defined]  # set by the view for the page
                "; ".join(row.reader_roles),  # type: ignore[attr-defined]  # likewise
                row.get_action_display(),
                row.detail,
                row.get_reason_display() if row.reason else "",
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"akses-data-{participant.pk}-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


urlpatterns = [
    path("staff/institutions/<int:pk>/access-log/", access_log, name="access_log"),
    path(
        "staff/participants/<int:pk>/access-log/",
        participant_access_log,
        name="participant_access_log",
    ),
]
