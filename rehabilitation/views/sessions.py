"""Staff pages of a programme's sessions and attendance, and of an enrolment's progress notes
and instrument scores. Every change goes through `rehabilitation.services.sessions`.

Attendance, notes and scores are specific personal data: the pages answer only the programme
staff and administrators of the institutions involved; anyone else gets 404, the same as for
a record that does not exist. The session page shows the history of the session and its
attendance marks.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from institutions import access
from institutions.history_display import history_rows

from ..forms.sessions import (
    AttendanceSheetForm,
    InstrumentScoreForm,
    ProgressNoteForm,
    SessionForm,
)
from ..models import AccessLog, Enrolment, Programme, Session
from ..services import sessions as services
from ..services.audit import record_access, record_bulk_access


def _programme_for_recording(user, pk: int) -> Programme:
    """The programme `pk` if `user` may run its sessions; 404 otherwise, as if it did not
    exist (a viewer or editor may see the programme, not its participants' attendance)."""
    programme = get_object_or_404(Programme.objects.visible_to(user).select_related("host"), pk=pk)
    if not services.may_record(user, programme):
        raise Http404(_("No such programme."))
    return programme


def _session_for_recording(user, pk: int) -> Session:
    session = get_object_or_404(
        Session.objects.select_related("programme__host", "phase").filter(
            programme__in=Programme.objects.visible_to(user)
        ),
        pk=pk,
    )
    if not services.may_record(user, session.programme):
        raise Http404(_("No such session."))
    return session


def _enrolment_for_writing(user, pk: int) -> Enrolment:
    # Only personal-data roles see an enrolment at all, and each of them may write in it.
    return get_object_or_404(
        Enrolment.objects.visible_to(user).select_related(
            "participant__institution", "programme__host"
        ),
        pk=pk,
    )


@never_cache
@require_GET
@access.staff_required
def session_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The sessions of a programme, newest first, with their attendance counts."""
    programme = _programme_for_recording(request.user, pk)
    counted = services.with_attendance_counts(
        Session.objects.filter(programme=programme).select_related("phase")
    )
    rows = [
        (session, services.AttendanceSummary(session.present, session.absent, session.excused))
        for session in counted.order_by("-date", "-pk")
    ]
    overall = services.AttendanceSummary(
        present=sum(summary.present for _session, summary in rows),
        absent=sum(summary.absent for _session, summary in rows),
        excused=sum(summary.excused for _session, summary in rows),
    )
    return render(
        request,
        "rehabilitation/sessions/list.html",
        {"programme": programme, "rows": rows, "overall": overall},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def session_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Plan or record a session of the programme."""
    programme = _programme_for_recording(request.user, pk)
    form = SessionForm(request.POST or None, programme=programme)
    if request.method == "POST" and form.is_valid():
        try:
            session = services.session_create(
                programme=programme,
                user=request.user,
                date=form.cleaned_data["date"],
                topic=form.cleaned_data["topic"],
                phase=form.cleaned_data["phase"],
                facilitator=form.cleaned_data["facilitator"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Session saved. Record its attendance below."))
            return redirect("rehabilitation:session", session.pk)
    return render(
        request, "rehabilitation/sessions/form.html", {"programme": programme, "form": form}
    )


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def session_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A session and its attendance sheet, saved in one POST."""
    session = _session_for_recording(request.user, pk)
    enrolments = list(
        services.sheet_enrolments(session, Enrolment.objects.visible_to(request.user))
        .select_related("participant__institution", "current_phase")
        .order_by("participant__register_number", "pk")
    )
    marks = dict(session.attendance.order_by().values_list("enrolment_id", "status"))
    form = AttendanceSheetForm(request.POST or None, enrolments=enrolments, marks=marks)
    if request.method == "POST" and form.is_valid():
        try:
            services.attendance_record(session=session, user=request.user, marks=form.marks())
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Attendance saved."))
            return redirect("rehabilitation:session", session.pk)
    record_bulk_access(
        user=request.user,
        participants=[enrolment.participant for enrolment in enrolments],
        action=AccessLog.Action.VIEW,
        detail=f"attendance of session {session.pk}",
    )
    return render(
        request,
        "rehabilitation/sessions/detail.html",
        {
            "session": session,
            "programme": session.programme,
            "form": form,
            "summary": services.AttendanceSummary.of(marks.values()),
            "history": history_rows(
                services.session_history(session),
                known=[session, session.programme],
            ),
        },
    )


def _render_entry(request: HttpRequest, enrolment: Enrolment, template: str, form) -> HttpResponse:
    """Show an entry form with the enrolment's record under it, and log that view."""
    record_access(
        user=request.user,
        participant=enrolment.participant,
        action=AccessLog.Action.VIEW,
        detail=f"enrolment {enrolment.pk} progress record",
    )
    services.load_enrolment_section(enrolment)
    return render(request, template, {"enrolment": enrolment, "form": form})


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def note_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Write a dated progress note on an enrolment, as the logged-in counsellor or nurse."""
    enrolment = _enrolment_for_writing(request.user, pk)
    form = ProgressNoteForm(request.POST or None, enrolment=enrolment)
    if request.method == "POST" and form.is_valid():
        try:
            services.progress_note_add(
                enrolment=enrolment,
                user=request.user,
                date=form.cleaned_data["date"],
                text=form.cleaned_data["text"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Progress note added."))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    return _render_entry(request, enrolment, "rehabilitation/sessions/note_form.html", form)


@never_cache
@require_http_methods(["GET", "POST"])
@access.staff_required
def score_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a GSES or WHOQOL-BREF score on an enrolment."""
    enrolment = _enrolment_for_writing(request.user, pk)
    form = InstrumentScoreForm(request.POST or None, enrolment=enrolment)
    if request.method == "POST" and form.is_valid():
        try:
            services.instrument_score_add(
                enrolment=enrolment,
                user=request.user,
                instrument=form.cleaned_data["instrument"],
                date=form.cleaned_data["date"],
                score=form.cleaned_data["score"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Score recorded."))
            return redirect("rehabilitation:enrolment", enrolment.pk)
    return _render_entry(request, enrolment, "rehabilitation/sessions/score_form.html", form)


urlpatterns = [
    path("staff/programmes/<int:pk>/sessions/", session_list, name="sessions"),
    path("staff/programmes/<int:pk>/sessions/new/", session_create, name="session_create"),
    path("staff/sessions/<int:pk>/", session_detail, name="session"),
    path("staff/enrolments/<int:pk>/notes/new/", note_add, name="note_add"),
    path("staff/enrolments/<int:pk>/scores/new/", score_add, name="score_add"),
]
