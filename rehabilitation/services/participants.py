"""Participants: registering a detainee or prisoner, correcting the record, transferring them
to another institution (at once, or by a request that the receiving institution accepts or
refuses), archiving and restoring the record.

Every change is one function here: keyword-only, in a transaction, validated, written to the
history and to the personal-data access log. Edits take the `version` the user's form was
loaded with: a record changed meanwhile refuses the edit (code "stale").
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions import history
from institutions.models import History, Institution

from .. import access, assist
from ..models import AccessLog, Enrolment, Participant, Transfer, TransferRequest
from .audit import record_access
from .common import day_text, ensure, ensure_not_future, record_change
from .enrolment import enrolment_end

Status = Enrolment.Status
Action = History.Action

#: Institution kinds that hold detainees and prisoners.
HOLDING_KINDS = (Institution.Kind.RUTAN, Institution.Kind.LAPAS, Institution.Kind.LPKA)

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
    ensure(
        access.may_register_participant_at(user, institution),
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
    ensure(
        access.may_write_participant(user, participant),
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
    record_change(participant, user=user, before=before, after=history.snapshot(participant))
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail="edited: " + (", ".join(changed) or "nothing"),
    )
    return participant


def _lock_participant(participant: Participant) -> Participant:
    return (
        Participant.objects.select_for_update(of=("self",))
        .select_related("institution")
        .get(pk=participant.pk)
    )


def _ensure_no_pending_request(participant: Participant) -> None:
    pending = (
        participant.transfer_requests.filter(state=TransferRequest.State.PENDING)
        .select_related("to_institution")
        .first()
    )
    if pending is not None:
        raise ValidationError(
            _("A transfer request to %(institution)s is pending: cancel it first.")
            % {"institution": pending.to_institution},
            code="pending_request",
        )


def _checked_transfer(
    participant: Participant, *, to_institution: Institution, date: datetime.date, number: str
) -> str:
    """Refuse a transfer that cannot be made, from what the sender knows (the participant
    and their transfers), never from the receiving institution's records; the register
    number, stripped."""
    if to_institution.pk == participant.institution_id:
        raise ValidationError(
            _("The participant is already held at %(institution)s.")
            % {"institution": to_institution},
            code="same_institution",
        )
    ensure_not_future(date, _("a transfer"))
    last = participant.transfers.order_by("-date").first()
    if last is not None and date < last.date:
        raise ValidationError(
            _("The transfer cannot be dated before the previous one (%(date)s).")
            % {"date": day_text(last.date)},
            code="date_order",
        )
    number = number.strip()
    if not number:
        raise ValidationError(
            _("Give the register number at the new institution."), code="register_number"
        )
    return number


def _move(
    participant: Participant,
    *,
    user,
    to_institution: Institution,
    date: datetime.date,
    register_number: str,
    reason: str,
    end_enrolments: bool,
    closed_by,
) -> Transfer:
    """Make the transfer of a locked, checked participant: the one way a participant changes
    institution, for an immediate transfer and for an accepted request alike. `user` may see
    the receiving institution's participants; `closed_by` ends the enrolments that do not
    follow (the sender, who asked for it)."""
    before = history.snapshot(participant)
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
            enrolment_end(
                user=closed_by, enrolment=enrolment, to_status=ending, date=date, reason=why
            )
    participant.institution = to_institution
    participant.register_number = register_number
    _save_participant(participant)
    record_change(participant, user=user, before=before, after=history.snapshot(participant))
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail=f"transferred from institution {source.pk}",
    )
    return transfer


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
    """Move a participant at once to another institution where `user` may see personal data,
    where they get `register_number` (elsewhere: `transfer_request_create`).

    The Transfer row keeps the history (from, to, date, reason, who). With `end_enrolments`,
    the participant's open enrolments in programmes that do not run at the new institution
    are closed on `date`: active ones as transferred, those not yet enrolled as referred.
    `version` is the participant's, as the user's form was loaded with.
    """
    participant = _lock_participant(participant)
    ensure(
        access.may_transfer_participant(user, participant),
        _("Only programme staff and administrators of %(institution)s may transfer this person.")
        % {"institution": participant.institution},
    )
    # Before anything reads the receiving institution's records: an answer about them (a
    # register number taken there) is for those who may see them.
    ensure(
        access.may_transfer_immediately(user, to_institution),
        _(
            "You do not work with the participants of %(institution)s: send a transfer request, "
            "which its staff accept or refuse."
        )
        % {"institution": to_institution},
    )
    history.ensure_current(participant, version)
    _ensure_no_pending_request(participant)
    number = _checked_transfer(
        participant, to_institution=to_institution, date=date, number=register_number
    )
    return _move(
        participant,
        user=user,
        to_institution=to_institution,
        date=date,
        register_number=number,
        reason=reason,
        end_enrolments=end_enrolments,
        closed_by=user,
    )


# --- transfer requests ---------------------------------------------------------------------


@transaction.atomic
def transfer_request_create(
    *,
    participant: Participant,
    user,
    to_institution: Institution,
    date: datetime.date,
    register_number: str,
    reason: str,
    end_enrolments: bool = False,
    version: int | None = None,
) -> TransferRequest:
    """Ask `to_institution` to take a participant (the transfer where the sender may not see
    the receiving institution's participants). The participant stays where they are until
    the receiving institution's staff accept (`transfer_request_accept`).

    Nothing here reads the receiving institution's records: the answer, its timing and what
    it writes are the same whoever is held there.
    """
    participant = _lock_participant(participant)
    ensure(
        access.may_transfer_participant(user, participant),
        _("Only programme staff and administrators of %(institution)s may transfer this person.")
        % {"institution": participant.institution},
    )
    history.ensure_current(participant, version)
    _ensure_no_pending_request(participant)
    number = _checked_transfer(
        participant, to_institution=to_institution, date=date, number=register_number
    )
    if not reason.strip():
        raise ValidationError(
            _("Say why the participant is transferred: the receiving staff decide on it."),
            code="reason",
        )
    request = TransferRequest.objects.create(
        participant=participant,
        from_institution=participant.institution,
        to_institution=to_institution,
        register_number=number,
        date=date,
        reason=reason.strip(),
        end_enrolments=end_enrolments,
        requested_by=user,
    )
    history.record_create(request, user=user)
    record_access(
        user=user,
        participant=participant,
        action=AccessLog.Action.CHANGE,
        detail=f"transfer requested to institution {to_institution.pk}",
    )
    return request


def _lock_request(request: TransferRequest) -> TransferRequest:
    request = (
        TransferRequest.objects.select_for_update(of=("self",))
        .select_related("from_institution", "to_institution", "requested_by")
        .get(pk=request.pk)
    )
    if not request.is_pending:
        raise ValidationError(
            _("This request is already %(state)s.") % {"state": request.get_state_display()},
            code="not_pending",
        )
    return request


def _decide(
    request: TransferRequest, *, user, state: str, note: str, transfer: Transfer | None = None
) -> TransferRequest:
    before = history.snapshot(request)
    request.state = state
    request.decided_by = user
    request.decided_at = timezone.now()
    request.decision_note = note.strip()
    request.transfer = transfer
    request.save()
    history.record(
        request, user=user, action=Action.CHANGE, before=before, after=history.snapshot(request)
    )
    return request


@transaction.atomic
def transfer_request_accept(
    *,
    request: TransferRequest,
    user,
    date: datetime.date,
    register_number: str,
    note: str = "",
) -> Transfer:
    """Accept a pending request: the participant moves to the receiving institution through
    the same transfer as an immediate one, on `date`, with `register_number` there. Only
    its programme staff and administrators accept; a number already taken there is refused
    (to them, who may see it), and the request stays pending."""
    ensure(
        access.may_decide_transfer_request(user, request),
        _("Only the receiving institution accepts or refuses a request."),
    )
    request = _lock_request(request)
    participant = _lock_participant(request.participant)
    if participant.institution_id != request.from_institution_id:
        raise ValidationError(
            _("The participant is no longer held at %(institution)s: refuse the request.")
            % {"institution": request.from_institution},
            code="moved",
        )
    sender = request.requested_by
    if request.end_enrolments and not (
        sender is not None and access.may_transfer_participant(sender, participant)
    ):
        raise ValidationError(
            _(
                "The sender of this request no longer works with the participants of "
                "%(institution)s: refuse it, and %(institution)s may send it again."
            )
            % {"institution": request.from_institution},
            code="sender_left",
        )
    number = _checked_transfer(
        participant, to_institution=request.to_institution, date=date, number=register_number
    )
    transfer = _move(
        participant,
        user=user,
        to_institution=request.to_institution,
        date=date,
        register_number=number,
        reason=request.reason,
        end_enrolments=request.end_enrolments,
        closed_by=sender,
    )
    _decide(request, user=user, state=TransferRequest.State.ACCEPTED, note=note, transfer=transfer)
    return transfer


@transaction.atomic
def transfer_request_refuse(*, request: TransferRequest, user, note: str) -> TransferRequest:
    """Refuse a pending request, saying why in `note`: the sender sees that it was refused,
    with the note and nothing else. The participant stays where they are."""
    ensure(
        access.may_decide_transfer_request(user, request),
        _("Only the receiving institution accepts or refuses a request."),
    )
    request = _lock_request(request)
    if not note.strip():
        raise ValidationError(
            _("Say why the request is refused: the sending institution reads it."),
            code="decision_note",
        )
    return _decide(request, user=user, state=TransferRequest.State.REFUSED, note=note)


@transaction.atomic
def transfer_request_cancel(*, request: TransferRequest, user, note: str = "") -> TransferRequest:
    """Withdraw a pending request (the sending institution's programme staff and
    administrators)."""
    ensure(
        access.may_cancel_transfer_request(user, request),
        _("Only the sending institution cancels a request."),
    )
    request = _lock_request(request)
    return _decide(request, user=user, state=TransferRequest.State.CANCELLED, note=note)


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


def _set_archived(
    *, participant: Participant, user, archive: bool, version: int | None
) -> Participant:
    participant = _lock_participant(participant)
    ensure(
        access.may_archive_participant(user, participant),
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
