"""PostgreSQL restarted under load: requests fail cleanly while it is away (503 in the API's error
shape, never a 500) and succeed again as soon as it is back, without restarting the web process;
every write that was answered with success is stored, once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests

pytestmark = [pytest.mark.slow]

OUTAGE_SECONDS = 2.0


def test_requests_fail_cleanly_and_recover_when_the_database_restarts(stack):
    """GIVEN gunicorn (2 workers) on the private PostgreSQL and three clients: one pushing usage
    records one by one, two reading (runs list, usage summary)
    WHEN PostgreSQL is stopped (fast shutdown: sessions are cut) and started again 2 s later
    THEN no answer is a 5xx other than 503, each 503 is {"message", "extra"} with Retry-After,
    requests succeed again once it is back (same gunicorn processes), and every write answered
    200 is in the database exactly once."""
    web = stack.web()  # gunicorn starts while the scenario sets up the data
    token = stack.scenario("api_client")["token"]
    auth = {"Authorization": f"Bearer {token}"}
    web.wait_ready()
    gunicorn_pid = web.proc.pid
    stop = threading.Event()
    answers: list[tuple[str, float, int, dict | None]] = []  # (kind, when, status, body)
    accepted: list[str] = []
    lock = threading.Lock()

    def note(kind: str, response: requests.Response) -> None:
        body = None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"raw": response.text[:200]}
            body["retry_after"] = response.headers.get("Retry-After")
        with lock:
            answers.append((kind, time.monotonic(), response.status_code, body))

    def writer() -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            external_id = f"w-{i}"
            record = {
                "external_id": external_id,
                "source": "gw",
                "vendor": "openai",
                "model": "gpt-4o",
                "bucket_start": f"2026-04-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                "input_tokens": 100 + i,
                "output_tokens": 7,
            }
            response = session.post(f"{web.url}/api/v1/usage/records", json=[record], headers=auth, timeout=30)
            note("write", response)
            if response.status_code == 200 and response.json().get("accepted") == 1:
                with lock:
                    accepted.append(external_id)
            i += 1

    def reader(path: str) -> None:
        session = requests.Session()
        while not stop.is_set():
            note("read", session.get(f"{web.url}{path}", headers=auth, timeout=30))

    clients = [
        threading.Thread(target=writer),
        threading.Thread(target=reader, args=("/api/v1/usage/runs/",)),
        threading.Thread(target=reader, args=("/api/v1/usage/summary?start=2026-04-01&end=2026-05-01&group_by=day",)),
    ]
    try:
        for client in clients:
            client.start()
        time.sleep(1.5)
        down = time.monotonic()
        stack.pg.stop("fast")
        time.sleep(OUTAGE_SECONDS)
        stack.pg.start()
        up = time.monotonic()
        time.sleep(2.5)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=60)
        alive = web.proc.poll() is None
        web.stop()

    assert alive and web.proc.pid == gunicorn_pid  # the same web process served before and after
    statuses = Counter(status for _, _, status, _ in answers)
    assert not [s for s in statuses if s >= 500 and s != 503], (statuses, web.log_tail())
    failures = [(when, status, body) for _, when, status, body in answers if status >= 400]
    for _, status, body in failures:
        assert status == 503, body
        assert set(body) >= {"message", "extra"} and body["retry_after"], body
    assert statuses[503] > 0, "the outage was not seen by any request"
    after = [(when, status) for _, when, status, _ in answers if when > up + 1.0]
    assert after and all(status == 200 for _, status in after), after[:20]
    first_ok = min(when for _, when, status, _ in answers if when > up and status == 200)

    stored = dict(stack.query("select external_id, count(*) from usage_record group by external_id"))
    assert set(accepted) <= set(stored)
    assert all(n == 1 for n in stored.values())
    print(
        f"database restart: {len(answers)} requests, {dict(statuses)}; first success {first_ok - up:.2f}s "
        f"after PostgreSQL was back (outage {up - down:.1f}s); {len(accepted)} writes answered 200, all stored once"
    )
