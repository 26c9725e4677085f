"""Dashboard and summary API latency over millions of usage records (daily rollups).

1. A fresh database with reference data: 4 vendors (one billing in CNY), 40 departments in a
   tree (5 divisions of 7 teams), 12 priced models, 160 attribution rules, an active USD
   agreement with contract prices and an annual commitment, fiscal-year budgets, a finance
   user, a department manager (one division) and read tokens for both.
2. Bulk load: --records usage records spread over 13 calendar months up to today, generated in
   Python and sent as COPY text straight into usage_record, rated as the pipeline rates them
   (contract for the agreement's vendor, list price for the others, a rare unpriced model, CNY
   converted to USD); the indexes are built after the COPY, usage_key gets one row per record,
   usage_daily_rollup is built with one INSERT … SELECT … GROUP BY over the pipeline's
   ROLLUP_SUMS (its statement trigger fills usage_monthly_rollup; checked against the daily
   rollups by month). Prints each step's time and rows/s.
3. Server time, in-process through Django's test client (whole middleware stack, session,
   bearer-token authentication, throttling, rendering; no network): warm-up requests, then
   --requests timed requests per endpoint — the summary API with several groupings and a
   department manager's token, and the dashboard page for a finance user and for a manager.
Ends with `dashboard p95: X ms, summary p95: Y ms (target < 200 ms)`: the worst endpoint of each.
`--reuse` measures again against the database an earlier run loaded (after migrating it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import psycopg

from .common import ROOT, database_url, fresh_database, percentile, psycopg_conninfo

DB_NAME = "tokenledger_bench_dashboard"
CHUNK = 50_000
PLACES = Decimal("0.000000000001")
MILLION = Decimal(1_000_000)
CNY_PER_USD = Decimal("7.1")
CONTRACT_DISCOUNT = Decimal("0.85")  # the agreement's prices: 85 % of list

# vendor slug, name, country, currency, [(model, input, cached input, output per 1M), weight]
VENDORS = [
    (
        "openai",
        "OpenAI",
        "US",
        "USD",
        [
            ("gpt-4o", "2.50", "1.25", "10.00", 20),
            ("gpt-4o-mini", "0.15", "0.075", "0.60", 30),
            ("gpt-4.1", "2.00", "0.50", "8.00", 10),
        ],
    ),
    (
        "anthropic",
        "Anthropic",
        "US",
        "USD",
        [
            ("claude-sonnet-4", "3.00", "0.30", "15.00", 15),
            ("claude-haiku-3.5", "0.80", "0.08", "4.00", 8),
            ("claude-opus-4", "15.00", "1.50", "75.00", 2),
        ],
    ),
    (
        "google",
        "Google",
        "US",
        "USD",
        [
            ("gemini-2.5-pro", "1.25", "0.31", "10.00", 5),
            ("gemini-2.5-flash", "0.30", "0.075", "2.50", 6),
            ("gemini-2.0-flash", "0.10", "0.025", "0.40", 2),
        ],
    ),
    (
        "deepseek",
        "DeepSeek",
        "CN",
        "CNY",
        [
            ("deepseek-chat", "2.00", "0.50", "8.00", 4),
            ("deepseek-reasoner", "4.00", "1.00", "16.00", 2),
            ("deepseek-coder", "1.00", "0.20", "2.00", 1),
        ],
    ),
]
CONTRACT_VENDOR = "openai"
UNPRICED_MODEL = "gpt-image-preview"  # a model no price book knows: ~0.1 % of records
DIVISIONS = ["ENG", "DATA", "OPS", "SALES", "FIN"]
TEAMS_PER_DIVISION = 7
MANAGED_DIVISION = "DATA"

# the COPY's columns: per row, per department variant, per rated profile
ROW_COLUMNS = [
    "id",
    "key",
    "external_id",
    "bucket_start",
    "bucket_end",
    "usage_date",
    "created_at",
    "updated_at",
    "fx_date",
]
DEPT_COLUMNS = [
    "department_id",
    "department_explicit",
    "attribution_rule_id",
    "project_id",
    "api_key_id",
    "workspace_id",
    "user_id",
    "tags",
]
PROFILE_COLUMNS = [
    "source_id",
    "vendor_id",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "failed_requests",
    "latency_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "service_tier",
    "region",
    "rating",
    "agreement_id",
    "off_contract",
    "off_contract_reporting",
    "cost",
    "list_cost",
    "cost_currency",
    "cost_reporting",
    "list_cost_reporting",
    "reporting_currency",
    "fx_rate",
    "fx_status",
    "rating_basis_id",  # NULL: the load writes no rating detail
    "version",
    "run_id",
]
NULL = "\\N"


def _q(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ["DJANGO_DEBUG"] = "False"  # no query log, no debug pages: as served
    os.environ["DJANGO_ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"
    os.environ["API_THROTTLE_USER"] = "1000000/minute"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # Background jobs the reference data asks for (re-rating when the agreement is created, before
    # any record exists) go to an in-memory queue no worker reads: the load rates the records itself.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "False"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def period(today: date) -> tuple[date, date]:
    """13 calendar months: the first of the month a year before this one, up to today."""
    return date(today.year - 1, today.month, 1), today


# Reference data ---------------------------------------------------------------------------------


def create_reference_data(first: date, last: date) -> dict:
    from accounts.services import api_token_create, user_create_or_update
    from contracts.models import Agreement
    from contracts.services import agreement_change
    from core.models import FxRate
    from core.selectors import organization_settings
    from procurement.models import Department, VendorModel
    from procurement.services import vendor_save
    from usage.models import AttributionRule, Source

    organization_settings()  # the defaults: USD, fiscal year from January
    vendors = {}
    for slug, name, country, currency, models in VENDORS:
        vendor = vendor_save(
            actor=None, slug=slug, name=name, kind="producer", country=country, billing_currency=currency, aliases=[]
        )
        vendors[slug] = vendor
        for model, p_in, p_cached, p_out, _ in models:
            VendorModel.objects.create(
                vendor=vendor,
                model=model,
                effective_from=first - timedelta(days=365),
                currency=currency,
                input_price=Decimal(p_in),
                cached_input_price=Decimal(p_cached),
                output_price=Decimal(p_out),
            )
    FxRate.objects.bulk_create(
        FxRate(date=first + timedelta(days=i), base="USD", quote="CNY", rate=CNY_PER_USD)
        for i in range((last - first).days + 1)
    )
    source = Source.objects.create(slug="bench", name="Benchmark gateway")

    departments = []  # (id, code, parent code or None)
    for division in DIVISIONS:
        parent = Department.objects.create(code=division, name=f"{division} division")
        departments.append((parent.id, division, None))
        for t in range(1, TEAMS_PER_DIVISION + 1):
            team = Department.objects.create(code=f"{division}-T{t}", name=f"{division} team {t}", parent=parent)
            departments.append((team.id, team.code, division))
    rules = {}
    for dept_id, code, _ in departments:
        for k in range(4):
            rule = AttributionRule.objects.create(
                priority=100, dimension="api_key_id", value=f"key-{code}-{k}", department_id=dept_id
            )
            rules[(code, k)] = rule.id

    rules_data = []
    for model, p_in, p_cached, p_out, _ in VENDORS[0][4]:
        for token_class, price in (("input", p_in), ("cached_input", p_cached), ("output", p_out)):
            contract = (Decimal(price) * CONTRACT_DISCOUNT).quantize(Decimal("0.000001"))
            rules_data.append(
                {
                    "model_pattern": model,
                    "token_class": token_class,
                    "schedule": "flat",
                    "tiers": [{"from_tokens": 0, "price": contract}],
                    "effective_from": None,
                    "effective_to": None,
                }
            )
    agreement = agreement_change(
        agreement=None,
        changes={
            "reference": "FA-BENCH-OA",
            "vendor": vendors[CONTRACT_VENDOR],
            "start": first,
            "end": date(first.year + 2, first.month, 1) - timedelta(days=1),
            "currency": "USD",
            "status": Agreement.Status.ACTIVE,
            "price_rules": rules_data,
            "commitments": [],
            "sla_clauses": [],
        },
        actor=None,
    ).agreement

    finance, _ = user_create_or_update(username="bench-finance", role="finance", email="finance@example.com")
    manager, _ = user_create_or_update(
        username="bench-manager", role="department_manager", email="manager@example.com", departments=[MANAGED_DIVISION]
    )
    return {
        "vendors": {slug: v.id for slug, v in vendors.items()},
        "source": source.id,
        "departments": departments,
        "rules": rules,
        "agreement": agreement.id,
        "finance": finance,
        "manager": manager,
        "tokens": {
            "finance": api_token_create(user=finance, scope="read", name="bench", expires_days=1)[1],
            "manager": api_token_create(user=manager, scope="read", name="bench", expires_days=1)[1],
        },
    }


def create_budgets_and_commitment(ref: dict, today: date) -> None:
    """Sized on what was loaded: division budgets at 110 % of their last twelve months, team budgets
    for some teams (a few over), a vendor budget; the agreement's annual money commitment at 120 %
    of its vendor's last twelve months."""
    from django.db import connection

    from contracts.models import Commitment
    from core.selectors import organization_settings
    from procurement.models import Department, Vendor
    from procurement.services import budget_save

    start_month = organization_settings().fiscal_year_start_month
    fiscal_year = today.year if today.month >= start_month else today.year - 1
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT d.code, coalesce(p.code, d.code), sum(r.cost) FROM usage_daily_rollup r
               JOIN procurement_department d ON d.id = r.department_id
               LEFT JOIN procurement_department p ON p.id = d.parent_id
               WHERE r.day > %s GROUP BY 1, 2""",
            [today - timedelta(days=365)],
        )
        spend = cursor.fetchall()
        cursor.execute(
            "SELECT coalesce(sum(agreement_cost), 0) FROM usage_daily_rollup WHERE vendor_id = %s AND day > %s",
            [ref["vendors"][CONTRACT_VENDOR], today - timedelta(days=365)],
        )
        contract_spend = cursor.fetchone()[0] or Decimal(0)
    by_division: dict[str, Decimal] = {}
    by_team: dict[str, Decimal] = {}
    for code, division, cost in spend:
        by_division[division] = by_division.get(division, Decimal(0)) + cost
        if code != division:
            by_team[code] = cost
    departments = {d.code: d for d in Department.objects.all()}
    for division, cost in by_division.items():
        budget_save(
            actor=None,
            department=departments[division],
            fiscal_year=fiscal_year,
            amount=(cost * Decimal("1.1")).quantize(Decimal(1)),
            action="warn",
        )
    for i, (team, cost) in enumerate(sorted(by_team.items())[::3]):
        budget_save(
            actor=None,
            department=departments[team],
            fiscal_year=fiscal_year,
            amount=(cost * (Decimal("0.8") if i % 2 else Decimal("1.3"))).quantize(Decimal(1)),
            action="warn",
        )
    budget_save(
        actor=None,
        department=departments["ENG"],
        fiscal_year=fiscal_year,
        vendor=Vendor.objects.get(slug="anthropic"),
        amount=Decimal(1_000_000),
        action="warn",
    )
    Commitment.objects.create(
        agreement_id=ref["agreement"],
        unit="USD",
        amount=max(Decimal(1000), (contract_spend * Decimal("1.2")).quantize(Decimal(1))),
        period=Commitment.Period.ANNUAL,
        treatment=Commitment.Treatment.TAKE_OR_PAY,
        central_department=departments["FIN"],
    )


# Generated records ------------------------------------------------------------------------------


def _profiles(ref: dict, rng: random.Random, slots: int = 4096) -> list[str]:
    """COPY text of the rated columns for `slots` draws of (vendor, model, tokens), by model weight."""
    choices = []
    for slug, _, _, currency, models in VENDORS:
        for model, p_in, p_cached, p_out, weight in models:
            choices.append((slug, currency, model, Decimal(p_in), Decimal(p_cached), Decimal(p_out), weight))
    weights = [c[-1] for c in choices]
    profiles = []
    for slot in range(slots):
        slug, currency, model, p_in, p_cached, p_out, _ = rng.choices(choices, weights)[0]
        unpriced = slot % 1024 == 7
        requests = rng.randint(1, 40)
        input_tokens = int(requests * rng.lognormvariate(7.5, 1.0))
        cached = int(input_tokens * rng.uniform(0, 0.5)) if rng.random() < 0.6 else 0
        output = int(requests * rng.lognormvariate(6.0, 0.8))
        failed = 1 if rng.random() < 0.02 else 0
        uncached = input_tokens - cached
        list_cost = _q((uncached * p_in + cached * p_cached + output * p_out) / MILLION)
        contract = slug == CONTRACT_VENDOR
        cost = _q(list_cost * CONTRACT_DISCOUNT) if contract else list_cost
        fx = Decimal(1) if currency == "USD" else _q(1 / CNY_PER_USD)
        reporting, list_reporting = _q(cost * fx), _q(list_cost * fx)
        values = [
            ref["source"],
            ref["vendors"][slug],
            UNPRICED_MODEL if unpriced else model,
            input_tokens,
            cached,
            0,
            output,
            requests,
            failed,
            NULL,
            NULL,
            NULL,
            "default",
            NULL,
        ]
        if unpriced:
            values += ["unpriced", NULL, "t", NULL, NULL, NULL, "", NULL, NULL, "USD", NULL, "", NULL, 1, NULL]
        else:
            values += [
                "contract" if contract else "list",
                ref["agreement"] if contract else NULL,
                "f" if contract else "t",
                "0.000000000000" if contract else reporting,
                cost,
                list_cost,
                currency,
                reporting,
                list_reporting,
                "USD",
                fx,
                "same" if currency == "USD" else "ok",
                NULL,
                1,
                NULL,
            ]
        profiles.append("\t".join(str(v) for v in values))
    return profiles


def _department_variants(ref: dict, rng: random.Random, slots: int = 1024) -> list[str]:
    """COPY text of the attribution columns: departments weighted (a few big spenders), each with
    a few keys, projects and users."""
    departments = ref["departments"]
    weights = [
        0.3 if parent is None else 1 / (1 + i % TEAMS_PER_DIVISION) ** 0.7
        for i, (_, _, parent) in enumerate(departments)
    ]
    variants = []
    for _ in range(slots):
        dept_id, code, _ = rng.choices(departments, weights)[0]
        k = rng.randrange(4)
        u = rng.randrange(25)
        variants.append(
            "\t".join(
                str(v)
                for v in (
                    dept_id,
                    "f",
                    ref["rules"][(code, k)],
                    f"proj-{code}-{k % 2}",
                    f"key-{code}-{k}",
                    NULL,
                    f"user-{code}-{u}",
                    f'{{"feature": "f{u % 7}"}}',
                )
            )
        )
    return variants


def _per_day(n: int, days: list[date]) -> list[int]:
    """Records per day: growing over the period, fewer at weekends; summing to n exactly."""
    last = max(len(days) - 1, 1)
    weights = [(0.6 + 0.8 * i / last) * (0.45 if d.weekday() >= 5 else 1.0) for i, d in enumerate(days)]
    total = sum(weights)
    counts = [int(n * w / total) for w in weights]
    for i in range(n - sum(counts)):
        counts[-1 - (i % len(counts))] += 1
    return counts


def generate(n: int, first: date, last: date, ref: dict, seed: int = 2026):
    """Chunks of COPY text (bytes), records in time order, ids from 1."""
    rng = random.Random(seed)
    profiles = _profiles(ref, rng)
    variants = _department_variants(ref, rng)
    minutes = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    bits = rng.getrandbits
    md5 = hashlib.md5
    record_id = 0
    lines: list[str] = []
    for day, count in zip(days, _per_day(n, days), strict=True):
        ds = day.isoformat()
        for _ in range(count):
            record_id += 1
            r = bits(33)
            hm = minutes[(r >> 22) % 1440]
            end = f"{ds} {hm}:59+00"
            lines.append(
                f"{record_id}\t\\\\x{md5(record_id.to_bytes(8, 'little')).hexdigest()}\tb-{record_id}\t{ds} {hm}:00+00\t"
                f"{end}\t{ds}\t{end}\t{end}\t{ds}\t{variants[(r >> 12) & 1023]}\t{profiles[r & 4095]}\n"
            )
            if len(lines) >= CHUNK:
                yield "".join(lines).encode()
                lines = []
    if lines:
        yield "".join(lines).encode()


# Bulk load ---------------------------------------------------------------------------------------


def _step(label: str, started: float, rows: int | None = None) -> float:
    elapsed = time.perf_counter() - started
    rate = f"  ({rows / elapsed:,.0f} rows/s)" if rows else ""
    print(f"  {label:<44} {elapsed:8.1f} s{rate}", flush=True)
    return elapsed


def bulk_load(conninfo: str, n: int, first: date, last: date, ref: dict) -> float:
    from usage.pipeline.persist import ROLLUP_SUMS

    total = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Secondary indexes and usage_key's primary key are built after the data (as any bulk
        # load does); the definitions are read from the migrated schema, not restated here.
        indexes = conn.execute(
            """SELECT indexname, indexdef FROM pg_indexes i
               WHERE tablename = 'usage_record' AND indexname <> 'usage_record_pkey'
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        ).fetchall()
        constraints = conn.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
               WHERE conrelid IN ('usage_key'::regclass, 'usage_record'::regclass)
               AND contype IN ('p', 'u') AND conname <> 'usage_record_pkey'"""
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for table, name, _ in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

        started = time.perf_counter()
        columns = ", ".join(ROW_COLUMNS + DEPT_COLUMNS + PROFILE_COLUMNS)
        with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY usage_record ({columns}) FROM STDIN") as copy:
            for done, chunk in enumerate(generate(n, first, last, ref), start=1):
                copy.write(chunk)
                if done % 40 == 0:
                    rate = done * CHUNK / (time.perf_counter() - started)
                    print(f"    {done * CHUNK:>12,} records  {rate:,.0f} rows/s", flush=True)
        _step(f"COPY {n:,} records into usage_record", started, n)

        started = time.perf_counter()
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("SELECT setval(pg_get_serial_sequence('usage_record', 'id'), (SELECT max(id) FROM usage_record))")
        _step("usage_record indexes", started)

        started = time.perf_counter()
        conn.execute(
            """INSERT INTO usage_key (key, record_id, bucket_start, content, version)
               SELECT key, id, bucket_start, decode(md5(key), 'hex'), 1 FROM usage_record"""
        )
        for table, name, definition in constraints:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        _step("usage_key (one per record) and its primary key", started, n)

        started = time.perf_counter()
        names = [name for name, _ in ROLLUP_SUMS]
        exprs = [expr.format(t="u") for _, expr in ROLLUP_SUMS]
        # Columns the pipeline's ROLLUP_SUMS does not (yet) cover: the agreement's cost in its own
        # currency (a vendor has one agreement in force per day); anything else starts at 0
        # (true-ups are booked by the true-up job, not by records).
        for (column,) in conn.execute(
            """SELECT column_name FROM information_schema.columns WHERE table_name = 'usage_daily_rollup'
               AND column_name NOT IN ('id', 'day', 'department_id', 'vendor_id', 'model') ORDER BY ordinal_position"""
        ):
            if column not in names:
                names.append(column)
                exprs.append(
                    "coalesce(sum(u.cost) FILTER (WHERE u.agreement_id IS NOT NULL), 0)"
                    if column == "agreement_cost"
                    else "0"
                )
        conn.execute(
            f"""INSERT INTO usage_daily_rollup (day, department_id, vendor_id, model, {", ".join(names)})
                SELECT u.usage_date, u.department_id, u.vendor_id, u.model, {", ".join(exprs)}
                FROM usage_record u GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
        )
        rollups = conn.execute("SELECT count(*) FROM usage_daily_rollup").fetchone()[0]
        # the monthly rollups follow by the daily rollups' statement trigger (usage migration 0006)
        monthly = conn.execute("SELECT count(*) FROM usage_monthly_rollup").fetchone()[0]
        _step(f"usage_daily_rollup ({rollups:,} rows), monthly ({monthly:,})", started, n)
        _check_monthly(conn)

        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) usage_daily_rollup")
        conn.execute("VACUUM (ANALYZE) usage_monthly_rollup")
        conn.execute("ANALYZE usage_record")
        conn.execute("ANALYZE usage_key")
        _step("VACUUM / ANALYZE", started)
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('usage_record')), "
            "pg_size_pretty(pg_total_relation_size('usage_key')), "
            "pg_size_pretty(pg_total_relation_size('usage_daily_rollup')), "
            "pg_size_pretty(pg_total_relation_size('usage_monthly_rollup'))"
        ).fetchone()
    elapsed = _step("load, total", total, n)
    print(
        f"  sizes: usage_record {size[0]}, usage_key {size[1]}, usage_daily_rollup {size[2]}, "
        f"usage_monthly_rollup {size[3]}"
    )
    return elapsed


