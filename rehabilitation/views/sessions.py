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
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from institutions.access import AuthenticatedRequest, staff_required
from institutions.history_display import history_rows

from .. import access
from ..forms.sessions import (
    AttendanceSheetForm,
    InstrumentScoreForm,
    ProgressNoteForm,
    SessionForm,
)
from ..models import AccessLog, Enrolment, Session
from ..services import sessions as services
from ..services.audit import log_context, record_access, record_bulk_access


@never_cache
@require_GET
@staff_required
def session_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The sessions of a programme, newest first, with their attendance counts."""
    programme = access.get_programme_for_recording(request.user, pk)
    counted = services.with_attendance_counts(
        Session.objects.filter(programme=programme).select_related("phase")
    )
    rows = [
        (
            session,
            services.AttendanceSummary(
                # The counts annotated by `with_attendance_counts`.
                session.present,  # type: ignore[attr-defined]
                session.absent,  # type: ignore[attr-defined]
                session.excused,  # type: ignore[attr-defined]
            ),
        )
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
@staff_required
def session_create(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Plan or record a session of the programme."""
    programme = access.get_programme_for_recording(request.user, pk)
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
@staff_required
def session_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """A session and its attendance sheet, saved in one POST."""
    session = access.get_session_for_recording(request.user, pk)
    enrolments = list(
        services.sheet_enrolments(session, access.visible_enrolments(request.user))
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
        **log_context(request),
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
        **log_context(request),
        user=request.user,
        participant=enrolment.participant,
        action=AccessLog.Action.VIEW,
        detail=f"enrolment {enrolment.pk} progress record",
    )
    services.load_enrolment_section(enrolment)
    return render(request, template, {"enrolment": enrolment, "form": form})


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def note_add(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Write a dated progress note on an enrolment, as the logged-in counsellor or nurse."""
    enrolment = access.get_enrolment_for_recording(request.user, pk)
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
@staff_required
def score_add(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Record a GSES or WHOQOL-BREF score on an enrolment."""
    enrolment = access.get_enrolment_for_recording(request.user, pk)
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
