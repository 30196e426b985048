"""Reads of agreements. Who may see what is `agreements.access`'s to say: views fetch every
agreement through `access.get_agreement_for_user` and pass what they fetched here.

`history_for` / `history_rows` read a record's history (`institutions.history`) for the shared
partial `templates/history/_entries.html`; the page that shows it has already checked that the
user may see the record. They know nothing of agreements and serve every app's pages.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Prefetch
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.formats import date_format, time_format
from django.utils.text import capfirst
from django.utils.timezone import is_aware, localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from institutions import history
from institutions.models import History

from .models import SignedScan


def scans_prefetch() -> Prefetch:
    """Prefetch of an agreement's scans, newest first, with their uploaders, for
    `agreements/documents/_section.html` (two queries, whatever the number of scans)."""
    return Prefetch(
        "scans",
        queryset=SignedScan.objects.select_related("uploaded_by").order_by("-uploaded_at", "-pk"),
    )


#: Labels of the "fields" that hold a record's rows as lists of lines (see the services).
ROW_LABELS: dict[str, Any] = {
    "parties": gettext_lazy("parties"),
    "articles": gettext_lazy("articles"),
    "attendees": gettext_lazy("attendees"),
    "follow_ups": gettext_lazy("follow-ups"),
    "scans": gettext_lazy("signed scans"),
}
#: Not shown: the version goes up on every save, the others change on every save as well.
_HIDDEN = frozenset({"version", *history.IGNORED_FIELDS})


@dataclass
class FieldChange:
    """One changed field of a history entry, ready to show.

    `before` and `after` are display strings ("" for nothing). A list-valued field (a record's
    parties, articles, attendees, …) is shown as the lines `removed` and `added` instead;
    when only the order changed, both hold every line.
    """

    label: str
    before: str = ""
    after: str = ""
    is_list: bool = False
    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)


@dataclass
class HistoryRow:
    """A history entry as `templates/history/_entries.html` shows it."""

    entry: History
    changes: list[FieldChange]

    @property
    def at(self) -> datetime.datetime:
        return self.entry.at

    @property
    def user(self):
        return self.entry.user

    @property
    def action(self) -> str:
        return self.entry.action

    @property
    def action_label(self) -> str:
        return self.entry.get_action_display()


def _field_by_attname(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    for candidate in model._meta.concrete_fields:
        if candidate.attname == name:
            return candidate
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def _plain_value(model_field: models.Field | None, value: Any, related: Mapping) -> str:
    """A stored (JSON) value as a person reads it: labels of choices, names of related
    records, dates in the site's format."""
    if value is None or value == "":
        return ""
    if model_field is None:
        return str(value)
    if model_field.many_to_one or model_field.one_to_one:
        found = related.get((model_field.related_model, value))
        return str(found) if found is not None else f"#{value}"
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str):
        if isinstance(model_field, models.DateTimeField):
            moment = parse_datetime(value)
            if moment is not None:
                return date_format(localtime(moment) if is_aware(moment) else moment, "j F Y H.i")
        elif isinstance(model_field, models.DateField):
            day = parse_date(value)
            if day is not None:
                return date_format(day, "j F Y")
        elif isinstance(model_field, models.TimeField):
            moment = parse_time(value)
            if moment is not None:
                return time_format(moment, "H.i")
    return str(value)


def _related_records(
    entries: list[History], known: Iterable[models.Model]
) -> dict[tuple[type[models.Model], Any], Any]:
    """The records the entries' foreign keys point at: those `known` already, then the others
    with one query per kind of record."""
    found = {(type(record), record.pk): record for record in known if record is not None}
    wanted: dict[type[models.Model], set] = {}
    for entry in entries:
        model = ContentType.objects.get_for_id(entry.content_type_id).model_class()
        for name, values in entry.changes.items():
            model_field = _field_by_attname(model, name)
            if model_field is None or not (model_field.many_to_one or model_field.one_to_one):
                continue
            for value in values:
                if (
                    value is not None
                    and not isinstance(value, list | dict)
                    and (model_field.related_model, value) not in found
                ):
                    wanted.setdefault(model_field.related_model, set()).add(value)
    for model, ids in wanted.items():
        for pk, record in model._base_manager.in_bulk(ids).items():
            found[(model, pk)] = record
    return found


def history_rows(
    entries: Iterable[History],
    *,
    labels: Mapping[str, Any] | None = None,
    known: Iterable[models.Model] = (),
) -> list[HistoryRow]:
    """History entries made ready for `templates/history/_entries.html`: each changed field
    under its verbose name, with its value before and after as a person reads it.

    `labels` names the "fields" that are not model fields (by default those of `ROW_LABELS`).
    A creation shows the values that were set, a deletion those that were lost. The version
    and the timestamps that change on every save are left out. The queries: the entries, then
    one per kind of record their foreign keys point at, unless all of those are among the
    records `known` (already loaded by the page: the record's host, its agreement, …).
    """
    entries = list(entries)
    labels = {**ROW_LABELS, **(labels or {})}
    related = _related_records(entries, known)
    rows = []
    for entry in entries:
        model = ContentType.objects.get_for_id(entry.content_type_id).model_class()
        changes = []
        for name, pair in entry.changes.items():
            if name in _HIDDEN or not isinstance(pair, list) or len(pair) != 2:
                continue
            before, after = pair
            model_field = _field_by_attname(model, name)
            label = str(labels.get(name) or (model_field and model_field.verbose_name) or name)
            if isinstance(before, list) or isinstance(after, list):
                old, new = [str(x) for x in before or []], [str(x) for x in after or []]
                removed = [line for line in old if line not in new]
                added = [line for line in new if line not in old]
                if not removed and not added:
                    removed, added = old, new
                changes.append(
                    FieldChange(capfirst(label), is_list=True, removed=removed, added=added)
                )
                continue
            shown = FieldChange(
                capfirst(label),
                before=_plain_value(model_field, before, related),
                after=_plain_value(model_field, after, related),
            )
            if shown.before or shown.after:
                changes.append(shown)
        rows.append(HistoryRow(entry=entry, changes=changes))
    return rows


def history_for(record: models.Model, **kwargs) -> list[HistoryRow]:
    """The history of one record, newest first, ready for `templates/history/_entries.html`."""
    return history_rows(history.history_of(record), **kwargs)
