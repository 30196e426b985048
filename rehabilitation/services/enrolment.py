"""Programmes, their phases, participants, and the lifecycle of an enrolment.

Every change is one function here: keyword-only, in a transaction, validated (refusals raise
`ValidationError` with a code and a translatable message; a user without the right raises
`PermissionDenied`), written to the history (`institutions.history`: who, when, the values
before and after) and to the personal-data access log when it touches a participant.

Edits of a programme, its phases, a participant and the moves of an enrolment take the
`version` the user's form was loaded with: a record changed meanwhile by someone else refuses
the edit (`history.ensure_current`, code "stale") instead of silently overwriting; every saved
change raises the version.

The enrolment moves (each one an `EnrolmentEvent`: who, when, on which day, why):

    screened ──► assessed ──► enrolled ──► in a phase ──► (next phase …) ──► completed
        │            │            │             │
        └────────────┴──► referred (before enrolment: education only, or elsewhere)
                                  └─────────────┴──► dropped out, transferred,
                                                     released before completion, referred

Rules: low risk on every substance (ASSIST) is education only and never moves to assessed; a
"none" recommendation is never enrolled; enrolling respects the programme's capacity (the
programme row is locked) and the rule that a participant is active in only one programme of a
type at a time (the participant row is locked); a programme whose agreement has expired or
been terminated takes nobody new; no move is dated before the previous one, nor in the future.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from agreements.models import Agreement, SigningEvent
from institutions import access, history
from institutions.models import History, Institution

from .. import assist
from ..models import (
    AccessLog,
    Assessment,
    Attendance,
    Enrolment,
    EnrolmentEvent,
    EnrolmentPhase,
    InstrumentScore,
    Participant,
    Phase,
    Programme,
    ProgressNote,
    Screening,
    ScreeningScore,
    Transfer,
)
from .audit import record_access

Status = Enrolment.Status
Action = History.Action

#: Agreement statuses under which a programme may be created and take new participants.
AGREEMENT_IN_FORCE = (Agreement.Status.SIGNED, Agreement.Status.ACTIVE, Agreement.Status.EXPIRING)

#: The Therapeutic Community default (DOMAIN.md): 2 weeks orientation, 19 primary, 3 re-entry.
STANDARD_TC_PHASES: tuple[tuple[str, int], ...] = (
    (gettext_lazy("Orientation"), 2),
    (gettext_lazy("Primary"), 19),
    (gettext_lazy("Re-entry"), 3),
)

#: Endings of an enrolment other than completion; each needs a date and a reason.
ENDINGS = (Status.DROPPED_OUT, Status.TRANSFERRED, Status.RELEASED, Status.REFERRED)

#: Every move an enrolment may make, from → allowed targets. In a phase → in a phase is the
#: move to the next phase. Nothing leaves a final status.
MOVES: dict[str, tuple[str, ...]] = {
    Status.SCREENED: (Status.ASSESSED, Status.REFERRED),
    Status.ASSESSED: (Status.ENROLLED, Status.REFERRED),
    Status.ENROLLED: (Status.IN_PHASE, *ENDINGS),
    Status.IN_PHASE: (Status.IN_PHASE, Status.COMPLETED, *ENDINGS),
}

#: Institution kinds that hold detainees and prisoners.
HOLDING_KINDS = (Institution.Kind.RUTAN, Institution.Kind.LAPAS, Institution.Kind.LPKA)


@dataclass(frozen=True, slots=True)
class Eligibility:
    """What an enrolment's latest ASSIST screening says: the highest band, and whether it
    leads to an assessment (moderate or high on some substance) or to education only."""

    highest: assist.Risk | None
    eligible: bool
    screened: bool


# --- who may do what -----------------------------------------------------------------------


def may_manage_programme(user, programme: Programme) -> bool:
    """Editors and administrators of the host change a programme and its phases."""
    return access.has_role(user, programme.host_id, access.EDIT_ROLES)


def _personal_data_ids(user) -> frozenset[int]:
    return access.institution_ids(user, access.PERSONAL_DATA_ROLES)


def may_write_participant(user, participant: Participant) -> bool:
    """Programme staff and administrators of the holding institution, or of the host or a
    partner of a programme the participant is enrolled in (the same people who see them)."""
    if access.is_superuser(user):
        return True
    return Participant.objects.visible_to(user).filter(pk=participant.pk).exists()


def may_transfer_participant(user, participant: Participant) -> bool:
    """Only the institution holding a participant moves them to another one."""
    return access.has_role(user, participant.institution_id, access.PERSONAL_DATA_ROLES)


def may_write_enrolment(user, enrolment: Enrolment) -> bool:
    """Programme staff and administrators of the programme's host or partners, or of the
    participant's institution."""
    if access.is_superuser(user):
        return True
    ids = _personal_data_ids(user)
    if not ids:
        return False
    programme = enrolment.programme
    return bool(ids & ({enrolment.participant.institution_id} | programme.institution_ids))


