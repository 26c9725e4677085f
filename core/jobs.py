"""Running a job: a Celery task is only an interface that loads its run by id and calls a service.

`@job("kind")` wraps a function `fn(run, report)` into the run's life cycle. A task delivered twice
(late acknowledgement after a worker died) finds its run finished and does nothing; a run that
was interrupted mid-way runs again from the start, so the function itself must be idempotent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from core.exceptions import ApplicationError

from . import services
from .models import JobRun

logger = logging.getLogger(__name__)

Report = Callable[[int, str | None], None]


def run_job(run_id: int, fn: Callable[[JobRun, Report], dict | None]) -> None:
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
