"""The optional digital signature of an issued document: PAdES baseline B with pyHanko.

When `settings.PDF_SIGNING_PKCS12` names a PKCS#12 file (with `settings.PDF_SIGNING_PASSWORD`
its password, if any), the issued PDF is signed with that key (SHA-256) and carries a visible
stamp in the document's own embedded font beside the QR code. Without the setting, documents
are issued unsigned.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ..models import Agreement
from .content import IssueInfo
from .engine import RenderedPdf, static_root

#: The font of the visible signature stamp, embedded (subsetted) in the signed PDF.
STAMP_FONT = "fonts/LiberationSerif-Regular.ttf"
#: The name of the signature field the stamp fills.
SIGNATURE_FIELD = "TandaTanganElektronik"


@dataclass(frozen=True)
class SigningCredentials:
    """Where the PKCS#12 file (key and certificate chain) is, and its password."""

    path: Path
    password: str


def signing_credentials() -> SigningCredentials | None:
    """The configured PDF signing key, or None when digital signing is off.

    Read from `settings.PDF_SIGNING_PKCS12` (a path) and `settings.PDF_SIGNING_PASSWORD`.
    """
    path = getattr(settings, "PDF_SIGNING_PKCS12", "") or ""
    if not str(path).strip():
        return None
    return SigningCredentials(Path(path), getattr(settings, "PDF_SIGNING_PASSWORD", "") or "")


def _load_signer(credentials: SigningCredentials) -> Any:
    from pyhanko.sign import signers

    try:
        data = credentials.path.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"PDF_SIGNING_PKCS12: cannot read {credentials.path}: {exc}"
        ) from exc
    try:
        return signers.SimpleSigner.load_pkcs12_data(
            data, other_certs=[], passphrase=credentials.password.encode() or None
        )
    except Exception as exc:  # pyHanko and cryptography raise several kinds
        raise ImproperlyConfigured(
            f"PDF_SIGNING_PKCS12: {credentials.path} could not be opened as PKCS#12 with the "
            f"password in PDF_SIGNING_PASSWORD: {exc}"
        ) from exc


@functools.cache
def _stamp_font_factory_class() -> type:
    """A pyHanko font engine factory whose glyph widths are right for any font.

    pyHanko 0.38 writes each glyph's advance in font units into the PDF's /W array and its TJ
    adjustments, which PDF reads as thousandths of an em: right only for fonts of 1000 units
    per em. Liberation Serif has 2048, and its stamp text came out spread over twice its
    width. Shaping at a scale of 1000 and converting the widths makes both agree.
    """
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    class ThousandthsGlyphAccumulator(GlyphAccumulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._font_units_per_em = self.units_per_em
            self.units_per_em = 1000
            self.hb_font.scale = (1000, 1000)

        def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
            if glyph_id not in self._glyphs:
                cid, width = super()._get_cid_and_width(glyph_id)
                self._glyphs[glyph_id] = (cid, round(width * 1000 / self._font_units_per_em))
            return self._glyphs[glyph_id]

    class StampFontFactory(GlyphAccumulatorFactory):
        def create_font_engine(self, writer: Any, obj_stream: Any = None) -> Any:
            if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
                obj_stream = writer.prepare_object_stream()
            font_bytes = io.BytesIO(Path(self.font_file).read_bytes())
            return ThousandthsGlyphAccumulator(
                writer=writer,
                font_handle=font_bytes,
                font_size=self.font_size,
                ot_script_tag=self.ot_script_tag,
                ot_language_tag=self.ot_language_tag,
                writing_direction=self.writing_direction,
                bcp47_lang_code=self.bcp47_lang_code,
                obj_stream=obj_stream,
            )

    return StampFontFactory


def sign_pdf(
    rendered: RenderedPdf,
    *,
    credentials: SigningCredentials,
    agreement: Agreement,
    issue: IssueInfo,
) -> bytes:
    """Sign `rendered` (PAdES) with the configured key, with a visible stamp in the box the
    document kept for it (an invisible signature if there is none).

    The signature is an incremental update: the rendered PDF's bytes stay as they were, and
    the file keeps its PDF/A-3 identification. The signature widget is not part of the tagged
    structure, which strict PDF/A-3a validators may report.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    signer = _load_signer(credentials)
    if rendered.stamp_box is not None:
        page, box = rendered.stamp_box
        # pyHanko takes any number for the box; its annotation says int.
        field_spec = fields.SigFieldSpec(SIGNATURE_FIELD, on_page=page, box=box)  # type: ignore[arg-type]
    else:
        field_spec = fields.SigFieldSpec(SIGNATURE_FIELD)
    font = _stamp_font_factory_class()(str(static_root() / STAMP_FONT), font_size=7)
    stamp = TextStampStyle(
        stamp_text=(
            "Ditandatangani secara elektronik oleh:\n%(signer)s\n"
            "Waktu: %(ts)s\nKode verifikasi: %(verify)s"
        ),
        text_box_style=TextBoxStyle(font=font),
        border_width=1,
        timestamp_format="%d-%m-%Y %H.%M %Z",
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(rendered.data))
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"Penerbitan dokumen resmi: {agreement.title}"[:200],
        location=settings.SITE_URL,
    )
    pdf_signer = signers.PdfSigner(
        metadata, signer=signer, stamp_style=stamp, new_field_spec=field_spec
    )
    output = pdf_signer.sign_pdf(writer, appearance_text_params={"verify": issue.verification_code})
    return output.getvalue()
