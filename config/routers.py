"""The database router: reads of the replica pages go to the read replica, everything else to
the primary.

A request is marked as reading from the replica by `config.middleware.ReplicaMiddleware`
(a GET of one of settings.REPLICA_VIEWS, by a browser that has not written anything in the last
REPLICA_PIN_SECONDS, while the replica answers). Only the domain records are read there: the
session, the account, the login attempts, the cache table and the task queue always come from
the primary, so logging in, a lockout or a queued task is never missed because of lag. Writes
always go to the primary; migrations run on the primary only (the replica copies it).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import models

#: The apps whose records the replica pages read from the replica.
REPLICA_APPS = frozenset({"agreements", "rehabilitation", "institutions"})

_reading_replica: ContextVar[bool] = ContextVar("reading_replica", default=False)
_lock = threading.Lock()
_replica_down_until = 0.0


@contextlib.contextmanager
def reading_from_replica(enabled: bool = True) -> Iterator[None]:
    """Within the block (one request), domain reads go to the replica if `enabled`."""
    token = _reading_replica.set(enabled)
    try:
        yield
    finally:
        _reading_replica.reset(token)


def replica_alias() -> str | None:
    """The replica's alias, or None without a replica or while it is marked down."""
    alias = settings.READ_REPLICA
    if alias is None or time.monotonic() < _replica_down_until:
        return None
    return alias


def mark_replica_down() -> None:
    """The replica failed: the primary answers for REPLICA_RETRY_SECONDS."""
    global _replica_down_until
    with _lock:
        _replica_down_until = time.monotonic() + settings.REPLICA_RETRY_SECONDS


def mark_replica_up() -> None:
    global _replica_down_until
    with _lock:
        _replica_down_until = 0.0


class ReplicaRouter:
    """Domain reads of a replica request from the replica; all else from the primary."""

    def db_for_read(self, model: type[models.Model], **hints: Any) -> str:
        if _reading_replica.get() and model._meta.app_label in REPLICA_APPS:
            alias = replica_alias()
            if alias is not None:
                return alias
        return "default"

    def db_for_write(self, model: type[models.Model], **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: models.Model, obj2: models.Model, **hints: Any) -> bool:
        # The replica holds the same rows as the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"
