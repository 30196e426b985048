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
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from institutions import history_display
from institutions.admin import LongListAdminMixin, ReadOnlyAdminMixin
from institutions.history_admin import HistoryAdminMixin
from institutions.models import Institution

from . import access
from .models import (
    AccessLog,
    AccessLogRecord,
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
from .services.audit import record_one, record_read, search_terms


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


class AccessLoggedAdminMixin:
    """Every read of personal data in the admin writes the access log, as the staff pages do:
    the change list one line for the page shown (the participants of its rows), the change,
    history and delete pages one for the record (and the participants of its inlines). A
    search is logged as a keyed hash of its words (`audit.search_terms`), never the words.

    `access_log_path` is the lookup from the model to the participant its rows show ("" for a
    participant itself; None when the change list shows no personal data). A page whose inlines
    show participants overrides `access_log_change_records`.
    """

    access_log_path: str | None = "participant"

    def _lookups(self) -> tuple[str, str]:
        path = self.access_log_path
        prefix = f"{path}__" if path else ""
        return f"{prefix}pk", f"{prefix}institution_id"

    def access_log_list_records(self, request: HttpRequest, rows: list) -> list[tuple[int, int]]:
        """(participant id, institution id) of the participants the change list's rows show."""
        if self.access_log_path is None or not rows:
            return []
        return list(
            self.model._default_manager.filter(pk__in=[row.pk for row in rows])
            .exclude(**{self._lookups()[0]: None})
            .values_list(*self._lookups())
        )

    def access_log_change_records(self, request: HttpRequest, obj) -> list[tuple[int, int]]:
        """(participant id, institution id) of the participants the record's page shows."""
        if self.access_log_path is None:
            return []
        return self.access_log_list_records(request, [obj])

    def _log_read(
        self, request: HttpRequest, records, *, detail: str, one_record: bool = False
    ) -> None:
        action = AccessLog.Action.CHANGE if request.method == "POST" else AccessLog.Action.VIEW
        records = list(records)
        if one_record and len(records) == 1:
            # One record's page names it on the line, as a participant's staff page does.
            [(participant_id, institution_id)] = records
            record_one(
                user=request.user,
                participant_id=participant_id,
                institution_id=institution_id,
                action=action,
                detail=f"admin {self.opts.model_name} {detail}",
                path=request.path,
            )
            return
        record_read(
            user=request.user,
            records=records,
            action=action,
            detail=f"admin {self.opts.model_name} {detail}",
            path=request.path,
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            detail = "list"
            if changelist.query:
                detail = f"list, {search_terms(changelist.query)}"
            rows = list(changelist.result_list)
            self._log_read(request, self.access_log_list_records(request, rows), detail=detail)
        return response

    def _log_record(self, request: HttpRequest, object_id: str, detail: str) -> None:
        obj = self.get_object(request, object_id)
        if obj is not None:
            records = self.access_log_change_records(request, obj)
            self._log_read(request, records, detail=detail, one_record=True)

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any):
        self._log_record(request, object_id, "record")
        return super().change_view(request, object_id, *args, **kwargs)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._log_record(request, object_id, "history")
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._log_record(request, object_id, "delete")
        return super().delete_view(request, object_id, extra_context)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term and request.path == reverse("admin:autocomplete"):
            # The autocomplete answers names and numbers too: its first page is logged.
            shown = list(queryset[: AutocompleteJsonView.paginate_by])
            self._log_read(
                request,
                self.access_log_list_records(request, shown),
                detail=f"autocomplete, {search_terms(search_term)}",
            )
        return queryset, may_have_duplicates


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
    # Enrolments begin with a screening and move through the services' steps only.
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

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
class ProgrammeAdmin(
    LongListAdminMixin,
    AccessLoggedAdminMixin,
    HistoryAdminMixin,
    VisibleParticipantsMixin,
    admin.ModelAdmin,
):
    """Programmes: seen by the staff of the host and partners; changed (and deleted) only by
    editors and administrators of the host, as on the staff pages. The list shows no personal
    data; the page names the participants of its enrolments inline, and logs them."""

    access_log_path = None

    def access_log_change_records(self, request: HttpRequest, obj) -> list[tuple[int, int]]:
        return list(
            access.visible_enrolments(request.user)
            .filter(programme=obj)
            .values_list("participant_id", "participant__institution_id")
        )

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
            # Counted per listed row (a correlated subquery on the indexed programme
            # column), not by grouping every enrolment of every programme.
            .annotate(
                enrolment_count=Coalesce(
                    Subquery(
                        Enrolment.objects.filter(programme=OuterRef("pk"))
                        .order_by()
                        .values("programme")
                        .annotate(n=Count("pk"))
                        .values("n")
                    ),
                    0,
                )
            )
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
class ParticipantAdmin(
    LongListAdminMixin, AccessLoggedAdminMixin, HistoryAdminMixin, admin.ModelAdmin
):
    """Detainees and prisoners in rehabilitation.

    This is specific personal data under UU PDP 27/2022 (health and criminal records, and
    children's data for LPKA): the list shows only what identifies a person, the queryset is
    limited to what the user may see, and there is no bulk delete — a participant is removed
    one at a time, deliberately, and only without enrolments: one with enrolments is archived
    instead (the "Archive" action on their page), and restored the same way.
    """

    access_log_path = ""
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
class EnrolmentAdmin(
    LongListAdminMixin,
    AccessLoggedAdminMixin,
    HistoryAdminMixin,
    VisibleParticipantsMixin,
    admin.ModelAdmin,
):
    list_display = ["participant", "programme", "status", "start_date", "end_date"]
    # A date filter, not a date hierarchy: the hierarchy lists the distinct years of the
    # whole table on every page.
    list_filter = ["status", "programme__kind", "start_date"]
    list_select_related = ["participant", "programme"]
    search_fields = ["participant__register_number", "participant__full_name", "programme__name"]
    inlines = [EnrolmentPhaseInline, EnrolmentEventInline]
    # An enrolment begins with a screening and moves only through the services' steps (the
    # staff pages' moves, with their checks and events): nothing of its course is edited here.
    readonly_fields = [
        "participant",
        "programme",
        "status",
        "start_date",
        "enrolled_on",
        "end_date",
        "end_reason",
        "current_phase",
        "recovered",
        "skilled",
        "independent",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Enrolment]:
        return access.visible_enrolments(request.user, super().get_queryset(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class VisibleThroughEnrolmentAdmin(
    LongListAdminMixin, AccessLoggedAdminMixin, HistoryAdminMixin, admin.ModelAdmin
):
    """Rows hanging off an enrolment: listed only where the enrolment is visible."""

    enrolment_path = "enrolment"
    access_log_path = "enrolment__participant"

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
    access_log_path = "participant"
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
class SessionAdmin(
    LongListAdminMixin,
    AccessLoggedAdminMixin,
    HistoryAdminMixin,
    VisibleParticipantsMixin,
    admin.ModelAdmin,
):
    """Sessions: the list shows no personal data; the page's attendance names participants."""

    access_log_path = None

    def access_log_change_records(self, request: HttpRequest, obj) -> list[tuple[int, int]]:
        return list(
            Attendance.objects.filter(
                session=obj, enrolment__in=access.visible_enrolments(request.user)
            ).values_list("enrolment__participant_id", "enrolment__participant__institution_id")
        )

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
class AccessLogAdmin(
    LongListAdminMixin, ReadOnlyAdminMixin, AccessLoggedAdminMixin, admin.ModelAdmin
):
    """The personal-data access log: written by the system, never edited or deleted. Reading
    it is logged too (who read the log of whom): the participants its shown lines name."""

    def access_log_list_records(self, request: HttpRequest, rows: list) -> list[tuple[int, int]]:
        ids = [row.pk for row in rows]
        if not ids:
            return []
        named = (
            AccessLog.objects.filter(pk__in=ids, participant__isnull=False)
            .order_by()
            .values_list("participant_id", "participant__institution_id")
        )
        listed = (
            AccessLogRecord.objects.filter(entry_id__in=ids)
            .order_by()
            .values_list("participant_id", "participant__institution_id")
        )
        return [*named, *listed]

    list_display = [
        "at",
        "user",
        "action",
        "participant",
        "record_count",
        "institution",
        "detail",
        "reason",
    ]
    list_filter = ["action", "reason", "at", "institution"]
    list_select_related = ["user", "participant", "institution"]
    search_fields = ["user__username", "participant__register_number", "detail"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessLog]:
        # As on the staff pages: an institution's administrators read its access log.
        return access.visible_access_log(request.user, super().get_queryset(request))


@admin.register(TransferRequest)
class TransferRequestAdmin(
    LongListAdminMixin, ReadOnlyAdminMixin, AccessLoggedAdminMixin, admin.ModelAdmin
):
    """Transfer requests, read-only: they change only through the staff pages (accept, refuse,
    cancel). Seen as there (`access.visible_transfer_requests`); the list names no one, and
    opening one is written to the access log."""

    list_display = ["requested_at", "from_institution", "to_institution", "state"]
    list_filter = ["state"]
    list_select_related = ["from_institution", "to_institution"]
    date_hierarchy = "requested_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[TransferRequest]:
        return access.visible_transfer_requests(request.user, super().get_queryset(request))

    def access_log_list_records(self, request: HttpRequest, rows: list) -> list[tuple[int, int]]:
        return []  # the list names no one; a request's own page does, and is logged

    def access_log_change_records(self, request: HttpRequest, obj) -> list[tuple[int, int]]:
        return [(obj.participant_id, obj.participant.institution_id)]
