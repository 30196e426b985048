"""Project-level views: the health checks (liveness and readiness) and the staff home, which
gathers each app's parts."""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.core.paginator import Page
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from agreements import access as agreement_access
from agreements.models import Agreement, IssuedDocument, Party, SignedScan
from agreements.services.meetings import open_follow_ups_for
from institutions import access
from institutions.pagination import page_of
from rehabilitation import access as rehabilitation_access
from rehabilitation import selectors as rehabilitation_selectors

from .middleware import replica_answers
from .tasks import queue_answers

logger = logging.getLogger(__name__)

#: What the staff home lists as "expiring": agreements ending within this time.
EXPIRING_WITHIN = datetime.timedelta(days=90)
#: The staff home shows the first rows of each section; each section's list has them all.
HOME_ROWS = 10
#: A section's count stops here ("more than 100"): counting a busy unit's every row costs
#: as much as reading them.
HOME_COUNT_CAP = 100


#: The URL names of the health checks: answered before sessions and authentication are set up
#: (config.middleware.HealthCheckMiddleware), so they answer during a database outage too.
HEALTH_CHECKS = ("healthz", "readyz")


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check: the database does not answer")
        return False
    return True


def _unapplied_migrations() -> list[str]:
    """The migrations the code has and the database has not applied, as "app.name"."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _private_storages() -> list[Storage]:
    """The storages holding signed scans and issued documents (one, unless configured apart)."""
    storages: list[Storage] = []
    for model in (SignedScan, IssuedDocument):
        storage = model._meta.get_field("file").storage
        if all(storage is not known for known in storages):
            storages.append(storage)
    return storages


def _storage_is_writable(storage: Storage) -> bool:
    """Whether a small probe file can be written to and deleted from `storage`."""
    name = None
    try:
        name = storage.save(f".readyz-{uuid.uuid4().hex}", ContentFile(b"ready"))
        storage.delete(name)
    except Exception:
        logger.exception("Readiness check: the private file storage is not writable")
        if name is not None:
            with contextlib.suppress(Exception):  # reported above; nothing more to do
                storage.delete(name)
        return False
    return True


def _cache_answers() -> bool:
    """Whether the shared cache (the password-reset counts) can be written and read back."""
    key = f"readyz-{uuid.uuid4().hex}"
    try:
        cache.set(key, "ready", timeout=10)
        answered = cache.get(key) == "ready"
        cache.delete(key)
    except Exception:
        logger.exception("Readiness check: the cache does not answer")
        return False
    return answered


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: 200 when the database answers a query, 503 when it does not."""
    if not _database_answers():
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: whether the database answers, every migration is applied, the private file
    storage is writable, the task queue and the cache (and the read replica, if any) answer.
    200 when all do, 503 naming what is down; a Redis cache or replica that does not answer is
    named under "degraded" with 200, as the site serves without them."""
    checks: dict[str, str] = {}
    database = _database_answers()
    checks["database"] = "ok" if database else "unavailable"
    if not database:
        checks["migrations"] = "unknown"
    else:
        try:
            unapplied = _unapplied_migrations()
        except DatabaseError:
            logger.exception("Readiness check: the migration state cannot be read")
            checks["migrations"] = "unknown"
        else:
            if unapplied:
                logger.warning("Readiness check: unapplied migrations: %s", ", ".join(unapplied))
            checks["migrations"] = "ok" if not unapplied else "unapplied"
    writable = all(_storage_is_writable(storage) for storage in _private_storages())
    checks["storage"] = "ok" if writable else "unwritable"
    checks["queue"] = "ok" if queue_answers() else "unavailable"
    checks["cache"] = "ok" if _cache_answers() else "unavailable"
    if settings.READ_REPLICA is not None:
        checks["replica"] = "ok" if replica_answers(settings.READ_REPLICA) else "unavailable"
    # Redis and the replica are shared by every server, and the site works without them
    # (cache misses; the primary answers): named as degraded, but still ready, so that the load
    # balancer does not take every server out at once for them.
    optional = {"replica", *(["cache"] if settings.CACHE_IS_REDIS else [])}
    failing = sorted(name for name, state in checks.items() if state != "ok")
    down = [name for name in failing if name not in optional]
    degraded = [name for name in failing if name in optional]
    status = "error" if down else "degraded" if degraded else "ok"
    body: dict[str, str | list[str]] = {"status": status, **checks}
    if down:
        body["down"] = down
    if degraded:
        body["degraded"] = degraded
    return JsonResponse(body, status=503 if down else 200)


def _top(rows: QuerySet) -> Page:
    """The first `HOME_ROWS` rows of a section, with a count that stops at `HOME_COUNT_CAP`."""
    return page_of(rows, HOME_ROWS, 1, cap=HOME_COUNT_CAP)


@require_GET
@access.staff_required
def staff_home(request: access.AuthenticatedRequest) -> HttpResponse:
    """The staff member's institutions, with the top of each section (the latest agreements,
    what expires within 90 days, open and overdue follow-ups, upcoming meetings and
    programmes), each with a count that stays cheap and a link to its whole list. Its cost
    does not grow with a busy unit's records: two queries a section, whatever their number."""
    user = request.user
    today = timezone.localdate()
    institutions = access.own_institutions(user)
    agreements = (
        agreement_access.party_agreements(user)
        .filter(archived_at__isnull=True)
        .with_current_status(today)
        .prefetch_related(Prefetch("parties", queryset=Party.objects.select_related("institution")))
        .order_by("-created_at", "-pk")
    )
    meetings = (
        agreement_access.party_meetings(user)
        .filter(date__gte=today)
        .select_related("agreement", "host")
        .order_by("date", "start_time", "pk")
    )
    programmes = (
        rehabilitation_access.visible_programmes(user)
        .select_related("host", "agreement")
        .order_by("-launch_date", "-pk")
    )
    expiring = agreements.filter(
        status=Agreement.Status.SIGNED,
        end_date__gte=today,
        end_date__lte=today + EXPIRING_WITHIN,
    ).order_by("end_date", "pk")
    return render(
        request,
        "staff/home.html",
        {
            "institutions": institutions,
            "agreements": _top(agreements),
            "meetings": _top(meetings),
            "programmes": _top(programmes),
            "expiring": _top(expiring),
            "expiring_query": f"?expiring=on&days={EXPIRING_WITHIN.days}",
            "follow_ups": _top(open_follow_ups_for(user)),
            "administered": access.own_institutions(user, access.ADMIN_ROLES),
            "sees_personal_data": access.may_see_personal_data(user),
            "incoming_transfer_requests": rehabilitation_selectors.incoming_transfer_request_count(
                user
            ),
            "today": today,
        },
    )


@require_GET
def bench_trivial(request: HttpRequest) -> HttpResponse:
    """The benchmark's trivial view (mounted only with BENCH_TRIVIAL_VIEW): through every
    middleware, no database, no template."""
    return HttpResponse("ok", content_type="text/plain")
