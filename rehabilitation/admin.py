"""Admin for rehabilitation programmes, participants and enrolments.

Participants and enrolments are specific personal data (UU PDP 27/2022): their querysets and the
records offered in forms go through `rehabilitation.access` (`visible_participants`,
`visible_enrolments`, `visible_programmes`, `admin_choices`), as everywhere else, so that a staff
account that is not a superuser sees only its institutions' records. Every change made here is
written to the history (`institutions.history_admin.HistoryAdminMixin`) in the shape the
services write it, and the archive and restore of a participant go through the services. A
participant with enrolments is never deleted: the record is archived.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from institutions import history_display
from institutions.history_admin import HistoryAdminMixin
from institutions.models import Institution

from . import access
from .models import (
    AccessLog,
    Assessment,
    Attendance,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    InstrumentScore,
    Participant,
    Phase,
    Programme,
    ProgressNote,
    Screening,
    ScreeningScore,
    Session,
    Transfer,
    TransferRequest,
)
from .services import participants as participant_services
from .services import programmes as programme_services
from .services.audit import record_access


class VisibleParticipantsMixin:
    """Offer in the forms only what the user may see (`access.admin_choices`): participants,
    programmes of their institutions, and (for non-superusers) their own institutions and
    agreements."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        model = Participant if db_field.name == "participant" else db_field.related_model
        choices = access.admin_choices(request.user, model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# The names of the values a history entry holds besides the record's own fields, wherever a
# history is shown.
history_display.name_rows(phases=_("phases"), scores=_("ASSIST scores"))
# Participants and enrolments are named in a history only where the page shows them already.
history_display.keep_private(Participant, Enrolment)


def _programme_rows(programme: Programme) -> dict[str, list[str]]:
    """The phases of a programme, as its history records them (see `phases_replace`)."""
    return {"phases": programme_services.phase_summary(programme.phases.all())}


class EnrolmentInline(VisibleParticipantsMixin, admin.TabularInline):
    """Enrolments, on the participant (their programmes) and on the programme (its participants)."""

    model = Enrolment
    fields = ["participant", "programme", "status", "start_date", "end_date"]
    autocomplete_fields = ["participant", "programme"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        visible = access.visible_enrolments(request.user, super().get_queryset(request))
        return visible.select_related("participant", "programme")


class PhaseInline(admin.TabularInline):
    model = Phase
    fields = ["order", "name", "planned_weeks"]
    extra = 0


class TransferInline(admin.TabularInline):
    model = Transfer
    fields = ["date", "from_institution", "to_institution", "reason", "recorded_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Programme)
class ProgrammeAdmin(HistoryAdminMixin, VisibleParticipantsMixin, admin.ModelAdmin):
    """Programmes: seen by the staff of the host and partners; changed (and deleted) only by
    editors and administrators of the host, as on the staff pages."""

    history_rows = staticmethod(_programme_rows)

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
    inlines = [PhaseInline, EnrolmentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Programme]:
        return (
            super()
            .get_queryset(request)
            .filter(pk__in=access.visible_programmes(request.user).values("pk"))
            .annotate(enrolment_count=Count("enrolments"))
            .prefetch_related("partners")
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not access.may_manage_programme(request.user, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and not access.may_manage_programme(request.user, obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description=_("partner institutions"))
    def partners_display(self, obj: Programme) -> str:
        return ", ".join(partner.display_name for partner in obj.partners.all())

    @admin.display(description=_("enrolments"), ordering="enrolment_count")
    def enrolment_count(self, obj: Programme) -> int:
        return obj.enrolment_count


class ArchivedFilter(admin.SimpleListFilter):
    title = _("archived")
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("no", _("Not archived")), ("yes", _("Archived"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("no", "yes"):
            return queryset.filter(archived_at__isnull=self.value() == "no")
        return queryset


@admin.register(Participant)
class ParticipantAdmin(HistoryAdminMixin, admin.ModelAdmin):
    """Detainees and prisoners in rehabilitation.

    This is specific personal data under UU PDP 27/2022 (health and criminal records, and
    children's data for LPKA): the list shows only what identifies a person, the queryset is
    limited to what the user may see, and there is no bulk delete — a participant is removed
    one at a time, deliberately, and only without enrolments: one with enrolments is archived
    instead (the "Archive" action on their page), and restored the same way.
    """

    list_display = ["register_number", "full_name", "institution", "status", "archived_at"]
    list_filter = ["status", "institution__kind", ArchivedFilter]
    list_select_related = ["institution"]
    search_fields = ["register_number", "full_name"]
    autocomplete_fields = ["institution"]
    readonly_fields = ["created_at", "archived_at"]
    inlines = [EnrolmentInline, TransferInline]
    actions = ["archive", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Participant]:
        return access.visible_participants(request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.related_model is Institution and not access.is_superuser(request.user):
            # A participant is registered by the institution holding them.
            kwargs["queryset"] = access.own_institutions(request.user, access.PERSONAL_DATA_ROLES)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is not None and obj.enrolments.exists():
            return False
        return super().has_delete_permission(request, obj)

    def _refusal(self) -> str:
        return gettext(
            "A participant with enrolments is never deleted: their programme history is kept. "
            "Archive the record instead."
        )

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        participant = self.get_object(request, object_id)
        if participant is not None and participant.enrolments.exists():
            self.message_user(request, self._refusal(), messages.ERROR)
            return redirect(
                reverse("admin:rehabilitation_participant_change", args=[participant.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        if queryset.filter(enrolments__isnull=False).exists():
            raise PermissionDenied(self._refusal())
        super().delete_queryset(request, queryset)

    def _set_archived(self, request: HttpRequest, queryset, *, archive: bool) -> None:
        change = (
            participant_services.participant_archive
            if archive
            else participant_services.participant_restore
        )
        for participant in queryset:
            try:
                change(participant=participant, user=request.user)
            except (ValidationError, PermissionDenied) as error:
                refusal = error.messages if isinstance(error, ValidationError) else [str(error)]
                self.message_user(request, f"{participant}: {' '.join(refusal)}", messages.ERROR)
            else:
                done = gettext("Archived.") if archive else gettext("Restored from the archive.")
                self.message_user(request, f"{participant}: {done}", messages.SUCCESS)

    @admin.action(
        description=_("Archive (kept, left out of the lists)"),
        location=admin.ActionLocation.CHANGE_FORM,
    )
    def archive(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        self._set_archived(request, queryset, archive=True)

    @admin.action(
        description=_("Restore from the archive"), location=admin.ActionLocation.CHANGE_FORM
    )
    def restore(self, request: HttpRequest, queryset: QuerySet[Participant]) -> None:
        self._set_archived(request, queryset, archive=False)

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any):
        # Administrators see personal data too; that is written in the access log as well.
        participant = self.get_object(request, object_id)
        if participant is not None:
            action = AccessLog.Action.CHANGE if request.method == "POST" else AccessLog.Action.VIEW
            record_access(user=request.user, participant=participant, action=action, detail="admin")
        return super().change_view(request, object_id, *args, **kwargs)

    def get_actions(
        self,
        request: HttpRequest,
        action_location: admin.ActionLocation = admin.ActionLocation.CHANGE_LIST,
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions


class EnrolmentPhaseInline(admin.TabularInline):
    model = EnrolmentPhase
    fields = ["phase", "start_date", "end_date"]
    extra = 0


class EnrolmentEventInline(admin.TabularInline):
    """The enrolment's moves, as the services recorded them: read-only."""

    model = EnrolmentEvent
    fields = ["date", "from_status", "to_status", "reason", "recorded_by", "recorded_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Enrolment)
class EnrolmentAdmin(HistoryAdminMixin, VisibleParticipantsMixin, admin.ModelAdmin):
    list_display = ["participant", "programme", "status", "start_date", "end_date"]
    list_filter = ["status", "programme__kind"]
    list_select_related = ["participant", "programme"]
    date_hierarchy = "start_date"
    search_fields = ["participant__register_number", "participant__full_name", "programme__name"]
    autocomplete_fields = ["participant", "programme"]
    inlines = [EnrolmentPhaseInline, EnrolmentEventInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return access.visible_enrolments(request.user, super().get_queryset(request))


class VisibleThroughEnrolmentAdmin(HistoryAdminMixin, admin.ModelAdmin):
    """Rows hanging off an enrolment: listed only where the enrolment is visible."""

    enrolment_path = "enrolment"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = access.visible_enrolments(request.user)
        return super().get_queryset(request).filter(**{f"{self.enrolment_path}__in": visible})

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "enrolment":
            kwargs["queryset"] = access.visible_enrolments(request.user).select_related(
                "participant", "programme"
            )
        if db_field.name == "participant":
            kwargs["queryset"] = access.visible_participants(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ScreeningScoreInline(admin.TabularInline):
    model = ScreeningScore
    fields = ["substance", "score", "risk"]
    readonly_fields = ["risk"]
    extra = 0


@admin.register(Screening)
class ScreeningAdmin(VisibleThroughEnrolmentAdmin):
    list_display = ["participant", "date", "enrolment"]
    list_select_related = ["participant", "enrolment__participant", "enrolment__programme"]
    date_hierarchy = "date"
    search_fields = ["participant__register_number", "participant__full_name"]
    inlines = [ScreeningScoreInline]
    raw_id_fields = ["participant", "enrolment", "screened_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Screening]:
        visible = access.visible_participants(request.user)
        return admin.ModelAdmin.get_queryset(self, request).filter(participant__in=visible)


@admin.register(Assessment)
class AssessmentAdmin(VisibleThroughEnrolmentAdmin):
    list_display = ["enrolment", "date", "recommendation"]
    list_filter = ["recommendation"]
    list_select_related = ["enrolment__participant", "enrolment__programme"]
    date_hierarchy = "date"
    raw_id_fields = ["enrolment", "recorded_by"]


@admin.register(ProgressNote)
class ProgressNoteAdmin(VisibleThroughEnrolmentAdmin):
    list_display = ["enrolment", "date", "author"]
    list_select_related = ["enrolment__participant", "enrolment__programme", "author"]
    date_hierarchy = "date"
    raw_id_fields = ["enrolment", "author"]


@admin.register(InstrumentScore)
class InstrumentScoreAdmin(VisibleThroughEnrolmentAdmin):
    list_display = ["enrolment", "instrument", "date", "score"]
    list_filter = ["instrument"]
    list_select_related = ["enrolment__participant", "enrolment__programme"]
    raw_id_fields = ["enrolment"]


class AttendanceInline(admin.TabularInline):
    model = Attendance
    fields = ["enrolment", "status"]
    raw_id_fields = ["enrolment"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attendance]:
        visible = access.visible_enrolments(request.user)
        return super().get_queryset(request).filter(enrolment__in=visible)


@admin.register(Session)
class SessionAdmin(HistoryAdminMixin, VisibleParticipantsMixin, admin.ModelAdmin):
    list_display = ["programme", "date", "topic", "phase", "facilitator"]
    list_select_related = ["programme", "phase"]
    list_filter = ["programme__kind"]
    date_hierarchy = "date"
    search_fields = ["topic", "programme__name", "facilitator"]
    autocomplete_fields = ["programme"]
    inlines = [AttendanceInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Session]:
        return access.visible_sessions(request.user, super().get_queryset(request))


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    """The personal-data access log: written by the system, never edited or deleted."""

    list_display = ["at", "user", "action", "participant", "institution", "detail"]
    list_filter = ["action", "institution"]
    list_select_related = ["user", "participant", "institution"]
    date_hierarchy = "at"
    search_fields = ["user__username", "participant__register_number", "detail"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessLog]:
        # As on the staff pages: an institution's administrators read its access log.
        return access.visible_access_log(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(TransferRequest)
class TransferRequestAdmin(admin.ModelAdmin):
    """Transfer requests, read-only: they change only through the staff pages (accept, refuse,
    cancel). Seen as there (`access.visible_transfer_requests`); the list names no one, and
    opening one is written to the access log."""

    list_display = ["requested_at", "from_institution", "to_institution", "state"]
    list_filter = ["state"]
    list_select_related = ["from_institution", "to_institution"]
    date_hierarchy = "requested_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TransferRequest]:
        return access.visible_transfer_requests(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any):
        transfer_request = self.get_object(request, object_id)
        if transfer_request is not None:
            record_access(
                user=request.user,
                participant=transfer_request.participant,
                action=AccessLog.Action.VIEW,
                detail=f"admin: transfer request {transfer_request.pk}",
            )
        return super().change_view(request, object_id, *args, **kwargs)
