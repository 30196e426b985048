"""Staff views: the signed scan of an agreement — its page, upload and download.

Scans are official documents kept under MEDIA_ROOT/private, which has no URL: the only way to
them is `scan_download`, which checks that the user is staff of a party.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from institutions import access

from .. import access as agreement_access
from ..forms.documents import SignedScanForm
from ..models import Agreement
from ..selectors import scans_prefetch
from ..services import documents

logger = logging.getLogger(__name__)


def _render_scans(
    request: HttpRequest,
    agreement: Agreement,
    *,
    may_edit: bool,
    form: SignedScanForm | None = None,
) -> HttpResponse:
    return render(
        request,
        "agreements/documents/scans.html",
        {
            "agreement": agreement,
            "may_edit": may_edit,
            "scan_form": form or SignedScanForm(),
        },
    )


def _agreement_queryset():
    return Agreement.objects.prefetch_related("parties", scans_prefetch())


@require_GET
@access.staff_required
def scans(request: HttpRequest, pk: int) -> HttpResponse:
    """The agreement's signed scans, current and earlier, with the upload form for editors."""
    agreement, may_edit = agreement_access.get_agreement_for_user(
        request.user, pk, queryset=_agreement_queryset()
    )
    return _render_scans(request, agreement, may_edit=may_edit)


@require_POST
@access.staff_required
def scan_upload(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Upload the signed scan of a signed agreement (editors and administrators of a party)."""
    agreement, may_edit = agreement_access.get_agreement_for_user(
        request.user, pk, write=True, queryset=_agreement_queryset()
    )
    form = SignedScanForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            scan = documents.scan_upload(
                agreement=agreement, user=request.user, upload=form.cleaned_data["file"]
            )
        except ValidationError as exc:
            # A refusal about the agreement belongs to the form; one about the file to its field.
            form.add_error(None if getattr(exc, "code", None) == "not_signed" else "file", exc)
        else:
            messages.success(
                request,
                ngettext(
                    "The signed scan “%(name)s” was uploaded (%(pages)s page).",
                    "The signed scan “%(name)s” was uploaded (%(pages)s pages).",
                    scan.pages,
                )
                % {"name": scan.original_name, "pages": scan.pages},
            )
            return redirect(reverse("agreements:detail", args=[agreement.pk]) + "#documents")
    # Bad input: the page again, with the reason, and the scans already stored untouched.
    return _render_scans(request, agreement, may_edit=may_edit, form=form)


@require_GET
@access.staff_required
def scan_download(request: HttpRequest, pk: int) -> FileResponse:
    """The stored scan as an attachment, for staff of a party of its agreement only."""
    scan = get_object_or_404(
        agreement_access.visible_scans(request.user).select_related("agreement"),
        pk=pk,
    )
    try:
        if not scan.file.name:
            raise FileNotFoundError
        handle = scan.file.storage.open(scan.file.name, "rb")
    except FileNotFoundError:
        logger.error("The file of signed scan %s is missing: %s", scan.pk, scan.file.name)
        raise Http404(_("The file of this scan is missing.")) from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=documents.scan_download_filename(scan),
        content_type="application/pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


urlpatterns: list = [
    path("staff/agreements/<int:pk>/scans/", scans, name="scans"),
    path("staff/agreements/<int:pk>/scans/upload/", scan_upload, name="scan_upload"),
    path("staff/scans/<int:pk>/download/", scan_download, name="scan_download"),
]
