"""Admin for agreements, their parties and articles, meetings and signing events.

Every save and delete made here is recorded in `institutions.history` by the one admin history
engine (`institutions.history_admin.HistoryAdminMixin`), in the services' shape: agreements and
meetings as their own entries, with the rows that belong to them (parties and articles;
attendees and follow-ups), whether edited inline or on their own pages, recorded as changes of
the agreement or meeting. Each saved change raises the record's version, so that an edit form
opened on a staff page before it is refused rather than overwriting it.

The status moves, archiving and restoring go through the lifecycle services, with their checks
and their messages: `status` is read-only here, moved by the list's actions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Func, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from institutions import history, history_display
from institutions.admin import LongListAdminMixin, ReadOnlyAdminMixin
from institutions.history_admin import HistoryAdminMixin
from institutions.models import History

from . import access as agreement_access
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
from .services import lifecycle, notices
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


# The names of those rows (and of the scans) wherever a history is shown.
history_display.name_rows(
    parties=_("parties"),
    articles=_("articles"),
    attendees=_("attendees"),
    follow_ups=_("follow-ups"),
    scans=_("signed scans"),
)


def _count_of(model: type, field: str) -> Coalesce:
    """The number of `model` rows whose `field` is the outer row: a correlated subquery, which
    PostgreSQL evaluates for the rows of the page only."""
    rows = model._default_manager.filter(**{field: OuterRef("pk")}).order_by()
    counted = rows.values(field).annotate(count=Func(F("pk"), function="COUNT")).values("count")
    # No row at all (nothing to count) is 0, not NULL.
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


class ScopedAdmin(LongListAdminMixin, admin.ModelAdmin):
    """Non-superuser staff see in the admin only the rows they may see on the staff pages, and
    pick in its forms only those (`agreements.access.admin_scope`, `admin_choices`)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return agreement_access.admin_scope(request.user, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        choices = agreement_access.admin_choices(request.user, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


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
class AgreementAdmin(HistoryAdminMixin, ScopedAdmin):
    history_rows = staticmethod(_agreement_rows)
    inline_entries = False
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
    autocomplete_fields = ["parent", "renews"]
    # The status moves through the lifecycle services (the list's actions, or the staff page,
    # which also asks why an agreement goes back to discussion); signing and termination
    # happen on the staff pages, which write their dates; active, expiring and expired follow
    # from the calendar.
    readonly_fields = [
        "status",
        "signed_on",
        "signing_event",
        "terminated_on",
        "termination_reason",
        "notice_from",
        "created_at",
        "updated_at",
        "version",
        "archived_at",
    ]
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
    actions = ["move_to_discussion", "move_to_ready", "archive", "restore"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agreement]:
        parties = Party.objects.select_related("institution").order_by("order")
        return (
            super()
            .get_queryset(request)
            .with_current_status()
            .prefetch_related(Prefetch("parties", queryset=parties))
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Agreement], search_term: str
    ) -> tuple[QuerySet[Agreement], bool]:
        """Every word in the title, the subject or a party's number or institution, as the
        admin's own search, with the parties read through a subquery: no join that repeats an
        agreement, so no DISTINCT over the whole table."""
        for word in search_term.split()[:10]:
            parties = Party.objects.filter(
                Q(number__icontains=word)
                | Q(institution__name__icontains=word)
                | Q(institution__short_name__icontains=word)
            )
            queryset = queryset.filter(
                Q(title__icontains=word)
                | Q(subject__icontains=word)
                | Q(pk__in=parties.values("agreement_id"))
            )
        return queryset, False

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

    def _move(self, request: HttpRequest, queryset: QuerySet[Agreement], to_status: str) -> None:
        def move(*, agreement: Agreement, user) -> None:
            lifecycle.agreement_move(agreement=agreement, user=user, to_status=to_status)

        if done := self._apply(request, queryset, move):
            self.message_user(
                request,
                ngettext(
                    "%(count)d agreement moved to %(status)s.",
                    "%(count)d agreements moved to %(status)s.",
                    done,
                )
                % {"count": done, "status": Agreement.Status(to_status).label},
            )

    @admin.action(description=_("Move the selected drafts to discussion"), permissions=["change"])
    def move_to_discussion(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        self._move(request, queryset, Agreement.Status.DISCUSSION)

    @admin.action(
        description=_("Move the selected agreements to ready for signing"), permissions=["change"]
    )
    def move_to_ready(self, request: HttpRequest, queryset: QuerySet[Agreement]) -> None:
        self._move(request, queryset, Agreement.Status.READY)

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


class AgreementRowsAdmin(HistoryAdminMixin, LockedWhenSignedAdmin):
    """Parties and articles: recorded as changes of their agreement, whose version goes up."""

    history_parent = "agreement"
    history_rows = staticmethod(_agreement_rows)


class MeetingRowsAdmin(HistoryAdminMixin, ScopedAdmin):
    """Attendees and follow-ups: recorded as changes of their meeting (its version stays, as
    on the staff page)."""

    history_parent = "meeting"
    history_rows = staticmethod(_meeting_rows)
    rows_raise_version = False


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
class MeetingAdmin(HistoryAdminMixin, ScopedAdmin):
    history_rows = staticmethod(_meeting_rows)
    rows_raise_version = False
    inline_entries = False
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
        # A subquery per row shown, not a GROUP BY over every meeting before the page is cut.
        return super().get_queryset(request).annotate(attendee_count=_count_of(Attendee, "meeting"))

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
        return (
            super()
            .get_queryset(request)
            .annotate(agreement_count=_count_of(Agreement, "signing_event"))
        )

    @admin.display(description=_("agreements"), ordering="agreement_count")
    def agreement_count(self, obj: SigningEvent) -> int:
        return obj.agreement_count


class ReadOnlyAdmin(ReadOnlyAdminMixin, ScopedAdmin):
    """Records written by the system (history, notices, scans): read, never edited by hand."""


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


class AwaitingDecisionFilter(admin.SimpleListFilter):
    title = _("awaiting a decision")
    parameter_name = "awaiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Notice]) -> QuerySet[Notice]:
        if self.value() == "yes":
            return queryset.filter(pk__in=notices.awaiting_decision().values("pk"))
        return queryset


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    """Notices are written by the daily run. One whose sending began and was never confirmed
    (awaiting a decision) is never sent again by a run: a superuser resends it or marks it
    sent here."""

    list_display = ["kind", "agreement", "follow_up", "event_date", "state", "attempted_at"]
    list_filter = [AwaitingDecisionFilter, "state", "kind"]
    list_select_related = ["agreement", "follow_up"]
    search_fields = ["agreement__title", "follow_up__description", "recipients"]
    date_hierarchy = "attempted_at"
    actions = ["resend", "mark_sent"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def _decide(self, request: HttpRequest, queryset: QuerySet[Notice], decision: Any) -> None:
        done = 0
        for notice in queryset:
            try:
                decision(notice=notice)
            except ValidationError as error:
                self.message_user(request, f"{notice}: {' '.join(error.messages)}", messages.ERROR)
            except Exception as error:  # the mail server's answer, shown to the person deciding
                self.message_user(request, f"{notice}: {error}", messages.ERROR)
            else:
                self.log_change(request, notice, decision.__name__)
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(count)d notice done.", "%(count)d notices done.", done)
                % {"count": done},
            )

    @admin.action(description=_("Send again (same Message-ID)"), permissions=["decide"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notice]) -> None:
        self._decide(request, queryset, notices.notice_resend)

    @admin.action(description=_("Mark as sent (never send again)"), permissions=["decide"])
    def mark_sent(self, request: HttpRequest, queryset: QuerySet[Notice]) -> None:
        self._decide(request, queryset, notices.notice_mark_sent)


@admin.register(CalendarFeed)
class CalendarFeedAdmin(ScopedAdmin):
    """Feeds are made by their owners on the calendar page; here they are listed (one's own,
    or one's institution's staff's for its administrators; all for superusers), replaced or
    deleted. The token is shown nowhere: it is its owner's secret."""

    list_display = ["user", "institution", "created_at"]
    list_select_related = ["user", "institution"]
    list_filter = ["created_at"]
    search_fields = ["user__username", "institution__name", "institution__short_name"]
    fields = ["user", "institution", "created_at"]
    readonly_fields = fields
    actions = ["regenerate"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Replace the secret address (old copies stop working)"))
    def regenerate(self, request: HttpRequest, queryset: QuerySet[CalendarFeed]) -> None:
        for feed in queryset:
            feed.regenerate()
        self.message_user(request, gettext("Calendar addresses replaced."))
