"""`manage.py run_worker`: a task worker (django-tasks-db's `db_worker`) that first makes sure
the schedule is running. Takes every option of `db_worker` (`--batch`, `--max-tasks`, …)."""

from __future__ import annotations

from typing import Any

from django_tasks_db.management.commands import db_worker

from config.tasks import ensure_schedule


class Command(db_worker.Command):
    help = (
        "Run a background task worker on the database queue; start as many as needed, on any "
        "machine. It also starts the schedule (daily notices) if no worker runs it yet."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if ensure_schedule():
            self.stdout.write("Started the task schedule.")
        super().handle(*args, **options)
