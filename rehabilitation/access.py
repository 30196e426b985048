"""Who may see and change what in rehabilitation: the one place in this app that asks.

Built on the primitives of `institutions.access` (roles per institution). Programmes are seen
by any staff of their host and partners; participants, enrolments and everything recorded with
them are specific personal data (UU PDP 27/2022), seen only by programme staff and
administrators (`PERSONAL_DATA_ROLES`) of the institutions involved. Views, forms, the admin,
exports and reports ask here, and never read `institution_ids()` themselves.

Lookups for a page (`get_<thing>_for_user`) answer 404 to an outsider, so that a record's
existence is never revealed, and return the record with whether the user may change it; with
`write=True` (or `manage=True`) a user who sees the record but may not change it gets 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from agreements import access as agreement_access
from agreements.models import Agreement, SigningEvent
from institutions import access
from institutions.access import (  # the roles and the superuser test, for this app's callers
    ADMIN_ROLES,
    EDIT_ROLES,
    PERSONAL_DATA_ROLES,
    STAFF_ROLES,
    User,
    is_superuser,
)
from institutions.access import own_institutions as own_institutions
from institutions.models import Institution

from .models import (
    AccessLog,
    Enrolment,
    Participant,
    Programme,
    ProgrammeTally,
    Screening,
    Session,
    TransferRequest,
)


def _ids(user: User, roles: Iterable[str] = STAFF_ROLES) -> frozenset[int]:
    return access.institution_ids(user, roles)


def _personal_data_ids(user: User) -> frozenset[int]:
    return _ids(user, PERSONAL_DATA_ROLES)


# --- what a user sees ----------------------------------------------------------------------


def visible_programmes(user: User, queryset: QuerySet[Programme] | None = None) -> QuerySet:
    """Programmes hosted by, or run with, an institution where `user` is staff."""
    queryset = Programme.objects.all() if queryset is None else queryset
    if is_superuser(user):
        return queryset
    return queryset.filter(pk__in=_programme_ids(_ids(user)))


def _programme_ids(ids: frozenset[int]) -> QuerySet:
    """The ids of the programmes hosted by or run with the institutions `ids`, as a subquery
    that two indexes serve (the host's and the partners' table) and that repeats no row:
    a UNION, never an OR across the partners join."""
    hosted = Programme.objects.filter(host_id__in=ids).order_by().values("pk")
    partnered = (
        Programme.partners.through.objects.filter(institution_id__in=ids)
        .order_by()
        .values("programme_id")
    )
    return hosted.union(partnered)


def programmes_with_personal_data(user: User) -> QuerySet[Programme]:
    """Programmes whose participants `user` may see (`may_see_personal_data` for each)."""
    if is_superuser(user):
        return Programme.objects.all()
    return Programme.objects.filter(pk__in=_programme_ids(_personal_data_ids(user)))


def visible_participants(user: User, queryset: QuerySet[Participant] | None = None) -> QuerySet:
    """Participants held at, or enrolled in a programme run with, an institution where
    `user` may see personal data. Nobody else sees any."""
    queryset = Participant.objects.all() if queryset is None else queryset
    if is_superuser(user):
        return queryset
    ids = _personal_data_ids(user)
    if not ids:
        return queryset.none()
    # The programmes as the UNION of two indexed reads (`_programme_ids`), not an OR across
    # the partners join: 15-20% faster on the busy unit's list at 30k participants.
    involved = (
        Enrolment.objects.filter(programme_id__in=_programme_ids(ids))
        .order_by()
        .values("participant_id")
    )
    # The outer OR is kept: measured at 100k participants, a UNION of participant ids was
    # slower (the planner answers it with a hash join over every participant).
    return queryset.filter(Q(institution_id__in=ids) | Q(pk__in=involved))


def visible_enrolments(user: User, queryset: QuerySet[Enrolment] | None = None) -> QuerySet:
    """Enrolments in a programme hosted by or run with an institution where `user` may see
    personal data, or of a participant held at one. A partner of one programme does not
    see the same participant's place in another."""
    queryset = Enrolment.objects.all() if queryset is None else queryset
    if is_superuser(user):
        return queryset
    ids = _personal_data_ids(user)
    if not ids:
        return queryset.none()
    of_held = (
        Enrolment.objects.filter(
            participant_id__in=Participant.objects.filter(institution_id__in=ids).values("pk")
        )
        .order_by()
        .values("pk")
    )
    in_programmes = (
        Enrolment.objects.filter(programme_id__in=_programme_ids(ids)).order_by().values("pk")
    )
    return queryset.filter(pk__in=of_held.union(in_programmes))


