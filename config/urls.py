from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from institutions import otp_views
from institutions.forms import ThrottledPasswordResetForm

from . import views

admin.site.site_header = _("PKS & Rehabilitation administration")
admin.site.site_title = _("PKS administration")

staff_patterns = (
    [path("", views.staff_home, name="home")],
    "staff",
)

urlpatterns = [
    path("", include("agreements.urls")),
    path("", include("agreements.staff_urls")),
    path("staff/", include(staff_patterns)),
    path("", include("rehabilitation.urls")),
    path("", include("institutions.urls")),
    path("accounts/login/", otp_views.LoginView.as_view(), name="login"),
    path("accounts/login/code/", otp_views.login_code, name="login_code"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(
            # At most a few mails per address and per client (institutions.forms).
            form_class=ThrottledPasswordResetForm,
            # Links in the e-mail use the configured address, never the request's Host header
            # (read when the e-mail is written).
            extra_email_context={"site_url": lazy(lambda: settings.SITE_URL, str)()},
        ),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("accounts/two-factor/", otp_views.two_factor, name="two_factor"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    # One login for everyone, with its throttling and second step: not the admin's own.
    path(
        "admin/login/",
        RedirectView.as_view(pattern_name="login", query_string=True),
        name="admin_login",
    ),
    path("admin/", admin.site.urls),
]

if settings.BENCH_TRIVIAL_VIEW:
    # The yardstick of `manage.py bench`: the whole middleware stack and nothing else.
    urlpatterns.append(path("bench/trivial", views.bench_trivial, name="bench_trivial"))
