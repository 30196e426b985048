"""`manage.py export_data <file.zip>`: every row and every private file, in one zip archive.

The archive holds:

- `data.json`: every row of every model of the project and of Django's auth, contenttypes and
  admin log (sessions are left out: they are transient and tied to this server's key), in
  Django's JSON serialization. Primary keys are kept; content types and permissions, which
  `migrate` creates with its own keys, are written and matched by natural key.
- `files/<name>`: every file a row names (signed scans, issued PDFs, institution logos), read
  through the storage API from whatever store holds it (the local private folder or the object
  store). A named file that cannot be read makes the export fail: a backup without it would
  restore rows that name nothing.
- `manifest.json`: format and version, when and with which Django it was made, the applied
  migrations, the number of rows of each model, and the size and SHA-256 of every entry, with
  the file fields that name each file (`restore_data` writes it through their storage).

`restore_data` loads it into an empty database. The archive holds password hashes and
specific personal data: it is written readable by its owner only, and must be kept like the
database itself.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
import zipfile
from argparse import ArgumentParser
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django
from django.apps import apps
from django.core import serializers
from django.core.files.storage import Storage
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from institutions import files

FORMAT = "pks-registry-export"
FORMAT_VERSION = 2
#: Versions restore_data reads: 1 had no "fields" (every file went to the private store).
READABLE_VERSIONS = frozenset({1, 2})
MANIFEST_NAME = "manifest.json"
DATA_NAME = "data.json"
FILES_PREFIX = "files/"
#: Models left out: sessions are transient and signed with this server's key.
EXCLUDED_MODELS = frozenset({"sessions.session"})
#: Rows `migrate` creates itself, with keys of its own: written and matched by natural key.
MIGRATE_CREATED = frozenset({"contenttypes.contenttype", "auth.permission"})
CHUNK = 1024 * 1024
#: Archive entries carry no file times (a store's are not the file's): the zip format's epoch.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class LosslessJSONEncoder(DjangoJSONEncoder):
    """Django's encoder, but keeping microseconds: it cuts times to milliseconds (the
    ECMAScript form), and a restored row would then differ from the exported one."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def exported_models() -> list[type[models.Model]]:
    """Every concrete, managed model of the installed apps but EXCLUDED_MODELS, ordered so
    that a model comes after those whose natural keys it refers to."""
    by_app: dict[Any, list[type[models.Model]]] = {}
    for model in apps.get_models():
        meta = model._meta
        if (
            meta.label_lower in EXCLUDED_MODELS
            or meta.proxy
            or not meta.managed
            or not router.allow_migrate_model(DEFAULT_DB_ALIAS, model)
        ):
            continue
        by_app.setdefault(meta.app_config, []).append(model)
    return serializers.sort_dependencies(by_app.items(), allow_cycles=True)


