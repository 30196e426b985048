"""Where every uploaded and issued file lives, and how files no row names are swept away.

Signed scans, issued PDFs and institution logos are kept in one private store, the `private`
entry of STORAGES (built from STORAGE_URL by `config.storage`): the local folder
MEDIA_ROOT/private by default (`LocalPrivateStorage`), or an S3-compatible object store
(`S3PrivateStorage`, django-storages). Neither has a public URL: files are only served by the
views that check access, which stream them from `storage.open` in a FileResponse (an object
store's file is fetched at opening, so a failure is never a response cut short). They do not
redirect to signed URLs: a URL would outlive the access check, show up in browser history,
proxies and referrers, and need the store reachable from users' networks.

A store that cannot be reached raises `StorageUnavailable` (an OSError), whatever the backend:
the outage middleware answers it with the "temporarily unavailable" page, and the services
that write a file before its row refuse with a clear message and keep no row.

A crash between writing a file and committing its row leaves a file that no row names; so can
a request killed while its upload was spooled to FILE_UPLOAD_TEMP_DIR. `sweep` removes both
once older than a grace period (`manage.py sweep_files`, or a scheduled task calling `sweep`).
"""

from __future__ import annotations

import datetime
import logging
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty
from storages.backends.s3 import S3Storage

logger = logging.getLogger(__name__)

#: The STORAGES entry of the private files.
PRIVATE_ALIAS = "private"
#: A spooled upload older than this was left by a request that died: no request lives so long.
STALE_UPLOAD_AGE = datetime.timedelta(hours=1)


class StorageUnavailable(OSError):
    """The file store could not be reached or refused to work; nothing was written."""


# --- The backends ---------------------------------------------------------------------------


class LocalPrivateStorage(FileSystemStorage):
    """Files under MEDIA_ROOT/private: no URL, served only by views that check access."""

    def __init__(self, **options: Any) -> None:
        super().__init__()

    @property
    def base_location(self):  # read at use, so tests can point MEDIA_ROOT elsewhere
        return str(Path(settings.MEDIA_ROOT) / "private")

    @property
    def location(self):
        return str(Path(self.base_location).resolve())

    def url(self, name):
        raise NotImplementedError("Private files have no URL; serve them through a view.")

    def _save(self, name, content):
        try:
            return super()._save(name, content)  # type: ignore[misc]
        except (FileExistsError, FileNotFoundError):
            raise
        except OSError as exc:  # a full, read-only or vanished disk
            raise StorageUnavailable(f"The private file folder refused {name}: {exc}") from exc


def _s3_failure(error: Exception) -> bool:
    """Whether `error` from boto3 means the store is unreachable or failing (not "no such
    object", which the backend turns into FileNotFoundError itself)."""

    if isinstance(error, ClientError):
        return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404
    return isinstance(error, BotoCoreError)


class S3PrivateStorage(S3Storage):
    """An S3-compatible bucket (optionally under a prefix), never public: objects are written
    with the private ACL, any URL it made would be signed and short-lived, and every failure of
    the store is a StorageUnavailable."""

    def __init__(self, *, timeout_seconds: int = 10, **options: Any) -> None:
        options.update(
            default_acl="private",
            querystring_auth=True,
            file_overwrite=False,
            client_config=Config(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": options.pop("addressing_style", None) or "auto"},
                signature_version="s3v4",
            ),
        )
        super().__init__(**options)

    def _call(self, method, *args):
        try:
            return method(*args)
        except Exception as exc:
            if _s3_failure(exc):
                raise StorageUnavailable(f"The object store failed: {exc}") from exc
            raise

    def _open(self, name, mode="rb"):
        def fetched():
            handle = S3Storage._open(self, name, mode)
            if "r" in mode:
                # Fetched now, so that a failing store fails here, as a StorageUnavailable, and
                # not in the middle of a response; into memory, or a temporary file if large.
                handle.file  # noqa: B018
            return handle

        return self._call(fetched)

    def _save(self, name, content):
        return self._call(super()._save, name, content)

    def delete(self, name):
        return self._call(super().delete, name)

    def exists(self, name):
        return self._call(super().exists, name)

    def listdir(self, name):
        return self._call(super().listdir, name)

    def size(self, name):
        return self._call(super().size, name)

    def get_modified_time(self, name):
        return self._call(super().get_modified_time, name)


# --- The one private store, as the file fields see it ------------------------------------


