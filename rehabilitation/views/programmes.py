"""Staff pages of rehabilitation programmes: the list, creation, the programme page and the
editing of its phases. Changes go through `rehabilitation.services.programmes`; who sees
and changes what is `rehabilitation.access`.

Programmes are seen by the staff of the host and partner institutions (others get 404);
participants' names on the programme page only by those with personal-data rights. The
programme page shows the history of the programme and its phases to everyone who sees it; the
edit forms carry the version they were loaded with, so that a save on a programme changed
meanwhile is refused with what changed.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from institutions.access import AuthenticatedRequest, staff_required
from institutions.history_display import history_rows
from institutions.models import Institution

from .. import access, disclosure, reports, selectors
from ..forms.enrolment import (
    PhaseFormSet,
    ProgrammeEditForm,
    ProgrammeForm,
    VersionedForm,
    add_service_error,
    carry_current_version,
)
from ..models import AccessLog, Enrolment, Programme
from ..services import programmes as services
from ..services.audit import log_context, record_bulk_access
from ..services.common import AGREEMENT_IN_FORCE

Status = Enrolment.Status


@require_GET
@staff_required
def programme_list(request: HttpRequest) -> HttpResponse:
    """The programmes of the user's institutions, with their places taken (exact where the
    user may see the participants, protected by the one disclosure rule elsewhere)."""
    programmes = list(
        access.visible_programmes(request.user)
        .select_related("host", "agreement")
        .annotate(
            **{
                f"n_{status}": Count(
                    "enrolments",
                    filter=Q(enrolments__status=status),
                    distinct=True,  # the partners join of `visible_programmes` repeats rows
                )
                for status in Status.values
            }
        )
        .order_by("-launch_date", "name")
    )
    exact = set(access.programmes_with_personal_data(request.user).values_list("pk", flat=True))
    for programme in programmes:
        counts = {status: getattr(programme, f"n_{status}") for status in Status.values}
        programme.active = reports.status_cells(counts, exact=programme.pk in exact)["active"]
    return render(
        request,
        "rehabilitation/programme_list.html",
        {
            "programmes": programmes,
            "may_create": access.may_create_programmes(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required
def programme_create(request: AuthenticatedRequest) -> HttpResponse:
    """A new programme under a signed agreement, with its phases (standard TC by default)."""
    if not access.may_create_programmes(request.user):
        raise PermissionDenied(_("Only editors and administrators create programmes."))
    form = ProgrammeForm(request.POST or None, user=request.user)
    # The standard phases fill the blank form; once posted, the rows are what was sent.
    formset = PhaseFormSet(
        request.POST or None,
        initial=None if request.method == "POST" else services.standard_phases(),
        prefix="phases",
    )
    if request.method == "POST" and form.is_valid() and formset.is_valid():
        data = form.cleaned_data
        try:
            programme = services.programme_create(
                user=request.user,
                name=data["name"],
                kind=data["kind"],
                host=data["host"],
                partners=list(data["partners"]),
                agreement=data["agreement"],
                launch_date=data["launch_date"],
                launch_event=data["launch_event"],
                capacity=data["capacity"],
                description=data["description"],
                phases=formset.rows(),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Programme created."))
            return redirect("rehabilitation:programme", programme.pk)
    return render(request, "rehabilitation/programme_form.html", {"form": form, "formset": formset})


@never_cache
@require_GET
@staff_required
def programme_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A programme: facts, phases, places, enrolments by status (names for those who may see
    participants), links."""
    user = request.user
    programme, may_manage = access.get_programme_for_user(
        user,
        pk,
        queryset=Programme.objects.select_related(
            "host", "agreement", "launch_event"
        ).prefetch_related(Prefetch("partners", queryset=Institution.objects.order_by("name"))),
    )
    partners = list(programme.partners.all())
    may_see_participants = access.may_see_personal_data(user, programme)
    counts = selectors.programme_counts(programme)
    # The newest few of each status by name (and only those are logged as read); the whole
    # list of each is the enrolment list, filtered by the programme and the status.
    shown: dict[str, list[Enrolment]] = {}
    if may_see_participants:
        shown = selectors.newest_enrolments_by_status(user, programme)
        record_bulk_access(
            **log_context(request),
            user=user,
            participants=[e.participant for group in shown.values() for e in group],
            action=AccessLog.Action.VIEW,
            detail=f"programme {programme.pk} list",
        )
    # Counts of people: exact for those who see the participants, protected for the others.
    cells = reports.status_cells(counts, exact=may_see_participants)
    by_status = [
        {
            "status": status,
            "label": status.label,
            "count": cells[status.value],
            "enrolments": shown.get(status.value, []),
            "more": counts.get(status.value, 0) - len(shown.get(status.value, [])),
        }
        for status in Status
    ]
    active = cells["active"]
    phases = list(programme.phases.order_by("order"))
    return render(
        request,
        "rehabilitation/programme_detail.html",
        {
            "programme": programme,
            "partners": partners,
            "phases": phases,
            "total_weeks": sum(phase.planned_weeks for phase in phases),
            "agreement_status": programme.agreement.current_status(),
            "takes_participants": programme.agreement.current_status() in AGREEMENT_IN_FORCE,
            "active": active,
            "free": (
                None
                if programme.capacity is None or active.value is None
                else max(programme.capacity - active.value, 0)
            ),
            "by_status": by_status,
            "total": cells["total"],
            "shown_per_status": selectors.SHOWN_PER_STATUS,
            "may_see_participants": may_see_participants,
            "min_cell": disclosure.MIN_CELL,
            "may_manage": may_manage,
            "history": history_rows(
                selectors.programme_history(programme),
                known=[programme, programme.host, programme.agreement, programme.launch_event],
            ),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required
def programme_edit(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Change the name, partners, capacity and description of a programme."""
    programme, _may_manage = access.get_programme_for_user(request.user, pk, manage=True)
    form = ProgrammeEditForm(request.POST or None, programme=programme)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.programme_update(
                programme=programme,
                user=request.user,
                name=data["name"],
                partners=list(data["partners"]),
                capacity=data["capacity"],
                description=data["description"],
                version=form.submitted_version,
            )
        except ValidationError as error:
            add_service_error(form, error, record=programme)
        else:
            messages.success(request, _("Saved."))
            return redirect("rehabilitation:programme", programme.pk)
    return render(
        request, "rehabilitation/programme_edit.html", {"programme": programme, "form": form}
    )


@require_http_methods(["GET", "POST"])
@staff_required
def programme_phases(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Edit the phases of a programme: names, planned lengths and order."""
    programme, _may_manage = access.get_programme_for_user(request.user, pk, manage=True)
    initial = [
        {"id": phase.pk, "name": phase.name, "planned_weeks": phase.planned_weeks, "ORDER": n}
        for n, phase in enumerate(programme.phases.order_by("order"), start=1)
    ]
    formset = PhaseFormSet(request.POST or None, initial=initial, prefix="phases")
    # The phases are part of the programme: its version guards them against a stale save.
    version_form = VersionedForm(request.POST or None, version=programme.version)
    if request.method == "POST" and version_form.is_valid() and formset.is_valid():
        try:
            services.phases_replace(
                programme=programme,
                user=request.user,
                phases=formset.rows(),
                version=version_form.submitted_version,
            )
        except ValidationError as error:
            formset._non_form_errors = formset.error_class(error.messages)  # type: ignore[attr-defined]  # no public setter
            if getattr(error, "code", None) == "stale":
                carry_current_version(version_form, programme)
        else:
            messages.success(request, _("Phases saved."))
            return redirect("rehabilitation:programme", programme.pk)
    return render(
        request,
        "rehabilitation/programme_phases.html",
        {"programme": programme, "formset": formset, "version_form": version_form},
    )


urlpatterns = [
    path("staff/programmes/", programme_list, name="programmes"),
    path("staff/programmes/new/", programme_create, name="programme_create"),
    path("staff/programmes/<int:pk>/", programme_detail, name="programme"),
    path("staff/programmes/<int:pk>/edit/", programme_edit, name="programme_edit"),
    path("staff/programmes/<int:pk>/phases/", programme_phases, name="programme_phases"),
]