def _ensure(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


# --- dates ---------------------------------------------------------------------------------


def _ensure_not_future(day: datetime.date, what: str) -> None:
    if day > timezone.localdate():
        raise ValidationError(
            _("The date of %(what)s cannot be in the future.") % {"what": what}, code="future"
        )


def _day(day: datetime.date) -> str:
    return date_format(day, "j F Y")


# --- history -------------------------------------------------------------------------------


def _differs(before: Mapping, after: Mapping) -> bool:
    ignored = {*history.IGNORED_FIELDS, "version"}
    return any(before.get(key) != after.get(key) for key in {*before, *after} if key not in ignored)


def _record_change(obj: models.Model, *, user, before: dict, after: dict) -> None:
    """After a saved change of a versioned record: raise its version and write the history
    entry (values before and after). A save that changed nothing does neither."""
    if not _differs(before, after):
        return
    history.bump_version(obj)
    after["version"] = obj.version
    history.record(obj, user=user, action=Action.CHANGE, before=before, after=after)


def _programme_state(programme: Programme) -> dict:
    return {
        **history.snapshot(programme),
        "partners": sorted(programme.partners.values_list("pk", flat=True)),
    }


def _phase_summary(phases: Iterable[Phase]) -> list[str]:
    """The phases in a programme's history entry: "order. name (planned weeks)"."""
    return [
        f"{phase.order}. {phase.name} ({phase.planned_weeks})"
        for phase in sorted(phases, key=lambda phase: phase.order)
    ]


def _record_screening(screening: Screening, *, user, scores: Mapping[str, int]) -> None:
    after = {**history.snapshot(screening), "scores": dict(sorted(scores.items()))}
    history.record(screening, user=user, action=Action.CREATE, after=after)


# --- programmes ----------------------------------------------------------------------------


def agreement_problem(agreement: Agreement, host: Institution | None = None) -> str | None:
    """Why a programme cannot run under `agreement` (with `host`), or None when it can."""
    status = agreement.current_status()
    if status not in AGREEMENT_IN_FORCE:
        return _(
            "The agreement “%(title)s” is %(status)s: a programme can only run under an "
            "agreement that is signed and not expired."
        ) % {"title": agreement.title, "status": Agreement.Status(status).label.lower()}
    if host is not None and not agreement.parties.filter(institution=host).exists():
        return _(
            "%(host)s is not a party to the agreement “%(title)s”: a programme runs under an "
            "agreement its host has signed."
        ) % {"host": host, "title": agreement.title}
    return None


def ensure_agreement_in_force(agreement: Agreement, host: Institution | None = None) -> None:
    """Refuse an agreement that is not signed, has expired or was terminated (or that the
    host is not a party to)."""
    if problem := agreement_problem(agreement, host):
        raise ValidationError(problem, code="agreement_not_in_force")


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
    user,
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
    _ensure(
        access.has_role(user, host.pk, access.EDIT_ROLES),
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
    user,
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
    _ensure(
        may_manage_programme(user, programme),
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
    _record_change(programme, user=user, before=before, after=_programme_state(programme))
    return programme


@transaction.atomic
def phases_replace(
    *, programme: Programme, user, phases: Sequence[Mapping], version: int | None = None
) -> list[Phase]:
    """Set the programme's phases to `phases`, numbered 1… in the order given.

    Each row holds `name`, `planned_weeks` and, for a phase that exists, its `id`: existing
    phases keep their identity (participants' phase history points at them). A phase left
    out is deleted, unless a participant is or was in it. The phases are part of the
    programme: `version` is the programme's, and a change raises it.
    """
    programme = Programme.objects.select_for_update().get(pk=programme.pk)
    _ensure(
        may_manage_programme(user, programme),
        _("Only editors and administrators of the host may change the phases."),
    )
    history.ensure_current(programme, version)
    rows = _clean_phase_rows(phases)
    existing = {phase.pk: phase for phase in programme.phases.all()}
    before = {pk: history.snapshot(phase) for pk, phase in existing.items()}
    programme_before = {**history.snapshot(programme), "phases": _phase_summary(existing.values())}
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
    programme_after = {**history.snapshot(programme), "phases": _phase_summary(result)}
    _record_change(programme, user=user, before=programme_before, after=programme_after)
    return result


# --- participants --------------------------------------------------------------------------

PARTICIPANT_FIELDS = (
    "status",
    "register_number",
    "full_name",
    "sex",
    "birth_date",
    "case_article",
    "substances",
    "use_duration_months",
    "route",
)


def _ensure_register_number_free(
    institution: Institution, register_number: str, *, exclude: int | None = None
) -> None:
    taken = Participant.objects.filter(institution=institution, register_number=register_number)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError(
            _("%(institution)s already has a participant with the register number %(number)s.")
            % {"institution": institution, "number": register_number},
            code="register_number_taken",
        )


def _clean_participant_fields(fields: Mapping) -> dict:
    unknown = set(fields) - set(PARTICIPANT_FIELDS)
    if unknown:
        raise TypeError(f"unknown participant fields: {sorted(unknown)}")
    cleaned = dict(fields)
    for name in ("register_number", "full_name", "case_article"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "register_number" in cleaned and not cleaned["register_number"]:
        raise ValidationError(_("The register number is required."), code="register_number")
    if "full_name" in cleaned and not cleaned["full_name"]:
        raise ValidationError(_("The name is required."), code="full_name")
    if "substances" in cleaned:
        substances = list(dict.fromkeys(cleaned["substances"] or []))
        if unknown_substances := [s for s in substances if s not in assist.Substance.values]:
            raise ValidationError(
                _("Unknown substance: %(codes)s.") % {"codes": ", ".join(unknown_substances)},
                code="substance",
            )
        cleaned["substances"] = substances
    birth_date = cleaned.get("birth_date")
    if birth_date is not None and birth_date > timezone.localdate():
        raise ValidationError(_("The date of birth cannot be in the future."), code="birth_date")
    return cleaned


def _save_participant(participant: Participant) -> None:
    try:
        with transaction.atomic():
            participant.full_clean(validate_unique=False, validate_constraints=False)
            participant.save()
    except IntegrityError:  # a concurrent request took the number between check and save
        raise ValidationError(
            _("%(institution)s already has a participant with the register number %(number)s.")
            % {"institution": participant.institution, "number": participant.register_number},
            code="register_number_taken",
        ) from None


@transaction.atomic
def participant_create(*, user, institution: Institution, **fields) -> Participant:
    """Register a detainee or prisoner held at `institution` (see `PARTICIPANT_FIELDS`).

    Only programme staff and administrators of that institution may; the register number is
    unique per institution.
    """
    _ensure(
        access.has_role(user, institution.pk, access.PERSONAL_DATA_ROLES),
        _("Only programme staff and administrators of %(institution)s may register its people.")
        % {"institution": institution},
    )
    cleaned = _clean_participant_fields(fields)
    for required in ("register_number", "full_name", "status"):
        if not cleaned.get(required):
            raise ValidationError(
                _("%(field)s is required.")
                % {"field": Participant._meta.get_field(required).verbose_name},
                code=required,
            )
    _ensure_register_number_free(institution, cleaned["register_number"])
    participant = Participant(institution=institution, **cleaned)
    _save_participant(participant)
    history.record_create(participant, user=user)
    record_access(
        user=user, participant=participant, action=AccessLog.Action.CHANGE, detail="created"
    )
    return participant


@transaction.atomic
def participant_update(
    *, participant: Participant, user, version: int | None = None, **fields
) -> Participant:
    """Correct a participant's record (not the institution: see `participant_transfer`).

    `version` is the one the user's form was loaded with: a record changed since refuses the
    correction."""
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    _ensure(
        may_write_participant(user, participant),
        _("You may not change this participant's record."),
    )
    history.ensure_current(participant, version)
    before = history.snapshot(participant)
    cleaned = _clean_participant_fields(fields)
    if "register_number" in cleaned:
        _ensure_register_number_free(
            participant.institution, cleaned["register_number"], exclude=participant.pk
        )
    changed = sorted(name for name, value in cleaned.items() if getattr(participant, name) != value)
    for name, value in cleaned.items():
        setattr(participant, name, value)
    _save_participant(participant)
    _record_change(participant, user=user, before=before, after=history.snapshot(participant))
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail="edited: " + (", ".join(changed) or "nothing"),
    )
    return participant


@transaction.atomic
def participant_transfer(
    *,
    participant: Participant,
    user,
    to_institution: Institution,
    date: datetime.date,
    register_number: str,
    reason: str = "",
    end_enrolments: bool = False,
    version: int | None = None,
) -> Transfer:
    """Move a participant to another institution, where they get `register_number`.

    The Transfer row keeps the history (from, to, date, reason, who). With `end_enrolments`,
    the participant's open enrolments in programmes that do not run at the new institution
    are closed on `date`: active ones as transferred, those not yet enrolled as referred.
    `version` is the participant's, as the user's form was loaded with.
    """
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("institution")
        .get(pk=participant.pk)
    )
    _ensure(
        may_transfer_participant(user, participant),
        _("Only programme staff and administrators of %(institution)s may transfer this person.")
        % {"institution": participant.institution},
    )
    history.ensure_current(participant, version)
    before = history.snapshot(participant)
    if to_institution.pk == participant.institution_id:
        raise ValidationError(
            _("The participant is already held at %(institution)s.")
            % {"institution": to_institution},
            code="same_institution",
        )
    _ensure_not_future(date, _("a transfer"))
    last = participant.transfers.order_by("-date").first()
    if last is not None and date < last.date:
        raise ValidationError(
            _("The transfer cannot be dated before the previous one (%(date)s).")
            % {"date": _day(last.date)},
            code="date_order",
        )
    register_number = register_number.strip()
    if not register_number:
        raise ValidationError(
            _("Give the register number at the new institution."), code="register_number"
        )
    _ensure_register_number_free(to_institution, register_number)
    source = participant.institution
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail=f"transferred to institution {to_institution.pk}",
    )
    transfer = Transfer.objects.create(
        participant=participant,
        from_institution=source,
        to_institution=to_institution,
        date=date,
        reason=reason.strip(),
        recorded_by=user,
    )
    history.record_create(transfer, user=user)
    if end_enrolments:
        open_enrolments = (
            participant.enrolments.exclude(status__in=Enrolment.FINAL_STATUSES)
            .exclude(programme__host=to_institution)
            .exclude(programme__partners=to_institution)
            .select_related("programme")
        )
        why = reason.strip() or _("Transferred to %(institution)s.") % {
            "institution": to_institution
        }
        for enrolment in open_enrolments:
            ending = Status.TRANSFERRED if enrolment.is_active else Status.REFERRED
            enrolment_end(user=user, enrolment=enrolment, to_status=ending, date=date, reason=why)
    participant.institution = to_institution
    participant.register_number = register_number
    _save_participant(participant)
    _record_change(participant, user=user, before=before, after=history.snapshot(participant))
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail=f"transferred from institution {source.pk}",
    )
    return transfer