def applied_migrations(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    """The applied migrations of each app, sorted, for comparing two databases' schemas."""
    found: dict[str, list[str]] = {}
    for app_label, name in sorted(MigrationRecorder(connections[using]).applied_migrations()):
        found.setdefault(app_label, []).append(name)
    return found


@dataclass
class NamedFile:
    """One file the database names: its name in its storage, and the fields naming it."""

    name: str
    storage: Storage
    fields: list[str]


def field_label(model: type[models.Model], model_field: models.FileField) -> str:
    """ "app.Model.field", as the manifest names a file field."""
    return f"{model._meta.label}.{model_field.name}"


def named_files(model_list: list[type[models.Model]]) -> list[NamedFile]:
    """Every file a row of `model_list` names, once each, sorted by name. Two stores holding a
    file of the same name cannot be told apart in the archive, and are refused."""
    exported = set(model_list)
    found: dict[str, NamedFile] = {}
    for model, model_field in files.file_fields():
        if model not in exported:
            continue
        for name in files.named_files(model, model_field):
            entry = found.setdefault(name, NamedFile(name, model_field.storage, []))
            if entry.storage is not model_field.storage:
                raise CommandError(f"{name} is named in two different file stores.")
            entry.fields.append(field_label(model, model_field))
    return [found[name] for name in sorted(found)]


def serialize_rows(
    model_list: list[type[models.Model]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every row of `model_list` in the serializer's Python form, and the count per model."""
    objects: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for model in model_list:
        # The base manager: a custom default manager may hide rows (archived ones, say).
        rows = model._base_manager.using(DEFAULT_DB_ALIAS).order_by(model._meta.pk.name)
        dumped = serializers.serialize(
            "python",
            rows.iterator(),
            use_natural_foreign_keys=True,
            use_natural_primary_keys=model._meta.label_lower in MIGRATE_CREATED,
        )
        counts[model._meta.label] = len(dumped)
        objects.extend(dumped)
    return objects, counts


class Command(BaseCommand):
    help = (
        "Export all data to one zip file: every row (users with their password hashes, "
        "groups, permissions, the admin log, and every record of the project; not sessions) "
        "and every file a row names, from whatever store holds it, with a manifest of counts "
        "and SHA-256 checksums; a named file that cannot be read makes it fail. Load it with "
        "restore_data. The file holds personal data and password "
        "hashes: it is created readable by its owner only."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("path", help="The zip file to write; it must not exist yet.")

    def handle(self, *args: Any, path: str, **options: Any) -> None:
        target = Path(path)
        if target.exists():
            raise CommandError(f"{target} already exists; choose a new file name.")
        if not target.parent.is_dir():
            raise CommandError(f"The directory {target.parent} does not exist.")
        model_list = exported_models()
        handle, part_name = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix=".part")
        part = Path(part_name)
        try:
            with os.fdopen(handle, "wb") as raw:
                manifest = self._write(raw, model_list)
            part.chmod(0o600)
            part.replace(target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        total = sum(manifest["counts"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {total} rows of {len(manifest['counts'])} models and "
                f"{len(manifest['files'])} file(s) to {target}."
            )
        )

    def _write(self, raw, model_list: list[type[models.Model]]) -> dict[str, Any]:
        connection = connections[DEFAULT_DB_ALIAS]
        outermost = not connection.in_atomic_block
        # One snapshot of the database, so that the rows agree with each other.
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            objects, counts = serialize_rows(model_list)
            named = named_files(model_list)
            migrations = applied_migrations()

        data = json.dumps(objects, cls=LosslessJSONEncoder, ensure_ascii=False).encode()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": timezone.now().isoformat(),
            "django_version": django.get_version(),
            "database_vendor": connection.vendor,
            "migrations": migrations,
            "counts": counts,
            "data": {
                "name": DATA_NAME,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            "files": [],
        }
        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(DATA_NAME, data)
            unreadable: list[str] = []
            for named_file in named:
                try:
                    entry = _write_file(archive, named_file)
                except OSError as exc:
                    unreadable.append(f"{', '.join(named_file.fields)}: {named_file.name} ({exc})")
                    continue
                manifest["files"].append(entry)
            if unreadable:
                raise CommandError(
                    f"{len(unreadable)} file(s) the database names cannot be read, so the "
                    "backup would be incomplete; nothing was written. Restore or re-upload "
                    "them, then export again:\n  " + "\n  ".join(unreadable)
                )
            archive.writestr(
                MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            )
        return manifest


def _write_file(archive: zipfile.ZipFile, named_file: NamedFile) -> dict[str, Any]:
    """Copy one stored file into the archive; its manifest entry, hashing the very bytes
    written, even if the file changes meanwhile."""
    digest = hashlib.sha256()
    size = 0
    info = zipfile.ZipInfo(FILES_PREFIX + named_file.name, date_time=_ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    # The source first: a file that cannot be opened adds no entry.
    with named_file.storage.open(named_file.name, "rb") as source, archive.open(info, "w") as sink:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            sink.write(chunk)
    return {
        "path": named_file.name,
        "size": size,
        "sha256": digest.hexdigest(),
        "fields": named_file.fields,
    }
