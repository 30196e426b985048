"""Admin for rehabilitation programmes, participants and enrolments.

Participants and enrolments are specific personal data (UU PDP 27/2022): their querysets and the
participants offered in forms go through `visible_to(user)`, as everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Enrolment, Participant, Programme


class VisibleParticipantsMixin:
    """Offer in the `participant` field only the participants the user may see."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "participant":
            kwargs["queryset"] = Participant.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class EnrolmentInline(VisibleParticipantsMixin, admin.TabularInline):
    """Enrolments, on the participant (their programmes) and on the programme (its participants)."""

    model = Enrolment
    fields = ["participant", "programme", "status", "start_date", "end_date"]
    autocomplete_fields = ["participant", "programme"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return (
            super()
            .get_queryset(request)
            .visible_to(request.user)
            .select_related("participant", "programme")
        )


@admin.register(Programme)
class ProgrammeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "host",
        "partners_display",
        "agreement",
        "launch_date",
        "capacity",
        "enrolment_count",
    ]
    list_filter = ["kind", "host__kind"]
    list_select_related = ["host", "agreement"]
    date_hierarchy = "launch_date"
    search_fields = ["name", "host__name", "host__short_name", "agreement__title"]
    autocomplete_fields = ["host", "partners", "agreement", "launch_event"]
    inlines = [EnrolmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Programme]:
        return (
            super()
            .get_queryset(request)
            .annotate(enrolment_count=Count("enrolments"))
            .prefetch_related("partners")
        )

    @admin.display(description=_("partner institutions"))
    def partners_display(self, obj: Programme) -> str:
        return ", ".join(partner.display_name for partner in obj.partners.all())

    @admin.display(description=_("enrolments"), ordering="enrolment_count")
    def enrolment_count(self, obj: Programme) -> int:
        return obj.enrolment_count


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    """Detainees and prisoners in rehabilitation.

    This is specific personal data under UU PDP 27/2022 (health and criminal records, and
    children's data for LPKA): the list shows only what identifies a person, the queryset is
    limited to what the user may see, and there is no bulk delete — a participant is removed
    one at a time, deliberately.
    """

    list_display = ["register_number", "full_name", "institution", "status"]
    list_filter = ["status", "institution__kind"]
    list_select_related = ["institution"]
    search_fields = ["register_number", "full_name"]
    autocomplete_fields = ["institution"]
    readonly_fields = ["created_at"]
    inlines = [EnrolmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        return super().get_queryset(request).visible_to(request.user)

    def get_actions(
        self,
        request: HttpRequest,
        action_location: admin.ActionLocation = admin.ActionLocation.CHANGE_LIST,
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Enrolment)
class EnrolmentAdmin(VisibleParticipantsMixin, admin.ModelAdmin):
    list_display = ["participant", "programme", "status", "start_date", "end_date"]
    list_filter = ["status", "programme__kind"]
    list_select_related = ["participant", "programme"]
    date_hierarchy = "start_date"
    search_fields = ["participant__register_number", "participant__full_name", "programme__name"]
    autocomplete_fields = ["participant", "programme"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return super().get_queryset(request).visible_to(request.user)
