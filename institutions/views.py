"""Staff pages where an institution administrator manages the staff accounts of the institution.

Only administrators of that institution (and superusers) reach them; everyone else, other
roles of the same institution included, gets 404. Every change goes through
`institutions.services`.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import access, services
from .forms import ExistingAccountForm, RoleForm, StaffAccountForm
from .models import Institution, Membership

logger = logging.getLogger(__name__)

Role = Membership.Role


def _members(institution: Institution) -> QuerySet:
    """Accounts holding a role at `institution`, each with `roles_here`, in two queries."""
    return (
        get_user_model()
        .objects.filter(memberships__institution=institution)
        .distinct()
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(institution=institution).order_by("role"),
                to_attr="roles_here",
            )
        )
        .order_by("username")
    )


def _member(institution: Institution, user_id: int) -> AbstractUser:
    return get_object_or_404(_members(institution), pk=user_id)


def _done(request: access.AuthenticatedRequest, institution: Institution) -> HttpResponse:
    """Back to the staff list, or to the staff home if the user no longer administers it.

    An administrator who stepped down from their last role switched their own account off,
    which ended its sessions: this request's session is let go of too."""
    access.forget(request.user)
    request.user.refresh_from_db(fields=["is_active"])
    if not request.user.is_active:
        logout(request)
        return redirect("staff:home")
    if access.has_role(request.user, institution.pk, access.ADMIN_ROLES):
        return redirect("institutions:staff", institution.pk)
    return redirect("staff:home")


def _render_list(
    request: HttpRequest, institution: Institution, add_form: ExistingAccountForm
) -> HttpResponse:
    return render(
        request,
        "institutions/staff_list.html",
        {
            "institution": institution,
            "members": _members(institution),
            "roles": Role.choices,
            "add_form": add_form,
        },
    )


@require_GET
@access.staff_required
def staff_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The institution's staff accounts with their roles there, and the forms to change them."""
    institution = access.get_administered_institution(request.user, pk)
    return _render_list(request, institution, ExistingAccountForm())


@require_http_methods(["GET", "POST"])
@access.staff_required
def staff_create(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Create a staff account; it receives an e-mail with a link to choose its password."""
    institution = access.get_administered_institution(request.user, pk)
    form = StaffAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.staff_account_create(
                actor=request.user,
                institution=institution,
                username=form.cleaned_data["username"],
                full_name=form.cleaned_data["full_name"],
                email=form.cleaned_data["email"],
                roles=form.cleaned_data["roles"],
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                fields = {"first_name": "full_name"}
                for field, errors in error.error_dict.items():
                    name = fields.get(field, field)
                    form.add_error(name if name in form.fields else None, errors)
            else:
                form.add_error(None, error)
        except OSError:  # the mail server refused or is unreachable; nothing was created
            logger.exception("Staff: the password e-mail could not be sent")
            form.add_error(
                None,
                _("The e-mail could not be sent, so the account was not created. Try again."),
            )
        else:
            messages.success(
                request,
                _(
                    "Account %(username)s created; a link to choose a password was sent to "
                    "%(email)s."
                )
                % {"username": user.get_username(), "email": user.email},
            )
            return redirect("institutions:staff", institution.pk)
    return render(
        request, "institutions/staff_create.html", {"institution": institution, "form": form}
    )


@require_POST
@access.staff_required
def member_add(request: access.AuthenticatedRequest, pk: int) -> HttpResponse:
    """Give an existing account (username and e-mail must match) a role at the institution."""
    institution = access.get_administered_institution(request.user, pk)
    form = ExistingAccountForm(request.POST)
    if form.is_valid():
        try:
            membership = services.member_add_existing(
                actor=request.user,
                institution=institution,
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                _("%(username)s is now %(role)s.")
                % {
                    "username": membership.user.get_username(),
                    "role": membership.get_role_display(),
                },
            )
            return _done(request, institution)
    return _render_list(request, institution, form)


@require_POST
@access.staff_required
def role_grant(request: access.AuthenticatedRequest, pk: int, user_id: int) -> HttpResponse:
    """Give a member another role at the institution."""
    institution = access.get_administered_institution(request.user, pk)
    member = _member(institution, user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return _done(request, institution)
    try:
        membership = services.role_grant(
            actor=request.user, institution=institution, user=member, role=form.cleaned_data["role"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("%(username)s is now %(role)s.")
            % {"username": member.get_username(), "role": membership.get_role_display()},
        )
    return _done(request, institution)


@require_POST
@access.staff_required
def role_revoke(request: access.AuthenticatedRequest, pk: int, user_id: int) -> HttpResponse:
    """Take one role at the institution away from a member."""
    institution = access.get_administered_institution(request.user, pk)
    member = _member(institution, user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return _done(request, institution)
    role = form.cleaned_data["role"]
    try:
        services.role_revoke(actor=request.user, institution=institution, user=member, role=role)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _("%(username)s is no longer %(role)s.")
            % {"username": member.get_username(), "role": Role(role).label},
        )
    return _done(request, institution)


@require_http_methods(["GET", "POST"])
@access.staff_required
def member_remove(request: access.AuthenticatedRequest, pk: int, user_id: int) -> HttpResponse:
    """Confirm, then end a member's access at the institution (all their roles there)."""
    institution = access.get_administered_institution(request.user, pk)
    member = _member(institution, user_id)
    if request.method == "POST":
        try:
            services.member_remove(actor=request.user, institution=institution, user=member)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("%(username)s no longer has access to %(institution)s.")
                % {"username": member.get_username(), "institution": institution.display_name},
            )
        return _done(request, institution)
    return render(
        request, "institutions/member_remove.html", {"institution": institution, "member": member}
    )


@require_POST
@access.staff_required
def password_email(request: access.AuthenticatedRequest, pk: int, user_id: int) -> HttpResponse:
    """Send a member a new link to choose their password."""
    institution = access.get_administered_institution(request.user, pk)
    member = _member(institution, user_id)
    try:
        services.password_email_send(actor=request.user, institution=institution, user=member)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except OSError:
        logger.exception("Staff: the password e-mail could not be sent")
        messages.error(request, _("The e-mail could not be sent. Try again."))
    else:
        messages.success(
            request,
            _("A link to choose a password was sent to %(email)s.") % {"email": member.email},
        )
    return _done(request, institution)
