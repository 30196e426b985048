"""Notices at least once, never twice without a person deciding: the row is written before the
e-mail goes out, each e-mail carries a Message-ID made from its event, a crash after the mail
server accepted one does not resend it, and two runs at once send each notice once."""

from __future__ import annotations

import datetime
import io
import threading

import pytest
from django.contrib.admin.sites import site
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory
from django.utils import timezone

from agreements.admin import NoticeAdmin
from agreements.models import Agreement, Notice
from agreements.services import notices
from agreements.services.notices import send_notices
from tests import factories

END = datetime.date(2026, 6, 30)
NOTICE_FROM = datetime.date(2026, 4, 1)


class CrashAfterAcceptingBackend(EmailBackend):
    """The mail server accepts the message, then the process dies before anything else runs
    (SystemExit stands for the kill: nothing after it in the run is executed)."""

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        raise SystemExit("killed after the server accepted the message")
        return sent  # pragma: no cover


class SlowBackend(EmailBackend):
    """The test mailer, slow enough for two runs to overlap."""

    def send_messages(self, messages):
        threading.Event().wait(0.2)
        return super().send_messages(messages)


def _world(count: int = 1) -> list[Agreement]:
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    bnnk = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    factories.user(institution=rutan, email="editor@rutan.example")
    return [
        factories.agreement(
            rutan,
            bnnk,
            status=Agreement.Status.SIGNED,
            title=f"PKS {n}",
            effective_date=datetime.date(2024, 7, 1),
            end_date=END,
        )
        for n in range(1, count + 1)
    ]


@pytest.mark.django_db
def test_each_notice_carries_a_message_id_made_from_its_event(settings):
    settings.SITE_URL = "https://pks.example.go.id"
    (agreement,) = _world()
    send_notices(today=NOTICE_FROM)
    (message,) = mail.outbox
    notice = Notice.objects.get()
    expected = f"<notice.expiring.{agreement.pk}.2026-04-01@pks.example.go.id>"
    assert notice.message_id == expected
    assert message.message()["Message-ID"] == expected
    assert notice.state == Notice.State.SENT
    assert notice.sent_at is not None
    assert notice.attempts == 1
    assert (notice.subject, notice.body) == (message.subject, message.body)


@pytest.mark.django_db
def test_a_crash_after_the_server_accepted_does_not_resend_and_waits_for_a_decision(settings):
    _world()
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.CrashAfterAcceptingBackend"}}
    with pytest.raises(SystemExit):
        send_notices(today=NOTICE_FROM)
    assert len(mail.outbox) == 1  # it did reach the recipients
    notice = Notice.objects.get()
    assert notice.state == Notice.State.PENDING

    # The next run (the process restarted, the server is fine) sends nothing again.
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    report = send_notices(today=NOTICE_FROM + datetime.timedelta(days=1))
    assert report.sent == [] and report.failed == []
    assert report.awaiting_decision == []  # still inside the window: perhaps being sent
    assert len(mail.outbox) == 1

    # Past the window it is listed for a person, by the run, the command and the admin.
    settings.NOTICE_ATTEMPT_WINDOW_MINUTES = 30
    Notice.objects.filter(pk=notice.pk).update(
        attempted_at=timezone.now() - datetime.timedelta(minutes=31)
    )
    report = send_notices(today=NOTICE_FROM + datetime.timedelta(days=2))
    assert report.sent == []
    assert [outcome.kind for outcome in report.awaiting_decision] == ["expiring"]
    assert f"notice #{notice.pk}" in report.awaiting_decision[0].about
    out = io.StringIO()
    call_command("send_agreement_notices", "--date", "2026-04-04", stdout=out)
    assert "Awaiting a decision expiring" in out.getvalue()
    assert "0 sent, 0 without recipients, 0 failed, 1 awaiting a decision." in out.getvalue()
    assert list(notices.awaiting_decision()) == [notice]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_person_resends_with_the_same_message_id_or_marks_sent(settings, admin_user):
    _world(2)
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.CrashAfterAcceptingBackend"}}
    for _ in range(2):  # each run crashes after one e-mail
        with pytest.raises(SystemExit):
            send_notices(today=NOTICE_FROM)
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    Notice.objects.update(attempted_at=timezone.now() - datetime.timedelta(hours=2))
    first, second = Notice.objects.order_by("pk")
    assert len(mail.outbox) == 2

    request = RequestFactory().post("/admin/agreements/notice/")
    request.user = admin_user
    request._messages = type("Messages", (), {"add": lambda *args, **kwargs: None})()
    model_admin = NoticeAdmin(Notice, site)
    assert {"resend", "mark_sent"} <= set(model_admin.get_actions(request))
    model_admin.resend(request, Notice.objects.filter(pk=first.pk))
    model_admin.mark_sent(request, Notice.objects.filter(pk=second.pk))

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.attempts) == (Notice.State.SENT, 2)
    assert mail.outbox[-1].extra_headers["Message-ID"] == first.message_id
    assert mail.outbox[-1].to == first.recipients.split(", ")
    assert (second.state, second.sent_at) == (Notice.State.SENT, second.attempted_at)
    assert len(mail.outbox) == 3
    # Decided: no run sends them again, and no second decision is taken.
    assert send_notices(today=NOTICE_FROM).sent == []
    with pytest.raises(ValidationError) as refused:
        notices.notice_resend(notice=first)
    assert refused.value.code == "not_awaiting"
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_only_superusers_decide(rf):
    staff = factories.user(institution=factories.institution())
    staff.is_staff = True
    request = rf.post("/admin/agreements/notice/")
    request.user = staff
    assert not {"resend", "mark_sent"} & set(NoticeAdmin(Notice, site).get_actions(request))


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_notice_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the runs cannot overlap")
    _world(4)
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.SlowBackend"}}
    start = threading.Barrier(2)
    reports = []

    def run():
        try:
            start.wait()
            reports.append(send_notices(today=NOTICE_FROM))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(reports) == 2
    assert sum(len(report.sent) for report in reports) == 4
    assert all(report.ok for report in reports)
    assert len(mail.outbox) == 4
    assert len({message.extra_headers["Message-ID"] for message in mail.outbox}) == 4
    assert sorted(Notice.objects.values_list("state", flat=True)) == [Notice.State.SENT] * 4
