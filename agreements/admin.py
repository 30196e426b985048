"""Admin for agreements, their parties and articles, meetings and signing events.

Every save and delete made here is recorded in `institutions.history`, like the services'
changes: agreements and meetings as their own entries (`HistoryAdmin`), with the rows that
belong to them (parties and articles; attendees and follow-ups), whether edited inline or on
their own pages, recorded as changes of the agreement or meeting (`RowsHistoryAdmin`). Each
saved change raises the record's version, so that an edit form opened on a staff page before
it is refused rather than overwriting it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from institutions import access, history
from institutions.models import History

from .models import (
    Agreement,
    Article,
    Attendee,
    CalendarFeed,
    FollowUp,
    Meeting,
    Notice,
    Party,
    SignedScan,
    SigningEvent,
    StatusChange,
)
from .services import lifecycle
from .services.meetings import current_attendees, current_follow_ups


def _agreement_rows(agreement: Agreement) -> dict[str, list[str]]:
    """The parties and articles of an agreement, as its history records them."""
    return {
        "parties": lifecycle.party_lines(
            agreement.parties.select_related("institution", "signatory").order_by("order")
        ),
        "articles": lifecycle.article_lines(agreement.articles.order_by("number")),
    }


def _meeting_rows(meeting: Meeting) -> dict[str, list[str]]:
    """The attendees and follow-ups of a meeting, as its history records them."""
    return {"attendees": current_attendees(meeting), "follow_ups": current_follow_ups(meeting)}


def _differs(before: dict, after: dict, keys=None) -> bool:
    """Whether any value a person would notice differs (of `keys`, or of all)."""
    ignored = {*history.IGNORED_FIELDS, "version"}
    keys = {*before, *after} if keys is None else set(keys)
    return any(before.get(key) != after.get(key) for key in keys - ignored)


def _visible_agreements(user) -> QuerySet[Agreement]:
    return Agreement.objects.of_institutions(user).values("pk")


def _visible_meetings(user) -> QuerySet[Meeting]:
    ids = access.institution_ids(user)
    return Meeting.objects.filter(
        Q(agreement__in=_visible_agreements(user)) | Q(host_id__in=ids)
    ).values("pk")


#: For staff who are not superusers: which rows of each model they may see in the admin,
#: by the same rules as the staff pages (`institutions.access`, `Agreement.of_institutions`).
ADMIN_SCOPES = {
    Agreement: lambda user: Q(pk__in=_visible_agreements(user)),
    Party: lambda user: Q(agreement__in=_visible_agreements(user)),
    Article: lambda user: Q(agreement__in=_visible_agreements(user)),
    StatusChange: lambda user: Q(agreement__in=_visible_agreements(user)),
    SignedScan: lambda user: Q(agreement__in=_visible_agreements(user)),
    Meeting: lambda user: Q(pk__in=_visible_meetings(user)),
    Attendee: lambda user: Q(meeting__in=_visible_meetings(user)),
    FollowUp: lambda user: Q(meeting__in=_visible_meetings(user)),
    Notice: lambda user: (
        Q(agreement__in=_visible_agreements(user))
        | Q(follow_up__meeting__in=_visible_meetings(user))
    ),
    SigningEvent: lambda user: (
        Q(host_id__in=access.institution_ids(user)) | Q(agreements__in=_visible_agreements(user))
    ),
    CalendarFeed: lambda user: Q(institution_id__in=access.institution_ids(user)),
}


class ScopedAdmin(admin.ModelAdmin):
    """Non-superuser staff see in the admin only the rows they may see on the staff pages."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if access.is_superuser(request.user):
            return queryset
        return queryset.filter(ADMIN_SCOPES[self.model](request.user)).distinct()

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if not access.is_superuser(request.user):
            if db_field.related_model is Agreement:
                kwargs["queryset"] = Agreement.objects.of_institutions(request.user)
            elif db_field.related_model is Meeting:
                kwargs["queryset"] = Meeting.objects.filter(pk__in=_visible_meetings(request.user))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class HistoryAdmin(ScopedAdmin):
    """Records every save and delete made in the admin in the record's history, and raises
    the version of a record whose values changed.

    The values before are read from the database before the save. `history_rows` gives the
    "fields" that hold the rows belonging to the record (edited in the inlines), so that one
    save, inlines included, is one history entry; `rows_raise_version` says whether a change of
    those rows alone raises the version (it does when a staff edit form holds them).
    """

    history_rows: Callable[[Any], dict[str, list[str]]] | None = None
    rows_raise_version = False

    def _rows(self, obj: models.Model) -> dict[str, list[str]]:
        return self.history_rows(obj) if self.history_rows else {}

    def _record_delete(self, request: HttpRequest, obj: models.Model) -> None:
        history.record(
            obj,
            user=request.user,
            action=History.Action.DELETE,
            before={**history.snapshot(obj), **self._rows(obj)},
        )

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if change:
            stored = type(obj)._base_manager.select_for_update().get(pk=obj.pk)
            obj._history_before = {**history.snapshot(stored), **self._rows(stored)}
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        rows = self._rows(obj)
        after = {**history.snapshot(obj), **rows}
        before = getattr(obj, "_history_before", None)
        if before is None:
            history.record(obj, user=request.user, action=History.Action.CREATE, after=after)
            return
        if not _differs(before, after):
            return
        fields = [key for key in after if key not in rows]
        if hasattr(obj, "version") and (self.rows_raise_version or _differs(before, after, fields)):
            history.bump_version(obj)
            after["version"] = obj.version
        history.record(
            obj, user=request.user, action=History.Action.CHANGE, before=before, after=after
        )

    def delete_model(self, request: HttpRequest, obj) -> None:
        self._record_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self._record_delete(request, obj)
        super().delete_queryset(request, queryset)


