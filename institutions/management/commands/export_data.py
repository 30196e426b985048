"""`manage.py export_data <file.zip>`: every row and every private file, in one zip archive.

The archive holds:

- `data.json`: every row of every model of the project and of Django's auth, contenttypes and
  admin log (sessions are left out: they are transient and tied to this server's key), in
  Django's JSON serialization. Primary keys are kept; content types and permissions, which
  `migrate` creates with its own keys, are written and matched by natural key.
- `files/<name>`: every file under MEDIA_ROOT/private (signed scans, issued PDFs).
- `manifest.json`: format and version, when and with which Django it was made, the applied
  migrations, the number of rows of each model, and the size and SHA-256 of every entry.

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
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import django
from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.files.storage import FileSystemStorage
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, router, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

FORMAT = "pks-registry-export"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_NAME = "data.json"
FILES_PREFIX = "files/"
#: Models left out: sessions are transient and signed with this server's key.
EXCLUDED_MODELS = frozenset({"sessions.session"})
#: Rows `migrate` creates itself, with keys of its own: written and matched by natural key.
MIGRATE_CREATED = frozenset({"contenttypes.contenttype", "auth.permission"})
CHUNK = 1024 * 1024


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


def private_root() -> Path:
    """Where private files live: MEDIA_ROOT/private (see agreements.models.PrivateStorage)."""
    return Path(settings.MEDIA_ROOT) / "private"


def applied_migrations(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    """The applied migrations of each app, sorted, for comparing two databases' schemas."""
    found: dict[str, list[str]] = {}
    for app_label, name in sorted(MigrationRecorder(connections[using]).applied_migrations()):
        found.setdefault(app_label, []).append(name)
    return found


def file_entries(root: Path) -> Iterator[tuple[str, Path]]:
    """(name relative to `root` in POSIX form, path) of every regular file under `root`."""
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield PurePosixPath(path.relative_to(root)).as_posix(), path


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


def files_referenced_but_missing(model_list: list[type[models.Model]]) -> list[str]:
    """Names in file fields whose file is not on disk (they cannot be exported)."""
    missing: list[str] = []
    for model in model_list:
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.FileField):
                continue
            names = (
                model._base_manager.exclude(**{field.name: ""})
                .exclude(**{f"{field.name}__isnull": True})
                .values_list(field.attname, flat=True)
            )
            missing.extend(
                f"{model._meta.label}.{field.name}: {name}"
                for name in names
                if not field.storage.exists(name)
            )
    return missing


def files_outside_private(model_list: list[type[models.Model]]) -> list[str]:
    """File fields whose storage is not the private directory: their files are not exported."""
    root = private_root().resolve()
    outside = []
    for model in model_list:
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.FileField):
                continue
            storage = field.storage
            if not isinstance(storage, FileSystemStorage) or Path(storage.location) != root:
                outside.append(f"{model._meta.label}.{field.name}")
    return outside


class Command(BaseCommand):
    help = (
        "Export all data to one zip file: every row (users with their password hashes, "
        "groups, permissions, the admin log, and every record of the project; not sessions) "
        "and every file under MEDIA_ROOT/private, with a manifest of counts and SHA-256 "
        "checksums. Load it with restore_data. The file holds personal data and password "
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
        for label in files_outside_private(model_list):
            self.stderr.write(
                self.style.WARNING(
                    f"Files of {label} are not under MEDIA_ROOT/private and are not exported."
                )
            )

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
            missing = files_referenced_but_missing(model_list)
            migrations = applied_migrations()
        for name in missing:
            self.stderr.write(self.style.WARNING(f"Referenced file missing on disk: {name}"))

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
            for name, path in file_entries(private_root()):
                digest = hashlib.sha256()
                size = 0
                # Hash the very bytes written, even if the file changes meanwhile.
                info = zipfile.ZipInfo.from_file(path, FILES_PREFIX + name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(info, "w") as sink:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        sink.write(chunk)
                manifest["files"].append({"path": name, "size": size, "sha256": digest.hexdigest()})
            archive.writestr(
                MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            )
        return manifest
