"""Admin for institutions, the people who act for them, staff accounts' memberships, and the
history of every record.

The history of every change made in any admin is written by `history_admin.HistoryAdminMixin`.
Non-superusers (staff accounts given model permissions) see only their own institutions'
rows: `own_institution_ids(request)` says which, None meaning everything.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import access
from . import services as staff_services
from .history_admin import HistoryAdminMixin
from .models import History, Institution, Membership, Person, Position
from .pagination import CappedPaginator

User = get_user_model()
Action = History.Action


# --- long lists ----------------------------------------------------------------------------


class CappedAdminPaginator(CappedPaginator):
    """The admin's paginator (it passes `orphans` and `allow_empty_first_page` by position),
    counting at most `COUNT_CAP` rows: "page 3 of more than 500"."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> None:
        super().__init__(
            object_list, per_page, orphans=orphans, allow_empty_first_page=allow_empty_first_page
        )


class LongListAdminMixin:
    """A change list whose cost does not grow with the table: a capped count, and no second
    count of the unfiltered table ("12 results (20,000 total)")."""

    paginator = CappedAdminPaginator
    show_full_result_count = False


# --- what non-superusers see ---------------------------------------------------------------


def own_institution_ids(request: HttpRequest) -> frozenset[int] | None:
    """The institutions whose rows the admin shows the user: None (all) for superusers, else
    those where the user holds a role (`institutions.access.scope_institution_ids`)."""
    return access.scope_institution_ids(request.user)


