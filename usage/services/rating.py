"""Contract rating of stored usage: after ingestion, on late data and amendments, and true-ups.

Who rates what, when
--------------------
* Ingestion (usage.pipeline.run.ingest_records) rates each batch's own days in its transaction:
  the records arrive priced, on contract, and the summary shows it at once.
* Records of later days in the same pricing period change position when a record arrives for an
  earlier day (tiered rules count in (`bucket_start`, key) order): ingestion queues a re-rating run
  (`usage.rerate`, sent by name after commit) for just that range.
* An amendment, an activation, an FX rate or a list price re-rates from its earliest effective
  date (contracts and core queue `usage.rerate` by name; they cannot import usage).
* When a pricing period with volume tiers has ended, its true-up entries are recorded (`TrueUp`),
  and recomputed when late data or an amendment changes the period.

Deterministic: the same records and terms give the same costs whatever the arrival order, and
rating a range again changes nothing (only records whose rating changed are written; the run's
result says how many). Each re-rating is a job run, so the history shows when, why and what.

Concurrency: rating a vendor's range reads positions from all its records, so it holds the vendor's
rating lock (a transaction-level advisory lock). Ingestion takes it first, before writing records:
exclusively when an agreement prices the batch's dates, shared otherwise (list-price rating does
not depend on other records), so batches of vendors without agreements still run side by side.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from time import perf_counter

from django.db import connection, transaction
from django.utils import timezone

from contracts.rating import TOKEN_CLASSES, convert_units, micro_to_price, to_decimal
from core.fx import FxTable, FxUnavailable
from core.selectors import organization_settings

from ..models import TrueUp
from ..pipeline.contract import vendor_agreements
from ..pipeline.persist import EMPTY_ROLLUP
from ..pipeline.rating import has_usage, rate_range, rating_locks, rerate_enqueue
from ..pipeline.rerate import midnight, set_local

logger = logging.getLogger(__name__)

TOKEN_COLUMN = dict(
    zip(TOKEN_CLASSES, ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens"), strict=True)
)


# Re-rating runs -----------------------------------------------------------------------------------


def rerate_run_execute(run) -> dict:
    params = run.params
    return usage_rerate(
        vendor_ids=params.get("vendor_ids"),
        since=date.fromisoformat(params["since"]),
        until=date.fromisoformat(params["until"]) if params.get("until") else None,
    )


def _usage_span(vendor_id: int) -> tuple[date | None, date | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(day), max(day) FROM usage_daily_rollup WHERE vendor_id = %s", [vendor_id])
        return cursor.fetchone()


def usage_rerate(*, vendor_ids=None, since: date, until: date | None = None) -> dict:
    """Re-rate the vendors' usage (None: every vendor's) with usage dates from `since` to `until`
    (None: their latest usage), and record the true-ups of the ended periods it touches — one
    transaction per vendor. Deterministic and idempotent: a second run changes nothing."""
    if vendor_ids is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT vendor_id FROM usage_daily_rollup WHERE day >= %s", [since])
            vendor_ids = [row[0] for row in cursor.fetchall()]
    totals = {"records": 0, "changed": 0, "true_ups": 0}
    for vendor_id in sorted(set(vendor_ids)):
        with transaction.atomic():
            rating_locks(exclusive={vendor_id})
            first, last = _usage_span(vendor_id)
            if first is None:
                continue
            start, end = max(since, first), min(until or last, last)
            if start <= end:
                result = rate_range(vendor_ids=[vendor_id], since=start, until=end)
                totals["records"] += result.records
                totals["changed"] += result.changed
            began = perf_counter()
            totals["true_ups"] += true_ups_record(vendor_ids=[vendor_id], first=since, last=until or last)
            logger.debug("rating: true-ups %.2f s", perf_counter() - began)
    totals["message"] = (
        f"{totals['records']} records rated from {since}, {totals['changed']} changed; "
        f"{totals['true_ups']} true-up entries changed"
    )
    return totals


# True-ups -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counter:
    vendor_id: int
    agreement_id: int
    rule_id: int
    period_start: date
    period_end: date


def _ended_volume_counters(vendor_ids, first: date, last: date) -> list[tuple[Counter, object, str]]:
    """Volume counters of the vendors' agreements whose period ended and meets [first, last]."""
    today = timezone.now().date()
    from contracts.rating import pricing_periods

    found = []
    for vendor_id, agreements in vendor_agreements(vendor_ids, first, last).items():
        for spec, currency, _ in agreements.specs:
            volume = [r for r in spec.rules if r.schedule.kind == "volume"]
            if not volume:
                continue
            for start, end in pricing_periods(
                agreement_start=spec.start, agreement_end=spec.end, commitment_period=spec.commitment_period
            ):
                if end >= today or end < first or start > last:
                    continue
                for rule in volume:
                    found.append((Counter(vendor_id, spec.id, rule.id, start, end), rule, currency))
    return found