class RowsHistoryAdmin(ScopedAdmin):
    """For rows that belong to a record (a party of an agreement, an attendee of a meeting):
    a save or delete here is recorded as a change of that record's rows. `history_parent`
    names the foreign key to the record, `history_rows` gives the record's rows as its history
    holds them, and `rows_raise_version` says whether the record's version goes up (it does
    when a staff edit form of the record holds these rows)."""

    history_parent: str
    history_rows: Callable[[Any], dict[str, list[str]]]
    rows_raise_version = False

    def _rows_before(self, rows: Iterable[models.Model]) -> dict[Any, tuple[Any, dict]]:
        parents = (getattr(row, self.history_parent) for row in rows)
        return {parent.pk: (parent, self.history_rows(parent)) for parent in parents}

    def _record(self, request: HttpRequest, saved: dict[Any, tuple[Any, dict]]) -> None:
        for parent, before in saved.values():
            after = self.history_rows(parent)
            if after == before:
                continue
            if self.rows_raise_version:
                before = {**before, "version": parent.version}
                history.bump_version(parent)
                after = {**after, "version": parent.version}
            history.record(
                parent, user=request.user, action=History.Action.CHANGE, before=before, after=after
            )

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        rows = [obj]
        if change:  # a row moved to another record changes both
            rows.append(type(obj)._base_manager.get(pk=obj.pk))
        before = self._rows_before(rows)
        super().save_model(request, obj, form, change)
        self._record(request, before)

    def delete_model(self, request: HttpRequest, obj) -> None:
        before = self._rows_before([obj])
        super().delete_model(request, obj)
        self._record(request, before)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        before = self._rows_before(queryset)
        super().delete_queryset(request, queryset)
        self._record(request, before)


