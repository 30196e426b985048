"""Background tasks on the database queue, run by the real worker (django-tasks-db's Worker):
retries with back-off, the schedule and its slots, tasks whose worker died, the readiness check,
and a signing that answers at once while its PDFs are issued in the background."""

from __future__ import annotations

import datetime
import logging
import re

import pytest
from django.core import mail
from django.db import connection
from django.tasks import TaskResultStatus
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from agreements import caching
from agreements.models import Agreement, IssuedDocument, SigningEvent
from agreements.services import lifecycle
from agreements.tasks import issue_agreement_document
from config import tasks as config_tasks
from config.models import ScheduledRun
from config.tasks import retried
from institutions.models import Institution
from tests import factories
from tests.worker import queued, run_queued_tasks

pytestmark = pytest.mark.django_db

Status = Agreement.Status

#: Calls of `flaky` in the current test.
CALLS: list[int] = []


@retried()
def flaky(*, failures: int) -> str:
    """Fails its first `failures` calls, then succeeds."""
    CALLS.append(1)
    if len(CALLS) <= failures:
        raise RuntimeError(f"flaky call {len(CALLS)}")
    return "done"


@pytest.fixture(autouse=True)
def _no_calls():
    CALLS.clear()


def _make_due(row: DBTaskResult) -> None:
    """Let the back-off pass."""
    DBTaskResult.objects.filter(pk=row.pk).update(run_after=timezone.now())


# --- Retries ---------------------------------------------------------------------------------


def test_a_failing_task_is_retried_with_doubling_back_off_then_left_failed(settings, caplog):
    settings.TASK_MAX_ATTEMPTS = 3
    settings.TASK_RETRY_DELAY = 10
    flaky.enqueue(failures=99)

    with caplog.at_level(logging.WARNING, logger="config.tasks"):
        for _attempt in range(3):
            assert run_queued_tasks() == 1
            rows = queued("flaky")
            if rows[-1].status == TaskResultStatus.READY:
                _make_due(rows[-1])
        assert run_queued_tasks() == 0

    rows = queued("flaky")
    assert [row.status for row in rows] == [TaskResultStatus.FAILED] * 3
    assert [row.args_kwargs["kwargs"].get("attempt", 1) for row in rows] == [1, 2, 3]
    assert [f"flaky call {n}" in row.traceback for n, row in enumerate(rows, 1)] == [True] * 3
    assert len(CALLS) == 3
    assert "tried again in 0:00:10" in caplog.text
    assert "tried again in 0:00:20" in caplog.text
    assert "failed at attempt 3; not tried again" in caplog.text


