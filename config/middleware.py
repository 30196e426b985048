"""Request middleware of the project, and the hooks it gives django-axes (client address,
lockout answer)."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import math
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.core.signals import got_request_exception
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from config import routers
from config.logging import request_id_var
from institutions import otp
from institutions.files import StorageUnavailable

logger = logging.getLogger(__name__)


class LanguageMiddleware:
    """Indonesian for everyone unless they chose another language with the language menu.

    Django's LocaleMiddleware would follow the browser's Accept-Language, and many office
    computers run English browsers; the product's language is Indonesian, so only an explicit
    choice (the language cookie set by `set_language`) changes it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.languages else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Cookie"])
        return response


def client_ip(request: HttpRequest) -> str | None:
    """The address a request came from, as login throttling counts it.

    REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of the site: each appends
    the address it received the request from to X-Forwarded-For, so the client is the entry
    that many places from the right. Entries further left were written by the client and are
    ignored; a missing or malformed header falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < proxies:
        return remote
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The login page with the lockout message, answered by django-axes during a lockout.

    The same answer for an existing and an unknown account, so it reveals nothing.
    """
    minutes = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60)
    return render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request),
            "locked_out": True,
            "lockout_minutes": minutes,
            "next": request.POST.get("next", request.GET.get("next", "")),
        },
        status=429,
    )


class TwoFactorMiddleware:
    """An account required to use two-factor authentication (`otp.requires_verification`:
    superusers, `is_staff` accounts, personal-data roles, each by a setting; `is_staff`
    accounts in the admin with ADMIN_REQUIRE_2FA) has, until its session is verified with a
    code, no more power than an anonymous visitor, on every page.

    The request is handled as an anonymous visitor's: public pages answer as usual, and what
    an anonymous visitor is refused is refused the same way, except that a redirect to the
    login page becomes one to the two-factor page, which asks for a code (or enrols a device
    first) and then returns to the page. Only the two-factor page, the login steps, the
    logout and the language choice see the real account. Needs django-otp's OTPMiddleware
    before it.
    """

    #: URL names that see the real account of an unverified session.
    OPEN_TO_UNVERIFIED = ("two_factor", "login", "login_code", "logout", "set_language")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or request.path in self._open_paths():
            return self.get_response(request)
        in_admin = request.path.startswith(reverse("admin:index"))
        if not otp.requires_verification(user, in_admin=in_admin) or otp.is_verified(user):
            return self.get_response(request)
        anonymous_user = AnonymousUser()
        request.user = anonymous_user
        # The cache AuthenticationMiddleware reads request.user from.
        request._cached_user = anonymous_user  # type: ignore[attr-defined]

        async def anonymous() -> AnonymousUser:
            return anonymous_user

        request.auser = anonymous
        response = self.get_response(request)
        if response.status_code == 302 and self._is_login_redirect(response["Location"]):
            messages.info(
                request,
                _("The administration needs two-factor authentication: enter a code first.")
                if in_admin
                else _("Your account needs two-factor authentication: enter a code first."),
            )
            target = reverse("two_factor")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return response

    @staticmethod
    def _open_paths() -> frozenset[str]:
        return frozenset(reverse(name) for name in TwoFactorMiddleware.OPEN_TO_UNVERIFIED)

    @staticmethod
    def _is_login_redirect(location: str) -> bool:
        path = location.split("?", 1)[0]
        return path in (reverse("login"), reverse("admin:login"))


def _decodes_cleanly(raw: bytes) -> bool:
    """Whether `raw` is UTF-8 without a NUL character (which PostgreSQL text cannot hold)."""
    if b"\x00" in raw:
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _form_encoded_is_clean(encoded: bytes | str) -> bool:
    """Whether every name and value of a query string or urlencoded body is clean UTF-8."""
    if isinstance(encoded, str):
        encoded = encoded.encode("iso-8859-1", errors="replace")
    return all(
        _decodes_cleanly(unquote_to_bytes(part.replace(b"+", b" ")))
        for pair in re.split(rb"[&;]", encoded)
        for part in pair.split(b"=", 1)
    )


#: The admin's date drill-down (`?<field>__year=`): Django turns only a ValueError of a wrong
#: date into "invalid lookup", and a year too large for the C library is an OverflowError.
_ADMIN_DATE_PARAMETER = re.compile(r"__(year|month|day)$")


