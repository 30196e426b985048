"""Staff pages of enrolments: the intake screening that starts one, the enrolment page with
the moves open to it, each move's form, later screenings, and the list of enrolments.

Every lookup goes through `Enrolment.objects.visible_to(user)` (others get 404); every move
is a service of `rehabilitation.services.enrolment`, whose refusals come back as form errors;
every page that shows a participant writes the access log. Each move's form carries the
enrolment's version, so that a move made meanwhile by someone else refuses it; the enrolment
page shows the history of the enrolment and of what is recorded with it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from institutions import access
from institutions.history_display import history_rows

from .. import assist
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
from ..models import (
    AccessLog,
    Assessment,
    Enrolment,
    EnrolmentPhase,
    Participant,
    Screening,
)
from ..services import enrolment as services
from ..services.audit import record_access, record_bulk_access
from .participants import PAGE_SIZE, get_participant_for_user, may_see_personal_data

Status = Enrolment.Status

#: The partial of sessions, attendance and notes, written alongside; included when present.
SESSIONS_SECTION = "rehabilitation/sessions/_enrolment_section.html"


def get_enrolment_for_user(user, pk: int, *, write: bool = False) -> Enrolment:
    """The enrolment `pk` as `user` may see it: 404 for everyone else; with `write`, 403 for
    those who see it but may not move it."""
    enrolment = get_object_or_404(
        Enrolment.objects.visible_to(user).select_related(
            "participant__institution", "programme__host", "programme__agreement", "current_phase"
        ),
        pk=pk,
    )
    if write and not services.may_write_enrolment(user, enrolment):
        raise PermissionDenied(_("You may not change this enrolment."))
    return enrolment


def _log_view(request: HttpRequest, enrolment: Enrolment, what: str = "") -> None:
    record_access(
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
        screening.highest = assist.highest(bands)
        screening.eligible = assist.is_eligible(bands)
    return screenings


def sessions_section(enrolment: Enrolment) -> str | None:
    """The template of the attendance and progress section, with what it shows loaded on
    `enrolment`, or None while that part of the application is not there."""
    try:
        get_template(SESSIONS_SECTION)
        from ..services.sessions import load_enrolment_section
    except (TemplateDoesNotExist, ImportError):
        return None
    load_enrolment_section(enrolment)
    return SESSIONS_SECTION


def _actions(enrolment: Enrolment, eligibility: services.Eligibility, assessment) -> dict:
    """The forms of the moves open to the enrolment now, for its page."""
    moves = services.allowed_moves(enrolment)
    version = enrolment.version
    actions: dict[str, Form | object] = {}
    if Status.ASSESSED in moves and eligibility.eligible:
        actions["assess"] = AssessmentForm(auto_id="assess_%s", version=version)
    if (
        Status.ENROLLED in moves
        and assessment is not None
        and assessment.recommendation != Assessment.Recommendation.NONE
    ):
        actions["enrol"] = MoveForm(auto_id="enrol_%s", version=version)
    if Status.IN_PHASE in moves and (upcoming := services.next_phase(enrolment)) is not None:
        actions["next_phase"] = MoveForm(auto_id="phase_%s", version=version)
        actions["upcoming_phase"] = upcoming
    if Status.COMPLETED in moves and services.next_phase(enrolment) is None:
        actions["complete"] = CompleteForm(auto_id="complete_%s", version=version)
    if any(ending in moves for ending in services.ENDINGS):
        actions["end"] = EndForm(enrolment=enrolment, auto_id="end_%s")
    return actions


@never_cache
@require_GET
@access.staff_required
def enrolment_list(request: HttpRequest) -> HttpResponse:
    """The enrolments the user may see, by programme, status, register number or name."""
    user = request.user
    if not may_see_personal_data(user):
        raise Http404(_("No such page."))
    form = EnrolmentFilterForm(request.GET or None, user=user)
    enrolments = (
        Enrolment.objects.visible_to(user)
        .select_related("participant__institution", "programme", "current_phase")
        .order_by("programme__name", "participant__register_number", "pk")
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
    page = Paginator(enrolments, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    record_bulk_access(
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
@access.staff_required
def enrolment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An enrolment: status, events, phases, screenings and assessments, and the moves open
    to it as forms."""
    user = request.user
    enrolment = get_enrolment_for_user(user, pk)
    _log_view(request, enrolment)
    eligibility = services.enrolment_eligibility(enrolment)
    assessments = list(enrolment.assessments.select_related("recorded_by").order_by("date", "pk"))
    may_write = services.may_write_enrolment(user, enrolment)
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
            "eligibility": eligibility,
            "assessments": assessments,
            "last_assessment": assessments[-1] if assessments else None,
            "may_write": may_write,
            "actions": _actions(enrolment, eligibility, assessments[-1] if assessments else None)
            if may_write
            else {},
            "sessions_section": sessions_section(enrolment),
            "history": history_rows(services.enrolment_history(enrolment)),
        },
    )


