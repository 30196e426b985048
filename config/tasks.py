"""Background work: the retry rule every task follows, queueing with a transaction, and the
schedule that runs without cron.

Tasks are Django's own (`django.tasks`); with `TASK_BACKEND=database` (the default) they wait in a
table of the project's database, and `manage.py run_worker` processes take them, any number on
any number of machines: each task is claimed by one worker (a row lock, skipped by the others).

- **Retries** (`retried`): a task that raises is queued again as its next attempt, after
  `TASK_RETRY_DELAY` seconds doubled at each attempt, until `TASK_MAX_ATTEMPTS`; each attempt's
  row keeps its own error, and the last one is left failed. The backend has no retries of its own.
  Every task here is idempotent, so running one twice does no harm.
- **Queueing with a write** (`enqueue_on_commit`): with the database backend the task row is
  written in the caller's transaction, so it commits (or rolls back) with the change that asks for
  it; with another backend it is queued once the transaction commits.
- **The schedule** (`schedule_tick`): a task that runs every `TICK` and queues its own next run.
  Each run of a job, and each tick, is one `ScheduledRun` row (job, slot) inserted with the queueing
  in one transaction: the database accepts one per slot, so two workers, or a restarted worker next
  to a running chain, never queue a job twice. `run_worker` starts the chain if it is not running.
  A job is due at its latest slot (e.g. today 07:00 WIB); a worker that was down at that time
  runs it at its next tick. The tick also marks failed, and tries again, tasks whose worker died
  (still "running" after `TASK_STALLED_AFTER`).
"""

from __future__ import annotations

import datetime
import functools
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import IntegrityError, router, transaction
from django.tasks import Task, TaskResultStatus, task, task_backends
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .models import ScheduledRun

logger = logging.getLogger(__name__)

#: The longest wait between two attempts, whatever the doubling says.
MAX_RETRY_DELAY = datetime.timedelta(hours=6)
#: How often the schedule looks at what is due.
TICK = datetime.timedelta(minutes=15)
#: The schedule's own slots are kept this long (the jobs' slots are kept: they are the record of
#: what ran).
TICK_RECORDS_KEPT = datetime.timedelta(days=2)
TICK_JOB = "schedule-tick"


class StalledTask(Exception):
    """Recorded on a task whose worker disappeared while running it."""


def retry_delay(attempt: int) -> datetime.timedelta:
    """The wait before the attempt after `attempt` (1 for the first try)."""
    delay = datetime.timedelta(seconds=settings.TASK_RETRY_DELAY * 2 ** (attempt - 1))
    return min(delay, MAX_RETRY_DELAY)


def _queue_attempt(the_task: Task, args: list, kwargs: dict, attempt: int) -> bool:
    """Queue `attempt` of `the_task` after its back-off; False if no attempt is left or the
    backend cannot wait (it then runs nothing again)."""
    if attempt > settings.TASK_MAX_ATTEMPTS:
        return False
    backend = task_backends[the_task.backend]
    if not backend.supports_defer:
        return False
    wait = retry_delay(attempt - 1)
    the_task.using(run_after=timezone.now() + wait).enqueue(*args, **kwargs, attempt=attempt)
    return True


