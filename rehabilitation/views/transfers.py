"""Staff pages of transfer requests: the list of requests received and sent, one request with
its decision, and the acceptance, refusal and cancellation.

A transfer to an institution where the sender may not see personal data is a request (see
`services.participants.transfer_request_create`). While it is pending, the receiving staff see
only what they need to decide: the name, the register number, the sending institution and the
reason; every such sight is written to the access log. Anyone else gets 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from institutions.access import staff_required

from .. import access, selectors
from ..forms.enrolment import add_service_error
from ..forms.transfers import TransferAcceptForm, TransferCancelForm, TransferRefuseForm
from ..models import AccessLog, TransferRequest
from ..services import participants as services
from ..services.audit import log_context, record_access, record_bulk_access


@never_cache
@require_GET
@staff_required
def transfer_request_list(request: HttpRequest) -> HttpResponse:
    """Requests waiting for the user's institutions, and those they sent."""
    user = request.user
    if not access.may_see_personal_data(user):
        raise Http404(_("No such page."))
    incoming = list(selectors.incoming_transfer_requests(user))
    outgoing = list(selectors.outgoing_transfer_requests(user))
    shown = {r.pk: r.participant for r in [*incoming, *outgoing]}
    record_bulk_access(
        user=user,
        participants=list({p.pk: p for p in shown.values()}.values()),
        action=AccessLog.Action.VIEW,
        detail="transfer requests",
        **log_context(request),
    )
    return render(
        request,
        "rehabilitation/transfer_request_list.html",
        {"incoming": incoming, "outgoing": outgoing},
    )


def _render_request(
    request: HttpRequest,
    transfer_request: TransferRequest,
    *,
    accept_form: TransferAcceptForm | None = None,
    refuse_form: TransferRefuseForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    record_access(
        user=user,
        participant=transfer_request.participant,
        action=AccessLog.Action.VIEW,
        detail=f"transfer request {transfer_request.pk}",
        **log_context(request),
    )
    may_decide = transfer_request.is_pending and access.may_decide_transfer_request(
        user, transfer_request
    )
    may_cancel = transfer_request.is_pending and access.may_cancel_transfer_request(
        user, transfer_request
    )
    return render(
        request,
        "rehabilitation/transfer_request_detail.html",
        {
            "transfer_request": transfer_request,
            "participant": transfer_request.participant,
            # The sending side sees the record; the receiving side only what the request says.
            "sees_record": access.visible_participants(user)
            .filter(pk=transfer_request.participant_id)
            .exists(),
            "may_decide": may_decide,
            "may_cancel": may_cancel,
            "accept_form": accept_form or TransferAcceptForm(request=transfer_request)
            if may_decide
            else None,
            "refuse_form": refuse_form or TransferRefuseForm() if may_decide else None,
            "cancel_form": TransferCancelForm() if may_cancel else None,
        },
        status=status,
    )


@never_cache
@require_GET
@staff_required
def transfer_request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: for the receiving staff while pending, with acceptance and refusal; for
    the sending staff, with its state, the receiver's note, and cancellation while pending."""
    transfer_request = access.get_transfer_request_for_user(request.user, pk)
    return _render_request(request, transfer_request)


@require_POST
@staff_required
def transfer_request_accept(request: HttpRequest, pk: int) -> HttpResponse:
    """Accept: the participant moves to the user's institution."""
    transfer_request = access.get_transfer_request_for_user(request.user, pk, decide=True)
    form = TransferAcceptForm(request.POST, request=transfer_request)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.transfer_request_accept(
                request=transfer_request,
                user=request.user,
                date=data["date"],
                register_number=data["register_number"],
                note=data["note"],
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                _("Accepted: the participant is now held at %(institution)s.")
                % {"institution": transfer_request.to_institution},
            )
            return redirect("rehabilitation:participant", transfer_request.participant_id)
    return _render_request(request, transfer_request, accept_form=form)


@require_POST
@staff_required
def transfer_request_refuse(request: HttpRequest, pk: int) -> HttpResponse:
    """Refuse, with a note that the sending institution reads."""
    transfer_request = access.get_transfer_request_for_user(request.user, pk, decide=True)
    form = TransferRefuseForm(request.POST)
    if form.is_valid():
        try:
            services.transfer_request_refuse(
                request=transfer_request, user=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("The request is refused."))
            return redirect("rehabilitation:transfer_requests")
    return _render_request(request, transfer_request, refuse_form=form)


@require_POST
@staff_required
def transfer_request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw a request the user's institution sent."""
    transfer_request = access.get_transfer_request_for_user(request.user, pk, cancel=True)
    form = TransferCancelForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        services.transfer_request_cancel(request=transfer_request, user=request.user, note=note)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The request is cancelled."))
    return redirect("rehabilitation:transfer_request", transfer_request.pk)


urlpatterns = [
    path("staff/transfers/", transfer_request_list, name="transfer_requests"),
    path("staff/transfers/<int:pk>/", transfer_request_detail, name="transfer_request"),
    path(
        "staff/transfers/<int:pk>/accept/", transfer_request_accept, name="transfer_request_accept"
    ),
    path(
        "staff/transfers/<int:pk>/refuse/", transfer_request_refuse, name="transfer_request_refuse"
    ),
    path(
        "staff/transfers/<int:pk>/cancel/", transfer_request_cancel, name="transfer_request_cancel"
    ),
]
