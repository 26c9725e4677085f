"""Load and scale-out: concurrent ingestion and dashboard readers against two web processes and two workers.

1. A fresh database on the PostgreSQL server DATABASE_URL points to, a private Redis database
   (broker and cache, emptied at the start and the end), reference data: two vendors (OpenAI at
   list prices; DeepSeek under an active agreement with flat contract prices for all four token
   classes), ten departments with attribution rules (some keys match none: UNALLOCATED), two
   sources, a service account with an ingest token, a finance user with a read token and a
   browser session.
2. --web gunicorn processes (each --web-workers sync workers) on their own ports and --celery
   `celery worker` processes (concurrency 1), all on that one database and broker.
3. Baseline: one client sends one client's batches to the first web process alone.
4. Load: --clients clients spread round-robin over the web processes send their batches while
   --readers readers request the summary API, the record list, the run list and the dashboard.
   Every --file-every-th batch goes as an NDJSON file upload (202, parsed by a Celery worker; the
   client waits for its run). The batches overlap on purpose: a share of each batch is a shared
   pool that every client of the same vendor sends with identical values at the same moment
   (duplicates under contention); a share restates the client's own records of its previous batch
   (new values: restatements); a few keys appear twice in one batch with different values (the
   second wins). After a barrier, the last batch of every client restates part of the shared
   pools, identically from every client that sent them (one restatement, the rest duplicates).
5. Proof, from what was sent (the last-stated values of every distinct key, which the plan makes
   independent of timing): records, keys, versions, token sums per class, requests, cost (exact
   Decimal) and the daily and monthly rollups in the database equal the expected ones; the
   answers' accepted / duplicates / restated counts too; no key is stored twice. Exits non-zero
   on any 5xx, any non-2xx, or any difference.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from .common import ROOT, fresh_database, private_redis, start_celery_workers, stop_processes, wait_for_workers
from .ingest import free_port, start_gunicorn

DB_NAME = "tokenledger_bench_load"
MILLION = Decimal(1_000_000)
CLASSES = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
# vendor group → (vendor slug, source slug, models); group 1 is rated under the agreement
GROUPS = {
    0: ("openai", "gw-openai", ("gpt-4o-mini", "gpt-4.1")),
    1: ("deepseek", "gw-deepseek", ("deepseek-chat", "deepseek-reasoner")),
}
# list prices per 1 000 000 tokens: input, cached input, cache write, output
LIST_PRICES = {
    "gpt-4o-mini": ("0.15", "0.075", "0.1875", "0.6"),
    "gpt-4.1": ("2", "0.5", "2.5", "8"),
    "deepseek-chat": ("0.27", "0.07", "0.27", "1.1"),
    "deepseek-reasoner": ("0.55", "0.14", "0.55", "2.19"),
}
# the agreement's flat prices for deepseek-* (every class has a rule: nothing is off-contract)
CONTRACT_PRICES = {"input": "0.21", "cached_input": "0.05", "cache_write": "0.21", "output": "0.9"}
DEPARTMENTS = 10
API_KEYS = 24  # keys 20–23 match no rule: UNALLOCATED


def log(message: str) -> None:
    print(message, flush=True)


# The plan: every batch of every client, and the state it must leave ------------------------------


@dataclass
class Batch:
    client: int
    index: int
    group: int
    records: list[dict]
    as_file: bool = False
    after_barrier: bool = False

    def ndjson(self) -> bytes:
        # each line names its source: a batch restates records of the previous one, of the other vendor
        return "\n".join(json.dumps(r) for r in self.records).encode()


def _price(model: str, klass: int) -> Decimal:
    if model.startswith("deepseek-"):
        return Decimal(CONTRACT_PRICES[("input", "cached_input", "cache_write", "output")[klass]])
    return Decimal(LIST_PRICES[model][klass])


def record_cost(record: dict) -> Decimal:
    """The exact cost DESIGN.md asks for: tokens × price per million, no rounding."""
    return sum(Decimal(record[c]) * _price(record["model"], i) for i, c in enumerate(CLASSES)) / MILLION


class Planner:
    """Builds records for slots (a slot is one idempotency key); a slot's identity (bucket, vendor,
    model, dimensions, external id or none) never changes, only its values by version."""

    def __init__(self, days: list[date]) -> None:
        self.days = days
        self.identity: dict[str, dict] = {}
        self.versions: dict[str, dict[int, dict]] = defaultdict(dict)  # slot → version → record

    def final(self, slot: str) -> dict:
        """The last-stated record: the plan sends a higher version only after the lower ones are in."""
        versions = self.versions[slot]
        return versions[max(versions)]

    def record(self, slot: str, *, group: int, day: date, position: int, version: int) -> dict:
        base = self.identity.get(slot)
        if base is None:
            vendor, source, models = GROUPS[group]
            at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=37 * position)
            digest = sum(slot.encode())
            base = {
                "source": source,
                "vendor": vendor,
                "model": models[digest % len(models)],
                "bucket_start": at.isoformat().replace("+00:00", "Z"),
                "bucket_end": (at + timedelta(seconds=36)).isoformat().replace("+00:00", "Z"),
                "api_key_id": f"key-{digest % API_KEYS}",
                "project_id": f"proj-{digest % 13}",
                # half the slots carry an external id; the others are keyed by the hash of their
                # bucket, vendor, model and dimensions (user_id makes each slot's distinct)
                "user_id": f"user-{slot}",
                "tags": {"feature": f"f{digest % 5}"},
            }
            if digest % 2:
                base["external_id"] = f"ext-{slot}"
            self.identity[slot] = base
        rng = random.Random(f"{slot}/{version}")
        requests = rng.randint(1, 40)
        values = {
            "input_tokens": rng.randint(100, 200_000),
            "cached_input_tokens": rng.randint(0, 50_000),
            "cache_write_tokens": rng.randint(0, 5_000),
            "output_tokens": rng.randint(10, 8_000),
            "requests": requests,
            "failed_requests": rng.randint(0, min(2, requests)),
        }
        known = self.versions[slot]
        if version in known:
            return known[version]
        while any(r["input_tokens"] == values["input_tokens"] for r in known.values()):
            values["input_tokens"] += 1  # a new version always differs from the others
        record = known[version] = {**base, **values}
        return record


def make_plan(
    *,
    clients: int,
    batches: int,
    size: int,
    shared: float,
    restate: float,
    in_batch: int,
    file_every: int,
    prefix: str,
    days: list[date],
    planner: Planner,
) -> dict[int, list[Batch]]:
    """Each client's batches. Batch i of client c is for vendor group (c + i) % 2, so at each step
    half the clients push OpenAI and half DeepSeek, and the clients of a group share a pool."""
    n_shared = int(size * shared) if clients > 1 else 0
    n_restate = int(size * restate)
    n_shared_restate = max(1, n_shared // 10) if n_shared else 0
    plan: dict[int, list[Batch]] = {}
    for c in range(clients):
        out: list[Batch] = []
        previous_own: list[tuple[str, int, date, int]] = []
        for i in range(batches - 1):
            group = (c + i) % 2
            day = days[i % len(days)]
            records: list[dict] = []
            for j in range(n_shared):  # identical for every client of the group at this step
                records.append(planner.record(f"{prefix}s{group}.{i}.{j}", group=group, day=day, position=j, version=1))
            for slot, g, d, pos in previous_own[:n_restate]:  # this client's own: sent after the first answer
                records.append(planner.record(slot, group=g, day=d, position=pos, version=2))
            own = []
            for j in range(size - len(records) - in_batch):
                slot = f"{prefix}c{c}.{i}.{j}"
                pos = n_shared + j
                records.append(planner.record(slot, group=group, day=day, position=pos, version=1))
                own.append((slot, group, day, pos))
            for slot, g, d, pos in own[-in_batch:] if in_batch else []:  # twice in one batch: the second wins
                records.append(planner.record(slot, group=g, day=d, position=pos, version=3))
            previous_own = own[: len(own) - in_batch]
            as_file = bool(file_every) and i % file_every == file_every - 1
            out.append(Batch(client=c, index=i, group=group, records=records, as_file=as_file))
        # after every client's earlier batches (and files) are in: restate part of the pools this
        # client sent, with the same new values as every other client that sent them
        records = []
        for i in range(batches - 1):
            group = (c + i) % 2
            for j in range(n_shared_restate):
                records.append(
                    planner.record(
                        f"{prefix}s{group}.{i}.{j}", group=group, day=days[i % len(days)], position=j, version=2
                    )
                )
        last = batches - 1
        group = (c + last) % 2
        for j in range(max(0, size - len(records))):
            slot = f"{prefix}c{c}.{last}.{j}"
            records.append(
                planner.record(slot, group=group, day=days[last % len(days)], position=n_shared + j, version=1)
            )
        out.append(Batch(client=c, index=last, group=group, records=records, after_barrier=True))
        plan[c] = out
    return plan


# Reference data -----------------------------------------------------------------------------------


def setup_django(url: str, broker: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "False"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_BROKER_URL"] = broker
    os.environ["CACHE_URL"] = broker  # shared by the web processes (throttling), as in production
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "True"  # the set-up only; the processes queue for real
    os.environ["API_THROTTLE_USER"] = "1000000/minute"
    os.environ["PYTHONWARNINGS"] = "ignore:No directory at:UserWarning"  # no collectstatic output: fine here
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reference_data(days: list[date]) -> dict:
    from django.conf import settings
    from django.test import Client

    from accounts.services import api_token_create, user_create_or_update
    from contracts.services import agreement_change
    from core.services import organization_settings_update
    from procurement.models import Department, VendorModel
    from procurement.services import vendor_save
    from usage.models import AttributionRule, Source

    organization_settings_update(actor=None, reporting_currency="USD")
    vendors = {}
    for slug, name in (("openai", "OpenAI"), ("deepseek", "DeepSeek")):
        vendors[slug] = vendor_save(
            actor=None, slug=slug, name=name, kind="producer", country="US", billing_currency="USD", aliases=[]
        )
    for slug, source, models in GROUPS.values():
        Source.objects.create(slug=source, name=f"Gateway {slug}", vendor=vendors[slug])
        for model in models:
            p_in, p_cached, p_write, p_out = (Decimal(p) for p in LIST_PRICES[model])
            VendorModel.objects.create(
                vendor=vendors[slug],
                model=model,
                effective_from=date(2025, 1, 1),
                currency="USD",
                input_price=p_in,
                cached_input_price=p_cached,
                cache_write_price=p_write,
                output_price=p_out,
            )
    agreement_change(
        agreement=None,
        changes={
            "reference": "FA-LOAD-DS",
            "vendor": vendors["deepseek"],
            "start": days[0] - timedelta(days=30),
            "end": days[-1] + timedelta(days=365),
            "currency": "USD",
            "status": "active",
            "price_rules": [
                {
                    "model_pattern": "deepseek-*",
                    "token_class": klass,
                    "schedule": "flat",
                    "tiers": [{"from_tokens": 0, "price": Decimal(price)}],
                }
                for klass, price in CONTRACT_PRICES.items()
            ],
            "commitments": [],
            "sla_clauses": [],
        },
        actor=None,
    )
    departments = [Department.objects.create(code=f"L{i:02d}", name=f"Load team {i}") for i in range(DEPARTMENTS)]
    for k in range(API_KEYS - 4):
        AttributionRule.objects.create(
            priority=k, dimension="api_key_id", value=f"key-{k}", department=departments[k % DEPARTMENTS]
        )
    service, _ = user_create_or_update(username="load-gateway", role="service")
    _, ingest_token = api_token_create(
        user=service, scope="ingest", source_slugs=[s for _, s, _ in GROUPS.values()], expires_days=1
    )
    finance, _ = user_create_or_update(username="load-finance", role="finance", email="finance@example.com")
    _, read_token = api_token_create(user=finance, scope="read", expires_days=1)
    browser = Client()
    browser.force_login(finance)
    session = browser.cookies[settings.SESSION_COOKIE_NAME].value
    return {"ingest": ingest_token, "read": read_token, "session": (settings.SESSION_COOKIE_NAME, session)}


# Clients ------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    rows_sent: int = 0
    batches: int = 0

    def request(self, kind: str, seconds: float, status: int, detail: str = "") -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[status] += 1
            if not 200 <= status < 300 and len(self.failures) < 20:
                self.failures.append(f"{kind}: {status} {detail[:300]}")


def _timed(tally: Tally, kind: str, session, method: str, url: str, **kwargs):
    import requests

    started = time.perf_counter()
    try:
        response = session.request(method, url, timeout=600, **kwargs)
    except requests.RequestException as exc:
        tally.request(kind, time.perf_counter() - started, 599, f"{type(exc).__name__}: {exc}")
        return None
    tally.request(kind, time.perf_counter() - started, response.status_code, response.text)
    return response


def run_client(batches: list[Batch], *, base: str, tokens: dict, tally: Tally, barrier: threading.Barrier | None):
    import requests

    session = requests.Session()
    ingest = {"Authorization": f"Bearer {tokens['ingest']}"}
    read = {"Authorization": f"Bearer {tokens['read']}"}
    for batch in batches:
        if batch.after_barrier and barrier is not None:
            barrier.wait(timeout=900)
        if batch.as_file:
            source = GROUPS[batch.group][1]
            response = _timed(
                tally,
                "write: file upload (202)",
                session,
                "POST",
                f"{base}/api/v1/usage/files",
                headers=ingest,
                data={"format": "ndjson", "source": source},
                files={"file": (f"c{batch.client}-b{batch.index}.ndjson", batch.ndjson(), "application/x-ndjson")},
            )
            if response is None or response.status_code != 202:
                continue
            run_id = response.json()["run"]
            started = time.perf_counter()
            while True:  # the client's next batch may restate these records: wait for the worker
                time.sleep(0.1)
                poll = _timed(
                    tally, "read: run status", session, "GET", f"{base}/api/v1/usage/runs/{run_id}/", headers=read
                )
                if poll is None or poll.status_code != 200:
                    break
                run = poll.json()
                if run["status"] in ("succeeded", "failed"):
                    with tally.lock:
                        tally.latencies["file: upload to run finished"].append(time.perf_counter() - started)
                        if run["status"] == "failed":
                            tally.failures.append(f"file run {run_id} failed: {run['message']}")
                        for name in ("accepted", "duplicates", "restated", "rejected"):
                            tally.counts[name] += run[name]
                    break
        else:
            response = _timed(
                tally,
                "write: JSON batch",
                session,
                "POST",
                f"{base}/api/v1/usage/records",
                headers={**ingest, "Content-Type": "application/json"},
                data=json.dumps(batch.records).encode(),
            )
            if response is None or response.status_code != 200:
                continue
            answer = response.json()
            with tally.lock:
                for name in ("accepted", "duplicates", "restated", "rejected"):
                    tally.counts[name] += answer[name]
                if answer["errors"]:
                    tally.failures.append(f"rejected rows: {answer['errors'][:2]}")
        with tally.lock:
            tally.rows_sent += len(batch.records)
            tally.batches += 1
    session.close()


def run_reader(index: int, *, bases: list[str], tokens: dict, tally: Tally, stop_event: threading.Event, days):
    import requests

    session = requests.Session()
    api = {"Authorization": f"Bearer {tokens['read']}"}
    cookies = dict([tokens["session"]])
    start, end = days[0].isoformat(), (days[-1] + timedelta(days=1)).isoformat()
    calls = [
        ("read: summary API", f"/api/v1/usage/summary?start={start}&end={end}&group_by=vendor,day", api, None),
        ("read: summary API", f"/api/v1/usage/summary?start={start}&end={end}&group_by=department,model", api, None),
        ("read: record list", "/api/v1/usage/records?vendor=deepseek&page_size=50", api, None),
        ("read: run list", "/api/v1/usage/runs/?page_size=20", api, None),
        ("read: dashboard page", "/", {}, cookies),
    ]
    n = index
    while not stop_event.is_set():
        kind, path, headers, jar = calls[n % len(calls)]
        base = bases[n % len(bases)]
        _timed(tally, kind, session, "GET", base + path, headers=headers, cookies=jar, allow_redirects=False)
        n += 1
    session.close()


@dataclass
class Phase:
    name: str
    seconds: float
    tally: Tally


def run_phase(name: str, plan: dict[int, list[Batch]], *, bases: list[str], tokens: dict, readers: int, days) -> Phase:
    tally = Tally()
    barrier = threading.Barrier(len(plan)) if len(plan) > 1 else None
    stop_event = threading.Event()
    writers = [
        threading.Thread(
            target=run_client,
            args=(batches,),
            kwargs={"base": bases[c % len(bases)], "tokens": tokens, "tally": tally, "barrier": barrier},
        )
        for c, batches in plan.items()
    ]
    reading = [
        threading.Thread(
            target=run_reader,
            args=(r,),
            kwargs={"bases": bases, "tokens": tokens, "tally": tally, "stop_event": stop_event, "days": days},
        )
        for r in range(readers)
    ]
    started = time.perf_counter()
    for t in reading + writers:
        t.start()
    for t in writers:
        t.join()
    seconds = time.perf_counter() - started
    stop_event.set()
    for t in reading:
        t.join()
    return Phase(name, seconds, tally)


# Report and proof ---------------------------------------------------------------------------------


def scrape(base: str) -> str:
    """A few lines of GET /metrics (the scraper's view of the same run)."""
    import requests
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{base}/metrics", timeout=30).text
    by_status: Counter = Counter()
    rows: Counter = Counter()
    queue = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tokenledger_http_requests_total":
                by_status[sample.labels["status"]] += int(sample.value)
            elif sample.name == "tokenledger_ingestion_rows_total":
                rows[sample.labels["outcome"]] += int(sample.value)
            elif sample.name == "tokenledger_queue_messages":
                queue[sample.labels["queue"]] = int(sample.value)
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))
    outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(rows.items()))
    return f"requests by status (both web processes) {statuses}; ingested rows {outcomes}; queue {queue}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1000


