"""`manage.py restore_data <file.zip>`: load an `export_data` archive into an empty database.

Before anything is written, the archive is checked: its format, that this database has the
same migrations applied, that it lists exactly the entries it holds under safe names, and the
SHA-256 of each entry. The database must be empty (freshly migrated: only the content types and
permissions `migrate` creates); a database with any other row is refused, always.

Rows are loaded in one transaction; the files are written last, through the storage API, into
the store of the fields that name them (the local private folder or the object store). Each
file is first extracted to a temporary file and checked, then moved (local) or uploaded (object
store) under its name, so a name never holds half a file. If anything fails, the transaction is
rolled back and the files written so far are removed; a restore killed outright leaves only
complete files, which a retried restore finds identical and keeps (and temporary files that
`sweep_files` removes).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from argparse import ArgumentParser
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.exceptions import FieldDoesNotExist, SuspiciousOperation
from django.core.files.storage import FileSystemStorage, Storage
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction

from institutions import files

from .export_data import (
    CHUNK,
    DATA_NAME,
    FILES_PREFIX,
    FORMAT,
    MANIFEST_NAME,
    MIGRATE_CREATED,
    READABLE_VERSIONS,
    applied_migrations,
    exported_models,
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
    if manifest.get("format_version") not in READABLE_VERSIONS:
        raise RestoreRefused(
            f"Archive format version {manifest.get('format_version')!r} is not supported "
            f"(this version reads {', '.join(map(str, sorted(READABLE_VERSIONS)))})."
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
        "migrations as the exporting one) and its files into the configured file store. The "
        "archive's checksums are verified first; everything is loaded in one transaction, and "
        "on any "
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
    ) -> list[tuple[dict[str, Any], Storage]]:
        """Where each file goes; a different file already there is refused, the same kept."""
        targets = []
        for entry in files:
            name = _safe_name(entry["path"]).as_posix()
            storage = _storage_for(entry)
            if isinstance(storage, FileSystemStorage):
                _check_local_target(storage, name)
            try:
                exists = storage.exists(name)
            except SuspiciousOperation as exc:
                raise RestoreRefused(f"{name!r} would be written outside the file store.") from exc
            if exists:
                with storage.open(name, "rb") as handle:
                    if hashlib.file_digest(handle, "sha256").hexdigest() != entry["sha256"]:
                        raise RestoreRefused(
                            f"{name} already exists in the file store with other contents; "
                            "restore into an empty file store."
                        )
                continue  # the very same file is already there
            targets.append((entry, storage))
        return targets

    def _restore(
        self,
        archive: zipfile.ZipFile,
        manifest: dict[str, Any],
        targets: list[tuple[dict[str, Any], Storage]],
    ) -> None:
        written: list[tuple[Storage, str]] = []
        try:
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                self._load_rows(archive.read(DATA_NAME), manifest["counts"])
                for entry, storage in targets:
                    name = entry["path"]
                    write_file(archive, FILES_PREFIX + name, storage, name, entry["sha256"])
                    written.append((storage, name))
        except BaseException:
            for storage, name in reversed(written):
                try:
                    storage.delete(name)
                except OSError:
                    self.stderr.write(f"Could not remove {name}; sweep_files will.")
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


def _storage_for(entry: dict[str, Any]) -> Storage:
    """The store of the file fields naming `entry` (format 1 named none: the private store)."""
    labels = entry.get("fields") or []
    if not isinstance(labels, list):
        raise RestoreRefused(f"The manifest's fields of {entry['path']!r} are malformed.")
    stores = []
    for label in labels:
        app_model, _, field_name = str(label).rpartition(".")
        try:
            model_field = apps.get_model(app_model)._meta.get_field(field_name)
        except (LookupError, ValueError, FieldDoesNotExist) as exc:
            raise RestoreRefused(f"The archive names an unknown file field {label}.") from exc
        if not isinstance(model_field, models.FileField):
            raise RestoreRefused(f"{label} is not a file field.")
        stores.append(model_field.storage)
    if not stores:
        return files.private_files
    if any(store is not stores[0] for store in stores):
        raise RestoreRefused(f"{entry['path']!r} is named by fields of different file stores.")
    return stores[0]


def _check_local_target(storage: FileSystemStorage, name: str) -> None:
    """On local disk, a name has no "..", so only a symbolic link could lead out of the store."""
    root = Path(storage.location).resolve()
    target = root.joinpath(*PurePosixPath(name).parts)
    existing = target.parent
    while existing != root and not existing.exists():
        existing = existing.parent
    if existing.exists() and not existing.resolve().is_relative_to(root):
        raise RestoreRefused(f"{name!r} would be written outside {root}.")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise RestoreRefused(f"{target} exists and is not a regular file.")


def write_file(
    archive: zipfile.ZipFile, entry: str, storage: Storage, name: str, sha256: str
) -> None:
    """Write one archive entry to `storage` as `name`: extracted to a temporary file (beside
    the target on local disk, so that the move is one rename) with its SHA-256 checked again on
    the bytes written, then put in place by `institutions.files.put_file`."""
    if isinstance(storage, FileSystemStorage):
        folder = Path(storage.path(name)).parent
        folder.mkdir(parents=True, exist_ok=True)
        # What a restore of an earlier version, killed mid-file, left under the old fixed name.
        (folder / f".{PurePosixPath(name).name}.part").unlink(missing_ok=True)
    else:
        folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
        folder.mkdir(parents=True, exist_ok=True)
    handle, part_name = tempfile.mkstemp(dir=folder, prefix=".restore-", suffix=".part")
    part = Path(part_name)
    digest = hashlib.sha256()
    try:
        with archive.open(entry) as source, os.fdopen(handle, "wb") as sink:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        if digest.hexdigest() != sha256:
            raise CommandError(f"{entry} changed while it was restored; nothing was kept.")
        files.put_file(storage, name, part)
    finally:
        part.unlink(missing_ok=True)
