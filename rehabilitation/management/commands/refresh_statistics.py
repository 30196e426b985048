"""`manage.py refresh_statistics`: rebuild the public counts of every programme."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rehabilitation import statistics


class Command(BaseCommand):
    help = "Rebuild the public counts per programme from the enrolments (idempotent)."

    def handle(self, *args, **options) -> None:
        rows = statistics.refresh()
        self.stdout.write(f"{rows} programme(s) counted.")
