"""Worker processes (`manage.py run_worker`) on PostgreSQL: two on one queue at once, each task
run by one of them, and no agreement gets two documents or two files, even with its issuing
queued twice; and a worker killed with -9 in the middle of a task, whose task is then tried
again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from agreements.models import Agreement, IssuedDocument
from agreements.tasks import issue_agreement_document
from config import tasks as config_tasks
from config.models import ScheduledRun
from config.tasks import retried
from tests import factories
from tests.worker import queued, run_queued_tasks

ROOT = Path(__file__).resolve().parent.parent
AGREEMENTS = 4


@retried()
def slow_the_first_time(*, marker: str) -> str:
    """Hangs the first time (until its worker is killed), returns at once after."""
    path = Path(marker)
    if not path.exists():
        path.write_text("started")
        time.sleep(120)
    return "done"


def _database_url() -> str:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"


def _worker(worker_id: str, database: str, *, batch: bool = True) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "SITE_URL": settings.SITE_URL,
    }
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "manage.py",
            "run_worker",
            *(["--batch"] if batch else []),
            "--no-reload",
            "--no-startup-delay",
            "--worker-id",
            worker_id,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_queue_and_nothing_is_done_twice():
    if connection.vendor != "postgresql":
        pytest.skip("worker processes need a database server (SQLite's test database is in memory)")
    db = connection.settings_dict
    database = (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    rutan = factories.institution("Rumah Tahanan Negara Kelas IIA Pekalongan")
    bnnk = factories.institution("Badan Narkotika Nasional Kabupaten Batang", kind="bnnk")
    agreements = [
        factories.agreement(rutan, bnnk, status=Agreement.Status.SIGNED, title=f"PKS {n}")
        for n in range(AGREEMENTS)
    ]
    # Each signing queued its issuing; queue each once more, as a retry would.
    for agreement in agreements:
        issue_agreement_document.enqueue(agreement_id=agreement.pk)
    assert len(queued("issue_agreement_document")) == 2 * AGREEMENTS

    workers = [_worker(f"worker-{n}", database) for n in (1, 2)]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs

    rows = queued("issue_agreement_document")
    assert [row.status for row in rows] == [TaskResultStatus.SUCCESSFUL] * (2 * AGREEMENTS)
    assert all(len(row.worker_ids) == 1 for row in rows)  # claimed once, by one worker
    assert {row.worker_ids[0] for row in rows} == {"worker-1", "worker-2"}, outputs
    documents = IssuedDocument.objects.all()
    assert sorted(document.agreement_id for document in documents) == sorted(
        agreement.pk for agreement in agreements
    )
    issued = Path(settings.MEDIA_ROOT) / "private" / "issued"
    files = sorted(path for path in issued.rglob("*") if path.is_file())
    assert files == sorted(Path(document.file.path) for document in documents)
    # Both workers started the schedule; its first slot was queued once.
    assert len(queued("schedule_tick")) == 2  # the first tick, and the next one it queued
    assert ScheduledRun.objects.filter(job="agreement-notices").count() == 1
    assert len(queued("send_agreement_notices")) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_inside_a_task_leaves_it_to_be_tried_again(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("worker processes need a database server (SQLite's test database is in memory)")
    settings.TASK_RETRY_DELAY = 0
    marker = tmp_path / "started"
    result = slow_the_first_time.enqueue(marker=str(marker))
    worker = _worker("doomed", _database_url(), batch=False)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert time.monotonic() < deadline, "the worker never started the task"
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.2)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == TaskResultStatus.RUNNING  # and nobody will finish it
    assert row.worker_ids == ["doomed"]

    settings.TASK_STALLED_AFTER = 1
    time.sleep(1.1)
    assert config_tasks.requeue_stalled_tasks(now=timezone.now()) == 1
    row.refresh_from_db()
    assert row.status == TaskResultStatus.FAILED
    assert "doomed" in row.traceback
    assert run_queued_tasks() >= 1  # the next attempt (and the schedule the worker started)
    (_killed, retry) = queued("slow_the_first_time")
    assert retry.status == TaskResultStatus.SUCCESSFUL
    assert retry.return_value == "done"
    assert retry.args_kwargs["kwargs"] == {"marker": str(marker), "attempt": 2}
