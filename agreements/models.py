"""Cooperation agreements (PKS, MoU, addenda), their parties, articles, meetings and signings."""

from __future__ import annotations

import datetime
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.files import LocalPrivateStorage, get_private_storage, private_files
from institutions.models import Institution, Person

from .terbilang import pihak_label


class PrivateStorage(LocalPrivateStorage):
    """Named by the first migrations of the file fields; the fields now use the configured
    private store (`institutions.files.get_private_storage`)."""

    def __init__(self) -> None:
        super().__init__()


#: The private store of scans and issued documents (and logos): see `institutions.files`.
private_storage = private_files


class AgreementQuerySet(models.QuerySet["Agreement"]):
    def public(self) -> AgreementQuerySet:
        """Agreements that have been signed: public information, shown in the public registry."""
        return self.filter(status__in=Agreement.PUBLIC_STATUSES)

    # Who may see or change which agreements is `agreements.access`'s to say.

    def with_current_status(self, today: datetime.date | None = None) -> AgreementQuerySet:
        """Annotate `current_status`: the stored status, the calendar applied to signed ones."""
        today = today or timezone.localdate()
        signed = Q(status=Agreement.Status.SIGNED)
        return self.annotate(
            current_status=Case(
                When(signed & Q(end_date__lt=today), then=Value(Agreement.Status.EXPIRED)),
                When(
                    signed & Q(effective_date__isnull=False, effective_date__gt=today),
                    then=Value(Agreement.Status.SIGNED),
                ),
                When(
                    signed & Q(notice_from__isnull=False, notice_from__lte=today),
                    then=Value(Agreement.Status.EXPIRING),
                ),
                When(signed, then=Value(Agreement.Status.ACTIVE)),
                default=F("status"),
                output_field=models.CharField(),
            )
        )


