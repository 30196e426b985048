from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

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
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
