"""`manage.py restore_data <file.zip>`: load an `export_data` archive into an empty database.

Before anything is written, the archive is checked: its format, that this database has the
same migrations applied, that it lists exactly the entries it holds under safe names, and the
SHA-256 of each entry. The database must be empty (freshly migrated: only the content types and
permissions `migrate` creates); a database with any other row is refused, always.

Rows are loaded in one transaction; the files are written last, into MEDIA_ROOT/private. If
anything fails, the transaction is rolled back and the files written so far are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from argparse import ArgumentParser
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from .export_data import (
    CHUNK,
    DATA_NAME,
    FILES_PREFIX,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_NAME,
    MIGRATE_CREATED,
    applied_migrations,
    exported_models,
    private_root,
)


class RestoreRefused(CommandError):
    """The archive or the database is not fit for a restore; nothing was written."""


def _sha256_of_entry(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with archive.open(name) as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _safe_name(name: object) -> PurePosixPath:
    """A relative name with no way out of the directory it is restored into."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise RestoreRefused(f"Unsafe file name in the archive: {name!r}")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        raise RestoreRefused(f"Unsafe file name in the archive: {name!r}")
    return path


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    """The archive's manifest, checked for format and shape."""
    try:
        manifest = json.loads(archive.read(MANIFEST_NAME))
    except KeyError as exc:
        raise RestoreRefused("This is not an export_data archive: it has no manifest.") from exc
    except ValueError as exc:
        raise RestoreRefused(f"The manifest is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RestoreRefused("This is not an export_data archive of this application.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RestoreRefused(
            f"Archive format version {manifest.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION})."
        )
    for key, kind in (("counts", dict), ("data", dict), ("files", list), ("migrations", dict)):
        if not isinstance(manifest.get(key), kind):
            raise RestoreRefused(f"The manifest's {key!r} is missing or malformed.")
    return manifest


def verify_archive(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Check that the archive holds exactly what the manifest lists, byte for byte; return the
    file entries. Raises RestoreRefused naming the first entry that differs."""
    data = manifest["data"]
    expected = {MANIFEST_NAME: None, DATA_NAME: data}
    files = manifest["files"]
    for entry in files:
        if not isinstance(entry, dict):
            raise RestoreRefused("The manifest's file list is malformed.")
        _safe_name(entry.get("path"))
        name = FILES_PREFIX + entry["path"]
        if name in expected:
            raise RestoreRefused(f"The manifest lists {entry['path']!r} twice.")
        expected[name] = entry
    present = archive.namelist()
    if len(present) != len(set(present)):
        raise RestoreRefused("The archive holds an entry twice.")
    unexpected = sorted(set(present) - set(expected))
    if unexpected:
        raise RestoreRefused(f"The archive holds entries the manifest does not list: {unexpected}")
    for name, entry in expected.items():
        if entry is None:
            continue
        if name not in present:
            raise RestoreRefused(f"The archive lacks {name}, which the manifest lists.")
        sha256, size = _sha256_of_entry(archive, name)
        if sha256 != entry.get("sha256") or size != entry.get("size"):
            raise RestoreRefused(
                f"{name} does not match its checksum in the manifest: the archive is damaged "
                "or was changed."
            )
    return files


class Command(BaseCommand):
    help = (
        "Restore an export_data archive into an EMPTY, freshly migrated database (same "
        "migrations as the exporting one) and its files into MEDIA_ROOT/private. The archive's "
        "checksums are verified first; everything is loaded in one transaction, and on any "
        "failure nothing is kept. A database holding any row is refused."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", help="The zip file written by export_data.")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        try:
            archive = zipfile.ZipFile(path)
        except FileNotFoundError as exc:
            raise RestoreRefused(f"{path} does not exist.") from exc
        except zipfile.BadZipFile as exc:
            raise RestoreRefused(f"{path} is not a zip archive: {exc}") from exc
        with archive:
            manifest = read_manifest(archive)
            files = verify_archive(archive, manifest)
            self._check_schema(manifest)
            self._check_empty()
            targets = self._check_targets(archive, files)
            self._restore(archive, manifest, targets)
        total = sum(manifest["counts"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {total} rows of {len(manifest['counts'])} models and {len(files)} "
                f"file(s) from {path} (exported {manifest.get('created_at')})."
            )
        )

    def _check_schema(self, manifest: dict[str, Any]) -> None:
        here = applied_migrations()
        there = manifest["migrations"]
        differing = sorted(
            app for app in set(here) | set(there) if here.get(app, []) != there.get(app, [])
        )
        if differing:
            raise RestoreRefused(
                "The archive was made with other migrations applied (apps: "
                f"{', '.join(differing)}). Restore with the code version that exported it, "
                "then run migrate."
            )
        for label in manifest["counts"]:
            try:
                apps.get_model(label)
            except (LookupError, ValueError) as exc:
                raise RestoreRefused(
                    f"The archive holds rows of an unknown model {label}."
                ) from exc

    def _check_empty(self) -> None:
        filled = [
            model._meta.label
            for model in exported_models()
            if model._meta.label_lower not in MIGRATE_CREATED and model._base_manager.exists()
        ]
        if filled:
            raise RestoreRefused(
                "The database is not empty: it has rows of "
                f"{', '.join(filled)}. Restore only into a freshly migrated, empty database."
            )

    def _check_targets(
        self, archive: zipfile.ZipFile, files: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], Path]]:
        """Where each file goes; a different file already there is refused, the same kept."""
        root = private_root().resolve()
        targets = []
        for entry in files:
            target = root.joinpath(*_safe_name(entry["path"]).parts)
            # The name has no "..": only a symbolic link under `root` could lead out of it.
            existing = target.parent
            while existing != root and not existing.exists():
                existing = existing.parent
            if existing.exists() and not existing.resolve().is_relative_to(root):
                raise RestoreRefused(f"{entry['path']!r} would be written outside {root}.")
            if target.is_symlink() or (target.exists() and not target.is_file()):
                raise RestoreRefused(f"{target} exists and is not a regular file.")
            if target.exists():
                with target.open("rb") as handle:
                    if hashlib.file_digest(handle, "sha256").hexdigest() != entry["sha256"]:
                        raise RestoreRefused(
                            f"{target} already exists with other contents; restore into an "
                            "empty media directory."
                        )
                continue  # the very same file is already there
            targets.append((entry, target))
        return targets

    def _restore(
        self,
        archive: zipfile.ZipFile,
        manifest: dict[str, Any],
        targets: list[tuple[dict[str, Any], Path]],
    ) -> None:
        written: list[Path] = []
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                self._load_rows(archive.read(DATA_NAME), manifest["counts"])
                for entry, target in targets:
                    write_file(archive, FILES_PREFIX + entry["path"], target, entry["sha256"])
                    written.append(target)
        except BaseException:
            for target in reversed(written):
                target.unlink(missing_ok=True)
                _remove_empty_parents(target.parent, private_root())
            raise
        finally:
            ContentType.objects.clear_cache()

    def _load_rows(self, data: bytes, counts: dict[str, int]) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        loaded = {apps.get_model(label) for label in counts}
        try:
            with connection.constraint_checks_disabled():
                deferred = []
                for row in serializers.deserialize(
                    "json", data, using=DEFAULT_DB_ALIAS, handle_forward_references=True
                ):
                    row.save(using=DEFAULT_DB_ALIAS)
                    if row.deferred_fields:
                        deferred.append(row)
                for row in deferred:
                    row.save_deferred_fields(using=DEFAULT_DB_ALIAS)
            connection.check_constraints(table_names=[model._meta.db_table for model in loaded])
        except (DeserializationError, DatabaseError) as exc:
            raise CommandError(f"The rows could not be loaded; nothing was kept: {exc}") from exc
        # Rows came with their primary keys: move the sequences past them (PostgreSQL).
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), list(loaded)):
                cursor.execute(statement)
        for label, expected in counts.items():
            model = apps.get_model(label)
            found = model._base_manager.count()
            short = found < expected if model._meta.label_lower in MIGRATE_CREATED else None
            if short or (short is None and found != expected):
                raise CommandError(
                    f"{label}: {found} rows after loading, the archive has {expected}; "
                    "nothing was kept."
                )


def write_file(archive: zipfile.ZipFile, name: str, target: Path, sha256: str) -> None:
    """Write one archive entry to `target` through a temporary name, checking its SHA-256
    again on the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        with archive.open(name) as source, part.open("xb") as sink:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        if digest.hexdigest() != sha256:
            raise CommandError(f"{name} changed while it was restored; nothing was kept.")
        part.replace(target)
    finally:
        part.unlink(missing_ok=True)


def _remove_empty_parents(directory: Path, root: Path) -> None:
    """Remove the directories a failed restore left empty, up to (not including) `root`."""
    root = root.resolve()
    directory = directory.resolve()
    while directory != root and directory.is_relative_to(root):
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
