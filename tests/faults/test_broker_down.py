"""The broker (Redis) down: the API still takes usage, and the queued work runs once it is back.

`POST usage/records` stores its records in the request itself; `POST usage/files` keeps the file
and a queued run. Sending the run's task fails while Redis is down: the run stays queued (its
`enqueued_at` empty) and the beat sweep `core.requeue_queued_runs` sends it when Redis is back."""

from __future__ import annotations

import time

import pytest
import requests

from tests.celery_worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _records(prefix: str, n: int) -> list[dict]:
    return [
        {
            "external_id": f"{prefix}-{i}",
            "source": "gw",
            "vendor": "openai",
            "model": "gpt-4o",
            "bucket_start": f"2026-02-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            "input_tokens": 1000 + i,
            "output_tokens": 10 * i,
        }
        for i in range(n)
    ]


def test_usage_is_accepted_while_the_broker_is_down_and_processed_when_it_returns(stack):
    """GIVEN gunicorn and a worker with beat on the private Redis and PostgreSQL
    WHEN Redis is stopped and usage is pushed (a batch of records and a file upload)
    THEN both answer success (200 with counts, 202 with a run), the records and the file's queued
    run are stored, AND once Redis is back the run is sent again and ingested: every row once."""
    web = stack.web()  # processes start while the scenario sets up the data
    worker = stack.worker(
        "worker",
        beat=True,
        JOB_REQUEUE_INTERVAL_SECONDS="1",
        JOB_REQUEUE_UNSENT_AFTER_SECONDS="1",
    )
    try:
        token = stack.scenario("api_client")["token"]
        auth = {"Authorization": f"Bearer {token}"}
        web.wait_ready()
        wait_for(lambda: "ready." in worker.log_tail(), timeout=60, what="worker did not start", log=worker.log_tail)
        stack.redis.stop()
        started = time.monotonic()
        batch = requests.post(f"{web.url}/api/v1/usage/records", json=_records("push", 200), headers=auth, timeout=30)
        batch_seconds = time.monotonic() - started
        assert batch.status_code == 200, batch.text
        assert batch.json()["accepted"] == 200

        lines = ["external_id,vendor,model,bucket_start,input_tokens,output_tokens"]
        lines += [
            f"file-{i},openai,gpt-4o,2026-03-{1 + i % 28:02d}T{i % 24:02d}:30:00Z,{2000 + i},{i}" for i in range(300)
        ]
        started = time.monotonic()
        upload = requests.post(
            f"{web.url}/api/v1/usage/files",
            data={"format": "generic_csv", "source": "gw"},
            files={"file": ("day.csv", "\n".join(lines).encode(), "text/csv")},
            headers=auth,
            timeout=30,
        )
        upload_seconds = time.monotonic() - started
        assert upload.status_code == 202, upload.text
        run_id = upload.json()["run"]
        run = requests.get(f"{web.url}/api/v1/usage/runs/{run_id}", headers=auth, timeout=10).json()
        assert run["status"] == "queued"
        assert stack.scalar("select enqueued_at from core_jobrun where id = %s", (run_id,)) is None
        assert stack.scalar("select count(*) from usage_record") == 200
        time.sleep(2)  # the sweep runs meanwhile and cannot send either; nothing is lost
        assert stack.run_status(run_id) == "queued"

        stack.redis.start()
        back = time.monotonic()
        wait_for(
            lambda: stack.run_status(run_id) == "succeeded",
            timeout=60,
            interval=0.1,
            what="the queued run was not processed after Redis came back",
            log=worker.log_tail,
        )
        caught_up = time.monotonic() - back
    finally:
        worker.stop()
        web.stop()

    accepted, attempts = stack.query(
        "select accepted, attempts from usage_ingestionrun join core_jobrun on id = jobrun_ptr_id "
        "where jobrun_ptr_id = %s",
        (run_id,),
    )[0]
    assert (accepted, attempts) == (300, 1)
    count, distinct, input_tokens = stack.query(
        "select count(*), count(distinct external_id), sum(input_tokens) from usage_record"
    )[0]
    assert (count, distinct) == (500, 500)
    assert input_tokens == sum(1000 + i for i in range(200)) + sum(2000 + i for i in range(300))
    print(
        f"broker down: records {batch_seconds:.2f}s (200), upload {upload_seconds:.2f}s (202); "
        f"run ingested {caught_up:.1f}s after Redis returned"
    )