class StoredStatusFilter(admin.SimpleListFilter):
    """The workflow status, offering only the states that can be stored."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(status.value, status.label) for status in Agreement.STORED_STATUSES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(status=self.value()) if self.value() else queryset


class CurrentStatusFilter(admin.SimpleListFilter):
    """The status as of today, with the calendar applied to signed agreements."""

    title = _("current status")
    parameter_name = "current_status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return list(Agreement.Status.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # The changelist's queryset is annotated with `current_status` by AgreementAdmin.
        return queryset.filter(current_status=self.value()) if self.value() else queryset


class SignedYearFilter(admin.SimpleListFilter):
    title = _("year signed")
    parameter_name = "signed_year"
    NOT_SIGNED = "none"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        years = Agreement.objects.dates("signed_on", "year", order="DESC")
        return [(str(day.year), str(day.year)) for day in years] + [
            (self.NOT_SIGNED, _("Not signed"))
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == self.NOT_SIGNED:
            return queryset.filter(signed_on__isnull=True)
        # A year the calendar holds (1-9999), in ASCII digits; anything else is ignored.
        if value and value.isascii() and value.isdigit() and len(value) <= 4 and int(value):
            return queryset.filter(signed_on__year=int(value))
        return queryset


class ArchivedFilter(admin.SimpleListFilter):
    title = _("archived")
    parameter_name = "archived"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("no", _("Not archived")), ("yes", _("Archived"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "no":
                return queryset.filter(archived_at__isnull=True)
            case "yes":
                return queryset.filter(archived_at__isnull=False)
        return queryset


def _editable(agreement: Agreement | None) -> bool:
    """Whether the agreement (if any) still allows changes to its text, parties and numbers."""
    return agreement is None or agreement.is_editable


class LockedWhenSignedInline:
    """Inline rows of a signed agreement are shown read-only: it is changed by an addendum."""

    def has_add_permission(self, request: HttpRequest, obj: Agreement | None = None) -> bool:
        return _editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Agreement | None = None) -> bool:
        return _editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Agreement | None = None) -> bool:
        return _editable(obj) and super().has_delete_permission(request, obj)


class PartyInline(LockedWhenSignedInline, admin.TabularInline):
    model = Party
    fields = ["order", "institution", "number", "signatory", "signatory_position"]
    autocomplete_fields = ["institution", "signatory"]
    ordering = ["order"]

    def get_extra(self, request: HttpRequest, obj: Agreement | None = None, **kwargs: Any) -> int:
        # A new agreement has at least two parties; an existing one adds them one at a time.
        return 2 if obj is None else 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Party]:
        return super().get_queryset(request).select_related("institution", "signatory")


class ArticleInline(LockedWhenSignedInline, admin.StackedInline):
    model = Article
    fields = ["number", "heading", "body"]
    ordering = ["number"]
    extra = 0


@admin.register(Agreement)
class AgreementAdmin(HistoryAdmin):
    history_rows = staticmethod(_agreement_rows)
    rows_raise_version = True
    list_display = [
        "title",
        "kind",
        "status",
        "current_status_display",
        "parties_display",
        "signed_on",
        "end_date",
        "archived",
    ]
    list_filter = [
        "kind",
        StoredStatusFilter,
        CurrentStatusFilter,
        SignedYearFilter,
        ArchivedFilter,
    ]
    search_fields = [
        "title",
        "subject",
        "parties__number",
        "parties__institution__name",
        "parties__institution__short_name",
    ]
    autocomplete_fields = ["parent", "renews", "signing_event"]
    readonly_fields = ["notice_from", "created_at", "updated_at", "version", "archived_at"]
    fieldsets = [
        (None, {"fields": ["kind", "title", "subject", "status", "parent", "renews"]}),
        (_("Text"), {"fields": ["considerations", "legal_basis"]}),
        (
            _("Term"),
            {"fields": ["term_months", "effective_date", "end_date", "notice_days", "notice_from"]},
        ),
        (_("Signing"), {"fields": ["signed_on", "signing_place", "signing_event"]}),
        (_("Termination"), {"fields": ["terminated_on", "termination_reason"]}),
        (None, {"fields": ["created_at", "updated_at", "version", "archived_at"]}),
    ]
    inlines = [PartyInline, ArticleInline]
    actions = ["archive", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agreement]:
        parties = Party.objects.select_related("institution").order_by("order")
        return (
            super()
            .get_queryset(request)
            .with_current_status()
            .prefetch_related(Prefetch("parties", queryset=parties))
        )

    def formfield_for_choice_field(self, db_field, request: HttpRequest, **kwargs: Any):
        # Signing and termination happen through the lifecycle services, which check and
        # record them; active, expiring and expired follow from the calendar.
        if db_field.name == "status":
            kwargs["choices"] = [(s.value, s.label) for s in Agreement.EDITABLE_STATUSES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Agreement | None = None) -> bool:
        # A signed agreement is shown read-only: it is changed by an addendum, and terminated
        # on the staff page, which records why.
        return _editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Agreement | None = None) -> bool:
        # A signed agreement is a legal record: it stays, terminated or expired, and is
        # archived when no longer worked on.
        return _editable(obj) and super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Agreement) -> None:
        # The permission above hides the button; this refuses any other way in.
        if not Agreement.objects.get(pk=obj.pk).is_editable:
            raise PermissionDenied(gettext("A signed agreement is never deleted; archive it."))
        for meeting in obj.meetings.all():  # deleted with it: their history says so
            self._record_meeting_delete(request, meeting)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        if queryset.exclude(status__in=Agreement.EDITABLE_STATUSES).exists():
            raise PermissionDenied(gettext("A signed agreement is never deleted; archive it."))
        for meeting in Meeting.objects.filter(agreement__in=queryset):
            self._record_meeting_delete(request, meeting)
        super().delete_queryset(request, queryset)

    @staticmethod
    def _record_meeting_delete(request: HttpRequest, meeting: Meeting) -> None:
        history.record(
            meeting,
            user=request.user,
            action=History.Action.DELETE,
            before={**history.snapshot(meeting), **_meeting_rows(meeting)},
        )

    def _apply(self, request: HttpRequest, queryset: QuerySet[Agreement], service) -> int:
        """Run a lifecycle service on each agreement; report refusals; return the successes."""
        done = 0
        for agreement in queryset:
            try:
                service(agreement=agreement, user=request.user)
            except ValidationError as error:
                self.message_user(
                    request, f"{agreement}: {' '.join(error.messages)}", level=messages.WARNING
                )
            except PermissionDenied as error:
                self.message_user(request, f"{agreement}: {error}", level=messages.WARNING)
            else:
                done += 1
        return done

    @admin.action(description=_("Archive the selected signed agreements"), permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        if done := self._apply(request, queryset, lifecycle.agreement_archive):
            self.message_user(
                request,
                ngettext("%(count)d agreement archived.", "%(count)d agreements archived.", done)
                % {"count": done},
            )

    @admin.action(
        description=_("Restore the selected agreements from the archive"), permissions=["change"]
    )
    def restore(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        if done := self._apply(request, queryset, lifecycle.agreement_restore):
            self.message_user(
                request,
                ngettext("%(count)d agreement restored.", "%(count)d agreements restored.", done)
                % {"count": done},
            )

    @admin.display(description=_("archived"), boolean=True, ordering="archived_at")
    def archived(self, obj: Agreement) -> bool:
        return obj.archived_at is not None

    def get_actions(
        self,
        request: HttpRequest,
        action_location: admin.ActionLocation = admin.ActionLocation.CHANGE_LIST,
    ) -> dict[str, Any]:
        # Bulk delete would not ask about each agreement; delete drafts one at a time.
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request: HttpRequest, obj: Agreement, form, change: bool) -> None:
        super().save_model(request, obj, form, change)  # also keeps the values before
        if change and "status" in form.changed_data:
            StatusChange.objects.create(
                agreement=obj,
                from_status=form.initial["status"],
                to_status=obj.status,
                changed_by=request.user,
                reason=gettext("Changed in the administration"),
            )

    @admin.display(description=_("current status"), ordering="current_status")
    def current_status_display(self, obj: Agreement) -> str:
        return obj.get_current_status_display()

    @admin.display(description=_("parties"))
    def parties_display(self, obj: Agreement) -> str:
        return ", ".join(party.institution.display_name for party in obj.parties.all())


class LockedWhenSignedAdmin(ScopedAdmin):
    """Rows of a signed agreement can be read, not changed or deleted; new rows can only be
    added to agreements that are not signed."""

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return (obj is None or obj.agreement.is_editable) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return (obj is None or obj.agreement.is_editable) and super().has_delete_permission(
            request, obj
        )

    def get_actions(
        self,
        request: HttpRequest,
        action_location: admin.ActionLocation = admin.ActionLocation.CHANGE_LIST,
    ) -> dict[str, Any]:
        actions = super().get_actions(request, action_location=action_location)
        actions.pop("delete_selected", None)
        return actions

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "agreement":
            kwargs["queryset"] = Agreement.objects.filter(status__in=Agreement.EDITABLE_STATUSES)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class AgreementRowsAdmin(RowsHistoryAdmin, LockedWhenSignedAdmin):
    """Parties and articles: recorded as changes of their agreement, whose version goes up."""

    history_parent = "agreement"
    history_rows = staticmethod(_agreement_rows)
    rows_raise_version = True


class MeetingRowsAdmin(RowsHistoryAdmin):
    """Attendees and follow-ups: recorded as changes of their meeting."""

    history_parent = "meeting"
    history_rows = staticmethod(_meeting_rows)


@admin.register(Party)
class PartyAdmin(AgreementRowsAdmin):
    list_display = ["agreement", "order", "institution", "number", "signatory"]
    list_filter = ["institution__kind"]
    list_select_related = ["agreement", "institution", "signatory"]
    search_fields = ["number", "agreement__title", "institution__name", "institution__short_name"]
    autocomplete_fields = ["agreement", "institution", "signatory"]


@admin.register(Article)
class ArticleAdmin(AgreementRowsAdmin):
    list_display = ["agreement", "number", "heading"]
    list_select_related = ["agreement"]
    search_fields = ["heading", "body", "agreement__title"]
    autocomplete_fields = ["agreement"]


class AttendeeInline(admin.TabularInline):
    model = Attendee
    fields = ["person", "institution", "position"]
    autocomplete_fields = ["person", "institution"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Attendee]:
        return super().get_queryset(request).select_related("person", "institution")


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    fields = ["description", "owner", "due_date", "done_on"]
    autocomplete_fields = ["owner"]
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[FollowUp]:
        return super().get_queryset(request).select_related("owner")


@admin.register(Meeting)
class MeetingAdmin(HistoryAdmin):
    history_rows = staticmethod(_meeting_rows)
    list_display = [
        "date",
        "start_time",
        "end_time",
        "agreement",
        "host",
        "venue",
        "attendee_count",
    ]
    list_filter = ["host__kind"]
    list_select_related = ["agreement", "host"]
    date_hierarchy = "date"
    search_fields = ["agreement__title", "venue", "host__name", "host__short_name", "agenda"]
    autocomplete_fields = ["agreement", "host"]
    inlines = [AttendeeInline, FollowUpInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Meeting]:
        return super().get_queryset(request).annotate(attendee_count=Count("attendees"))

    @admin.display(description=_("attendees"), ordering="attendee_count")
    def attendee_count(self, obj: Meeting) -> int:
        return obj.attendee_count


@admin.register(Attendee)
class AttendeeAdmin(MeetingRowsAdmin):
    list_display = ["person", "position", "institution", "meeting"]
    list_filter = ["institution__kind"]
    list_select_related = ["person", "institution", "meeting__agreement"]
    search_fields = ["person__full_name", "institution__name", "meeting__agreement__title"]
    autocomplete_fields = ["meeting", "person", "institution"]


class FollowUpStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("open", _("Open")), ("overdue", _("Overdue")), ("done", _("Done"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        match self.value():
            case "open":
                return queryset.filter(done_on__isnull=True)
            case "overdue":
                return queryset.filter(done_on__isnull=True, due_date__lt=timezone.localdate())
            case "done":
                return queryset.filter(done_on__isnull=False)
        return queryset


@admin.register(FollowUp)
class FollowUpAdmin(MeetingRowsAdmin):
    list_display = ["__str__", "owner", "meeting", "due_date", "done_on", "overdue"]
    list_filter = [FollowUpStateFilter, "owner__kind"]
    list_select_related = ["owner", "meeting__agreement"]
    date_hierarchy = "due_date"
    search_fields = ["description", "owner__name", "owner__short_name", "meeting__agreement__title"]
    autocomplete_fields = ["meeting", "owner"]

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, obj: FollowUp) -> bool:
        return obj.is_overdue()


@admin.register(SigningEvent)
class SigningEventAdmin(ScopedAdmin):
    list_display = ["date", "start_time", "venue", "host", "agreement_count"]
    list_filter = ["host__kind"]
    list_select_related = ["host"]
    date_hierarchy = "date"
    search_fields = ["venue", "host__name", "host__short_name"]
    autocomplete_fields = ["host"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SigningEvent]:
        return super().get_queryset(request).annotate(agreement_count=Count("agreements"))

    @admin.display(description=_("agreements"), ordering="agreement_count")
    def agreement_count(self, obj: SigningEvent) -> int:
        return obj.agreement_count


class ReadOnlyAdmin(ScopedAdmin):
    """Records written by the system (history, notices, scans): read, never edited by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["agreement", "from_status", "to_status", "changed_by", "changed_at"]
    list_filter = ["to_status"]
    list_select_related = ["agreement", "changed_by"]
    search_fields = ["agreement__title", "reason", "changed_by__username"]
    date_hierarchy = "changed_at"