class _PrivateFiles(LazyObject):
    """`storages["private"]`, looked up at first use and again after STORAGES changes."""

    def _setup(self) -> None:
        self._wrapped = storages[PRIVATE_ALIAS]


#: The private store. File fields name `get_private_storage` (a callable, so migrations record
#: a reference, not a configuration).
private_files: Storage = _PrivateFiles()  # type: ignore[assignment]


def get_private_storage() -> Storage:
    """The private store, for `FileField(storage=get_private_storage)`."""
    return private_files


@receiver(setting_changed, dispatch_uid="institutions.files.reset_private_files")
def _reset_private_files(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        private_files._wrapped = empty  # type: ignore[attr-defined]


class _FileAt(File):
    """A file on local disk handed to a storage: FileSystemStorage moves it into place (one
    rename on the same disk) instead of copying, so the final name is never half written."""

    def __init__(self, path: Path) -> None:
        super().__init__(path.open("rb"), name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def put_file(storage: Storage, name: str, path: Path) -> None:
    """Store the local file `path` under exactly `name` (which must be free): moved into place
    on local disk, uploaded in one request or a multipart upload that only appears when
    complete on an object store. `path` is gone or may be removed afterwards."""
    source = _FileAt(path)
    try:
        stored = storage.save(name, source)
    finally:
        source.close()
    if stored != name:
        storage.delete(stored)
        raise FileExistsError(f"{name} appeared in the file store while it was written")


# --- What the database names, and the sweep -----------------------------------------------


def file_fields() -> list[tuple[type[models.Model], models.FileField]]:
    """Every file field of every concrete model of the installed apps."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, models.FileField):
                found.append((model, model_field))
    return found


def named_files(model: type[models.Model], model_field: models.FileField) -> Iterator[str]:
    """The file names `model_field` holds, each once, in order."""
    names = (
        model._base_manager.exclude(**{model_field.attname: ""})
        .exclude(**{f"{model_field.attname}__isnull": True})
        .order_by(model_field.attname)
        .values_list(model_field.attname, flat=True)
        .distinct()
    )
    yield from names.iterator()


def walk(storage: Storage, directory: str = "") -> Iterator[str]:
    """Every file name in `storage` under `directory`, depth first."""
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield posixpath.join(directory, name) if directory else name
    for sub in sorted(directories):
        yield from walk(storage, posixpath.join(directory, sub) if directory else sub)


@dataclass
class SweepReport:
    """What a sweep found (and removed, unless it was a dry run)."""

    orphans: list[str] = field(default_factory=list)
    too_young: list[str] = field(default_factory=list)
    stale_uploads: list[str] = field(default_factory=list)
    deleted: bool = False


def sweep(*, delete: bool, now: datetime.datetime | None = None) -> SweepReport:
    """Find, and with `delete` remove, the files of the private store that no row names and
    that are older than ORPHAN_FILE_GRACE_HOURS, and the spooled uploads in
    FILE_UPLOAD_TEMP_DIR older than an hour. A file younger than the grace period may belong to
    a row being committed right now, so it is only listed."""
    now = now or timezone.now()
    grace = datetime.timedelta(hours=settings.ORPHAN_FILE_GRACE_HOURS)
    report = SweepReport(deleted=delete)
    groups: list[tuple[Storage, set[str]]] = []
    for model, model_field in file_fields():
        group = next((g for g in groups if g[0] is model_field.storage), None)
        if group is None:
            group = (model_field.storage, set())
            groups.append(group)
        group[1].update(named_files(model, model_field))
    for storage, names in groups:
        for name in walk(storage):
            if name in names:
                continue
            if now - storage.get_modified_time(name) < grace:
                report.too_young.append(name)
                continue
            report.orphans.append(name)
            if delete:
                storage.delete(name)
                logger.info("Swept the orphan file %s", name)
    report.stale_uploads = _sweep_uploads(now, delete=delete)
    return report


def _sweep_uploads(now: datetime.datetime, *, delete: bool) -> list[str]:
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if not folder.is_dir():
        return []
    stale = []
    cutoff = (now - STALE_UPLOAD_AGE).timestamp()
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            stale.append(path.name)
            if delete:
                path.unlink(missing_ok=True)
    return stale


def ensure_upload_folder() -> None:
    """Create FILE_UPLOAD_TEMP_DIR (readable by the application only) if it is missing:
    Django spools large uploads there and fails when it does not exist."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        logger.warning("Could not create the upload folder %s", folder)
    else:
        if os.name == "posix":
            folder.chmod(0o700)