class Agreement(models.Model):
    """A cooperation agreement between two or more institutions.

    `status` holds the workflow state that people move (draft → … → signed, or terminated).
    Once signed, whether it is active, expiring or expired follows from the calendar: see
    `current_status()`.
    """

    class Kind(models.TextChoices):
        PKS = "pks", _("Cooperation agreement (PKS)")
        MOU = "mou", _("Memorandum of understanding (MoU)")
        ADDENDUM = "addendum", _("Addendum")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        DISCUSSION = "discussion", _("In discussion")
        READY = "ready", _("Ready for signing")
        SIGNED = "signed", _("Signed")
        ACTIVE = "active", _("Active")
        EXPIRING = "expiring", _("Expiring")
        EXPIRED = "expired", _("Expired")
        TERMINATED = "terminated", _("Terminated")

    #: States a person moves the agreement into; the others follow from the calendar.
    STORED_STATUSES = (
        Status.DRAFT,
        Status.DISCUSSION,
        Status.READY,
        Status.SIGNED,
        Status.TERMINATED,
    )
    PUBLIC_STATUSES = (Status.SIGNED, Status.TERMINATED)
    #: States in which the text, parties and numbers can still change.
    EDITABLE_STATUSES = (Status.DRAFT, Status.DISCUSSION, Status.READY)

    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.PKS)
    title = models.CharField(
        _("short title"), max_length=255, help_text=_("How the agreement is called in lists.")
    )
    subject = models.TextField(
        _("subject"),
        help_text=_("What the agreement is about: the words after TENTANG in the title."),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=[(status.value, status.label) for status in STORED_STATUSES],
        default=Status.DRAFT,
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="addenda",
        verbose_name=_("amends"),
        help_text=_("For an addendum: the agreement it amends."),
    )
    renews = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal",
        verbose_name=_("renews"),
        help_text=_("For a renewal (perpanjangan): the agreement it continues."),
    )
    considerations = models.TextField(
        _("considerations"), blank=True, help_text=_("The 'bahwa …' clauses, one per line.")
    )
    legal_basis = models.TextField(
        _("legal basis"), blank=True, help_text=_("Laws and regulations, one per line.")
    )
    term_months = models.PositiveSmallIntegerField(
        _("term (months)"), null=True, blank=True, help_text=_("Jangka waktu.")
    )
    effective_date = models.DateField(_("effective from"), null=True, blank=True)
    end_date = models.DateField(_("ends on"), null=True, blank=True)
    notice_days = models.PositiveSmallIntegerField(
        _("notice period (days)"),
        default=90,
        help_text=_("How long before the end date the agreement counts as expiring."),
    )
    notice_from = models.DateField(
        _("expiring from"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The end date less the notice period; kept by save()."),
    )
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    signing_place = models.CharField(
        _("place of signing"), max_length=200, blank=True, help_text=_("'bertempat di …'")
    )
    signing_event = models.ForeignKey(
        "SigningEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agreements",
        verbose_name=_("signing event"),
    )
    terminated_on = models.DateField(_("terminated on"), null=True, blank=True)
    termination_reason = models.TextField(_("reason for termination"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    version = models.PositiveIntegerField(
        _("version"), default=1, editable=False, help_text=_("Raised by every saved change.")
    )
    archived_at = models.DateTimeField(
        _("archived"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Archived records are kept but left out of working lists."),
    )

    objects = AgreementQuerySet.as_manager()

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["-signed_on", "-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "discussion", "ready", "signed", "terminated"]),
                name="agreement_status_is_stored_state",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(effective_date__isnull=True)
                | Q(end_date__gte=F("effective_date")),
                name="agreement_ends_after_it_starts",
            ),
            models.CheckConstraint(
                condition=Q(kind="addendum", parent__isnull=False)
                | (~Q(kind="addendum") & Q(parent__isnull=True)),
                name="agreement_addendum_has_parent",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["signed", "terminated"]) | Q(signed_on__isnull=False),
                name="agreement_signed_has_date",
            ),
            models.CheckConstraint(
                condition=~Q(status="terminated") | Q(terminated_on__isnull=False),
                name="agreement_terminated_has_date",
            ),
        ]
        # Each default and common ordering has its index, so that a page of a list is read
        # from the index rather than by sorting the whole table.
        indexes = [
            models.Index(fields=["status", "end_date"]),
            # The default ordering and the staff list's (signed ones last-signed first, the
            # unsigned on top: a descending index puts NULLs first, as the list does).
            models.Index(fields=["-signed_on", "-created_at", "-id"], name="agreement_newest"),
            # The public registry: signed and terminated agreements, last signed first.
            models.Index(
                fields=["-signed_on", "-id"],
                name="agreement_registry",
                condition=Q(status__in=["signed", "terminated"]),
            ),
            # The staff home's latest agreements.
            models.Index(fields=["-created_at"], name="agreement_created"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        self.notice_from = (
            self.end_date - datetime.timedelta(days=self.notice_days) if self.end_date else None
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"end_date", "notice_days"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "notice_from"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("public:agreement", args=[self.pk])

    def current_status(self, today: datetime.date | None = None) -> str:
        """The status as of `today`: a signed agreement is active, expiring or expired by date."""
        if self.status != self.Status.SIGNED:
            return self.status
        today = today or timezone.localdate()
        if self.end_date and today > self.end_date:
            return self.Status.EXPIRED
        if self.effective_date and today < self.effective_date:
            return self.Status.SIGNED
        if self.end_date and today >= self.end_date - datetime.timedelta(days=self.notice_days):
            return self.Status.EXPIRING
        return self.Status.ACTIVE

    def get_current_status_display(self) -> str:
        status = getattr(self, "current_status", None)
        if not isinstance(status, str):
            status = self.current_status()
        return str(self.Status(status).label)

    @property
    def is_public(self) -> bool:
        return self.status in self.PUBLIC_STATUSES

    @property
    def is_signed(self) -> bool:
        return self.status in self.PUBLIC_STATUSES

    @property
    def is_editable(self) -> bool:
        """Whether text, parties and numbers may change: only before signing."""
        return self.status in self.EDITABLE_STATUSES

    @property
    def current_scan(self) -> SignedScan | None:
        """The latest uploaded scan of the signed document, if any."""
        return self.scans.order_by("-uploaded_at", "-pk").first()


class Party(models.Model):
    """An institution's place in an agreement, with the number its own registry gave it."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="parties", verbose_name=_("agreement")
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="parties",
        verbose_name=_("institution"),
    )
    order = models.PositiveSmallIntegerField(
        _("order"), help_text=_("1 = PIHAK PERTAMA, 2 = PIHAK KEDUA, …")
    )
    number = models.CharField(
        _("agreement number"),
        max_length=120,
        blank=True,
        help_text=_("The number this party's registry gave the agreement (NOMOR)."),
    )
    signatory = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signatures",
        verbose_name=_("signatory"),
    )
    signatory_position = models.CharField(
        _("signatory's position"),
        max_length=200,
        blank=True,
        help_text=_("The position held when signing."),
    )
    # What the signed document states about the party, frozen at signing (see `freeze`): a
    # later rename of the institution or the signatory changes nothing the public record,
    # the verification page or the issued PDF print.
    frozen_at = models.DateTimeField(_("frozen at"), null=True, blank=True, editable=False)
    frozen_institution_name = models.CharField(
        _("institution's name at signing"), max_length=200, blank=True, editable=False
    )
    frozen_institution_short_name = models.CharField(
        _("institution's short name at signing"), max_length=60, blank=True, editable=False
    )
    frozen_institution_kind = models.CharField(
        _("institution's kind at signing"), max_length=10, blank=True, editable=False
    )
    frozen_institution_address = models.TextField(
        _("institution's address at signing"), blank=True, editable=False
    )
    frozen_signatory_name = models.CharField(
        _("signatory's name at signing"), max_length=200, blank=True, editable=False
    )
    frozen_signatory_nip = models.CharField(
        _("signatory's NIP at signing"), max_length=18, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["agreement_id", "order"]
        # Every access rule asks "the agreements of these institutions": served by this one.
        indexes = [models.Index(fields=["institution", "agreement"], name="party_by_institution")]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "institution"], name="party_institution_once"
            ),
            models.UniqueConstraint(fields=["agreement", "order"], name="party_order_once"),
            models.UniqueConstraint(
                fields=["institution", "number"],
                condition=~Q(number=""),
                name="party_number_unique_per_institution",
            ),
            models.CheckConstraint(condition=Q(order__gte=1), name="party_order_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.institution}"

    @property
    def label(self) -> str:
        """PIHAK PERTAMA, PIHAK KEDUA, …"""
        return pihak_label(self.order)

    def freeze(self, when: datetime.datetime | None = None) -> None:
        """Copy what the document states about the party from the live institution and
        signatory (not saved here). Done at signing; the copy is what is printed afterwards."""
        institution, signatory = self.institution, self.signatory
        self.frozen_at = when or timezone.now()
        self.frozen_institution_name = institution.name
        self.frozen_institution_short_name = institution.short_name
        self.frozen_institution_kind = institution.kind
        self.frozen_institution_address = institution.address
        self.frozen_signatory_name = signatory.full_name if signatory else ""
        self.frozen_signatory_nip = (signatory.nip or "") if signatory else ""

    #: The fields `freeze` writes.
    FROZEN_FIELDS = (
        "frozen_at",
        "frozen_institution_name",
        "frozen_institution_short_name",
        "frozen_institution_kind",
        "frozen_institution_address",
        "frozen_signatory_name",
        "frozen_signatory_nip",
    )

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def printed_institution_name(self) -> str:
        """The institution's name as the document states it: frozen once signed, else live."""
        return self.frozen_institution_name if self.is_frozen else self.institution.name

    @property
    def printed_institution_short_name(self) -> str:
        if self.is_frozen:
            return self.frozen_institution_short_name
        return self.institution.short_name

    @property
    def printed_institution_display_name(self) -> str:
        """The short name if there is one, else the full name, as the document states them."""
        return self.printed_institution_short_name or self.printed_institution_name

    @property
    def printed_institution_kind(self) -> str:
        return self.frozen_institution_kind if self.is_frozen else self.institution.kind

    @property
    def printed_institution_address(self) -> str:
        if self.is_frozen:
            return self.frozen_institution_address
        return self.institution.address

    @property
    def has_signatory(self) -> bool:
        return bool(self.frozen_signatory_name) if self.is_frozen else self.signatory_id is not None

    @property
    def printed_signatory_name(self) -> str:
        """The signatory's name as the document states it ("" without one)."""
        if self.is_frozen:
            return self.frozen_signatory_name
        return self.signatory.full_name if self.signatory else ""

    @property
    def printed_signatory_nip(self) -> str:
        if self.is_frozen:
            return self.frozen_signatory_nip
        return (self.signatory.nip or "") if self.signatory else ""


class Article(models.Model):
    """A numbered article (Pasal) of the agreement's text."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="articles", verbose_name=_("agreement")
    )
    number = models.PositiveSmallIntegerField(_("number"))
    heading = models.CharField(_("heading"), max_length=200)
    body = models.TextField(_("text"))

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        ordering = ["agreement_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "number"], name="article_number_once"),
            models.CheckConstraint(condition=Q(number__gte=1), name="article_number_positive"),
        ]

    def __str__(self) -> str:
        return f"Pasal {self.number}: {self.heading}"


class Meeting(models.Model):
    """A discussion meeting (pembahasan) about an agreement."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("agreement")
    )
    date = models.DateField(_("date"))
    start_time = models.TimeField(_("starts at"))
    end_time = models.TimeField(
        _("ends at"), null=True, blank=True, help_text=_("Empty: until finished (hingga selesai).")
    )
    venue = models.CharField(_("venue"), max_length=200)
    host = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="hosted_meetings",
        verbose_name=_("host"),
    )
    agenda = models.TextField(_("agenda"), blank=True)
    minutes = models.TextField(_("minutes"), blank=True)
    decisions = models.TextField(_("decisions"), blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["-date", "-start_time"]
        indexes = [
            models.Index(fields=["-date", "-start_time"], name="meeting_latest"),
            # A calendar feed's and the staff home's meetings of a host from a date on.
            models.Index(fields=["host", "date"], name="meeting_host_date"),
            models.Index(fields=["agreement", "date"], name="meeting_agreement_date"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__isnull=True) | Q(end_time__gt=F("start_time")),
                name="meeting_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%d-%m-%Y} — {self.agreement}"


class Attendee(models.Model):
    """Someone present at a meeting, with the position held and institution represented."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="attendees", verbose_name=_("meeting")
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="attendances", verbose_name=_("person")
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="attendances",
        verbose_name=_("institution"),
    )
    position = models.CharField(_("position"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("attendee")
        verbose_name_plural = _("attendees")
        ordering = ["meeting", "institution__name", "person__full_name"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "person"], name="attendee_once"),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.institution})"


class FollowUp(models.Model):
    """A follow-up action (tindak lanjut) decided at a meeting, owned by an institution."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="follow_ups", verbose_name=_("meeting")
    )
    description = models.TextField(_("action"))
    owner = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="follow_ups",
        verbose_name=_("responsible institution"),
    )
    due_date = models.DateField(_("due"))
    done_on = models.DateField(_("done on"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["done_on", "due_date"]
        indexes = [
            models.Index(fields=["done_on", "due_date"], name="follow_up_order"),
            # Open follow-ups, the earliest due first: the staff home and the follow-up list.
            models.Index(
                fields=["due_date", "id"],
                name="follow_up_open",
                condition=Q(done_on__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.description[:80]

    def is_overdue(self, today: datetime.date | None = None) -> bool:
        return self.done_on is None and self.due_date < (today or timezone.localdate())


class SigningEvent(models.Model):
    """A signing ceremony; one event can sign several agreements and launch programmes."""

    date = models.DateField(_("date"))
    start_time = models.TimeField(_("starts at"), null=True, blank=True)
    venue = models.CharField(_("venue"), max_length=200)
    host = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="hosted_signings",
        verbose_name=_("host"),
    )
    notes = models.TextField(_("notes"), blank=True)
    #: The random key of the signing form that recorded the event: the same form sent again
    #: (a retry after a dropped connection) finds its event instead of being refused.
    submission_key = models.CharField(
        _("submission key"), max_length=64, null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        verbose_name = _("signing event")
        verbose_name_plural = _("signing events")
        ordering = ["-date"]
        indexes = [models.Index(fields=["-date"], name="signing_event_latest")]

    def __str__(self) -> str:
        return f"{self.date:%d-%m-%Y} — {self.venue}"


class StatusChange(models.Model):
    """One move of an agreement through its lifecycle: who, when, from what to what, and why."""

    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.CASCADE,
        related_name="status_changes",
        verbose_name=_("agreement"),
    )
    from_status = models.CharField(_("from"), max_length=12, choices=Agreement.Status.choices)
    to_status = models.CharField(_("to"), max_length=12, choices=Agreement.Status.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("changed by"),
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["agreement", "changed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.agreement}: {self.from_status} → {self.to_status}"


def _scan_path(instance: SignedScan, filename: str) -> str:
    # The stored name is never the uploader's: a random name under the agreement's folder.
    return f"signed-scans/{instance.agreement_id}/{uuid.uuid4().hex}.pdf"


class SignedScan(models.Model):
    """An uploaded scan of the signed agreement (PDF only), kept outside any public URL."""

    agreement = models.ForeignKey(
        Agreement, on_delete=models.PROTECT, related_name="scans", verbose_name=_("agreement")
    )
    file = models.FileField(_("file"), upload_to=_scan_path, storage=get_private_storage)
    original_name = models.CharField(_("uploaded file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    pages = models.PositiveIntegerField(_("pages"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("signed scan")
        verbose_name_plural = _("signed scans")
        ordering = ["-uploaded_at", "-pk"]
        indexes = [
            models.Index(fields=["agreement", "-uploaded_at", "-id"], name="scan_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.agreement} — {self.original_name}"


class Notice(models.Model):
    """A notice e-mail about one event (an agreement entering its notice period, a follow-up
    overdue), so that each event is announced once.

    The row is written, pending, before the e-mail is handed to the mail server, and marked sent
    after; the e-mail carries `message_id`, made from the event, so a copy sent again is known
    as the same message. A notice the server refused is failed and sent at the next run; one left
    pending past the window (a crash between the server's acceptance and the mark, or a run cut
    short) may have arrived, and waits for a person to resend it or mark it sent.
    """

    class Kind(models.TextChoices):
        EXPIRING = "expiring", _("Agreement entering its notice period")
        FOLLOW_UP_OVERDUE = "overdue", _("Follow-up overdue")

    class State(models.TextChoices):
        PENDING = "pending", _("being sent")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notices",
        verbose_name=_("agreement"),
    )
    follow_up = models.ForeignKey(
        FollowUp,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notices",
        verbose_name=_("follow-up"),
    )
    event_date = models.DateField(
        _("event date"),
        help_text=_("The day the notice is about: start of the notice period, or the due date."),
    )
    recipients = models.TextField(_("recipients"))
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    subject = models.TextField(_("subject"), blank=True)
    body = models.TextField(_("body"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    attempted_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        ordering = ["-attempted_at", "-pk"]
        indexes = [models.Index(fields=["-attempted_at", "-id"], name="notice_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="expiring", agreement__isnull=False, follow_up__isnull=True)
                | Q(kind="overdue", follow_up__isnull=False, agreement__isnull=True),
                name="notice_subject_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "agreement", "event_date"],
                condition=Q(agreement__isnull=False),
                name="notice_once_per_agreement_event",
            ),
            models.UniqueConstraint(
                fields=["kind", "follow_up", "event_date"],
                condition=Q(follow_up__isnull=False),
                name="notice_once_per_follow_up_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.event_date}"


def _new_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """The secret address of one person's iCalendar feed of an institution's meetings and
    signings.

    Anyone holding the URL can read the feed (calendar apps cannot log in), so the token is
    long and random, belongs to one account at one institution, and works only while that
    account is active and holds a role there (`agreements.access.get_live_feed`). What it
    lists is what its owner may see at the time of each request. Its owner replaces or
    removes it on the calendar page; removing the membership or switching the account off
    deletes it (`agreements.services.calendar`).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("user"),
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.CASCADE,
        related_name="calendar_feeds",
        verbose_name=_("institution"),
    )
    token = models.CharField(_("token"), max_length=64, unique=True, default=_new_token)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "institution"], name="calendar_feed_once_per_user_institution"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.institution}"

    def regenerate(self) -> None:
        """Replace the token, so that every earlier copy of the URL stops working."""
        self.token = _new_token()
        self.created_at = timezone.now()
        self.save(update_fields=["token", "created_at"])


def _issued_path(instance: IssuedDocument, filename: str) -> str:
    return f"issued/{instance.agreement_id}/{uuid.uuid4().hex}.pdf"


#: The characters of a verification code: Crockford's base32, without the look-alikes I, L, O
#: (and U), so a code typed from a printout cannot be misread.
VERIFICATION_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VERIFICATION_CODE_LENGTH = 16
#: What a reader may type for a character of the alphabet: the look-alikes, as Crockford says.
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _verification_code() -> str:
    # Short enough to type from a printout, long enough not to be guessed (80 bits).
    return "".join(secrets.choice(VERIFICATION_ALPHABET) for _ in range(VERIFICATION_CODE_LENGTH))


def normalise_verification_code(code: str) -> str:
    """`code` as issued, typed in any case, with O for 0, I or L for 1, and spaces or hyphens
    between groups. Codes issued before this alphabet (mixed case, `-` and `_`) are looked up
    exactly, as they were printed."""
    return "".join(code.split()).replace("-", "").upper().translate(_LOOK_ALIKES)


class IssuedDocument(models.Model):
    """The official PDF of a signed agreement, rendered once at signing and kept byte for byte.

    Every download serves these exact bytes; the public verification page shows their SHA-256
    so that anyone holding a printout (through its QR code) or a file can check it.
    """

    agreement = models.OneToOneField(
        Agreement,
        on_delete=models.PROTECT,
        related_name="issued_document",
        verbose_name=_("agreement"),
    )
    file = models.FileField(_("file"), upload_to=_issued_path, storage=get_private_storage)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    verification_code = models.CharField(
        _("verification code"), max_length=32, unique=True, default=_verification_code
    )
    digitally_signed = models.BooleanField(_("digitally signed"), default=False)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)

    class Meta:
        verbose_name = _("issued document")
        verbose_name_plural = _("issued documents")

    def __str__(self) -> str:
        return f"{self.agreement} — {self.sha256[:12]}"
