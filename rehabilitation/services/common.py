"""What the services of programmes, participants, screening and enrolments share: refusing a
user without the right, refusing a date in the future, writing a change to the history, and
whether a programme's agreement is in force.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from agreements.models import Agreement
from institutions import history
from institutions.access import Account
from institutions.models import History, Institution

from ..models import Enrolment, Programme

#: Agreement statuses under which a programme may be created and take new participants.
AGREEMENT_IN_FORCE = (Agreement.Status.SIGNED, Agreement.Status.ACTIVE, Agreement.Status.EXPIRING)


# --- refusals ------------------------------------------------------------------------------


def ensure(allowed: bool, message: str) -> None:
    """Refuse (PermissionDenied with `message`) unless the user is `allowed`."""
    if not allowed:
        raise PermissionDenied(message)


# --- dates ---------------------------------------------------------------------------------


def ensure_not_future(day: datetime.date, what: str) -> None:
    """Refuse a date of `what` (e.g. "a move") after today."""
    if day > timezone.localdate():
        raise ValidationError(
            _("The date of %(what)s cannot be in the future.") % {"what": what}, code="future"
        )


def day_text(day: datetime.date) -> str:
    """A date as the refusals show it ("3 Maret 2026")."""
    return date_format(day, "j F Y")


# --- history -------------------------------------------------------------------------------


def record_change(obj: models.Model, *, user: Account, before: dict, after: dict) -> None:
    """After a saved change of a versioned record: raise its version and write the history
    entry (values before and after). A save that changed nothing does neither."""
    if not history.differs(before, after):
        return
    after["version"] = history.bump_version(obj)
    history.record(obj, user=user, action=History.Action.CHANGE, before=before, after=after)


# --- agreements in force ------------------------------------------------------------------


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


# --- locks ---------------------------------------------------------------------------------


def lock_enrolment(enrolment: Enrolment) -> Enrolment:
    """The enrolment, read again with its row locked, with what a move checks."""
    return (
        Enrolment.objects.select_for_update(of=("self",))
        .select_related("participant", "programme__agreement", "current_phase")
        .get(pk=enrolment.pk)
    )
