"""The one admin history engine: every create, change and delete made in the admin (its inlines
and many-to-many fields included) is written to `institutions.history` in the same shape as the
services write it for the staff pages, so that a record's history reads the same whichever way
it was changed.

A model admin says, through `HistoryAdminMixin`'s attributes, how its record's history is
shaped:

- `history_rows(record)`: the rows that belong to the record (an agreement's parties and
  articles, a meeting's attendees, a programme's phases) as the lists of lines its entries hold;
- `rows_raise_version`: whether a change of those rows (or of any inline) alone raises the
  record's version (it does when a staff edit form of the record holds them);
- `inline_entries`: whether rows edited in the inlines also get entries of their own (a phase
  does; a party does not: it lives only in its agreement's lines);
- `history_parent`: for the admin of such rows on their own pages (a party, an attendee), the
  foreign key to their record, whose change the save is recorded as;
- `history_exclude`: fields kept out of the history (a password hash).

The values before are read from the database with the row locked (select_for_update), inside
the admin's transaction, so that two saves cannot both record the same "before". Each saved
change of a record with a `version` raises it, so that a staff form opened before is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest

from . import history
from .models import History

Action = History.Action

if TYPE_CHECKING:  # the mixin is only ever used in front of a ModelAdmin
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object


def history_state(obj: models.Model, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """What the history keeps of `obj`: its concrete fields (see `history.snapshot`) and its
    many-to-many relations as sorted ids, without the `exclude`d fields."""
    state = history.snapshot(obj)
    for field in obj._meta.many_to_many:
        state[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    for name in exclude:
        state.pop(name, None)
    return state


def _is_versioned(obj: models.Model) -> bool:
    return any(field.name == "version" for field in obj._meta.concrete_fields)


def _locked(model: type[models.Model], pk: Any) -> models.Model | None:
    return model._base_manager.select_for_update().filter(pk=pk).first()


class HistoryAdminMixin(_AdminBase):
    """Record every save and delete made through this admin (and its inlines) in the history,
    in the services' shape (see the module's docstring for the attributes)."""

    history_rows: Callable[[Any], dict[str, list[str]]] | None = None
    rows_raise_version = True
    inline_entries = True
    history_parent: str | None = None
    history_exclude: tuple[str, ...] = ()

    # --- the record's own entries ---------------------------------------------------------

    def _rows(self, obj: models.Model) -> dict[str, list[str]]:
        return self.history_rows(obj) if self.history_rows else {}

    def _state(self, obj: models.Model) -> dict[str, Any]:
        return {**history_state(obj, self.history_exclude), **self._rows(obj)}

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        if self.history_parent:
            self._save_row(request, obj, form, change)
            return
        # Kept on the object: the admin instance is shared by every request.
        stored = _locked(type(obj), obj.pk) if change else None
        obj._history_before = None if stored is None else self._state(stored)
        super().save_model(request, obj, form, change)

    def save_related(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> None:
        # Recorded here rather than in save_model, so that many-to-many values and inline rows
        # are saved.
        super().save_related(request, form, formsets, change)
        if self.history_parent:
            return
        obj = form.instance
        after = self._state(obj)
        before = getattr(obj, "_history_before", None)
        if before is None:
            history.record(obj, user=request.user, action=Action.CREATE, after=after)
            return
        rows = self._rows(obj)
        fields_changed = history.differs(before, after, [key for key in after if key not in rows])
        rows_changed = history.differs(before, after, rows) or any(
            f.has_changed() for f in formsets
        )
        if _is_versioned(obj) and (fields_changed or (self.rows_raise_version and rows_changed)):
            after["version"] = history.bump_version(obj)
        history.record(obj, user=request.user, action=Action.CHANGE, before=before, after=after)

    def _record_delete(self, request: HttpRequest, obj: models.Model) -> None:
        # Written before the delete, while the record still has its id.
        history.record(obj, user=request.user, action=Action.DELETE, before=self._state(obj))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        if self.history_parent:
            self._delete_rows(
                request, [obj], lambda: super(HistoryAdminMixin, self).delete_model(request, obj)
            )
            return
        self._record_delete(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            if self.history_parent:
                self._delete_rows(
                    request,
                    list(queryset),
                    lambda: super(HistoryAdminMixin, self).delete_queryset(request, queryset),
                )
                return
            for obj in queryset:
                self._record_delete(request, obj)
            super().delete_queryset(request, queryset)

    # --- rows edited in the inlines ---------------------------------------------------------

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: Any, change: bool
    ) -> None:
        if not self.inline_entries:
            super().save_formset(request, form, formset, change)
            return
        model = formset.model
        pks = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
        stored = {obj.pk: obj for obj in model._base_manager.select_for_update().filter(pk__in=pks)}
        before = {pk: history_state(obj) for pk, obj in stored.items()}
        for deleted in formset.deleted_forms:
            if deleted.instance.pk in stored:
                history.record(
                    stored[deleted.instance.pk],
                    user=request.user,
                    action=Action.DELETE,
                    before=before[deleted.instance.pk],
                )
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            history.record(obj, user=request.user, action=Action.CREATE, after=history_state(obj))
        for obj, _fields in formset.changed_objects:
            after = history_state(obj)
            if _is_versioned(obj) and history.differs(before.get(obj.pk, {}), after):
                after["version"] = history.bump_version(obj)
            history.record(
                obj,
                user=request.user,
                action=Action.CHANGE,
                before=before.get(obj.pk, {}),
                after=after,
            )

    # --- rows on their own pages, recorded as changes of their record -----------------------

    def _parents_before(self, rows: Iterable[models.Model]) -> dict[Any, tuple[Any, dict]]:
        assert self.history_parent is not None  # only admins of rows of a record come here
        found: dict[Any, tuple[Any, dict]] = {}
        for row in rows:
            parent_id = getattr(row, f"{self.history_parent}_id")
            if parent_id is None or parent_id in found:
                continue
            parent_model = row._meta.get_field(self.history_parent).related_model
            assert isinstance(parent_model, type)  # a foreign key to a model, never "self"
            parent = _locked(parent_model, parent_id)
            if parent is not None:
                found[parent_id] = (parent, self._rows(parent))
        return found

    def _record_rows(self, request: HttpRequest, saved: dict[Any, tuple[Any, dict]]) -> None:
        for parent, before in saved.values():
            after = self._rows(parent)
            if after == before:
                continue
            if self.rows_raise_version and _is_versioned(parent):
                before = {**before, "version": parent.version}
                history.bump_version(parent)
                after = {**after, "version": parent.version}
            history.record(
                parent, user=request.user, action=Action.CHANGE, before=before, after=after
            )

    def _save_row(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        rows = [obj]
        if change:  # a row moved to another record changes both
            rows.append(type(obj)._base_manager.get(pk=obj.pk))
        before = self._parents_before(rows)
        super().save_model(request, obj, form, change)
        self._record_rows(request, before)

    def _delete_rows(self, request: HttpRequest, rows: list, delete: Callable[[], None]) -> None:
        with transaction.atomic():
            before = self._parents_before(rows)
            delete()
            self._record_rows(request, before)