def _archive_refusal(participant: Participant) -> str | None:
    open_enrolment = (
        participant.enrolments.exclude(status__in=Enrolment.FINAL_STATUSES)
        .select_related("programme")
        .first()
    )
    if open_enrolment is None:
        return None
    return _(
        "The enrolment in %(programme)s is still open: end it before archiving the record."
    ) % {"programme": open_enrolment.programme}


def may_archive_participant(user, participant: Participant) -> bool:
    """Programme staff and administrators of the holding institution archive and restore."""
    return may_transfer_participant(user, participant)


def _set_archived(
    *, participant: Participant, user, archive: bool, version: int | None
) -> Participant:
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("institution")
        .get(pk=participant.pk)
    )
    _ensure(
        may_archive_participant(user, participant),
        _("Only programme staff and administrators of %(institution)s may archive this record.")
        % {"institution": participant.institution},
    )
    history.ensure_current(participant, version)
    if archive and participant.archived_at is not None:
        raise ValidationError(_("This record is already archived."), code="archived")
    if not archive and participant.archived_at is None:
        raise ValidationError(_("This record is not archived."), code="not_archived")
    if archive and (refusal := _archive_refusal(participant)):
        raise ValidationError(refusal, code="open_enrolment")
    before = history.snapshot(participant)
    participant.archived_at = timezone.now() if archive else None
    participant.save(update_fields=["archived_at"])
    history.bump_version(participant)
    history.record(
        participant,
        user=user,
        action=Action.ARCHIVE if archive else Action.RESTORE,
        before=before,
        after=history.snapshot(participant),
    )
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail="archived" if archive else "restored from the archive",
    )
    return participant