class HostileInputMiddleware:
    """A request the database cannot store is refused with 400, before any view reads it.

    Refused: a NUL character or invalid UTF-8 in the path, in any query-string or urlencoded
    form name or value, in a multipart form's values and file names, in a cookie or a header;
    and, in the Django admin, a date drill-down value that is not a small number. Views and
    forms therefore never pass such text to a query (PostgreSQL raises on a NUL, which would be
    a 500), and each view only validates what its values mean.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._is_clean(request):
            raise BadRequest("The request holds text that cannot be stored.")
        return self.get_response(request)

    def _is_clean(self, request: HttpRequest) -> bool:
        try:
            path = get_bytes_from_wsgi(request.META, "PATH_INFO", "/")
        except UnicodeEncodeError:  # a path given as text beyond Latin-1, not as WSGI bytes
            path = request.path.encode()
        if not _decodes_cleanly(path) or "\x00" in request.path:
            return False
        if not _form_encoded_is_clean(request.META.get("QUERY_STRING", "")):
            return False
        for name, value in request.META.items():
            if name.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                return False
        if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
            return False
        if request.path.startswith(reverse("admin:index")) and not self._admin_dates_are_clean(
            request
        ):
            return False
        if request.method in ("POST", "PUT", "PATCH"):
            return self._body_is_clean(request)
        return True

    @staticmethod
    def _admin_dates_are_clean(request: HttpRequest) -> bool:
        return all(
            value.isascii() and value.isdigit() and len(value) <= 4
            for name, values in request.GET.lists()
            if _ADMIN_DATE_PARAMETER.search(name)
            for value in values
        )

    @staticmethod
    def _body_is_clean(request: HttpRequest) -> bool:
        content_type = request.content_type or ""
        if content_type == "application/x-www-form-urlencoded":
            return _form_encoded_is_clean(request.body)
        if content_type == "multipart/form-data":
            for name, values in request.POST.lists():
                if "\x00" in name or any("\x00" in value for value in values):
                    return False
            for name, files in request.FILES.lists():
                if "\x00" in name or any("\x00" in (upload.name or "") for upload in files):
                    return False
        return True


@dataclasses.dataclass
class QueryTally:
    """The SQL queries run inside `counting_queries()`: how many, and their seconds."""

    count: int = 0
    seconds: float = 0.0


@contextlib.contextmanager
def counting_queries() -> Iterator[QueryTally]:
    """Count the SQL queries of every database connection run inside the block (an execute
    wrapper, not `connection.queries`, so DEBUG can stay off)."""
    tally = QueryTally()

    def counted(execute, sql, params, many, context):
        tally.count += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            tally.seconds += time.perf_counter() - started

    with contextlib.ExitStack() as stack:
        for alias in connections:
            stack.enter_context(connections[alias].execute_wrapper(counted))
        yield tally


class QueryCountMiddleware:
    """Says in `X-Query-Count` how many SQL queries answering the request took, and in
    `X-Query-Time` their milliseconds; for `manage.py bench`, mounted outermost only with
    BENCH_QUERY_COUNT. Counted with an execute wrapper, not `connection.queries`, so that
    DEBUG can stay off. A streaming response's queries are counted up to its first byte, and
    the count ends with "+"."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with counting_queries() as tally:
            response = self.get_response(request)
        streaming = getattr(response, "streaming", False)
        response.headers["X-Query-Count"] = f"{tally.count}+" if streaming else str(tally.count)
        response.headers["X-Query-Time"] = f"{tally.seconds * 1000:.1f}"
        return response


class PermissionsPolicyMiddleware:
    """Every response says the site uses no camera, microphone, location, payment, USB and
    other powerful browser features (the `Permissions-Policy` header, see
    settings.PERMISSIONS_POLICY), so injected or framed content cannot ask for them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response


class HealthCheckMiddleware:
    """The health checks (`/healthz`, `/readyz`) are answered here, before the session, the
    user and the rest are set up: they read no session and authenticate nobody, so they answer
    503, not 500, during a database outage even when the request carries a session cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from . import views  # the views import the apps, which are not ready at start-up

        if request.path not in {reverse(name) for name in views.HEALTH_CHECKS}:
            return self.get_response(request)
        match = resolve(request.path_info)
        return match.func(request, *match.args, **match.kwargs)


#: Seconds a client is asked to wait before retrying during a database outage.
OUTAGE_RETRY_AFTER = 30
#: The exceptions that mean the database cannot be reached (as opposed to a wrong query).
# A file store that cannot be reached is an outage too (institutions.files).
OUTAGE_ERRORS = (OperationalError, InterfaceError, StorageUnavailable)
_OUTAGE_MARK = "_database_outage"


def outage_response() -> HttpResponse:
    """The "temporarily unavailable" page, in both languages; it reads nothing from the
    database or the request, and shows no traceback."""
    response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return response


