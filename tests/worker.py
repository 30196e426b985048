"""Running queued tasks in tests with the real worker: django-tasks-db's own `Worker`, in batch
mode (every task that is ready, then return), in this process and this test's database.

One thing differs from a worker process: between tasks the worker closes connections that are
not in autocommit mode, as Django does between requests, and a test's connection is inside the
test's transaction, so that housekeeping is left out here. tests/test_tasks_workers.py runs
worker processes, housekeeping included.
"""

from __future__ import annotations

from unittest import mock

from django_tasks_db.management.commands import db_worker
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult


def run_queued_tasks(*, worker_id: str = "test-worker") -> int:
    """Run every ready task of the default queue, as `manage.py run_worker --batch` would; the
    number run."""
    worker = Worker(
        queue_names=["default"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    with mock.patch.object(db_worker, "close_old_connections", lambda: None):
        worker.run()
    return worker._run_tasks


def queued(task_name: str) -> list[DBTaskResult]:
    """The task rows of `task_name` (the function's name), oldest first."""
    return list(
        DBTaskResult.objects.filter(task_path__endswith=f".{task_name}").order_by("enqueued_at")
    )
