"""Discussion meetings (pembahasan), their attendees and follow-up actions (tindak lanjut).

Meetings may be scheduled and recorded whatever the agreement's status: monitoring and
evaluation meetings happen after signing too. Every change needs an editor or administrator
of a party (`access.may_edit`); the views check it first, the functions here again.

History: every function here records what it changed in `institutions.history`. Attendees and
follow-ups belong to their meeting and are recorded as changes of the meeting, under two more
"fields", `attendees` and `follow_ups`, each a list of lines before and after (see
`attendee_lines`, `follow_up_lines`), so that the meeting's history tells the whole story, the
removed attendees included. Only `meeting_update` raises the meeting's `version` and checks
the version the edit form was loaded with: adding an attendee or a follow-up changes nothing
that the edit form would overwrite.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions import history
from institutions.access import Account
from institutions.models import History, Institution, Person

from .. import access
from ..models import Agreement, Attendee, FollowUp, Meeting

logger = logging.getLogger(__name__)


def _ensure_may_edit(user: Account, agreement: Agreement) -> None:
    if not access.may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))


def _validate_times(start_time: datetime.time, end_time: datetime.time | None) -> None:
    if end_time is not None and end_time <= start_time:
        raise ValidationError(
            {
                "end_time": ValidationError(
                    _("The meeting must end after it starts. Leave it empty for “until finished”."),
                    code="ends_before_start",
                )
            }
        )


def attendee_lines(attendees: Iterable[Attendee]) -> list[str]:
    """Attendees as history lines: "name — institution — position" ("…" for none)."""
    return [f"{a.person.full_name} — {a.institution.name} — {a.position or '…'}" for a in attendees]


def follow_up_lines(follow_ups: Iterable[FollowUp]) -> list[str]:
    """Follow-ups as history lines: "action — responsible institution — due date [— ✓ done]"."""
    lines = []
    for f in follow_ups:
        line = f"{f.description} — {f.owner.name} — {f.due_date.isoformat()}"
        if f.done_on:
            line += f" — ✓ {f.done_on.isoformat()}"
        lines.append(line)
    return lines


def current_attendees(meeting: Meeting) -> list[str]:
    """The meeting's attendees as history lines, in a fixed order."""
    return attendee_lines(
        meeting.attendees.select_related("person", "institution").order_by(
            "institution__name", "person__full_name", "pk"
        )
    )


def current_follow_ups(meeting: Meeting) -> list[str]:
    """The meeting's follow-ups as history lines, in the order they were recorded."""
    return follow_up_lines(meeting.follow_ups.select_related("owner").order_by("pk"))


def _record_rows(
    meeting: Meeting, *, user: Account, name: str, before: list[str], after: list[str]
) -> None:
    """Record a change of the meeting's attendees or follow-ups (`name`) as a change of it."""
    history.record(
        meeting, user=user, action=History.Action.CHANGE, before={name: before}, after={name: after}
    )


@transaction.atomic
def meeting_schedule(
    *,
    agreement: Agreement,
    user: Account,
    date: datetime.date,
    start_time: datetime.time,
    end_time: datetime.time | None,
    venue: str,
    host: Institution,
    agenda: str = "",
) -> Meeting:
    """Schedule a discussion meeting for `agreement`; `end_time` None means until finished."""
    _ensure_may_edit(user, agreement)
    _validate_times(start_time, end_time)
    meeting = Meeting.objects.create(
        agreement=agreement,
        date=date,
        start_time=start_time,
        end_time=end_time,
        venue=venue.strip(),
        host=host,
        agenda=agenda.strip(),
    )
    history.record_create(meeting, user=user)
    logger.info("Meeting %s scheduled for agreement %s by %s", meeting.pk, agreement.pk, user)
    return meeting


#: Fields of a meeting that `meeting_update` may change.
MEETING_FIELDS = (
    "date",
    "start_time",
    "end_time",
    "venue",
    "host",
    "agenda",
    "minutes",
    "decisions",
)