def _move(
    request: HttpRequest,
    pk: int,
    *,
    target: str,
    make_form: Callable[..., Form],
    perform: Callable[[Enrolment, dict, int | None], object],
    title: str,
    submit: str,
    done: str,
    closed: Callable[[Enrolment], str | None] = lambda enrolment: None,
) -> HttpResponse:
    """One move's page: GET shows the form (or sends back to the enrolment when the move is
    not open), POST asks the service and shows its refusal on the form. `perform` gets the
    enrolment, the form's data and the version the form was loaded with."""
    enrolment = get_enrolment_for_user(request.user, pk, write=True)
    if request.method == "GET":
        refusal = None
        if target not in services.allowed_moves(enrolment):
            refusal = _("This move is not open to an enrolment that is “%(status)s”.") % {
                "status": enrolment.get_status_display()
            }
        refusal = refusal or closed(enrolment)
        if refusal:
            messages.error(request, refusal)
            return redirect("rehabilitation:enrolment", enrolment.pk)
    form = make_form(request.POST or None, enrolment=enrolment)
    if request.method == "POST" and form.is_valid():
        try:
            perform(enrolment, form.cleaned_data, form.submitted_version)
        except ValidationError as error:
            add_service_error(form, error, record=enrolment)
        else:
            messages.success(request, done)
            return redirect("rehabilitation:enrolment", enrolment.pk)
    _log_view(request, enrolment, target)
    return render(
        request,
        "rehabilitation/enrolments/move.html",
        {
            "enrolment": enrolment,
            "participant": enrolment.participant,
            "form": form,
            "title": title,
            "submit": submit,
            "upcoming_phase": services.next_phase(enrolment) if target == Status.IN_PHASE else None,
        },
    )


