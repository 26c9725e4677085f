"""Running a job: a Celery task is only an interface that loads its run by id and calls a service.

`@job("kind")` wraps a function `fn(run, report)` into the run's life cycle. A task delivered twice
(late acknowledgement after a worker died) finds its run finished and does nothing; a run that
was interrupted mid-way runs again from the start, so the function itself must be idempotent.

Only one worker runs a run at a time: the run holds a PostgreSQL session-level advisory lock while
it works. A second delivery of its task while it works (the broker's visibility timeout expired on
a long run, or a requeue sweep sent it again) finds the lock taken and does nothing; a worker that
dies loses its database session, so the lock goes with it and the redelivered task runs the run.
When there is no redelivery (the message was lost with a broker restarted without persistence,
or a second delivery found the lock taken and was acknowledged), the requeue sweep finds the run
`running` with its lock free and sends its task again (core.services.job_runs_orphaned).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from django.db import DatabaseError, connection

from core.exceptions import ApplicationError

from . import services
from .models import JobRun

logger = logging.getLogger(__name__)

Report = Callable[[int, str | None], None]


# Advisory lock keys of job runs (single bigint keys): this base plus the run id.
RUN_LOCK_BASE = 0x4A4F_4252_0000_0000


@contextmanager
def run_lock(run_id: int):
    """Yield whether this process holds the run's advisory lock (held until the block ends)."""
    key = RUN_LOCK_BASE + int(run_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        (held,) = cursor.fetchone()
    try:
        yield held
    finally:
        if held:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:  # the session is gone, and its locks with it
                logger.warning("could not release the lock of job run %s; its session has ended", run_id)


def run_job(run_id: int, fn: Callable[[JobRun, Report], dict | None]) -> None:
    with run_lock(run_id) as held:
        if not held:
            logger.info("job run %s is running in another worker; this delivery does nothing", run_id)
            return
        _run_job(run_id, fn)


def _run_job(run_id: int, fn: Callable[[JobRun, Report], dict | None]) -> None:
    run = services.job_run_start(run_id=run_id)
    if run is None:
        logger.info("job run %s already finished; nothing to do", run_id)
        return

    def report(progress: int, message: str | None = None) -> None:
        services.job_run_progress(run_id=run_id, progress=progress, message=message)

    try:
        result = fn(run, report)
    except ApplicationError as exc:
        services.job_run_fail(run_id=run_id, message=exc.message)
    except Exception as exc:
        logger.exception("job run %s (%s) failed", run_id, run.kind)
        services.job_run_fail(run_id=run_id, message=f"Failed: {type(exc).__name__}: {exc}")
    else:
        services.job_run_succeed(run_id=run_id, result=result or {}, message=(result or {}).get("message", ""))


def job(fn: Callable[[JobRun, Report], dict | None]) -> Callable[[int], None]:
    @functools.wraps(fn)
    def wrapper(run_id: int, *args: Any, **kwargs: Any) -> None:
        run_job(run_id, fn)

    return wrapper
