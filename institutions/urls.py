"""Staff pages of institutions: administrators manage their institution's staff accounts."""

from django.urls import path

from . import views

app_name = "institutions"

urlpatterns = [
    path("staff/institutions/<int:pk>/staff/", views.staff_list, name="staff"),
    path("staff/institutions/<int:pk>/staff/new/", views.staff_create, name="staff_create"),
    path("staff/institutions/<int:pk>/staff/add/", views.member_add, name="member_add"),
    path(
        "staff/institutions/<int:pk>/staff/<int:user_id>/grant/",
        views.role_grant,
        name="role_grant",
    ),
    path(
        "staff/institutions/<int:pk>/staff/<int:user_id>/revoke/",
        views.role_revoke,
        name="role_revoke",
    ),
    path(
        "staff/institutions/<int:pk>/staff/<int:user_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
    path(
        "staff/institutions/<int:pk>/staff/<int:user_id>/password-email/",
        views.password_email,
        name="password_email",
    ),
]
