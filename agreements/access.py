"""Who may see and change agreements, meetings, follow-ups, signing events and calendar feeds.

The one place of the agreements app that answers it, built on `institutions.access`; views,
forms, the admin, exports, feeds and the staff home ask here. The rules:

- Signed agreements are public; every agreement is seen by the staff of its parties
  (`visible_agreements`). The staff pages show only the parties' agreements
  (`party_agreements`), and changing one needs the editor or administrator role at a party
  (`may_edit`).
- A meeting is seen by the staff of its agreement's parties and of its host institution
  (`visible_meetings`); changing it, its attendees and follow-ups follows its agreement.
- A calendar feed belongs to one person at one institution: it works while they hold a role
  there with an active account, and lists what they may see at each request (`get_live_feed`,
  `feed_meetings`); otherwise it answers 404, as an unknown token.
- Superusers see and may change everything. Everyone else gets 404 for what they may not see
  (the `get_*_for_user` functions), as if it did not exist, and 403 for a change they may not
  make to what they may see.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from institutions import access
from institutions.access import User
from institutions.models import Institution

from .models import (
    Agreement,
    AgreementQuerySet,
    Article,
    Attendee,
    CalendarFeed,
    FollowUp,
    Meeting,
    Notice,
    Party,
    SignedScan,
    SigningEvent,
    StatusChange,
)

# --- agreements -----------------------------------------------------------------------------
#
# Every rule below is a `pk IN (subquery over an indexed column)`, never a join across parties
# with DISTINCT: a join multiplies the rows by the number of parties, and DISTINCT then sorts the
# whole table before a page of 25 can be cut from it. The subqueries read `Party(institution,
# agreement)`, which an index serves.


def _agreement_ids_of(institution_ids: Iterable[int]) -> QuerySet:
    """Ids of the agreements to which one of `institution_ids` is a party (a subquery)."""
    return Party.objects.filter(institution_id__in=institution_ids).values("agreement_id")


def party_institution_ids(agreement: Agreement) -> set[int]:
    """Ids of the institutions that are parties, from the prefetch if there is one."""
    return {party.institution_id for party in agreement.parties.all()}


def visible_agreements(user: User, queryset: AgreementQuerySet | None = None) -> AgreementQuerySet:
    """Public agreements, plus every agreement of an institution where `user` is staff: what
    the public registry, its detail page and the PDF show."""
    queryset = Agreement.objects.all() if queryset is None else queryset
    if access.is_superuser(user):
        return queryset
    ids = access.institution_ids(user)
    if not ids:
        return queryset.public()
    return queryset.filter(
        Q(status__in=Agreement.PUBLIC_STATUSES) | Q(pk__in=_agreement_ids_of(ids))
    )


def party_agreements(user: User, queryset: AgreementQuerySet | None = None) -> AgreementQuerySet:
    """Agreements to which an institution of `user` is a party (all of them for superusers):
    what the staff pages, exports, the staff home and the admin show."""
    queryset = Agreement.objects.all() if queryset is None else queryset
    if access.is_superuser(user):
        return queryset
    return queryset.filter(pk__in=_agreement_ids_of(access.institution_ids(user)))


def editable_agreements(user: User, queryset: AgreementQuerySet | None = None) -> AgreementQuerySet:
    """Agreements that `user` may change: those of a party where `user` is an editor or
    administrator (all of them for superusers)."""
    queryset = Agreement.objects.all() if queryset is None else queryset
    if access.is_superuser(user):
        return queryset
    return queryset.filter(
        pk__in=_agreement_ids_of(access.institution_ids(user, access.EDIT_ROLES))
    )


def is_party_staff(user: User, agreement: Agreement) -> bool:
    """Whether `user` holds any role at a party (superusers always do)."""
    return access.is_superuser(user) or bool(
        party_institution_ids(agreement) & access.institution_ids(user)
    )


def may_edit(user: User, agreement: Agreement) -> bool:
    """Whether `user` may change the agreement's records: an editor or administrator of a
    party. Whether the agreement itself still allows changes is the services' concern."""
    return access.is_superuser(user) or bool(
        party_institution_ids(agreement) & access.institution_ids(user, access.EDIT_ROLES)
    )


