"""Programmes and their phases: creating a programme under an agreement in force, changing
its name, partners, capacity and description, and replacing its phases.

Every change is one function here: keyword-only, in a transaction, validated (refusals raise
`ValidationError` with a code and a translatable message; a user without the right raises
`PermissionDenied`) and written to the history. Edits take the `version` the user's form was
loaded with: a programme changed meanwhile refuses the edit (code "stale").
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agreements.models import Agreement, SigningEvent
from institutions import history
from institutions.access import Account
from institutions.models import History, Institution

from .. import access
from ..models import Enrolment, EnrolmentPhase, Phase, Programme
from ..selectors import active_count
from .common import ensure, ensure_agreement_in_force, record_change

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise

Action = History.Action

#: The Therapeutic Community default (DOMAIN.md): 2 weeks orientation, 19 primary, 3 re-entry.
STANDARD_TC_PHASES: tuple[tuple[_StrOrPromise, int], ...] = (
    (gettext_lazy("Orientation"), 2),
    (gettext_lazy("Primary"), 19),
    (gettext_lazy("Re-entry"), 3),
)


def _programme_state(programme: Programme) -> dict:
    return {
        **history.snapshot(programme),
        "partners": sorted(programme.partners.values_list("pk", flat=True)),
    }


def phase_summary(phases: Iterable[Phase]) -> list[str]:
    """The phases in a programme's history entry: "order. name (planned weeks)"."""
    return [
        f"{phase.order}. {phase.name} ({phase.planned_weeks})"
        for phase in sorted(phases, key=lambda phase: phase.order)
    ]


def _clean_phase_rows(phases: Iterable[Mapping]) -> list[dict]:
    rows = []
    for row in phases:
        name = str(row.get("name") or "").strip()
        weeks = row.get("planned_weeks")
        if not name:
            raise ValidationError(_("Every phase needs a name."), code="phase_name")
        if not isinstance(weeks, int) or weeks < 1:
            raise ValidationError(
                _("The phase “%(name)s” needs a planned length of at least one week.")
                % {"name": name},
                code="phase_length",
            )
        rows.append({"id": row.get("id"), "name": name, "planned_weeks": weeks})
    if not rows:
        raise ValidationError(_("A programme needs at least one phase."), code="no_phases")
    return rows


def standard_phases() -> list[dict]:
    """The standard TC phases, named in the current language."""
    return [{"name": str(name), "planned_weeks": weeks} for name, weeks in STANDARD_TC_PHASES]


@transaction.atomic
def programme_create(
    *,
    user: Account,
    name: str,
    kind: str,
    host: Institution,
    agreement: Agreement,
    launch_date: datetime.date,
    partners: Iterable[Institution] = (),
    launch_event: SigningEvent | None = None,
    capacity: int | None = None,
    description: str = "",
    phases: Sequence[Mapping] | None = None,
) -> Programme:
    """Create a programme at `host` under `agreement`, with its phases in order (the standard
    TC phases when `phases` is None).

    The user must be an editor or administrator of the host; the agreement must be in force
    (signed, active or expiring) with the host among its parties; the launch event, if any,
    must be the signing event of that agreement.
    """
    ensure(
        access.may_create_programme_at(user, host),
        _("Only editors and administrators of %(host)s may create its programmes.")
        % {"host": host},
    )
    if not name.strip():
        raise ValidationError(_("The programme needs a name."), code="name")
    if kind not in Programme.Kind.values:
        raise ValidationError(_("Unknown programme type."), code="kind")
    ensure_agreement_in_force(agreement, host)
    if launch_event is not None and agreement.signing_event_id != launch_event.pk:
        raise ValidationError(
            _("The launch event must be the signing of the agreement “%(title)s”.")
            % {"title": agreement.title},
            code="launch_event",
        )
    if capacity is not None and capacity < 1:
        raise ValidationError(_("The capacity must be at least one place."), code="capacity")
    partners = list(dict.fromkeys(partners))
    if host in partners:
        raise ValidationError(
            _("The host institution cannot also be a partner."), code="host_is_partner"
        )
    rows = _clean_phase_rows(standard_phases() if phases is None else phases)
    programme = Programme.objects.create(
        name=name.strip(),
        kind=kind,
        host=host,
        agreement=agreement,
        launch_date=launch_date,
        launch_event=launch_event,
        capacity=capacity,
        description=description.strip(),
    )
    programme.partners.set(partners)
    history.record(programme, user=user, action=Action.CREATE, after=_programme_state(programme))
    for order, row in enumerate(rows, start=1):
        phase = Phase.objects.create(
            programme=programme, order=order, name=row["name"], planned_weeks=row["planned_weeks"]
        )
        history.record_create(phase, user=user)
    return programme


