"""Request middleware of the project, and the hooks it gives django-axes (client address,
lockout answer)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _


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


class AdminTwoFactorMiddleware:
    """With ADMIN_REQUIRE_2FA on, the Django admin only opens to sessions verified with a code.

    A staff account whose session is not verified is sent to the two-factor page, which asks
    for a code (or, without a device yet, to enrol one) and then returns to the admin page.
    Needs django-otp's OTPMiddleware before it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.ADMIN_REQUIRE_2FA and self._needs_verification(request):
            messages.info(
                request,
                _("The administration needs two-factor authentication: enter a code first."),
            )
            target = reverse("two_factor")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _needs_verification(request: HttpRequest) -> bool:
        if not request.path.startswith(reverse("admin:index")):
            return False
        if request.path in (reverse("admin:logout"), reverse("admin:login")):
            return False
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return False
        is_verified = getattr(user, "is_verified", None)
        return not (is_verified and is_verified())
