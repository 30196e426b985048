"""The check of an uploaded scan, run in a child process: `python -m agreements.scancheck
MAX_PAGES < file.pdf` prints one JSON line, {"pages": n} or {"refused": code}.

It imports nothing but pypdf, so the child starts in a fraction of a second; the parent
(`agreements.services.documents.inspect_pdf`) stops it after SCAN_CHECK_SECONDS, so however many
pages or objects a file holds it cannot keep an application server's worker past its timeout.
The child also caps its own memory and CPU time, against a stream that decompresses to
gigabytes.

The checks are layered (pypdf is lenient even in strict mode, it repairs what it can): the page
count the page tree declares, refused above MAX_PAGES before any page is read; a strict read
of the cross-reference table and page tree; every page's content stream parsed, with anything
pypdf had to repair counted as damage; last, active content (see `find_active_content`).
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

#: The most PDF objects the active-content check visits; a scan has a few per page, so a file
#: with more is refused rather than walked for ever.
MAX_OBJECTS_CHECKED = 200_000
#: The child's own limits: address space in bytes, CPU seconds (the parent's timeout is the
#: real bound; these stop a child the parent could not).
MEMORY_LIMIT = 1024 * 1024 * 1024
CPU_LIMIT_SECONDS = 120


class Refused(Exception):
    """The file is not accepted; `code` says why (see `REASONS` in the services)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


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


def find_active_content(reader: PdfReader, *, limit: int = MAX_OBJECTS_CHECKED) -> str | None:
    """What active content the PDF holds (the first key or type found), or None.

    Walks the whole object graph from the trailer (the catalogue, its name trees, the pages
    and their annotations, the form fields, the outline, everything they reach), each object
    once, without decoding any stream. More than `limit` objects raises Refused("too_complex").
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
            raise Refused("too_complex")
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


def declared_pages(reader: PdfReader) -> int:
    """The page count the page tree's root declares (/Count): read without visiting a page."""
    try:
        root = reader.trailer["/Root"].get_object()
        count = root["/Pages"].get_object()["/Count"]  # type: ignore[index]
        return int(count)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise Refused("damaged") from None


def check(data: bytes, *, max_pages: int) -> int:
    """The page count of the complete, readable, unencrypted, passive PDF `data`; Refused
    otherwise. The caller has checked the header and the end-of-file marker."""
    with _pypdf_reports() as reports:
        try:
            reader = PdfReader(io.BytesIO(data), strict=True)
            if reader.is_encrypted:
                raise Refused("encrypted")
            if declared_pages(reader) > max_pages:
                raise Refused("too_many_pages")
            pages = len(reader.pages)
            if pages > max_pages:  # the tree holds more pages than it declares
                raise Refused("too_many_pages")
            for page in reader.pages:
                page.mediabox  # noqa: B018 - reading the geometry walks the inherited keys
                contents = page.get_contents()
                if contents is not None:
                    contents.operations  # noqa: B018 - parsing the content stream is the check
            active = find_active_content(reader)
        except Refused:
            raise
        except Exception as exc:  # pypdf raises many kinds of errors on a damaged file
            logging.getLogger(__name__).info("damaged: %s: %s", type(exc).__name__, exc)
            raise Refused("damaged") from exc
    if any(_is_damage(record) for record in reports):
        raise Refused("damaged")
    if pages == 0:
        raise Refused("no_pages")
    if active is not None:
        raise Refused("active_content")
    return pages


def _limit_resources() -> None:
    try:
        import resource
    except ImportError:  # not on this platform: the parent's timeout still holds
        return
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_SECONDS, CPU_LIMIT_SECONDS))


def main(argv: list[str]) -> int:
    """The child's entry point: the file on standard input, the answer on standard output."""
    _limit_resources()
    max_pages = int(argv[1])
    data = sys.stdin.buffer.read()
    try:
        answer: dict[str, object] = {"pages": check(data, max_pages=max_pages)}
    except Refused as refused:
        answer = {"refused": refused.code}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
