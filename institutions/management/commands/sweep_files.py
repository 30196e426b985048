"""`manage.py sweep_files [--delete]`: the files of the private store that no row names.

A process killed between writing a file and committing its row (a scan upload, an issuing, a
restore), or an upload whose transaction rolled back, leaves a file that nothing names; a
request killed while its upload was spooled leaves a file in FILE_UPLOAD_TEMP_DIR. This lists
them and, with --delete, removes those older than ORPHAN_FILE_GRACE_HOURS (younger ones may
belong to a row being committed right now) and spooled uploads older than an hour.

A dry run by default, so that an operator sees what would go before anything does; the
scheduled task calls `institutions.files.sweep(delete=True)` itself.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from institutions import files


class Command(BaseCommand):
    help = (
        "List the stored files no row names (older than ORPHAN_FILE_GRACE_HOURS) and stale "
        "spooled uploads; with --delete, remove them. A dry run without --delete."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--delete", action="store_true", help="Remove what is found (default: only list)."
        )

    def handle(self, *args: Any, delete: bool, **options: Any) -> None:
        report = files.sweep(delete=delete)
        verb = "Removed" if delete else "Would remove"
        for name in report.orphans:
            self.stdout.write(f"{verb} orphan file: {name}")
        for name in report.stale_uploads:
            self.stdout.write(f"{verb} stale upload: {name}")
        for name in report.too_young:
            self.stdout.write(f"Kept (younger than the grace period): {name}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {len(report.orphans)} orphan file(s) and {len(report.stale_uploads)} "
                f"stale upload(s); kept {len(report.too_young)} younger file(s)."
                + ("" if delete else " Run with --delete to remove them.")
            )
        )
