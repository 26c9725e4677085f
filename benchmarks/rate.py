"""Contract rating throughput: re-rate 1 000 000 stored usage records under an agreement.

1. A fresh database; a vendor with list prices, three departments, and an active agreement
   whose rules use all three schedules: graduated input (3 tiers), flat cached input, volume
   output (3 tiers), with a monthly commitment (so monthly pricing periods, and true-ups for
   the months that have ended).
2. N records (default 1 000 000) over six months, 5 models, written with one binary COPY at
   list price (cost, FX and flags as usage/pipeline/persist.py writes them), and their daily
   rollups — as ingestion leaves them before the agreement exists. `--unpriced` loads them
   without any rating instead (costs empty): the first rating then also fills the cost columns,
   which makes every row grow.
3. Timed: `usage.services.usage_rerate` — rule selection, tier positions in (bucket_start, key)
   order, costs in the agreement and reporting currency, storing every changed record and its
   rollups, and the volume true-ups of the ended months.
4. Checked: a second run changes nothing, and the stored total equals the pure engine
   (contracts.rating.rate_sequence) over the same records.

Ends with `rated N records in X.XX s` (target for 1 000 000: < 20 s).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from hashlib import blake2b

from .common import ROOT, fresh_database

LIST_MICRO = {"input": 500_000, "cached_input": 100_000, "cache_write": 600_000, "output": 2_000_000}
ONE = Decimal("1.000000000000")
MODELS = ["deep-chat", "deep-coder", "deep-reasoner", "deep-lite", "other-model"]


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "True")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def reference_data():
    from contracts.services import agreement_change
    from procurement.models import Department, VendorModel
    from procurement.services import vendor_save

    vendor = vendor_save(
        actor=None, slug="deep", name="Deep", kind="producer", country="CN", billing_currency="USD", aliases=[]
    )
    for model in MODELS:
        VendorModel.objects.create(
            vendor=vendor,
            model=model,
            effective_from=date(2025, 1, 1),
            currency="USD",
            input_price="0.500000",
            cached_input_price="0.100000",
            cache_write_price="0.600000",
            output_price="2.000000",
        )
    departments = [Department.objects.create(code=f"D{i}", name=f"Department {i}").pk for i in range(3)]
    tier = lambda start, price: {"from_tokens": start, "price": Decimal(price)}  # noqa: E731
    agreement_change(
        agreement=None,
        changes={
            "reference": "FA-BENCH",
            "vendor": vendor,
            "start": date(2026, 1, 1),
            "end": date(2026, 12, 31),
            "currency": "USD",
            "status": "draft",  # activated after the records are loaded; then rated here, timed
            "price_rules": [
                {
                    "model_pattern": "deep-*",
                    "token_class": "input",
                    "schedule": "graduated",
                    "tiers": [tier(0, "0.27"), tier(50_000_000_000, "0.22"), tier(200_000_000_000, "0.18")],
                },
                {
                    "model_pattern": "deep-*",
                    "token_class": "cached_input",
                    "schedule": "flat",
                    "tiers": [tier(0, "0.07")],
                },
                {
                    "model_pattern": "deep-*",
                    "token_class": "output",
                    "schedule": "volume",
                    "tiers": [tier(0, "1.10"), tier(20_000_000_000, "0.95"), tier(60_000_000_000, "0.80")],
                },
            ],
            "commitments": [
                {
                    "unit": "tokens",
                    "amount": Decimal("100000000000"),
                    "period": "monthly",
                    "token_classes": [],
                    "treatment": "take_or_pay",
                    "shortfall_price": Decimal("0.25"),
                    "shortfall_allocation": "pro_rata",
                }
            ],
            "sla_clauses": [],
        },
        actor=None,
    )
    return vendor, departments


COLUMNS = [
    ("id", "int8"),
    ("key", "bytea"),
    ("source_id", "int8"),
    ("vendor_id", "int8"),
    ("model", "text"),
    ("bucket_start", "timestamptz"),
    ("usage_date", "date"),
    ("input_tokens", "int8"),
    ("cached_input_tokens", "int8"),
    ("cache_write_tokens", "int8"),
    ("output_tokens", "int8"),
    ("requests", "int8"),
    ("failed_requests", "int8"),
    ("tags", "jsonb"),
    ("department_id", "int8"),
    ("department_explicit", "bool"),
    ("rating", "text"),
    ("off_contract", "bool"),
    ("off_contract_reporting", "numeric"),
    ("cost", "numeric"),
    ("list_cost", "numeric"),
    ("cost_currency", "text"),
    ("cost_reporting", "numeric"),
    ("list_cost_reporting", "numeric"),
    ("reporting_currency", "text"),
    ("fx_rate", "numeric"),
    ("fx_date", "date"),
    ("fx_status", "text"),
    ("version", "int4"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
]


def load_records(n: int, vendor_id: int, departments: list[int], *, priced: bool, seed: int = 2026) -> list[tuple]:
    """COPY n records (at list price, or unrated) and build their rollups; returns what the check
    needs."""
    from django.db import connection

    from contracts.rating import to_decimal
    from usage.models import Source
    from usage.pipeline.persist import rollup_upsert_sql

    source = Source.objects.create(slug="bench", name="Bench")
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seconds = 181 * 86_400
    now = datetime.now(UTC)
    kept = []
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY usage_record ({', '.join(c for c, _ in COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([t for _, t in COLUMNS])
            for i in range(1, n + 1):
                at = start + timedelta(seconds=rng.randrange(seconds))
                key = blake2b(f"bench-{i}".encode(), digest_size=16).digest()
                model = MODELS[i % len(MODELS)]
                tokens = (rng.randint(10_000, 2_000_000), rng.randint(0, 400_000), 0, rng.randint(1_000, 400_000))
                if priced:  # USD list prices, USD reporting: the identity rate of the usage day
                    cost = to_decimal(sum(t * LIST_MICRO[c] for t, c in zip(tokens, LIST_MICRO, strict=True)))
                    rating = ("list", True, cost, cost, cost, "USD", cost, cost, "USD", ONE, at.date(), "same")
                else:
                    rating = ("unpriced", True, None, None, None, "", None, None, "", None, None, "")
                copy.write_row(
                    (
                        i,
                        key,
                        source.pk,
                        vendor_id,
                        model,
                        at,
                        at.date(),
                        *tokens,
                        1,
                        0,
                        "{}",
                        departments[i % 3],
                        False,
                        *rating,
                        1,
                        now,
                        now,
                    )
                )
                kept.append((key, at, model, *tokens))
        cursor.execute("SELECT setval(pg_get_serial_sequence('usage_record', 'id'), %s)", [n])
        cursor.execute(rollup_upsert_sql("FROM usage_record r", sign=1, table_alias="r"))
        cursor.execute("ANALYZE usage_record")
    return kept


def engine_total(kept: list[tuple]) -> tuple[int, int]:
    """The pure engine over the same records: provisional units, and the true-ups of ended months."""
    from contracts.models import Agreement
    from contracts.rating import AgreementSpec, UsageInput, period_true_ups, rate_sequence

    spec = AgreementSpec.from_model(Agreement.objects.prefetch_related("price_rules__tiers", "commitments").get())
    records = [
        UsageInput(
            key=k,
            bucket_start=at,
            model=m,
            input_tokens=a,
            cached_input_tokens=b,
            cache_write_tokens=c,
            output_tokens=d,
        )
        for k, at, m, a, b, c, d in kept
    ]
    lines = rate_sequence(records, spec.lookup)
    on_contract = sum(line.units for line in lines if line.units is not None)
    off = sum(line.tokens * LIST_MICRO[line.token_class] for line in lines if line.off_contract)
    ups = period_true_ups(lines, {r.id: r.schedule for r in spec.rules})
    return on_contract + off, sum(ups.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--no-check", action="store_true", help="skip the pure-engine cross-check")
    parser.add_argument("--unpriced", action="store_true", help="load the records unrated, not at list price")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the time of each rating step")
    parser.add_argument(
        "--database", default="tokenledger_bench_rate", help="the database to (re)create (runs side by side need two)"
    )
    args = parser.parse_args()
    if args.verbose:
        import logging

        logging.basicConfig(format="  %(message)s")
        logging.getLogger("usage.pipeline.rerate").setLevel(logging.DEBUG)
        logging.getLogger("usage.services.rating").setLevel(logging.DEBUG)

    url = fresh_database(args.database)
    setup_django(url)
    from django.db import connection, transaction

    from contracts.models import Agreement
    from usage.models import TrueUp
    from usage.services import usage_rerate

    vendor, departments = reference_data()
    began = time.perf_counter()
    with transaction.atomic():
        kept = load_records(args.records, vendor.pk, departments, priced=not args.unpriced)
    state = "unrated" if args.unpriced else "at list price"
    print(f"loaded {args.records} records {state} in {time.perf_counter() - began:.2f} s (COPY + rollups)")
    Agreement.objects.update(status="active")

    began = time.perf_counter()
    result = usage_rerate(vendor_ids=[vendor.pk], since=date(2026, 1, 1))
    elapsed = time.perf_counter() - began
    print(f"first run: {result['message']}")

    began = time.perf_counter()
    again = usage_rerate(vendor_ids=[vendor.pk], since=date(2026, 1, 1))
    print(f"second run (nothing to change): {again['changed']} changed in {time.perf_counter() - began:.2f} s")
    assert again["changed"] == 0, again

    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(cost) FROM usage_record")
        stored = cursor.fetchone()[0]
    true_ups = sum(t.adjustment for t in TrueUp.objects.all())
    print(f"stored cost: {stored} USD; true-ups of ended months: {true_ups} USD ({TrueUp.objects.count()} entries)")
    if not args.no_check:
        from contracts.rating import to_decimal

        units, up_units = engine_total(kept)
        print(f"pure engine: {to_decimal(units)} USD; true-ups {to_decimal(up_units)} USD")
        assert to_decimal(units) == stored, "stored costs differ from the pure engine"
        print("check: stored costs equal the pure engine's to the last of 12 places")
    print(f"rated {args.records} records in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
