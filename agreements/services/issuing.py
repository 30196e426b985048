"""Issuing the official PDF of a signed agreement: rendered once, stored, served byte for byte.

When an agreement is signed its document is rendered with a verification code and a QR code,
optionally signed digitally (PAdES, with pyHanko), and stored in private storage with its
SHA-256 as an `IssuedDocument`. Every later download serves those exact bytes, and the public
verification page shows their hash, so a printout or a file can be checked against it.

Where the bytes go and when:

- At signing (`issue_on_signing`, called by `lifecycle._sign`) the document is issued once the
  signing transaction has committed. Rendering takes a while, so it does not hold the signing's
  row locks, and a signing that rolls back leaves nothing behind: no row and no file.
- A signed agreement without a document (signed in the admin, loaded as demo data, or whose
  issuing after the signing failed) gets one at its first download (`issued_document_for`).
- `issue_document` writes the file first and inserts the row after, in its own transaction; if
  the insert fails the file is deleted again. Two first downloads at the same time both render,
  but the database accepts one row per agreement (OneToOne): the other deletes its file and
  serves the winner's bytes.

Digital signature: when `settings.PDF_SIGNING_PKCS12` names a PKCS#12 file (with
`settings.PDF_SIGNING_PASSWORD` its password, if any), the issued PDF is signed with that key
(PAdES baseline B, SHA-256) and carries a visible stamp in the document's own embedded font
beside the QR code. Without the setting, documents are issued unsigned.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import pdf
from ..models import Agreement, IssuedDocument, private_storage

logger = logging.getLogger(__name__)

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


def _load_signer(credentials: SigningCredentials):
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
def _stamp_font_factory_class():
    """A pyHanko font engine factory whose glyph widths are right for any font.

    pyHanko 0.38 writes each glyph's advance in font units into the PDF's /W array and its TJ
    adjustments, which PDF reads as thousandths of an em: right only for fonts of 1000 units
    per em. Liberation Serif has 2048, and its stamp text came out spread over twice its
    width. Shaping at a scale of 1000 and converting the widths makes both agree.
    """
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

    class ThousandthsGlyphAccumulator(GlyphAccumulator):
        def __init__(self, *args, **kwargs) -> None:
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
        def create_font_engine(self, writer, obj_stream=None):
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
    rendered: pdf.RenderedPdf,
    *,
    credentials: SigningCredentials,
    agreement: Agreement,
    issue: pdf.IssueInfo,
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
        field_spec = fields.SigFieldSpec(SIGNATURE_FIELD, on_page=page, box=box)
    else:
        field_spec = fields.SigFieldSpec(SIGNATURE_FIELD)
    font = _stamp_font_factory_class()(str(pdf.static_root() / STAMP_FONT), font_size=7)
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


def _render(agreement: Agreement, issue: pdf.IssueInfo) -> tuple[bytes, bool]:
    """The document's bytes, signed if signing is configured, and whether they are."""
    credentials = signing_credentials()
    rendered = pdf.render_agreement_document(
        agreement, issue=issue, stamp_space=credentials is not None
    )
    if credentials is None:
        return rendered.data, False
    return sign_pdf(rendered, credentials=credentials, agreement=agreement, issue=issue), True


def _delete_file(name: str) -> None:
    try:
        private_storage.delete(name)
    except OSError:
        logger.exception("Could not delete the orphan issued document file %s", name)


def issue_document(*, agreement: Agreement) -> IssuedDocument:
    """Return the official document of a signed agreement, issuing it now if it has none.

    Issuing renders the PDF with a new verification code, signs it if configured, stores the
    file and records its SHA-256 and size; it happens once per agreement, ever. Refused for an
    agreement that is not signed.

    Not wrapped in one transaction on purpose: the file is written before the row, and the row
    is inserted in a transaction of its own, so a refused insert deletes the file again. Call
    it outside any transaction (a rollback of an outer one would leave the file: Django has no
    on-rollback hook); during a signing use `issue_on_signing`.
    """
    existing = IssuedDocument.objects.filter(agreement_id=agreement.pk).first()
    if existing is not None:
        return existing
    agreement = Agreement.objects.get(pk=agreement.pk)  # its committed state, not a caller's copy
    if not agreement.is_signed:
        raise ValidationError(
            _("Only a signed agreement has an official document; this one is “%(status)s”."),
            code="not_signed",
            params={"status": agreement.get_status_display()},
        )
    document = IssuedDocument(agreement=agreement, issued_at=timezone.now())
    issue = pdf.IssueInfo(
        verification_code=document.verification_code, issued_at=document.issued_at
    )
    data, digitally_signed = _render(agreement, issue)
    document.sha256 = hashlib.sha256(data).hexdigest()
    document.size = len(data)
    document.digitally_signed = digitally_signed
    # The stored name is random (see the model's upload_to); the name given here is unused.
    document.file.save("document.pdf", ContentFile(data), save=False)
    name = document.file.name
    try:
        with transaction.atomic():
            document.save(force_insert=True)
    except IntegrityError:
        _delete_file(name)
        # Issued by someone else in the meantime: theirs is the document.
        winner = IssuedDocument.objects.filter(agreement_id=agreement.pk).first()
        if winner is None:
            raise
        return winner
    except BaseException:
        _delete_file(name)
        raise
    logger.info(
        "Issued the document of agreement %s (sha256 %s, %s bytes, signed: %s)",
        agreement.pk,
        document.sha256,
        document.size,
        digitally_signed,
    )
    return document


def issue_on_signing(*, agreement: Agreement) -> None:
    """Issue the agreement's document once the current transaction (the signing) commits.

    Nothing happens if the signing rolls back. A failure after the commit is logged and does
    not undo the signing: the document is then issued at its first download.
    """
    transaction.on_commit(partial(_issue_after_commit, agreement.pk), robust=True)


def _issue_after_commit(agreement_pk: int) -> None:
    try:
        agreement = Agreement.objects.get(pk=agreement_pk)
        if agreement.is_signed:
            issue_document(agreement=agreement)
    except Exception:
        logger.exception(
            "Could not issue the document of agreement %s after its signing; it will be "
            "issued at its first download.",
            agreement_pk,
        )


def issued_document_for(agreement: Agreement) -> IssuedDocument:
    """The issued document of a signed agreement, from a `select_related` if there is one,
    issuing it at this first download if it was never issued."""
    try:
        return agreement.issued_document
    except IssuedDocument.DoesNotExist:
        return issue_document(agreement=agreement)


def read_issued(document: IssuedDocument) -> bytes:
    """The stored bytes of an issued document. Raises FileNotFoundError if the file is gone."""
    with document.file.storage.open(document.file.name, "rb") as handle:
        return handle.read()