#: Enrolments in a user's programmes (by their tallies) from which a list reads its rows
#: by testing each row in index order rather than by building the set of visible ids.
DENSE_ENROLMENTS = 2_000


def visible_enrolments_for_list(user: User) -> QuerySet:
    """The rule of `visible_enrolments`, in the form a long list in an indexed order reads
    fastest: where the user's programmes hold many enrolments (their `ProgrammeTally`), each
    row of the index is tested (`visible_enrolments_among`: a page is found after a few
    hundred rows); where they hold few, the few visible ids are gathered first. One query to
    decide (none for a superuser)."""
    if is_superuser(user):
        return Enrolment.objects.all()
    ids = _personal_data_ids(user)
    if not ids:
        return Enrolment.objects.none()
    held = ProgrammeTally.objects.filter(programme_id__in=_programme_ids(ids)).aggregate(
        n=Sum("enrolled")
    )["n"]
    if (held or 0) >= DENSE_ENROLMENTS:
        return visible_enrolments_among(user, Enrolment.objects.all())
    return visible_enrolments(user)


def visible_enrolments_among(user: User, queryset: QuerySet[Enrolment]) -> QuerySet:
    """The same rule as `visible_enrolments`, written as a test of each row: for a queryset
    already narrowed to a few participants (a page's prefetch, a chunk of an export), where
    checking the rows found is cheaper than building the whole visible set."""
    if is_superuser(user):
        return queryset
    ids = _personal_data_ids(user)
    if not ids:
        return queryset.none()
    return queryset.filter(
        Q(participant__institution_id__in=ids) | Q(programme_id__in=_programme_ids(ids))
    )


def linked_screenings_among(user: User, queryset: QuerySet[Screening]) -> QuerySet:
    """Of `queryset` (narrowed to a few participants, as `visible_enrolments_among`), the
    screenings not linked to an enrolment and those of enrolments `user` sees."""
    if is_superuser(user):
        return queryset
    ids = _personal_data_ids(user)
    if not ids:
        return queryset.none()
    return queryset.filter(
        Q(enrolment__isnull=True)
        | Q(enrolment__participant__institution_id__in=ids)
        | Q(enrolment__programme_id__in=_programme_ids(ids))
    )


def visible_sessions(user: User, queryset: QuerySet[Session] | None = None) -> QuerySet:
    """Sessions of the programmes `user` sees."""
    queryset = Session.objects.all() if queryset is None else queryset
    return queryset.filter(programme__in=visible_programmes(user).values("pk"))


def visible_screenings_filter(
    user: User, participant: Participant, enrolment_ids: Iterable[int]
) -> Q:
    """Screenings of `participant` that `user` may see: those of the enrolments the user sees
    (`enrolment_ids`), and unlinked ones only for the holding institution's staff."""
    visible = Q(enrolment_id__in=list(enrolment_ids))
    if access.has_role(user, participant.institution_id, PERSONAL_DATA_ROLES):
        visible |= Q(enrolment__isnull=True)
    return visible


def visible_access_log(user: User, queryset: QuerySet[AccessLog] | None = None) -> QuerySet:
    """Lines of the personal-data access log of the institutions `user` administers."""
    queryset = AccessLog.objects.all() if queryset is None else queryset
    if is_superuser(user):
        return queryset
    return queryset.filter(institution_id__in=_ids(user, ADMIN_ROLES))


def visible_transfer_requests(
    user: User, queryset: QuerySet[TransferRequest] | None = None
) -> QuerySet[TransferRequest]:
    """Transfer requests `user` may see: those sent by an institution where they may see
    personal data (every state), and those addressed to one while pending or once accepted
    (a refused or cancelled request is none of the receiver's business any more)."""
    queryset = TransferRequest.objects.all() if queryset is None else queryset
    if is_superuser(user):
        return queryset
    ids = _personal_data_ids(user)
    if not ids:
        return queryset.none()
    received = Q(to_institution_id__in=ids) & Q(
        state__in=(TransferRequest.State.PENDING, TransferRequest.State.ACCEPTED)
    )
    return queryset.filter(Q(from_institution_id__in=ids) | received)


