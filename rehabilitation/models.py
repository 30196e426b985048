"""Rehabilitation programmes run under agreements, and the detainees and prisoners enrolled.

Participants and enrolments are specific personal data (health and criminal records, UU PDP
27/2022). Who sees which is decided in `rehabilitation.access` (`visible_participants(user)`,
`visible_enrolments(user)`, …), and every page reads them through it.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from agreements.models import Agreement, SigningEvent
from institutions.models import Institution

from .assist import MAX_SCORE, MIN_SCORE, Risk, Substance, risk_band

#: Below this age a participant is a child (UU 35/2014): extra protection of their data.
ADULT_AGE = 18


class Programme(models.Model):
    """A rehabilitation programme launched under an agreement at a host institution."""

    class Kind(models.TextChoices):
        MEDICAL = "medical", _("Medical rehabilitation")
        SOCIAL = "social", _("Social rehabilitation")
        POST = "post", _("Post-rehabilitation")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    host = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="hosted_programmes",
        verbose_name=_("host institution"),
    )
    partners = models.ManyToManyField(
        Institution,
        related_name="partner_programmes",
        blank=True,
        verbose_name=_("partner institutions"),
    )
    agreement = models.ForeignKey(
        Agreement,
        on_delete=models.PROTECT,
        related_name="programmes",
        verbose_name=_("agreement"),
    )
    launch_date = models.DateField(_("launch date"), help_text=_("Pencanangan."))
    launch_event = models.ForeignKey(
        SigningEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="programmes",
        verbose_name=_("launched at"),
    )
    capacity = models.PositiveIntegerField(
        _("capacity"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    description = models.TextField(_("description"), blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["-launch_date", "name"]
        indexes = [models.Index(fields=["-launch_date", "name"], name="programme_launch_order")]

    def __str__(self) -> str:
        return self.name

    @property
    def institution_ids(self) -> set[int]:
        """The host and partner institutions: their programme staff see the participants."""
        return {self.host_id, *(partner.pk for partner in self.partners.all())}


class Phase(models.Model):
    """A phase of a programme (e.g. orientation 2 weeks, primary 19 weeks, re-entry 3 weeks)."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="phases", verbose_name=_("programme")
    )
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=100)
    planned_weeks = models.PositiveSmallIntegerField(_("planned length (weeks)"))

    class Meta:
        verbose_name = _("phase")
        verbose_name_plural = _("phases")
        ordering = ["programme", "order"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "order"], name="phase_order_once"),
            models.CheckConstraint(condition=Q(planned_weeks__gte=1), name="phase_has_length"),
            models.CheckConstraint(condition=Q(order__gte=1), name="phase_order_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class Participant(models.Model):
    """A detainee (tahanan) or prisoner (narapidana) taking part in rehabilitation."""

    class Status(models.TextChoices):
        DETAINEE = "tahanan", _("Detainee (tahanan)")
        PRISONER = "narapidana", _("Prisoner (narapidana)")

    class Sex(models.TextChoices):
        MALE = "m", _("Male")
        FEMALE = "f", _("Female")

    class Route(models.TextChoices):
        SMOKED = "smoked", _("Smoked or inhaled")
        ORAL = "oral", _("Swallowed")
        INJECTED = "injected", _("Injected")
        SNORTED = "snorted", _("Snorted")
        OTHER = "other", _("Other")

    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="participants",
        verbose_name=_("held at"),
    )
    register_number = models.CharField(_("register number"), max_length=60)
    full_name = models.CharField(_("full name"), max_length=200)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    case_article = models.CharField(
        _("case article"), max_length=60, blank=True, help_text=_("E.g. 127 (UU 35/2009).")
    )
    substances = models.JSONField(
        _("substances used"), default=list, blank=True, help_text=_("ASSIST substance codes.")
    )
    use_duration_months = models.PositiveSmallIntegerField(
        _("duration of use (months)"), null=True, blank=True
    )
    route = models.CharField(_("route of use"), max_length=10, choices=Route.choices, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    archived_at = models.DateTimeField(
        _("archived"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("Archived records are kept but left out of working lists."),
    )

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        ordering = ["institution__name", "register_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "register_number"],
                name="participant_register_number_unique_per_institution",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.register_number} — {self.full_name}"

    def age_on(self, day: datetime.date) -> int | None:
        """Age in whole years on `day`, if the date of birth is known."""
        if self.birth_date is None:
            return None
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def is_minor(self, day: datetime.date | None = None) -> bool:
        """Under 18: a child's data, with extra protection (and an LPKA, not a Lapas)."""
        age = self.age_on(day or timezone.localdate())
        return age is not None and age < ADULT_AGE


class Transfer(models.Model):
    """A move of a participant to another institution; the history stays."""

    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="transfers",
        verbose_name=_("participant"),
    )
    from_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    to_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    date = models.DateField(_("date"))
    reason = models.TextField(_("reason"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        ordering = ["participant", "date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_institution=models.F("to_institution")),
                name="transfer_changes_institution",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant}: {self.from_institution} → {self.to_institution}"


class TransferRequest(models.Model):
    """A request to move a participant to an institution where the sender may not see
    personal data: the receiving institution's programme staff or administrators accept or
    refuse it. The participant stays where they are until it is accepted; acceptance makes
    the `Transfer` as an immediate transfer does.

    Nothing about the request depends on the receiving institution's records, so sending one
    tells the sender nothing about who is held there."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        REFUSED = "refused", _("Refused")
        CANCELLED = "cancelled", _("Cancelled")

    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="transfer_requests",
        verbose_name=_("participant"),
    )
    from_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("from")
    )
    to_institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="+", verbose_name=_("to")
    )
    register_number = models.CharField(
        _("proposed register number"),
        max_length=60,
        help_text=_("The register number at the new institution, as the sender proposes it."),
    )
    date = models.DateField(_("proposed date"))
    reason = models.TextField(_("reason"))
    end_enrolments = models.BooleanField(
        _("close the enrolments that do not follow"), default=False
    )
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    transfer = models.OneToOneField(
        Transfer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="request",
        verbose_name=_("transfer"),
    )

    class Meta:
        verbose_name = _("transfer request")
        verbose_name_plural = _("transfer requests")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_institution=models.F("to_institution")),
                name="transfer_request_changes_institution",
            ),
            models.UniqueConstraint(
                fields=["participant"],
                condition=Q(state="pending"),
                name="one_pending_transfer_request",
            ),
        ]
        indexes = [models.Index(fields=["to_institution", "state"])]

    def __str__(self) -> str:
        return f"{self.from_institution} → {self.to_institution} ({self.get_state_display()})"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING


class Enrolment(models.Model):
    """A participant's place in a programme, from screening to outcome."""

    class Status(models.TextChoices):
        SCREENED = "screened", _("Screened")
        ASSESSED = "assessed", _("Assessed")
        ENROLLED = "enrolled", _("Enrolled")
        IN_PHASE = "in_phase", _("In a phase")
        COMPLETED = "completed", _("Completed")
        DROPPED_OUT = "dropped_out", _("Dropped out")
        TRANSFERRED = "transferred", _("Transferred")
        RELEASED = "released", _("Released before completion")
        REFERRED = "referred", _("Referred elsewhere")

    participant = models.ForeignKey(
        Participant,
        on_delete=models.PROTECT,
        related_name="enrolments",
        verbose_name=_("participant"),
    )
    programme = models.ForeignKey(
        Programme,
        on_delete=models.PROTECT,
        related_name="enrolments",
        verbose_name=_("programme"),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SCREENED
    )
    start_date = models.DateField(_("start date"), help_text=_("The day of the intake screening."))
    enrolled_on = models.DateField(_("enrolled on"), null=True, blank=True)
    end_date = models.DateField(_("end date"), null=True, blank=True)
    end_reason = models.TextField(_("reason for ending"), blank=True)
    current_phase = models.ForeignKey(
        Phase,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current phase"),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    recovered = models.BooleanField(_("recovered"), null=True, blank=True)
    skilled = models.BooleanField(_("skilled"), null=True, blank=True)
    independent = models.BooleanField(_("independent"), null=True, blank=True)

    #: Statuses in which a participant takes a place in the programme.
    ACTIVE_STATUSES = (Status.ENROLLED, Status.IN_PHASE)
    #: Statuses that end the enrolment.
    FINAL_STATUSES = (
        Status.COMPLETED,
        Status.DROPPED_OUT,
        Status.TRANSFERRED,
        Status.RELEASED,
        Status.REFERRED,
    )

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-start_date"]
        indexes = [
            # The enrolment list, newest first (its order, with the id as the tie-break).
            models.Index(fields=["-start_date", "-id"], name="enrolment_newest_first"),
            # Reports read a programme's enrolments that touch a period.
            models.Index(fields=["programme", "start_date"], name="enrolment_programme_start"),
            # A programme's counts by status, and its page's newest few of each status.
            models.Index(
                fields=["programme", "status", "-start_date", "-id"],
                name="enrolment_programme_newest",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "programme"], name="enrolment_once_per_programme"
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="enrolment_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} — {self.programme}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class EnrolmentEvent(models.Model):
    """One move of an enrolment: who, when, from what to what, on which day, and why."""

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="events", verbose_name=_("enrolment")
    )
    from_status = models.CharField(
        _("from"), max_length=12, choices=Enrolment.Status.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=12, choices=Enrolment.Status.choices)
    date = models.DateField(_("date"))
    reason = models.TextField(_("reason"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("enrolment event")
        verbose_name_plural = _("enrolment events")
        ordering = ["enrolment", "recorded_at", "pk"]

    def __str__(self) -> str:
        return f"{self.enrolment}: {self.from_status} → {self.to_status}"


class EnrolmentPhase(models.Model):
    """A phase a participant went through, with its actual dates."""

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="phases", verbose_name=_("enrolment")
    )
    phase = models.ForeignKey(
        Phase, on_delete=models.PROTECT, related_name="+", verbose_name=_("phase")
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)

    class Meta:
        verbose_name = _("phase of an enrolment")
        verbose_name_plural = _("phases of enrolments")
        ordering = ["enrolment", "start_date", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="enrolment_phase_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrolment} — {self.phase}"


class Screening(models.Model):
    """A WHO ASSIST screening of a participant: a score per substance."""

    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="screenings",
        verbose_name=_("participant"),
    )
    enrolment = models.ForeignKey(
        Enrolment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="screenings",
        verbose_name=_("enrolment"),
    )
    date = models.DateField(_("date"))
    screened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("screened by"),
    )
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("ASSIST screening")
        verbose_name_plural = _("ASSIST screenings")
        ordering = ["participant", "date", "pk"]
        indexes = [models.Index(fields=["participant", "date"], name="screening_participant_date")]

    def __str__(self) -> str:
        return f"ASSIST {self.date} — {self.participant}"


class ScreeningScore(models.Model):
    """One substance's ASSIST score in a screening; its risk band follows from `assist`."""

    screening = models.ForeignKey(
        Screening, on_delete=models.CASCADE, related_name="scores", verbose_name=_("screening")
    )
    substance = models.CharField(_("substance"), max_length=15, choices=Substance.choices)
    score = models.PositiveSmallIntegerField(_("score"))
    risk = models.CharField(_("risk"), max_length=10, choices=Risk.choices, editable=False)

    class Meta:
        verbose_name = _("ASSIST score")
        verbose_name_plural = _("ASSIST scores")
        ordering = ["screening", "substance"]
        constraints = [
            models.UniqueConstraint(
                fields=["screening", "substance"], name="screening_score_once_per_substance"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=MIN_SCORE, score__lte=MAX_SCORE),
                name="screening_score_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_substance_display()}: {self.score}"

    def save(self, *args, **kwargs) -> None:
        # The band is stored for reports, and always recomputed from the one rule.
        self.risk = risk_band(self.substance, self.score)
        super().save(*args, **kwargs)


class Assessment(models.Model):
    """The assessment team's recommendation for an enrolment."""

    class Recommendation(models.TextChoices):
        MEDICAL = "medical", _("Medical rehabilitation")
        SOCIAL = "social", _("Social rehabilitation")
        OUTPATIENT = "outpatient", _("Outpatient-style (brief intervention)")
        NONE = "none", _("No rehabilitation")

    enrolment = models.ForeignKey(
        Enrolment,
        on_delete=models.CASCADE,
        related_name="assessments",
        verbose_name=_("enrolment"),
    )
    date = models.DateField(_("date"))
    team = models.TextField(
        _("team members"), help_text=_("Doctor, psychologist, counsellor, officer; one per line.")
    )
    recommendation = models.CharField(
        _("recommendation"), max_length=10, choices=Recommendation.choices
    )
    notes = models.TextField(_("notes"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )

    class Meta:
        verbose_name = _("assessment")
        verbose_name_plural = _("assessments")
        ordering = ["enrolment", "date", "pk"]

    def __str__(self) -> str:
        return f"{self.date} — {self.get_recommendation_display()}"


class Session(models.Model):
    """A programme session (group or individual) whose attendance is recorded."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="sessions", verbose_name=_("programme")
    )
    date = models.DateField(_("date"))
    topic = models.CharField(_("topic"), max_length=200)
    phase = models.ForeignKey(
        Phase,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("phase"),
    )
    facilitator = models.CharField(_("facilitator"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["programme", "-date", "pk"]
        indexes = [models.Index(fields=["programme", "-date"], name="session_programme_date")]

    def __str__(self) -> str:
        return f"{self.date} — {self.topic}"


class Attendance(models.Model):
    """Whether an enrolled participant attended a session."""

    class Status(models.TextChoices):
        PRESENT = "present", _("Present")
        ABSENT = "absent", _("Absent")
        EXCUSED = "excused", _("Excused")

    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="attendance", verbose_name=_("session")
    )
    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="attendance", verbose_name=_("enrolment")
    )
    status = models.CharField(_("attendance"), max_length=10, choices=Status.choices)

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")
        ordering = ["session", "enrolment"]
        constraints = [
            models.UniqueConstraint(fields=["session", "enrolment"], name="attendance_once"),
        ]

    def __str__(self) -> str:
        return f"{self.session}: {self.get_status_display()}"


class ProgressNote(models.Model):
    """A dated progress note by the counsellor or nurse."""

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="notes", verbose_name=_("enrolment")
    )
    date = models.DateField(_("date"))
    text = models.TextField(_("note"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    class Meta:
        verbose_name = _("progress note")
        verbose_name_plural = _("progress notes")
        ordering = ["enrolment", "-date", "-pk"]

    def __str__(self) -> str:
        return f"{self.date} — {self.enrolment}"


class InstrumentScore(models.Model):
    """A score on a follow-up instrument: self-efficacy (GSES) or quality of life (WHOQOL-BREF)."""

    class Instrument(models.TextChoices):
        GSES = "gses", _("General self-efficacy scale (GSES, 10–40)")
        WHOQOL = "whoqol", _("Quality of life (WHOQOL-BREF, 0–100)")

    #: The valid range of each instrument's total.
    RANGES = {Instrument.GSES: (10, 40), Instrument.WHOQOL: (0, 100)}

    enrolment = models.ForeignKey(
        Enrolment,
        on_delete=models.CASCADE,
        related_name="instrument_scores",
        verbose_name=_("enrolment"),
    )
    instrument = models.CharField(_("instrument"), max_length=10, choices=Instrument.choices)
    date = models.DateField(_("date"))
    score = models.PositiveSmallIntegerField(_("score"))

    class Meta:
        verbose_name = _("instrument score")
        verbose_name_plural = _("instrument scores")
        ordering = ["enrolment", "instrument", "date"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(instrument="gses") & Q(score__gte=10, score__lte=40))
                | (Q(instrument="whoqol") & Q(score__gte=0, score__lte=100)),
                name="instrument_score_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_instrument_display()} {self.date}: {self.score}"


class AccessLog(models.Model):
    """Who viewed, changed or exported which participant's data, when and why (UU PDP 27/2022).

    One line per read event (and per institution holding what it showed, so that each
    institution's administrators read the lines of their own participants): a participant's
    page names the `participant`; a list, a search or an export names its records in
    `records` (one `AccessLogRecord` each, inserted in one query) and their number in
    `record_count`. Lines written before lists were logged this way hold one participant each.
    """

    class Action(models.TextChoices):
        VIEW = "view", _("Viewed")
        CHANGE = "change", _("Changed")
        EXPORT = "export", _("Exported")

    class Reason(models.TextChoices):
        """The purpose of the use (UU PDP 27/2022), given by the reader if they wish."""

        CARE = "care", _("Care of the participant")
        TRANSFER = "transfer", _("Transfer")
        REPORT = "report", _("Report")
        AUDIT = "audit", _("Audit or supervision")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("user"),
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="access_log",
        verbose_name=_("participant"),
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("institution"),
        help_text=_("The institution holding the participants when the access happened."),
    )
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    detail = models.CharField(_("what"), max_length=255, blank=True)
    path = models.CharField(
        _("page"), max_length=255, blank=True, help_text=_("The address read, without its query.")
    )
    reason = models.CharField(_("why"), max_length=10, choices=Reason.choices, blank=True)
    record_count = models.PositiveIntegerField(
        _("records"), default=0, help_text=_("How many participants a list or an export showed.")
    )
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data access log")
        ordering = ["-at", "-pk"]
        indexes = [
            # An institution's log, newest first (its administrators' page and filters).
            models.Index(fields=["institution", "-at", "-id"], name="access_log_institution"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.participant_id}"


class AccessLogRecord(models.Model):
    """One participant shown by a list, search or export logged as one `AccessLog` line: what
    lets "who has seen this record" be answered by an indexed lookup."""

    entry = models.ForeignKey(
        AccessLog, on_delete=models.CASCADE, related_name="records", verbose_name=_("access")
    )
    participant = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("participant"),
    )

    class Meta:
        verbose_name = _("record read")
        verbose_name_plural = _("records read")
        constraints = [
            models.UniqueConstraint(fields=["entry", "participant"], name="access_record_once")
        ]
        indexes = [models.Index(fields=["participant", "entry"], name="access_record_person")]

    def __str__(self) -> str:
        return f"{self.entry_id}: {self.participant_id}"


class ProgrammeTally(models.Model):
    """The public counts of one programme's people, kept up to date by the enrolment services
    in the same transaction as each move (`rehabilitation.statistics`), so that the public
    statistics never count every enrolment on a request. `statistics.refresh()` rebuilds them
    from the enrolments (after a bulk load, or to repair)."""

    programme = models.OneToOneField(
        Programme,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="tally",
        verbose_name=_("programme"),
    )
    enrolled = models.PositiveIntegerField(_("ever enrolled"), default=0)
    active = models.PositiveIntegerField(_("active"), default=0)
    completed = models.PositiveIntegerField(_("completed"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("programme tally")
        verbose_name_plural = _("programme tallies")

    def __str__(self) -> str:
        return f"{self.programme_id}: {self.enrolled}/{self.active}/{self.completed}"