@transaction.atomic
def participant_archive(
    *, participant: Participant, user, version: int | None = None
) -> Participant:
    """Archive a participant's record: kept with its enrolments and history, left out of the
    working lists. This is what happens instead of a delete (a participant with enrolments is
    never deleted). Refused while an enrolment is open; programme staff and administrators of
    the holding institution only."""
    return _set_archived(participant=participant, user=user, archive=True, version=version)


@transaction.atomic
def participant_restore(
    *, participant: Participant, user, version: int | None = None
) -> Participant:
    """Bring an archived participant's record back into the working lists."""
    return _set_archived(participant=participant, user=user, archive=False, version=version)


# --- screening and assessment --------------------------------------------------------------


def _clean_scores(scores: Mapping[str, int | None]) -> dict[str, int]:
    cleaned = {}
    for substance, score in scores.items():
        if score is None or score == "":
            continue
        if substance not in assist.Substance.values:
            raise ValidationError(
                _("Unknown ASSIST substance: %(code)s.") % {"code": substance}, code="substance"
            )
        if not isinstance(score, int) or not assist.MIN_SCORE <= score <= assist.MAX_SCORE:
            raise ValidationError(
                _("ASSIST scores run from %(min)s to %(max)s; %(score)s is not one.")
                % {"min": assist.MIN_SCORE, "max": assist.MAX_SCORE, "score": score},
                code="score_range",
            )
        cleaned[substance] = score
    if not cleaned:
        raise ValidationError(_("Score at least one substance."), code="no_scores")
    return cleaned


def _store_screening(
    *,
    participant: Participant,
    enrolment: Enrolment,
    user,
    date: datetime.date,
    scores: dict[str, int],
    notes: str,
) -> Screening:
    screening = Screening.objects.create(
        participant=participant, enrolment=enrolment, date=date, screened_by=user, notes=notes
    )
    for substance, score in sorted(scores.items()):
        # save() computes each band from the one rule in `assist`.
        ScreeningScore(screening=screening, substance=substance, score=score).save()
    _record_screening(screening, user=user, scores=scores)
    return screening


def ensure_programme_takes_participants(programme: Programme) -> None:
    """Refuse new participants in a programme whose agreement expired or was terminated."""
    status = programme.agreement.current_status()
    if status not in AGREEMENT_IN_FORCE:
        raise ValidationError(
            _(
                "The agreement of this programme is %(status)s: the programme takes no new "
                "participants (those already in it continue)."
            )
            % {"status": Agreement.Status(status).label.lower()},
            code="agreement_not_in_force",
        )


def programme_serves(programme: Programme, institution_id: int) -> bool:
    """Whether the programme runs for people held at the institution (host or partner)."""
    return institution_id in programme.institution_ids


