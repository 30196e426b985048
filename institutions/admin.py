"""Admin for institutions, the people who act for them, staff accounts' memberships, and the
history of every record.

Two things here serve the admins of the apps above as well:

- `HistoryAdminMixin` writes the history (`institutions.history`) of every create, change and
  delete made in the admin, inlines included, as the services do for the staff pages.
- Non-superusers (staff accounts given model permissions) see only their own institutions'
  rows: `own_institution_ids(request)` says which, None meaning everything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import access, history
from .models import History, Institution, Membership, Person, Position

User = get_user_model()
Action = History.Action


# --- history of changes made in the admin ----------------------------------------------------


def history_state(obj: models.Model, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the history keeps of `obj`: its concrete fields (see `history.snapshot`) and its
    many-to-many relations as sorted ids, without the `exclude`d fields (a password hash)."""
    state = history.snapshot(obj)
    for field in obj._meta.many_to_many:
        state[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    for name in exclude:
        state.pop(name, None)
    return state


def _is_versioned(obj: models.Model) -> bool:
    return any(field.name == "version" for field in obj._meta.concrete_fields)


def _differs(before: dict[str, Any], after: dict[str, Any]) -> bool:
    ignored = {*history.IGNORED_FIELDS, "version"}
    return any(before.get(key) != after.get(key) for key in {*before, *after} if key not in ignored)


class HistoryAdminMixin:
    """Record each create, change and delete made through this admin (and its inlines) in the
    history, with the values before (read from the database) and after; a changed record with
    a `version` gets a new one, so that a staff page opened before refuses its stale save."""

    #: Fields kept out of the history (e.g. a password hash).
    history_exclude: tuple[str, ...] = ()

    def _stored_state(self, model: type[models.Model], pk: Any) -> dict[str, Any] | None:
        stored = model._default_manager.filter(pk=pk).first() if pk is not None else None
        return None if stored is None else history_state(stored, self.history_exclude)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        # Kept on the object: the admin instance is shared by every request.
        obj._history_before = self._stored_state(type(obj), obj.pk) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # Recorded here rather than in save_model, so that many-to-many values are saved.
        super().save_related(request, form, formsets, change)
        obj = form.instance
        before = getattr(obj, "_history_before", None)
        after = history_state(obj, self.history_exclude)
        if before is None:
            history.record(obj, user=request.user, action=Action.CREATE, after=after)
            return
        inlines_changed = any(formset.has_changed() for formset in formsets)
        if _is_versioned(obj) and (_differs(before, after) or inlines_changed):
            history.bump_version(obj)
            after["version"] = obj.version
        history.record(obj, user=request.user, action=Action.CHANGE, before=before, after=after)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        model = formset.model
        pks = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
        stored = {obj.pk: obj for obj in model._default_manager.filter(pk__in=pks)}
        before = {pk: history_state(obj) for pk, obj in stored.items()}
        for deleted in formset.deleted_forms:
            if deleted.instance.pk in stored:
                # Written before the delete, while the record still has its id.
                history.record(
                    stored[deleted.instance.pk],
                    user=request.user,
                    action=Action.DELETE,
                    before=before[deleted.instance.pk],
                )
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            history.record(obj, user=request.user, action=Action.CREATE, after=history_state(obj))
        for obj, _fields in formset.changed_objects:
            if _is_versioned(obj):
                history.bump_version(obj)
            history.record(
                obj,
                user=request.user,
                action=Action.CHANGE,
                before=before.get(obj.pk, {}),
                after=history_state(obj),
            )

    def delete_model(self, request: HttpRequest, obj) -> None:
        history.record(
            obj,
            user=request.user,
            action=Action.DELETE,
            before=history_state(obj, self.history_exclude),
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            history.record(
                obj,
                user=request.user,
                action=Action.DELETE,
                before=history_state(obj, self.history_exclude),
            )
        super().delete_queryset(request, queryset)


# --- what non-superusers see ---------------------------------------------------------------


def own_institution_ids(request: HttpRequest) -> frozenset[int] | None:
    """The institutions whose rows the admin shows the user: None (all) for superusers, else
    those where the user holds a role (`institutions.access.scope_institution_ids`)."""
    return access.scope_institution_ids(request.user)


class InstitutionScopedAdmin(HistoryAdminMixin, admin.ModelAdmin):
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


class MembershipInline(OwnInstitutionsInline, admin.TabularInline):
    """Roles of staff accounts; shown on the institution (accounts) and on the user (institutions).

    The foreign key to the page's own object is left out of the form by Django, so the one class
    serves both pages.
    """

    model = Membership
    fields = ["user", "institution", "role"]
    autocomplete_fields = ["user", "institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "institution")


class PositionInline(OwnInstitutionsInline, admin.TabularInline):
    model = Position
    fields = ["institution", "title", "start_date", "end_date"]
    autocomplete_fields = ["institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Position]:
        return super().get_queryset(request).select_related("institution")


@admin.register(Institution)
class InstitutionAdmin(InstitutionScopedAdmin):
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
class MembershipAdmin(InstitutionScopedAdmin):
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


# Django's own user admin, with the account's institution roles on the same page.
admin.site.unregister(User)


@admin.register(User)
class UserAdmin(InstitutionScopedAdmin, BaseUserAdmin):
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


@admin.register(History)
class HistoryAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


# --- the admins of the login and two-factor apps --------------------------------------------


def _superusers_only(model: type[models.Model]) -> None:
    """Re-register `model`'s admin so that only superusers see its rows (login attempts and
    two-factor devices of every account are nobody else's business)."""
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
    ):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        if admin.site.is_registered(model):
            _superusers_only(model)


_scope_login_and_device_admins()
