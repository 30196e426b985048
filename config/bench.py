"""The benchmark of every page kind: `python manage.py bench` (and `make bench`).

It starts the production server (gunicorn with `config/gunicorn.py`, 4 workers, DEBUG off, a
throwaway SECRET_KEY) on a free port against the database of DATABASE_URL, waits for `/readyz`,
and requests each page kind as the kind of user who uses it, round-robin over the kinds for a
number of rounds, together with a trivial view (`/bench/trivial`, mounted by BENCH_TRIVIAL_VIEW:
the whole middleware stack, no database). Each response carries its SQL query count
(`X-Query-Count`, from `config.middleware.QueryCountMiddleware`, switched on by
BENCH_QUERY_COUNT). Then it measures throughput at 16 and 64 connections on the registry and the
trivial view, optionally does the same on a second database (a tenth of the size) for the growth
of each page, and writes everything as JSON.

Users are logged in without the login form: a session is created directly in the session
store with Django's auth keys, so neither django-axes nor the two-factor step is involved; the
server runs with the two-factor requirements off (their default).

The objects requested are picked from the database: the busiest institution by enrolments, its
staff, a partner institution's staff, the agreement with the most parties, a deep page, a signed
agreement with an issued document and its verification code, the participant with the most
enrolments, and so on; the accounts come from the file `seed_scale` writes when it exists. Where
the database has no draft agreement or calendar feed for the busy unit's staff, one is made
through the services (and kept for the next run).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import http.client
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db.models import Count
from django.http import QueryDict
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from agreements import access as agreement_access
from agreements.filters import filter_agreements
from agreements.models import Agreement, CalendarFeed, IssuedDocument, Meeting
from agreements.services import calendar as calendar_services
from agreements.services import lifecycle
from agreements.views.exports import LIST_PAGE_SIZE
from agreements.views.public import REGISTRY_PAGE_SIZE
from institutions.models import Institution, Membership
from rehabilitation import access as rehabilitation_access
from rehabilitation.models import Enrolment, Participant, Programme

#: Where `seed_scale` writes the accounts to use, and where results go (under BASE_DIR).
ACCOUNTS_FILE = Path("var") / "scale-accounts.json"
RESULTS_DIR = Path("var") / "bench"
WORKERS = 4
READY_TIMEOUT = 120.0
REQUEST_TIMEOUT = 120.0
TRIVIAL = "trivial view"
#: Mounted by BENCH_TRIVIAL_VIEW in the server (config/urls.py), not in this process.
TRIVIAL_PATH = "/bench/trivial"
#: The user kinds a page is requested as.
ANONYMOUS, SUPERUSER, BUSY_STAFF, PARTNER_STAFF = (
    "anonymous",
    "superuser",
    "busy_staff",
    "partner_staff",
)


class BenchError(Exception):
    """The benchmark cannot run (no suitable database, the server did not start, …)."""


@dataclass
class Page:
    """One page kind: what it is called, its path and who requests it."""

    name: str
    path: str
    user: str


@dataclass
class Measured:
    """The requests made to one page kind."""

    name: str
    path: str
    user: str
    times_ms: list[float] = field(default_factory=list)
    first_byte_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    bytes: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for status in self.statuses if status != 200)

    def summary(self, trivial_p50: float | None) -> dict[str, Any]:
        p50 = percentile(self.times_ms, 50)
        return {
            "name": self.name,
            "path": self.path,
            "user": self.user,
            "requests": len(self.statuses),
            "errors": self.errors,
            "statuses": sorted(set(self.statuses)),
            "p50_ms": p50,
            "p95_ms": percentile(self.times_ms, 95),
            "first_byte_p50_ms": percentile(self.first_byte_ms, 50),
            "ratio_to_trivial": p50 / trivial_p50 if trivial_p50 else None,
            "queries": _query_summary(self.queries),
            "query_ms_p50": percentile(self.query_ms, 50),
            "bytes": self.bytes,
        }


def percentile(values: list[float], pct: float) -> float:
    """The `pct`th percentile (nearest rank) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _query_summary(counts: list[str]) -> str:
    """The query counts seen: one value when constant, else the smallest and largest."""

    def order(value: str) -> tuple[int, str]:
        # "?" is a response without the header (the server answered before the middleware).
        digits = value.rstrip("+")
        return (int(digits) if digits.isdigit() else -1, value)

    distinct = sorted(set(counts), key=order)
    if not distinct:
        return "?"
    if len(distinct) == 1:
        return distinct[0]
    return f"{distinct[0]}–{distinct[-1]}"