def report(phase: Phase) -> None:
    t = phase.tally
    stored = t.counts["accepted"]
    log(
        f"{phase.name}: {t.batches} batches, {t.rows_sent:,} rows sent in {phase.seconds:.1f} s: "
        f"{t.rows_sent / phase.seconds:,.0f} rows/s sent, {stored / phase.seconds:,.0f} new records/s stored, "
        f"{t.batches / phase.seconds:.2f} batches/s"
    )
    log(f"  {'requests':<32} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for kind in sorted(t.latencies):
        values = t.latencies[kind]
        log(
            f"  {kind:<32} {len(values):>6} {pct(values, 50):>9.0f} {pct(values, 95):>9.0f} "
            f"{pct(values, 99):>9.0f} {max(values) * 1000:>9.0f}"
        )
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(t.statuses.items()))
    log(f"  statuses: {statuses}")


def expected_state(planner: Planner, slots: set[str]) -> dict:
    sums = Counter()
    cost = Decimal(0)
    restatements = 0
    for slot in slots:
        record = planner.final(slot)
        for name in (*CLASSES, "requests", "failed_requests"):
            sums[name] += record[name]
        cost += record_cost(record)
        restatements += len(planner.versions[slot]) - 1
    return {"records": len(slots), "sums": sums, "cost": cost, "restatements": restatements}


