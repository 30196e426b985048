"""`manage.py seed_scale`: national-scale synthetic data for measuring (see config.scale)."""

from __future__ import annotations

import datetime
import json
from argparse import ArgumentParser, ArgumentTypeError
from pathlib import Path
from typing import Any, TextIO, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.scale import ScaleRefused, planned_counts, seed_scale


def _positive(value: str) -> float:
    try:
        scale = float(value)
        planned_counts(scale)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a positive number") from None
    return scale


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = (
        "Generate synthetic data at a chosen size (--scale 1.0: the whole national system, "
        "about 600 institutions, 20,000 agreements, 300,000 participants and 1,000,000 "
        "enrolments), in bulk, reproducibly from --seed, with fictional names. Refuses a "
        "database that holds data unless --append or --replace. Every account it makes has "
        "one published password, so with DEBUG off it needs --allow-known-password."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--scale", type=_positive, default=1.0, help="1.0 = national size (default)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same data.")
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--append",
            action="store_true",
            help="Add to the data already in the database (new institutions and accounts).",
        )
        mode.add_argument(
            "--replace",
            "--force",
            dest="replace",
            action="store_true",
            help="Delete every institution, agreement, participant and account first.",
        )
        parser.add_argument(
            "--allow-known-password",
            action="store_true",
            help="Create the accounts even with DEBUG off (their password is published).",
        )
        parser.add_argument(
            "--accounts-file",
            type=Path,
            default=None,
            help="Where to write the accounts as JSON (default: var/scale-accounts.json).",
        )
        parser.add_argument(
            "--today",
            type=_day,
            default=None,
            help="The day the data ends on (default: today), to repeat a run another day.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = seed_scale(
                scale=options["scale"],
                seed=options["seed"],
                append=options["append"],
                replace=options["replace"],
                allow_known_password=options["allow_known_password"],
                today=options["today"],
                # The stream itself: the wrapper would end every redraw with a new line.
                progress=cast(TextIO, self.stderr._out),
            )
        except ScaleRefused as exc:
            raise CommandError(
                f"{exc} Pass --append to add to it, --replace to delete it first, or "
                "--allow-known-password for accounts with DEBUG off."
            ) from exc
        path = options["accounts_file"] or Path(settings.BASE_DIR) / "var" / "scale-accounts.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.accounts_json(), indent=2) + "\n", encoding="utf-8")
        total = sum(result.rows.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Scale {result.scale} (seed {result.seed}): {total:,} rows in "
                f"{result.seconds:.1f} s."
            )
        )
        for label, count in sorted(result.rows.items()):
            self.stdout.write(f"  {label}: {count:,}")
        accounts = result.accounts
        self.stdout.write(
            f"Accounts (password {accounts.password!r}), also in {path}:\n"
            f"  superuser:     {accounts.superuser}\n"
            f"  busy unit:     {accounts.busy_staff} (institution {accounts.busy_institution_id})\n"
            f"  partner BNNK:  {accounts.partner_staff} "
            f"(institution {accounts.partner_institution_id})"
        )
