"""The history of records (`institutions.history`) as people read it, for the one partial
`templates/history/_entries.html` that every app's record pages include.

Each changed field is named by its verbose name; values are shown as a person reads them, in
the user's language: labels of choices, names of related records (not ids), dates and times
in the current time zone (Asia/Jakarta) and language, yes/no, and "" for nothing (the partial
shows "—"). The page that shows a history has already checked that the user may see it.

The "fields" that are not model fields (a record's rows kept as lines: an agreement's parties,
a programme's phases, …) are named by the apps above through `name_rows`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.formats import date_format, time_format
from django.utils.text import capfirst
from django.utils.timezone import is_aware, localtime
from django.utils.translation import gettext as _

from . import history
from .access import Account
from .models import History

#: How many entries a record's page shows, newest first.
HISTORY_LIMIT = 100

#: Not shown: the version goes up on every save, the others change on every save as well.
_HIDDEN = frozenset({"version", *history.IGNORED_FIELDS})

#: Names of the "fields" that hold a record's rows or other values besides its own fields.
_ROW_LABELS: dict[str, Any] = {}


#: Kinds of record that are looked up by id only when the page already holds them (`known`):
#: personal data, which the page's user may not be allowed to see by any other record.
_PRIVATE: set[type[models.Model]] = set()


def keep_private(*kinds: type[models.Model]) -> None:
    """Never look up records of these kinds to name them in a history (their ids are shown
    as "#id" unless the page passes the record in `known`); called by the apps above."""
    _PRIVATE.update(kinds)


def name_rows(**labels: Any) -> None:
    """Name the extra "fields" of history entries (usually lazy translations), e.g.
    `name_rows(parties=gettext_lazy("parties"))`; called by the apps above at import."""
    _ROW_LABELS.update(labels)


@dataclass
class FieldChange:
    """One changed field of a history entry, ready to show.

    `before` and `after` are display strings ("" for nothing). A list-valued field (a record's
    parties, articles, attendees, partner institutions, …) is shown as the lines `removed`
    and `added` instead; when only the order changed, both hold every line.
    """

    label: str
    before: str = ""
    after: str = ""
    is_list: bool = False
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


@dataclass
class HistoryRow:
    """A history entry as `templates/history/_entries.html` shows it. `record_label` (the kind
    of record and its name) is set when the entries shown are of more than one record."""

    entry: History
    changes: list[FieldChange]
    record_label: str = ""

    @property
    def at(self) -> datetime.datetime:
        return self.entry.at

    @property
    def user(self) -> Account | None:
        return self.entry.user

    @property
    def action(self) -> str:
        return self.entry.action

    @property
    def action_label(self) -> str:
        return self.entry.get_action_display()

    @property
    def content_type(self) -> ContentType:
        return ContentType.objects.get_for_id(self.entry.content_type_id)

    @property
    def object_id(self) -> str:
        return self.entry.object_id


def _model_of(entry: History) -> type[models.Model] | None:
    return ContentType.objects.get_for_id(entry.content_type_id).model_class()


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    """The field an entry's key names: a concrete field by attname ("host_id"), else any
    field by name ("partners"); None for a key that is not (or no longer) a field."""
    if model is None:
        return None
    for candidate in model._meta.concrete_fields:
        if candidate.attname == name:
            return candidate
    try:
        found = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return found if isinstance(found, models.Field) else None  # not a reverse relation


def _points_at(model_field: models.Field | None) -> type[models.Model] | None:
    """The kind of record a field's stored ids point at (foreign keys and many-to-many)."""
    if model_field is None or not model_field.is_relation:
        return None
    if model_field.many_to_one or model_field.one_to_one or model_field.many_to_many:
        return model_field.related_model
    return None


def _moment(value: datetime.datetime) -> str:
    return date_format(localtime(value) if is_aware(value) else value, "j F Y H.i")


def _text(model_field: models.Field | None, value: Any, related: Mapping) -> str:
    """A stored (JSON) value as a person reads it."""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if (target := _points_at(model_field)) is not None:
        found = related.get((target, value))
        return str(found) if found is not None else f"#{value}"
    if model_field is not None and model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    if isinstance(value, str):
        if isinstance(model_field, models.DateTimeField) or (model_field is None and "T" in value):
            moment = parse_datetime(value)
            if moment is not None:
                return _moment(moment)
        elif isinstance(model_field, models.DateField):
            day = parse_date(value)
            if day is not None:
                return date_format(day, "j F Y")
        elif isinstance(model_field, models.TimeField):
            clock = parse_time(value)
            if clock is not None:
                return time_format(clock, "H.i")
    return str(value)