def ensure_may_edit(user: User, agreement: Agreement) -> None:
    """403 unless `user` may change the agreement's records (`may_edit`)."""
    if not may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))


def ensure_editor_somewhere(user: User) -> None:
    """Starting agreements and recording signings is for editors and administrators."""
    if not access.is_editor_somewhere(user):
        raise PermissionDenied(_("Only editors and administrators of an institution may do this."))


def get_visible_agreement(
    user: User, pk: int, queryset: AgreementQuerySet | None = None
) -> Agreement:
    """The agreement `pk` if `user` may see it (`visible_agreements`); 404 otherwise."""
    return get_object_or_404(visible_agreements(user, queryset), pk=pk)


def get_agreement_for_user(
    user: User, pk: int, *, write: bool = False, queryset: AgreementQuerySet | None = None
) -> tuple[Agreement, bool]:
    """The agreement `pk` as `user` may see it on the staff pages, and whether they may change
    it.

    404 unless `user` is staff of a party (or a superuser); with `write`, 403 unless an editor
    or administrator of a party.
    """
    try:
        agreement = party_agreements(user, queryset).get(pk=pk)
    except Agreement.DoesNotExist:
        raise Http404(_("No such agreement.")) from None
    writable = may_edit(user, agreement)
    if write and not writable:
        raise PermissionDenied(_("You may view this agreement but not change it."))
    return agreement, writable


def visible_scans(user: User) -> QuerySet[SignedScan]:
    """Signed scans of the agreements of `user`'s institutions (downloads are for parties)."""
    return SignedScan.objects.filter(agreement__in=party_agreements(user))


# --- meetings and follow-ups ----------------------------------------------------------------


def visible_meetings(user: User) -> QuerySet[Meeting]:
    """Meetings of agreements to which an institution of `user` is a party, and meetings an
    institution of `user` hosts (they are in its calendar feed); all for superusers."""
    if access.is_superuser(user):
        return Meeting.objects.all()
    ids = access.institution_ids(user)
    return Meeting.objects.filter(Q(agreement_id__in=_agreement_ids_of(ids)) | Q(host_id__in=ids))


def party_meetings(user: User) -> QuerySet[Meeting]:
    """Meetings of the agreements of `user`'s institutions (the staff home's list)."""
    if access.is_superuser(user):
        return Meeting.objects.all()
    return Meeting.objects.filter(agreement_id__in=_agreement_ids_of(access.institution_ids(user)))


def open_follow_ups(user: User) -> QuerySet[FollowUp]:
    """Open follow-ups of the agreements of `user`'s institutions."""
    follow_ups = FollowUp.objects.filter(done_on__isnull=True)
    if access.is_superuser(user):
        return follow_ups
    return follow_ups.filter(
        meeting__agreement_id__in=_agreement_ids_of(access.institution_ids(user))
    )


def get_meeting_for_user(user: User, pk: int, *, write: bool = False) -> tuple[Meeting, bool]:
    """The meeting `pk` as `user` may see it, with its agreement, host and parties, and
    whether they may change it (as its agreement): 404 for outsiders, 403 for a change by a
    viewer (with `write`)."""
    meeting = get_object_or_404(
        visible_meetings(user)
        .select_related("agreement", "host")
        .prefetch_related("agreement__parties"),
        pk=pk,
    )
    writable = may_edit(user, meeting.agreement)
    if write and not writable:
        raise PermissionDenied(_("You may view this agreement but not change it."))
    return meeting, writable


