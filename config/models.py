"""The one table of the project level: the slots of the task schedule (config/tasks.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScheduledRun(models.Model):
    """One run of a scheduled job (or one tick of the schedule itself) for one time slot.

    The row is inserted in the same transaction that queues the run, and the database accepts
    one per job and slot: however many workers look at the schedule at once, each run is queued
    once.
    """

    job = models.CharField(_("job"), max_length=64)
    slot = models.DateTimeField(_("slot"), help_text=_("The time the run is due."))
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        ordering = ["-slot", "job"]
        constraints = [
            models.UniqueConstraint(fields=["job", "slot"], name="scheduled_run_once_per_slot")
        ]

    def __str__(self) -> str:
        return f"{self.job} @ {self.slot.isoformat()}"
