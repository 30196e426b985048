"""Calendar feeds: each staff member's own secret address of an institution's calendar.

A feed is made, replaced and removed by its owner on the calendar page, and deleted when
what justified it ends: the owner's last role at the institution, or the account itself
(`institutions.services.access_ended`, connected in `feeds_end_with_access`). Each change is
written to the "agreements.services.calendar" logger at INFO; the token itself never is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from institutions.access import Account
from institutions.models import Institution

from .. import access
from ..models import CalendarFeed

logger = logging.getLogger(__name__)


@transaction.atomic
def feed_replace(*, user: Account, institution: Institution) -> CalendarFeed:
    """Give `user` a new address of `institution`'s feed, made now or replacing theirs (every
    copy of the old one stops working). Raises Http404 unless `user` may have one
    (`access.ensure_may_have_feed`)."""
    access.ensure_may_have_feed(user, institution.pk)
    feed, created = CalendarFeed.objects.select_for_update().get_or_create(
        user=user, institution=institution
    )
    if not created:
        feed.regenerate()
    logger.info(
        "Calendar feed of %s (id %s) at institution %s %s",
        user.get_username(),
        user.pk,
        institution.pk,
        "made" if created else "replaced",
    )
    return feed


@transaction.atomic
def feed_revoke(*, user: Account, institution: Institution) -> bool:
    """Remove `user`'s address of `institution`'s feed; whether there was one."""
    deleted, _by_model = CalendarFeed.objects.filter(user=user, institution=institution).delete()
    if deleted:
        logger.info(
            "Calendar feed of %s (id %s) at institution %s removed by its owner",
            user.get_username(),
            user.pk,
            institution.pk,
        )
    return bool(deleted)


def feeds_end_with_access(
    *, user: Account, institution_ids: Iterable[int] | None = None, **kwargs: Any
) -> int:
    """Delete the feeds of `user` that no longer have a reason: at `institution_ids` (where
    the user holds no role any more), or all of them (None: the account was switched off).
    The receiver of `institutions.services.access_ended`; returns how many were deleted."""
    feeds = CalendarFeed.objects.filter(user=user)
    if institution_ids is not None:
        feeds = feeds.filter(institution_id__in=list(institution_ids))
    deleted, _by_model = feeds.delete()
    if deleted:
        logger.info(
            "Calendar feeds of %s (id %s) revoked with their access: %s",
            user.get_username(),
            user.pk,
            deleted,
        )
    return deleted
