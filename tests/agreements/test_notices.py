"""Expiry notices and overdue follow-ups: sent once, to the right people, recorded."""

from __future__ import annotations

import datetime
import io
from smtplib import SMTPException

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.urls import reverse

from agreements.models import Agreement, FollowUp, Meeting, Notice
from agreements.services.notices import send_notices
from institutions.models import Institution, Membership
from tests import factories

pytestmark = pytest.mark.django_db

Role = Membership.Role
END = datetime.date(2026, 6, 30)
NOTICE_FROM = datetime.date(2026, 4, 1)  # 90 days before END
DUE = datetime.date(2025, 10, 10)  # long before the agreement's notice period


class PartlyFailingBackend(EmailBackend):
    """The test mailer, except that it cannot send anything about a "PKS Gagal"."""

    def send_messages(self, messages):
        if any("PKS Gagal" in message.subject for message in messages):
            raise SMTPException("451 server busy")
        return super().send_messages(messages)


@pytest.fixture
def world():
    pemalang = factories.institution("Rumah Tahanan Negara Kelas IIB Pemalang")
    batang = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind="bnnk", short_name="BNNK Batang"
    )
    dinkes = factories.institution(
        "Dinas Kesehatan Kabupaten Batang", kind=Institution.Kind.OTHER, short_name="Dinkes"
    )
    semarang = factories.institution("Lembaga Pemasyarakatan Kelas I Semarang", kind="lapas")
    pks = factories.agreement(
        pemalang,
        batang,
        status=Agreement.Status.SIGNED,
        title="PKS Rehabilitasi Sosial",
        subject="Rehabilitasi Sosial bagi Tahanan dan Narapidana",
        effective_date=datetime.date(2024, 7, 1),
        end_date=END,
    )
    people = {
        "rutan_editor": factories.user(
            institution=pemalang, roles=(Role.EDITOR,), email="editor@rutan.example"
        ),
        "rutan_viewer": factories.user(
            institution=pemalang, roles=(Role.VIEWER, Role.PROGRAMME), email="viewer@rutan.example"
        ),
        "bnnk_admin": factories.user(
            institution=batang, roles=(Role.ADMIN,), email="admin@bnnk.example"
        ),
        "no_email": factories.user(institution=batang, roles=(Role.EDITOR,), email=""),
        "inactive": factories.user(
            institution=batang, roles=(Role.EDITOR,), email="gone@bnnk.example", is_active=False
        ),
        "dinkes_staff": factories.user(
            institution=dinkes, roles=(Role.EDITOR,), email="staf@dinkes.example"
        ),
        "elsewhere": factories.user(
            institution=semarang, roles=(Role.ADMIN,), email="admin@lapas.example"
        ),
    }
    # One person on staff at both parties, and a second account with the same address.
    Membership.objects.create(user=people["rutan_editor"], institution=batang, role=Role.VIEWER)
    factories.user(institution=batang, roles=(Role.VIEWER,), email="Editor@Rutan.example")
    return {
        "pemalang": pemalang,
        "batang": batang,
        "dinkes": dinkes,
        "semarang": semarang,
        "pks": pks,
        **people,
    }


PARTY_STAFF = ["admin@bnnk.example", "editor@rutan.example", "viewer@rutan.example"]


def _follow_up(world, *, owner, due=DUE, done_on=None) -> FollowUp:
    meeting = Meeting.objects.create(
        agreement=world["pks"],
        date=datetime.date(2025, 10, 1),
        start_time=datetime.time(9),
        venue="Kantor BNNK Batang",
        host=world["batang"],
    )
    return FollowUp.objects.create(
        meeting=meeting,
        description="Menyusun jadwal skrining ASSIST bagi warga binaan",
        owner=owner,
        due_date=due,
        done_on=done_on,
    )


# --- Expiring agreements -----------------------------------------------------------------


def test_nothing_before_the_notice_period(world):
    report = send_notices(today=NOTICE_FROM - datetime.timedelta(days=1))
    assert report.sent == [] and report.ok
    assert mail.outbox == []
    assert not Notice.objects.exists()


