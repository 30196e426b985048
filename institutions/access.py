"""The one place that answers "may this user see or change this".

Every view, export and queryset of institution records asks here. The rules:

- Agreements that have been signed are public information; drafts and their meetings are seen
  only by staff of a party institution (and of the meeting's host).
- Changing an agreement's records needs the editor or administrator role at a party institution.
- Rehabilitation records are specific personal data (UU PDP 27/2022): only programme staff and
  institution administrators of the institutions involved see them.
- Superusers see everything. Everyone else gets 404 for what they may not see, never a hint
  that it exists.

The apps above this one build their rules from these primitives, in one module each
(`agreements/access.py`, `rehabilitation/access.py`): only those modules call
`institution_ids()`, so that a view, form, admin or export never restates a rule (a test
holds the code to this). Nothing here imports the apps above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from .models import Institution, Membership

Role = Membership.Role

#: Roles that may see an institution's internal records (drafts, meetings, programmes).
STAFF_ROLES = frozenset(Role.values)
#: Roles that may change an institution's agreements, meetings and programmes.
EDIT_ROLES = frozenset({Role.EDITOR, Role.ADMIN})
#: Roles that may see detainees' personal data (health and criminal records).
PERSONAL_DATA_ROLES = frozenset({Role.PROGRAMME, Role.ADMIN})
#: Administrators of an institution: they manage its staff accounts, read its access log and
#: may export identified data.
ADMIN_ROLES = frozenset({Role.ADMIN})

_CACHE_ATTR = "_institution_roles"

#: Whoever a request carries: a staff account or an anonymous visitor. Access rules take this.
User = Account | AnonymousUser


class AuthenticatedRequest(HttpRequest):
    """The request of a view behind `login_required`: `user` is an account, never anonymous.
    Only an annotation; services that act for a logged-in user take an `Account`."""

    user: Account


def roles_by_institution(user: User) -> dict[int, frozenset[str]]:
    """Map each institution id to the roles `user` holds there, read once per user object."""
    if not user.is_authenticated or not user.is_active:
        return {}
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        found: dict[int, set[str]] = {}
        for institution_id, role in Membership.objects.filter(user=user).values_list(
            "institution_id", "role"
        ):
            found.setdefault(institution_id, set()).add(role)
        cached = {key: frozenset(value) for key, value in found.items()}
        setattr(user, _CACHE_ATTR, cached)
    return cached


def institution_ids(user: User, roles: Iterable[str] = STAFF_ROLES) -> frozenset[int]:
    """Ids of the institutions where `user` holds at least one of `roles`."""
    wanted = frozenset(roles)
    return frozenset(
        institution_id
        for institution_id, held in roles_by_institution(user).items()
        if held & wanted
    )


def is_superuser(user: User) -> bool:
    """Whether `user` is an active superuser, who sees and may change everything."""
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def is_staff_member(user: User) -> bool:
    """Whether `user` holds any role at any institution, or is a superuser."""
    return is_superuser(user) or bool(roles_by_institution(user))


def has_role(user: User, institution_id: int, roles: Iterable[str] = STAFF_ROLES) -> bool:
    """Whether `user` holds one of `roles` at the institution (superusers always do)."""
    return is_superuser(user) or institution_id in institution_ids(user, roles)


def is_editor_somewhere(user: User) -> bool:
    """Whether `user` may change records of at least one institution (superusers may)."""
    return is_superuser(user) or bool(institution_ids(user, EDIT_ROLES))


def may_see_personal_data(user: User, among: Iterable[int] | None = None) -> bool:
    """Whether `user` may see participants' personal data at all, or, with `among`, at one of
    those institutions: programme staff and administrators (superusers always may)."""
    if is_superuser(user):
        return True
    ids = institution_ids(user, PERSONAL_DATA_ROLES)
    return bool(ids if among is None else ids & set(among))


def holds_role(user: User, roles: Iterable[str]) -> bool:
    """Whether `user` holds one of `roles` at any institution (superuser status aside)."""
    return bool(institution_ids(user, roles))


def scope_institution_ids(user: User, roles: Iterable[str] = STAFF_ROLES) -> frozenset[int] | None:
    """The institutions whose records `user` works with: None (all of them) for superusers,
    else those where `user` holds one of `roles`. For scopes such as the admin's."""
    if is_superuser(user):
        return None
    return institution_ids(user, roles)


def own_institutions(user: User, roles: Iterable[str] = STAFF_ROLES) -> QuerySet[Institution]:
    """The institutions where `user` holds one of `roles`, as a queryset (all for superusers)."""
    ids = scope_institution_ids(user, roles)
    found = Institution.objects.all()
    return found if ids is None else found.filter(pk__in=ids)


def member_institutions(user: User, roles: Iterable[str] = STAFF_ROLES) -> QuerySet[Institution]:
    """The institutions where `user` holds one of `roles`, superusers included: only those
    where they hold a role (e.g. the calendar feeds of one's own institutions)."""
    return Institution.objects.filter(pk__in=institution_ids(user, roles))


def get_administered_institution(user: User, pk: int) -> Institution:
    """The institution `pk` if `user` administers it (superusers do); 404 otherwise, so that
    its existence is not revealed."""
    if not has_role(user, pk, ADMIN_ROLES):
        raise Http404
    return get_object_or_404(Institution, pk=pk)


def forget(user: User) -> None:
    """Drop the cached roles, after memberships of `user` changed."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def staff_required[V: Callable[..., HttpResponseBase]](view: V) -> V:
    """Views for staff: anonymous users go to the login page, accounts without any
    institution get 403 with an explanation."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_staff_member(request.user):
            raise PermissionDenied(
                _("Your account is not linked to any institution. Ask an administrator.")
            )
        return view(request, *args, **kwargs)

    return cast(V, wrapper)  # same signature as `view`
