"""Lifecycle moves of agreements: each one a function, in a transaction, recorded.

The moves people make:

    draft ──► discussion ──► ready ──► signed ──► terminated
                   ▲           │
                   └───────────┘  (back to discussion, with a reason)

Once signed, whether an agreement is active, expiring or expired follows from its dates
(`Agreement.current_status`); nobody moves it there. A signed agreement's text, parties and
numbers never change again: it is amended by an addendum (an agreement of its own) or
continued by a renewal (a new agreement that `renews` it). Signed agreements are never deleted;
one that is no longer worked on is archived (`agreement_archive`): left out of the staff lists,
still public.

History: every function here records what it changed in `institutions.history`, in the same
transaction as the change: the agreement's fields before and after, and its parties and
articles as two more "fields", `parties` and `articles`, each a list of lines (see
`party_lines`, `article_lines`).
Every saved change raises the agreement's `version`; the edit forms send back the version they
were loaded with, and a change made on an older version is refused (`history.ensure_current`).
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from institutions import history
from institutions.access import Account
from institutions.models import History, Institution

from .. import access
from ..models import Agreement, Article, Party, SigningEvent, StatusChange
from ..standard_articles import (
    STANDARD_CONSIDERATIONS,
    STANDARD_LEGAL_BASIS,
    add_standard_articles,
)
from .issuing import freeze_parties, issue_on_signing

Status = Agreement.Status

#: The moves a person may make with `agreement_move`, from → allowed targets.
MANUAL_MOVES: dict[str, tuple[str, ...]] = {
    Status.DRAFT: (Status.DISCUSSION,),
    Status.DISCUSSION: (Status.READY,),
    Status.READY: (Status.DISCUSSION,),
}
#: Moving back needs a reason: the others may read why the text was reopened.
MOVES_NEEDING_A_REASON = {(Status.READY, Status.DISCUSSION)}


def ensure_editable(agreement: Agreement) -> None:
    """Refuse any change to the text, parties or numbers of a signed agreement.

    A signed agreement is amended by an addendum, never edited.
    """
    if not agreement.is_editable:
        raise ValidationError(
            _(
                "This agreement has been signed: its text, parties and numbers cannot change. "
                "Make an addendum instead."
            ),
            code="signed",
        )


def _ensure_may_edit(user: Account, agreement: Agreement) -> None:
    if not access.may_edit(user, agreement):
        raise PermissionDenied(_("You may view this agreement but not change it."))


def party_lines(parties: Iterable[Party]) -> list[str]:
    """The parties as history lines: "order. institution — number — signatory, position",
    with "…" for what is not filled in yet."""
    lines = []
    for party in parties:
        signatory = str(party.signatory) if party.signatory_id else "…"
        if party.signatory_position:
            signatory = f"{signatory}, {party.signatory_position}"
        lines.append(
            f"{party.order}. {party.institution.name} — {party.number or '…'} — {signatory}"
        )
    return lines


def article_lines(articles: Iterable[Article]) -> list[str]:
    """The articles as history lines: "Pasal n — heading: text"."""
    return [f"Pasal {a.number} — {a.heading}: {a.body}" for a in articles]


def _current_parties(agreement: Agreement) -> list[str]:
    return party_lines(
        agreement.parties.select_related("institution", "signatory").order_by("order")
    )


def _current_articles(agreement: Agreement) -> list[str]:
    return article_lines(agreement.articles.order_by("number"))


def _changed(before: dict, after: dict) -> bool:
    """Whether anything a person would notice differs (not the version or the timestamps)."""
    ignored = {*history.IGNORED_FIELDS, "version"}
    return any(before.get(key) != after.get(key) for key in {*before, *after} if key not in ignored)


def _record_created(
    agreement: Agreement, *, user: Account, parties: Iterable[Party], articles: Iterable[Article]
) -> None:
    history.record(
        agreement,
        user=user,
        action=History.Action.CREATE,
        after={
            **history.snapshot(agreement),
            "parties": party_lines(parties),
            "articles": article_lines(articles),
        },
    )


def _save_change(
    agreement: Agreement,
    *,
    user: Account,
    before: dict,
    extra_after: dict | None = None,
    update_fields: list[str] | None = None,
    action: str = History.Action.CHANGE,
) -> bool:
    """Save a change made in memory to `agreement` (read with select_for_update), raising its
    version and recording the values before and after; a change that changed nothing is
    neither saved nor recorded. `before` is a snapshot, with the extra "fields" (parties,
    articles) that the change touched; `extra_after` holds their new values. `update_fields`
    as for `Model.save`; an empty list when only the rows changed and the row itself needs no
    save beyond its new version."""
    after = {**history.snapshot(agreement), **(extra_after or {})}
    if not _changed(before, after):
        return False
    history.bump_version(agreement)
    if update_fields is None:
        agreement.save()
    elif update_fields:
        agreement.save(update_fields=update_fields)
    after["version"] = agreement.version
    history.record(agreement, user=user, action=action, before=before, after=after)
    return True


def _record(
    agreement: Agreement, *, user: Account, to_status: str, reason: str = ""
) -> StatusChange:
    change = StatusChange.objects.create(
        agreement=agreement,
        from_status=agreement.status,
        to_status=to_status,
        changed_by=user,
        reason=reason,
    )
    agreement.status = to_status
    return change


def _add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def end_of_term(start: datetime.date, months: int) -> datetime.date:
    """The last day of a term of `months` starting on `start` (4 Aug 2025 + 24 → 3 Aug 2027)."""
    return _add_months(start, months) - datetime.timedelta(days=1)


@transaction.atomic
def agreement_create(
    *,
    user: Account,
    title: str,
    subject: str,
    institutions: Sequence[Institution],
    kind: str = Agreement.Kind.PKS,
    term_months: int | None = None,
    notice_days: int = 90,
) -> Agreement:
    """Start a draft between `institutions` (in party order) with the standard articles.

    The user must be an editor or administrator of one of the institutions, so that nobody
    starts agreements in other institutions' names.
    """
    unique = list(dict.fromkeys(institutions))
    if len(unique) != len(institutions):
        raise ValidationError(_("The same institution cannot be a party twice."), code="twice")
    if len(unique) < 2:
        raise ValidationError(_("An agreement needs at least two parties."), code="parties")
    agreement = Agreement(
        kind=kind,
        title=title,
        subject=subject,
        term_months=term_months,
        notice_days=notice_days,
        considerations=STANDARD_CONSIDERATIONS,
        legal_basis=STANDARD_LEGAL_BASIS,
    )
    agreement.full_clean()
    agreement.save()
    Party.objects.bulk_create(
        Party(agreement=agreement, institution=institution, order=order)
        for order, institution in enumerate(unique, start=1)
    )
    _ensure_may_edit(user, agreement)
    articles = add_standard_articles(agreement)
    StatusChange.objects.create(
        agreement=agreement,
        from_status=Status.DRAFT,
        to_status=Status.DRAFT,
        changed_by=user,
        reason=_("Created"),
    )
    _record_created(
        agreement,
        user=user,
        parties=agreement.parties.select_related("institution", "signatory").order_by("order"),
        articles=articles,
    )
    return agreement


@transaction.atomic
def agreement_update(
    *, agreement: Agreement, user: Account, version: int | None = None, **fields: Any
) -> Agreement:
    """Change the details of an unsigned agreement (title, subject, term, dates, …).

    `version` is the version the user's form was loaded with: if someone saved the agreement
    since, the change is refused (ValidationError, code "stale") and nothing is saved.
    """
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    ensure_editable(agreement)
    history.ensure_current(agreement, version)
    before = history.snapshot(agreement)
    for name, value in fields.items():
        setattr(agreement, name, value)
    agreement.full_clean()
    _ensure_notice_fits(agreement)
    _save_change(agreement, user=user, before=before)
    return agreement


def _ensure_notice_fits(agreement: Agreement) -> None:
    # The start of the notice period (end date less the notice days) must be a date at all.
    if agreement.end_date is None:
        return
    try:
        agreement.end_date - datetime.timedelta(days=agreement.notice_days)
    except OverflowError:
        raise ValidationError(
            {
                "notice_days": ValidationError(
                    _("The notice period is longer than the time before the end date."),
                    code="notice_too_long",
                )
            }
        ) from None


@transaction.atomic
def parties_replace(
    *, agreement: Agreement, user: Account, parties: Iterable[dict], version: int | None = None
) -> list[Party]:
    """Replace the parties of an unsigned agreement, in the order given.

    Each item holds `institution`, and optionally `number`, `signatory` and
    `signatory_position`. The same institution twice, fewer than two parties, or a number
    that institution already gave another agreement are refused; so is a change made on an
    older `version` of the agreement than the current one (see `agreement_update`).
    """
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    ensure_editable(agreement)
    history.ensure_current(agreement, version)
    rows = list(parties)
    institutions = [row["institution"] for row in rows]
    if len(set(institutions)) != len(institutions):
        raise ValidationError(_("The same institution cannot be a party twice."), code="twice")
    if len(rows) < 2:
        raise ValidationError(_("An agreement needs at least two parties."), code="parties")
    for row in rows:
        number = (row.get("number") or "").strip()
        if (
            number
            and Party.objects.filter(institution=row["institution"], number=number)
            .exclude(agreement=agreement)
            .exists()
        ):
            raise ValidationError(
                _("%(institution)s already gave the number %(number)s to another agreement.")
                % {"institution": row["institution"], "number": number},
                code="number_taken",
            )
    before = {**history.snapshot(agreement), "parties": _current_parties(agreement)}
    agreement.parties.all().delete()
    made = Party.objects.bulk_create(
        Party(
            agreement=agreement,
            institution=row["institution"],
            order=order,
            number=(row.get("number") or "").strip(),
            signatory=row.get("signatory"),
            signatory_position=(row.get("signatory_position") or "").strip(),
        )
        for order, row in enumerate(rows, start=1)
    )
    # Whoever replaced the parties must still be allowed to edit: no locking oneself out.
    locked = agreement
    agreement = Agreement.objects.get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    _save_change(
        locked,
        user=user,
        before=before,
        extra_after={"parties": party_lines(made)},
        update_fields=[],
    )
    return made


@transaction.atomic
def articles_replace(
    *, agreement: Agreement, user: Account, articles: Iterable[dict], version: int | None = None
) -> list[Article]:
    """Replace the articles of an unsigned agreement, numbered 1… in the order given.

    A change made on an older `version` of the agreement is refused (see `agreement_update`).
    """
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    ensure_editable(agreement)
    history.ensure_current(agreement, version)
    before = {**history.snapshot(agreement), "articles": _current_articles(agreement)}
    agreement.articles.all().delete()
    made = Article.objects.bulk_create(
        Article(agreement=agreement, number=number, heading=row["heading"], body=row["body"])
        for number, row in enumerate(articles, start=1)
    )
    _save_change(
        agreement,
        user=user,
        before=before,
        extra_after={"articles": article_lines(made)},
        update_fields=[],
    )
    return made


def _ready_problems(agreement: Agreement) -> list[str]:
    problems = []
    if agreement.parties.count() < 2:
        problems.append(_("An agreement needs at least two parties."))
    if not agreement.articles.exists():
        problems.append(_("The agreement has no articles."))
    return problems


def _signing_problems(agreement: Agreement) -> list[str]:
    problems = _ready_problems(agreement)
    for party in agreement.parties.select_related("institution", "signatory"):
        if not party.number:
            problems.append(
                _("%(party)s (%(institution)s) has no agreement number.")
                % {"party": party.label, "institution": party.institution}
            )
        if party.signatory is None or not party.signatory_position:
            problems.append(
                _("%(party)s (%(institution)s) has no signatory or no position.")
                % {"party": party.label, "institution": party.institution}
            )
    return problems


@transaction.atomic
def agreement_move(
    *, agreement: Agreement, user: Account, to_status: str, reason: str = ""
) -> Agreement:
    """Move an agreement along its lifecycle by hand (see `MANUAL_MOVES`)."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    if to_status not in MANUAL_MOVES.get(agreement.status, ()):
        raise ValidationError(
            _("An agreement that is %(current)s cannot be moved to %(target)s.")
            % {
                "current": Status(agreement.status).label,
                "target": Status(to_status).label if to_status in Status.values else to_status,
            },
            code="not_allowed",
        )
    reason = reason.strip()
    if (agreement.status, to_status) in MOVES_NEEDING_A_REASON and not reason:
        raise ValidationError(_("Say why the agreement goes back to discussion."), code="reason")
    if to_status == Status.READY and (problems := _ready_problems(agreement)):
        raise ValidationError(problems, code="not_ready")
    before = history.snapshot(agreement)
    _record(agreement, user=user, to_status=to_status, reason=reason)
    _save_change(agreement, user=user, before=before, update_fields=["status", "updated_at"])
    return agreement