@admin.register(SignedScan)
class SignedScanAdmin(ReadOnlyAdmin):
    """Scans are uploaded on the staff agreement page, which checks the file; here they are
    listed, with a download through the view that checks access (private files have no URL)."""

    list_display = ["agreement", "original_name", "size", "pages", "uploaded_by", "uploaded_at"]
    list_select_related = ["agreement", "uploaded_by"]
    search_fields = ["agreement__title", "original_name", "sha256"]
    fields = [
        "agreement",
        "original_name",
        "size",
        "pages",
        "sha256",
        "uploaded_by",
        "uploaded_at",
        "download",
    ]
    readonly_fields = fields

    @admin.display(description=_("file"))
    def download(self, obj: SignedScan) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("agreements:scan_download", args=[obj.pk]), _("Download")
        )


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ["kind", "agreement", "follow_up", "event_date", "sent_at"]
    list_filter = ["kind"]
    list_select_related = ["agreement", "follow_up"]
    search_fields = ["agreement__title", "follow_up__description", "recipients"]
    date_hierarchy = "sent_at"


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ScopedAdmin):
    list_display = ["institution", "created_at"]
    list_select_related = ["institution"]
    search_fields = ["institution__name", "institution__short_name"]
    fields = ["institution", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["institution"]
    actions = ["regenerate"]

    @admin.action(description=_("Replace the secret address (old copies stop working)"))
    def regenerate(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        for feed in queryset:
            feed.regenerate()
        self.message_user(request, gettext("Calendar addresses replaced."))
