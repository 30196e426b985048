"""Versions of what the public registry and the calendar feeds show, for caching and 304s.

The registry is the same for everyone who reads it (signed agreements are public), and both it
and the calendar feeds (polled by calendar apps every few hours) are read far more often than
agreements and meetings change. Each keeps what it rendered in the shared cache under a key
made of its *version*, the day (an agreement's status follows the calendar, a feed's window
moves) and the request's parameters, and answers a conditional request whose ETag is that key
with 304 without reading anything else.

Every save or deletion of what a version covers replaces it, at once and again when its
transaction commits (a request served between the two may have cached what other
transactions saw before the commit). A writer that bypasses `save()` (a bulk update) is
caught by the entries' lifetime, `TIMEOUT`.

The versions live in ``CACHES["default"]``, which every worker must share (the database cache
by default, or Redis): a per-process cache would leave other workers' entries stale.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

logger = logging.getLogger(__name__)

#: The public registry's results (`agreements.views.public.registry`).
REGISTRY = "registry"
#: The calendar feeds' bodies (`agreements.views.calendar.calendar_feed`).
CALENDAR = "calendar"
#: How long an entry is kept at most, whatever the version: the bound of staleness for a
#: write that bypasses `save()`.
TIMEOUT = 10 * 60


def get(cache_key: str) -> Any:
    """The entry under `cache_key`, or None: also when the cache does not answer (the page is
    then rendered afresh rather than refused)."""
    try:
        return cache.get(cache_key)
    except Exception:
        logger.warning("The cache does not answer; rendering afresh", exc_info=True)
        return None


def put(cache_key: str, value: Any) -> None:
    """Keep `value` under `cache_key` for `TIMEOUT` (nothing if the cache does not answer)."""
    try:
        cache.set(cache_key, value, timeout=TIMEOUT)
    except Exception:
        logger.warning("The cache does not answer; not kept", exc_info=True)


def _version_key(name: str) -> str:
    return f"agreements:{name}:version"


def version(name: str) -> str:
    """The current version of `name` (made now if the cache has none)."""
    key = _version_key(name)
    try:
        current = cache.get(key)
        if current is None:
            current = str(time.time_ns())
            # Another worker may have made one meanwhile: keep theirs.
            if not cache.add(key, current, timeout=None):
                current = cache.get(key) or current
    except Exception:
        # No cache: a version of its own, so that nothing stale can be found under it.
        logger.warning("The cache does not answer", exc_info=True)
        current = f"uncached-{time.time_ns()}"
    return str(current)


def bump(name: str) -> None:
    """Start a new version of `name`: every entry cached under the old one is out of date."""
    try:
        cache.set(_version_key(name), str(time.time_ns()), timeout=None)
    except Exception:
        # The entries are not found either while the cache is down, and expire by `TIMEOUT`.
        logger.warning("The cache does not answer; version not replaced", exc_info=True)


def key(name: str, *parts: object) -> str:
    """The cache key of one entry of `name` (also the seed of its ETag): the version, the day
    and `parts`."""
    digest = hashlib.sha256(
        "\x1f".join([version(name), timezone.localdate().isoformat(), *map(str, parts)]).encode()
    ).hexdigest()[:32]
    return f"agreements:{name}:{digest}"


def etag(cache_key: str, *parts: object) -> str:
    """A strong ETag of an entry, with what else the response depends on (`parts`)."""
    return (
        '"'
        + hashlib.sha256("\x1f".join([cache_key, *map(str, parts)]).encode()).hexdigest()[:32]
        + '"'
    )


def _bumper(*names: str):
    def changed(sender, raw: bool = False, **kwargs) -> None:
        if raw:  # fixtures: nothing is cached while they load
            return
        for name in names:
            bump(name)
            transaction.on_commit(functools.partial(bump, name))

    return changed


def connect() -> None:
    """Replace the versions on every write of what they cover (from the app's `ready`)."""
    from institutions.models import Institution

    from .models import Agreement, Meeting, Party, SigningEvent

    covers = {
        Agreement: (REGISTRY, CALENDAR),
        Party: (REGISTRY, CALENDAR),
        Institution: (REGISTRY, CALENDAR),
        Meeting: (CALENDAR,),
        SigningEvent: (CALENDAR,),
    }
    for model, names in covers.items():
        receiver = _bumper(*names)
        uid = f"agreements_versions_{model._meta.label_lower}"
        post_save.connect(receiver, sender=model, dispatch_uid=f"{uid}_save", weak=False)
        post_delete.connect(receiver, sender=model, dispatch_uid=f"{uid}_delete", weak=False)