def _sign(agreement: Agreement, *, user: Account, event: SigningEvent) -> None:
    if agreement.status != Status.READY:
        raise ValidationError(
            _("%(agreement)s is not ready for signing.") % {"agreement": agreement.title},
            code="not_ready",
        )
    if problems := _signing_problems(agreement):
        raise ValidationError(
            [f"{agreement.title}: {problem}" for problem in problems], code="incomplete"
        )
    before = history.snapshot(agreement)
    _record(agreement, user=user, to_status=Status.SIGNED, reason=str(event))
    agreement.signed_on = event.date
    agreement.signing_place = agreement.signing_place or event.venue
    agreement.signing_event = event
    if agreement.effective_date is None:
        agreement.effective_date = event.date
    if agreement.end_date is None and agreement.term_months:
        agreement.end_date = end_of_term(agreement.effective_date, agreement.term_months)
    agreement.full_clean()
    _save_change(agreement, user=user, before=before)
    # Signed means frozen: what the document states about the parties is copied now, so a later
    # rename of an institution or a signatory changes nothing that was signed.
    freeze_parties(agreement=agreement)
    # The official PDF is rendered and stored once the signing commits; nothing if it rolls back.
    issue_on_signing(agreement=agreement)


@transaction.atomic
def signing_event_record(
    *,
    user: Account,
    date: datetime.date,
    venue: str,
    host: Institution,
    agreements: Sequence[Agreement],
    start_time: datetime.time | None = None,
    notes: str = "",
    submission_key: str | None = None,
) -> SigningEvent:
    """Record a signing ceremony and sign every agreement in it, all or none.

    Each agreement must be ready for signing, with every party's number, signatory and
    position, and the user must be an editor or administrator of one of its parties.
    `submission_key`, the signing form's random key, makes a retry of the same form (after a
    dropped connection, or a second click) return the event it recorded instead of refusing
    the agreements as no longer ready.
    """
    if not agreements:
        raise ValidationError(_("Choose at least one agreement to sign."), code="empty")
    if date > timezone.localdate():
        raise ValidationError(_("A signing cannot be recorded before it happens."), code="future")
    locked = list(Agreement.objects.select_for_update().filter(pk__in=[a.pk for a in agreements]))
    for agreement in locked:
        _ensure_may_edit(user, agreement)
    # Looked up under the agreements' locks: a concurrent submission of the same form waits for
    # the first to commit, then finds its event here.
    if submission_key and (earlier := signing_event_submitted(submission_key)) is not None:
        return earlier
    event = SigningEvent.objects.create(
        date=date,
        start_time=start_time,
        venue=venue,
        host=host,
        notes=notes,
        submission_key=submission_key or None,
    )
    problems: list[str] = []
    for agreement in locked:
        try:
            _sign(agreement, user=user, event=event)
        except ValidationError as error:
            problems.extend(error.messages)
    if problems:
        raise ValidationError(problems, code="incomplete")
    return event


