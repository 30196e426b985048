"""The PDF engine: HTML to an archival PDF/A-3a file with WeasyPrint, and nothing else.

Every resource the HTML names (stylesheets, images, fonts, attachments) is fetched through one
URL fetcher. Ours only serves files from the project's own static directory and data: URIs, so
neither a bug in the template nor a future change that lets user text through unescaped can
make the renderer read local files or reach the network.

The engine knows nothing about agreements: what the document says is `content`, the JSON it
carries is `data`, and the public entry points that put them together are in the package.

Two things keep rendering cheap and a long-lived server process small:

- one WeasyPrint font configuration per thread, kept between renders: WeasyPrint otherwise loads
  every system font and writes the document's @font-face files anew for each document, about a
  fifth of a render's time;
- each render after a process's first one happens in a forked child process
  (PDF_RENDER_IN_CHILD, on by default where `os.fork` exists), which starts from the warm state
  of the first render and hands back the bytes through a pipe: WeasyPrint's memory grows by
  about 0.3 MB with every document and never gives it back, so a worker rendering in-process
  would grow without bound between recycles.
"""

from __future__ import annotations

import datetime
import gc
import mimetypes
import os
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.utils import timezone
from weasyprint import HTML, Attachment
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse, URLFetchingError

#: The PDF flavour of every agreement document: archival PDF/A-3, level A (tagged, Unicode).
PDF_VARIANT = "pdf/a-3a"

# CSS pixels (1/96 in) to PDF points (1/72 in).
_PX_TO_PT = 0.75


class RefusedURLError(URLFetchingError):
    """A resource URL the PDF renderer is not allowed to fetch.

    WeasyPrint turns any exception from a fetcher into a failed fetch (a logged warning and the
    resource left out), so refusing never breaks rendering of the rest of the document.
    """


class StaticOnlyURLFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves files below one directory, and data: URIs.

    Everything else (http, https, ftp, file URLs outside the directory, reached by `..` or by a
    symbolic link) raises `RefusedURLError`.
    """

    def __init__(self, root: Path | str) -> None:
        # The parent only ever sees data: URIs (see fetch); allowing just that protocol there
        # too means a mistake here still cannot open a network connection.
        super().__init__(allowed_protocols={"data"})
        self.root = Path(root).resolve(strict=True)

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return the resource at `url`, or raise `RefusedURLError`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            return self._fetch_file(url, parts.netloc, parts.path)
        raise RefusedURLError(f"Only static files and data: URIs may be used in a PDF: {url}")

    def _fetch_file(self, url: str, host: str, quoted_path: str) -> URLFetcherResponse:
        if host not in ("", "localhost"):
            raise RefusedURLError(f"Remote file URL refused: {url}")
        raw_path = unquote(quoted_path)
        if "\x00" in raw_path or not raw_path.startswith("/"):
            raise RefusedURLError(f"Malformed file URL refused: {url}")
        try:
            # strict resolution follows every symbolic link, so the containment check below
            # sees where the file really is, and `..` segments are gone.
            path = Path(raw_path).resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise RefusedURLError(f"File not found: {url}") from exc
        if not path.is_relative_to(self.root) or not path.is_file():
            raise RefusedURLError(f"File outside the static directory refused: {url}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return URLFetcherResponse(
            path.as_uri(), body=path.read_bytes(), headers={"Content-Type": content_type}
        )


def static_root() -> Path:
    """The project's own static directory: the first of STATICFILES_DIRS, else BASE_DIR/static."""
    dirs = list(getattr(settings, "STATICFILES_DIRS", []))
    if dirs:
        first = dirs[0]
        # An entry may be a (prefix, path) pair.
        return Path(first[1] if isinstance(first, tuple | list) else first)
    return Path(settings.BASE_DIR) / "static"


@dataclass(frozen=True)
class DataAttachment:
    """A file embedded in the PDF (PDF/A-3 'associated file'), e.g. the agreement as JSON."""

    name: str
    content: bytes
    description: str
    #: How the file relates to the document (ISO 32000-2 7.11.3): 'Data', 'Source', ….
    relationship: str = "Data"
    #: Creation and modification time written into the file's entry.
    when: datetime.datetime | None = None


@dataclass(frozen=True)
class RenderedPdf:
    """A rendered document: the PDF bytes, and where the signature stamp box landed, if kept.

    `stamp_box` is (page index, (x1, y1, x2, y2)) in PDF points from the page's lower left
    corner, the box a visible digital-signature stamp may fill.
    """

    data: bytes
    stamp_box: tuple[int, tuple[float, float, float, float]] | None = None


def _weasyprint_attachment(item: DataAttachment, fetcher: URLFetcher) -> Attachment:
    # WeasyPrint writes the times with a literal 'Z': give them in UTC.
    when = (item.when or timezone.now()).astimezone(datetime.UTC).replace(tzinfo=None)
    return Attachment(
        string=item.content,
        url_fetcher=fetcher,
        name=item.name,
        description=item.description,
        created=when,
        modified=when,
        relationship=item.relationship,
    )