def get_attendee_for_user(user: User, pk: int) -> Attendee:
    """The attendee `pk` for a change: 404 unless its meeting is visible to `user`, 403 unless
    `user` may change the meeting's agreement."""
    attendee = get_object_or_404(
        Attendee.objects.filter(meeting__in=visible_meetings(user))
        .select_related("meeting__agreement", "person")
        .prefetch_related("meeting__agreement__parties"),
        pk=pk,
    )
    ensure_may_edit(user, attendee.meeting.agreement)
    return attendee


def get_follow_up_for_user(user: User, pk: int) -> FollowUp:
    """The follow-up `pk` for a change: 404 unless its meeting is visible to `user`, 403
    unless `user` may change the meeting's agreement."""
    follow_up = get_object_or_404(
        FollowUp.objects.filter(meeting__in=visible_meetings(user))
        .select_related("meeting__agreement")
        .prefetch_related("meeting__agreement__parties"),
        pk=pk,
    )
    ensure_may_edit(user, follow_up.meeting.agreement)
    return follow_up


# --- signing events -------------------------------------------------------------------------


def get_signing_event_for_user(user: User, pk: int) -> tuple[SigningEvent, AgreementQuerySet]:
    """The signing event `pk` if an agreement of `user`'s institutions was signed in it (404
    otherwise), with the agreements signed in it that `user` may see."""
    visible = party_agreements(user)
    event = get_object_or_404(
        SigningEvent.objects.select_related("host").filter(
            pk__in=visible.values("signing_event_id")
        ),
        pk=pk,
    )
    return event, visible.filter(signing_event=event)


# --- calendar feeds -------------------------------------------------------------------------


def feed_institutions(user: User) -> QuerySet[Institution]:
    """The institutions of which `user` may have a calendar feed on their calendar page:
    those where they hold a role (superusers too: the page is about one's own institutions)."""
    return access.member_institutions(user)


def may_have_feed(user: User, institution_id: int) -> bool:
    """Whether `user` may have (and keep) a feed of the institution: they hold a role there,
    with an active account (superusers always may). Every role sees the institution's
    meetings and signings, so any role justifies a feed and the last one ends it."""
    return access.has_role(user, institution_id)


def ensure_may_have_feed(user: User, institution_id: int) -> None:
    """404 unless `user` may have a feed of the institution (its existence is not revealed)."""
    if not may_have_feed(user, institution_id):
        raise Http404(_("No such institution."))


def get_feed_institution_for_user(user: User, pk: int) -> Institution:
    """The institution `pk` for `user`'s own feed of it: 404 unless they may have one."""
    ensure_may_have_feed(user, pk)
    return get_object_or_404(Institution, pk=pk)


def get_live_feed(token: str) -> CalendarFeed:
    """The feed with `token` while it is justified: its owner is active and still holds a
    role at its institution, asked now, whatever removed the role. 404 otherwise, as for an
    unknown token, so that a revoked address looks like one that never was."""
    feed = CalendarFeed.objects.select_related("user", "institution").filter(token=token).first()
    if feed is None or not may_have_feed(feed.user, feed.institution_id):
        raise Http404(_("No such calendar."))
    return feed


def feed_meetings(feed: CalendarFeed) -> QuerySet[Meeting]:
    """What a feed shows of meetings: those of its institution's agreements and those it
    hosts, of which its owner may see now (`visible_meetings`: a draft's meetings only for
    the staff of its parties and host)."""
    return visible_meetings(feed.user).filter(
        Q(agreement_id__in=_agreement_ids_of([feed.institution_id]))
        | Q(host_id=feed.institution_id)
    )


def feed_signing_events(feed: CalendarFeed) -> QuerySet[SigningEvent]:
    """What a feed shows of signing events: those its institution hosts and those in which
    one of its agreements was signed (the owner holds a role there: `get_live_feed`)."""
    signed_here = Agreement.objects.filter(
        pk__in=_agreement_ids_of([feed.institution_id]), signing_event__isnull=False
    ).values("signing_event_id")
    return SigningEvent.objects.filter(Q(host_id=feed.institution_id) | Q(pk__in=signed_here))


