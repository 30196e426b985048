"""Discussion meetings (pembahasan), their attendees and follow-up actions (tindak lanjut).

Meetings may be scheduled and recorded whatever the agreement's status: monitoring and
evaluation meetings happen after signing too. Every change needs an editor or administrator
of a party (`selectors.may_edit`); the views check it first, the functions here again.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Institution, Person

from .. import selectors
from ..models import Agreement, Attendee, FollowUp, Meeting

logger = logging.getLogger(__name__)


def _ensure_may_edit(user, agreement: Agreement) -> None:
    if not selectors.may_edit(user, agreement):
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


@transaction.atomic
def meeting_schedule(
    *,
    agreement: Agreement,
    user,
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
def meeting_update(*, meeting: Meeting, user, **changes) -> Meeting:
    """Change a meeting's schedule or record its minutes (notulen) and decisions."""
    _ensure_may_edit(user, meeting.agreement)
    unknown = set(changes) - set(MEETING_FIELDS)
    if unknown:
        raise TypeError(f"meeting_update() got unexpected fields: {', '.join(sorted(unknown))}")
    start_time = changes.get("start_time", meeting.start_time)
    end_time = changes.get("end_time", meeting.end_time)
    _validate_times(start_time, end_time)
    for field, value in changes.items():
        setattr(meeting, field, value.strip() if isinstance(value, str) else value)
    meeting.save(update_fields=[*changes])
    logger.info("Meeting %s changed by %s: %s", meeting.pk, user, ", ".join(changes))
    return meeting


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
    user,
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
    try:
        # A savepoint, so that losing a race to the unique constraint leaves the
        # transaction usable and turns into the same form error.
        with transaction.atomic():
            attendee = Attendee.objects.create(
                meeting=meeting, person=person, institution=institution, position=position
            )
    except IntegrityError:
        raise _attending_twice(person) from None
    logger.info("Attendee %s added to meeting %s by %s", attendee.pk, meeting.pk, user)
    return attendee


@transaction.atomic
def attendee_remove(*, attendee: Attendee, user) -> None:
    """Remove an attendee from a meeting; the person stays known."""
    _ensure_may_edit(user, attendee.meeting.agreement)
    logger.info("Attendee %s removed from meeting %s by %s", attendee.pk, attendee.meeting_id, user)
    attendee.delete()


def follow_up_owner_choices(meeting: Meeting) -> QuerySet[Institution]:
    """Institutions that may own a follow-up of `meeting`: the parties and the host."""
    return Institution.objects.filter(
        pk__in=[*selectors.party_institution_ids(meeting.agreement), meeting.host_id]
    ).order_by("name")


@transaction.atomic
def follow_up_create(
    *,
    meeting: Meeting,
    user,
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
    follow_up = FollowUp.objects.create(
        meeting=meeting, description=description, owner=owner, due_date=due_date
    )
    logger.info("Follow-up %s created at meeting %s by %s", follow_up.pk, meeting.pk, user)
    return follow_up


@transaction.atomic
def follow_up_mark_done(
    *, follow_up: FollowUp, user, done_on: datetime.date | None = None
) -> FollowUp:
    """Mark a follow-up as done, today unless `done_on` says otherwise."""
    _ensure_may_edit(user, follow_up.meeting.agreement)
    if follow_up.done_on is not None:
        raise ValidationError(_("This follow-up is already done."), code="already_done")
    follow_up.done_on = done_on or timezone.localdate()
    follow_up.save(update_fields=["done_on"])
    logger.info("Follow-up %s done by %s", follow_up.pk, user)
    return follow_up


@transaction.atomic
def follow_up_reopen(*, follow_up: FollowUp, user) -> FollowUp:
    """Open a follow-up again that was marked done by mistake or needs more work."""
    _ensure_may_edit(user, follow_up.meeting.agreement)
    if follow_up.done_on is None:
        raise ValidationError(_("This follow-up is still open."), code="already_open")
    follow_up.done_on = None
    follow_up.save(update_fields=["done_on"])
    logger.info("Follow-up %s reopened by %s", follow_up.pk, user)
    return follow_up


def open_follow_ups_for(user) -> QuerySet[FollowUp]:
    """Open follow-ups of the agreements of `user`'s institutions, the earliest due first.

    Overdue ones answer `is_overdue()`; the meeting, its agreement and the owner come along.
    """
    return (
        FollowUp.objects.filter(
            done_on__isnull=True,
            meeting__agreement__in=Agreement.objects.of_institutions(user),
        )
        .select_related("meeting__agreement", "owner")
        .order_by("due_date", "pk")
    )
