"""Rehabilitation programmes run under agreements, and the detainees and prisoners enrolled.

Participants and enrolments are specific personal data (health and criminal records, UU PDP
27/2022). Their querysets are only ever read through `visible_to(user)`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from agreements.models import Agreement, SigningEvent
from institutions import access
from institutions.models import Institution


class ProgrammeQuerySet(models.QuerySet["Programme"]):
    def visible_to(self, user) -> ProgrammeQuerySet:
        """Programmes hosted by, or run with, an institution where `user` is staff."""
        if access.is_superuser(user):
            return self
        ids = access.institution_ids(user)
        return self.filter(Q(host_id__in=ids) | Q(partners__in=ids)).distinct()


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
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)

    objects = ProgrammeQuerySet.as_manager()

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["-launch_date", "name"]

    def __str__(self) -> str:
        return self.name


class ParticipantQuerySet(models.QuerySet["Participant"]):
    def visible_to(self, user) -> ParticipantQuerySet:
        """Participants held at, or enrolled in a programme run with, an institution where
        `user` may see personal data. Nobody else sees any."""
        if access.is_superuser(user):
            return self
        ids = access.institution_ids(user, access.PERSONAL_DATA_ROLES)
        if not ids:
            return self.none()
        involved = Enrolment.objects.filter(
            Q(programme__host_id__in=ids) | Q(programme__partners__in=ids)
        ).values("participant_id")
        return self.filter(Q(institution_id__in=ids) | Q(pk__in=involved))


class Participant(models.Model):
    """A detainee (tahanan) or prisoner (narapidana) taking part in rehabilitation."""

    class Status(models.TextChoices):
        DETAINEE = "tahanan", _("Detainee (tahanan)")
        PRISONER = "narapidana", _("Prisoner (narapidana)")

    class Sex(models.TextChoices):
        MALE = "m", _("Male")
        FEMALE = "f", _("Female")

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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = ParticipantQuerySet.as_manager()

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


class EnrolmentQuerySet(models.QuerySet["Enrolment"]):
    def visible_to(self, user) -> EnrolmentQuerySet:
        """Enrolments of the participants `user` may see."""
        if access.is_superuser(user):
            return self
        return self.filter(participant__in=Participant.objects.visible_to(user))


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
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)

    objects = EnrolmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-start_date"]
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
