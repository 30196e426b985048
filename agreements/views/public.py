"""Public registry of agreements, agreement pages and the PDF download."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .. import selectors
from ..models import Agreement, Party
from ..pdf import agreement_pdf_filename, render_agreement_pdf

REGISTRY_PAGE_SIZE = 25


def _parties_prefetch() -> Prefetch:
    return Prefetch(
        "parties",
        queryset=Party.objects.select_related("institution", "signatory").order_by("order"),
    )


@require_GET
def registry(request: HttpRequest) -> HttpResponse:
    """The public registry: signed agreements, searchable by title, subject, party or number."""
    agreements = (
        Agreement.objects.public()
        .with_current_status()
        .prefetch_related(_parties_prefetch())
        .order_by("-signed_on", "-pk")
    )
    query = request.GET.get("q", "").strip()[:200]
    if query:
        agreements = agreements.filter(
            Q(title__icontains=query)
            | Q(subject__icontains=query)
            | Q(parties__institution__name__icontains=query)
            | Q(parties__institution__short_name__icontains=query)
            | Q(parties__number__icontains=query)
        ).distinct()
    status = request.GET.get("status", "")
    if status in Agreement.Status.values:
        agreements = agreements.filter(current_status=status)
    page = Paginator(agreements, REGISTRY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "agreements/registry.html",
        {
            "page": page,
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


def _visible_agreement(request: HttpRequest, pk: int) -> Agreement:
    """The agreement if the user may see it; 404 otherwise, as if it did not exist."""
    return get_object_or_404(
        Agreement.objects.visible_to(request.user).prefetch_related(
            _parties_prefetch(), "articles"
        ),
        pk=pk,
    )


@require_GET
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One agreement: the public facts, with a way into the staff workspace for its parties."""
    agreement = _visible_agreement(request, pk)
    return render(
        request,
        "agreements/agreement_detail.html",
        {
            "agreement": agreement,
            "is_party_staff": selectors.is_party_staff(request.user, agreement),
            "addenda": agreement.addenda.visible_to(request.user).order_by("signed_on", "pk"),
            "programmes": agreement.programmes.select_related("host").order_by("launch_date"),
        },
    )


@require_GET
def agreement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The agreement as a PDF document, rendered from its current data."""
    agreement = _visible_agreement(request, pk)
    response = HttpResponse(render_agreement_pdf(agreement), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{agreement_pdf_filename(agreement)}"'
    if not agreement.is_public:
        response["Cache-Control"] = "private, no-store"
    return response
