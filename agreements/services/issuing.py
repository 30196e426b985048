"""Issuing the official PDF of a signed agreement: rendered once, stored, served byte for byte.

When an agreement is signed its document is rendered with a verification code and a QR code,
optionally signed digitally (PAdES, with pyHanko), and stored in private storage with its
SHA-256 as an `IssuedDocument`. Every later download serves those exact bytes, and the public
verification page shows their hash, so a printout or a file can be checked against it.

Where the bytes go and when:

- At signing (`issue_on_signing`, called by `lifecycle._sign`) a background task is queued in the
  signing's transaction (`agreements.tasks.issue_agreement_document`): the signing answers at
  once, a signing that rolls back queues nothing, and a worker renders the document after the
  commit, tried again with back-off if it fails. Until it is there the staff pages show it as
  "being issued".
- A signed agreement without a document (signed in the admin, loaded as demo data, or whose
  task has not run or failed) gets one at its first download (`issued_document_for`).
- `issue_document` writes the file first and inserts the row after, in its own transaction; if
  the insert fails the file is deleted again. Two issuings at the same time (the task on two
  workers, or the task and a first download) may both render, but the database accepts one row
  per agreement (OneToOne): the other deletes its file and returns the winner's document, so
  there is never a second row, nor a second file once both are done.

Digital signature: when `settings.PDF_SIGNING_PKCS12` names a PKCS#12 file, the issued PDF is
signed (PAdES) by `agreements.document.signing`; without the setting, documents are issued
unsigned.
"""

from __future__ import annotations

import hashlib
import logging

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.tasks import enqueue_on_commit

from .. import document as official_document
from ..document import signing
from ..models import Agreement, IssuedDocument, Party, private_storage

logger = logging.getLogger(__name__)


def freeze_parties(*, agreement: Agreement) -> None:
    """Snapshot what the document states about each party (institution name, short name,
    kind and address; signatory's name and NIP) from the live rows, for those not yet frozen.

    Called at signing, inside its transaction, and again before issuing, for an agreement
    signed by another path (the admin, old data) whose parties were never frozen. From then on
    the public page, the verification page and the PDF print the snapshot.
    """
    parties = list(
        Party.objects.select_related("institution", "signatory").filter(
            agreement_id=agreement.pk, frozen_at__isnull=True
        )
    )
    if not parties:
        return
    now = timezone.now()
    for party in parties:
        party.freeze(now)
    Party.objects.bulk_update(parties, Party.FROZEN_FIELDS)


def _render(agreement: Agreement, issue: official_document.IssueInfo) -> tuple[bytes, bool]:
    """The document's bytes, signed if signing is configured, and whether they are."""
    credentials = signing.signing_credentials()
    rendered = official_document.render_agreement_document(
        agreement, issue=issue, stamp_space=credentials is not None
    )
    if credentials is None:
        return rendered.data, False
    return signing.sign_pdf(
        rendered, credentials=credentials, agreement=agreement, issue=issue
    ), True


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
    # The document states what the parties were at signing; one signed by another path than
    # the signing event is frozen now, before its only rendering.
    freeze_parties(agreement=agreement)
    document = IssuedDocument(agreement=agreement, issued_at=timezone.now())
    issue = official_document.IssueInfo(
        verification_code=document.verification_code, issued_at=document.issued_at
    )
    data, digitally_signed = _render(agreement, issue)
    document.sha256 = hashlib.sha256(data).hexdigest()
    document.size = len(data)
    document.digitally_signed = digitally_signed
    # The stored name is random (see the model's upload_to); the name given here is unused.
    document.file.save("document.pdf", ContentFile(data), save=False)
    name = document.file.name
    assert name is not None  # just saved
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
    """Queue the issuing of the agreement's document with the current transaction (the signing).

    With the database task backend the task row commits with the signing, and nothing is
    queued if it rolls back; a worker issues the document after the commit.
    """
    from ..tasks import issue_agreement_document  # the tasks module calls this one

    enqueue_on_commit(issue_agreement_document, agreement_id=agreement.pk)


def issued_document_for(agreement: Agreement) -> IssuedDocument:
    """The issued document of a signed agreement, from a `select_related` if there is one,
    issuing it at this first download if it was never issued."""
    try:
        return agreement.issued_document
    except IssuedDocument.DoesNotExist:
        return issue_document(agreement=agreement)


def read_issued(document: IssuedDocument) -> bytes:
    """The stored bytes of an issued document. Raises FileNotFoundError if the file is gone."""
    name = document.file.name
    if name is None:
        raise FileNotFoundError("the issued document has no file")
    with document.file.storage.open(name, "rb") as handle:
        return handle.read()