def test_entering_the_notice_period_sends_once_to_the_parties_staff(world):
    report = send_notices(today=NOTICE_FROM)
    assert report.ok
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == PARTY_STAFF
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "PKS Rehabilitasi Sosial" in message.subject
    assert "Segera berakhir" in message.subject and "Expiring soon" in message.subject
    assert "30 Juni 2026" in message.body  # Indonesian
    assert "30 June 2026" in message.body  # English
    assert "90 hari lagi" in message.body and "in 90 days" in message.body
    url = settings.SITE_URL + reverse("public:agreement", args=[world["pks"].pk])
    assert url in message.body
    for party in world["pks"].parties.all():
        assert party.number in message.body
    notice = Notice.objects.get()
    assert notice.kind == Notice.Kind.EXPIRING
    assert notice.agreement == world["pks"]
    assert notice.event_date == NOTICE_FROM
    assert notice.recipients == ", ".join(PARTY_STAFF)
    assert [outcome.recipients for outcome in report.sent] == [tuple(PARTY_STAFF)]

    # Running again, the same day or later in the period, sends nothing new.
    assert send_notices(today=NOTICE_FROM).sent == []
    assert send_notices(today=END).sent == []
    assert len(mail.outbox) == 1
    assert Notice.objects.count() == 1


def test_a_late_first_run_still_announces_until_the_last_day(world):
    report = send_notices(today=END)
    assert len(report.sent) == 1
    assert "hari ini" in mail.outbox[0].body and "today" in mail.outbox[0].body


def test_expired_draft_and_terminated_agreements_send_nothing(world):
    after_end = END + datetime.timedelta(days=1)
    assert send_notices(today=after_end).sent == []
    pemalang, batang = world["pemalang"], world["batang"]
    factories.agreement(pemalang, batang, title="PKS Draf", end_date=END)
    factories.agreement(pemalang, batang, status=Agreement.Status.READY, end_date=END)
    factories.agreement(pemalang, batang, status=Agreement.Status.TERMINATED, end_date=END)
    factories.agreement(pemalang, batang, status=Agreement.Status.SIGNED)  # no end date
    report = send_notices(today=NOTICE_FROM)
    assert [outcome.about for outcome in report.sent] == [
        f"PKS Rehabilitasi Sosial (#{world['pks'].pk})"
    ]
    assert len(mail.outbox) == 1


def test_a_new_end_date_is_a_new_notice(world):
    send_notices(today=NOTICE_FROM)
    pks = world["pks"]
    pks.end_date = datetime.date(2028, 6, 30)  # an amendment moved the end
    pks.save()
    assert send_notices(today=datetime.date(2028, 4, 1)).sent != []
    assert sorted(Notice.objects.values_list("event_date", flat=True)) == [
        NOTICE_FROM,
        datetime.date(2028, 4, 1),
    ]


def test_agreement_without_recipients_is_reported_not_recorded(world):
    lonely = factories.agreement(
        factories.institution(), factories.institution(), status="signed", end_date=END
    )
    report = send_notices(today=NOTICE_FROM)
    assert [outcome.about for outcome in report.no_recipients] == [f"{lonely.title} (#{lonely.pk})"]
    assert report.ok
    assert not Notice.objects.filter(agreement=lonely).exists()
    assert len(mail.outbox) == 1


# --- Overdue follow-ups ------------------------------------------------------------------


def test_overdue_follow_up_sends_once_to_owner_and_parties(world):
    follow_up = _follow_up(world, owner=world["dinkes"])
    assert send_notices(today=DUE).sent == []  # due today is not overdue yet
    today = DUE + datetime.timedelta(days=3)
    report = send_notices(today=today)
    assert report.ok and len(report.sent) == 1
    message = mail.outbox[0]
    assert message.to == sorted([*PARTY_STAFF, "staf@dinkes.example"])
    assert "Follow-up overdue" in message.subject and "Tindak lanjut" in message.subject
    assert follow_up.description in message.body
    assert "10 Oktober 2025" in message.body and "10 October 2025" in message.body
    assert "terlambat 3 hari" in message.body and "3 days overdue" in message.body
    notice = Notice.objects.get(kind=Notice.Kind.FOLLOW_UP_OVERDUE)
    assert notice.follow_up == follow_up
    assert notice.agreement is None
    assert notice.event_date == DUE
    assert "staf@dinkes.example" in notice.recipients
    assert "admin@lapas.example" not in notice.recipients

    assert send_notices(today=today + datetime.timedelta(days=1)).sent == []
    assert len(mail.outbox) == 1


def test_done_follow_up_sends_nothing(world):
    _follow_up(world, owner=world["batang"], done_on=DUE)
    assert send_notices(today=DUE + datetime.timedelta(days=5)).sent == []
    assert mail.outbox == []