def _not_eligible(enrolment: Enrolment) -> str | None:
    if not services.enrolment_eligibility(enrolment).eligible:
        return _("Education only — not eligible for assessment.")
    return None


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_assess(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the assessment: screened → assessed."""
    return _move(
        request,
        pk,
        target=Status.ASSESSED,
        make_form=lambda data, enrolment: AssessmentForm(data, version=enrolment.version),
        perform=lambda enrolment, data, version: services.enrolment_assess(
            user=request.user,
            enrolment=enrolment,
            date=data["date"],
            team=data["team"],
            recommendation=data["recommendation"],
            notes=data["notes"],
            version=version,
        ),
        title=_("Assessment"),
        submit=_("Record the assessment"),
        done=_("Assessment recorded."),
        closed=_not_eligible,
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_enrol(request: HttpRequest, pk: int) -> HttpResponse:
    """Give the assessed participant a place: assessed → enrolled."""
    return _move(
        request,
        pk,
        target=Status.ENROLLED,
        make_form=lambda data, enrolment: MoveForm(data, version=enrolment.version),
        perform=lambda enrolment, data, version: services.enrolment_enrol(
            user=request.user,
            enrolment=enrolment,
            date=data["date"],
            reason=data["reason"],
            version=version,
        ),
        title=_("Enrol"),
        submit=_("Enrol"),
        done=_("Enrolled."),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_next_phase(request: HttpRequest, pk: int) -> HttpResponse:
    """Start the first phase, or move on to the next one."""
    return _move(
        request,
        pk,
        target=Status.IN_PHASE,
        make_form=lambda data, enrolment: MoveForm(data, version=enrolment.version),
        perform=lambda enrolment, data, version: services.enrolment_next_phase(
            user=request.user,
            enrolment=enrolment,
            date=data["date"],
            reason=data["reason"],
            version=version,
        ),
        title=_("Next phase"),
        submit=_("Start the phase"),
        done=_("Phase started."),
        closed=lambda enrolment: (
            None
            if services.next_phase(enrolment) is not None
            else _("There is no further phase: record the completion instead.")
        ),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Complete the programme with the outcome."""
    return _move(
        request,
        pk,
        target=Status.COMPLETED,
        make_form=lambda data, enrolment: CompleteForm(data, version=enrolment.version),
        perform=lambda enrolment, data, version: services.enrolment_complete(
            user=request.user,
            enrolment=enrolment,
            date=data["date"],
            recovered=data["recovered"],
            skilled=data["skilled"],
            independent=data["independent"],
            reason=data["reason"],
            version=version,
        ),
        title=_("Completion and outcome"),
        submit=_("Record the completion"),
        done=_("Completion recorded."),
        closed=lambda enrolment: (
            None
            if services.next_phase(enrolment) is None
            else _("The participant is not in the last phase yet.")
        ),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_end(request: HttpRequest, pk: int) -> HttpResponse:
    """End the enrolment: dropped out, transferred, released, or referred."""
    return _move(
        request,
        pk,
        target=Status.REFERRED,  # every status that may end may end as referred
        make_form=lambda data, enrolment: EndForm(data, enrolment=enrolment),
        perform=lambda enrolment, data, version: services.enrolment_end(
            user=request.user,
            enrolment=enrolment,
            to_status=data["to_status"],
            date=data["date"],
            reason=data["reason"],
            version=version,
        ),
        title=_("End the enrolment"),
        submit=_("End the enrolment"),
        done=_("Enrolment ended."),
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def enrolment_screening(request: HttpRequest, pk: int) -> HttpResponse:
    """A later ASSIST screening of the enrolment (progress over time)."""
    enrolment = get_enrolment_for_user(request.user, pk, write=True)
    form = ScreeningForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.screening_record(
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
@access.staff_required
def participant_screen(request: HttpRequest, pk: int) -> HttpResponse:
    """The intake ASSIST screening of a participant for a programme: starts the enrolment."""
    participant: Participant = get_participant_for_user(request.user, pk, write=True)
    programmes = screenable_programmes(request.user, participant)
    form = ScreeningForm(request.POST or None, programmes=programmes)
    if request.method == "POST" and form.is_valid():
        try:
            enrolment = services.enrolment_screen(
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
            if not services.enrolment_eligibility(enrolment).eligible:
                messages.warning(request, _("Education only — not eligible for assessment."))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    record_access(
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
    path("staff/enrolments/<int:pk>/assess/", enrolment_assess, name="enrolment_assess"),
    path("staff/enrolments/<int:pk>/enrol/", enrolment_enrol, name="enrolment_enrol"),
    path(
        "staff/enrolments/<int:pk>/next-phase/", enrolment_next_phase, name="enrolment_next_phase"
    ),
    path("staff/enrolments/<int:pk>/complete/", enrolment_complete, name="enrolment_complete"),
    path("staff/enrolments/<int:pk>/end/", enrolment_end, name="enrolment_end"),
    path("staff/enrolments/<int:pk>/screening/", enrolment_screening, name="enrolment_screening"),
    path("staff/participants/<int:pk>/screen/", participant_screen, name="participant_screen"),
]
