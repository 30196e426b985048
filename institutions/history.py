"""The history of every record: who changed what, when, with the values before and after; and
the refusal of an edit made on a version that someone else has changed meanwhile.

Services call these functions next to the change they make, in the same transaction:

    before = history.snapshot(agreement)
    history.ensure_current(agreement, submitted_version)   # concurrent edit → ValidationError
    ... change and save (the version goes up by one) ...
    history.record_change(agreement, user=user, before=before)

Nothing here knows the apps above: records are addressed through their content type.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from .access import User
from .models import History

Action = History.Action


class _Versioned(Protocol):
    """A record with a `version` field (each versioned model declares its own)."""

    version: int


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a field value."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or ""
    return value


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The record's concrete field values (foreign keys as ids), ready to store as JSON."""
    values = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        values[field.attname] = _plain(getattr(obj, field.attname))
    return values


def _differences(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    keys = [*before, *(key for key in after if key not in before)]
    return {
        key: [before.get(key), after.get(key)]
        for key in keys
        if before.get(key) != after.get(key) and key not in IGNORED_FIELDS
    }


#: Fields that change on every save and say nothing about what the user did.
IGNORED_FIELDS = frozenset({"updated_at", "notice_from"})


def record(
    obj: models.Model,
    *,
    user: User | None,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> History | None:
    """Write one history entry; a change that changed nothing writes nothing."""
    changes = _differences(before or {}, after or {})
    if action == Action.CHANGE and not changes:
        return None
    return History.objects.create(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True),
        object_id=str(obj.pk),
        object_repr=str(obj)[:255],
        action=action,
        changes=changes,
        user=user if user is not None and user.is_authenticated else None,
    )


def record_create(obj: models.Model, *, user: User | None) -> History | None:
    """A new record: every value, from nothing."""
    return record(obj, user=user, action=Action.CREATE, after=snapshot(obj))


def record_change(
    obj: models.Model, *, user: User | None, before: dict[str, Any]
) -> History | None:
    """A changed record: the values that differ from `before` (a `snapshot` taken earlier)."""
    return record(obj, user=user, action=Action.CHANGE, before=before, after=snapshot(obj))


def record_delete(obj: models.Model, *, user: User | None) -> History | None:
    """A deleted record: every value it had. Call before deleting, while `obj.pk` is set."""
    return record(obj, user=user, action=Action.DELETE, before=snapshot(obj))


def history_of(obj: models.Model) -> models.QuerySet[History]:
    """The entries of one record, newest first, with their users."""
    return History.objects.filter(
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=True),
        object_id=str(obj.pk),
    ).select_related("user")


def bump_version(obj: models.Model) -> int:
    """Raise the record's version in the database and on `obj` (the caller saves the rest);
    returns the new version."""
    type(obj)._default_manager.filter(pk=obj.pk).update(version=F("version") + 1)
    versioned = cast(_Versioned, obj)
    versioned.version += 1
    return versioned.version


def ensure_current(obj: models.Model, submitted_version: int | None) -> None:
    """Refuse an edit made on an older version of the record, saying who changed what since.

    `obj` must have been read inside the transaction with select_for_update, so that the
    version compared is the one that will be overwritten.
    """
    if submitted_version is None or submitted_version == cast(_Versioned, obj).version:
        return
    changes: dict[str, Any] = {}
    people: list[str] = []
    for entry in history_of(obj).filter(action=Action.CHANGE)[:50]:
        version = entry.changes.get("version")
        if version and version[1] is not None and version[1] <= submitted_version:
            break
        for field, (_before, after) in entry.changes.items():
            if field != "version":
                changes.setdefault(field, after)
        who = entry.user.get_username() if entry.user else _("the system")
        people.append(f"{who} ({date_format(localtime(entry.at), 'j F Y H.i')})")
    names = {field.attname: str(field.verbose_name) for field in obj._meta.concrete_fields}
    described = "; ".join(
        f"{names.get(field, field)}: {value!s:.80}" for field, value in changes.items()
    )
    raise ValidationError(
        _(
            "Someone else saved this record while you were editing it (%(who)s). Nothing of "
            "yours was saved. What they changed: %(changes)s. Review the current values and "
            "save again."
        )
        % {"who": ", ".join(people) or _("unknown"), "changes": described or "—"},
        code="stale",
    )


def differs(
    before: Mapping[str, Any], after: Mapping[str, Any], keys: Iterable[str] | None = None
) -> bool:
    """Whether any value a person would notice differs between two snapshots (of `keys`, or
    of all): the version and the fields history ignores do not count."""
    ignored = {*IGNORED_FIELDS, "version"}
    wanted = {*before, *after} if keys is None else set(keys)
    return any(before.get(key) != after.get(key) for key in wanted - ignored)