@transaction.atomic
def enrolment_screen(
    *,
    user,
    participant: Participant,
    programme: Programme,
    date: datetime.date,
    scores: Mapping[str, int | None],
    notes: str = "",
) -> Enrolment:
    """The intake ASSIST screening of a participant for a programme: creates the Enrolment
    (status screened, started on the screening day) with the Screening and its scores.

    `scores` maps ASSIST substance codes to 0–39 (None: not scored). The programme must run
    at the participant's institution (as host or partner) and its agreement be in force.
    """
    programme = Programme.objects.select_related("agreement").get(pk=programme.pk)
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    _ensure(
        may_write_participant(user, participant)
        and (
            access.is_superuser(user) or bool(_personal_data_ids(user) & programme.institution_ids)
        ),
        _("Only programme staff of the institutions involved may screen for this programme."),
    )
    if not programme_serves(programme, participant.institution_id):
        raise ValidationError(
            _(
                "%(programme)s does not run at %(institution)s, where the participant is held: "
                "add the institution as a partner first."
            )
            % {"programme": programme, "institution": participant.institution},
            code="programme_elsewhere",
        )
    if participant.archived_at is not None:
        raise ValidationError(
            _("This participant's record is archived: restore it before a new screening."),
            code="archived",
        )
    ensure_programme_takes_participants(programme)
    _ensure_not_future(date, _("a screening"))
    if Enrolment.objects.filter(participant=participant, programme=programme).exists():
        raise ValidationError(
            _("This participant already has a place in %(programme)s.") % {"programme": programme},
            code="already_enrolled",
        )
    cleaned = _clean_scores(scores)
    enrolment = Enrolment.objects.create(
        participant=participant, programme=programme, status=Status.SCREENED, start_date=date
    )
    history.record_create(enrolment, user=user)
    _store_screening(
        participant=participant,
        enrolment=enrolment,
        user=user,
        date=date,
        scores=cleaned,
        notes=notes.strip(),
    )
    EnrolmentEvent.objects.create(
        enrolment=enrolment,
        from_status="",
        to_status=Status.SCREENED,
        date=date,
        reason=notes.strip(),
        recorded_by=user,
    )
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail=f"enrolment {enrolment.pk}: screened",
    )
    return enrolment


@transaction.atomic
def screening_record(
    *,
    user,
    enrolment: Enrolment,
    date: datetime.date,
    scores: Mapping[str, int | None],
    notes: str = "",
) -> Screening:
    """A later ASSIST screening of an enrolled participant (progress over time); the
    enrolment's status does not change."""
    enrolment = _lock(enrolment)
    _ensure(may_write_enrolment(user, enrolment), _("You may not change this enrolment."))
    _ensure_not_future(date, _("a screening"))
    if date < enrolment.start_date:
        raise ValidationError(
            _("A screening cannot be dated before the intake (%(date)s).")
            % {"date": _day(enrolment.start_date)},
            code="date_order",
        )
    screening = _store_screening(
        participant=enrolment.participant,
        enrolment=enrolment,
        user=user,
        date=date,
        scores=_clean_scores(scores),
        notes=notes.strip(),
    )
    record_access(
        user=user,
        participant=enrolment.participant,
        action=AccessLog.Action.CHANGE,
        detail=f"enrolment {enrolment.pk}: ASSIST screening",
    )
    return screening


def enrolment_eligibility(enrolment: Enrolment) -> Eligibility:
    """The verdict of the enrolment's latest screening (by date), through `assist`."""
    latest = enrolment.screenings.order_by("-date", "-pk").first()
    if latest is None:
        return Eligibility(highest=None, eligible=False, screened=False)
    bands = [assist.Risk(score.risk) for score in latest.scores.all()]
    return Eligibility(
        highest=assist.highest(bands), eligible=assist.is_eligible(bands), screened=True
    )


# --- the moves -----------------------------------------------------------------------------


def _lock(enrolment: Enrolment) -> Enrolment:
    return (
        Enrolment.objects.select_for_update(of=("self",))
        .select_related("participant", "programme__agreement", "current_phase")
        .get(pk=enrolment.pk)
    )


def allowed_moves(enrolment: Enrolment) -> tuple[str, ...]:
    """The statuses the enrolment may move to now (before the checks of each move)."""
    return MOVES.get(enrolment.status, ())


def _ensure_move(enrolment: Enrolment, to_status: str) -> None:
    if to_status not in allowed_moves(enrolment):
        raise ValidationError(
            _("An enrolment that is “%(current)s” cannot move to “%(target)s”.")
            % {
                "current": Status(enrolment.status).label,
                "target": Status(to_status).label if to_status in Status.values else to_status,
            },
            code="move_not_allowed",
        )


def previous_move_date(enrolment: Enrolment) -> datetime.date:
    """The date of the enrolment's latest move (the intake screening at the least)."""
    last = enrolment.events.order_by("-date").values_list("date", flat=True).first()
    return max(enrolment.start_date, last) if last else enrolment.start_date