def _check_monthly(conn) -> None:
    """The monthly rollups hold the daily ones summed by month (cost and records compared)."""
    differing = conn.execute(
        """SELECT count(*) FROM (
               SELECT date_trunc('month', day::timestamp)::date AS month, department_id, vendor_id, model,
                      sum(records) AS records, sum(cost) AS cost
               FROM usage_daily_rollup GROUP BY 1, 2, 3, 4
           ) d FULL JOIN usage_monthly_rollup m USING (month, department_id, vendor_id, model)
           WHERE m.records IS DISTINCT FROM d.records OR m.cost IS DISTINCT FROM d.cost"""
    ).fetchone()[0]
    if differing:
        raise RuntimeError(f"usage_monthly_rollup differs from the daily rollups by month in {differing} rows")


# Measurements ----------------------------------------------------------------------------------


def endpoints(today: date, first: date) -> list[tuple[str, str, str, str]]:
    """(kind, label, who, path) — who: finance or manager (a token for the API, a session for pages)."""
    month = today.replace(day=1)
    previous = (month - timedelta(days=1)).replace(day=1)
    year_ago = date(today.year - 1, today.month, 1) if today.month == 12 else date(today.year - 1, today.month + 1, 1)
    tomorrow = today + timedelta(days=1)
    s = "/api/v1/usage/summary?start={}&end={}"
    return [
        (
            "summary",
            "vendor, last 30 days",
            "finance",
            s.format(today - timedelta(days=29), tomorrow) + "&group_by=vendor",
        ),
        ("summary", "vendor, 13 months", "finance", s.format(first, tomorrow) + "&group_by=vendor"),
        (
            "summary",
            "department,month, 12 months",
            "finance",
            s.format(year_ago, tomorrow) + "&group_by=department,month",
        ),
        ("summary", "model,day, last month", "finance", s.format(previous, month) + "&group_by=model,day"),
        (
            "summary",
            "vendor,model,month, 13 months",
            "finance",
            s.format(first, tomorrow) + "&group_by=vendor,model,month",
        ),
        (
            "summary",
            "month, one division's subtree",
            "finance",
            s.format(year_ago, tomorrow) + f"&department={DIVISIONS[0]}&group_by=month",
        ),
        (
            "summary",
            "manager: department,month, 12 mo",
            "manager",
            s.format(year_ago, tomorrow) + "&group_by=department,month",
        ),
        ("summary", "manager: model, this month", "manager", s.format(month, tomorrow) + "&group_by=model"),
        ("dashboard", "GET / as finance", "finance", "/"),
        ("dashboard", "GET / as department manager", "manager", "/"),
    ]


