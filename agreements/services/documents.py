"""The signed scan of an agreement: checked to be a real, complete PDF, then stored privately.

An upload is read once, in chunks, into a temporary copy while its SHA-256 is computed, so the
bytes checked, hashed and stored are the same bytes. Nothing is kept when any check fails, and a
file already written is deleted again if the database refuses the row.

An upload is recorded in `institutions.history` as a change of the agreement, under the "field"
`scans`: the list of its scans before and after (see `scan_lines`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from pypdf import PdfReader

from institutions import history
from institutions.access import Account
from institutions.files import StorageUnavailable
from institutions.models import History

from .. import access, scancheck
from ..models import Agreement, SignedScan, private_storage

logger = logging.getLogger(__name__)

#: Every PDF file begins with this; a picture or a document renamed to .pdf does not.
PDF_HEADER = b"%PDF-"
#: A complete PDF ends with %%EOF; allow for trailing whitespace or padding after it.
EOF_MARKER = b"%%EOF"
EOF_WINDOW = 1024
CHUNK_SIZE = 64 * 1024
#: Uploads up to this size are checked in memory, larger ones in a temporary file.
SPOOL_IN_MEMORY = 4 * 1024 * 1024
_FILENAME_SLUG_MAX = 60
MAX_OBJECTS_CHECKED = scancheck.MAX_OBJECTS_CHECKED

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def max_scan_bytes() -> int:
    """The largest accepted scan in bytes, from settings.SIGNED_SCAN_MAX_MB."""
    return int(settings.SIGNED_SCAN_MAX_MB) * 1024 * 1024


def _too_large() -> ValidationError:
    return ValidationError(
        _(
            "The file is larger than %(max)s MB. Upload a smaller scan, for example scanned "
            "in black and white or at a lower resolution."
        ),
        code="too_large",
        params={"max": settings.SIGNED_SCAN_MAX_MB},
    )


def _not_pdf() -> ValidationError:
    return ValidationError(
        _(
            "The file is not a PDF document. Upload the signed agreement as a PDF; a picture "
            "or another kind of file renamed to .pdf is not accepted."
        ),
        code="not_pdf",
    )


def _damaged() -> ValidationError:
    return ValidationError(
        _(
            "The PDF could not be read completely: it is damaged or was not uploaded in full. "
            "Save or scan it again and upload the new file."
        ),
        code="damaged",
    )


@dataclass(frozen=True)
class _Copy:
    """The uploaded bytes as read once: a rewound temporary file, its size and SHA-256."""

    stream: IO[bytes]
    size: int
    sha256: str


@contextmanager
def _read_upload(upload: UploadedFile, limit: int) -> Iterator[_Copy]:
    """Copy `upload` into a temporary file, hashing it, and refusing more than `limit` bytes.

    The declared size was checked before; counting again while reading guards against an upload
    object whose size is wrong.
    """
    digest = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as copy:
        for chunk in upload.chunks(CHUNK_SIZE):
            size += len(chunk)
            if size > limit:
                raise _too_large()
            digest.update(chunk)
            copy.write(chunk)
        copy.seek(0)
        yield _Copy(stream=copy, size=size, sha256=digest.hexdigest())


def _active_content() -> ValidationError:
    return ValidationError(
        _(
            "The PDF contains active content (scripts, actions, links to other files or "
            "addresses, embedded files or media), which is not accepted in a published "
            "document. Upload a plain scan of the signed paper, for example printed to PDF "
            "again."
        ),
        code="active_content",
    )


def _too_complex() -> ValidationError:
    return ValidationError(
        _(
            "The PDF has too many objects to be checked. Upload a plain scan of the signed "
            "paper, for example scanned at a lower resolution."
        ),
        code="too_complex",
    )


def _too_many_pages() -> ValidationError:
    return ValidationError(
        _(
            "The PDF has more than %(max)s pages. Upload the signed agreement alone, without "
            "annexes, or split it into several scans."
        ),
        code="too_many_pages",
        params={"max": settings.SIGNED_SCAN_MAX_PAGES},
    )


def _too_slow() -> ValidationError:
    return ValidationError(
        _(
            "The PDF could not be checked within %(seconds)s seconds: it is too complex. "
            "Upload a plain scan of the signed paper, for example scanned at a lower "
            "resolution."
        ),
        code="too_slow",
        params={"seconds": settings.SCAN_CHECK_SECONDS},
    )


def _encrypted() -> ValidationError:
    return ValidationError(
        _(
            "The PDF is encrypted or password-protected. Upload a copy without "
            "protection, so that it can be opened and checked."
        ),
        code="encrypted",
    )


def _no_pages() -> ValidationError:
    return ValidationError(_("The PDF has no pages."), code="no_pages")


#: What the child process's refusal codes mean to the uploader.
REASONS: dict[str, Callable[[], ValidationError]] = {
    "damaged": _damaged,
    "encrypted": _encrypted,
    "no_pages": _no_pages,
    "active_content": _active_content,
    "too_complex": _too_complex,
    "too_many_pages": _too_many_pages,
}


def find_active_content(reader: PdfReader, *, limit: int = MAX_OBJECTS_CHECKED) -> str | None:
    """What active content the PDF holds (see `agreements.scancheck.find_active_content`),
    with too many objects to walk refused as "too_complex"."""
    try:
        return scancheck.find_active_content(reader, limit=limit)
    except scancheck.Refused as refused:
        raise REASONS[refused.code]() from None


def inspect_pdf(stream: IO[bytes], size: int) -> int:
    """Check that `stream` holds a complete, readable, unencrypted PDF of at most
    SIGNED_SCAN_MAX_PAGES pages without active content; return its page count.

    The header and the end-of-file marker are checked here; the rest (see
    `agreements.scancheck`) in a child process that is stopped after SCAN_CHECK_SECONDS, so no
    upload can keep this worker busy past the server's timeout, however many pages or objects
    it holds. A page count above the limit is refused from the page tree's own count, before
    any page is read.
    """
    stream.seek(0)
    if stream.read(len(PDF_HEADER)) != PDF_HEADER:
        raise _not_pdf()
    stream.seek(max(0, size - EOF_WINDOW))
    if EOF_MARKER not in stream.read():
        raise _damaged()
    stream.seek(0)
    data = stream.read()
    stream.seek(0)
    started = time.monotonic()
    try:
        child = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "agreements.scancheck", str(settings.SIGNED_SCAN_MAX_PAGES)],
            input=data,
            capture_output=True,
            timeout=settings.SCAN_CHECK_SECONDS,
            cwd=settings.BASE_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.info("Refused a PDF whose check took over %s s", settings.SCAN_CHECK_SECONDS)
        raise _too_slow() from None
    try:
        answer = json.loads(child.stdout)
    except ValueError:
        # The child died (its memory or CPU limit, or a crash in the parser): too much to check.
        logger.warning(
            "The scan check ended without an answer (exit %s): %s",
            child.returncode,
            child.stderr.decode(errors="replace")[-500:],
        )
        raise _too_complex() from None
    if "refused" in answer:
        logger.info(
            "Refused a PDF: %s (checked in %.1f s)", answer["refused"], time.monotonic() - started
        )
        raise REASONS.get(answer["refused"], _damaged)()
    return int(answer["pages"])


def _clean_name(name: str | None) -> str:
    """The uploader's file name, for display only: no path, no control characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL_CHARACTERS.sub("", name).strip()
    return name[:255] or "scan.pdf"