def retried(**task_options: Any) -> Callable[[Callable[..., Any]], Task]:
    """Make `function` a task that is tried again with back-off when it raises.

    The task takes one more keyword argument, `attempt` (1 when first queued), which the retries
    set. Each attempt that raises is recorded as failed with its error, and the next is queued
    before the error goes on; the last attempt's failure is logged as an error.
    """

    def decorate(function: Callable[..., Any]) -> Task:
        @functools.wraps(function)
        def run(*args: Any, attempt: int = 1, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:
                if _queue_attempt(the_task, list(args), kwargs, attempt + 1):
                    logger.warning(
                        "Task %s failed (attempt %s of %s); tried again in %s",
                        the_task.name,
                        attempt,
                        settings.TASK_MAX_ATTEMPTS,
                        retry_delay(attempt),
                        exc_info=True,
                    )
                else:
                    logger.error(
                        "Task %s failed at attempt %s; not tried again",
                        the_task.name,
                        attempt,
                        exc_info=True,
                    )
                raise

        run.retried = True  # type: ignore[attr-defined]  # read by requeue_stalled_tasks
        the_task: Task = task(**task_options)(run)
        return the_task

    return decorate


def _in_database(backend_alias: str) -> bool:
    """Whether the backend keeps its queue in the default database (so a task row can be
    written in the caller's transaction)."""
    backend = task_backends[backend_alias]
    return isinstance(backend, DatabaseBackend) and router.db_for_write(DBTaskResult) == "default"


def enqueue_on_commit(the_task: Task, /, *args: Any, **kwargs: Any) -> None:
    """Queue `the_task` with the current transaction: in it with the database backend (the row
    commits or rolls back with the caller's writes, nothing between them to lose), after its
    commit with any other backend (the immediate one then runs it after the commit)."""
    if _in_database(the_task.backend):
        the_task.enqueue(*args, **kwargs)
    else:
        transaction.on_commit(lambda: the_task.enqueue(*args, **kwargs), robust=True)


# --- The schedule ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A task run by the schedule at each of its slots."""

    name: str
    task_path: str
    last_slot: Callable[[datetime.datetime], datetime.datetime]


def daily(hour: Callable[[], int]) -> Callable[[datetime.datetime], datetime.datetime]:
    """The slots of a job run every day at `hour()` o'clock, local time (WIB)."""

    def last_slot(now: datetime.datetime) -> datetime.datetime:
        local = timezone.localtime(now)
        slot = local.replace(hour=hour(), minute=0, second=0, microsecond=0)
        if slot > local:
            slot -= datetime.timedelta(days=1)
        return slot

    return last_slot


#: What the schedule runs. Each task takes no arguments but `attempt`.
JOBS: list[Job] = [
    Job(
        name="agreement-notices",
        task_path="agreements.tasks.send_agreement_notices",
        last_slot=daily(lambda: settings.NOTICE_HOUR),
    ),
    # The services keep the public counts current; the nightly rebuild corrects bulk loads.
    Job(
        name="statistics-refresh",
        task_path="rehabilitation.tasks.refresh_statistics",
        last_slot=daily(lambda: 2),
    ),
    Job(
        name="file-sweep",
        task_path="institutions.tasks.sweep_files",
        last_slot=daily(lambda: 3),
    ),
    Job(name="housekeeping", task_path="config.tasks.housekeeping", last_slot=daily(lambda: 4)),
]


def _tick_slot(now: datetime.datetime) -> datetime.datetime:
    step = int(TICK.total_seconds())
    return datetime.datetime.fromtimestamp(int(now.timestamp()) // step * step, tz=datetime.UTC)


def _claim(job: str, slot: datetime.datetime, queue: Callable[[], object]) -> bool:
    """Insert the (job, slot) row and queue the run in one transaction; False if another
    worker already has the slot."""
    try:
        with transaction.atomic():
            ScheduledRun.objects.create(job=job, slot=slot)
            queue()
    except IntegrityError:
        return False
    return True


def _queue_tick(slot: datetime.datetime) -> bool:
    return _claim(
        TICK_JOB,
        slot,
        lambda: schedule_tick.using(run_after=slot).enqueue(slot=slot.isoformat()),
    )


def ensure_schedule(*, now: datetime.datetime | None = None) -> bool:
    """Start the schedule's chain of ticks at the current slot, unless a tick has it already.
    Called by every worker at start; True if this call queued the tick."""
    if not _in_database(schedule_tick.backend):
        return False
    return _queue_tick(_tick_slot(now or timezone.now()))


def run_due_jobs(*, now: datetime.datetime) -> list[str]:
    """Queue every job whose latest slot has not been queued; the names of those queued."""
    queued = []
    for job in JOBS:
        slot = job.last_slot(now)
        job_task: Task = import_string(job.task_path)
        if _claim(job.name, slot, job_task.enqueue):
            queued.append(job.name)
    return queued


def requeue_stalled_tasks(*, now: datetime.datetime) -> int:
    """Mark failed the tasks still running `TASK_STALLED_AFTER` after they started (their
    worker died), and queue the next attempt of each retried one. The count marked."""
    cutoff = now - datetime.timedelta(seconds=settings.TASK_STALLED_AFTER)
    marked = 0
    for stalled in DBTaskResult.objects.running().filter(started_at__lt=cutoff):
        # Only the worker that turns it from running to failed queues its next attempt.
        if not DBTaskResult.objects.filter(pk=stalled.pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=now,
            exception_class_path=f"{__name__}.{StalledTask.__qualname__}",
            traceback=f"No answer from worker {', '.join(stalled.worker_ids)} since "
            f"{stalled.started_at.isoformat() if stalled.started_at else '?'}",
        ):
            continue
        marked += 1
        try:
            stalled_task = stalled.task
        except Exception:
            logger.exception("Stalled task %s names no task that exists", stalled.pk)
            continue
        kwargs = dict(stalled.args_kwargs["kwargs"])
        attempt = int(kwargs.pop("attempt", 1))
        again = getattr(stalled_task.func, "retried", False) and _queue_attempt(
            stalled_task, stalled.args_kwargs["args"], kwargs, attempt + 1
        )
        logger.error(
            "Task %s (%s) was still running after %s s: marked failed%s",
            stalled.pk,
            stalled.task_path,
            settings.TASK_STALLED_AFTER,
            ", tried again" if again else "",
        )
    return marked


@retried()
def schedule_tick(*, slot: str) -> dict[str, Any]:
    """One look at the schedule: queue the next tick first (so a failing job cannot stop the
    chain), then every job that is due, then clean up."""
    now = timezone.now()
    this_slot = datetime.datetime.fromisoformat(slot)
    _queue_tick(max(_tick_slot(now), this_slot) + TICK)
    queued = run_due_jobs(now=now)
    stalled = requeue_stalled_tasks(now=now)
    ScheduledRun.objects.filter(job=TICK_JOB, slot__lt=now - TICK_RECORDS_KEPT).delete()
    return {"queued": queued, "stalled": stalled}


def queue_answers() -> bool:
    """Whether the task queue can be read (readiness): its table, for the database backend; a
    backend without a queue of its own (immediate) always answers."""
    if not isinstance(task_backends["default"], DatabaseBackend):
        return True
    try:
        with transaction.atomic():  # a failure leaves the connection usable for the other checks
            DBTaskResult.objects.ready().only("pk").first()
    except Exception:
        logger.exception("Readiness check: the task queue does not answer")
        return False
    return True


#: Finished task results are kept this long for the admin (failed ones longer, to be read),
#: and the schedule's slots this long, in days.
TASK_RESULTS_KEPT_DAYS = 14
FAILED_TASK_RESULTS_KEPT_DAYS = 60
SCHEDULED_RUNS_KEPT_DAYS = 60


@retried()
def housekeeping() -> dict[str, int]:
    """Daily: remove expired sessions, the queue's old finished results and old schedule
    slots (a slot only guards against queueing its job twice on that day)."""
    call_command("clearsessions")
    call_command(
        "prune_db_task_results",
        min_age_days=TASK_RESULTS_KEPT_DAYS,
        failed_min_age_days=FAILED_TASK_RESULTS_KEPT_DAYS,
        stdout=io.StringIO(),
    )
    cutoff = timezone.now() - datetime.timedelta(days=SCHEDULED_RUNS_KEPT_DAYS)
    slots, _ = ScheduledRun.objects.filter(slot__lt=cutoff).delete()
    return {"scheduled_runs_removed": slots}