@receiver(got_request_exception, dispatch_uid="config.middleware.mark_outage")
def _mark_outage(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """Notes on the request that an unhandled exception (raised by a middleware, e.g. while
    loading the session) was a database outage, for DatabaseOutageMiddleware."""
    if request is not None and isinstance(sys.exc_info()[1], OUTAGE_ERRORS):
        setattr(request, _OUTAGE_MARK, True)


class DatabaseOutageMiddleware:
    """During a database outage every page answers 503 "temporarily unavailable, try again"
    with `Retry-After`, not a 500: a view's OperationalError or InterfaceError is answered by
    `process_exception`, and one raised by a later middleware (loading the session or the user)
    turns its 500 into the same answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _OUTAGE_MARK, False):
            return outage_response()
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OUTAGE_ERRORS):
            return None
        logger.error(
            "The database or file store is unavailable: %s answered 503",
            request.path,
            exc_info=exception,
        )
        return outage_response()


#: A request id a proxy may pass in (X-Request-ID) and we keep: short, without spaces or quotes.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
request_logger = logging.getLogger("pks.request")


class RequestLogMiddleware:
    """One line per request on the `pks.request` logger (JSON with LOG_FORMAT=json): method,
    path (never the query string, which may hold a searched name), status, duration in ms,
    number of SQL queries, the user's id (or "anonymous") and the request id.

    The request id is the proxy's X-Request-ID when it is a plain token, else a new one; it is
    answered in X-Request-ID and added to every line logged during the request, so an error
    line can be found from the user's report. First in MIDDLEWARE, so it times everything.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            if not request_logger.isEnabledFor(logging.INFO):
                response = self.get_response(request)
            else:
                response = self._timed(request, request_id)
        finally:
            request_id_var.reset(token)
        response.headers.setdefault("X-Request-ID", request_id)
        return response

    def _timed(self, request: HttpRequest, request_id: str) -> HttpResponse:
        started = time.perf_counter()
        with counting_queries() as tally:
            response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        # Only a user the request already loaded: logging must not query (nor fail in an outage).
        user = request.__dict__.get("_cached_user")
        user_id = user.pk if user is not None and user.is_authenticated else "anonymous"
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
                "queries": tally.count,
                "user": user_id,
                "request_id": request_id,
            },
        )
        return response


#: The cookie that sends a browser's reads to the primary for a while after it wrote.
PIN_PRIMARY_COOKIE = "pin_primary"


class ReplicaMiddleware:
    """Reads of the replica pages (settings.REPLICA_VIEWS, GET/HEAD) go to the read replica
    (config.routers), unless the browser wrote something in the last REPLICA_PIN_SECONDS: every
    POST (or other write) answers a short-lived cookie that pins its reads to the primary, so a
    user sees what they just changed even when the replica lags.

    When the replica cannot be reached, the primary answers instead: a page whose query on the
    replica fails for an outage is answered again from the primary, and the replica is left
    alone for REPLICA_RETRY_SECONDS. Without a replica (DATABASE_REPLICA_URL unset) this does
    nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.views = frozenset(settings.REPLICA_VIEWS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.READ_REPLICA is None:
            return self.get_response(request)
        use_replica = (
            request.method in ("GET", "HEAD")
            and PIN_PRIMARY_COOKIE not in request.COOKIES
            and routers.replica_alias() is not None
            and self._is_replica_view(request)
        )
        request._reads_replica = use_replica  # type: ignore[attr-defined]
        with routers.reading_from_replica(use_replica):
            response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD", "OPTIONS", "TRACE")
            and settings.REPLICA_PIN_SECONDS
        ):
            response.set_cookie(
                PIN_PRIMARY_COOKIE,
                "1",
                max_age=settings.REPLICA_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    def _is_replica_view(self, request: HttpRequest) -> bool:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return False
        return match.view_name in self.views

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not getattr(request, "_reads_replica", False) or not isinstance(
            exception, OUTAGE_ERRORS
        ):
            return None
        if replica_answers(str(settings.READ_REPLICA)):
            return None  # the primary failed: DatabaseOutageMiddleware answers
        logger.error("The read replica is unavailable; the primary answers for a while")
        routers.mark_replica_down()
        match = request.resolver_match
        if match is None:
            return None
        with routers.reading_from_replica(False):
            return match.func(request, *match.args, **match.kwargs)


def replica_answers(alias: str) -> bool:
    """Whether the replica answers a query on a fresh connection."""
    connection = connections[alias]
    try:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        with contextlib.suppress(DatabaseError):
            connection.close()
        return False
    routers.mark_replica_up()
    return True
