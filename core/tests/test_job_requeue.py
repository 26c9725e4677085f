"""The requeue sweep (core.requeue_queued_runs) and runs left `running` by a worker that is gone:
their advisory lock is free, so the sweep sends their task again and the run completes; a run
whose worker still works (its lock held by another session) is left alone, however quiet."""

from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from core import services
from core.jobs import RUN_LOCK_BASE
from core.models import JobRun

pytestmark = pytest.mark.django_db


def interrupted_run(*, quiet_for: timedelta) -> JobRun:
    """A diagnostics run its worker started and then died in (its message lost with it)."""
    run = services.job_run_create(kind="diagnostics", task="core.diagnostics")  # on_commit: never sent here
    JobRun.objects.filter(pk=run.pk).update(
        status=JobRun.Status.RUNNING, attempts=1, progress=30, updated_at=timezone.now() - quiet_for
    )
    return run


def other_session():
    """A second database session, as a worker elsewhere holding a run's lock."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    )


def test_a_running_run_whose_worker_is_gone_is_sent_again_and_completes():
    run = interrupted_run(quiet_for=timedelta(minutes=10))
    assert services.job_runs_requeue(running_after=300) == [run.pk]  # eager: the task ran in place
    run.refresh_from_db()
    assert run.status == "succeeded" and run.attempts == 2
    assert services.job_runs_requeue(running_after=300) == []  # finished: never sent again


def test_a_running_run_whose_worker_still_holds_its_lock_is_left_alone():
    run = interrupted_run(quiet_for=timedelta(minutes=10))
    with other_session() as worker:
        worker.execute("select pg_advisory_lock(%s)", (RUN_LOCK_BASE + run.pk,))
        assert services.job_runs_orphaned(running_after=300) == []
        assert services.job_runs_requeue(running_after=300) == []
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1
    # the worker's session ended (it died): its lock went with it, and the run is orphaned
    assert services.job_runs_orphaned(running_after=300) == [(run.pk, "core.diagnostics")]


def test_a_recently_active_running_run_is_left_alone():
    run = interrupted_run(quiet_for=timedelta(seconds=20))
    assert services.job_runs_requeue(running_after=300) == []
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1


def test_a_fanned_out_run_is_never_taken_for_an_orphan():
    """A bulk invoice issue run works in chunk tasks without its lock: a free lock proves nothing."""
    run = interrupted_run(quiet_for=timedelta(minutes=10))
    JobRun.objects.filter(pk=run.pk).update(kind="invoice_issue", task="billing.invoices_issue")
    assert services.job_runs_orphaned(running_after=300) == []
