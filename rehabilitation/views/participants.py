"""Staff pages of rehabilitation programmes and participants.

Participants are specific personal data: every lookup goes through `visible_to(user)`, so an
outsider gets 404 and never learns that a record exists.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from institutions import access

from ..models import AccessLog, Enrolment, Participant, Programme
from ..services.audit import record_access, record_bulk_access


@never_cache
@require_GET
@access.staff_required
def programme_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A programme, and its enrolments for those who may see participants."""
    programme = get_object_or_404(
        Programme.objects.visible_to(request.user).select_related("host", "agreement"), pk=pk
    )
    enrolments = list(
        Enrolment.objects.visible_to(request.user)
        .filter(programme=programme)
        .select_related("participant__institution")
        .order_by("participant__register_number")
    )
    record_bulk_access(
        user=request.user,
        participants=[enrolment.participant for enrolment in enrolments],
        action=AccessLog.Action.VIEW,
        detail=f"programme {programme.pk} list",
    )
    return render(
        request,
        "rehabilitation/programme_detail.html",
        {
            "programme": programme,
            "partners": programme.partners.all(),
            "enrolments": enrolments,
            "may_see_participants": access.is_superuser(request.user)
            or bool(access.institution_ids(request.user, access.PERSONAL_DATA_ROLES)),
        },
    )


@never_cache
@require_GET
@access.staff_required
def participant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One participant's record, for the programme staff of the institutions involved."""
    participant = get_object_or_404(
        Participant.objects.visible_to(request.user).select_related("institution"), pk=pk
    )
    record_access(user=request.user, participant=participant, action=AccessLog.Action.VIEW)
    enrolments = (
        Enrolment.objects.visible_to(request.user)
        .filter(participant=participant)
        .select_related("programme__host")
        .order_by("-start_date")
    )
    return render(
        request,
        "rehabilitation/participant_detail.html",
        {"participant": participant, "enrolments": enrolments},
    )


urlpatterns = [
    path("staff/programmes/<int:pk>/", programme_detail, name="programme"),
    path("staff/participants/<int:pk>/", participant_detail, name="participant"),
]