def _related_records(
    entries: list[History], known: Iterable[models.Model | None]
) -> dict[tuple[type[models.Model], Any], Any]:
    """The records the entries' foreign keys and many-to-many ids point at: those `known`
    already, then the others with one query per kind of record."""
    found = {(type(record), record.pk): record for record in known if record is not None}
    wanted: dict[type[models.Model], set] = {}
    for entry in entries:
        model = _model_of(entry)
        for name, values in entry.changes.items():
            target = _points_at(_field(model, name))
            if target is None or not isinstance(values, list):
                continue
            for value in values:
                for item in value if isinstance(value, list) else [value]:
                    if (
                        isinstance(item, int | str)
                        and (target, item) not in found
                        and target not in _PRIVATE
                    ):
                        wanted.setdefault(target, set()).add(item)
    for model, ids in wanted.items():
        for pk, record in model._base_manager.in_bulk(ids).items():
            found[(model, pk)] = record
    return found


def _lines(model_field: models.Field | None, values: Any, related: Mapping) -> list[str]:
    if _points_at(model_field) is not None:  # many-to-many ids, shown by name
        return [_text(model_field, item, related) for item in values or []]
    return [str(item) for item in values or []]


def _change(
    label: str, model_field: models.Field | None, before: Any, after: Any, related: Mapping
) -> FieldChange:
    if isinstance(before, list) or isinstance(after, list):
        old, new = _lines(model_field, before, related), _lines(model_field, after, related)
        removed = [line for line in old if line not in new]
        added = [line for line in new if line not in old]
        if not removed and not added:
            removed, added = old, new
        return FieldChange(label, is_list=True, removed=removed, added=added)
    return FieldChange(
        label, before=_text(model_field, before, related), after=_text(model_field, after, related)
    )


def history_rows(
    entries: Iterable[History],
    *,
    labels: Mapping[str, Any] | None = None,
    known: Iterable[models.Model | None] = (),
    limit: int | None = HISTORY_LIMIT,
) -> list[HistoryRow]:
    """The newest `limit` of `entries` (newest first) ready for `templates/history/_entries.html`.

    `labels` names extra "fields" besides those named through `name_rows`. A creation shows
    the values that were set, a deletion those that were lost; the version and the timestamps
    that change on every save are left out. When the entries are of several records (a
    programme and its phases), each row names its record. Queries: the entries, then one per
    kind of record their ids point at, unless all of those are among the records `known`
    (already loaded by the page: the record's host, its agreement, …).
    """
    if limit is not None and hasattr(entries, "__getitem__"):
        entries = entries[:limit]
    entries = list(entries)
    labels = {**_ROW_LABELS, **(labels or {})}
    related = _related_records(entries, known)
    several = len({(entry.content_type_id, entry.object_id) for entry in entries}) > 1
    rows = []
    for entry in entries:
        model = _model_of(entry)
        changes = []
        for name, pair in entry.changes.items():
            if name in _HIDDEN or not isinstance(pair, list) or len(pair) != 2:
                continue
            model_field = _field(model, name)
            verbose = getattr(model_field, "verbose_name", None)
            before, after = pair
            shown = _change(
                capfirst(str(labels.get(name) or verbose or name)),
                model_field,
                before,
                after,
                related,
            )
            if shown.is_list or shown.before or shown.after:
                changes.append(shown)
        record_label = ""
        if several:
            kind = model._meta.verbose_name if model else ""
            record_label = f"{capfirst(kind)}: {entry.object_repr}" if kind else entry.object_repr
        rows.append(HistoryRow(entry=entry, changes=changes, record_label=record_label))
    return rows


def history_for(record: models.Model, **kwargs: Any) -> list[HistoryRow]:
    """The history of one record, newest first, ready for `templates/history/_entries.html`."""
    return history_rows(history.history_of(record).order_by("-at", "-pk"), **kwargs)