@transaction.atomic
def programme_update(
    *,
    programme: Programme,
    user: Account,
    name: str,
    partners: Iterable[Institution],
    capacity: int | None,
    description: str = "",
    version: int | None = None,
) -> Programme:
    """Change a programme's name, partners, capacity and description (editors and
    administrators of the host).

    The capacity cannot drop below the places taken, and a partner cannot be removed while
    people it holds are in the programme (their place would lose its institution). `version`
    is the one the user's form was loaded with: a programme changed since refuses the edit.
    """
    programme = Programme.objects.select_for_update().get(pk=programme.pk)
    ensure(
        access.may_manage_programme(user, programme),
        _("Only editors and administrators of the host may change the programme."),
    )
    history.ensure_current(programme, version)
    before = _programme_state(programme)
    if not name.strip():
        raise ValidationError(_("The programme needs a name."), code="name")
    partners = list(dict.fromkeys(partners))
    if any(partner.pk == programme.host_id for partner in partners):
        raise ValidationError(
            _("The host institution cannot also be a partner."), code="host_is_partner"
        )
    taken = active_count(programme)
    if capacity is not None and capacity < max(taken, 1):
        raise ValidationError(
            _("The capacity cannot be less than the %(taken)s places taken.") % {"taken": taken},
            code="capacity",
        )
    removed = set(programme.partners.values_list("pk", flat=True)) - {p.pk for p in partners}
    still_in = (
        Enrolment.objects.filter(programme=programme, participant__institution_id__in=removed)
        .exclude(status__in=Enrolment.FINAL_STATUSES)
        .select_related("participant__institution")
        .first()
    )
    holding = still_in.participant.institution if still_in is not None else None
    if holding is not None:
        raise ValidationError(
            _(
                "%(institution)s holds participants with an open place in this programme: it "
                "stays a partner until their enrolments end."
            )
            % {"institution": holding},
            code="partner_in_use",
        )
    programme.name = name.strip()
    programme.capacity = capacity
    programme.description = description.strip()
    programme.save(update_fields=["name", "capacity", "description"])
    programme.partners.set(partners)
    record_change(programme, user=user, before=before, after=_programme_state(programme))
    return programme


@transaction.atomic
def phases_replace(
    *, programme: Programme, user: Account, phases: Sequence[Mapping], version: int | None = None
) -> list[Phase]:
    """Set the programme's phases to `phases`, numbered 1… in the order given.

    Each row holds `name`, `planned_weeks` and, for a phase that exists, its `id`: existing
    phases keep their identity (participants' phase history points at them). A phase left
    out is deleted, unless a participant is or was in it. The phases are part of the
    programme: `version` is the programme's, and a change raises it.
    """
    programme = Programme.objects.select_for_update().get(pk=programme.pk)
    ensure(
        access.may_manage_programme(user, programme),
        _("Only editors and administrators of the host may change the phases."),
    )
    history.ensure_current(programme, version)
    rows = _clean_phase_rows(phases)
    existing = {phase.pk: phase for phase in programme.phases.all()}
    before = {pk: history.snapshot(phase) for pk, phase in existing.items()}
    programme_before = {**history.snapshot(programme), "phases": phase_summary(existing.values())}
    kept = [row["id"] for row in rows if row["id"]]
    if len(set(kept)) != len(kept) or not set(kept) <= existing.keys():
        raise ValidationError(_("Those phases do not belong to this programme."), code="phase")
    removed = existing.keys() - set(kept)
    used = set(
        EnrolmentPhase.objects.filter(phase_id__in=removed).values_list("phase_id", flat=True)
    ) | set(
        Enrolment.objects.filter(current_phase_id__in=removed).values_list(
            "current_phase_id", flat=True
        )
    )
    if used:
        raise ValidationError(
            _("The phase “%(name)s” has participants' history and cannot be removed.")
            % {"name": existing[min(used)].name},
            code="phase_in_use",
        )
    for pk in sorted(removed):
        history.record_delete(existing[pk], user=user)
    Phase.objects.filter(pk__in=removed).delete()
    # Move the kept phases out of the way first: (programme, order) is unique.
    offset = len(existing) + len(rows) + 1
    for phase in (existing[pk] for pk in kept):
        phase.order += offset
    Phase.objects.bulk_update([existing[pk] for pk in kept], ["order"])
    result = []
    for order, row in enumerate(rows, start=1):
        phase = existing[row["id"]] if row["id"] else Phase(programme=programme)
        phase.order, phase.name, phase.planned_weeks = order, row["name"], row["planned_weeks"]
        result.append(phase)
    Phase.objects.bulk_update([p for p in result if p.pk], ["order", "name", "planned_weeks"])
    for phase in result:
        if phase.pk:
            history.record_change(phase, user=user, before=before[phase.pk])
        else:
            phase.save()
            history.record_create(phase, user=user)
    programme_after = {**history.snapshot(programme), "phases": phase_summary(result)}
    record_change(programme, user=user, before=programme_before, after=programme_after)
    return result
