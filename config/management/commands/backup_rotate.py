"""`manage.py backup_rotate <folder> [--keep N]`: a scheduled, checksummed backup.

Writes a new archive with `export_data` (every row and every file; see that command) as
`<folder>/pks-backup-<UTC time>.zip`, checks it (every entry's CRC, the manifest present), writes
its SHA-256 beside it as `<archive>.sha256` (the format of `sha256sum -c`), and only then removes
the oldest archives beyond the newest `--keep`. A failed export leaves nothing behind and
removes nothing, and exits non-zero so the scheduler reports it. docs/deployment.md has the
timer and the restore drill.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import zipfile
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

PREFIX = "pks-backup-"
SUFFIX = ".zip"
CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def backups_in(folder: Path) -> list[Path]:
    """The archives this command wrote in `folder`, oldest first (their names sort by time)."""
    return sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))


class Command(BaseCommand):
    help = "Write a checksummed backup archive to a folder and keep only the newest N."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("folder", help="The folder of the backups (it must exist).")
        parser.add_argument(
            "--keep", type=int, default=14, help="How many archives to keep (default 14)."
        )

    def handle(self, *args: Any, folder: str, keep: int, **options: Any) -> None:
        target_folder = Path(folder)
        if not target_folder.is_dir():
            raise CommandError(f"The folder {target_folder} does not exist.")
        if keep < 1:
            raise CommandError("--keep must be at least 1.")
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        archive = target_folder / f"{PREFIX}{stamp}{SUFFIX}"
        try:
            call_command("export_data", str(archive), verbosity=options.get("verbosity", 1))
            self._check(archive)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                archive.unlink()
            raise
        checksum = target_folder / f"{archive.name}.sha256"
        checksum.write_text(f"{sha256_of(archive)}  {archive.name}\n")
        checksum.chmod(0o600)
        removed = []
        for old in backups_in(target_folder)[:-keep]:
            old.unlink()
            with contextlib.suppress(FileNotFoundError):
                (target_folder / f"{old.name}.sha256").unlink()
            removed.append(old.name)
        self.stdout.write(
            f"Backup {archive.name} written and checked; "
            f"{len(backups_in(target_folder))} kept, {len(removed)} removed."
        )

    @staticmethod
    def _check(archive: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as opened:
                broken = opened.testzip()
                names = set(opened.namelist())
        except zipfile.BadZipFile as error:
            raise CommandError(f"The new archive {archive.name} is not readable: {error}") from None
        if broken is not None:
            raise CommandError(f"The new archive {archive.name} has a damaged entry: {broken}")
        if "manifest.json" not in names:
            raise CommandError(f"The new archive {archive.name} has no manifest.")
