"""Staff views of discussion meetings: schedule, record minutes, attendees and follow-ups,
and download a meeting as an .ics file. The meeting page shows the meeting's history, its
attendees and follow-ups included; the edit page sends back the version it was loaded with."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from institutions import access
from institutions.history_display import history_for
from institutions.pagination import page_of

from .. import access as agreement_access
from .. import ical
from ..filters import FollowUpFilterForm
from ..forms.meetings import AttendeeForm, FollowUpForm, MeetingEditForm, MeetingForm
from ..models import Agreement, Meeting
from ..services import meetings as services


def _apply_service_errors(form: BaseForm, error: ValidationError) -> None:
    """Show a service's refusal on the form, on its field when the form has one."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def _data(request: HttpRequest):
    """The submitted data on a POST (even when empty), None on a GET: an unbound form."""
    return request.POST if request.method == "POST" else None


def _decision_lines(meeting: Meeting) -> list[str]:
    return [line.strip() for line in meeting.decisions.splitlines() if line.strip()]


def _render_detail(
    request: HttpRequest,
    meeting: Meeting,
    *,
    may_edit: bool,
    attendee_form: AttendeeForm | None = None,
) -> HttpResponse:
    attendees = meeting.attendees.select_related("person", "institution").order_by(
        "institution__name", "person__full_name"
    )
    follow_ups = meeting.follow_ups.select_related("owner").order_by("done_on", "due_date", "pk")
    context = {
        "meeting": meeting,
        "agreement": meeting.agreement,
        "may_edit": may_edit,
        "attendees": attendees,
        "follow_ups": follow_ups,
        "decisions": _decision_lines(meeting),
        "today": timezone.localdate(),
        "history": history_for(meeting, known=[meeting.agreement, meeting.host]),
    }
    if may_edit:
        context["attendee_form"] = attendee_form or AttendeeForm(meeting=meeting)
        context["follow_up_form"] = FollowUpForm(meeting=meeting)
    return render(request, "agreements/meetings/meeting_detail.html", context)


@require_http_methods(["GET", "POST"])
@access.staff_required
def meeting_create(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Schedule a discussion meeting for an agreement, whatever its status."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(
        request.user, pk, write=True, queryset=Agreement.objects.prefetch_related("parties")
    )
    form = MeetingForm(_data(request))
    if request.method == "POST" and form.is_valid():
        try:
            meeting = services.meeting_schedule(
                agreement=agreement, user=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, _("The meeting has been scheduled."))
            return redirect("agreements:meeting_detail", meeting.pk)
    return render(
        request,
        "agreements/meetings/meeting_form.html",
        {"form": form, "agreement": agreement, "meeting": None},
    )


@require_GET
@access.staff_required
def meeting_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A meeting with its agenda, minutes, decisions, attendees and follow-ups."""
    meeting, may_edit = agreement_access.get_meeting_for_user(request.user, pk)
    return _render_detail(request, meeting, may_edit=may_edit)


@require_http_methods(["GET", "POST"])
@access.staff_required
def meeting_edit(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Change a meeting's schedule, or record its minutes and decisions."""
    meeting, _may_edit = agreement_access.get_meeting_for_user(request.user, pk, write=True)
    form = MeetingEditForm(_data(request), instance=meeting)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.meeting_update(meeting=meeting, user=request.user, **form.cleaned_data)
            except ValidationError as error:
                _apply_service_errors(form, error)
            else:
                messages.success(request, _("The meeting has been saved."))
                return redirect("agreements:meeting_detail", meeting.pk)
        if form.version_refused():
            # Refused for the version: the page shows the user's input with the refusal on
            # top, and now carries the current version, so that saving again is a choice.
            form.carry_current_version(meeting)
    return render(
        request,
        "agreements/meetings/meeting_form.html",
        {"form": form, "agreement": meeting.agreement, "meeting": meeting},
    )


