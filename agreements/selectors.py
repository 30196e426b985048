"""Reads of agreements for a user, through the rules of `institutions.access`.

Views fetch every agreement through `get_agreement_for_user`, so the rule is the same on
every page: an outsider gets 404, a party's viewer gets 403 on a change. A record's history is
read through `institutions.history_display`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404
from django.utils.translation import gettext as _

from institutions import access

from .models import Agreement, SignedScan


def party_institution_ids(agreement: Agreement) -> set[int]:
    """Ids of the institutions that are parties, from the prefetch if there is one."""
    return {party.institution_id for party in agreement.parties.all()}


def is_party_staff(user, agreement: Agreement) -> bool:
    """Whether `user` holds any role at a party (superusers always do)."""
    return access.is_superuser(user) or bool(
        party_institution_ids(agreement) & access.institution_ids(user)
    )


def may_edit(user, agreement: Agreement) -> bool:
    """Whether `user` may change the agreement's records: an editor or administrator of a
    party. Whether the agreement itself still allows changes is the services' concern."""
    return access.is_superuser(user) or bool(
        party_institution_ids(agreement) & access.institution_ids(user, access.EDIT_ROLES)
    )


def get_agreement_for_user(user, pk: int, *, write: bool = False, queryset=None) -> Agreement:
    """The agreement `pk` as `user` may see it, for the staff pages.

    404 unless `user` is staff of a party (or a superuser); with `write`, 403 unless an editor
    or administrator of a party.
    """
    queryset = Agreement.objects.all() if queryset is None else queryset
    try:
        agreement = queryset.of_institutions(user).get(pk=pk)
    except Agreement.DoesNotExist:
        raise Http404(_("No such agreement.")) from None
    if write and not may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))
    return agreement


def scans_prefetch() -> Prefetch:
    """Prefetch of an agreement's scans, newest first, with their uploaders, for
    `agreements/documents/_section.html` (two queries, whatever the number of scans)."""
    return Prefetch(
        "scans",
        queryset=SignedScan.objects.select_related("uploaded_by").order_by("-uploaded_at", "-pk"),
    )