def measure(
    ref: dict, today: date, first: date, warmup: int, requests: int, explain: bool, only: str = ""
) -> list[dict]:
    from django.test import Client

    sessions = {}
    for who in ("finance", "manager"):
        sessions[who] = Client()
        sessions[who].force_login(ref[who])
    results = []
    for kind, label, who, path in endpoints(today, first):
        if only and only not in label:
            continue
        if kind == "summary":  # the API with a bearer token only, no session
            client, extra = Client(), {"HTTP_AUTHORIZATION": f"Bearer {ref['tokens'][who]}"}
        else:
            client, extra = sessions[who], {}
        try:
            results.append(_measure_one(client, extra, kind, label, path, warmup, requests, explain))
        except Exception as exc:  # one broken endpoint (a page mid-rewrite) does not hide the others
            print(f"  {label}: FAILED: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
            results.append({"kind": kind, "label": label, "path": path, "error": type(exc).__name__})
    return results


def _measure_one(client, extra, kind, label, path, warmup, requests, explain) -> dict:
    from django.db import connection

    def get():
        response = client.get(path, **extra)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.content[:300]!r}")
        return response

    for _ in range(warmup):
        get()
    queries: list[tuple[float, str, object]] = []

    def record(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            queries.append((time.perf_counter() - started, sql, params))

    with connection.execute_wrapper(record):  # one request, untimed: its queries
        response = get()
    rows = len(response.json()["rows"]) if kind == "summary" else None
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        get()
        times.append((time.perf_counter() - started) * 1000)
    slowest = max(queries, key=lambda q: q[0], default=None)
    if explain and slowest is not None:
        print(f"\n-- {label}: {len(queries)} queries")
        for q_seconds, q_sql, _ in queries:
            print(f"  {q_seconds * 1000:7.1f} ms  {' '.join(q_sql.split())[:110]}")
        seconds, sql, params = slowest
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        print(f"\n-- {label}: slowest of {len(queries)} queries, {seconds * 1000:.1f} ms\n{sql}\n{params}\n{plan}\n")
    return {
        "kind": kind,
        "label": label,
        "path": path,
        "queries": len(queries),
        "sql_ms": sum(q[0] for q in queries) * 1000,
        "rows": rows,
        "p50": statistics.median(times),
        "p95": percentile(times, 0.95),
        "max": max(times),
    }


def report(results: list[dict]) -> None:
    print(f"\n{'endpoint':<44} {'queries':>7} {'SQL ms':>7} {'rows':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results:
        label = ("summary: " if r["kind"] == "summary" else "") + r["label"]
        if "error" in r:
            print(f"{label:<44} failed ({r['error']})")
            continue
        rows = "" if r["rows"] is None else r["rows"]
        print(
            f"{label:<44} {r['queries']:>7} {r['sql_ms']:7.1f} {rows!s:>6} {r['p50']:8.1f} {r['p95']:8.1f} {r['max']:8.1f}"
        )

    def worst(kind: str) -> str:
        measured = [r for r in results if r["kind"] == kind]
        if not measured:
            return "not measured"
        if any("error" in r for r in measured):
            return "failed"
        return f"{max(r['p95'] for r in measured):.0f} ms"

    print(f"dashboard p95: {worst('dashboard')}, summary p95: {worst('summary')} (target < 200 ms)")


def reuse_database(name: str) -> tuple[str, dict]:
    """The database an earlier run loaded, migrated to the current schema, with new tokens."""
    import subprocess

    url = database_url(name)
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    _setup_django(url)
    from django.contrib.auth import get_user_model

    from accounts.services import api_token_create

    users = {who: get_user_model().objects.get(username=f"bench-{who}") for who in ("finance", "manager")}
    return url, {
        **users,
        "tokens": {
            who: api_token_create(user=u, scope="read", name="bench", expires_days=1)[1] for who, u in users.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000, help="usage records to load")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per endpoint first")
    parser.add_argument(
        "--database", default=DB_NAME, help="tokenledger_bench_…: its own database, dropped and created"
    )
    parser.add_argument("--reuse", action="store_true", help="measure the database an earlier run loaded again")
    parser.add_argument("--only", default="", help="measure only the endpoints whose label contains this text")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each endpoint's slowest query")
    args = parser.parse_args()
    if not args.database.startswith("tokenledger_bench_"):
        parser.error("--database must start with tokenledger_bench_ (it is dropped and created)")

    today = datetime.now(UTC).date()
    first, last = period(today)
    if args.reuse:
        print(f"Reusing {args.database} (migrated to the current schema)…", flush=True)
        _, ref = reuse_database(args.database)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM usage_daily_rollup")
            daily = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM usage_monthly_rollup")  # back-filled by the migration
            print(f"  {daily:,} daily rollup rows, {cursor.fetchone()[0]:,} monthly")
            _check_monthly(connection.connection)
    else:
        print(f"A fresh database, reference data and {args.records:,} records from {first} to {last}…", flush=True)
        url = fresh_database(args.database)
        _setup_django(url)
        ref = create_reference_data(first, last)
        bulk_load(psycopg_conninfo(url), args.records, first, last, ref)
        create_budgets_and_commitment(ref, today)
    results = measure(ref, today, first, args.warmup, args.requests, args.explain, args.only)
    print(
        f"records: {args.records:,}" if not args.reuse else "records: as loaded",
        f"· {args.requests} timed requests per endpoint after {args.warmup} warm-up, in-process (django.test.Client)",
    )
    report(results)


if __name__ == "__main__":
    main()