# --- Accounts and sessions ----------------------------------------------------------------------


@dataclass
class Accounts:
    """The users pages are requested as, and the institutions they stand for."""

    users: dict[str, Any]
    busy_institution: Institution
    partner_institution: Institution | None
    source: str


def _roles_at(institution_id: int) -> dict[int, set[str]]:
    roles: dict[int, set[str]] = {}
    for user_id, role in Membership.objects.filter(
        institution_id=institution_id, user__is_active=True
    ).values_list("user_id", "role"):
        roles.setdefault(user_id, set()).add(role)
    return roles


def _best_staff(institution_id: int, *, not_at: int | None = None) -> Any:
    """The staff member of an institution who sees the most: administrator, programme staff,
    editor, in that order of preference (and not a member of `not_at`)."""
    roles = _roles_at(institution_id)
    if not_at is not None:
        for user_id in _roles_at(not_at):
            roles.pop(user_id, None)
    if not roles:
        return None
    Role = Membership.Role

    def rank(item: tuple[int, set[str]]) -> tuple:
        user_id, held = item
        return (
            Role.ADMIN in held,
            Role.PROGRAMME in held,
            Role.EDITOR in held,
            len(held),
            -user_id,
        )

    user_id = max(roles.items(), key=rank)[0]
    return get_user_model().objects.get(pk=user_id)


def _partner_of(institution: Institution) -> Institution | None:
    """An institution working with `institution`: a partner of its programmes, else a co-party
    of its agreements, with staff of its own."""
    staffed = Membership.objects.filter(user__is_active=True).values("institution_id")
    programmes = Programme.objects.filter(host=institution)
    partner = (
        Institution.objects.filter(partner_programmes__in=programmes, pk__in=staffed)
        .exclude(pk=institution.pk)
        .order_by("pk")
        .first()
    )
    if partner is None:
        partner = (
            Institution.objects.filter(
                parties__agreement__parties__institution=institution, pk__in=staffed
            )
            .exclude(pk=institution.pk)
            .order_by("pk")
            .first()
        )
    return partner


def pick_accounts(accounts_file: Path | None) -> Accounts:
    """The accounts of the accounts file when it exists and names users of this database,
    else users chosen from the database by role."""
    User = get_user_model()
    if accounts_file and accounts_file.exists():
        data = json.loads(accounts_file.read_text(encoding="utf-8"))
        names = {kind: data.get(kind) for kind in (SUPERUSER, BUSY_STAFF, PARTNER_STAFF)}
        found = {user.username: user for user in User.objects.filter(username__in=names.values())}
        busy = Institution.objects.filter(pk=data.get("busy_institution_id")).first()
        if busy is not None and all(name in found for name in names.values() if name):
            return Accounts(
                users={
                    ANONYMOUS: None,
                    **{kind: found[name] for kind, name in names.items() if name},
                },
                busy_institution=busy,
                partner_institution=Institution.objects.filter(
                    pk=data.get("partner_institution_id")
                ).first(),
                source=str(accounts_file),
            )
    busy = (
        Institution.objects.annotate(enrolments=Count("participants__enrolments"))
        .filter(pk__in=Membership.objects.values("institution_id"))
        .order_by("-enrolments", "pk")
        .first()
    )
    if busy is None:
        raise BenchError("The database has no institution with staff: seed it first.")
    superuser = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    busy_staff = _best_staff(busy.pk)
    partner = _partner_of(busy)
    users: dict[str, Any] = {ANONYMOUS: None, SUPERUSER: superuser, BUSY_STAFF: busy_staff}
    if partner is not None:
        users[PARTNER_STAFF] = _best_staff(partner.pk, not_at=busy.pk)
    missing = [kind for kind, user in users.items() if kind != ANONYMOUS and user is None]
    if missing:
        raise BenchError(f"The database has no account for: {', '.join(missing)}.")
    return Accounts(
        users=users, busy_institution=busy, partner_institution=partner, source="database"
    )


