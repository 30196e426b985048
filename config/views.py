"""Project-level views: the health check and the staff home, which gathers each app's parts."""

from __future__ import annotations

import datetime
import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agreements import access as agreement_access
from agreements.models import Agreement
from agreements.services.meetings import open_follow_ups_for
from institutions import access
from rehabilitation import access as rehabilitation_access
from rehabilitation import selectors as rehabilitation_selectors

logger = logging.getLogger(__name__)

#: What the staff home lists as "expiring": agreements ending within this time.
EXPIRING_WITHIN = datetime.timedelta(days=90)
#: The staff home shows the latest agreements; the agreement list has them all.
RECENT_AGREEMENTS = 10


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers a query, 503 when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: the database does not answer")
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
@access.staff_required
def staff_home(request: access.AuthenticatedRequest) -> HttpResponse:
    """The staff member's institutions, with their agreements, what expires within 90 days,
    open and overdue follow-ups, upcoming meetings and programmes."""
    user = request.user
    today = timezone.localdate()
    institutions = access.own_institutions(user)
    agreements = (
        agreement_access.party_agreements(user)
        .filter(archived_at__isnull=True)
        .with_current_status(today)
        .prefetch_related("parties__institution")
        .order_by("-created_at")
    )
    meetings = (
        agreement_access.party_meetings(user)
        .filter(date__gte=today)
        .select_related("agreement", "host")
        .order_by("date", "start_time")
    )
    programmes = (
        rehabilitation_access.visible_programmes(user)
        .select_related("host", "agreement")
        .order_by("-launch_date")
    )
    expiring = agreements.filter(
        status=Agreement.Status.SIGNED,
        end_date__gte=today,
        end_date__lte=today + EXPIRING_WITHIN,
    ).order_by("end_date")
    return render(
        request,
        "staff/home.html",
        {
            "institutions": institutions,
            "agreements": agreements[:RECENT_AGREEMENTS],
            "meetings": meetings,
            "programmes": programmes,
            "expiring": expiring,
            "follow_ups": open_follow_ups_for(user),
            "administered": access.own_institutions(user, access.ADMIN_ROLES),
            "sees_personal_data": access.may_see_personal_data(user),
            "incoming_transfer_requests": rehabilitation_selectors.incoming_transfer_request_count(
                user
            ),
            "today": today,
        },
    )
