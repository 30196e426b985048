"""Public registry of agreements, agreement pages, the official PDF, the signed scan and the
verification page of issued documents."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.cache import get_conditional_response
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from institutions.models import Institution
from institutions.pagination import page_of

from .. import access as agreement_access
from .. import caching
from ..document import agreement_pdf_filename, render_agreement_pdf
from ..models import (
    Agreement,
    AgreementQuerySet,
    IssuedDocument,
    Party,
    SignedScan,
    normalise_verification_code,
)
from ..services import issuing
from ..services.documents import scan_download_filename

logger = logging.getLogger(__name__)

REGISTRY_PAGE_SIZE = 25
#: How long browsers and proxies may keep an issued PDF before asking again (with its ETag):
#: its bytes never change.
ISSUED_PDF_MAX_AGE = 24 * 60 * 60
#: A newer scan may replace the current one, so it is kept for a shorter while.
SCAN_MAX_AGE = 60 * 60
#: Verification codes are 16 characters; anything much longer is not one.
_CODE_MAX_LENGTH = 64


def _parties_prefetch(lookup: str = "parties") -> Prefetch:
    return Prefetch(
        lookup,
        queryset=Party.objects.select_related("institution", "signatory").order_by("order"),
    )


def registry_agreements(query: str = "", status: str = "") -> AgreementQuerySet:
    """The registry's agreements, last signed first: an ordering the `agreement_registry`
    index serves, so that a page is read from the index, however deep. A search reads the
    parties through a subquery (no join repeating agreements, no DISTINCT over the table)."""
    agreements = (
        Agreement.objects.public()
        .with_current_status()
        .prefetch_related(_parties_prefetch())
        .order_by("-signed_on", "-pk")
    )
    if query:
        matching_parties = Party.objects.filter(
            Q(
                institution__in=Institution.objects.filter(
                    Q(name__icontains=query) | Q(short_name__icontains=query)
                )
            )
            | Q(number__icontains=query)
        )
        agreements = agreements.filter(
            Q(title__icontains=query)
            | Q(subject__icontains=query)
            | Q(pk__in=matching_parties.values("agreement_id"))
        )
    if status in Agreement.Status.values:
        # An annotation (see `with_current_status`), which the type checker cannot see.
        agreements = agreements.filter(Q(current_status=status))
    return agreements


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(str(value)[:9]))
    except ValueError:
        return 1


@require_GET
def registry(request: HttpRequest) -> HttpResponse:
    """The public registry: signed agreements, searchable by title, subject, party or number.

    Its results are the same for everyone and kept in the cache until an agreement changes
    (`agreements.caching`); an anonymous visitor who has the page already gets 304.
    """
    query = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    if status not in Agreement.Status.values:
        status = ""
    number = _page_number(request.GET.get("page"))
    key = caching.key(caching.REGISTRY, get_language() or "", query, status, number)
    # The page around the results carries the visitor's CSRF token and login state, so the
    # validator is made for anonymous visitors only, and with their CSRF cookie.
    etag = None
    if not request.user.is_authenticated:
        etag = caching.etag(key, request.COOKIES.get(settings.CSRF_COOKIE_NAME, ""))
        not_modified = get_conditional_response(request, etag=etag)
        if not_modified is not None:
            not_modified["ETag"] = etag
            return not_modified
    results = caching.get(key)
    if results is None:
        page = page_of(registry_agreements(query, status), REGISTRY_PAGE_SIZE, number)
        results = render_to_string(
            "agreements/_registry_results.html",
            {"page": page, "query": query, "status": status},
            request=request,
        )
        caching.put(key, results)
    response = render(
        request,
        "agreements/registry.html",
        {
            "results": mark_safe(results),  # noqa: S308 - rendered by our own template above
            "query": query,
            "status": status,
            "statuses": [
                (value, label)
                for value, label in Agreement.Status.choices
                if value
                not in (Agreement.Status.DRAFT, Agreement.Status.DISCUSSION, Agreement.Status.READY)
            ],
        },
    )
    if etag is not None:
        # Made with the CSRF cookie this response leaves (set now on a first visit), so that
        # the next visit, which sends it, matches.
        etag = caching.etag(key, request.META.get("CSRF_COOKIE", ""))
        response["ETag"] = etag
        # Revalidated on each visit: the validator is cheap, the results change with writes.
        response["Cache-Control"] = "private, no-cache"
    return response


def _visible_agreement(request: HttpRequest, pk: int) -> Agreement:
    """The agreement if the user may see it; 404 otherwise, as if it did not exist."""
    return agreement_access.get_visible_agreement(
        request.user, pk, Agreement.objects.prefetch_related(_parties_prefetch(), "articles")
    )


@require_GET
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One agreement: the public facts, with a way into the staff workspace for its parties."""
    agreement = _visible_agreement(request, pk)
    issued = scan = None
    if agreement.is_signed:
        issued = IssuedDocument.objects.filter(agreement=agreement).first()
        scan = agreement.current_scan
    return render(
        request,
        "agreements/agreement_detail.html",
        {
            "agreement": agreement,
            "is_party_staff": agreement_access.is_party_staff(request.user, agreement),
            "addenda": agreement_access.visible_agreements(
                request.user, agreement.addenda.all()
            ).order_by("signed_on", "pk"),
            "programmes": agreement.programmes.select_related("host").order_by("launch_date"),
            "issued": issued,
            "scan": scan,
        },
    )