@transaction.atomic
def meeting_update(
    *, meeting: Meeting, user: Account, version: int | None = None, **changes: Any
) -> Meeting:
    """Change a meeting's schedule or record its minutes (notulen) and decisions.

    `version` is the version the user's form was loaded with: if someone saved the meeting
    since, the change is refused (ValidationError, code "stale") and nothing is saved. The
    meeting passed in gets the saved values too.
    """
    _ensure_may_edit(user, meeting.agreement)
    unknown = set(changes) - set(MEETING_FIELDS)
    if unknown:
        raise TypeError(f"meeting_update() got unexpected fields: {', '.join(sorted(unknown))}")
    locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
    history.ensure_current(locked, version)
    start_time = changes.get("start_time", locked.start_time)
    end_time = changes.get("end_time", locked.end_time)
    _validate_times(start_time, end_time)
    before = history.snapshot(locked)
    for field, value in changes.items():
        setattr(locked, field, value.strip() if isinstance(value, str) else value)
    if history.snapshot(locked) == before:
        return locked
    history.bump_version(locked)
    locked.save(update_fields=[*changes])
    history.record_change(locked, user=user, before=before)
    for field in [*changes, "version"]:
        setattr(meeting, field, getattr(locked, field))
    logger.info("Meeting %s changed by %s: %s", locked.pk, user, ", ".join(changes))
    return locked


def _nip_known() -> ValidationError:
    return ValidationError(
        {
            "new_nip": ValidationError(
                _("A person with this NIP is already known: choose them from the list."),
                code="nip_known",
            )
        }
    )


def _attending_twice(person: Person) -> ValidationError:
    return ValidationError(
        {
            "person": ValidationError(
                _("%(name)s is already recorded as attending this meeting."),
                code="attendee_twice",
                params={"name": person.full_name},
            )
        }
    )


@transaction.atomic
def attendee_add(
    *,
    meeting: Meeting,
    user: Account,
    institution: Institution,
    person: Person | None = None,
    new_full_name: str = "",
    new_nip: str = "",
    new_email: str = "",
    position: str = "",
) -> Attendee:
    """Record that someone attended `meeting` for `institution`.

    Either `person` is a known Person, or a new one is created from `new_full_name` (with an
    optional NIP and e-mail). When `position` is empty and the person's positions are
    recorded, the position held on the meeting's day at that institution is used.
    """
    _ensure_may_edit(user, meeting.agreement)
    if (person is None) == (not new_full_name.strip()):
        raise ValidationError(
            _("Choose a known person or enter the name of a new one, not both."),
            code="person_choice",
        )
    if person is None:
        new_nip = new_nip.strip()
        if new_nip and Person.objects.filter(nip=new_nip).exists():
            raise _nip_known()
        try:
            with transaction.atomic():
                person = Person.objects.create(
                    full_name=new_full_name.strip(), nip=new_nip, email=new_email.strip()
                )
        except IntegrityError:  # the same NIP saved meanwhile
            raise _nip_known() from None
    elif meeting.attendees.filter(person=person).exists():
        raise _attending_twice(person)
    position = position.strip()
    if not position:
        held = person.position_on(meeting.date)
        if held is not None and held.institution_id == institution.pk:
            position = held.title
    before = current_attendees(meeting)
    try:
        # A savepoint, so that losing a race to the unique constraint leaves the
        # transaction usable and turns into the same form error.
        with transaction.atomic():
            attendee = Attendee.objects.create(
                meeting=meeting, person=person, institution=institution, position=position
            )
    except IntegrityError:
        raise _attending_twice(person) from None
    _record_rows(
        meeting, user=user, name="attendees", before=before, after=current_attendees(meeting)
    )
    logger.info("Attendee %s added to meeting %s by %s", attendee.pk, meeting.pk, user)
    return attendee