def test_a_postponed_follow_up_is_announced_again_when_overdue_again(world):
    follow_up = _follow_up(world, owner=world["batang"])
    send_notices(today=DUE + datetime.timedelta(days=1))
    follow_up.due_date = datetime.date(2025, 11, 1)
    follow_up.save()
    assert send_notices(today=datetime.date(2025, 10, 20)).sent == []
    assert len(send_notices(today=datetime.date(2025, 11, 2)).sent) == 1
    assert Notice.objects.filter(follow_up=follow_up).count() == 2


# --- Recipients --------------------------------------------------------------------------


def test_recipients_are_active_party_staff_with_an_address_once_each(world):
    send_notices(today=NOTICE_FROM)
    (message,) = mail.outbox
    recipients = message.to
    assert len(recipients) == len({address.lower() for address in recipients})
    assert "gone@bnnk.example" not in recipients  # inactive account
    assert "admin@lapas.example" not in recipients  # another institution's staff
    assert "staf@dinkes.example" not in recipients  # not a party of this agreement
    assert "" not in recipients


# --- Failures and the command ------------------------------------------------------------


def test_a_failing_mailer_marks_the_notice_failed_and_the_next_run_sends_it(world, settings):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.PartlyFailingBackend"}}
    failing = factories.agreement(
        world["pemalang"], world["batang"], status="signed", title="PKS Gagal", end_date=END
    )
    report = send_notices(today=NOTICE_FROM)
    assert not report.ok
    assert [outcome.about for outcome in report.failed] == [f"PKS Gagal (#{failing.pk})"]
    assert "451 server busy" in report.failed[0].error
    assert [outcome.about for outcome in report.sent] == [
        f"PKS Rehabilitasi Sosial (#{world['pks'].pk})"
    ]
    refused = Notice.objects.get(agreement=failing)
    assert refused.state == Notice.State.FAILED
    assert refused.sent_at is None
    assert "451 server busy" in refused.error
    assert Notice.objects.get(agreement=world["pks"]).state == Notice.State.SENT
    assert len(mail.outbox) == 1

    # Once the server answers again, the next run sends what is still owed, and only that.
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    report = send_notices(today=NOTICE_FROM + datetime.timedelta(days=1))
    assert [outcome.about for outcome in report.sent] == [f"PKS Gagal (#{failing.pk})"]
    (notice,) = Notice.objects.filter(agreement=failing)
    assert notice.pk == refused.pk
    assert notice.state == Notice.State.SENT
    assert notice.attempts == 2
    assert notice.error == ""
    assert mail.outbox[-1].extra_headers["Message-ID"] == refused.message_id


def test_command_reports_what_it_did(world):
    factories.agreement(
        factories.institution(),
        factories.institution(),
        status="signed",
        title="PKS Sepi",
        end_date=END,
    )
    out = io.StringIO()
    call_command("send_agreement_notices", "--date", NOTICE_FROM.isoformat(), stdout=out)
    output = out.getvalue()
    assert "Sent expiring: PKS Rehabilitasi Sosial" in output
    assert "editor@rutan.example" in output
    assert "No recipients expiring: PKS Sepi" in output
    assert "1 sent, 1 without recipients, 0 failed, 0 awaiting a decision." in output
    out = io.StringIO()
    call_command("send_agreement_notices", "--date", NOTICE_FROM.isoformat(), stdout=out)
    assert "0 sent" in out.getvalue()
    assert len(mail.outbox) == 1


def test_command_exits_with_1_when_a_notice_failed(world, settings):
    settings.MAILERS = {"default": {"BACKEND": f"{__name__}.PartlyFailingBackend"}}
    factories.agreement(
        world["pemalang"], world["batang"], status="signed", title="PKS Gagal", end_date=END
    )
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command(
            "send_agreement_notices", "--date", NOTICE_FROM.isoformat(), stdout=out, stderr=err
        )
    assert failure.value.returncode == 1
    assert "1 sent, 0 without recipients, 1 failed, 0 awaiting a decision." in str(failure.value)
    assert "Failed expiring: PKS Gagal" in err.getvalue()
    assert "451 server busy" in err.getvalue()


def test_command_rejects_a_malformed_date(world):
    with pytest.raises(CommandError):
        call_command("send_agreement_notices", "--date", "kemarin")
    assert mail.outbox == []
