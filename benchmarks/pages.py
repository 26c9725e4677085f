"""Server time of every page of the web UI, for every role, over the demo company's data.

1. A fresh database (`tokenledger_bench_pages`), migrated, with the demo company loaded as the run
   command loads it (`manage.py load_demo --no-forecasts`; Celery tasks run eagerly in this
   process, mail goes to memory), then the forecasts computed (`forecasts_refresh`) and last
   month's reports written, as the demo's first start does in its worker (`--no-forecasts` skips
   both). Prints each step's time.
2. The pages: every parameterless GET route of the UI (tests/routes.py, the permission matrix's
   enumeration: lists, forms, the dashboard, the explorer, settings…) and the key detail pages
   (an invoice, an agreement and its commitment panel, a vendor and its scorecard, a budget and
   its status panel, a department, an alert, a report, a vendor invoice, a reconciliation row, a
   source, an ingestion run, a list price, a certification), chosen inside the demo manager's
   departments where the page is department-scoped, so the manager sees them too.
3. For each demo login (admin, procurement, finance, manager, auditor) and each page the role may
   open (a page that answers 403 or redirects is listed as skipped): --warmup untimed requests,
   one request whose queries are counted and timed, then --requests timed requests through
   Django's test client in-process (the whole middleware stack and template rendering; no
   network, no WSGI server), with DEBUG off as served.

Prints median and p95 server time per page and role, the slowest first, marks every page whose
p95 is over --target-ms (300), and exits 1 if any is. `--reuse` measures the database an earlier
run loaded again (after migrating it), `--only TEXT` the pages whose path contains TEXT.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .common import ROOT, database_url, fresh_database, percentile

DB_NAME = "tokenledger_bench_pages"
ROLES = ("admin", "procurement", "finance", "manager", "auditor")  # the demo's usernames
TARGET_MS = 300.0


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "False"  # no query log, no debug toolbar or pages: as served
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The demo's background work (re-rating, alerts, invoices, forecasts, reports) runs in this
    # process as it is asked for; nothing is queued, no mail leaves it, var/ gets nothing.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "True"
    os.environ["EMAIL_URL"] = "memorymail://"
    sys.path.insert(0, str(ROOT))
    import logging
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here

    django.setup()
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 403s of pages a role may not open


def load(forecasts: bool) -> None:
    from django.core.management import call_command
    from django.db import transaction

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:  # the demo passwords: not var/demo-logins.json
        call_command("load_demo", no_forecasts=True, logins_file=str(Path(folder) / "logins.json"))
    print(f"  load_demo --no-forecasts: {time.perf_counter() - started:.1f} s", flush=True)
    if not forecasts:
        return
    from accounts.models import User
    from billing.months import previous_month
    from insights.services.forecasts import forecasts_refresh
    from insights.services.reports import reports_send_start

    started = time.perf_counter()
    result = forecasts_refresh()
    print(
        f"  forecasts_refresh: {time.perf_counter() - started:.1f} s ({result['message']}, {len(result['failed'])} failed)",
        flush=True,
    )
    started = time.perf_counter()
    with transaction.atomic():  # the task runs eagerly when this commits
        reports_send_start(period=previous_month(), actor=User.objects.get(username="finance"))
    print(f"  last month's reports: {time.perf_counter() - started:.1f} s", flush=True)


# Pages ------------------------------------------------------------------------------------------


def list_pages() -> list[str]:
    """Every parameterless GET page of the UI, as the permission matrix finds them."""
    from tests.routes import PUBLIC_PREFIXES, all_routes

    return [
        route.url
        for route in all_routes()
        if not route.is_api and not route.path.startswith(PUBLIC_PREFIXES)
        if not route.has_parameters and route.answers_get
    ]


def detail_pages() -> list[str]:
    """One object of each kind, inside the demo manager's departments where that matters."""
    from django.contrib.auth import get_user_model

    from billing.models import Invoice, Reconciliation, VendorInvoice
    from contracts.models import Agreement
    from core.scoping import visible_department_ids
    from insights.models import Alert, MonthlyReport
    from procurement.models import Budget, Department, VendorCertification, VendorModel
    from usage.models import IngestionRun, Source

    manager = get_user_model().objects.get(username="manager")
    theirs = visible_department_ids(manager)
    pages = []

    def add(obj, url):
        if obj is not None:
            pages.append(url(obj))

    agreement = Agreement.objects.filter(status=Agreement.Status.ACTIVE, commitments__isnull=False).first()
    add(agreement, lambda a: f"/agreements/{a.reference}/")
    add(agreement, lambda a: f"/agreements/{a.reference}/commitment-panel/")
    vendor = agreement.vendor if agreement else None
    add(vendor, lambda v: f"/vendors/{v.slug}/")
    add(vendor, lambda v: f"/vendors/{v.slug}/scorecard/")
    add(
        Invoice.objects.filter(department_id__in=theirs).order_by("-period", "id").first(),
        lambda i: f"/invoices/{i.pk}/",
    )
    budget = Budget.objects.filter(department_id__in=theirs, vendor=None).order_by("department__code").first()
    add(budget, lambda b: f"/budgets/{b.pk}/")
    add(budget, lambda b: f"/budgets/{b.pk}/status-panel/")
    add(Department.objects.filter(pk__in=theirs).order_by("code").first(), lambda d: f"/departments/{d.code}/")
    add(Alert.objects.filter(department_id__in=theirs).order_by("-raised_at").first(), lambda a: f"/alerts/{a.pk}/")
    add(
        MonthlyReport.objects.filter(scope=MonthlyReport.Scope.DEPARTMENTS).order_by("-period").first(),
        lambda r: f"/reports/{r.pk}/",
    )
    add(VendorInvoice.objects.order_by("-period").first(), lambda i: f"/reconciliation/vendor-invoices/{i.pk}/")
    add(Reconciliation.objects.order_by("-period", "vendor__slug").first(), lambda r: f"/reconciliation/{r.pk}/")
    add(Source.objects.order_by("slug").first(), lambda s: f"/usage/sources/{s.slug}/")
    add(IngestionRun.objects.order_by("-received").first(), lambda r: f"/usage/runs/{r.pk}/")
    add(VendorModel.objects.order_by("vendor__slug", "model").first(), lambda m: f"/vendor-models/{m.pk}/")
    add(VendorCertification.objects.order_by("pk").first(), lambda c: f"/vendor-certifications/{c.pk}/")
    return pages