def _ensure_date(enrolment: Enrolment, date: datetime.date) -> None:
    _ensure_not_future(date, _("a move"))
    previous = previous_move_date(enrolment)
    if date < previous:
        raise ValidationError(
            _("This move cannot be dated before the previous one (%(date)s).")
            % {"date": _day(previous)},
            code="date_order",
        )


def _record(enrolment: Enrolment, *, user, to_status: str, date: datetime.date, reason: str):
    EnrolmentEvent.objects.create(
        enrolment=enrolment,
        from_status=enrolment.status,
        to_status=to_status,
        date=date,
        reason=reason,
        recorded_by=user,
    )
    record_access(
        user=user,
        participant=enrolment.participant,
        action=AccessLog.Action.CHANGE,
        detail=f"enrolment {enrolment.pk}: {enrolment.status} → {to_status}",
    )
    enrolment.status = to_status


def _prepare(
    enrolment: Enrolment, *, user, to_status: str, date: datetime.date, version: int | None
) -> tuple[Enrolment, dict]:
    """Lock the enrolment and check the move; return it with its values before the move."""
    enrolment = _lock(enrolment)
    _ensure(may_write_enrolment(user, enrolment), _("You may not change this enrolment."))
    history.ensure_current(enrolment, version)
    _ensure_move(enrolment, to_status)
    _ensure_date(enrolment, date)
    return enrolment, history.snapshot(enrolment)


def _save_move(enrolment: Enrolment, *, user, before: dict, fields: Sequence[str]) -> None:
    enrolment.save(update_fields=list(fields))
    _record_change(enrolment, user=user, before=before, after=history.snapshot(enrolment))


@transaction.atomic
def enrolment_assess(
    *,
    user,
    enrolment: Enrolment,
    date: datetime.date,
    team: str,
    recommendation: str,
    notes: str = "",
    version: int | None = None,
) -> Assessment:
    """Record the assessment team's recommendation and move screened → assessed.

    Only an eligible screening (moderate or high risk on some substance) is assessed; low
    risk on every substance is education only. `version`, here and in every move, is the
    enrolment's as the user's form was loaded with: a move made meanwhile refuses this one.
    """
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.ASSESSED, date=date, version=version
    )
    if not enrolment_eligibility(enrolment).eligible:
        raise ValidationError(
            _(
                "Low risk on every substance: education only — not eligible for assessment. "
                "Close the enrolment as referred."
            ),
            code="not_eligible",
        )
    if not team.strip():
        raise ValidationError(_("Name the members of the assessment team."), code="team")
    if recommendation not in Assessment.Recommendation.values:
        raise ValidationError(_("Unknown recommendation."), code="recommendation")
    assessment = Assessment.objects.create(
        enrolment=enrolment,
        date=date,
        team=team.strip(),
        recommendation=recommendation,
        notes=notes.strip(),
        recorded_by=user,
    )
    history.record_create(assessment, user=user)
    _record(enrolment, user=user, to_status=Status.ASSESSED, date=date, reason=notes.strip())
    _save_move(enrolment, user=user, before=before, fields=["status"])
    return assessment


def _ensure_place(programme: Programme) -> None:
    """Capacity: enrolled and in-phase participants take the places. The caller holds the
    programme row lock, so two enrolments cannot both take the last place."""
    if programme.capacity is None:
        return
    active = Enrolment.objects.filter(
        programme=programme, status__in=Enrolment.ACTIVE_STATUSES
    ).count()
    if active >= programme.capacity:
        raise ValidationError(
            _("%(programme)s is full: all %(capacity)s places are taken.")
            % {"programme": programme, "capacity": programme.capacity},
            code="full",
        )


def _ensure_not_active_elsewhere(enrolment: Enrolment) -> None:
    """One active programme of a type per participant. The caller holds the participant row
    lock, so two enrolments of the same person cannot race past this check."""
    other = (
        Enrolment.objects.filter(
            participant_id=enrolment.participant_id,
            programme__kind=enrolment.programme.kind,
            status__in=Enrolment.ACTIVE_STATUSES,
        )
        .exclude(pk=enrolment.pk)
        .select_related("programme")
        .first()
    )
    if other is not None:
        raise ValidationError(
            _(
                "This participant is already active in %(programme)s, a programme of the same "
                "type (%(kind)s)."
            )
            % {"programme": other.programme, "kind": other.programme.get_kind_display().lower()},
            code="active_elsewhere",
        )


@transaction.atomic
def enrolment_enrol(
    *,
    user,
    enrolment: Enrolment,
    date: datetime.date,
    reason: str = "",
    version: int | None = None,
) -> Enrolment:
    """Give an assessed participant a place: assessed → enrolled.

    Refused when the assessment recommended no rehabilitation, when the programme is full,
    when the participant is active in another programme of the same type, or when the
    programme's agreement is no longer in force.
    """
    # Lock order everywhere: programme, then participant, then enrolment.
    Programme.objects.select_for_update().filter(pk=enrolment.programme_id).first()
    Participant.objects.select_for_update().filter(pk=enrolment.participant_id).first()
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.ENROLLED, date=date, version=version
    )
    assessment = enrolment.assessments.order_by("-date", "-pk").first()
    if assessment is None or assessment.recommendation == Assessment.Recommendation.NONE:
        raise ValidationError(
            _(
                "The assessment recommended no rehabilitation: the participant cannot be "
                "enrolled. Close the enrolment as referred."
            ),
            code="not_recommended",
        )
    ensure_programme_takes_participants(enrolment.programme)
    _ensure_place(enrolment.programme)
    _ensure_not_active_elsewhere(enrolment)
    _record(enrolment, user=user, to_status=Status.ENROLLED, date=date, reason=reason.strip())
    enrolment.enrolled_on = date
    _save_move(enrolment, user=user, before=before, fields=["status", "enrolled_on"])
    return enrolment


