"""Staff pages of participants: the list, registration, the record with its history,
corrections, transfers (at once, or as a request: see `views.transfers`), archiving and
restoring.

Participants are specific personal data (UU PDP 27/2022): every lookup goes through
`rehabilitation.access`, so an outsider gets 404 and never learns that a record exists, and every
page that shows a participant writes the access log. A participant is never deleted here: the
record is archived instead (left out of the lists unless asked for), and restored the same way.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from institutions.access import staff_required
from institutions.history_display import history_rows
from institutions.pagination import page_of

from .. import access, assist, selectors
from ..forms.enrolment import (
    ArchiveForm,
    ParticipantForm,
    ParticipantSearchForm,
    TransferForm,
    add_service_error,
    screenable_programmes,
)
from ..models import (
    AccessLog,
    Assessment,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    Participant,
    Screening,
    TransferRequest,
)
from ..services import participants as services
from ..services.audit import log_context, record_access, record_bulk_access
from . import PAGE_SIZE


def _warn_if_minor(request: HttpRequest, participant: Participant) -> None:
    if participant.is_minor():
        messages.warning(
            request,
            _(
                "This participant is a child (under 18): children's data have extra "
                "protection. Share nothing beyond what the programme needs."
            ),
        )


@never_cache
@require_GET
@staff_required
def participant_list(request: HttpRequest) -> HttpResponse:
    """The participants the user may see, searchable by register number or name."""
    user = request.user
    if not access.may_see_personal_data(user):
        raise Http404(_("No such page."))
    form = ParticipantSearchForm(request.GET or None)
    participants = (
        access.visible_participants(user)
        .select_related("institution")
        .prefetch_related(
            Prefetch(
                "enrolments",
                queryset=access.visible_enrolments_among(user, Enrolment.objects.all())
                .select_related("programme")
                .order_by("-start_date"),
                to_attr="visible_enrolments",
            )
        )
        .order_by("institution__name", "register_number", "pk")
    )
    query = form.cleaned_data["q"].strip() if form.is_valid() else ""
    include_archived = form.is_valid() and form.cleaned_data["archived"]
    if not include_archived:
        participants = participants.filter(archived_at__isnull=True)
    if query:
        participants = participants.filter(
            Q(register_number__icontains=query) | Q(full_name__icontains=query)
        )
    page = page_of(participants, PAGE_SIZE, request.GET.get("page"))
    rows = list(page.object_list)
    record_bulk_access(
        **log_context(request),
        user=user,
        participants=rows,
        action=AccessLog.Action.VIEW,
        detail="participant list",
    )
    return render(
        request,
        "rehabilitation/participant_list.html",
        {
            "form": form,
            "query": query,
            "include_archived": include_archived,
            "page": page,
            "participants": rows,
            "today": timezone.localdate(),
            "may_create": access.may_see_personal_data(user),
            "may_export_identified": access.may_export_identified(user),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required
def participant_create(request: HttpRequest) -> HttpResponse:
    """Register a detainee or prisoner at one of the user's institutions."""
    if not access.may_see_personal_data(request.user):
        raise PermissionDenied(_("Only programme staff and administrators register participants."))
    form = ParticipantForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            participant = services.participant_create(
                user=request.user,
                institution=form.cleaned_data["institution"],
                **form.participant_fields(),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, _("Participant registered."))
            _warn_if_minor(request, participant)
            return redirect("rehabilitation:participant", participant.pk)
    return render(request, "rehabilitation/participant_form.html", {"form": form})


