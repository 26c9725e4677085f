"""Ingestion throughput: the REST API against a raw COPY of the same rows.

1. A fresh database, a gunicorn serving the app (2 workers), a service account with an ingest
   token, 50 attribution rules and list prices (so the API path attributes and rates).
2. API: the records go in batches of 10 000 to POST /api/v1/usage/records from --clients
   concurrent clients; idempotency keys, rollups and rejected-row bookkeeping all run.
3. Raw COPY: the same rows, one psycopg COPY into a bare table with no index.
4. Minimal idempotent path: COPY into a temporary staging table + INSERT … ON CONFLICT DO
   NOTHING into a table keyed by the idempotency key.
Ends with `ratio: X.XX` = API rows/s ÷ raw COPY rows/s (target ≥ 0.25).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from .common import ROOT, fresh_database, psycopg_conninfo

BATCH = 10_000
MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1"]


def make_records(n: int, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    records = []
    for i in range(n):
        at = start + timedelta(minutes=i % 43_200)
        records.append(
            {
                "external_id": f"bench-{i}",
                "vendor": "openai",
                "model": MODELS[i % 3],
                "bucket_start": at.isoformat().replace("+00:00", "Z"),
                "bucket_end": (at + timedelta(seconds=59)).isoformat().replace("+00:00", "Z"),
                "input_tokens": rng.randint(100, 200_000),
                "cached_input_tokens": rng.randint(0, 50_000),
                "output_tokens": rng.randint(10, 8_000),
                "requests": rng.randint(1, 40),
                "failed_requests": 0,
                "project_id": f"proj-{i % 97}",
                "api_key_id": f"key-{i % 50}",
                "user_id": f"user-{i % 1000}",
                "tags": {"feature": f"f{i % 7}"},
            }
        )
    return records


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_app(url: str) -> str:
    """Vendor, prices, source, rules and a service token; returns the token."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    script = """
from datetime import date
from decimal import Decimal
from accounts.services import api_token_create, user_create_or_update
from procurement.models import Department, VendorModel
from procurement.services import vendor_save
from usage.models import Source, AttributionRule
v = vendor_save(actor=None, slug="openai", name="OpenAI", kind="producer", country="US", billing_currency="USD", aliases=[])
for model, pin, pout in [("gpt-4o", "2.5", "10"), ("gpt-4o-mini", "0.15", "0.6"), ("gpt-4.1", "2", "8")]:
    VendorModel.objects.create(vendor=v, model=model, effective_from=date(2025, 1, 1), currency="USD",
                               input_price=Decimal(pin), output_price=Decimal(pout), cached_input_price=Decimal(pin) / 2)
Source.objects.create(slug="bench", name="Benchmark gateway")
for i in range(10):
    Department.objects.create(code=f"B{i}", name=f"Bench {i}")
for i in range(50):
    AttributionRule.objects.create(priority=i, dimension="api_key_id", value=f"key-{i}", department=Department.objects.get(code=f"B{i % 10}"))
user, _ = user_create_or_update(username="bench-bot", role="service")
print(api_token_create(user=user, scope="ingest", source_slugs=["bench"], expires_days=1)[1])
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def start_gunicorn(url: str, port: int, workers: int = 2) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "False",
        "API_THROTTLE_USER": "1000000/minute",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "--timeout",
            "300",
            "--log-level",
            "warning",
            "--env",
            "DJANGO_SETTINGS_MODULE=config.settings.local",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def api_ingest(records: list[dict], port: int, token: str, clients: int) -> float:
    bodies = [json.dumps(records[i : i + BATCH]).encode() for i in range(0, len(records), BATCH)]
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    failures: list[str] = []
    counted = {"accepted": 0}

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        while True:
            with lock:
                if not queue:
                    break
                _, body = queue.pop(0)
            conn.request(
                "POST",
                "/api/v1/usage/records",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"{response.status}: {payload[:300]!r}")
                break
            answer = json.loads(payload)
            with lock:
                counted["accepted"] += answer["accepted"]
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"API failures: {failures[:3]}")
    if counted["accepted"] != len(records):
        raise SystemExit(f"accepted {counted['accepted']} of {len(records)}")
    return elapsed


COLUMNS = [
    "external_id",
    "vendor",
    "model",
    "bucket_start",
    "bucket_end",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "requests",
    "failed_requests",
    "project_id",
    "api_key_id",
    "user_id",
    "tags",
]
DDL = """external_id text, vendor text, model text, bucket_start timestamptz, bucket_end timestamptz,
input_tokens bigint, cached_input_tokens bigint, output_tokens bigint, requests bigint, failed_requests bigint,
project_id text, api_key_id text, user_id text, tags jsonb"""


def _tuples(records):
    for r in records:
        yield tuple(json.dumps(r[c]) if c == "tags" else r[c] for c in COLUMNS)


def raw_copy(records: list[dict], conninfo: str) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.execute(f"CREATE TABLE bench_raw ({DDL})")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY bench_raw ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in _tuples(records):
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def minimal_idempotent(records: list[dict], conninfo: str) -> float:
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_keyed")
        conn.execute(f"CREATE TABLE bench_keyed ({DDL}, PRIMARY KEY (external_id))")
        conn.commit()
        started = time.perf_counter()
        for i in range(0, len(records), BATCH):
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(f"CREATE TEMP TABLE bench_stage ({DDL}) ON COMMIT DROP")
                with cur.copy(f"COPY bench_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in _tuples(records[i : i + BATCH]):
                        copy.write_row(row)
                cur.execute(
                    "INSERT INTO bench_keyed SELECT * FROM bench_stage ORDER BY external_id ON CONFLICT (external_id) DO NOTHING"
                )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per measurement")
    parser.add_argument("--clients", type=int, default=2, help="concurrent API clients (and gunicorn workers)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each path; the median counts")
    args = parser.parse_args()

    print(f"Preparing a fresh database and {args.records} records…", flush=True)
    url = fresh_database("tokenledger_bench_ingest")
    conninfo = psycopg_conninfo(url)
    token = setup_app(url)
    base = make_records(args.records)
    port = free_port()
    server = start_gunicorn(url, port, workers=args.clients)
    api, raw, minimal = [], [], []
    try:
        warm = [dict(r, source="bench", external_id=f"warm-{i}") for i, r in enumerate(make_records(2000, seed=1))]
        api_ingest(warm, port, token, args.clients)
        for attempt in range(args.repeat):
            records = [dict(r, source="bench", external_id=f"run{attempt}-{i}") for i, r in enumerate(base)]
            api.append(args.records / api_ingest(records, port, token, args.clients))
            raw.append(args.records / raw_copy(records, conninfo))
            minimal.append(args.records / minimal_idempotent(records, conninfo))
    finally:
        server.terminate()
        server.wait(timeout=30)

    api_rate, raw_rate, minimal_rate = statistics.median(api), statistics.median(raw), statistics.median(minimal)
    print(
        f"records:                    {args.records} × {args.repeat} runs, batches of {BATCH}, {args.clients} clients"
    )
    print(f"raw COPY (bare table):      {raw_rate:10,.0f} rows/s  (runs: {', '.join(f'{r:,.0f}' for r in raw)})")
    print(f"COPY staging + ON CONFLICT: {minimal_rate:10,.0f} rows/s  ({minimal_rate / raw_rate:.2f} × raw)")
    print(f"REST API (full pipeline):   {api_rate:10,.0f} rows/s  (runs: {', '.join(f'{r:,.0f}' for r in api)})")
    print(f"ratio: {api_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