def test_the_back_off_doubles_and_is_capped(settings):
    settings.TASK_RETRY_DELAY = 60
    assert [config_tasks.retry_delay(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert config_tasks.retry_delay(30) == config_tasks.MAX_RETRY_DELAY


def test_a_retry_waits_for_its_back_off(settings):
    settings.TASK_RETRY_DELAY = 30
    flaky.enqueue(failures=1)
    before = timezone.now()
    assert run_queued_tasks() == 1
    failed, retry = queued("flaky")
    assert retry.run_after >= before + datetime.timedelta(seconds=30)
    assert run_queued_tasks() == 0  # not yet due
    _make_due(retry)
    assert run_queued_tasks() == 1
    retry.refresh_from_db()
    assert (failed.status, retry.status) == (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL)
    assert retry.return_value == "done"


def test_a_task_whose_worker_died_is_marked_failed_and_tried_again(settings):
    settings.TASK_STALLED_AFTER = 600
    agreement = factories.agreement(
        factories.institution(), factories.institution(), status=Status.SIGNED
    )
    DBTaskResult.objects.all().delete()  # the signing's own task: this test queues its own
    result = issue_agreement_document.enqueue(agreement_id=agreement.pk)
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim("killed-worker")  # the worker took it, then was killed with -9
    now = timezone.now()
    DBTaskResult.objects.filter(pk=row.pk).update(started_at=now - datetime.timedelta(hours=1))

    assert config_tasks.requeue_stalled_tasks(now=now) == 1
    assert config_tasks.requeue_stalled_tasks(now=now) == 0  # once only

    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert row.exception_class_path == "config.tasks.StalledTask"
    assert "killed-worker" in row.traceback
    (_dead, retry) = queued("issue_agreement_document")
    assert retry.args_kwargs["kwargs"] == {"agreement_id": agreement.pk, "attempt": 2}
    _make_due(retry)
    assert run_queued_tasks() == 1
    assert IssuedDocument.objects.filter(agreement=agreement).count() == 1


def test_a_task_running_for_less_than_the_limit_is_left_alone(settings):
    settings.TASK_STALLED_AFTER = 600
    result = flaky.enqueue(failures=0)
    DBTaskResult.objects.get(pk=result.id).claim("busy-worker")
    assert config_tasks.requeue_stalled_tasks(now=timezone.now()) == 0
    assert DBTaskResult.objects.get(pk=result.id).status == TaskResultStatus.RUNNING


# --- The schedule ----------------------------------------------------------------------------


def test_the_schedule_starts_once_however_many_workers_start():
    now = timezone.now()
    assert config_tasks.ensure_schedule(now=now) is True
    assert config_tasks.ensure_schedule(now=now) is False  # a second worker
    (tick,) = queued("schedule_tick")
    assert tick.status == TaskResultStatus.READY
    assert ScheduledRun.objects.filter(job=config_tasks.TICK_JOB).count() == 1


#: The daily jobs of the schedule: notices at NOTICE_HOUR, then the nightly rebuild of the
#: public counts (02:00), the sweep of files no row names (03:00) and housekeeping (04:00).
DAILY_JOBS = ["agreement-notices", "statistics-refresh", "file-sweep", "housekeeping"]


def test_a_tick_queues_the_next_one_and_the_daily_notices_once(settings):
    signed = factories.agreement(
        factories.institution(),
        factories.institution(),
        status=Status.SIGNED,
        end_date=timezone.localdate() + datetime.timedelta(days=30),
    )
    factories.user(institution=signed.parties.first().institution, email="staf@rutan.example")
    DBTaskResult.objects.all().delete()  # the signing's issuing: not what this test is about
    config_tasks.ensure_schedule()

    # The tick, then the daily jobs it queued, in one batch; the next tick waits for its time.
    assert run_queued_tasks() == 1 + len(config_tasks.JOBS)
    first, following = queued("schedule_tick")
    assert first.status == TaskResultStatus.SUCCESSFUL
    assert first.return_value["queued"] == DAILY_JOBS
    for task_name in ("refresh_statistics", "sweep_files", "housekeeping"):
        (run,) = queued(task_name)
        assert run.status == TaskResultStatus.SUCCESSFUL
    assert following.status == TaskResultStatus.READY
    assert following.run_after - timezone.now() <= config_tasks.TICK
    (notices_run,) = queued("send_agreement_notices")
    assert notices_run.status == TaskResultStatus.SUCCESSFUL
    assert notices_run.return_value["sent"] == 1
    assert len(mail.outbox) == 1

    # The next tick, and a duplicate chain's tick, on the same day: no second notices run.
    _make_due(following)
    config_tasks.schedule_tick.enqueue(slot=following.args_kwargs["kwargs"]["slot"])
    assert run_queued_tasks() == 2
    assert len(queued("send_agreement_notices")) == 1
    assert ScheduledRun.objects.filter(job="agreement-notices").count() == 1
    # Each tick slot was queued once: the first, the second, and the one after it.
    assert len(queued("schedule_tick")) == 4  # with the duplicate enqueued by hand
    assert ScheduledRun.objects.filter(job=config_tasks.TICK_JOB).count() == 3


def test_the_daily_slot_is_the_latest_notice_hour(settings):
    settings.NOTICE_HOUR = 7
    job = config_tasks.JOBS[0]
    assert job.name == "agreement-notices"
    wib = timezone.get_current_timezone()
    before = datetime.datetime(2026, 12, 1, 6, 59, tzinfo=wib)
    after = datetime.datetime(2026, 12, 1, 7, 0, tzinfo=wib)
    assert job.last_slot(before) == datetime.datetime(2026, 11, 30, 7, 0, tzinfo=wib)
    assert job.last_slot(after) == after
    assert config_tasks.run_due_jobs(now=after) == DAILY_JOBS
    assert config_tasks.run_due_jobs(now=after + datetime.timedelta(hours=5)) == []
    assert config_tasks.run_due_jobs(now=after + datetime.timedelta(days=1)) == DAILY_JOBS


# --- Readiness -------------------------------------------------------------------------------


def test_readiness_says_the_queue_answers(client):
    response = client.get("/readyz")
    assert response.json()["queue"] == "ok"


def test_readiness_says_when_the_queue_is_unreachable(client):
    table = DBTaskResult._meta.db_table
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(f"ALTER TABLE {table} RENAME TO gone_tasks")
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["queue"] == "unavailable"
    assert "queue" in body["down"]
    assert body["database"] == "ok"


# --- Signing answers at once; the PDFs follow ------------------------------------------------


@pytest.fixture
def signing_world():
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution(
        "Badan Narkotika Nasional Kabupaten Batang", kind=Institution.Kind.BNNK
    )
    editor = factories.user("editor", institution=rutan)
    ready = [
        factories.agreement(rutan, bnnk, status=Status.READY, title=f"PKS {n}") for n in (1, 2)
    ]
    for agreement in ready:
        for party in agreement.parties.select_related("institution"):
            party.signatory = factories.person(f"Kepala {party.institution.display_name}")
            party.signatory_position = "Kepala"
            party.save(update_fields=["signatory", "signatory_position"])
    return {"rutan": rutan, "editor": editor, "ready": ready}


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _signing_post(page, world) -> dict:
    key = re.search(r'name="submission_key" value="([^"]+)"', page.content.decode())
    assert key, "the signing form carries no submission key"
    return {
        "submission_key": key.group(1),
        "date": "2025-08-04",
        "start_time": "09:00",
        "venue": "Aula Rutan Pekalongan",
        "host": world["rutan"].pk,
        "notes": "",
        "agreements": [agreement.pk for agreement in world["ready"]],
    }


def test_signing_answers_at_once_and_the_documents_appear_after_the_worker(
    signing_world, django_assert_num_queries
):
    client = _browser(signing_world["editor"])
    form = client.get(reverse("agreements:signing_create"))
    response = client.post(reverse("agreements:signing_create"), _signing_post(form, signing_world))
    assert response.status_code == 302, response.context["form"].errors
    event = SigningEvent.objects.get()
    assert response["Location"] == reverse("agreements:signing_detail", args=[event.pk])
    assert not IssuedDocument.objects.exists()
    assert len(queued("issue_agreement_document")) == 2

    page = client.get(response["Location"])  # in Indonesian, the default
    assert page["Refresh"] == "5"
    assert page.content.decode().count("PDF resmi sedang diterbitkan") == 2

    assert run_queued_tasks() == 2
    # Session, user, roles, event, agreements with their documents, parties, institutions,
    # the session saved: the same for any number of agreements.
    with django_assert_num_queries(10):
        page = client.get(response["Location"])
    assert "Refresh" not in page
    for agreement in signing_world["ready"]:
        assert reverse("public:agreement_pdf", args=[agreement.pk]) in page.content.decode()
    assert IssuedDocument.objects.count() == 2


def test_the_same_signing_form_sent_again_finds_its_signing(signing_world):
    client = _browser(signing_world["editor"])
    form = client.get(reverse("agreements:signing_create"))
    data = _signing_post(form, signing_world)
    first = client.post(reverse("agreements:signing_create"), data)
    # The connection dropped before the answer arrived; the browser sends the form again.
    again = client.post(reverse("agreements:signing_create"), data, follow=True)

    assert again.redirect_chain == [(first["Location"], 302)]
    assert SigningEvent.objects.count() == 1
    assert len(queued("issue_agreement_document")) == 2
    messages = [str(message) for message in again.context["messages"]]
    assert len(messages) == 2  # "recorded" from the first answer, unseen, and "already recorded"
    assert all(
        agreement.status == Status.SIGNED
        for agreement in Agreement.objects.filter(pk__in=data["agreements"])
    )


def test_a_new_form_for_agreements_already_signed_is_still_refused(signing_world):
    client = _browser(signing_world["editor"])
    data = _signing_post(client.get(reverse("agreements:signing_create")), signing_world)
    client.post(reverse("agreements:signing_create"), data)
    fresh = _signing_post(client.get(reverse("agreements:signing_create")), signing_world)
    assert fresh["submission_key"] != data["submission_key"]

    response = client.post(reverse("agreements:signing_create"), fresh)

    assert response.status_code == 200  # the form again, with the refusal
    assert response.context["form"].errors
    assert SigningEvent.objects.count() == 1


def test_a_submission_key_is_only_taken_from_a_well_formed_value(signing_world):
    client = _browser(signing_world["editor"])
    data = _signing_post(client.get(reverse("agreements:signing_create")), signing_world)
    data["submission_key"] = "x' OR 1=1 --"
    response = client.post(reverse("agreements:signing_create"), data)
    assert response.status_code == 302
    assert SigningEvent.objects.get().submission_key != data["submission_key"]


def test_the_service_returns_the_event_of_a_key_it_already_recorded(signing_world):
    editor, ready = signing_world["editor"], signing_world["ready"]
    kwargs = {
        "user": editor,
        "date": datetime.date(2025, 8, 4),
        "venue": "Aula",
        "host": signing_world["rutan"],
        "submission_key": "k" * 32,
    }
    first = lifecycle.signing_event_record(agreements=ready, **kwargs)
    again = lifecycle.signing_event_record(
        agreements=list(Agreement.objects.filter(pk__in=[a.pk for a in ready])), **kwargs
    )
    assert again == first
    assert len(queued("issue_agreement_document")) == 2


# --- The immediate backend (TASK_BACKEND=immediate) -------------------------------------------


@pytest.fixture
def immediate(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def test_with_the_immediate_backend_the_signing_issues_after_its_commit(
    immediate, signing_world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        lifecycle.signing_event_record(
            user=signing_world["editor"],
            date=datetime.date(2025, 8, 4),
            venue="Aula",
            host=signing_world["rutan"],
            agreements=signing_world["ready"],
        )
        assert not IssuedDocument.objects.exists()  # not inside the signing's transaction
    # Two issuings (besides renewing the cached registry and feeds, agreements.caching).
    issuings = [c for c in callbacks if getattr(c, "func", None) is not caching.bump]
    assert len(issuings) == 2
    assert IssuedDocument.objects.count() == 2
    assert not DBTaskResult.objects.exists()


def test_with_the_immediate_backend_a_failure_is_not_retried(immediate, caplog):
    result = flaky.enqueue(failures=1)
    assert result.status == TaskResultStatus.FAILED
    assert len(CALLS) == 1
    assert "not tried again" in caplog.text
    assert config_tasks.ensure_schedule() is False  # no queue, no schedule
    assert config_tasks.queue_answers() is True


def test_housekeeping_removes_expired_sessions_old_results_and_old_slots():
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    expired, current = SessionStore(), SessionStore()
    expired.set_expiry(-60)
    expired.save()
    current.save()
    old_slot = timezone.now() - datetime.timedelta(days=config_tasks.SCHEDULED_RUNS_KEPT_DAYS + 1)
    ScheduledRun.objects.create(job="agreement-notices", slot=old_slot)
    recent = ScheduledRun.objects.create(job="agreement-notices", slot=timezone.now())
    DBTaskResult.objects.all().delete()
    old = DBTaskResult.objects.get(pk=issue_agreement_document.enqueue(agreement_id=0).id)
    assert run_queued_tasks() == 1
    DBTaskResult.objects.filter(pk=old.pk).update(
        finished_at=timezone.now()
        - datetime.timedelta(days=config_tasks.TASK_RESULTS_KEPT_DAYS + 1)
    )

    config_tasks.housekeeping.enqueue()
    assert run_queued_tasks() == 1

    assert list(Session.objects.values_list("session_key", flat=True)) == [current.session_key]
    assert list(ScheduledRun.objects.all()) == [recent]
    assert not DBTaskResult.objects.filter(pk=old.pk).exists()
    (run,) = queued("housekeeping")
    assert run.status == TaskResultStatus.SUCCESSFUL