# Measuring --------------------------------------------------------------------------------------


@dataclass
class Result:
    role: str
    path: str
    status: int = 200
    error: str = ""
    queries: int = 0
    sql_ms: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    max: float = 0.0
    cpu: float = 0.0  # median CPU time of this process per request: what other work on the machine moves least


def measure_page(client, role: str, path: str, warmup: int, requests: int) -> Result:
    from django.db import connection

    result = Result(role, path)
    try:
        response = client.get(path)
    except Exception as exc:  # a broken page (one mid-rewrite) does not hide the others
        return Result(role, path, status=500, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    if response.status_code != 200:
        result.status = response.status_code
        return result
    for _ in range(max(0, warmup - 1)):
        client.get(path)
    timings: list[float] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append(time.perf_counter() - started)

    with connection.execute_wrapper(record):
        client.get(path)
    result.queries, result.sql_ms = len(timings), sum(timings) * 1000
    times, cpu = [], []
    for _ in range(requests):
        started, cpu_started = time.perf_counter(), time.process_time()
        client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    result.p50, result.p95, result.max = statistics.median(times), percentile(times, 0.95), max(times)
    result.cpu = statistics.median(cpu)
    return result


def measure(pages: list[str], roles: list[str], warmup: int, requests: int) -> list[Result]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    results = []
    for role in roles:
        client = Client()
        client.force_login(get_user_model().objects.get(username=role))
        started = time.perf_counter()
        for path in pages:
            results.append(measure_page(client, role, path, warmup, requests))
        measured = sum(1 for r in results if r.role == role and r.status == 200)
        print(f"  {role}: {measured} pages in {time.perf_counter() - started:.0f} s", flush=True)
    return results


def report(results: list[Result], target: float) -> bool:
    """Prints the table, slowest first; True when every page meets the target."""
    measured = sorted((r for r in results if r.status == 200 and not r.error), key=lambda r: -r.p95)
    header = f"{'page':<52} {'role':<12} {'queries':>7} {'SQL ms':>7} {'CPU ms':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}"
    print(f"\n{'':2} {header}")
    for r in measured:
        mark = "!!" if r.p95 > target else ""
        print(
            f"{mark:2} {r.path:<52} {r.role:<12} {r.queries:>7} {r.sql_ms:7.1f} {r.cpu:7.1f} {r.p50:7.1f} {r.p95:7.1f}"
            f" {r.max:7.1f}"
        )
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"FAILED {r.path} as {r.role}: {r.error}")
    skipped = [r for r in results if r.status != 200 and not r.error]
    if skipped:
        by_status: dict[int, int] = {}
        for r in skipped:
            by_status[r.status] = by_status.get(r.status, 0) + 1
        print("skipped (not this role's): " + ", ".join(f"{n} × HTTP {s}" for s, n in sorted(by_status.items())))
    over = [r for r in measured if r.p95 > target]
    worst = measured[0] if measured else None
    summary = f"{len(measured)} page × role pairs measured, {len(over)} over the {target:.0f} ms p95 target"
    if worst:
        summary += f"; slowest p95 {worst.p95:.0f} ms ({worst.path} as {worst.role})"
    print(summary)
    return not over and not failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10, help="timed requests per page and role")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per page and role first")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS, help="p95 target per page")
    parser.add_argument("--roles", default=",".join(ROLES), help="demo logins to measure, comma-separated")
    parser.add_argument("--only", default="", help="measure only the pages whose path contains this text")
    parser.add_argument("--no-forecasts", action="store_true", help="load the demo without forecasts and reports")
    parser.add_argument("--reuse", action="store_true", help="measure the database an earlier run loaded again")
    parser.add_argument(
        "--database", default=DB_NAME, help="tokenledger_bench_…: its own database, dropped and created"
    )
    args = parser.parse_args()
    if not args.database.startswith("tokenledger_bench_"):
        parser.error("--database must start with tokenledger_bench_ (it is dropped and created)")

    if args.reuse:
        print(f"Reusing {args.database} (migrated to the current schema)…", flush=True)
        import subprocess

        url = database_url(args.database)
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        _setup_django(url)
    else:
        print(f"A fresh database {args.database} with the demo company…", flush=True)
        started = time.perf_counter()
        url = fresh_database(args.database)
        print(f"  migrate: {time.perf_counter() - started:.1f} s", flush=True)
        _setup_django(url)
        load(forecasts=not args.no_forecasts)

    from usage.models import UsageRecord

    pages = [p for p in [*list_pages(), *detail_pages()] if args.only in p]
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    print(
        f"{UsageRecord.objects.count():,} usage records · {len(pages)} pages × {len(roles)} roles · "
        f"{args.requests} timed requests each after {args.warmup} warm-up, in-process (django.test.Client)",
        flush=True,
    )
    results = measure(pages, roles, args.warmup, args.requests)
    sys.exit(0 if report(results, args.target_ms) else 1)


if __name__ == "__main__":
    main()
