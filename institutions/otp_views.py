"""The login with its optional second step, and the page where an account enrols a TOTP device.

Login throttling (django-axes) sees both steps: a wrong password and a wrong code each count as
a failed login for the account and the address, and a locked-out account gets no further.
"""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_lockout_response
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from . import otp
from .access import AuthenticatedRequest
from .forms import LoginForm


class LoginView(auth_views.LoginView):
    """Django's login; an account with a confirmed device goes on to the code step instead of
    being logged in."""

    form_class = LoginForm

    def form_valid(self, form) -> HttpResponse:
        user = form.get_user()
        if otp.confirmed_device(user) is None:
            return super().form_valid(form)
        otp.start_pending_login(
            self.request, user=user, backend=user.backend, next_url=self.get_success_url()
        )
        return redirect("login_code")


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
def login_code(request: HttpRequest) -> HttpResponse:
    """The second step of the login: the code from the authenticator app."""
    pending = otp.pending_login(request)
    if pending is None:
        messages.info(request, _("Your login was not completed in time. Please log in again."))
        return redirect(settings.LOGIN_URL)
    credentials = {"username": pending.user.get_username()}
    if settings.AXES_ENABLED and not AxesProxyHandler.is_allowed(request, credentials):
        otp.clear_pending_login(request)
        return get_lockout_response(request, None, credentials)

    form = otp.CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        device = otp.confirmed_device(pending.user)
        if device is None:  # removed by an administrator since the password step
            otp.clear_pending_login(request)
            return redirect(settings.LOGIN_URL)
        if otp.device_verify(device=device, token=form.cleaned_data["otp_token"]):
            otp.clear_pending_login(request)
            auth_login(request, pending.user, backend=pending.backend)
            otp_login(request, device)
            # Already checked to be a local URL; redirect() would take a bare word for a view name.
            return HttpResponseRedirect(pending.next_url)
        form.add_error("otp_token", otp.wrong_code_message(device))
        # Counted by django-axes like a wrong password; on the last allowed failure its
        # middleware answers with the lockout page instead of this one.
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
    return render(request, "institutions/otp/login_code.html", {"form": form})


def _next_url(request: HttpRequest) -> str:
    """Where to go after verification: a safe `next` parameter, else the empty string."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


@sensitive_post_parameters("otp_token")
@login_required
@never_cache
def two_factor(request: AuthenticatedRequest) -> HttpResponse:
    """Two-factor authentication for the logged-in account: enrol an authenticator app (QR code
    and secret, confirmed with a code), or verify this session with a code."""
    user = request.user
    next_url = _next_url(request)
    device = otp.confirmed_device(user)
    verified = bool(device and otp.is_verified(user))
    if verified:
        return render(
            request, "institutions/otp/two_factor.html", {"device": device, "verified": True}
        )

    enrolling = device is None
    if enrolling:
        device = otp.enrolment_device(user=user)
    form = otp.CodeForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        token = form.cleaned_data["otp_token"]
        if enrolling:
            accepted = otp.device_confirm(device=device, token=token)
        else:
            accepted = otp.device_verify(device=device, token=token)
        if accepted:
            otp_login(request, device)
            messages.success(
                request,
                _("Two-factor authentication is on for your account.")
                if enrolling
                else _("This session is verified."),
            )
            return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))
        form.add_error("otp_token", otp.wrong_code_message(device))

    context = {"form": form, "device": device, "enrolling": enrolling, "next": next_url}
    if enrolling:
        context |= {"qr": otp.qr_data_uri(device), "secret": otp.secret_text(device)}
    return render(request, "institutions/otp/two_factor.html", context)