def feed_names_agreement(feed: CalendarFeed, signing: SigningEvent, *, is_party: bool) -> bool:
    """Whether a feed names an agreement signed in `signing`: one of its institution's, or
    any when its institution hosts the ceremony (and so knows what is signed there)."""
    return is_party or signing.host_id == feed.institution_id


# --- notices -------------------------------------------------------------------------------


def agreement_audience(agreement: Agreement) -> list[int]:
    """The institutions whose staff are told about an agreement (its expiry): the parties."""
    return [party.institution_id for party in agreement.parties.all()]


def follow_up_audience(follow_up: FollowUp) -> list[int]:
    """The institutions whose staff are told about a follow-up (overdue): the one responsible
    for it and the parties of the meeting's agreement."""
    return [follow_up.owner_id, *agreement_audience(follow_up.meeting.agreement)]


# --- lists, filters and the admin -----------------------------------------------------------


def filter_party_choices(user: User) -> QuerySet[Institution]:
    """Institutions that are party to at least one agreement `user` may see in the list."""
    parties = Party.objects.all()
    if not access.is_superuser(user):
        parties = parties.filter(agreement_id__in=_agreement_ids_of(access.institution_ids(user)))
    return Institution.objects.filter(pk__in=parties.values("institution_id"))


def first_party_choices(user: User) -> QuerySet[Institution]:
    """Institutions `user` may start an agreement for: where they are editor or administrator."""
    return access.own_institutions(user, access.EDIT_ROLES)


def _admin_agreements(user: User) -> QuerySet:
    return party_agreements(user).values("pk")


def _admin_meetings(user: User) -> QuerySet:
    return visible_meetings(user).values("pk")


#: For staff who are not superusers: which rows of each model they may see in the admin, by the
#: same rules as the staff pages.
_ADMIN_SCOPES = {
    Agreement: lambda user: Q(pk__in=_admin_agreements(user)),
    Party: lambda user: Q(agreement__in=_admin_agreements(user)),
    Article: lambda user: Q(agreement__in=_admin_agreements(user)),
    StatusChange: lambda user: Q(agreement__in=_admin_agreements(user)),
    SignedScan: lambda user: Q(agreement__in=_admin_agreements(user)),
    Meeting: lambda user: Q(pk__in=_admin_meetings(user)),
    Attendee: lambda user: Q(meeting__in=_admin_meetings(user)),
    FollowUp: lambda user: Q(meeting__in=_admin_meetings(user)),
    Notice: lambda user: (
        Q(agreement__in=_admin_agreements(user)) | Q(follow_up__meeting__in=_admin_meetings(user))
    ),
    SigningEvent: lambda user: (
        Q(host_id__in=access.institution_ids(user))
        | Q(pk__in=party_agreements(user).values("signing_event_id"))
    ),
    # One's own feeds, and those of the staff of an institution one administers (to revoke).
    CalendarFeed: lambda user: (
        Q(user_id=user.pk) | Q(institution_id__in=access.institution_ids(user, access.ADMIN_ROLES))
    ),
}


def admin_scope(user: User, queryset: QuerySet) -> QuerySet:
    """The rows of `queryset` (of a model of this app) that `user` sees in the admin. Every
    scope is a filter by subqueries, which repeats no row: no DISTINCT over the table."""
    if access.is_superuser(user):
        return queryset
    return queryset.filter(_ADMIN_SCOPES[queryset.model](user))


def admin_choices(user: User, model: type) -> QuerySet | None:
    """The agreements or meetings `user` may pick in an admin form, None for no limit."""
    if access.is_superuser(user):
        return None
    if model is Agreement:
        return party_agreements(user)
    if model is Meeting:
        return Meeting.objects.filter(pk__in=_admin_meetings(user))
    return None