def _close_current_phase(enrolment: Enrolment, date: datetime.date) -> None:
    EnrolmentPhase.objects.filter(enrolment=enrolment, end_date__isnull=True).update(end_date=date)


def next_phase(enrolment: Enrolment) -> Phase | None:
    """The phase the enrolment would move to next: the first one when enrolled, the
    following one when in a phase, None when there is none."""
    phases = Phase.objects.filter(programme_id=enrolment.programme_id).order_by("order")
    if enrolment.status == Status.ENROLLED:
        return phases.first()
    if enrolment.status == Status.IN_PHASE and enrolment.current_phase is not None:
        return phases.filter(order__gt=enrolment.current_phase.order).first()
    return None


@transaction.atomic
def enrolment_next_phase(
    *,
    user,
    enrolment: Enrolment,
    date: datetime.date,
    reason: str = "",
    version: int | None = None,
) -> EnrolmentPhase:
    """Start the first phase (enrolled → in a phase) or move on to the next one; the phase
    left gets its end date, the phase started its start date."""
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.IN_PHASE, date=date, version=version
    )
    phase = next_phase(enrolment)
    if phase is None:
        if enrolment.status == Status.ENROLLED:
            raise ValidationError(_("This programme has no phases."), code="no_phases")
        raise ValidationError(
            _("This is the last phase: record the completion instead."), code="last_phase"
        )
    _close_current_phase(enrolment, date)
    made = EnrolmentPhase.objects.create(enrolment=enrolment, phase=phase, start_date=date)
    _record(
        enrolment,
        user=user,
        to_status=Status.IN_PHASE,
        date=date,
        # Without a note, the phase's own name (stored data, not a translated text).
        reason=reason.strip() or str(phase),
    )
    enrolment.current_phase = phase
    _save_move(enrolment, user=user, before=before, fields=["status", "current_phase"])
    return made


@transaction.atomic
def enrolment_complete(
    *,
    user,
    enrolment: Enrolment,
    date: datetime.date,
    recovered: bool,
    skilled: bool,
    independent: bool,
    reason: str = "",
    version: int | None = None,
) -> Enrolment:
    """Complete the programme from its last phase, with the outcome: recovered or not,
    skilled or not, independent or not (all three required)."""
    enrolment, before = _prepare(
        enrolment, user=user, to_status=Status.COMPLETED, date=date, version=version
    )
    if next_phase(enrolment) is not None:
        raise ValidationError(
            _(
                "The participant is not in the last phase yet (%(phase)s)."
                " Move on to the next phase first."
            )
            % {"phase": enrolment.current_phase},
            code="not_last_phase",
        )
    outcome = {"recovered": recovered, "skilled": skilled, "independent": independent}
    if any(not isinstance(value, bool) for value in outcome.values()):
        raise ValidationError(
            _("Record the whole outcome: recovered, skilled and independent, yes or no."),
            code="outcome",
        )
    _close_current_phase(enrolment, date)
    _record(enrolment, user=user, to_status=Status.COMPLETED, date=date, reason=reason.strip())
    enrolment.end_date = date
    enrolment.end_reason = reason.strip()
    enrolment.current_phase = None
    for name, value in outcome.items():
        setattr(enrolment, name, value)
    _save_move(
        enrolment,
        user=user,
        before=before,
        fields=[
            "status",
            "end_date",
            "end_reason",
            "current_phase",
            "recovered",
            "skilled",
            "independent",
        ],
    )
    return enrolment


@transaction.atomic
def enrolment_end(
    *,
    user,
    enrolment: Enrolment,
    to_status: str,
    date: datetime.date,
    reason: str,
    version: int | None = None,
) -> Enrolment:
    """End an enrolment before completion: dropped out, transferred, released before
    completion, or referred elsewhere (before enrolment, only referred). A reason is required.
    """
    if to_status not in ENDINGS:
        raise ValidationError(
            _("“%(target)s” is not a way to end an enrolment here.")
            % {"target": Status(to_status).label if to_status in Status.values else to_status},
            code="move_not_allowed",
        )
    enrolment, before = _prepare(
        enrolment, user=user, to_status=to_status, date=date, version=version
    )
    if not reason.strip():
        raise ValidationError(_("Say why the enrolment ends."), code="reason")
    _close_current_phase(enrolment, date)
    _record(enrolment, user=user, to_status=to_status, date=date, reason=reason.strip())
    enrolment.end_date = date
    enrolment.end_reason = reason.strip()
    enrolment.current_phase = None
    _save_move(
        enrolment,
        user=user,
        before=before,
        fields=["status", "end_date", "end_reason", "current_phase"],
    )
    return enrolment


