"""A Celery worker killed (SIGKILL of its whole process group, as a crashed machine) in the middle
of its work: after a new worker starts, the work completes exactly once.

How: late acknowledgement (the message stays unacknowledged in Redis while the task runs), a
visibility timeout of a few seconds here (Redis hands the message out again once it expires),
and idempotent tasks (core.jobs: a run runs in one worker at a time and a finished run is not
run again; each job's work is idempotent)."""

from __future__ import annotations

import time

import pytest

from tests.celery_worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]

# The restarted worker takes the dead worker's message back this soon after it was delivered.
REDELIVERY = {
    "CELERY_VISIBILITY_TIMEOUT": "3",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}


def test_ingestion_run_completes_exactly_once_after_its_worker_is_killed(stack):
    """GIVEN an uploaded file of 12 000 usage rows, ingested by a worker in chunks of 250 rows
    WHEN the worker is killed once the run's progress shows it is part-way through
    THEN a new worker finishes the run: succeeded, every row stored exactly once (count and token
    sums), and the daily rollups agree with the records."""
    rows = 12_000
    first = stack.worker("first", USAGE_FILE_CHUNK_ROWS="250", **REDELIVERY)  # starts during the set-up
    try:
        upload = stack.scenario("ingestion_upload", rows=rows)
        run_id = upload["run"]
        progress = wait_for(
            lambda: stack.scalar("select progress from core_jobrun where id = %s", (run_id,)) >= 10 or None,
            timeout=60,
            interval=0.02,
            what="the first worker never got part-way through the run",
            log=first.log_tail,
        )
        first.kill()
        killed_at = time.monotonic()
    finally:
        first.stop()
    status, progress = stack.query("select status, progress from core_jobrun where id = %s", (run_id,))[0]
    assert status == "running" and 10 <= progress < 95, (status, progress)
    # the killed worker's transaction rolled back: nothing of the run is stored
    assert stack.scalar("select count(*) from usage_record") == 0

    second = stack.worker("second", USAGE_FILE_CHUNK_ROWS="250", **REDELIVERY)
    try:
        stack.wait_for_run(run_id, timeout=60, what="the run did not finish after the restart", log=second.log_tail)
        recovered = time.monotonic() - killed_at
    finally:
        second.stop()

    status, attempts, message = stack.query(
        "select status, attempts, message from core_jobrun where id = %s", (run_id,)
    )[0]
    assert status == "succeeded", message
    assert attempts == 2  # the killed delivery and the redelivered one
    received, accepted, duplicates = stack.query(
        "select received, accepted, duplicates from usage_ingestionrun where jobrun_ptr_id = %s", (run_id,)
    )[0]
    assert (received, accepted, duplicates) == (rows, rows, 0)
    count, distinct_keys, input_tokens, output_tokens = stack.query(
        "select count(*), count(distinct bucket_start), sum(input_tokens), sum(output_tokens) from usage_record"
    )[0]
    assert (count, distinct_keys) == (rows, rows)
    assert stack.scalar("select count(*) from usage_key") == rows
    assert (input_tokens, output_tokens) == (upload["input_tokens"], upload["output_tokens"])
    rollup_input, rollup_output, rollup_records = stack.query(
        "select sum(input_tokens), sum(output_tokens), sum(records) from usage_daily_rollup"
    )[0]
    assert (rollup_input, rollup_output) == (input_tokens, output_tokens)
    assert rollup_records == rows
    print(f"ingestion: killed at {progress}% ; recovered {recovered:.1f}s after the kill; {count} records once")
