"""Staff pages to run an agreement from first draft to signing, termination, addendum, renewal
and archiving. Every change goes through `agreements.services.lifecycle`.

The edit pages send back the version of the agreement they were loaded with; a save refused
because someone else saved meanwhile shows the page again with the user's input and the
refusal on top, now carrying the current version, so that saving again (after reading what
changed) is a deliberate choice."""

from __future__ import annotations

import re
import secrets

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from institutions import access
from institutions.forms import VersionForm
from institutions.history_display import history_for

from .. import access as agreement_access
from .. import selectors
from ..forms.agreements import (
    AddendumForm,
    AgreementCreateForm,
    AgreementDetailsForm,
    ArticleFormSet,
    MoveForm,
    PartyFormSet,
    SigningEventForm,
    TerminateForm,
)
from ..forms.documents import SignedScanForm
from ..models import Agreement, IssuedDocument, Meeting, Party, StatusChange
from ..services import lifecycle

Status = Agreement.Status


def _with_parties():
    return Agreement.objects.prefetch_related(
        Prefetch(
            "parties",
            queryset=Party.objects.select_related("institution", "signatory").order_by("order"),
        )
    )


def _refuse_if_signed(request: HttpRequest, agreement: Agreement) -> HttpResponse | None:
    """Send the user back to the agreement with the reason when it can no longer change."""
    try:
        lifecycle.ensure_editable(agreement)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("agreements:detail", agreement.pk)
    return None


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_create(request: access.AuthenticatedRequest) -> HttpResponse:
    """Start a draft with the standard articles."""
    agreement_access.ensure_editor_somewhere(request.user)
    form = AgreementCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            agreement = lifecycle.agreement_create(
                user=request.user,
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"],
                subject=form.cleaned_data["subject"],
                institutions=form.cleaned_data["institutions"],
                term_months=form.cleaned_data["term_months"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Draft created with the standard articles."))
            return redirect("agreements:detail", agreement.pk)
    return render(request, "agreements/staff/create.html", {"form": form})


@require_GET
@access.staff_required
def agreement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The working page of one agreement for the parties' staff."""
    agreement, may_edit = agreement_access.get_agreement_for_user(
        request.user,
        pk,
        queryset=_with_parties()
        .select_related("parent", "renews", "signing_event")
        .prefetch_related(
            Prefetch("meetings", queryset=Meeting.objects.select_related("host")),
            selectors.scans_prefetch(),
        ),
    )
    status_changes = StatusChange.objects.filter(agreement=agreement).select_related("changed_by")
    return render(
        request,
        "agreements/staff/detail.html",
        {
            "agreement": agreement,
            "may_edit": may_edit,
            "moves": [
                Status(target) for target in lifecycle.MANUAL_MOVES.get(agreement.status, ())
            ],
            "status_changes": status_changes,
            "history": history_for(
                agreement, known=[agreement.parent, agreement.renews, agreement.signing_event]
            ),
            "addenda": agreement_access.visible_agreements(
                request.user, agreement.addenda.order_by("created_at")
            ),
            "renewal": agreement_access.visible_agreements(
                request.user, Agreement.objects.filter(renews=agreement)
            ).first(),
            "articles": agreement.articles.all(),
            "scan_form": SignedScanForm(),
        },
    )


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_edit(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Change the details of an unsigned agreement."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    if refused := _refuse_if_signed(request, agreement):
        return refused
    form = AgreementDetailsForm(request.POST or None, instance=agreement)
    if request.method == "POST":
        error = None
        if form.is_valid():
            fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
            try:
                lifecycle.agreement_update(
                    agreement=agreement,
                    user=request.user,
                    version=form.cleaned_data["version"],
                    **fields,
                )
            except ValidationError as exc:
                error = exc
                form.add_error(None, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("agreements:detail", agreement.pk)
        if form.version_refused(error):
            form.carry_current_version(agreement)
    return render(request, "agreements/staff/edit.html", {"agreement": agreement, "form": form})


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_parties(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Set the parties, their order, numbers and signatories."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(
        request.user, pk, write=True, queryset=_with_parties()
    )
    if refused := _refuse_if_signed(request, agreement):
        return refused
    initial = [
        {
            "institution": party.institution,
            "number": party.number,
            "signatory": party.signatory,
            "signatory_position": party.signatory_position,
        }
        for party in agreement.parties.all()
    ]
    formset = PartyFormSet(request.POST or None, initial=initial, prefix="parties")
    version_form = VersionForm(request.POST or None, initial={"version": agreement.version})
    if request.method == "POST":
        error = None
        if version_form.is_valid() and formset.is_valid():
            rows = [
                form.cleaned_data
                for form in formset.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")
            ]
            try:
                lifecycle.parties_replace(
                    agreement=agreement,
                    user=request.user,
                    parties=rows,
                    version=version_form.cleaned_data["version"],
                )
            except ValidationError as exc:
                error = exc
                _refuse_formset(formset, version_form, exc)
            except PermissionDenied as exc:
                formset._non_form_errors = formset.error_class([str(exc)])  # type: ignore[attr-defined]  # no public setter
            else:
                messages.success(request, _("Parties saved."))
                return redirect("agreements:detail", agreement.pk)
        if version_form.version_refused(error):
            version_form.carry_current_version(agreement)
    return render(
        request,
        "agreements/staff/parties.html",
        {"agreement": agreement, "formset": formset, "version_form": version_form},
    )


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_articles(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Edit the articles; they are numbered in the order shown."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    if refused := _refuse_if_signed(request, agreement):
        return refused
    initial = [{"heading": a.heading, "body": a.body} for a in agreement.articles.all()]
    formset = ArticleFormSet(request.POST or None, initial=initial, prefix="articles")
    version_form = VersionForm(request.POST or None, initial={"version": agreement.version})
    if request.method == "POST":
        error = None
        if version_form.is_valid() and formset.is_valid():
            rows = [
                form.cleaned_data
                for form in formset.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE")
            ]
            try:
                lifecycle.articles_replace(
                    agreement=agreement,
                    user=request.user,
                    articles=rows,
                    version=version_form.cleaned_data["version"],
                )
            except ValidationError as exc:
                error = exc
                _refuse_formset(formset, version_form, exc)
            else:
                messages.success(request, _("Articles saved."))
                return redirect("agreements:detail", agreement.pk)
        if version_form.version_refused(error):
            version_form.carry_current_version(agreement)
    return render(
        request,
        "agreements/staff/articles.html",
        {"agreement": agreement, "formset": formset, "version_form": version_form},
    )


def _refuse_formset(
    formset: forms.BaseFormSet, version_form: VersionForm, error: ValidationError
) -> None:
    """Show a service's refusal on top of a formset page: a stale version on the version
    form (shown first), anything else among the formset's own errors."""
    if getattr(error, "code", None) == "stale":
        version_form.add_error(None, error)
    else:
        formset._non_form_errors = formset.error_class(error.messages)  # type: ignore[attr-defined]  # no public setter


@require_POST
@access.staff_required
def agreement_move(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Move the agreement to discussion, ready for signing, or back to discussion."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    form = MoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("That move is not possible."))
        return redirect("agreements:detail", agreement.pk)
    try:
        lifecycle.agreement_move(
            agreement=agreement,
            user=request.user,
            to_status=form.cleaned_data["to_status"],
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Status changed."))
    return redirect("agreements:detail", agreement.pk)


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_terminate(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """End a signed agreement early, with a date and a reason."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    form = TerminateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lifecycle.agreement_terminate(
                agreement=agreement,
                user=request.user,
                date=form.cleaned_data["date"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("The agreement has been terminated."))
            return redirect("agreements:detail", agreement.pk)
    return render(
        request, "agreements/staff/terminate.html", {"agreement": agreement, "form": form}
    )


@require_http_methods(["GET", "POST"])
@access.staff_required
def agreement_addendum(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Start an addendum to a signed agreement."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            addendum = lifecycle.addendum_create(
                parent=agreement,
                user=request.user,
                title=form.cleaned_data["title"],
                subject=form.cleaned_data["subject"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Addendum started. Write the articles it changes."))
            return redirect("agreements:detail", addendum.pk)
    return render(request, "agreements/staff/addendum.html", {"agreement": agreement, "form": form})


@require_POST
@access.staff_required
def agreement_renew(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Start the renewal of a signed agreement as a new draft."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    try:
        renewal = lifecycle.agreement_renew(agreement=agreement, user=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("agreements:detail", agreement.pk)
    messages.success(request, _("Renewal started as a new draft."))
    return redirect("agreements:detail", renewal.pk)


@require_POST
@access.staff_required
def agreement_archive(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Archive a signed agreement: it leaves the staff lists, stays on the public registry."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    try:
        lifecycle.agreement_archive(agreement=agreement, user=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(
            request,
            _(
                "The agreement has been archived. It is left out of the staff lists; "
                "the public registry still shows it."
            ),
        )
    return redirect("agreements:detail", agreement.pk)


@require_POST
@access.staff_required
def agreement_restore(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Take an archived agreement back into the staff lists."""
    agreement, _may_edit = agreement_access.get_agreement_for_user(request.user, pk, write=True)
    try:
        lifecycle.agreement_restore(agreement=agreement, user=request.user)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("The agreement is back in the staff lists."))
    return redirect("agreements:detail", agreement.pk)


#: A signing form's key: random, URL-safe (see `_new_submission_key`).
_SUBMISSION_KEY = re.compile(r"[A-Za-z0-9_-]{22,64}")
#: While a signing's documents are being issued its page reloads itself this often, in seconds.
ISSUING_REFRESH_SECONDS = 5


def _new_submission_key() -> str:
    return secrets.token_urlsafe(24)


@require_http_methods(["GET", "POST"])
@access.staff_required
def signing_create(request: access.AuthenticatedRequest) -> HttpResponse:
    """Record a signing ceremony: every agreement chosen becomes signed on its date.

    The form carries a random key; the same form sent again (a retry after a dropped
    connection, a second click) leads to the signing it recorded instead of being refused.
    """
    agreement_access.ensure_editor_somewhere(request.user)
    key = request.POST.get("submission_key", "")
    if not _SUBMISSION_KEY.fullmatch(key):
        key = _new_submission_key()
    elif (earlier := lifecycle.signing_event_submitted(key)) is not None:
        messages.info(request, _("This signing was already recorded."))
        return redirect("agreements:signing_detail", earlier.pk)
    form = SigningEventForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            event = lifecycle.signing_event_record(
                user=request.user,
                date=data["date"],
                start_time=data["start_time"],
                venue=data["venue"],
                host=data["host"],
                notes=data["notes"],
                agreements=list(data["agreements"]),
                submission_key=key,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Signing recorded."))
            return redirect("agreements:signing_detail", event.pk)
    return render(
        request, "agreements/staff/signing_form.html", {"form": form, "submission_key": key}
    )


@require_GET
@access.staff_required
def signing_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A signing event and the agreements signed in it (those the user may see), each with its
    official PDF, or "being issued" while the background task renders it: the page then
    reloads itself every few seconds until all are there."""
    event, agreements = agreement_access.get_signing_event_for_user(request.user, pk)
    listed = list(
        agreements.prefetch_related("parties__institution").annotate(
            document_issued=Exists(IssuedDocument.objects.filter(agreement=OuterRef("pk")))
        )
    )
    issuing = any(agreement.is_signed and not agreement.document_issued for agreement in listed)
    response = render(
        request,
        "agreements/staff/signing_detail.html",
        {"event": event, "agreements": listed, "issuing": issuing},
    )
    if issuing:
        response["Refresh"] = str(ISSUING_REFRESH_SECONDS)
    return response


urlpatterns = [
    path("staff/agreements/new/", agreement_create, name="create"),
    path("staff/agreements/<int:pk>/", agreement_detail, name="detail"),
    path("staff/agreements/<int:pk>/edit/", agreement_edit, name="edit"),
    path("staff/agreements/<int:pk>/parties/", agreement_parties, name="parties"),
    path("staff/agreements/<int:pk>/articles/", agreement_articles, name="articles"),
    path("staff/agreements/<int:pk>/move/", agreement_move, name="move"),
    path("staff/agreements/<int:pk>/terminate/", agreement_terminate, name="terminate"),
    path("staff/agreements/<int:pk>/addendum/", agreement_addendum, name="addendum"),
    path("staff/agreements/<int:pk>/renew/", agreement_renew, name="renew"),
    path("staff/agreements/<int:pk>/archive/", agreement_archive, name="archive"),
    path("staff/agreements/<int:pk>/restore/", agreement_restore, name="restore"),
    path("staff/signings/new/", signing_create, name="signing_create"),
    path("staff/signings/<int:pk>/", signing_detail, name="signing_detail"),
]