def _fx_to_reporting(currency: str, day: date, reporting: str):
    table = FxTable.load(day, day, reporting_currency=reporting)
    try:
        return table.quote(currency, reporting, day)
    except FxUnavailable as exc:
        return exc


# Per counter (its rule, token class and period) and department × model: the tokens its records
# counted and their provisional cost (tokens × the rate in micro-units the record's basis names
# for the class). One pass over the vendor's records for all its ended counters: their tokens
# are summed per basis, time slot between the periods' boundaries (width_bucket), department and
# model first — a plain aggregate, whatever the statistics say — and those few sums then find
# their counters in a small map.
COUNTER_GROUPS = f"""
WITH counters (n, rule_id, token_class, start_at, end_at) AS (
    SELECT * FROM unnest(%(n)s::int[], %(rules)s::bigint[], %(classes)s::text[], %(starts)s::timestamptz[],
                         %(ends)s::timestamptz[])
), slots (starts_at, slot) AS (
    SELECT * FROM unnest(%(bounds)s::timestamptz[]) WITH ORDINALITY
), counter_map AS MATERIALIZED (
    SELECT b.id AS basis_id, s.slot, c.n, c.token_class,
           (b.detail -> c.token_class ->> 'rate')::numeric * 1000000 AS rate_micro
    FROM counters c
    JOIN usage_rating_basis b ON (b.detail -> c.token_class ->> 'rule')::bigint = c.rule_id
    JOIN slots s ON s.starts_at >= c.start_at AND s.starts_at < c.end_at
), sums AS MATERIALIZED (
    SELECT r.rating_basis_id AS basis_id, width_bucket(r.bucket_start, %(bounds)s) AS slot, r.department_id,
           r.model, {", ".join(f"sum(r.{column}) AS {token_class}" for token_class, column in TOKEN_COLUMN.items())}
    FROM usage_record r
    WHERE r.vendor_id = %(vendor)s AND r.bucket_start >= %(first)s AND r.bucket_start < %(last)s
    GROUP BY 1, 2, 3, 4
)
SELECT m.n, s.department_id, s.model, sum(t.tokens)::bigint, sum(t.tokens * m.rate_micro)::bigint
FROM sums s
JOIN counter_map m ON m.basis_id = s.basis_id AND m.slot = s.slot
CROSS JOIN LATERAL (
    SELECT CASE m.token_class {" ".join(f"WHEN '{k}' THEN s.{k}" for k in TOKEN_COLUMN)} END AS tokens
) t
WHERE t.tokens > 0
GROUP BY m.n, s.department_id, s.model ORDER BY m.n, s.department_id, s.model
"""


