"""Running queued tasks in tests with the real worker: django-tasks-db's own `Worker`, in batch
mode (every task that is ready, then return), in this process and this test's database."""

from __future__ import annotations

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
    worker.run()
    return worker._run_tasks


def queued(task_name: str) -> list[DBTaskResult]:
    """The task rows of `task_name` (the function's name), oldest first."""
    return list(
        DBTaskResult.objects.filter(task_path__endswith=f".{task_name}").order_by("enqueued_at")
    )