def database_state() -> dict:
    from django.db import connection

    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in (*CLASSES, "requests", "failed_requests"))
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT count(*), {sums}, coalesce(sum(cost_reporting), 0), coalesce(sum(version), 0) FROM usage_record"
        )
        row = cur.fetchone()
        records = {
            "records": row[0],
            "sums": dict(zip((*CLASSES, "requests", "failed_requests"), row[1:7], strict=True)),
        }
        records["cost"], records["versions"] = row[7], row[8]
        cur.execute("SELECT count(*) FROM usage_key")
        records["keys"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT key FROM usage_record GROUP BY key HAVING count(*) > 1) d")
        records["doubled_keys"] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM usage_record_version")
        records["version_rows"] = cur.fetchone()[0]
        rollups = {}
        for table in ("usage_daily_rollup", "usage_monthly_rollup"):
            cur.execute(f"SELECT coalesce(sum(records), 0), {sums}, coalesce(sum(cost), 0) FROM {table}")
            row = cur.fetchone()
            rollups[table] = {
                "records": row[0],
                "sums": dict(zip((*CLASSES, "requests", "failed_requests"), row[1:7], strict=True)),
                "cost": row[7],
            }
        cur.execute(
            "SELECT coalesce(sum(accepted), 0), coalesce(sum(duplicates), 0), coalesce(sum(restated), 0), "
            "coalesce(sum(rejected), 0), count(*) FILTER (WHERE j.status <> 'succeeded') "
            "FROM usage_ingestionrun r JOIN core_jobrun j ON j.id = r.jobrun_ptr_id"
        )
        runs = dict(zip(("accepted", "duplicates", "restated", "rejected", "unfinished"), cur.fetchone(), strict=True))
    return {**records, "rollups": rollups, "runs": runs}


