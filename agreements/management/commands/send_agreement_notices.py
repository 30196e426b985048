"""`manage.py send_agreement_notices`: e-mail expiry notices and overdue follow-ups (daily)."""

from __future__ import annotations

import datetime
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agreements.services.notices import send_notices


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = (
        "E-mail the staff of the parties when an agreement enters its notice period, and when "
        "a meeting's follow-up is overdue. Each event is sent once; safe to run again. Exits "
        "with status 1 if any e-mail could not be sent (it is tried again on the next run). "
        "The task schedule runs it daily; this command is for a run by hand."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--date",
            type=_date,
            default=None,
            help="Run as of this day (YYYY-MM-DD) instead of today in WIB.",
        )

    def handle(self, *args: Any, date: datetime.date | None, **options: Any) -> None:
        report = send_notices(today=date)
        for outcome in report.sent:
            self.stdout.write(
                f"Sent {outcome.kind}: {outcome.about} → {', '.join(outcome.recipients)}"
            )
        for outcome in report.no_recipients:
            self.stdout.write(
                self.style.WARNING(
                    f"No recipients {outcome.kind}: {outcome.about} "
                    "(no active staff account with an e-mail address)"
                )
            )
        for outcome in report.failed:
            self.stderr.write(f"Failed {outcome.kind}: {outcome.about}: {outcome.error}")
        for outcome in report.awaiting_decision:
            self.stdout.write(
                self.style.WARNING(
                    f"Awaiting a decision {outcome.kind}: {outcome.about} (its sending began "
                    "and was never confirmed: resend it or mark it sent in the admin)"
                )
            )
        summary = (
            f"{len(report.sent)} sent, {len(report.no_recipients)} without recipients, "
            f"{len(report.failed)} failed, {len(report.awaiting_decision)} awaiting a decision."
        )
        if not report.ok:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))