@never_cache
@require_GET
@staff_required
def participant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One participant's record, for the programme staff of the institutions involved: only
    the enrolments (and their screenings) the user may see."""
    user = request.user
    participant, may_write = access.get_participant_for_user(user, pk)
    logged = log_context(request)
    record_access(**logged, user=user, participant=participant, action=AccessLog.Action.VIEW)
    enrolments = list(
        access.visible_enrolments_among(user, Enrolment.objects.filter(participant=participant))
        .select_related("programme__host", "current_phase")
        .prefetch_related(
            Prefetch(
                "events",
                queryset=EnrolmentEvent.objects.select_related("recorded_by").order_by(
                    "recorded_at", "pk"
                ),
            ),
            Prefetch(
                "phases",
                queryset=EnrolmentPhase.objects.select_related("phase").order_by(
                    "start_date", "pk"
                ),
            ),
            Prefetch("assessments", queryset=Assessment.objects.order_by("date", "pk")),
        )
        .order_by("-start_date", "-pk")
    )
    screenings = list(
        Screening.objects.filter(participant=participant)
        .filter(access.visible_screenings_filter(user, participant, [e.pk for e in enrolments]))
        .select_related("enrolment__programme", "screened_by")
        .prefetch_related("scores")
        .order_by("-date", "-pk")
    )
    for screening in screenings:
        bands = [assist.Risk(score.risk) for score in screening.scores.all()]
        screening.highest = assist.highest(bands)
        screening.eligible = assist.is_eligible(bands)
    today = timezone.localdate()
    may_archive = access.may_archive_participant(user, participant)
    return render(
        request,
        "rehabilitation/participant_detail.html",
        {
            "participant": participant,
            "age": participant.age_on(today),
            "is_minor": participant.is_minor(today),
            "substances": [assist.Substance(code).label for code in participant.substances],
            "enrolments": enrolments,
            "screenings": screenings,
            "transfers": participant.transfers.select_related(
                "from_institution", "to_institution", "recorded_by"
            ).order_by("date", "pk"),
            "may_write": may_write,
            "may_transfer": access.may_transfer_participant(user, participant),
            "may_screen": participant.archived_at is None
            and screenable_programmes(user, participant).exists(),
            "may_archive": may_archive,
            "archive_form": ArchiveForm(version=participant.version) if may_archive else None,
            "history": history_rows(selectors.participant_history(participant)),
            "access_reason": logged["reason"],
            "access_reasons": AccessLog.Reason.choices,
            "may_read_access_log": access.may_read_access_log(user, participant.institution_id),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def participant_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Correct a participant's record."""
    participant, _may_write = access.get_participant_for_user(request.user, pk)
    form = ParticipantForm(request.POST or None, participant=participant)
    if request.method == "POST" and form.is_valid():
        try:
            services.participant_update(
                participant=participant,
                user=request.user,
                version=form.submitted_version,
                **form.participant_fields(),
            )
        except ValidationError as error:
            add_service_error(form, error, record=participant)
        else:
            messages.success(request, _("Saved."))
            return redirect("rehabilitation:participant", participant.pk)
    record_access(
        **log_context(request),
        user=request.user,
        participant=participant,
        action=AccessLog.Action.VIEW,
        detail="edit",
    )
    return render(
        request,
        "rehabilitation/participant_form.html",
        {"form": form, "participant": participant},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def participant_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a participant to another institution (the history stays): at once where the user
    may see that institution's participants, otherwise by a request its staff decide on."""
    participant, _may_write = access.get_participant_for_user(request.user, pk)
    if not access.may_transfer_participant(request.user, participant):
        raise PermissionDenied(_("Only the institution holding a participant transfers them."))
    form = TransferForm(request.POST or None, participant=participant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        to_institution = data["to_institution"]
        # Where the user may not see the participants, the transfer is a request, and the
        # answer is the same whoever is held there (nothing of theirs is read).
        immediate = access.may_transfer_immediately(request.user, to_institution)
        move = services.participant_transfer if immediate else services.transfer_request_create
        try:
            done = move(
                participant=participant,
                user=request.user,
                to_institution=to_institution,
                date=data["date"],
                register_number=data["register_number"],
                reason=data["reason"],
                end_enrolments=data["end_enrolments"],
                version=form.submitted_version,
            )
        except ValidationError as error:
            add_service_error(form, error, record=participant)
        else:
            if not immediate:
                messages.success(
                    request,
                    _(
                        "Request sent to %(institution)s; the staff of %(institution)s will "
                        "accept or refuse it. The participant stays here until then."
                    )
                    % {"institution": to_institution},
                )
                return redirect("rehabilitation:transfer_request", done.pk)
            messages.success(
                request, _("Transferred to %(institution)s.") % {"institution": to_institution}
            )
            return redirect("rehabilitation:participant", participant.pk)
    record_access(
        user=request.user,
        participant=participant,
        action=AccessLog.Action.VIEW,
        detail="transfer",
        **log_context(request),
    )
    open_enrolments = (
        access.visible_enrolments(request.user)
        .filter(participant=participant)
        .exclude(status__in=Enrolment.FINAL_STATUSES)
        .select_related("programme")
    )
    return render(
        request,
        "rehabilitation/participant_transfer.html",
        {
            "form": form,
            "participant": participant,
            "open_enrolments": open_enrolments,
            "pending_request": participant.transfer_requests.filter(
                state=TransferRequest.State.PENDING
            )
            .select_related("to_institution")
            .first(),
        },
    )


def _set_archived(request: HttpRequest, pk: int, *, archive: bool) -> HttpResponse:
    participant, _may_write = access.get_participant_for_user(request.user, pk)
    if not access.may_archive_participant(request.user, participant):
        raise PermissionDenied(
            _(
                "Only programme staff and administrators of the institution holding a participant "
                "archive or restore the record."
            )
        )
    form = ArchiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()))
        return redirect("rehabilitation:participant", participant.pk)
    change = services.participant_archive if archive else services.participant_restore
    try:
        change(participant=participant, user=request.user, version=form.submitted_version)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _(
                "The record is archived: it is left out of the lists unless you include archived "
                "records."
            )
            if archive
            else _("The record is restored to the lists."),
        )
    return redirect("rehabilitation:participant", participant.pk)


@require_POST
@staff_required
def participant_archive(request: HttpRequest, pk: int) -> HttpResponse:
    """Archive a participant's record (instead of deleting it): kept, out of the lists."""
    return _set_archived(request, pk, archive=True)


@require_POST
@staff_required
def participant_restore(request: HttpRequest, pk: int) -> HttpResponse:
    """Bring an archived participant's record back into the lists."""
    return _set_archived(request, pk, archive=False)


urlpatterns = [
    path("staff/participants/", participant_list, name="participants"),
    path("staff/participants/new/", participant_create, name="participant_create"),
    path("staff/participants/<int:pk>/", participant_detail, name="participant"),
    path("staff/participants/<int:pk>/edit/", participant_edit, name="participant_edit"),
    path(
        "staff/participants/<int:pk>/transfer/", participant_transfer, name="participant_transfer"
    ),
    path("staff/participants/<int:pk>/archive/", participant_archive, name="participant_archive"),
    path("staff/participants/<int:pk>/restore/", participant_restore, name="participant_restore"),
]
