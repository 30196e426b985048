"""Two worker processes (`manage.py run_worker`) on one queue at once, on PostgreSQL: each task is
run by one of them, and no agreement gets two documents or two files, even with its issuing
queued twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.tasks import TaskResultStatus

from agreements.models import Agreement, IssuedDocument
from agreements.tasks import issue_agreement_document
from config.models import ScheduledRun
from tests import factories
from tests.worker import queued

ROOT = Path(__file__).resolve().parent.parent
AGREEMENTS = 4


def _worker(worker_id: str, database: str) -> subprocess.Popen:
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
            "--batch",
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