class OwnInstitutionsAdmin(LongListAdminMixin, admin.ModelAdmin):
    """An admin whose rows belong to institutions: a non-superuser sees (and may pick in
    forms) only their own institutions' rows. `institution_path` leads from the row to the
    institution's id."""

    institution_path = "institution"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = own_institution_ids(request)
        if ids is None:
            return queryset
        own = self.model._default_manager.filter(**{f"{self.institution_path}__in": ids})
        return queryset.filter(pk__in=own.values("pk"))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        ids = own_institution_ids(request)
        if ids is not None and db_field.related_model is Institution:
            kwargs["queryset"] = Institution.objects.filter(pk__in=ids)
        elif ids is not None and db_field.related_model is User:
            kwargs["queryset"] = User.objects.filter(
                pk__in=Membership.objects.filter(institution_id__in=ids).values("user_id")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class InstitutionScopedAdmin(HistoryAdminMixin, OwnInstitutionsAdmin):
    """As `OwnInstitutionsAdmin`, with every change written to the history."""


class OwnInstitutionsInline:
    """An inline whose rows belong to an institution: a non-superuser sees only their own."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        ids = own_institution_ids(request)
        return queryset if ids is None else queryset.filter(institution_id__in=ids)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        ids = own_institution_ids(request)
        if ids is not None and db_field.related_model is Institution:
            kwargs["queryset"] = Institution.objects.filter(pk__in=ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- memberships: granted as on the staff pages ---------------------------------------------


def administered_ids(request: HttpRequest) -> frozenset[int] | None:
    """The institutions where the user may grant and take away roles, as on the staff pages:
    None (all) for superusers, else those where the user is administrator."""
    return access.scope_institution_ids(request.user, access.ADMIN_ROLES)


def _administers(request: HttpRequest, institution_id: int | None) -> bool:
    ids = administered_ids(request)
    return ids is None or (institution_id is not None and institution_id in ids)


def _membership_problem(
    request: HttpRequest, membership: Membership, original: Membership | None
) -> str | None:
    """Why the staff pages would refuse this grant (or change) of a role, if they would."""
    refused = gettext("Only an administrator of the institution manages its staff.")
    if original is not None and not _administers(request, original.institution_id):
        return refused
    if not _administers(request, membership.institution_id):
        return refused
    if membership.user_id is not None and not membership.user.is_active:
        return gettext("This account is inactive. Ask a system administrator to reactivate it.")
    if original is not None and original.role == Membership.Role.ADMIN:
        try:
            staff_services._ensure_another_admin(original.institution, original.user)
        except ValidationError as error:
            return " ".join(error.messages)
    return None


def _unchanged(membership: Membership, original: Membership) -> bool:
    return (membership.user_id, membership.institution_id, membership.role) == (
        original.user_id,
        original.institution_id,
        original.role,
    )


def membership_save(request: HttpRequest, membership: Membership) -> Membership:
    """Grant (or change) a role through the staff services, which check and record it; a
    changed role is the old one revoked and the new one granted, as on the staff pages."""
    original = Membership.objects.filter(pk=membership.pk).first() if membership.pk else None
    if original is not None:
        if _unchanged(membership, original):
            return original
        membership_delete(request, original)
    return staff_services.role_grant(
        actor=request.user,
        institution=membership.institution,
        user=membership.user,
        role=membership.role,
    )


def membership_delete(request: HttpRequest, membership: Membership) -> None:
    """Take a role away through the staff services (the last administrator stays)."""
    try:
        staff_services.role_revoke(
            actor=request.user,
            institution=membership.institution,
            user=membership.user,
            role=membership.role,
        )
    except ValidationError as error:
        raise PermissionDenied(" ".join(error.messages)) from error


class MembershipForm(forms.ModelForm):
    """Refuses what the staff pages would refuse: a role at an institution the user does not
    administer, an inactive account, the last administrator's role."""

    request: HttpRequest  # set by the admin that makes the form

    class Meta:
        model = Membership
        fields = ["user", "institution", "role"]

    def clean(self):
        cleaned = super().clean()
        original = Membership.objects.filter(pk=self.instance.pk).first()
        if self.instance.pk and self.cleaned_data.get("DELETE"):
            if not _administers(self.request, original.institution_id):
                raise ValidationError(
                    gettext("Only an administrator of the institution manages its staff.")
                )
            return cleaned
        if not self.has_changed() or self.errors:
            return cleaned
        membership = self.instance
        for name in ("user", "institution", "role"):
            if name in cleaned:
                setattr(membership, name, cleaned[name])
        if problem := _membership_problem(self.request, membership, original):
            raise ValidationError(problem)
        return cleaned


class MembershipInline(OwnInstitutionsInline, admin.TabularInline):
    """Roles of staff accounts; shown on the institution (accounts) and on the user (institutions).

    The foreign key to the page's own object is left out of the form by Django, so the one class
    serves both pages. Roles are granted and taken away through the staff services
    (`MembershipsThroughServices`), by administrators of the institution only.
    """

    model = Membership
    form = MembershipForm
    fields = ["user", "institution", "role"]
    autocomplete_fields = ["user", "institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "institution")

    def get_formset(self, request: HttpRequest, obj=None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type(formset.form.__name__, (formset.form,), {"request": request})
        return formset

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        ids = administered_ids(request)
        if ids is not None and db_field.related_model is Institution:
            field.queryset = field.queryset.filter(pk__in=ids)
        return field

    def _may_grant(self, request: HttpRequest, obj) -> bool:
        if isinstance(obj, Institution):
            return _administers(request, obj.pk)
        return administered_ids(request) != frozenset()

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_grant(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_grant(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_grant(request, obj) and super().has_delete_permission(request, obj)


class MembershipsThroughServices:
    """For the admins with a `MembershipInline`: its rows are saved through the staff services
    (which write their history), never directly."""

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        saved = formset.save(commit=False)
        for membership in formset.deleted_objects:
            membership_delete(request, membership)
        for membership in saved:
            membership_save(request, membership)


class PositionInline(OwnInstitutionsInline, admin.TabularInline):
    model = Position
    fields = ["institution", "title", "start_date", "end_date"]
    autocomplete_fields = ["institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Position]:
        return super().get_queryset(request).select_related("institution")


@admin.register(Institution)
class InstitutionAdmin(MembershipsThroughServices, InstitutionScopedAdmin):
    list_display = ["name", "short_name", "kind", "grade", "regency", "province"]
    list_filter = ["kind", "grade", "province"]
    search_fields = ["name", "short_name", "regency", "province"]
    fieldsets = [
        (None, {"fields": ["kind", "grade", "name", "short_name"]}),
        (
            _("Location and contact"),
            {"fields": ["regency", "province", "address", "phone", "email", "website"]},
        ),
    ]
    inlines = [MembershipInline]
    institution_path = "pk"


@admin.register(Person)
class PersonAdmin(InstitutionScopedAdmin):
    """People who act for institutions; a non-superuser sees those with a position at one of
    their institutions."""

    list_display = ["full_name", "nip", "current_positions_display", "email", "phone"]
    search_fields = ["full_name", "nip", "email"]
    inlines = [PositionInline]
    institution_path = "positions__institution"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        today = timezone.localdate()
        current = (
            Position.objects.filter(Q(start_date__isnull=True) | Q(start_date__lte=today))
            .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
            .select_related("institution")
        )
        return (
            super()
            .get_queryset(request)
            .prefetch_related(Prefetch("positions", queryset=current, to_attr="current_positions"))
        )

    @admin.display(description=_("current positions"))
    def current_positions_display(self, obj: Person) -> str:
        return "; ".join(f"{p.title}, {p.institution}" for p in obj.current_positions)


@admin.register(Position)
class PositionAdmin(InstitutionScopedAdmin):
    list_display = ["person", "title", "institution", "start_date", "end_date"]
    list_filter = ["institution__kind"]
    list_select_related = ["person", "institution"]
    search_fields = ["person__full_name", "person__nip", "title", "institution__name"]
    autocomplete_fields = ["person", "institution"]


@admin.register(Membership)
class MembershipAdmin(OwnInstitutionsAdmin):
    """Roles, granted and taken away through the staff services (which check them and write
    their history): only at institutions the user administers, as on the staff pages."""

    form = MembershipForm
    list_display = ["user", "institution", "role"]
    list_filter = ["role", "institution__kind"]
    list_select_related = ["user", "institution"]
    search_fields = [
        "user__username",
        "user__email",
        "institution__name",
        "institution__short_name",
    ]
    autocomplete_fields = ["user", "institution"]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs: Any):
        made = super().get_form(request, obj, change, **kwargs)
        return type(made.__name__, (made,), {"request": request})

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        ids = administered_ids(request)
        if ids is not None and db_field.related_model is Institution:
            field.queryset = field.queryset.filter(pk__in=ids)
        return field

    def has_add_permission(self, request: HttpRequest) -> bool:
        return administered_ids(request) != frozenset() and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not _administers(request, obj.institution_id):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not _administers(request, obj.institution_id):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        made = membership_save(request, obj)
        obj.pk, obj._state.adding = made.pk, False

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        membership_delete(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        with transaction.atomic():
            for membership in queryset.select_related("user", "institution"):
                membership_delete(request, membership)


# Django's own user admin, with the account's institution roles on the same page.
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(MembershipsThroughServices, InstitutionScopedAdmin, BaseUserAdmin):
    """Accounts; a non-superuser sees the members of their institutions, cannot change a
    superuser's account, and cannot hand out privileges (staff, superuser, permissions)."""

    inlines = [*BaseUserAdmin.inlines, MembershipInline]
    institution_path = "memberships__institution"
    # The password hash stays out of the history; logins are not changes made by anyone.
    history_exclude = ("password", "last_login")

    #: Fields only a superuser changes: with them anyone could make themselves superuser.
    PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not access.is_superuser(request.user):
            readonly += [name for name in self.PRIVILEGES if name not in readonly]
        return readonly

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not access.is_superuser(request.user):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.is_superuser and not access.is_superuser(request.user):
            return False
        return super().has_delete_permission(request, obj)


class ReadOnlyAdminMixin:
    """Records written by the system (history, logs, requests decided on the staff pages):
    read in the admin, never added, edited or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(History)
class HistoryAdmin(ReadOnlyAdminMixin, LongListAdminMixin, admin.ModelAdmin):
    """The history of every record: written by the services and the admin, never by hand.
    Only superusers read it here; others read a record's history on its own page."""

    list_display = ["at", "action", "content_type", "object_repr", "object_id", "user"]
    list_filter = ["action", "content_type"]
    list_select_related = ["content_type", "user"]
    search_fields = ["object_repr", "object_id", "user__username"]
    search_help_text = _("The record's name or id, or the username.")
    date_hierarchy = "at"
    readonly_fields = [
        "at",
        "action",
        "content_type",
        "object_id",
        "object_repr",
        "user",
        "changes",
    ]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[History]:
        queryset = super().get_queryset(request)
        return queryset if access.is_superuser(request.user) else queryset.none()


# --- the admins of the login and two-factor apps --------------------------------------------


def _superusers_only(model: type[models.Model]) -> None:
    """Re-register `model`'s admin so that only superusers see its rows (login attempts,
    two-factor devices of every account and the task queue are nobody else's business)."""
    registered = admin.site.get_model_admin(model)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super(scoped, self).get_queryset(request)
        return queryset if access.is_superuser(request.user) else queryset.none()

    scoped = type(type(registered).__name__, (type(registered),), {"get_queryset": get_queryset})
    admin.site.unregister(model)
    admin.site.register(model, scoped)


def _scope_login_and_device_admins() -> None:
    from django.apps import apps

    for label in (
        "axes.AccessAttempt",
        "axes.AccessLog",
        "axes.AccessFailureLog",
        "otp_totp.TOTPDevice",
        # The task queue's results: agreement ids and the errors of failed tasks.
        "django_tasks_database.DBTaskResult",
    ):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if admin.site.is_registered(model):
            _superusers_only(model)


_scope_login_and_device_admins()
