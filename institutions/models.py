"""Institutions (Rutan, Lapas, BNNK, …), the people who act for them, and staff membership."""

from __future__ import annotations

import datetime
import uuid
import warnings

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from PIL import Image

from .files import get_private_storage

#: The largest logo accepted: it is embedded in every PDF of the institution's agreements.
LOGO_MAX_BYTES = 1024 * 1024
#: The widest and tallest logo accepted, in pixels: a few bytes of PNG can declare billions of
#: pixels, and every PDF of the institution's agreements would decode them.
LOGO_MAX_SIDE = 4000


def _logo_path(instance: Institution, filename: str) -> str:
    # Never the uploader's name: a random one, with the extension of the checked format.
    extension = "png" if (instance.logo.name or "").lower().endswith(".png") else "jpg"
    return f"logos/{uuid.uuid4().hex}.{extension}"


def _too_many_pixels() -> ValidationError:
    return ValidationError(
        _(
            "The logo has too many pixels: at most %(max)s × %(max)s are accepted. Upload a "
            "smaller image."
        ),
        code="too_many_pixels",
        params={"max": LOGO_MAX_SIDE},
    )


def validate_logo(file) -> None:
    """A logo must be a real PNG or JPEG image (by content), of a sensible size in bytes and in
    pixels. The pixels are read from the header, before anything is decoded."""
    if file.size > LOGO_MAX_BYTES:
        raise ValidationError(_("The logo is larger than 1 MB."), code="too_large")
    file.seek(0)
    try:
        with warnings.catch_warnings():
            # Pillow warns of (and above twice its limit refuses) a "decompression bomb" when
            # it opens one: both are a logo with too many pixels.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                width, height = image.size
                if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE:
                    raise _too_many_pixels()
                image.verify()
                if image.format not in ("PNG", "JPEG"):
                    raise ValidationError(_("The logo must be a PNG or JPEG image."), code="format")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _too_many_pixels() from exc
    except (OSError, SyntaxError) as exc:
        raise ValidationError(_("The logo is not a readable image."), code="damaged") from exc
    finally:
        file.seek(0)


class Institution(models.Model):
    """A government unit or partner that can be party to an agreement or run a programme."""

    class Kind(models.TextChoices):
        RUTAN = "rutan", _("Rutan (detention centre)")
        LAPAS = "lapas", _("Lapas (prison)")
        LPKA = "lpka", _("LPKA (juvenile facility)")
        BNNK = "bnnk", _("BNNK (district narcotics agency)")
        BNNP = "bnnp", _("BNNP (provincial narcotics agency)")
        BNN = "bnn", _("BNN (national narcotics agency)")
        KANWIL = "kanwil", _("Kanwil (regional office)")
        OTHER = "other", _("Other")

    class Grade(models.TextChoices):
        I = "I", _("Class I")  # noqa: E741 - the official class name
        IIA = "IIA", _("Class IIA")
        IIB = "IIB", _("Class IIB")
        III = "III", _("Class III")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    grade = models.CharField(
        _("class"),
        max_length=3,
        choices=Grade.choices,
        blank=True,
        help_text=_("Class (kelas) of a Rutan, Lapas or LPKA."),
    )
    name = models.CharField(_("name"), max_length=200, unique=True)
    short_name = models.CharField(
        _("short name"), max_length=60, blank=True, help_text=_("E.g. Rutan Pemalang.")
    )
    regency = models.CharField(_("regency/city"), max_length=100, blank=True)
    province = models.CharField(_("province"), max_length=100, blank=True)
    address = models.TextField(_("address"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("website"), blank=True)
    logo = models.ImageField(
        _("logo"),
        upload_to=_logo_path,
        storage=get_private_storage,
        blank=True,
        validators=[validate_logo],
        help_text=_("PNG or JPEG, at most 1 MB; printed above the agreement's title."),
    )

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(grade="") | Q(kind__in=["rutan", "lapas", "lpka"]),
                name="institution_grade_only_for_correctional_units",
            ),
        ]

    def __str__(self) -> str:
        return self.short_name or self.name

    @property
    def display_name(self) -> str:
        """The short name if there is one, else the full name."""
        return self.short_name or self.name


class Person(models.Model):
    """Someone who acts for an institution: a signatory, an attendee, a programme officer."""

    full_name = models.CharField(_("full name"), max_length=200)
    nip = models.CharField(
        _("NIP"),
        max_length=18,
        blank=True,
        help_text=_("Civil-servant number (Nomor Induk Pegawai), if any."),
    )
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["full_name"]
        indexes = [models.Index(fields=["full_name", "id"], name="person_by_name")]
        constraints = [
            models.UniqueConstraint(fields=["nip"], condition=~Q(nip=""), name="person_nip_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name

    def position_on(self, day: datetime.date) -> Position | None:
        """The position (jabatan) this person held on a day, the latest-started one first."""
        return (
            self.positions.filter(Q(start_date__isnull=True) | Q(start_date__lte=day))
            .filter(Q(end_date__isnull=True) | Q(end_date__gte=day))
            .select_related("institution")
            .order_by("-start_date")
            .first()
        )


class Position(models.Model):
    """A position (jabatan) a person holds at an institution for a span of time."""

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="positions", verbose_name=_("person")
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.PROTECT,
        related_name="positions",
        verbose_name=_("institution"),
    )
    title = models.CharField(
        _("position"), max_length=200, help_text=_("E.g. Kasubsi Pelayanan Tahanan.")
    )
    start_date = models.DateField(_("from"), null=True, blank=True)
    end_date = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("position")
        verbose_name_plural = _("positions")
        ordering = ["person__full_name", "-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="position_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.title}, {self.institution}"


class Membership(models.Model):
    """A staff account's role at an institution; an account may hold several.

    Access to an institution's records is decided from these rows by `institutions.access`.
    """

    class Role(models.TextChoices):
        VIEWER = "viewer", _("Viewer")
        EDITOR = "editor", _("Editor")
        ADMIN = "admin", _("Institution administrator")
        PROGRAMME = "programme", _("Programme staff")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("user"),
    )
    institution = models.ForeignKey(
        Institution,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("institution"),
    )
    role = models.CharField(_("role"), max_length=12, choices=Role.choices)

    class Meta:
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        ordering = ["institution__name", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "institution", "role"], name="membership_unique_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}, {self.institution}"


class History(models.Model):
    """One recorded change of a record: who, when, what action, and each field before and after.

    Written by the services (and the admin) of every app through `institutions.history`, so that
    no change goes unexplained. It lives here, at the bottom of the apps, and points at any
    record through its content type; it is read through the record, by those who may see it.
    """

    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        CHANGE = "change", _("Changed")
        DELETE = "delete", _("Deleted")
        ARCHIVE = "archive", _("Archived")
        RESTORE = "restore", _("Restored from the archive")

    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.PROTECT, verbose_name=_("kind of record")
    )
    object_id = models.CharField(_("record id"), max_length=64)
    object_repr = models.CharField(_("record"), max_length=255)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    changes = models.JSONField(
        _("changes"), default=dict, blank=True, help_text=_("Field name → [before, after].")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("history entry")
        verbose_name_plural = _("history")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "-at"]),
            # The admin's history list, newest first.
            models.Index(fields=["-at", "-id"], name="history_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.object_repr}"