def scan_upload(*, agreement: Agreement, user: Account, upload: UploadedFile) -> SignedScan:
    """Store the signed scan of a signed (or terminated) agreement as a new, current scan.

    Refused, with nothing stored, for a draft agreement, a file above SIGNED_SCAN_MAX_MB, a
    file that is not a PDF by its content, a damaged or truncated PDF, an encrypted PDF, a
    PDF without pages, and a PDF with active content (scripts, actions, embedded files,
    media). Earlier scans are kept: the latest one is the current scan.

    Runs in one transaction. The file is written before the row, so the transaction block sits
    inside a try: if the row is refused or the commit fails, the written file is deleted and no
    orphan is left. A file store that is down is refused with a clear message (code
    "storage_unavailable") and nothing is kept. A process killed between the file and the
    commit (or an outer transaction that rolls back: Django has no on-rollback hook) leaves a
    file no row names, which `institutions.files.sweep` removes after its grace period.
    """
    if not access.may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))
    written: list[str] = []
    try:
        with transaction.atomic():
            return _store(agreement=agreement, user=user, upload=upload, written=written)
    except StorageUnavailable as exc:
        _forget(written)
        logger.error("The file store refused a signed scan: %s", exc)
        raise ValidationError(
            _(
                "The file could not be stored: the file store is temporarily unavailable. "
                "Nothing was saved; try again in a few minutes."
            ),
            code="storage_unavailable",
        ) from exc
    except BaseException:
        _forget(written)
        raise