def html_to_pdf_document(
    html: str,
    *,
    attachments: tuple[DataAttachment, ...] = (),
    stamp_anchor: str | None = None,
) -> RenderedPdf:
    """Render `html` to a PDF/A-3a document; relative URLs resolve against, and are confined to,
    the static directory. With `stamp_anchor`, report where the element of that id landed."""
    root = static_root().resolve(strict=True)

    def render() -> RenderedPdf:
        return _render(html, root, attachments, stamp_anchor)

    if getattr(settings, "PDF_RENDER_IN_CHILD", False) and hasattr(os, "fork"):
        return render_in_child(render)
    return render()


def _render(
    html: str, root: Path, attachments: tuple[DataAttachment, ...], stamp_anchor: str | None
) -> RenderedPdf:
    fetcher = StaticOnlyURLFetcher(root)
    font_config = _font_config()
    document = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=fetcher).render(
        pdf_variant=PDF_VARIANT, font_config=font_config
    )
    stamp_box = None
    if stamp_anchor:
        stamp_box = _anchor_box(document, stamp_anchor)
    data = document.write_pdf(
        pdf_variant=PDF_VARIANT,
        attachments=[_weasyprint_attachment(item, fetcher) for item in attachments],
        finisher=_list_associated_files_once,
    )
    return RenderedPdf(data=data, stamp_box=stamp_box)


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """This thread's font configuration, made once: a configuration caches the fonts it found
    and the @font-face files it wrote, and is not safe to share between threads."""
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


class RenderProcessError(RuntimeError):
    """The child process rendering a PDF ended without handing back a result."""


_warm = threading.local()


def render_in_child(work: Callable[[], RenderedPdf]) -> RenderedPdf:
    """Run `work` in a forked child process and return its result (or raise its exception).

    The first render of each thread runs here, so that the fonts, stylesheets and caches it
    loads are inherited, ready, by every child; what a child's render allocates goes with it.
    """
    if not getattr(_warm, "done", False):
        result = work()
        _warm.done = True
        return result
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its result is checked by the parent
        # The collector would touch every object inherited from the parent, copying each page
        # of its memory (copy on write) for a process that lives a second: what the render
        # leaves goes with the process.
        gc.disable()
        os.close(read_end)
        status = 0
        try:
            try:
                payload = pickle.dumps((True, work()))
            except Exception as exc:  # handed to the parent, which raises it
                try:
                    payload = pickle.dumps((False, exc))
                except Exception:  # an exception that cannot be pickled: say what it was
                    payload = pickle.dumps((False, RenderProcessError(repr(exc))))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:
            status = 1
        finally:
            # No cleanup of the parent's state (database connections, temporary folders).
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as incoming:
        payload = incoming.read()
    _, wait_status = os.waitpid(pid, 0)
    if not payload:
        raise RenderProcessError(
            f"The PDF rendering process ended without a result (wait status {wait_status})."
        )
    # Bytes from our own child process, through a pipe only it and we hold.
    succeeded, value = pickle.loads(payload)  # noqa: S301
    if succeeded:
        return value
    raise value


def _list_associated_files_once(document: Any, pdf_file: Any) -> None:
    """WeasyPrint 70 lists each attachment twice in the catalogue's /AF array (once from the
    name tree, once from the file specifications): keep one reference of each."""
    associated = pdf_file.catalog.get("AF")
    if associated:
        unique = list(dict.fromkeys(associated))
        associated.clear()
        associated.extend(unique)


def html_to_pdf(html: str, *, attachments: tuple[DataAttachment, ...] = ()) -> bytes:
    """Render `html` to PDF/A-3a bytes through the static-only fetcher."""
    return html_to_pdf_document(html, attachments=attachments).data


def _anchor_box(document: Any, anchor: str) -> tuple[int, tuple[float, float, float, float]] | None:
    """Where the element with id `anchor` sits: its page and its box in PDF points."""
    for index, page in enumerate(document.pages):
        if anchor not in page.anchors:
            continue
        # Anchors give the top left corner in CSS pixels; the box's size is found by walking
        # the page's boxes for the element.
        box = _find_box(page._page_box, anchor)
        if box is None:
            return None
        x, y = box.border_box_x(), box.border_box_y()
        width, height = box.border_width(), box.border_height()
        page_height = page.height * _PX_TO_PT
        return index, (
            x * _PX_TO_PT,
            page_height - (y + height) * _PX_TO_PT,
            (x + width) * _PX_TO_PT,
            page_height - y * _PX_TO_PT,
        )
    return None


def _find_box(box: Any, element_id: str) -> Any:
    element = getattr(box, "element", None)
    if element is not None and element.get("id") == element_id and hasattr(box, "border_width"):
        return box
    for child in getattr(box, "children", ()):
        found = _find_box(child, element_id)
        if found is not None:
            return found
    return None
