"""Reads of agreements. Who may see what is `agreements.access`'s to say: views fetch every
agreement through `access.get_agreement_for_user` and pass what they fetched here. A record's
history is read through `institutions.history_display`.
"""

from __future__ import annotations

from django.db.models import Prefetch

from .models import SignedScan


def scans_prefetch() -> Prefetch:
    """Prefetch of an agreement's scans, newest first, with their uploaders, for
    `agreements/documents/_section.html` (two queries, whatever the number of scans)."""
    return Prefetch(
        "scans",
        queryset=SignedScan.objects.select_related("uploaded_by").order_by("-uploaded_at", "-pk"),
    )