def admin_choices(user: User, model: type) -> QuerySet | None:
    """What a choice of a `model` record in an admin form offers `user`: only what they may
    see (participants, programmes; for non-superusers also their own institutions, and the
    agreements and signing events of those); None where the admin's default applies."""
    if model is Participant:
        return visible_participants(user)
    if model is Programme:
        return visible_programmes(user)
    if is_superuser(user):
        return None
    if model is Institution:
        return own_institutions(user)
    if model is Agreement:
        return agreement_access.party_agreements(user)
    if model is SigningEvent:
        return SigningEvent.objects.filter(
            agreements__in=agreement_access.party_agreements(user)
        ).distinct()
    return None


# --- what a user may do --------------------------------------------------------------------


def may_see_personal_data(user: User, where: Programme | Institution | None = None) -> bool:
    """Whether `user` may see participants' personal data: of a programme's participants
    (programme staff or administrators of its host or a partner), of an institution's, or
    (`where` None) of anyone at all. Reads the programme's partners (prefetch them)."""
    if where is None:
        return access.may_see_personal_data(user)
    if isinstance(where, Programme):
        return access.may_see_personal_data(user, among=where.institution_ids)
    return access.may_see_personal_data(user, among=(where.pk,))


def may_export_identified(user: User) -> bool:
    """Whether `user` may export names and register numbers (an institution administrator,
    for the participants of the institutions they administer)."""
    return is_superuser(user) or bool(_ids(user, ADMIN_ROLES))


def identified_export_institution_ids(user: User) -> frozenset[int] | None:
    """Whose participants an identified export of `user` holds: None (all they see) for a
    superuser, else the institutions they administer."""
    return None if is_superuser(user) else _ids(user, ADMIN_ROLES)


def may_read_access_log(user: User, institution_id: int) -> bool:
    """An institution's administrators read its personal-data access log."""
    return access.has_role(user, institution_id, ADMIN_ROLES)


def may_see_institution_report(user: User, institution_id: int) -> bool:
    """Any staff of an institution sees the aggregate report of its programmes."""
    return access.has_role(user, institution_id)


def may_see_exact_report(user: User, where: Programme | Institution) -> bool:
    """Whether `user` gets a report's exact figures (and its view is logged): those who may
    see the participants' records of the programme or institution. Everyone else who sees the
    report gets it protected (`rehabilitation.disclosure`)."""
    if not is_superuser(user) and not _personal_data_ids(user):
        return False  # without reading the programme's partners
    return may_see_personal_data(user, where)


def may_create_programmes(user: User) -> bool:
    """Editors and administrators (of some institution) create programmes."""
    return is_superuser(user) or bool(_ids(user, EDIT_ROLES))


def may_create_programme_at(user: User, host: Institution) -> bool:
    """Editors and administrators of `host` create its programmes."""
    return access.has_role(user, host.pk, EDIT_ROLES)


def may_manage_programme(user: User, programme: Programme) -> bool:
    """Editors and administrators of the host change a programme and its phases."""
    return access.has_role(user, programme.host_id, EDIT_ROLES)


def may_register_participant_at(user: User, institution: Institution) -> bool:
    """Programme staff and administrators of an institution register the people it holds."""
    return access.has_role(user, institution.pk, PERSONAL_DATA_ROLES)


def may_write_participant(user: User, participant: Participant) -> bool:
    """Programme staff and administrators of the holding institution, or of the host or a
    partner of a programme the participant is enrolled in (the same people who see them)."""
    if is_superuser(user):
        return True
    return visible_participants(user).filter(pk=participant.pk).exists()


def may_transfer_participant(user: User, participant: Participant) -> bool:
    """Only the institution holding a participant moves them to another one."""
    return access.has_role(user, participant.institution_id, PERSONAL_DATA_ROLES)


def may_transfer_immediately(user: User, to_institution: Institution) -> bool:
    """A transfer takes effect at once only where `user` may see the receiving institution's
    participants (programme staff or administrator there, or a superuser); anywhere else it
    is a request that the receiving institution accepts or refuses."""
    return access.has_role(user, to_institution.pk, PERSONAL_DATA_ROLES)


def may_decide_transfer_request(user: User, request: TransferRequest) -> bool:
    """Programme staff and administrators of the receiving institution accept or refuse."""
    return access.has_role(user, request.to_institution_id, PERSONAL_DATA_ROLES)


def may_cancel_transfer_request(user: User, request: TransferRequest) -> bool:
    """Programme staff and administrators of the sending institution cancel its requests."""
    return access.has_role(user, request.from_institution_id, PERSONAL_DATA_ROLES)


def may_archive_participant(user: User, participant: Participant) -> bool:
    """Programme staff and administrators of the holding institution archive and restore."""
    return may_transfer_participant(user, participant)