def _counter_groups(counters: list[tuple[Counter, object]]) -> dict[Counter, list[tuple]]:
    """(counter, rule) → [(department, model, tokens, provisional units)] in (department, model)
    order, with one query per vendor."""
    found: dict[Counter, list[tuple]] = defaultdict(list)
    by_vendor: dict[int, list[tuple[Counter, object]]] = defaultdict(list)
    for counter, rule in counters:
        by_vendor[counter.vendor_id].append((counter, rule))
    with connection.cursor() as cursor:
        restore = set_local(cursor, {"jit": "off"})  # compiling would take longer than the query
        for vendor_id, items in sorted(by_vendor.items()):
            starts = [midnight(c.period_start) for c, _ in items]
            ends = [midnight(c.period_end + timedelta(days=1)) for c, _ in items]
            cursor.execute(
                COUNTER_GROUPS,
                {
                    "n": list(range(len(items))),
                    "rules": [c.rule_id for c, _ in items],
                    "classes": [rule.token_class for _, rule in items],
                    "starts": starts,
                    "ends": ends,
                    "bounds": sorted({*starts, *ends}),
                    "vendor": vendor_id,
                    "first": min(starts),
                    "last": max(ends),
                },
            )
            for n, department_id, model, tokens, units in cursor.fetchall():
                found[items[n][0]].append((department_id, model, tokens, units))
        set_local(cursor, restore)
    return found


