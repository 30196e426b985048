"""The signed scan of an agreement: checked to be a real, complete PDF, then stored privately.

An upload is read once, in chunks, into a temporary copy while its SHA-256 is computed, so the
bytes checked, hashed and stored are the same bytes. Nothing is kept when any check fails, and a
file already written is deleted again if the database refuses the row.

An upload is recorded in `institutions.history` as a change of the agreement, under the "field"
`scans`: the list of its scans before and after (see `scan_lines`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
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
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from institutions import history
from institutions.access import Account
from institutions.models import History

from .. import access
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
#: The most PDF objects the active-content check visits; a scan has a few per page, so a file
#: with more is refused rather than walked for ever.
MAX_OBJECTS_CHECKED = 200_000

#: Keys whose mere presence in any dictionary means the file can run or fetch something:
#: scripts, actions on opening or on events, embedded files, rich media, XML forms.
_ACTIVE_KEYS = frozenset(
    {
        "/JavaScript",
        "/JS",
        "/OpenAction",
        "/AA",
        "/EmbeddedFiles",
        "/EmbeddedFile",
        "/XFA",
        "/RichMedia",
        "/RichMediaContent",
        "/Launch",
        "/EF",
    }
)
#: Action types (`/S`) that run, submit, import, open another file or go to an address.
_ACTIVE_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
        "/URI",
        "/RichMediaExecute",
        "/Rendition",
        "/Movie",
        "/Sound",
        "/GoTo3DView",
    }
)
#: Annotation types that carry a file or media, or play something.
_ACTIVE_ANNOTATIONS = frozenset(
    {"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"}
)
#: Dictionary types that are in themselves embedded content.
_ACTIVE_TYPES = frozenset({"/EmbeddedFile", "/Filespec", "/RichMediaSettings"})
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


class _LogRecords(logging.Handler):
    """Collects what pypdf reports in this thread while reading, to tell a repaired file from a
    sound one."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record)


@contextmanager
def _pypdf_reports() -> Iterator[list[logging.LogRecord]]:
    """The warnings and errors pypdf logs inside the block, whatever the logging settings."""
    handler = _LogRecords()
    pypdf_logger = logging.getLogger("pypdf")
    previous_level = pypdf_logger.level
    if not pypdf_logger.isEnabledFor(logging.WARNING):
        pypdf_logger.setLevel(logging.WARNING)
    pypdf_logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        pypdf_logger.removeHandler(handler)
        pypdf_logger.setLevel(previous_level)


def _is_damage(record: logging.LogRecord) -> bool:
    # pypdf logs instead of raising when it had to guess: an error anywhere, or a stream (page
    # content) that did not decode, means part of the document is lost. Other warnings are
    # about harmless non-conformities that real scanners produce, so they are let through.
    return record.levelno >= logging.ERROR or record.name.startswith("pypdf.filters")


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


def find_active_content(reader: PdfReader, *, limit: int = MAX_OBJECTS_CHECKED) -> str | None:
    """What active content the PDF holds (the first key or type found), or None.

    Walks the whole object graph from the trailer (the catalogue, its name trees, the pages
    and their annotations, the form fields, the outline, everything they reach), each object
    once, without decoding any stream. More than `limit` objects raises `_too_complex`.
    """
    seen: set[tuple[int, int]] = set()
    pending: list[object] = [reader.trailer]
    visited = 0
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        visited += 1
        if visited > limit:
            raise _too_complex()
        if isinstance(item, DictionaryObject):
            found = _active_in_dictionary(item)
            if found:
                return found
            pending.extend(item.values())
        elif isinstance(item, ArrayObject):
            pending.extend(item)
    return None


def _active_in_dictionary(dictionary: DictionaryObject) -> str | None:
    for key in dictionary:
        if key in _ACTIVE_KEYS:
            return str(key)
    for key, active in (
        ("/S", _ACTIVE_ACTIONS),
        ("/Subtype", _ACTIVE_ANNOTATIONS),
        ("/Type", _ACTIVE_TYPES),
    ):
        value = dictionary.get(key)
        if isinstance(value, NameObject) and value in active:
            return f"{key} {value}"
    return None


def inspect_pdf(stream: IO[bytes], size: int) -> int:
    """Check that `stream` holds a complete, readable, unencrypted PDF; return its page count.

    pypdf is lenient even in strict mode (it repairs what it can), so the checks are layered:
    the header and the end-of-file marker, then a strict read of the cross-reference table and
    page tree, then every page's content stream parsed, with anything pypdf had to repair
    counted as damage. Last, a PDF with active content (see `find_active_content`) is refused:
    a scan is published as it was uploaded.
    """
    stream.seek(0)
    if stream.read(len(PDF_HEADER)) != PDF_HEADER:
        raise _not_pdf()
    stream.seek(max(0, size - EOF_WINDOW))
    if EOF_MARKER not in stream.read():
        raise _damaged()
    stream.seek(0)

    with _pypdf_reports() as reports:
        try:
            reader = PdfReader(stream, strict=True)
            if reader.is_encrypted:
                raise ValidationError(
                    _(
                        "The PDF is encrypted or password-protected. Upload a copy without "
                        "protection, so that it can be opened and checked."
                    ),
                    code="encrypted",
                )
            pages = len(reader.pages)
            for page in reader.pages:
                page.mediabox  # noqa: B018 - reading the geometry walks the inherited keys
                contents = page.get_contents()
                if contents is not None:
                    contents.operations  # noqa: B018 - parsing the content stream is the check
            active = find_active_content(reader)
        except ValidationError:
            raise
        except Exception as exc:  # pypdf raises many kinds of errors on a damaged file
            logger.info("Refused a damaged PDF: %s: %s", type(exc).__name__, exc)
            raise _damaged() from exc
    damage = [record for record in reports if _is_damage(record)]
    if damage:
        logger.info("Refused a PDF that pypdf had to repair: %s", damage[0].getMessage())
        raise _damaged()
    if pages == 0:
        raise ValidationError(_("The PDF has no pages."), code="no_pages")
    if active is not None:
        logger.info("Refused a PDF with active content: %s", active)
        raise _active_content()
    return pages


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
    orphan is left. (Called inside an outer transaction that later rolls back, the file would
    stay: Django has no on-rollback hook.)
    """
    if not access.may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))
    written: list[str] = []
    try:
        with transaction.atomic():
            return _store(agreement=agreement, user=user, upload=upload, written=written)
    except BaseException:
        # The row was not saved (or was rolled back): remove the file written for it.
        for name in written:
            try:
                private_storage.delete(name)
            except OSError:
                logger.exception("Could not delete the orphan scan file %s", name)
        raise


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