def signing_event_submitted(submission_key: str) -> SigningEvent | None:
    """The signing event recorded by the signing form with this key, if one was."""
    if not submission_key:
        return None
    return SigningEvent.objects.filter(submission_key=submission_key).first()


@transaction.atomic
def agreement_terminate(
    *, agreement: Agreement, user: Account, date: datetime.date, reason: str
) -> Agreement:
    """End a signed agreement early, from `date`, for `reason`."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    if agreement.status != Status.SIGNED:
        raise ValidationError(_("Only a signed agreement can be terminated."), code="not_signed")
    if not reason.strip():
        raise ValidationError(_("Say why the agreement is terminated."), code="reason")
    assert agreement.signed_on is not None  # a signed agreement has its date (a constraint)
    if date < agreement.signed_on:
        raise ValidationError(
            _("The termination date cannot be before the signing date."), code="date"
        )
    if agreement.end_date and date > agreement.end_date:
        raise ValidationError(
            _("The termination date is after the end of the agreement (%(end)s).")
            % {"end": date_format(agreement.end_date, "j F Y")},
            code="date",
        )
    before = history.snapshot(agreement)
    _record(agreement, user=user, to_status=Status.TERMINATED, reason=reason.strip())
    agreement.terminated_on = date
    agreement.termination_reason = reason.strip()
    _save_change(agreement, user=user, before=before)
    return agreement


def _copy_parties(source: Agreement, target: Agreement) -> list[Party]:
    # The new document gets new numbers from each registry and is signed anew.
    return Party.objects.bulk_create(
        Party(agreement=target, institution=party.institution, order=party.order)
        for party in source.parties.select_related("institution").order_by("order")
    )


@transaction.atomic
def addendum_create(*, parent: Agreement, user: Account, title: str, subject: str) -> Agreement:
    """Start an addendum to a signed agreement, between the same parties.

    The addendum is an agreement of its own: it goes through discussion and signing, and
    is listed on the agreement it amends.
    """
    parent = Agreement.objects.select_for_update().get(pk=parent.pk)
    _ensure_may_edit(user, parent)
    if parent.status != Status.SIGNED:
        raise ValidationError(
            _("Only a signed agreement in force can be amended."), code="not_signed"
        )
    addendum = Agreement(
        kind=Agreement.Kind.ADDENDUM,
        parent=parent,
        title=title,
        subject=subject,
        legal_basis=parent.legal_basis,
        notice_days=parent.notice_days,
    )
    addendum.full_clean()
    addendum.save()
    parties = _copy_parties(parent, addendum)
    StatusChange.objects.create(
        agreement=addendum,
        from_status=Status.DRAFT,
        to_status=Status.DRAFT,
        changed_by=user,
        reason=_("Addendum to %(title)s") % {"title": parent.title},
    )
    _record_created(addendum, user=user, parties=parties, articles=[])
    return addendum


@transaction.atomic
def agreement_renew(*, agreement: Agreement, user: Account) -> Agreement:
    """Start the renewal (perpanjangan) of a signed agreement: a new draft with the same
    parties, text and term, linked to the one it continues."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    if agreement.status != Status.SIGNED:
        raise ValidationError(_("Only a signed agreement can be renewed."), code="not_signed")
    if Agreement.objects.filter(renews=agreement).exists():
        raise ValidationError(_("This agreement already has a renewal."), code="renewed")
    renewal = Agreement(
        kind=agreement.kind if agreement.kind != Agreement.Kind.ADDENDUM else Agreement.Kind.PKS,
        renews=agreement,
        title=agreement.title,
        subject=agreement.subject,
        considerations=agreement.considerations,
        legal_basis=agreement.legal_basis,
        term_months=agreement.term_months,
        notice_days=agreement.notice_days,
        effective_date=(
            agreement.end_date + datetime.timedelta(days=1) if agreement.end_date else None
        ),
    )
    renewal.full_clean()
    renewal.save()
    parties = _copy_parties(agreement, renewal)
    articles = Article.objects.bulk_create(
        Article(agreement=renewal, number=a.number, heading=a.heading, body=a.body)
        for a in agreement.articles.order_by("number")
    )
    StatusChange.objects.create(
        agreement=renewal,
        from_status=Status.DRAFT,
        to_status=Status.DRAFT,
        changed_by=user,
        reason=_("Renewal of %(title)s") % {"title": agreement.title},
    )
    _record_created(renewal, user=user, parties=parties, articles=articles)
    return renewal