def enrolment_move(
    *,
    user,
    enrolment: Enrolment,
    to_status: str,
    date: datetime.date,
    reason: str = "",
    outcome: Mapping[str, bool] | None = None,
    version: int | None = None,
) -> Enrolment:
    """Any move but the assessment (see `enrolment_assess`), by its target status.

    Completion takes `outcome` = {"recovered": …, "skilled": …, "independent": …}.
    """
    if to_status == Status.ENROLLED:
        return enrolment_enrol(
            user=user, enrolment=enrolment, date=date, reason=reason, version=version
        )
    if to_status == Status.IN_PHASE:
        return enrolment_next_phase(
            user=user, enrolment=enrolment, date=date, reason=reason, version=version
        ).enrolment
    if to_status == Status.COMPLETED:
        outcome = outcome or {}
        return enrolment_complete(
            user=user,
            enrolment=enrolment,
            date=date,
            reason=reason,
            recovered=outcome.get("recovered"),
            skilled=outcome.get("skilled"),
            independent=outcome.get("independent"),
            version=version,
        )
    if to_status == Status.ASSESSED:
        raise ValidationError(
            _("An assessment moves the enrolment to assessed: record the assessment."),
            code="use_assessment",
        )
    return enrolment_end(
        user=user,
        enrolment=enrolment,
        to_status=to_status,
        date=date,
        reason=reason,
        version=version,
    )


def active_count(programme: Programme) -> int:
    """How many places of the programme are taken (enrolled or in a phase)."""
    return Enrolment.objects.filter(
        programme=programme, status__in=Enrolment.ACTIVE_STATUSES
    ).count()


def visible_screenings_filter(user, participant: Participant, enrolment_ids: Iterable[int]) -> Q:
    """Screenings of `participant` that `user` may see: those of the enrolments the user sees,
    and unlinked ones only for the holding institution's staff."""
    visible = Q(enrolment_id__in=list(enrolment_ids))
    if access.has_role(user, participant.institution_id, access.PERSONAL_DATA_ROLES):
        visible |= Q(enrolment__isnull=True)
    return visible


# --- reading the history -------------------------------------------------------------------


def entries_of(model: type[models.Model], keys) -> Q:
    """Entries of `model`'s records whose ids (as text) are `keys`: a list or a subquery."""
    return Q(
        content_type__app_label=model._meta.app_label,
        content_type__model=model._meta.model_name,
        object_id__in=keys,
    )


def ids_as_keys(queryset: QuerySet) -> QuerySet:
    """The ids of `queryset` as text, as `History.object_id` holds them (one subquery)."""
    return queryset.order_by().annotate(history_key=Cast("pk", CharField())).values("history_key")


def _deleted(model: type[models.Model], field: str, pk: int) -> Q:
    """Delete entries of `model`'s records that pointed at `pk` through `field`: the records
    are gone, their last values tell whose they were."""
    return Q(
        content_type__app_label=model._meta.app_label,
        content_type__model=model._meta.model_name,
        action=Action.DELETE,
        **{f"changes__{field}__0": pk},
    )


def history_where(condition: Q) -> QuerySet[History]:
    """History entries matching `condition` (built with `entries_of`), newest first, with
    their users and kinds of record (one query)."""
    return (
        History.objects.filter(condition)
        .select_related("user", "content_type")
        .order_by("-at", "-pk")
    )


def programme_history(programme: Programme) -> QuerySet[History]:
    """The programme's entries and those of its phases (removed ones too), newest first. Shown
    to everyone who sees the programme: nothing of participants is in them."""
    return history_where(
        entries_of(Programme, [str(programme.pk)])
        | entries_of(Phase, ids_as_keys(Phase.objects.filter(programme=programme)))
        | _deleted(Phase, "programme_id", programme.pk)
    )


def participant_history(participant: Participant) -> QuerySet[History]:
    """The participant's entries (created, corrected, transferred, archived, restored) and
    those of their transfers. Personal data: for those who see the participant."""
    return history_where(
        entries_of(Participant, [str(participant.pk)])
        | entries_of(Transfer, ids_as_keys(Transfer.objects.filter(participant=participant)))
    )


#: The records kept with an enrolment, whose entries its page shows with its own.
ENROLMENT_RECORDS = (Assessment, Screening, ProgressNote, InstrumentScore, Attendance)


def enrolment_history(enrolment: Enrolment) -> QuerySet[History]:
    """The enrolment's entries (every move, the outcome) and those of its assessments,
    screenings, progress notes, instrument scores and attendance marks. Personal data: for
    those who see the enrolment."""
    condition = entries_of(Enrolment, [str(enrolment.pk)])
    for model in ENROLMENT_RECORDS:
        condition |= entries_of(model, ids_as_keys(model.objects.filter(enrolment=enrolment)))
        condition |= _deleted(model, "enrolment_id", enrolment.pk)
    return history_where(condition)