def _forget(written: list[str]) -> None:
    # The row was not saved (or was rolled back): remove the file written for it. One that
    # cannot be removed now (the store is down) is left to `institutions.files.sweep`.
    for name in written:
        try:
            private_storage.delete(name)
        except OSError:
            logger.exception("Could not delete the orphan scan file %s", name)


def scan_lines(scans: Iterable[SignedScan]) -> list[str]:
    """Scans as history lines: "file name — pages — SHA-256", the oldest first."""
    return [f"{scan.original_name} — {scan.pages} p. — SHA-256 {scan.sha256}" for scan in scans]


def _store(
    *, agreement: Agreement, user: Account, upload: UploadedFile, written: list[str]
) -> SignedScan:
    # Read the status again under a row lock, so it cannot change between check and save.
    locked = Agreement.objects.select_for_update().get(pk=agreement.pk)
    if not locked.is_signed:
        raise ValidationError(
            _(
                "A signed scan can only be uploaded for a signed agreement; this one is "
                "“%(status)s”. Record the signing first."
            ),
            code="not_signed",
            params={"status": locked.get_status_display()},
        )
    limit = max_scan_bytes()
    if upload.size is not None and upload.size > limit:
        raise _too_large()
    before = scan_lines(locked.scans.order_by("uploaded_at", "pk"))
    with _read_upload(upload, limit) as copy:
        pages = inspect_pdf(copy.stream, copy.size)
        scan = SignedScan(
            agreement=locked,
            original_name=_clean_name(upload.name),
            size=copy.size,
            sha256=copy.sha256,
            pages=pages,
            uploaded_by=user,
            uploaded_at=timezone.now(),
        )
        copy.stream.seek(0)
        # The stored name is random (see the model's upload_to); the name given here is unused.
        scan.file.save("scan.pdf", File(copy.stream), save=False)
        assert scan.file.name is not None  # just saved
        written.append(scan.file.name)
        scan.save()
    history.record(
        locked,
        user=user,
        action=History.Action.CHANGE,
        before={"scans": before},
        after={"scans": [*before, *scan_lines([scan])]},
    )
    return scan


def scan_download_filename(scan: SignedScan) -> str:
    """A safe ASCII download name from the agreement, never the uploader's file name:
    'PKS-<title slug>-<signing date>-scan-<scan id>.pdf'."""
    agreement = scan.agreement
    slug = slugify(agreement.title)[:_FILENAME_SLUG_MAX].strip("-") or "perjanjian"
    when = agreement.signed_on.isoformat() if agreement.signed_on else "unsigned"
    return f"PKS-{slug}-{when}-scan-{scan.pk}.pdf"
