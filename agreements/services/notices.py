"""Notice e-mails: agreements entering their notice period, and overdue follow-ups.

`send_notices` runs once a day, from the task schedule (`agreements.tasks.send_agreement_notices`)
or by hand (`manage.py send_agreement_notices`). Each event is announced at most once without a
person deciding otherwise:

1. a `Notice` row is inserted, pending, before the e-mail goes to the mail server; the database
   accepts one per event, so of two runs at the same time only one sends;
2. the e-mail is sent with a Message-ID made from the event (`message_id_for`);
3. the row is marked sent, or failed with the server's error.

A failed notice was refused by the server, so the next run sends it. One still pending after
`NOTICE_ATTEMPT_WINDOW_MINUTES` may have reached its recipients (a crash after the server
accepted it, before the mark): it is never sent again by a run, only listed (`awaiting_decision`)
for a person to resend (`notice_resend`, with the same Message-ID) or mark sent
(`notice_mark_sent`), in the admin.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Membership

from .. import access
from ..models import Agreement, FollowUp, Notice, Party

logger = logging.getLogger(__name__)

#: The mailer (settings.MAILERS) the notices go through.
MAILER = "default"


@dataclass(frozen=True)
class NoticeOutcome:
    """One event considered: what it was about, to whom it went, and why it did not."""

    kind: str
    about: str
    recipients: tuple[str, ...] = ()
    error: str = ""


@dataclass
class NoticeReport:
    """What a run of `send_notices` did, for the command's output."""

    sent: list[NoticeOutcome] = field(default_factory=list)
    no_recipients: list[NoticeOutcome] = field(default_factory=list)
    failed: list[NoticeOutcome] = field(default_factory=list)
    #: Notices whose sending began long ago and was never marked sent: a person decides.
    awaiting_decision: list[NoticeOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every notice that had recipients went out."""
        return not self.failed


def staff_emails(institution_ids: Iterable[int]) -> dict[int, list[str]]:
    """The e-mail addresses of the active staff (any role) of each institution, in one query."""
    found: dict[int, list[str]] = {}
    rows = (
        Membership.objects.filter(institution_id__in=set(institution_ids), user__is_active=True)
        .exclude(user__email="")
        .values_list("institution_id", "user__email")
        .order_by("institution_id", "user__email")
    )
    for institution_id, email in rows:
        found.setdefault(institution_id, []).append(email)
    return found


def _recipients(emails_by_institution: dict[int, list[str]], ids: Iterable[int]) -> list[str]:
    """The addresses of the staff of `ids`, each once (compared without case), sorted."""
    unique: dict[str, str] = {}
    for institution_id in ids:
        for email in emails_by_institution.get(institution_id, ()):
            unique.setdefault(email.strip().lower(), email.strip())
    return sorted(unique.values(), key=str.lower)


def _agreement_url(agreement: Agreement) -> str:
    return settings.SITE_URL + reverse("public:agreement", args=[agreement.pk])


def _render(name: str, context: dict) -> tuple[str, str]:
    subject = render_to_string(f"agreements/email/{name}_subject.txt", context)
    body = render_to_string(f"agreements/email/{name}_body.txt", context)
    return " ".join(subject.split()), body


def _describe(agreement: Agreement) -> str:
    return f"{agreement.title} (#{agreement.pk})"


#: The states of a notice that a run leaves alone: sent, or perhaps sent (being sent).
_HANDLED = (Notice.State.PENDING, Notice.State.SENT)


def message_id_for(*, kind: str, subject_pk: int, event_date: datetime.date) -> str:
    """The Message-ID of the notice about one event, the same at every attempt, so that mail
    clients and servers know a copy sent again as the same message."""
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<notice.{kind}.{subject_pk}.{event_date.isoformat()}@{domain}>"


def expiring_agreements(today: datetime.date) -> list[Agreement]:
    """Signed agreements inside their notice period, not yet expired and not yet announced."""
    announced = Notice.objects.filter(
        kind=Notice.Kind.EXPIRING,
        agreement=OuterRef("pk"),
        event_date=OuterRef("notice_from"),
        state__in=_HANDLED,
    )
    return list(
        Agreement.objects.filter(
            status=Agreement.Status.SIGNED, notice_from__lte=today, end_date__gte=today
        )
        .exclude(Exists(announced))
        .prefetch_related(
            Prefetch(
                "parties", queryset=Party.objects.select_related("institution").order_by("order")
            )
        )
        .order_by("end_date", "pk")
    )


def overdue_follow_ups(today: datetime.date) -> list[FollowUp]:
    """Open follow-ups past their due date that have not been announced for that date."""
    announced = Notice.objects.filter(
        kind=Notice.Kind.FOLLOW_UP_OVERDUE,
        follow_up=OuterRef("pk"),
        event_date=OuterRef("due_date"),
        state__in=_HANDLED,
    )
    return list(
        FollowUp.objects.filter(done_on__isnull=True, due_date__lt=today)
        .exclude(Exists(announced))
        .select_related("owner", "meeting__agreement")
        .prefetch_related(
            Prefetch(
                "meeting__agreement__parties",
                queryset=Party.objects.select_related("institution").order_by("order"),
            )
        )
        .order_by("due_date", "pk")
    )


def awaiting_decision(now: datetime.datetime | None = None) -> QuerySet[Notice]:
    """Notices whose sending began more than the window ago and was never marked sent: they
    may have arrived, so no run sends them again; a person resends or marks them sent."""
    now = now or timezone.now()
    window = datetime.timedelta(minutes=settings.NOTICE_ATTEMPT_WINDOW_MINUTES)
    return Notice.objects.filter(state=Notice.State.PENDING, attempted_at__lt=now - window)


def _claim(
    *, kind: str, recipients: list[str], subject: str, body: str, notice_fields: dict
) -> Notice | None:
    """The notice's row, pending and stamped with this attempt, or None if it is not this
    run's to send (sent, or being sent by another run, or awaiting a person's decision).

    A new event gets a new row; an event whose last sending failed is taken over by turning its
    row from failed to pending in one statement, which only one run can do.
    """
    now = timezone.now()
    content = {"recipients": ", ".join(recipients), "subject": subject, "body": body}
    subject_pk = (notice_fields.get("agreement") or notice_fields["follow_up"]).pk
    try:
        with transaction.atomic():
            return Notice.objects.create(
                kind=kind,
                state=Notice.State.PENDING,
                attempts=1,
                attempted_at=now,
                message_id=message_id_for(
                    kind=kind, subject_pk=subject_pk, event_date=notice_fields["event_date"]
                ),
                **content,
                **notice_fields,
            )
    except IntegrityError:
        pass
    taken = Notice.objects.filter(kind=kind, state=Notice.State.FAILED, **notice_fields).update(
        state=Notice.State.PENDING, attempted_at=now, attempts=F("attempts") + 1, **content
    )
    if not taken:
        return None
    return Notice.objects.get(kind=kind, **notice_fields)


def _send(notice: Notice) -> None:
    """Hand the notice to the mail server and mark it sent; mark it failed if the server
    refuses (the error goes on)."""
    try:
        EmailMessage(
            subject=notice.subject,
            body=notice.body,
            to=notice.recipients.split(", "),
            headers={"Message-ID": notice.message_id},
        ).send(using=MAILER)
    except Exception as exc:
        Notice.objects.filter(pk=notice.pk).update(state=Notice.State.FAILED, error=str(exc))
        raise
    Notice.objects.filter(pk=notice.pk).update(
        state=Notice.State.SENT, sent_at=timezone.now(), error=""
    )


def _deliver(
    report: NoticeReport,
    *,
    kind: str,
    about: str,
    recipients: list[str],
    subject: str,
    body: str,
    notice_fields: dict,
) -> None:
    """Record the notice as pending, send it, mark it sent (or failed, for the next run)."""
    if not recipients:
        report.no_recipients.append(NoticeOutcome(kind=kind, about=about))
        return
    notice = _claim(
        kind=kind, recipients=recipients, subject=subject, body=body, notice_fields=notice_fields
    )
    if notice is None:
        logger.info("Notice sent or being sent by another run: %s %s", kind, about)
        return
    try:
        _send(notice)
    except Exception as exc:  # any failure of the mail server must not stop the others
        logger.exception("Sending the %s notice about %s failed", kind, about)
        report.failed.append(
            NoticeOutcome(kind=kind, about=about, recipients=tuple(recipients), error=str(exc))
        )
    else:
        report.sent.append(NoticeOutcome(kind=kind, about=about, recipients=tuple(recipients)))


def _decide(notice: Notice) -> Notice:
    """Lock a notice that awaits a decision (or failed); refuse one sent or being sent now."""
    locked = Notice.objects.select_for_update().get(pk=notice.pk)
    undecided = (
        locked.state == Notice.State.FAILED or awaiting_decision().filter(pk=locked.pk).exists()
    )
    if not undecided:
        raise ValidationError(
            _("This notice is sent or being sent; there is nothing to decide."),
            code="not_awaiting",
        )
    return locked


def notice_resend(*, notice: Notice) -> Notice:
    """A person's decision: send a notice that awaits a decision (or failed) again, to the same
    recipients with the same subject, body and Message-ID. Raises what the server answers."""
    with transaction.atomic():
        locked = _decide(notice)
        locked.state = Notice.State.PENDING
        locked.attempted_at = timezone.now()
        locked.attempts += 1
        locked.save(update_fields=["state", "attempted_at", "attempts"])
    _send(locked)
    locked.refresh_from_db()
    return locked


@transaction.atomic
def notice_mark_sent(*, notice: Notice) -> Notice:
    """A person's decision: a notice that awaits a decision did reach its recipients (or need
    not); it is marked sent as of its last attempt and never sent again."""
    locked = _decide(notice)
    locked.state = Notice.State.SENT
    locked.sent_at = locked.attempted_at or timezone.now()
    locked.save(update_fields=["state", "sent_at"])
    return locked


def _outcome(notice: Notice) -> NoticeOutcome:
    about: Any = notice.agreement if notice.agreement_id else notice.follow_up
    return NoticeOutcome(
        kind=notice.kind,
        about=f"{about} (notice #{notice.pk}, since {notice.attempted_at:%Y-%m-%d %H:%M})",
        recipients=tuple(notice.recipients.split(", ")),
    )


def send_notices(*, today: datetime.date | None = None) -> NoticeReport:
    """Send the notices owed as of `today` (default: today in WIB) and record each one.

    (a) An agreement whose notice period has begun (notice_from <= today <= end_date): one
    e-mail to the staff of every party. (b) An open follow-up past its due date: one e-mail to
    the staff of the responsible institution and of the parties of the meeting's agreement.

    Not one transaction: each notice is recorded before its sending and marked after, so one
    failure does not hold back the others, and a crash after the mail server accepted one never
    sends it again. An event with nobody to write to is reported and not recorded, so it is sent
    once someone is added. Notices awaiting a person's decision are reported, not sent.
    """
    today = today or timezone.localdate()
    report = NoticeReport()
    agreements = expiring_agreements(today)
    follow_ups = overdue_follow_ups(today)
    audience: set[int] = set()
    for agreement in agreements:
        audience.update(access.agreement_audience(agreement))
    for follow_up in follow_ups:
        audience.update(access.follow_up_audience(follow_up))
    emails = staff_emails(audience)

    for agreement in agreements:
        assert agreement.end_date is not None  # the query selects agreements with an end date
        parties = list(agreement.parties.all())
        subject, body = _render(
            "expiring",
            {
                "agreement": agreement,
                "parties": parties,
                "end_date": agreement.end_date,
                "days_left": (agreement.end_date - today).days,
                "url": _agreement_url(agreement),
            },
        )
        _deliver(
            report,
            kind=Notice.Kind.EXPIRING,
            about=_describe(agreement),
            recipients=_recipients(emails, access.agreement_audience(agreement)),
            subject=subject,
            body=body,
            notice_fields={"agreement": agreement, "event_date": agreement.notice_from},
        )

    for follow_up in follow_ups:
        agreement = follow_up.meeting.agreement
        parties = list(agreement.parties.all())
        subject, body = _render(
            "overdue",
            {
                "follow_up": follow_up,
                "meeting": follow_up.meeting,
                "agreement": agreement,
                "owner": follow_up.owner,
                "due_date": follow_up.due_date,
                "days_overdue": (today - follow_up.due_date).days,
                "url": _agreement_url(agreement),
            },
        )
        _deliver(
            report,
            kind=Notice.Kind.FOLLOW_UP_OVERDUE,
            about=f"{follow_up} — {_describe(agreement)}",
            recipients=_recipients(emails, access.follow_up_audience(follow_up)),
            subject=subject,
            body=body,
            notice_fields={"follow_up": follow_up, "event_date": follow_up.due_date},
        )
    report.awaiting_decision = [
        _outcome(notice)
        for notice in awaiting_decision().select_related("agreement", "follow_up").order_by("pk")
    ]
    return report
