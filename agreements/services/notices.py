"""Notice e-mails: agreements entering their notice period, and overdue follow-ups.

`send_notices` is run once a day (`manage.py send_agreement_notices`). Each event is announced
once: a `Notice` row records what was sent, and an event that already has one is skipped, so
running it again the same day (or after a failure) sends only what is still owed.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

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


def expiring_agreements(today: datetime.date) -> list[Agreement]:
    """Signed agreements inside their notice period, not yet expired and not yet announced."""
    announced = Notice.objects.filter(
        kind=Notice.Kind.EXPIRING, agreement=OuterRef("pk"), event_date=OuterRef("notice_from")
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
    """Record the notice and send it in one transaction: if sending fails, no row is kept
    and the next run tries again."""
    if not recipients:
        report.no_recipients.append(NoticeOutcome(kind=kind, about=about))
        return
    try:
        with transaction.atomic():
            Notice.objects.create(kind=kind, recipients=", ".join(recipients), **notice_fields)
            EmailMessage(subject=subject, body=body, to=recipients).send(using=MAILER)
    except IntegrityError:
        # Another run recorded (and sent) this notice in the meantime.
        logger.info("Notice already recorded by another run: %s %s", kind, about)
    except Exception as exc:  # any failure of the mail server must not stop the others
        logger.exception("Sending the %s notice about %s failed", kind, about)
        report.failed.append(
            NoticeOutcome(kind=kind, about=about, recipients=tuple(recipients), error=str(exc))
        )
    else:
        report.sent.append(NoticeOutcome(kind=kind, about=about, recipients=tuple(recipients)))


def send_notices(*, today: datetime.date | None = None) -> NoticeReport:
    """Send the notices owed as of `today` (default: today in WIB) and record each one.

    (a) An agreement whose notice period has begun (notice_from <= today <= end_date): one
    e-mail to the staff of every party. (b) An open follow-up past its due date: one e-mail to
    the staff of the responsible institution and of the parties of the meeting's agreement.

    Not one transaction: each notice is committed together with its sending, so one failure
    does not hold back the others nor lose the record of those already sent. An event with
    nobody to write to is reported and not recorded, so it is sent once someone is added.
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
    return report
