"""Admin for institutions, the people who act for them, and staff accounts' memberships."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Institution, Membership, Person, Position

User = get_user_model()


class MembershipInline(admin.TabularInline):
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


class PositionInline(admin.TabularInline):
    model = Position
    fields = ["institution", "title", "start_date", "end_date"]
    autocomplete_fields = ["institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Position]:
        return super().get_queryset(request).select_related("institution")


@admin.register(Institution)
class InstitutionAdmin(admin.ModelAdmin):
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


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ["full_name", "nip", "current_positions_display", "email", "phone"]
    search_fields = ["full_name", "nip", "email"]
    inlines = [PositionInline]

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
class PositionAdmin(admin.ModelAdmin):
    list_display = ["person", "title", "institution", "start_date", "end_date"]
    list_filter = ["institution__kind"]
    list_select_related = ["person", "institution"]
    search_fields = ["person__full_name", "person__nip", "title", "institution__name"]
    autocomplete_fields = ["person", "institution"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
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
class UserAdmin(BaseUserAdmin):
    inlines = [*BaseUserAdmin.inlines, MembershipInline]