def session_cookie(user: Any) -> str:
    """A `Cookie` header value of a new logged-in session of `user`, made directly in the
    session store (no login form: no lockout counting, no two-factor step)."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(24 * 60 * 60)
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


# --- The pages --------------------------------------------------------------------------------


def _last_page(count: int, size: int) -> int:
    return max(1, math.ceil(count / size))


def _search_word(agreement: Agreement | None) -> str:
    """A word of a public agreement's title, for the registry search."""
    words = [word for word in (agreement.title if agreement else "").split() if len(word) > 4]
    return words[len(words) // 2] if words else "Narkotika"


def _draft_for(user: Any, institution: Institution, partner: Institution | None) -> Agreement:
    """A draft agreement of `user`'s institution with the most articles, made if none exists."""
    draft = (
        agreement_access.party_agreements(user)
        .exclude(status__in=Agreement.PUBLIC_STATUSES)
        .annotate(article_count=Count("articles"))
        .order_by("-article_count", "-pk")
        .first()
    )
    if draft is not None:
        return draft
    other = partner or Institution.objects.exclude(pk=institution.pk).order_by("pk").first()
    if other is None:
        raise BenchError("The database needs a second institution for a draft agreement.")
    return lifecycle.agreement_create(
        user=user,
        title="Benchmark draft: PKS P4GN dan Rehabilitasi Narkotika",
        subject="Rancangan untuk pengukuran kinerja",
        institutions=[institution, other],
    )


def _feed_for(user: Any, institution: Institution) -> CalendarFeed:
    feed = CalendarFeed.objects.filter(user=user, institution=institution).first()
    return feed or calendar_services.feed_replace(user=user, institution=institution)


def pick_pages(accounts: Accounts) -> list[Page]:
    """Every page kind, each with an object of the database that its user may see."""
    users = accounts.users
    busy_user, superuser = users[BUSY_STAFF], users[SUPERUSER]
    busy = accounts.busy_institution
    today = timezone.localdate()
    public = Agreement.objects.public()
    widest = public.annotate(party_count=Count("parties")).order_by("-party_count", "-pk").first()
    issued = (
        IssuedDocument.objects.filter(agreement__status__in=Agreement.PUBLIC_STATUSES)
        .order_by("-pk")
        .first()
    )
    staff_agreements = filter_agreements(busy_user, QueryDict())[1]
    staff_agreement = (
        staff_agreements.annotate(party_count=Count("parties"))
        .order_by("-party_count", "-pk")
        .first()
    )
    meeting = (
        agreement_access.party_meetings(busy_user)
        .annotate(attendee_count=Count("attendees"))
        .order_by("-attendee_count", "-pk")
        .first()
    )
    participant = (
        rehabilitation_access.visible_participants(
            busy_user, Participant.objects.filter(institution=busy)
        )
        .annotate(enrolment_count=Count("enrolments"))
        .order_by("-enrolment_count", "-pk")
        .first()
    )
    enrolment = (
        rehabilitation_access.visible_enrolments(busy_user, Enrolment.objects.all())
        .filter(participant=participant)
        .order_by("-pk")
        .first()
    )
    programme = (
        rehabilitation_access.visible_programmes(busy_user, Programme.objects.all())
        .annotate(enrolment_count=Count("enrolments"))
        .order_by("-enrolment_count", "-pk")
        .first()
    )
    missing = [
        name
        for name, found in (
            ("a signed agreement", widest),
            ("an issued document", issued),
            ("an agreement of the busy unit", staff_agreement),
            ("a meeting of the busy unit", meeting),
            ("a participant of the busy unit", participant),
            ("an enrolment of that participant", enrolment),
            ("a programme the busy unit's staff see", programme),
        )
        if found is None
    ]
    if missing:
        raise BenchError(f"The database has no {', no '.join(missing)}: seed it first.")
    assert widest and issued and staff_agreement and meeting and participant  # for mypy
    assert enrolment and programme
    draft = _draft_for(busy_user, busy, accounts.partner_institution)
    feed = _feed_for(busy_user, busy)
    year = today.year
    year_query = urlencode({"start": f"{year}-01-01", "end": f"{year}-12-31"})
    staff_filter = urlencode({"status": Agreement.Status.SIGNED, "year": year})
    registry_last = _last_page(public.count(), REGISTRY_PAGE_SIZE)
    superuser_last = _last_page(
        filter_agreements(superuser, QueryDict())[1].count(), LIST_PAGE_SIZE
    )
    busy_last = _last_page(staff_agreements.count(), LIST_PAGE_SIZE)
    report = reverse("rehabilitation:institution_report", args=[busy.pk])
    pages = [
        Page(TRIVIAL, TRIVIAL_PATH, ANONYMOUS),
        Page("registry, first page", reverse("public:registry"), ANONYMOUS),
        Page(
            f"registry, page {registry_last}",
            f"{reverse('public:registry')}?page={registry_last}",
            ANONYMOUS,
        ),
        Page(
            "registry search",
            f"{reverse('public:registry')}?{urlencode({'q': _search_word(widest)})}",
            ANONYMOUS,
        ),
        Page("agreement (public)", reverse("public:agreement", args=[widest.pk]), ANONYMOUS),
        Page(
            "agreement PDF render (draft)",
            reverse("public:agreement_pdf", args=[draft.pk]),
            BUSY_STAFF,
        ),
        Page(
            "issued PDF download",
            reverse("public:agreement_pdf", args=[issued.agreement_id]),
            ANONYMOUS,
        ),
        Page("verify", reverse("public:verify", args=[issued.verification_code]), ANONYMOUS),
        Page("statistics", reverse("rehabilitation:public_statistics"), ANONYMOUS),
        Page("staff home (busy unit)", reverse("staff:home"), BUSY_STAFF),
        Page(
            "staff agreements, filtered", f"{reverse('agreements:list')}?{staff_filter}", BUSY_STAFF
        ),
        Page(
            f"staff agreements, page {busy_last}",
            f"{reverse('agreements:list')}?page={busy_last}",
            BUSY_STAFF,
        ),
        Page(
            f"staff agreements, page {superuser_last} (superuser)",
            f"{reverse('agreements:list')}?page={superuser_last}",
            SUPERUSER,
        ),
        Page(
            "agreement (staff)", reverse("agreements:detail", args=[staff_agreement.pk]), BUSY_STAFF
        ),
        Page("meeting", reverse("agreements:meeting_detail", args=[meeting.pk]), BUSY_STAFF),
        Page("participants", reverse("rehabilitation:participants"), BUSY_STAFF),
        Page(
            "participant", reverse("rehabilitation:participant", args=[participant.pk]), BUSY_STAFF
        ),
        Page("enrolments (busy unit)", reverse("rehabilitation:enrolments"), BUSY_STAFF),
        Page("enrolments (superuser)", reverse("rehabilitation:enrolments"), SUPERUSER),
        Page("enrolment", reverse("rehabilitation:enrolment", args=[enrolment.pk]), BUSY_STAFF),
        Page("programme", reverse("rehabilitation:programme", args=[programme.pk]), BUSY_STAFF),
        Page(f"institution report {year}", f"{report}?{year_query}", BUSY_STAFF),
        Page(f"institution report {year} XLSX", f"{report}?{year_query}&format=xlsx", BUSY_STAFF),
        Page("agreements export CSV", reverse("agreements:export", args=["csv"]), BUSY_STAFF),
        Page("agreements export XLSX", reverse("agreements:export", args=["xlsx"]), BUSY_STAFF),
        Page(
            "participants export CSV",
            reverse("rehabilitation:participants_export", args=["csv"]),
            BUSY_STAFF,
        ),
        Page(
            "participants export XLSX",
            reverse("rehabilitation:participants_export", args=["xlsx"]),
            BUSY_STAFF,
        ),
        Page("calendar feed", reverse("agreements:calendar_feed", args=[feed.token]), ANONYMOUS),
        Page("admin agreements", reverse("admin:agreements_agreement_changelist"), SUPERUSER),
        Page("admin enrolments", reverse("admin:rehabilitation_enrolment_changelist"), SUPERUSER),
        Page(
            "admin participants", reverse("admin:rehabilitation_participant_changelist"), SUPERUSER
        ),
        Page("admin institutions", reverse("admin:institutions_institution_changelist"), SUPERUSER),
        Page("admin access log", reverse("admin:rehabilitation_accesslog_changelist"), SUPERUSER),
    ]
    if PARTNER_STAFF in users and accounts.partner_institution is not None:
        partner_report = reverse(
            "rehabilitation:institution_report", args=[accounts.partner_institution.pk]
        )
        pages += [
            Page("staff home (partner)", reverse("staff:home"), PARTNER_STAFF),
            Page(f"partner report {year}", f"{partner_report}?{year_query}", PARTNER_STAFF),
        ]
    return pages


# --- The server -------------------------------------------------------------------------------


def database_url() -> str:
    """The URL of this process's default database, for the server to use the same one."""
    db = settings.DATABASES["default"]
    name = str(db.get("NAME") or "")
    if db["ENGINE"].endswith("sqlite3"):
        if name in ("", ":memory:") or name.startswith("file:"):
            raise BenchError("The benchmark cannot share an in-memory SQLite database.")
        return f"sqlite:///{name}"
    if not db["ENGINE"].endswith("postgresql"):
        raise BenchError(f"Unsupported database engine: {db['ENGINE']}.")
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(db.get("HOST") or "")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{quote(host, safe='')}{port}/{quote(name, safe='')}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def production_server(
    *, database_url: str, secret_key: str, log_path: Path, workers: int = WORKERS
) -> Iterator[int]:
    """gunicorn with `config/gunicorn.py` and production-like settings on a free port, up and
    ready (`/readyz` 200) for the duration of the block; yields the port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        # The files this process sees (issued documents) and the static files it collects.
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "STATIC_ROOT": str(settings.STATIC_ROOT),
        "DEBUG": "off",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": os.environ.get("SITE_URL") or f"http://127.0.0.1:{port}",
        # Plain HTTP on the loopback: no redirect to HTTPS.
        "SECURE_SSL_REDIRECT": "off",
        # Sessions are made directly (see session_cookie): no second step is asked for.
        "ADMIN_REQUIRE_2FA": "off",
        "REQUIRE_2FA_SUPERUSERS": "off",
        "REQUIRE_2FA_STAFF": "off",
        "REQUIRE_2FA_PERSONAL_DATA": "off",
        "BENCH_QUERY_COUNT": "on",
        "BENCH_TRIVIAL_VIEW": "on",
        "WEB_CONCURRENCY": str(workers),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    base = Path(settings.BASE_DIR)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=base,
        env=env,
        check=True,
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "config/gunicorn.py",
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(port, server, log_path)
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _wait_ready(port: int, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"The server stopped (exit {server.returncode}); see {log_path}.")
        try:
            status, body = _get(port, "/readyz", timeout=5)[:2]
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise BenchError(f"The server was not ready in {READY_TIMEOUT:.0f} s: {last}; see {log_path}.")


def _get(
    port: int, path: str, cookie: str | None = None, timeout: float = REQUEST_TIMEOUT
) -> tuple[int, bytes, float, float, str, str]:
    """GET `path`: status, body, seconds to the headers and to the whole body, query count,
    query milliseconds."""
    headers = {"Host": "127.0.0.1", "Accept-Language": "id"}
    if cookie:
        headers["Cookie"] = cookie
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        first_byte = time.perf_counter() - started
        body = response.read()
        total = time.perf_counter() - started
        return (
            response.status,
            body,
            first_byte,
            total,
            response.getheader("X-Query-Count", "?"),
            response.getheader("X-Query-Time", ""),
        )
    finally:
        conn.close()


# --- Measuring --------------------------------------------------------------------------------


def measure_pages(
    port: int, pages: list[Page], cookies: dict[str, str | None], *, rounds: int, warmup: int
) -> list[Measured]:
    """Request every page `rounds` times, round-robin over the pages (in alternating order,
    so that a busy moment weighs on all alike), after `warmup` rounds that are not counted."""
    results = [Measured(page.name, page.path, page.user) for page in pages]
    for index in range(warmup + rounds):
        order = list(zip(pages, results, strict=True))
        if index % 2:
            order.reverse()
        for page, measured in order:
            try:
                status, body, first, total, queries, query_ms = _get(
                    port, page.path, cookies[page.user]
                )
            except (OSError, http.client.HTTPException):
                status, body, first, total, queries, query_ms = 599, b"", 0.0, 0.0, "?", ""
            if index < warmup:
                continue
            measured.statuses.append(status)
            measured.times_ms.append(total * 1000)
            measured.first_byte_ms.append(first * 1000)
            measured.queries.append(queries)
            if query_ms:
                measured.query_ms.append(float(query_ms))
            measured.bytes = len(body)
    return results


def throughput(
    port: int, path: str, cookie: str | None, *, connections: int, seconds: float
) -> dict[str, Any]:
    """Requests per second to `path` with `connections` clients each requesting in turn for
    `seconds`, and the errors (anything but 200, or no answer)."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    counts = {"ok": 0, "errors": 0}
    latencies: list[float] = []

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                status, _body, _first, total, _q, _ms = _get(port, path, cookie, timeout=60)
                ok = status == 200
            except (OSError, http.client.HTTPException):
                ok, total = False, 0.0
            with lock:
                counts["ok" if ok else "errors"] += 1
                if ok:
                    latencies.append(total * 1000)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(connections) as pool:
        for future in [pool.submit(client) for _ in range(connections)]:
            future.result()
    elapsed = time.monotonic() - started
    return {
        "path": path,
        "connections": connections,
        "seconds": round(elapsed, 2),
        "requests": counts["ok"] + counts["errors"],
        "errors": counts["errors"],
        "per_second": counts["ok"] / elapsed if elapsed else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def run(
    *,
    database_url: str,
    rounds: int,
    warmup: int,
    connections: tuple[int, ...],
    seconds: float,
    accounts_file: Path | None,
    log_path: Path,
) -> dict[str, Any]:
    """Pick the pages, start the server, measure; the results as a JSON-ready dict."""
    accounts = pick_accounts(accounts_file)
    pages = pick_pages(accounts)
    # A throwaway key, shared with the server: sessions and their auth hashes are signed with it.
    secret_key = secrets.token_urlsafe(50)
    with override_settings(SECRET_KEY=secret_key):
        cookies = {
            kind: (session_cookie(user) if user is not None else None)
            for kind, user in accounts.users.items()
        }
    with production_server(
        database_url=database_url, secret_key=secret_key, log_path=log_path
    ) as port:
        measured = measure_pages(port, pages, cookies, rounds=rounds, warmup=warmup)
        trivial_p50 = percentile(measured[0].times_ms, 50)
        runs = []
        registry = next(page for page in pages if page.name == "registry, first page")
        for count in connections:
            for page in (registry, pages[0]):
                runs.append(
                    {
                        "name": page.name,
                        **throughput(
                            port, page.path, cookies[page.user], connections=count, seconds=seconds
                        ),
                    }
                )
    return {
        "started": timezone.now().isoformat(),
        "database": _describe_database(),
        "accounts": {
            "source": accounts.source,
            **{
                kind: user.get_username()
                for kind, user in accounts.users.items()
                if user is not None
            },
            "busy_institution": f"{accounts.busy_institution.pk} {accounts.busy_institution}",
            "partner_institution": (
                f"{accounts.partner_institution.pk} {accounts.partner_institution}"
                if accounts.partner_institution
                else None
            ),
        },
        "rounds": rounds,
        "workers": WORKERS,
        "load_average": list(os.getloadavg()),
        "pages": [item.summary(trivial_p50) for item in measured],
        "throughput": runs,
    }


def _describe_database() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    return {
        "vendor": db["ENGINE"].rsplit(".", 1)[-1],
        "name": str(db.get("NAME")),
        "agreements": Agreement.objects.count(),
        "participants": Participant.objects.count(),
        "enrolments": Enrolment.objects.count(),
        "meetings": Meeting.objects.count(),
        "institutions": Institution.objects.count(),
    }


def add_growth(results: dict[str, Any], smaller: dict[str, Any]) -> None:
    """Each page's growth from the smaller database: its p50 here over its p50 there, raw and
    as multiples of each run's trivial view (the fairer one on a shared machine)."""
    by_kind = {_kind(page["name"]): page for page in smaller["pages"]}
    for page in results["pages"]:
        other = by_kind.get(_kind(page["name"]))
        if not other or not other["p50_ms"]:
            page["growth"] = page["growth_vs_trivial"] = None
            continue
        page["growth"] = page["p50_ms"] / other["p50_ms"]
        page["growth_vs_trivial"] = (
            page["ratio_to_trivial"] / other["ratio_to_trivial"]
            if page["ratio_to_trivial"] and other["ratio_to_trivial"]
            else None
        )
    results["compare"] = {"database": smaller["database"], "pages": smaller["pages"]}


def _kind(name: str) -> str:
    """A page's name without its page number, so that deep pages of two sizes match."""
    return " ".join(word for word in name.split() if not word.isdigit())


def report_lines(results: dict[str, Any]) -> list[str]:
    """The results as a table, then the throughput."""
    database = results["database"]
    growth = "compare" in results
    lines = [
        f"Database: {database['vendor']} {database['name']}: {database['institutions']} "
        f"institutions, {database['agreements']} agreements, {database['meetings']} meetings, "
        f"{database['participants']} participants, {database['enrolments']} enrolments",
        f"Accounts from {results['accounts']['source']}: "
        + ", ".join(
            f"{kind} {results['accounts'][kind]}"
            for kind in (SUPERUSER, BUSY_STAFF, PARTNER_STAFF)
            if kind in results["accounts"]
        ),
        f"Busy unit: {results['accounts']['busy_institution']}",
        f"gunicorn {results['workers']} workers, {results['rounds']} rounds; load average "
        + " ".join(f"{value:.2f}" for value in results["load_average"]),
        "",
        f"{'page':<44} {'user':<13} {'status':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'1st B':>7} {'×triv':>7} {'queries':>8}"
        + (f" {'growth':>7} {'g/triv':>7}" if growth else ""),
    ]
    for page in results["pages"]:
        status = "ok" if not page["errors"] else "ERR " + "/".join(map(str, page["statuses"]))
        ratio = f"{page['ratio_to_trivial']:.1f}" if page["ratio_to_trivial"] else "-"
        line = (
            f"{page['name'][:44]:<44} {page['user']:<13} {status:>7} {page['p50_ms']:8.1f} "
            f"{page['p95_ms']:8.1f} {page['first_byte_p50_ms']:7.1f} {ratio:>7} "
            f"{page['queries']:>8}"
        )
        if growth:
            line += " " + " ".join(
                f"{page[key]:7.2f}" if page.get(key) else f"{'-':>7}"
                for key in ("growth", "growth_vs_trivial")
            )
        lines.append(line)
    lines += [
        "",
        f"{'throughput':<44} {'conns':>5} {'req/s':>8} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8}",
    ]
    trivial_rates = {
        run["connections"]: run["per_second"]
        for run in results["throughput"]
        if run["name"] == TRIVIAL
    }
    for run in results["throughput"]:
        share = ""
        if run["name"] != TRIVIAL and trivial_rates.get(run["connections"]):
            share = f"  ({run['per_second'] / trivial_rates[run['connections']]:.0%} of trivial)"
        lines.append(
            f"{run['name']:<44} {run['connections']:>5} {run['per_second']:8.1f} "
            f"{run['errors']:>7} {run['p50_ms']:8.1f} {run['p95_ms']:8.1f}{share}"
        )
    errors = [page["name"] for page in results["pages"] if page["errors"]]
    errors += [
        f"{run['name']} at {run['connections']}" for run in results["throughput"] if run["errors"]
    ]
    lines += ["", f"ERRORS: {', '.join(errors)}" if errors else "No errors."]
    return lines


def write_results(results: dict[str, Any], directory: Path | None = None) -> Path:
    """The results as `var/bench/results-<timestamp>.json`; returns its path."""
    directory = directory or Path(settings.BASE_DIR) / RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"results-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return path