def prove(expected: dict, sent_rows: int, answered: Counter) -> list[str]:
    db = database_state()
    problems = []

    def check(label: str, got, want) -> None:
        mark = "ok" if got == want else "DIFFERENT"
        log(f"  {label:<46} {got!s:>24}  expected {want!s:>24}  {mark}")
        if got != want:
            problems.append(f"{label}: {got} != {want}")

    check("usage records (one per distinct key)", db["records"], expected["records"])
    check("idempotency keys", db["keys"], expected["records"])
    check("keys stored twice", db["doubled_keys"], 0)
    check("restatements kept as versions", db["version_rows"], expected["restatements"])
    check("sum of record versions", db["versions"], expected["records"] + expected["restatements"])
    for name in (*CLASSES, "requests", "failed_requests"):
        check(f"records: {name}", db["sums"][name], expected["sums"][name])
    check("records: cost (USD, exact)", db["cost"], expected["cost"])
    for table, got in db["rollups"].items():
        check(f"{table}: records", got["records"], expected["records"])
        for name in CLASSES:
            check(f"{table}: {name}", got["sums"][name], expected["sums"][name])
        check(f"{table}: cost", got["cost"], expected["cost"])
    runs = db["runs"]
    check("answers: accepted", answered["accepted"], expected["records"])
    check("answers: restated", answered["restated"], expected["restatements"])
    check("answers: rejected", answered["rejected"], 0)
    check(
        "answers: accepted + duplicates + restated",
        answered["accepted"] + answered["duplicates"] + answered["restated"],
        sent_rows,
    )
    check("runs: accepted (database)", runs["accepted"], expected["records"])
    check("runs: restated (database)", runs["restated"], expected["restatements"])
    check("runs: duplicates (database)", runs["duplicates"], answered["duplicates"])
    check("runs not succeeded", runs["unfinished"], 0)
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent ingestion clients")
    parser.add_argument("--readers", type=int, default=2, help="concurrent dashboard and API readers")
    parser.add_argument("--batches", type=int, default=10, help="batches per client (the last after a barrier)")
    parser.add_argument("--batch-size", type=int, default=2000, help="records per batch")
    parser.add_argument("--shared", type=float, default=0.3, help="share of a batch sent by every client of its vendor")
    parser.add_argument("--restate", type=float, default=0.1, help="share restating the client's previous batch")
    parser.add_argument("--in-batch", type=int, default=5, help="keys sent twice within a batch")
    parser.add_argument("--file-every", type=int, default=4, help="every n-th batch is a file upload (0: none)")
    parser.add_argument("--web", type=int, default=2, help="gunicorn processes (one port each)")
    parser.add_argument("--web-workers", type=int, default=2, help="sync workers per gunicorn process")
    parser.add_argument("--celery", type=int, default=2, help="celery worker processes (concurrency 1)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server for broker and cache")
    parser.add_argument("--redis-db", type=int, default=14, help="a Redis database no one else uses")
    parser.add_argument("--force", action="store_true", help="empty --redis-db even when it holds keys")
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (default: drop it)")
    args = parser.parse_args()
    if args.batches < 2:
        parser.error("--batches must be at least 2")

    broker = f"{args.redis.rstrip('/')}/{args.redis_db}"
    redis_client = private_redis(broker, force=args.force)
    log_dir = ROOT / "var" / "bench-load"
    log_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    url = fresh_database(args.database)
    setup_django(url, broker)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=40 - k) for k in range(35)]
    tokens = reference_data(days)
    log(f"fresh database {args.database} and reference data in {time.perf_counter() - began:.1f} s")

    planner = Planner(days)
    common = {
        "batches": args.batches,
        "size": args.batch_size,
        "shared": args.shared,
        "restate": args.restate,
        "in_batch": args.in_batch,
        "file_every": args.file_every,
        "days": days,
        "planner": planner,
    }
    baseline_plan = make_plan(clients=1, prefix="B", **common)
    load_plan = make_plan(clients=args.clients, prefix="L", **common)
    sent = sum(len(b.records) for p in (baseline_plan, load_plan) for bs in p.values() for b in bs)
    log(
        f"plan: baseline 1 client × {args.batches} batches; load {args.clients} clients × {args.batches} batches of "
        f"{args.batch_size} ({args.shared:.0%} shared per vendor, {args.restate:.0%} restating, {args.in_batch} "
        f"twice in a batch, every {args.file_every}th a file); {sent:,} rows for {len(planner.identity):,} keys"
    )

    from celery import current_app

    current_app.conf.task_always_eager = False
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "False"
    redis_client.flushdb()  # nothing the set-up queued reaches the workers
    processes: list[subprocess.Popen] = []
    # both gunicorn processes count into one directory: /metrics on either sums this machine
    metrics_dir = log_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    try:
        ports = [free_port() for _ in range(args.web)]
        for port in ports:
            processes.append(start_gunicorn(url, port, workers=args.web_workers))
        processes += start_celery_workers(
            args.celery, env={**os.environ, "CELERY_TASK_ALWAYS_EAGER": "False"}, log_dir=log_dir, name="bench-load"
        )
        wait_for_workers(args.celery)
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        log(
            f"{args.web} gunicorn processes × {args.web_workers} workers (ports {', '.join(map(str, ports))}), "
            f"{args.celery} celery workers (logs in {log_dir}); broker and cache {broker}"
        )
        warm_phases = []
        for n, base in enumerate(bases):  # each process connects and loads its code once
            warm = make_plan(clients=1, prefix=f"W{n}", **{**common, "batches": 2, "size": 200, "file_every": 0})
            warm_phases.append(run_phase("warm-up", warm, bases=[base], tokens=tokens, readers=0, days=days))
        log(f"load average {os.getloadavg()[0]:.2f} before the baseline")
        baseline = run_phase("baseline", baseline_plan, bases=bases[:1], tokens=tokens, readers=0, days=days)
        report(baseline)
        log(f"load average {os.getloadavg()[0]:.2f} before the load")
        load = run_phase("load", load_plan, bases=bases, tokens=tokens, readers=args.readers, days=days)
        report(load)
        log(f"load average {os.getloadavg()[0]:.2f}")
        scraped = scrape(bases[0])
    finally:
        stop_processes(processes)
        redis_client.flushdb()

    b, lo = baseline.tally, load.tally
    write_kind = "write: JSON batch"
    log(
        f"scale-out: {args.clients} clients on {args.web} web processes vs 1 client on 1: "
        f"rows/s × {(lo.rows_sent / load.seconds) / (b.rows_sent / baseline.seconds):.2f}, "
        f"batches/s × {(lo.batches / load.seconds) / (b.batches / baseline.seconds):.2f}, "
        f"JSON batch p95 × {pct(lo.latencies[write_kind], 95) / pct(b.latencies[write_kind], 95):.2f}"
    )
    errors_5xx = sum(n for code, n in (b.statuses + lo.statuses).items() if code >= 500)
    non_2xx = sum(n for code, n in (b.statuses + lo.statuses).items() if not 200 <= code < 300)
    log(f"5xx answers: {errors_5xx}; other non-2xx: {non_2xx - errors_5xx}")
    for failure in (b.failures + lo.failures)[:10]:
        log(f"  {failure}")

    log(f"GET /metrics after the run: {scraped}")
    log("proof (database against what was sent):")
    answered = b.counts + lo.counts + sum((w.tally.counts for w in warm_phases), Counter())
    rows = b.rows_sent + lo.rows_sent + sum(w.tally.rows_sent for w in warm_phases)
    problems = prove(expected_state(planner, set(planner.identity)), rows, answered)

    if not args.keep:
        import psycopg
        from django.db import connections

        from .common import database_url, psycopg_conninfo

        connections.close_all()
        with psycopg.connect(psycopg_conninfo(database_url("postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    if errors_5xx or non_2xx or problems or b.failures or lo.failures:
        log("FAILED: " + "; ".join(problems or ["non-2xx answers or failed runs, see above"]))
        raise SystemExit(1)
    log("no record lost or doubled; every total equals the expected one")


if __name__ == "__main__":
    main()
