"""`manage.py seed_demo`: load the scenario of the seed news report (see config.demo)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from config.demo import DEMO_PASSWORD, DEMO_USERNAMES, DemoAccountsRefused, seed_demo


class Command(BaseCommand):
    help = (
        "Load the demo scenario: Rutan Pemalang, Rutan Pekalongan, Lapas Pekalongan and BNNK "
        "Batang, their PKS, the discussion meeting, the signing and the social rehabilitation "
        "programme with invented participants, all made through the services. Safe to run "
        "again. Also creates demo accounts with a published password, which needs DEBUG on; "
        "--no-accounts loads only the data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--no-accounts",
            action="store_true",
            help="Load only the data, without the demo accounts (allowed with DEBUG off).",
        )

    def handle(self, *args: Any, no_accounts: bool, **options: Any) -> None:
        try:
            created = seed_demo(with_accounts=not no_accounts)
        except DemoAccountsRefused as exc:
            raise CommandError(
                f"{exc} Turn DEBUG on for a development machine, or pass --no-accounts to "
                "load only the data."
            ) from exc
        total = sum(created.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data loaded ({total} new rows; steps already taken were left as they are)."
            )
        )
        for label, count in sorted(created.items()):
            if count:
                self.stdout.write(f"  {label}: {count} new")
        if not no_accounts:
            self.stdout.write(
                f"Demo accounts {', '.join(DEMO_USERNAMES)} have the password {DEMO_PASSWORD!r}."
            )
