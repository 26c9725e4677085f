"""Chargeback invoices: one invoice PDF, and a month of invoices for 200 departments issued by
two Celery workers.

1. A fresh database: three vendors billing in USD with list prices for six models, an active
   DeepSeek agreement (graduated input, flat cached input and output, a monthly take-or-pay token
   commitment shared pro rata, set above what is used so every department gets a shortfall
   line), 200 teams in 10 divisions, the issuer's details, a finance user.
2. A month of usage (the last ended month): a record a day per team for 5 of the 6 models
   (31 000 records for a 31-day month), ingested through the pipeline (validate, attribute,
   rate at the agreement's and list prices, persist, rollups): 17–18 lines per invoice.
3. Timed, with two `celery worker` processes (concurrency 1 each) on a private Redis database:
   close the month (`period_close`, in this process), generate the drafts (`invoices_generate_start`:
   one task), issue them all (`invoices_issue_start`: a task that fans chunks out to both workers;
   each issue takes the next number under the counter's lock, then renders and stores the PDF).
   The clock runs from the close to the last invoice issued, each step timed apart.
4. Checked: every invoice issued, numbers gapless from 1, a PDF stored per invoice with its
   sha256, totals equal to the sum of their lines, one PDF read back.
5. One PDF: the issued invoice with the most lines rendered again in this process, a cold first
   render (fonts and stylesheet) and then --renders timed ones: median and max.

Ends with `one PDF: 0.12 s; 200 departments' month: 31.4 s with 2 workers` (targets: 0.5 s, 60 s).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from .common import (
    ROOT,
    fresh_database,
    private_redis,
    psycopg_conninfo,
    start_celery_workers,
    stop_processes,
    wait_for_workers,
)

DB_NAME = "tokenledger_bench_invoices"
DIVISIONS = ["ENG", "DATA", "OPS", "SALES", "FIN", "MKT", "LEGAL", "HR", "CS", "RND"]
# vendor slug, name, [(model, input, cached input, cache write or None, output per 1M tokens)]
VENDORS = [
    ("openai", "OpenAI", [("gpt-4o", "2.50", "1.25", None, "10.00"), ("gpt-4o-mini", "0.15", "0.075", None, "0.60")]),
    (
        "anthropic",
        "Anthropic",
        [
            ("claude-sonnet-4-5", "3.00", "0.30", "3.75", "15.00"),
            ("claude-haiku-4-5", "1.00", "0.10", "1.25", "5.00"),
        ],
    ),
    (
        "deepseek",
        "DeepSeek",
        [("deepseek-chat", "0.27", "0.07", None, "1.10"), ("deepseek-reasoner", "0.55", "0.14", None, "2.19")],
    ),
]
MODELS = [(slug, model, write is not None) for slug, _, models in VENDORS for model, _, _, write, _ in models]
ISSUER = {
    "issuer_name": "Example Group plc — Group Technology",
    "issuer_address": "1 Finsbury Avenue\nLondon EC2M 2PP\nUnited Kingdom",
    "issuer_tax_id": "GB 123 4567 89",
    "issuer_email": "chargeback@example.com",
    "issuer_bank_details": "Intercompany settlement account 4910\nIBAN GB29 NWBK 6016 1331 9268 19",
    "invoice_footer": "Internal chargeback of LLM token usage at the month's blended rates. Questions: "
    "chargeback@example.com.",
}


def log(message: str) -> None:
    print(message, flush=True)


def last_ended_month(today: date) -> date:
    return (today.replace(day=1) - timedelta(days=1)).replace(day=1)


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def setup_django(url: str, broker: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "False"  # no query log: as a worker runs
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["CELERY_BROKER_URL"] = broker
    # The set-up runs what it sets off in place (the agreement's re-rating, before any record
    # exists); the timed part sends its tasks to the workers (switched off in main()).
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "True"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# Data -------------------------------------------------------------------------------------------


def reference_data(month: date) -> dict:
    from accounts.models import User
    from contracts.services import agreement_change
    from core.roles import Role
    from core.services import organization_settings_update
    from procurement.models import Department, VendorModel
    from procurement.services import vendor_save
    from usage.models import Source

    organization_settings_update(actor=None, reporting_currency="USD", default_payment_terms_days=30, **ISSUER)
    vendors = {}
    for slug, name, models in VENDORS:
        vendor = vendor_save(
            actor=None, slug=slug, name=name, kind="producer", country="US", billing_currency="USD", aliases=[]
        )
        vendors[slug] = vendor
        for model, p_in, p_cached, p_write, p_out in models:
            VendorModel.objects.create(
                vendor=vendor,
                model=model,
                effective_from=date(2025, 1, 1),
                currency="USD",
                input_price=Decimal(p_in),
                cached_input_price=Decimal(p_cached),
                cache_write_price=Decimal(p_write) if p_write else None,
                output_price=Decimal(p_out),
            )
    teams = []
    for division in DIVISIONS:
        parent = Department.objects.create(code=division, name=f"{division.title()} division")
        for index in range(1, 21):
            teams.append(
                Department.objects.create(
                    code=f"{division}-{index:02d}", name=f"{division.title()} team {index}", parent=parent
                ).code
            )
    tier = lambda start, price: {"from_tokens": start, "price": Decimal(price)}  # noqa: E731
    agreement_change(
        agreement=None,
        changes={
            "reference": "FA-BENCH-DS",
            "vendor": vendors["deepseek"],
            "start": month.replace(month=1),
            "end": month.replace(month=12, day=31),
            "currency": "USD",
            "status": "active",
            "price_rules": [
                {
                    "model_pattern": "deepseek-*",
                    "token_class": "input",
                    "schedule": "graduated",
                    "tiers": [tier(0, "0.25"), tier(100_000_000_000, "0.21")],
                },
                {
                    "model_pattern": "deepseek-*",
                    "token_class": "cached_input",
                    "schedule": "flat",
                    "tiers": [tier(0, "0.06")],
                },
                {
                    "model_pattern": "deepseek-*",
                    "token_class": "output",
                    "schedule": "flat",
                    "tiers": [tier(0, "1.00")],
                },
            ],
            "commitments": [
                {
                    "unit": "tokens",
                    "amount": Decimal("600000000000"),
                    "period": "monthly",
                    "token_classes": [],
                    "treatment": "take_or_pay",
                    "shortfall_price": Decimal("0.20"),
                    "shortfall_allocation": "pro_rata",
                }
            ],
            "sla_clauses": [],
        },
        actor=None,
    )
    Source.objects.create(slug="bench-gateway", name="Benchmark gateway")
    finance = User.objects.create(username="bench-finance", role=Role.FINANCE, email="finance@example.com")
    return {"teams": teams, "finance": finance}


def month_records(month: date, teams: list[str], *, seed: int = 2026) -> list[dict]:
    """A record a day per team for 5 of the 6 models (each team leaves out a different one)."""
    rng = random.Random(seed)
    end = month_end(month)
    records = []
    for index, team in enumerate(teams):
        scale = rng.lognormvariate(0, 0.6)  # teams differ in size
        for model_index, (vendor, model, writes) in enumerate(MODELS):
            if model_index == index % len(MODELS):
                continue
            day = month
            while day < end:
                at = datetime(day.year, day.month, day.day, tzinfo=UTC)
                prompt = int(rng.randint(5_000_000, 40_000_000) * scale)
                cached = int(prompt * rng.uniform(0.1, 0.5))
                record = {
                    "external_id": f"bench:{team}:{model}:{day:%Y%m%d}",
                    "source": "bench-gateway",
                    "vendor": vendor,
                    "model": model,
                    "bucket_start": at.isoformat(),
                    "bucket_end": (at + timedelta(days=1, microseconds=-1)).isoformat(),
                    "input_tokens": prompt - cached,
                    "cached_input_tokens": cached,
                    "output_tokens": int(prompt * rng.uniform(0.05, 0.25)),
                    "requests": rng.randint(500, 20_000),
                    "department": team,
                }
                if writes:
                    record["cache_write_tokens"] = int(prompt * rng.uniform(0.01, 0.05))
                records.append(record)
                day += timedelta(days=1)
    return records


def ingest(records: list[dict]) -> dict:
    from django.db import transaction

    from core.models import JobRun
    from usage.models import IngestionRun
    from usage.pipeline import ingest_records
    from usage.pipeline.context import BatchContext

    counts = {"accepted": 0, "rejected": 0}
    for start in range(0, len(records), 10_000):
        with transaction.atomic():
            run = IngestionRun.objects.create(
                kind="ingestion", status=JobRun.Status.SUCCEEDED, origin=IngestionRun.Origin.API, format="ndjson"
            )
            ctx = BatchContext.load(default_source="bench-gateway")
            batch = list(enumerate(records[start : start + 10_000], start=start))
            result = ingest_records(batch, ctx, run_id=run.pk)
        counts["accepted"] += result.counts["accepted"]
        counts["rejected"] += result.counts["rejected"]
        if result.rejected:
            raise SystemExit(f"rejected records: {[r.as_error() for r in result.rejected[:3]]}")
    return counts


# Workers ----------------------------------------------------------------------------------------


def start_workers(count: int, *, url: str, broker: str, log_dir: Path) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "False",
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "False",
        "LOG_LEVEL": "WARNING",
    }
    return start_celery_workers(count, env=env, log_dir=log_dir, name="bench-invoices")


def wait_for_run(run_id: int, *, timeout: float, log_dir: Path) -> object:
    from core.models import JobRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = JobRun.objects.get(pk=run_id)
        if run.is_finished:
            if run.status != JobRun.Status.SUCCEEDED:
                raise SystemExit(f"run {run.kind} failed: {run.message}\nsee {log_dir}")
            return run
        time.sleep(0.05)
    raise SystemExit(f"run {run_id} not finished within {timeout:.0f} s (see {log_dir})")


# Checks -----------------------------------------------------------------------------------------


def check_issued(month: date, expected: int) -> None:
    from django.db.models import Count, Sum
    from pypdf import PdfReader

    from billing.models import Invoice

    invoices = list(
        Invoice.objects.filter(period=month, kind="invoice")
        .annotate(lines_total=Sum("lines__amount"), line_count=Count("lines"))
        .order_by("number")
    )
    assert len(invoices) == expected, (len(invoices), expected)
    assert all(i.status == "issued" for i in invoices), "not every invoice is issued"
    year = invoices[0].issue_date.year
    numbers = [i.number for i in invoices]
    assert numbers == [f"CB-{year}-{n:06d}" for n in range(1, expected + 1)], "numbers are not gapless"
    assert all(i.total == i.lines_total for i in invoices), "a total differs from its lines"
    stored = Invoice.objects.filter(period=month, kind="invoice", pdf__isnull=False).values_list("pdf", "pdf_sha256")
    assert len(stored) == expected, "an invoice has no PDF"
    assert all(hashlib.sha256(bytes(pdf)).hexdigest() == sha for pdf, sha in stored), "a PDF differs from its sha256"
    sample = max(invoices, key=lambda i: i.line_count)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(sample.pdf))).pages)
    assert sample.number in text and sample.department.code in text, "the sample PDF does not read back"
    lines = sorted(i.line_count for i in invoices)
    log(
        f"  checked: {expected} issued, numbers CB-{year}-000001 … {numbers[-1]} gapless, a PDF each "
        f"(sha256 matches); lines per invoice {lines[0]}–{lines[-1]} (median {statistics.median(lines):g})"
    )


def pdf_timings(month: date, renders: int) -> tuple[float, list[float], object]:
    from django.db.models import Count

    from billing.models import Invoice
    from billing.pdf import invoice_pdf_render

    invoice = (
        Invoice.objects.filter(period=month, kind="invoice")
        .annotate(line_count=Count("lines"))
        .order_by("-line_count", "number")
        .first()
    )
    invoice = Invoice.objects.get(pk=invoice.pk)
    began = time.perf_counter()
    invoice_pdf_render(invoice=invoice)
    cold = time.perf_counter() - began
    times = []
    for _ in range(renders):
        invoice = Invoice.objects.get(pk=invoice.pk)  # each render reads its invoice, as the service does
        began = time.perf_counter()
        invoice_pdf_render(invoice=invoice)
        times.append(time.perf_counter() - began)
    return cold, times, invoice


# Main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--renders", type=int, default=20, help="timed renders of one PDF")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379", help="Redis server for the workers' broker")
    parser.add_argument("--redis-db", type=int, default=13, help="a Redis database no one else uses")
    parser.add_argument("--force", action="store_true", help="empty --redis-db even when it holds keys")
    parser.add_argument("--database", default=DB_NAME)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards (default: drop it)")
    args = parser.parse_args()

    broker = f"{args.redis.rstrip('/')}/{args.redis_db}"
    redis_client = private_redis(broker, force=args.force)
    log_dir = ROOT / "var" / "bench-invoices"
    log_dir.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    url = fresh_database(args.database)
    setup_django(url, broker)
    log(f"fresh database {args.database} in {time.perf_counter() - began:.1f} s")

    log(f"load average {os.getloadavg()[0]:.2f} (other work on the machine shows in the times)")
    month = last_ended_month(date.today())
    began = time.perf_counter()
    world = reference_data(month)
    records = month_records(month, world["teams"])
    counts = ingest(records)
    log(
        f"month {month:%Y-%m}: {len(world['teams'])} teams, {counts['accepted']} records ingested "
        f"in {time.perf_counter() - began:.1f} s"
    )

    from celery import current_app

    from billing.services.invoices import invoices_generate_start, invoices_issue_start
    from billing.services.periods import period_close

    current_app.conf.task_always_eager = False
    redis_client.flushdb()  # nothing the set-up may have queued reaches the workers
    finance = world["finance"]
    workers = start_workers(args.workers, url=url, broker=broker, log_dir=log_dir)
    try:
        wait_for_workers(args.workers)
        log(f"{args.workers} workers ready (logs in {log_dir})")

        began = time.perf_counter()
        period_close(month=month, actor=finance, note="benchmark")
        closed = time.perf_counter()
        run = invoices_generate_start(month=month, actor=finance)
        run = wait_for_run(run.pk, timeout=600, log_dir=log_dir)
        generated = time.perf_counter()
        log(f"  close {closed - began:.2f} s; generate {generated - closed:.2f} s ({run.message})")
        run = invoices_issue_start(month=month, actor=finance)
        run = wait_for_run(run.pk, timeout=1200, log_dir=log_dir)
        issued = time.perf_counter()
        month_seconds = issued - began
        issue_count = run.result["issued"]
        log(
            f"  issue {issued - generated:.2f} s ({run.message}: "
            f"{(issued - generated) / max(1, issue_count) * 1000:.0f} ms an invoice, {args.workers} workers)"
        )
    finally:
        stop_processes(workers, timeout=30)
        redis_client.flushdb()

    log(f"load average {os.getloadavg()[0]:.2f}")
    check_issued(month, issue_count)
    cold, times, invoice = pdf_timings(month, args.renders)
    log(
        f"one PDF ({invoice.number}, {invoice.lines.count()} lines): first render in a process {cold:.2f} s "
        f"(fonts, stylesheet); {len(times)} renders: median {statistics.median(times):.3f} s, "
        f"max {max(times):.3f} s"
    )

    if not args.keep:
        import psycopg
        from django.db import connections

        from .common import database_url

        connections.close_all()
        with psycopg.connect(psycopg_conninfo(database_url("postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        log(f"dropped {args.database} (--keep keeps it)")
    log(
        f"one PDF: {statistics.median(times):.2f} s; {issue_count} departments' month: {month_seconds:.1f} s "
        f"with {args.workers} workers"
    )


if __name__ == "__main__":
    main()
