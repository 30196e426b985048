"""Staff pages of enrolments: the intake screening that starts one, the enrolment page with
the moves open to it (and why the others are not), each move's form, later screenings, and the
list of enrolments.

Every lookup goes through `rehabilitation.access` (others get 404); which moves are open is
read once, from `selectors.enrolment_moves`; every move is a service of
`rehabilitation.services.enrolment`, whose refusals come back as form errors; every page that
shows a participant writes the access log. Each move's form carries the enrolment's version,
so that a move made meanwhile by someone else refuses it; the enrolment page shows the history
of the enrolment and of what is recorded with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from institutions.access import Account, AuthenticatedRequest, staff_required
from institutions.history_display import history_rows
from institutions.pagination import page_of

from .. import access, assist, selectors
from ..forms.enrolment import (
    AssessmentForm,
    CompleteForm,
    EndForm,
    EnrolmentFilterForm,
    MoveForm,
    ScreeningForm,
    add_service_error,
    screenable_programmes,
)
from ..models import AccessLog, Enrolment, EnrolmentPhase, Phase, Screening
from ..services import enrolment as enrolment_services
from ..services import screening as screening_services
from ..services.audit import log_context, record_access, record_bulk_access
from ..services.sessions import load_enrolment_section
from . import PAGE_SIZE

Status = Enrolment.Status

#: The partial of sessions, attendance and notes.
SESSIONS_SECTION = "rehabilitation/sessions/_enrolment_section.html"

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise


# --- the moves, one row each ---------------------------------------------------------------


def _assess(user: Account, enrolment: Enrolment, data: dict, version: int | None) -> None:
    enrolment_services.enrolment_assess(
        user=user,
        enrolment=enrolment,
        date=data["date"],
        team=data["team"],
        recommendation=data["recommendation"],
        notes=data["notes"],
        version=version,
    )


def _enrol(user: Account, enrolment: Enrolment, data: dict, version: int | None) -> None:
    enrolment_services.enrolment_enrol(
        user=user, enrolment=enrolment, date=data["date"], reason=data["reason"], version=version
    )


def _next_phase(user: Account, enrolment: Enrolment, data: dict, version: int | None) -> None:
    enrolment_services.enrolment_next_phase(
        user=user, enrolment=enrolment, date=data["date"], reason=data["reason"], version=version
    )


def _complete(user: Account, enrolment: Enrolment, data: dict, version: int | None) -> None:
    enrolment_services.enrolment_complete(
        user=user,
        enrolment=enrolment,
        date=data["date"],
        recovered=data["recovered"],
        skilled=data["skilled"],
        independent=data["independent"],
        reason=data["reason"],
        version=version,
    )


def _end(user: Account, enrolment: Enrolment, data: dict, version: int | None) -> None:
    enrolment_services.enrolment_end(
        user=user,
        enrolment=enrolment,
        to_status=data["to_status"],
        date=data["date"],
        reason=data["reason"],
        version=version,
    )


def _versioned(form_class: Callable[..., Form]) -> Callable[..., Form]:
    def make(data, *, enrolment: Enrolment, **kwargs) -> Form:
        return form_class(data, version=enrolment.version, **kwargs)

    return make


@dataclass(frozen=True, slots=True)
class MovePage:
    """How a move is asked for: its form (built from the POST data and the enrolment), the
    service call that makes it (user, enrolment, the form's data, the version it was loaded
    with), the page's title and button, the message once done, and the form's id prefix."""

    form: Callable[..., Any]
    perform: Callable[..., None]
    title: _StrOrPromise
    submit: _StrOrPromise
    done: _StrOrPromise
    auto_id: str


#: Every move's page, by the key `selectors.enrolment_moves` gives it.
MOVE_PAGES: dict[str, MovePage] = {
    "assess": MovePage(
        _versioned(AssessmentForm),
        _assess,
        gettext_lazy("Assessment"),
        gettext_lazy("Record the assessment"),
        gettext_lazy("Assessment recorded."),
        "assess_%s",
    ),
    "enrol": MovePage(
        _versioned(MoveForm),
        _enrol,
        gettext_lazy("Enrol"),
        gettext_lazy("Enrol"),
        gettext_lazy("Enrolled."),
        "enrol_%s",
    ),
    "next_phase": MovePage(
        _versioned(MoveForm),
        _next_phase,
        gettext_lazy("Next phase"),
        gettext_lazy("Start the phase"),
        gettext_lazy("Phase started."),
        "phase_%s",
    ),
    "complete": MovePage(
        _versioned(CompleteForm),
        _complete,
        gettext_lazy("Completion and outcome"),
        gettext_lazy("Record the completion"),
        gettext_lazy("Completion recorded."),
        "complete_%s",
    ),
    "end": MovePage(
        EndForm,
        _end,
        gettext_lazy("End the enrolment"),
        gettext_lazy("End the enrolment"),
        gettext_lazy("Enrolment ended."),
        "end_%s",
    ),
}


def _log_view(request: HttpRequest, enrolment: Enrolment, what: str = "") -> None:
    record_access(
        **log_context(request),
        user=request.user,
        participant=enrolment.participant,
        action=AccessLog.Action.VIEW,
        detail=f"enrolment {enrolment.pk}{': ' + what if what else ''}",
    )


def _screenings(enrolment: Enrolment) -> list[Screening]:
    screenings = list(
        enrolment.screenings.select_related("screened_by")
        .prefetch_related("scores")
        .order_by("date", "pk")
    )
    for screening in screenings:
        bands = [assist.Risk(score.risk) for score in screening.scores.all()]
        # Attributes for the template, beside the model's fields.
        screening.highest = assist.highest(bands)  # type: ignore[attr-defined]
        screening.eligible = assist.is_eligible(bands)  # type: ignore[attr-defined]
    return screenings


def sessions_section(enrolment: Enrolment) -> str:
    """The template of the attendance and progress section, with what it shows loaded on
    `enrolment`."""
    load_enrolment_section(enrolment)
    return SESSIONS_SECTION


def _actions(enrolment: Enrolment, moves: list[selectors.Move]) -> dict:
    """The forms of the moves open to the enrolment now, by their keys, for its page (and
    the phase a next-phase move would start, as "upcoming_phase")."""
    actions: dict[str, Form | Phase] = {}
    for move in moves:
        if move.open:
            page = MOVE_PAGES[move.key]
            actions[move.key] = page.form(None, enrolment=enrolment, auto_id=page.auto_id)
            if move.phase is not None:
                actions["upcoming_phase"] = move.phase
    return actions


@never_cache
@require_GET
@staff_required
def enrolment_list(request: HttpRequest) -> HttpResponse:
    """The enrolments the user may see, by programme, status, register number or name."""
    user = request.user
    if not access.may_see_personal_data(user):
        raise Http404(_("No such page."))
    form = EnrolmentFilterForm(request.GET or None, user=user)
    # Newest first: the order an index serves (`enrolment_newest_first`); by programme or
    # status through the filters.
    enrolments = (
        access.visible_enrolments_for_list(user)
        .select_related("participant__institution", "programme", "current_phase")
        .order_by("-start_date", "-pk")
    )
    if form.is_valid():
        data = form.cleaned_data
        if query := data["q"].strip():
            enrolments = enrolments.filter(
                Q(participant__register_number__icontains=query)
                | Q(participant__full_name__icontains=query)
            )
        if data["programme"] is not None:
            enrolments = enrolments.filter(programme=data["programme"])
        if data["status"]:
            enrolments = enrolments.filter(status=data["status"])
    if not (form.is_valid() and form.cleaned_data["archived"]):
        enrolments = enrolments.filter(participant__archived_at__isnull=True)
    page = page_of(enrolments, PAGE_SIZE, request.GET.get("page"))
    rows = list(page.object_list)
    record_bulk_access(
        **log_context(request),
        user=user,
        participants=[enrolment.participant for enrolment in rows],
        action=AccessLog.Action.VIEW,
        detail="enrolment list",
    )
    return render(
        request,
        "rehabilitation/enrolments/list.html",
        {"form": form, "page": page, "enrolments": rows},
    )


@never_cache
@require_GET
@staff_required
def enrolment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An enrolment: status, events, phases, screenings and assessments, and the moves open
    to it as forms."""
    user = request.user
    enrolment, may_write = access.get_enrolment_for_user(user, pk)
    _log_view(request, enrolment)
    assessments = list(enrolment.assessments.select_related("recorded_by").order_by("date", "pk"))
    moves = selectors.enrolment_moves(enrolment) if may_write else []
    return render(
        request,
        "rehabilitation/enrolments/detail.html",
        {
            "enrolment": enrolment,
            "participant": enrolment.participant,
            "programme": enrolment.programme,
            "is_minor": enrolment.participant.is_minor(),
            "events": enrolment.events.select_related("recorded_by").order_by("recorded_at", "pk"),
            "phases": EnrolmentPhase.objects.filter(enrolment=enrolment)
            .select_related("phase")
            .order_by("start_date", "pk"),
            "programme_phases": enrolment.programme.phases.order_by("order"),
            "screenings": _screenings(enrolment),
            "eligibility": selectors.enrolment_eligibility(enrolment),
            "assessments": assessments,
            "last_assessment": assessments[-1] if assessments else None,
            "may_write": may_write,
            "moves": moves,
            "actions": _actions(enrolment, moves),
            "sessions_section": sessions_section(enrolment),
            "history": history_rows(selectors.enrolment_history(enrolment)),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def enrolment_move(request: HttpRequest, pk: int, move: str) -> HttpResponse:
    """One move's page (`move`: a key of `MOVE_PAGES`): GET shows the form, or sends back to
    the enrolment with the reason when the move is not open; POST asks the service and shows
    its refusal on the form."""
    page = MOVE_PAGES[move]
    enrolment, _may_write = access.get_enrolment_for_user(request.user, pk, write=True)
    state = next(found for found in selectors.enrolment_moves(enrolment) if found.key == move)
    if request.method == "GET" and not state.open:
        messages.error(request, state.reason)
        return redirect("rehabilitation:enrolment", enrolment.pk)
    form = page.form(request.POST or None, enrolment=enrolment)
    if request.method == "POST" and form.is_valid():
        try:
            page.perform(request.user, enrolment, form.cleaned_data, form.submitted_version)
        except ValidationError as error:
            add_service_error(form, error, record=enrolment)
        else:
            messages.success(request, str(page.done))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    _log_view(request, enrolment, state.target)
    return render(
        request,
        "rehabilitation/enrolments/move.html",
        {
            "enrolment": enrolment,
            "participant": enrolment.participant,
            "form": form,
            "title": page.title,
            "submit": page.submit,
            "upcoming_phase": selectors.next_phase(enrolment) if move == "next_phase" else None,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def enrolment_screening(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """A later ASSIST screening of the enrolment (progress over time)."""
    enrolment, _may_write = access.get_enrolment_for_user(request.user, pk, write=True)
    form = ScreeningForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            screening_services.screening_record(
                user=request.user,
                enrolment=enrolment,
                date=form.cleaned_data["date"],
                scores=form.scores(),
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Screening recorded."))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    _log_view(request, enrolment, "screening")
    return render(
        request,
        "rehabilitation/enrolments/screening_form.html",
        {"form": form, "participant": enrolment.participant, "enrolment": enrolment},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def participant_screen(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """The intake ASSIST screening of a participant for a programme: starts the enrolment."""
    participant, _may_write = access.get_participant_for_user(request.user, pk)
    programmes = screenable_programmes(request.user, participant)
    form = ScreeningForm(request.POST or None, programmes=programmes)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = screening_services.enrolment_screen(
                user=request.user,
                participant=participant,
                programme=form.cleaned_data["programme"],
                date=form.cleaned_data["date"],
                scores=form.scores(),
                notes=form.cleaned_data["notes"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Screening recorded: the enrolment has started."))
            if not selectors.enrolment_eligibility(enrolment).eligible:
                messages.warning(request, _("Education only — not eligible for assessment."))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    record_access(
        **log_context(request),
        user=request.user,
        participant=participant,
        action=AccessLog.Action.VIEW,
        detail="screening",
    )
    return render(
        request,
        "rehabilitation/enrolments/screening_form.html",
        {"form": form, "participant": participant, "has_programmes": programmes.exists()},
    )


urlpatterns = [
    path("staff/enrolments/", enrolment_list, name="enrolments"),
    path("staff/enrolments/<int:pk>/", enrolment_detail, name="enrolment"),
    *(
        path(
            f"staff/enrolments/<int:pk>/{key.replace('_', '-')}/",
            enrolment_move,
            {"move": key},
            name=f"enrolment_{key}",
        )
        for key in MOVE_PAGES
    ),
    path("staff/enrolments/<int:pk>/screening/", enrolment_screening, name="enrolment_screening"),
    path("staff/participants/<int:pk>/screen/", participant_screen, name="participant_screen"),
]