@transaction.atomic
def attendee_remove(*, attendee: Attendee, user: Account) -> None:
    """Remove an attendee from a meeting; the person stays known."""
    _ensure_may_edit(user, attendee.meeting.agreement)
    meeting = attendee.meeting
    before = current_attendees(meeting)
    logger.info("Attendee %s removed from meeting %s by %s", attendee.pk, attendee.meeting_id, user)
    attendee.delete()
    _record_rows(
        meeting, user=user, name="attendees", before=before, after=current_attendees(meeting)
    )


def follow_up_owner_choices(meeting: Meeting) -> QuerySet[Institution]:
    """Institutions that may own a follow-up of `meeting`: the parties and the host."""
    return Institution.objects.filter(
        pk__in=[*access.party_institution_ids(meeting.agreement), meeting.host_id]
    ).order_by("name")


@transaction.atomic
def follow_up_create(
    *,
    meeting: Meeting,
    user: Account,
    description: str,
    owner: Institution,
    due_date: datetime.date,
) -> FollowUp:
    """Record a follow-up action (tindak lanjut) decided at `meeting`, owned by `owner`."""
    _ensure_may_edit(user, meeting.agreement)
    description = description.strip()
    if not description:
        raise ValidationError(
            {"description": ValidationError(_("Describe the action."), code="required")}
        )
    if not follow_up_owner_choices(meeting).filter(pk=owner.pk).exists():
        raise ValidationError(
            {
                "owner": ValidationError(
                    _("The responsible institution must be a party or the meeting's host."),
                    code="owner",
                )
            }
        )
    if due_date < meeting.date:
        raise ValidationError(
            {
                "due_date": ValidationError(
                    _("The due date cannot be before the meeting."), code="due_before"
                )
            }
        )
    before = current_follow_ups(meeting)
    follow_up = FollowUp.objects.create(
        meeting=meeting, description=description, owner=owner, due_date=due_date
    )
    _record_rows(
        meeting, user=user, name="follow_ups", before=before, after=current_follow_ups(meeting)
    )
    logger.info("Follow-up %s created at meeting %s by %s", follow_up.pk, meeting.pk, user)
    return follow_up


@transaction.atomic
def follow_up_mark_done(
    *, follow_up: FollowUp, user: Account, done_on: datetime.date | None = None
) -> FollowUp:
    """Mark a follow-up as done, today unless `done_on` says otherwise."""
    _ensure_may_edit(user, follow_up.meeting.agreement)
    if follow_up.done_on is not None:
        raise ValidationError(_("This follow-up is already done."), code="already_done")
    before = current_follow_ups(follow_up.meeting)
    follow_up.done_on = done_on or timezone.localdate()
    follow_up.save(update_fields=["done_on"])
    _record_rows(
        follow_up.meeting,
        user=user,
        name="follow_ups",
        before=before,
        after=current_follow_ups(follow_up.meeting),
    )
    logger.info("Follow-up %s done by %s", follow_up.pk, user)
    return follow_up


@transaction.atomic
def follow_up_reopen(*, follow_up: FollowUp, user: Account) -> FollowUp:
    """Open a follow-up again that was marked done by mistake or needs more work."""
    _ensure_may_edit(user, follow_up.meeting.agreement)
    if follow_up.done_on is None:
        raise ValidationError(_("This follow-up is still open."), code="already_open")
    before = current_follow_ups(follow_up.meeting)
    follow_up.done_on = None
    follow_up.save(update_fields=["done_on"])
    _record_rows(
        follow_up.meeting,
        user=user,
        name="follow_ups",
        before=before,
        after=current_follow_ups(follow_up.meeting),
    )
    logger.info("Follow-up %s reopened by %s", follow_up.pk, user)
    return follow_up


def open_follow_ups_for(user: Account) -> QuerySet[FollowUp]:
    """Open follow-ups of the agreements of `user`'s institutions, the earliest due first.

    Overdue ones answer `is_overdue()`; the meeting, its agreement and the owner come along.
    """
    return (
        access.open_follow_ups(user)
        .select_related("meeting__agreement", "owner")
        .order_by("due_date", "pk")
    )
