"""Admin for agreements, their parties and articles, meetings and signing events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Agreement, Article, Attendee, FollowUp, Meeting, Party, SigningEvent


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
        if value and value.isdigit():
            return queryset.filter(signed_on__year=int(value))
        return queryset


class PartyInline(admin.TabularInline):
    model = Party
    fields = ["order", "institution", "number", "signatory", "signatory_position"]
    autocomplete_fields = ["institution", "signatory"]
    ordering = ["order"]

    def get_extra(self, request: HttpRequest, obj: Agreement | None = None, **kwargs: Any) -> int:
        # A new agreement has at least two parties; an existing one adds them one at a time.
        return 2 if obj is None else 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Party]:
        return super().get_queryset(request).select_related("institution", "signatory")


class ArticleInline(admin.StackedInline):
    model = Article
    fields = ["number", "heading", "body"]
    ordering = ["number"]
    extra = 0


@admin.register(Agreement)
class AgreementAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "kind",
        "status",
        "current_status_display",
        "parties_display",
        "signed_on",
        "end_date",
    ]
    list_filter = ["kind", StoredStatusFilter, CurrentStatusFilter, SignedYearFilter]
    search_fields = [
        "title",
        "subject",
        "parties__number",
        "parties__institution__name",
        "parties__institution__short_name",
    ]
    autocomplete_fields = ["parent", "renews", "signing_event"]
    readonly_fields = ["notice_from", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["kind", "title", "subject", "status", "parent", "renews"]}),
        (_("Text"), {"fields": ["considerations", "legal_basis"]}),
        (
            _("Term"),
            {"fields": ["term_months", "effective_date", "end_date", "notice_days", "notice_from"]},
        ),
        (_("Signing"), {"fields": ["signed_on", "signing_place", "signing_event"]}),
        (_("Termination"), {"fields": ["terminated_on", "termination_reason"]}),
        (None, {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [PartyInline, ArticleInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agreement]:
        parties = Party.objects.select_related("institution").order_by("order")
        return (
            super()
            .get_queryset(request)
            .with_current_status()
            .prefetch_related(Prefetch("parties", queryset=parties))
        )

    def formfield_for_choice_field(self, db_field, request: HttpRequest, **kwargs: Any):
        # Active, expiring and expired follow from the calendar; nobody sets them by hand.
        if db_field.name == "status":
            kwargs["choices"] = [(s.value, s.label) for s in Agreement.STORED_STATUSES]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @admin.display(description=_("current status"), ordering="current_status")
    def current_status_display(self, obj: Agreement) -> str:
        return obj.get_current_status_display()

    @admin.display(description=_("parties"))
    def parties_display(self, obj: Agreement) -> str:
        return ", ".join(party.institution.display_name for party in obj.parties.all())


@admin.register(Party)
class PartyAdmin(admin.ModelAdmin):
    list_display = ["agreement", "order", "institution", "number", "signatory"]
    list_filter = ["institution__kind"]
    list_select_related = ["agreement", "institution", "signatory"]
    search_fields = ["number", "agreement__title", "institution__name", "institution__short_name"]
    autocomplete_fields = ["agreement", "institution", "signatory"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
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
class MeetingAdmin(admin.ModelAdmin):
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
class AttendeeAdmin(admin.ModelAdmin):
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
class FollowUpAdmin(admin.ModelAdmin):
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
class SigningEventAdmin(admin.ModelAdmin):
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