@transaction.atomic
def agreement_archive(*, agreement: Agreement, user: Account) -> Agreement:
    """Archive a signed (or terminated) agreement that is no longer worked on.

    A signed agreement is a legal record and is never deleted: archived, it is kept whole,
    stays on the public registry, and is only left out of the staff lists and the staff home
    (unless asked for). A draft that is not needed is deleted by an administrator instead.
    """
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    if not agreement.is_signed:
        raise ValidationError(
            _(
                "Only a signed agreement can be archived. A draft that is no longer needed "
                "can be deleted by an administrator."
            ),
            code="not_signed",
        )
    if agreement.archived_at is not None:
        raise ValidationError(_("This agreement is already archived."), code="archived")
    before = history.snapshot(agreement)
    agreement.archived_at = timezone.now()
    _save_change(
        agreement,
        user=user,
        before=before,
        update_fields=["archived_at", "updated_at"],
        action=History.Action.ARCHIVE,
    )
    return agreement


@transaction.atomic
def agreement_restore(*, agreement: Agreement, user: Account) -> Agreement:
    """Take an archived agreement back into the staff lists."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    _ensure_may_edit(user, agreement)
    if agreement.archived_at is None:
        raise ValidationError(_("This agreement is not archived."), code="not_archived")
    before = history.snapshot(agreement)
    agreement.archived_at = None
    _save_change(
        agreement,
        user=user,
        before=before,
        update_fields=["archived_at", "updated_at"],
        action=History.Action.RESTORE,
    )
    return agreement