def true_up_counter(counter: Counter, rule, currency: str, reporting: str, groups: list[tuple]) -> int:
    """Recompute one ended volume counter's true-up entries from its records' `groups`
    (_counter_groups); returns how many rows changed."""
    token_class = rule.token_class
    total = sum(tokens for _, _, tokens, _ in groups)
    schedule = rule.schedule
    final_micro = schedule.tiers[schedule.tier_reached(total)].price_micro
    quote = _fx_to_reporting(currency, counter.period_end, reporting)
    now = timezone.now()
    existing = {
        (t.department_id, t.model): t
        for t in TrueUp.objects.select_for_update().filter(rule_id=counter.rule_id, period_start=counter.period_start)
    }
    changed = 0
    deltas: dict[tuple[int, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    seen = set()
    for department_id, model, tokens, provisional_units in groups:
        seen.add((department_id, model))
        final_units = tokens * final_micro
        adjustment_units = final_units - provisional_units
        if isinstance(quote, FxUnavailable):
            reporting_amount, status = None, quote.reason
        else:
            numerator, denominator = quote.multiplier.as_integer_ratio(), quote.divisor.as_integer_ratio()
            reporting_amount = to_decimal(
                convert_units(adjustment_units, numerator[0] * denominator[1], numerator[1] * denominator[0])
            )
            status = "same" if quote.method == "identity" else "ok"
        figures = {
            "agreement_id": counter.agreement_id,
            "token_class": token_class,
            "period_end": counter.period_end,
            "vendor_id": counter.vendor_id,
            "tokens": tokens,
            "final_rate": micro_to_price(final_micro),
            "provisional_cost": to_decimal(provisional_units),
            "final_cost": to_decimal(final_units),
            "adjustment": to_decimal(adjustment_units),
            "currency": currency,
            "adjustment_reporting": reporting_amount,
            "reporting_currency": reporting,
            "fx_status": status,
        }
        row = existing.get((department_id, model))
        if row is None:
            TrueUp.objects.create(
                rule_id=counter.rule_id,
                period_start=counter.period_start,
                department_id=department_id,
                model=model,
                computed_at=now,
                **figures,
            )
            old_agreement, old_reporting = Decimal(0), Decimal(0)
        else:
            if all(getattr(row, k) == v for k, v in figures.items()):
                continue
            old_agreement, old_reporting = row.adjustment, row.adjustment_reporting or Decimal(0)
            _supersede(row, figures, now)
        changed += 1
        delta = deltas[(department_id, model)]
        delta[0] += figures["adjustment"] - old_agreement
        delta[1] += (reporting_amount or Decimal(0)) - old_reporting
    for key, row in existing.items():
        if key in seen or (row.tokens == 0 and row.adjustment == 0):
            continue
        delta = deltas[key]
        delta[0] -= row.adjustment
        delta[1] -= row.adjustment_reporting or Decimal(0)
        _supersede(
            row,
            {
                "tokens": 0,
                "provisional_cost": Decimal(0),
                "final_cost": Decimal(0),
                "adjustment": Decimal(0),
                "adjustment_reporting": Decimal(0),
            },
            now,
        )
        changed += 1
    _book(counter, deltas)
    return changed


def _supersede(row: TrueUp, figures: dict, now) -> None:
    row.superseded = [
        *row.superseded,
        {
            "version": row.version,
            "tokens": row.tokens,
            "final_rate": str(row.final_rate),
            "provisional_cost": str(row.provisional_cost),
            "final_cost": str(row.final_cost),
            "adjustment": str(row.adjustment),
            "adjustment_reporting": None if row.adjustment_reporting is None else str(row.adjustment_reporting),
            "computed_at": row.computed_at.isoformat(),
        },
    ]
    for name, value in figures.items():
        setattr(row, name, value)
    row.version += 1
    row.computed_at = now
    row.save()


def _book(counter: Counter, deltas: dict) -> None:
    """Add the true-ups' changes to the rollup of the period's last day (cost includes them)."""
    rows = [
        (counter.period_end, department_id, counter.vendor_id, model, d[1], d[0], d[1])
        for (department_id, model), d in sorted(deltas.items())
        if d[0] or d[1]
    ]
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.executemany(
            """
            INSERT INTO usage_daily_rollup (day, department_id, vendor_id, model, records, input_tokens,
                cached_input_tokens, cache_write_tokens, output_tokens, requests, failed_requests, cost, list_cost,
                unpriced_records, off_contract_cost, agreement_cost, true_up_cost)
            VALUES (%s, %s, %s, %s, 0, 0, 0, 0, 0, 0, 0, %s, 0, 0, 0, %s, %s)
            ON CONFLICT (day, department_id, vendor_id, model) DO UPDATE SET
                cost = usage_daily_rollup.cost + excluded.cost,
                agreement_cost = usage_daily_rollup.agreement_cost + excluded.agreement_cost,
                true_up_cost = usage_daily_rollup.true_up_cost + excluded.true_up_cost
            """,
            rows,
        )
        cursor.execute(
            f"DELETE FROM usage_daily_rollup WHERE {EMPTY_ROLLUP} AND day = %s AND vendor_id = %s",
            [counter.period_end, counter.vendor_id],
        )


def true_ups_record(*, vendor_ids, first: date, last: date) -> int:
    """(Re)compute the true-ups of every ended volume period of the vendors meeting [first, last].
    The caller holds the vendors' rating locks."""
    reporting = organization_settings().reporting_currency
    counters = _ended_volume_counters(vendor_ids, first, last)
    groups = _counter_groups([(counter, rule) for counter, rule, _ in counters])
    return sum(
        true_up_counter(counter, rule, currency, reporting, groups.get(counter, []))
        for counter, rule, currency in counters
    )


def true_ups_due(*, today: date | None = None) -> list:
    """Beat (daily): queue re-rating runs that record the true-ups of volume periods that have
    ended and have none yet, or whose reporting amount still lacks an FX rate."""
    from contracts.models import Agreement, PriceRule

    today = today or timezone.now().date()
    runs = []
    rules = PriceRule.objects.filter(
        schedule=PriceRule.Schedule.VOLUME, agreement__status__in=(Agreement.Status.ACTIVE, Agreement.Status.EXPIRED)
    ).select_related("agreement")
    pending: dict[int, date] = {}
    for counter, _, _ in _ended_volume_counters(
        {rule.agreement.vendor_id for rule in rules}, date.min, today - timedelta(days=1)
    ):
        rows = TrueUp.objects.filter(rule_id=counter.rule_id, period_start=counter.period_start)
        done = rows.exists() and not rows.filter(fx_status__in=("missing", "stale")).exists()
        if not done and has_usage(counter.vendor_id, counter.period_start, counter.period_end):
            pending[counter.vendor_id] = min(pending.get(counter.vendor_id, counter.period_end), counter.period_end)
    for vendor_id, day in sorted(pending.items()):
        runs.append(
            rerate_enqueue(vendor_ids=[vendor_id], since=day, until=day, reason="pricing period ended: true-up")
        )
    return runs
