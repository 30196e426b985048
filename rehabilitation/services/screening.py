"""ASSIST screenings: the intake screening that starts an enrolment, and the later screenings
that follow the participant's progress, with their scores (the bands come from `assist`).

Every change is written to the history (the scores with the screening) and to the
personal-data access log.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from institutions import history
from institutions.access import Account
from institutions.models import History

from .. import access, assist
from ..models import (
    AccessLog,
    Enrolment,
    EnrolmentEvent,
    Participant,
    Programme,
    Screening,
    ScreeningScore,
)
from ..selectors import programme_serves
from .audit import record_access
from .common import (
    day_text,
    ensure,
    ensure_not_future,
    ensure_programme_takes_participants,
    lock_enrolment,
)

Status = Enrolment.Status
Action = History.Action


def _record_screening(screening: Screening, *, user: Account, scores: Mapping[str, int]) -> None:
    after = {**history.snapshot(screening), "scores": dict(sorted(scores.items()))}
    history.record(screening, user=user, action=Action.CREATE, after=after)


def _clean_scores(scores: Mapping[str, object]) -> dict[str, int]:
    # Checked as untrusted input: a form or a caller may pass "" or a non-number.
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
    user: Account,
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


@transaction.atomic
def enrolment_screen(
    *,
    user: Account,
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
    ensure(
        access.may_screen(user, participant, programme),
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
    ensure_not_future(date, _("a screening"))
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
    user: Account,
    enrolment: Enrolment,
    date: datetime.date,
    scores: Mapping[str, int | None],
    notes: str = "",
) -> Screening:
    """A later ASSIST screening of an enrolled participant (progress over time); the
    enrolment's status does not change."""
    enrolment = lock_enrolment(enrolment)
    ensure(access.may_write_enrolment(user, enrolment), _("You may not change this enrolment."))
    ensure_not_future(date, _("a screening"))
    if date < enrolment.start_date:
        raise ValidationError(
            _("A screening cannot be dated before the intake (%(date)s).")
            % {"date": day_text(enrolment.start_date)},
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