@require_POST
@access.staff_required
def attendee_add(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Record an attendee, a known person or one entered on the spot."""
    meeting, _may_edit = agreement_access.get_meeting_for_user(request.user, pk, write=True)
    form = AttendeeForm(request.POST, meeting=meeting)
    if form.is_valid():
        try:
            services.attendee_add(meeting=meeting, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, _("The attendee has been recorded."))
            return redirect("agreements:meeting_detail", meeting.pk)
    return _render_detail(request, meeting, may_edit=True, attendee_form=form)


@require_POST
@access.staff_required
def attendee_remove(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Remove an attendee from a meeting."""
    attendee = agreement_access.get_attendee_for_user(request.user, pk)
    services.attendee_remove(attendee=attendee, user=request.user)
    messages.success(
        request, _("%(name)s has been removed from the attendees.") % {"name": attendee.person}
    )
    return redirect("agreements:meeting_detail", attendee.meeting_id)


@require_http_methods(["GET", "POST"])
@access.staff_required
def follow_up_create(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Record a follow-up action; `?decision=N` starts from the meeting's N-th decision."""
    meeting, _may_edit = agreement_access.get_meeting_for_user(request.user, pk, write=True)
    initial = {}
    decisions = _decision_lines(meeting)
    decision = request.GET.get("decision", "")
    if decision.isdigit() and int(decision) < len(decisions):
        initial["description"] = decisions[int(decision)]
    form = FollowUpForm(_data(request), meeting=meeting, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.follow_up_create(meeting=meeting, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            _apply_service_errors(form, error)
        else:
            messages.success(request, _("The follow-up has been recorded."))
            return redirect("agreements:meeting_detail", meeting.pk)
    return render(
        request,
        "agreements/meetings/follow_up_form.html",
        {"form": form, "meeting": meeting, "agreement": meeting.agreement},
    )


@require_POST
@access.staff_required
def follow_up_done(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Mark a follow-up as done today."""
    follow_up = agreement_access.get_follow_up_for_user(request.user, pk)
    try:
        services.follow_up_mark_done(follow_up=follow_up, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The follow-up has been marked as done."))
    return redirect("agreements:meeting_detail", follow_up.meeting_id)


@require_POST
@access.staff_required
def follow_up_reopen(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Open a follow-up again."""
    follow_up = agreement_access.get_follow_up_for_user(request.user, pk)
    try:
        services.follow_up_reopen(follow_up=follow_up, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The follow-up has been reopened."))
    return redirect("agreements:meeting_detail", follow_up.meeting_id)


@require_GET
@access.staff_required
def meeting_ics(request: HttpRequest, pk: int) -> HttpResponse:
    """The meeting as an iCalendar file, to add to one's own calendar."""
    meeting, _may_edit = agreement_access.get_meeting_for_user(request.user, pk)
    response = HttpResponse(ical.meeting_calendar(meeting), content_type=ical.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{ical.meeting_filename(meeting)}"'
    response["Cache-Control"] = "private, no-store"
    return response


#: Rows a page of the meeting and follow-up lists shows.
LIST_PAGE_SIZE = 50


@require_GET
@access.staff_required
def meeting_list(request: HttpRequest) -> HttpResponse:
    """The upcoming meetings of the user's institutions' agreements, the soonest first, 50 a
    page (the staff home shows the first few)."""
    today = timezone.localdate()
    meetings = (
        agreement_access.party_meetings(request.user)
        .filter(date__gte=today)
        .select_related("agreement", "host")
        .order_by("date", "start_time", "pk")
    )
    page = page_of(meetings, LIST_PAGE_SIZE, request.GET.get("page"))
    return render(request, "agreements/meetings/meeting_list.html", {"page": page})


@require_GET
@access.staff_required
def follow_up_list(request: access.AuthenticatedRequest) -> HttpResponse:
    """Every open follow-up of the user's institutions' agreements, the earliest due first,
    50 a page (the staff home shows the first few), filtered to the overdue ones or to one
    responsible institution."""
    today = timezone.localdate()
    form = FollowUpFilterForm(request.GET or None, user=request.user)
    follow_ups = form.filter(services.open_follow_ups_for(request.user), today=today)
    page = page_of(follow_ups, LIST_PAGE_SIZE, request.GET.get("page"))
    return render(
        request,
        "agreements/meetings/follow_ups.html",
        {"form": form, "page": page, "today": today},
    )


urlpatterns: list = [
    path("staff/meetings/", meeting_list, name="meetings"),
    path("staff/follow-ups/", follow_up_list, name="follow_ups"),
    path("staff/agreements/<int:pk>/meetings/new/", meeting_create, name="meeting_create"),
    path("staff/meetings/<int:pk>/", meeting_detail, name="meeting_detail"),
    path("staff/meetings/<int:pk>/edit/", meeting_edit, name="meeting_edit"),
    path("staff/meetings/<int:pk>.ics", meeting_ics, name="meeting_ics"),
    path("staff/meetings/<int:pk>/attendees/", attendee_add, name="attendee_add"),
    path("staff/attendees/<int:pk>/remove/", attendee_remove, name="attendee_remove"),
    path("staff/meetings/<int:pk>/follow-ups/new/", follow_up_create, name="follow_up_create"),
    path("staff/follow-ups/<int:pk>/done/", follow_up_done, name="follow_up_done"),
    path("staff/follow-ups/<int:pk>/reopen/", follow_up_reopen, name="follow_up_reopen"),
]