def may_write_enrolment(user: User, enrolment: Enrolment) -> bool:
    """Programme staff and administrators of the programme's host or partners, or of the
    participant's institution."""
    if is_superuser(user):
        return True
    ids = _personal_data_ids(user)
    if not ids:
        return False
    programme = enrolment.programme
    return bool(ids & ({enrolment.participant.institution_id} | programme.institution_ids))


def may_screen(user: User, participant: Participant, programme: Programme) -> bool:
    """Screening a participant for a programme: one who may change the participant's record,
    with a personal-data role at the programme's host or a partner."""
    return may_write_participant(user, participant) and may_see_personal_data(user, programme)


def may_record_sessions(user: User, programme: Programme) -> bool:
    """Whether `user` may run the sessions of `programme` and see their attendance: programme
    staff or an administrator of its host or of a partner (superusers always)."""
    return may_see_personal_data(user, programme)


# --- one record for a page (404 for outsiders) ---------------------------------------------


def get_programme_for_user(
    user: User, pk: int, *, manage: bool = False, queryset: QuerySet[Programme] | None = None
) -> tuple[Programme, bool]:
    """The programme `pk` as `user` may see it, and whether they may change it: 404 unless
    staff of the host or a partner; with `manage`, 403 unless an editor or administrator of
    the host."""
    programme = get_object_or_404(visible_programmes(user, queryset), pk=pk)
    may_write = may_manage_programme(user, programme)
    if manage and not may_write:
        raise PermissionDenied(_("Only editors and administrators of the host may change this."))
    return programme, may_write


def get_participant_for_user(user: User, pk: int) -> tuple[Participant, bool]:
    """The participant `pk` as `user` may see them, and whether they may change the record:
    404 for everyone else. Those who see a participant are those who may correct the record
    (`may_write_participant`), so the second value is always true today."""
    participant = get_object_or_404(visible_participants(user).select_related("institution"), pk=pk)
    return participant, True


def get_enrolment_for_user(user: User, pk: int, *, write: bool = False) -> tuple[Enrolment, bool]:
    """The enrolment `pk` as `user` may see it, and whether they may move it: 404 for
    everyone else; with `write`, 403 for those who see it but may not move it."""
    enrolment = get_object_or_404(
        visible_enrolments(user).select_related(
            "participant__institution", "programme__host", "programme__agreement", "current_phase"
        ),
        pk=pk,
    )
    may_write = may_write_enrolment(user, enrolment)
    if write and not may_write:
        raise PermissionDenied(_("You may not change this enrolment."))
    return enrolment, may_write


def get_programme_for_recording(user: User, pk: int) -> Programme:
    """The programme `pk` if `user` may run its sessions; 404 otherwise, as if it did not
    exist (a viewer or editor may see the programme, not its participants' attendance)."""
    programme = get_object_or_404(visible_programmes(user).select_related("host"), pk=pk)
    if not may_record_sessions(user, programme):
        raise Http404(_("No such programme."))
    return programme


def get_session_for_recording(user: User, pk: int) -> Session:
    """The session `pk` if `user` may record its attendance; 404 otherwise."""
    session = get_object_or_404(
        visible_sessions(user).select_related("programme__host", "phase"), pk=pk
    )
    if not may_record_sessions(user, session.programme):
        raise Http404(_("No such session."))
    return session


def get_enrolment_for_recording(user: User, pk: int) -> Enrolment:
    """The enrolment `pk` for writing notes and scores in it: 404 unless `user` sees it.
    Only personal-data roles see an enrolment at all, and each of them may write in it."""
    return get_object_or_404(
        visible_enrolments(user).select_related("participant__institution", "programme__host"),
        pk=pk,
    )


def get_transfer_request_for_user(
    user: User, pk: int, *, decide: bool = False, cancel: bool = False
) -> TransferRequest:
    """The transfer request `pk` as `user` may see it: 404 for everyone else (another
    institution never learns that it exists); with `decide` (accept, refuse) 403 unless staff
    of the receiving institution, with `cancel` 403 unless staff of the sending one."""
    request = get_object_or_404(
        visible_transfer_requests(user).select_related(
            "participant", "from_institution", "to_institution", "requested_by", "decided_by"
        ),
        pk=pk,
    )
    if decide and not may_decide_transfer_request(user, request):
        raise PermissionDenied(_("Only the receiving institution accepts or refuses a request."))
    if cancel and not may_cancel_transfer_request(user, request):
        raise PermissionDenied(_("Only the sending institution cancels a request."))
    return request