def _pdf_headers(response: HttpResponse, agreement: Agreement) -> HttpResponse:
    response["Content-Disposition"] = f'inline; filename="{agreement_pdf_filename(agreement)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def agreement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The agreement as a PDF document.

    A signed agreement's PDF is its issued document: the same stored bytes on every download
    (issued now if it never was), cacheable, with its SHA-256 as the ETag so that a repeated
    download can be answered 304. A draft, seen only by staff of its parties, is rendered from
    its current data and never cached.
    """
    agreement = agreement_access.get_visible_agreement(
        request.user, pk, Agreement.objects.select_related("issued_document")
    )
    if not agreement.is_signed:
        response = HttpResponse(render_agreement_pdf(agreement), content_type="application/pdf")
        response["Cache-Control"] = "private, no-store"
        return _pdf_headers(response, agreement)

    document = issuing.issued_document_for(agreement)
    etag = f'"{document.sha256}"'
    cache_control = f"public, max-age={ISSUED_PDF_MAX_AGE}"
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        not_modified["ETag"] = etag
        not_modified["Cache-Control"] = cache_control
        return not_modified
    try:
        # A few dozen kilobytes: read whole, so the response has a length and plain content.
        data = issuing.read_issued(document)
    except FileNotFoundError:
        logger.error(
            "The file of the issued document of agreement %s is missing: %s",
            agreement.pk,
            document.file.name,
        )
        raise Http404(_("The file of this document is missing.")) from None
    response = HttpResponse(data, content_type="application/pdf")
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return _pdf_headers(response, agreement)


@require_GET
def agreement_scan(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The current signed scan of a signed agreement, for anyone: once signed, the agreement
    with its officials' signatures and stamps is a public document. 404 for a draft, or when
    no scan was uploaded."""
    agreement = get_object_or_404(Agreement.objects.public(), pk=pk)
    scan = (
        SignedScan.objects.select_related("agreement")
        .filter(agreement=agreement)
        .order_by("-uploaded_at", "-pk")
        .first()
    )
    if scan is None:
        raise Http404(_("No signed scan has been uploaded for this agreement."))
    etag = f'"{scan.sha256}"'
    cache_control = f"public, max-age={SCAN_MAX_AGE}"
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        not_modified["ETag"] = etag
        not_modified["Cache-Control"] = cache_control
        return not_modified
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
        filename=scan_download_filename(scan),
        content_type="application/pdf",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response


@require_GET
def verify(request: HttpRequest, code: str) -> HttpResponse:
    """The verification page of an issued document, reached through the QR code on its last
    page: the agreement, its status today, and the SHA-256 of the PDF that was issued. An
    unknown code gets a page that says so, with status 404. A code is found however it is
    typed: in any case, with O for 0 and I or L for 1 (see `normalise_verification_code`)."""
    document = None
    if len(code) <= _CODE_MAX_LENGTH:
        documents = IssuedDocument.objects.select_related(
            "agreement", "agreement__parent"
        ).prefetch_related(_parties_prefetch("agreement__parties"))
        # Exactly as printed first (codes issued before the unambiguous alphabet are case
        # sensitive), then as typed by a reader: any case, look-alikes, separators.
        document = documents.filter(verification_code=code).first()
        canonical = normalise_verification_code(code)
        if document is None and canonical != code:
            document = documents.filter(verification_code=canonical).first()
    if document is None:
        response = render(request, "agreements/verify_not_found.html", {"code": code}, status=404)
    else:
        agreement = document.agreement
        response = render(
            request,
            "agreements/verify.html",
            {
                "document": document,
                "agreement": agreement,
                "current_status": agreement.current_status(),
            },
        )
    # A verification page is looked up by its code, not found by search engines.
    response["X-Robots-Tag"] = "noindex"
    return response
