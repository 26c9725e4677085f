"""The rating step of ingestion, and rating a vendor's date range under its agreements.

See usage/services/rating.py for who rates what and when, and the locking rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection
from django.utils import timezone

from core.selectors import organization_settings
from core.services import rerate_request

from .contract import ContractTables, contract_tables, vendor_agreements
from .rerate import rate_records

RATE_LOCK = 74_656  # advisory lock class of "a vendor's rating" (the key's second half is the vendor id)
RERATE_TASK = "usage.rerate"
RERATE_KIND = "rerate"


def rating_locks(exclusive: set[int], shared: set[int] = frozenset()) -> None:
    """Take the vendors' rating locks for this transaction, in vendor order (no deadlocks)."""
    with connection.cursor() as cursor:
        for vendor_id in sorted(set(exclusive) | set(shared)):
            function = "pg_advisory_xact_lock" if vendor_id in exclusive else "pg_advisory_xact_lock_shared"
            cursor.execute(f"SELECT {function}(%s, %s)", [RATE_LOCK, vendor_id])


@dataclass
class RangeResult:
    records: int = 0
    changed: int = 0
    true_ups: int = 0
    tables: ContractTables | None = None
    periods: dict = field(default_factory=dict)


def rate_range(*, vendor_ids, since: date, until: date, reporting_currency: str | None = None) -> RangeResult:
    """Rate the vendors' records with usage dates in [since, until]. The caller holds the vendors'
    rating locks exclusively and the transaction."""
    vendor_ids = sorted(set(vendor_ids))
    reporting = reporting_currency or organization_settings().reporting_currency
    agreements = vendor_agreements(vendor_ids, None, until)
    tables = contract_tables(agreements, since, until) if agreements else ContractTables()
    rated = rate_records(vendor_ids=vendor_ids, since=since, until=until, tables=tables, reporting_currency=reporting)
    return RangeResult(records=rated.records, changed=rated.changed, tables=tables)


def last_usage_day(vendor_ids) -> date | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(day) FROM usage_daily_rollup WHERE vendor_id = ANY(%s)", [list(vendor_ids)])
        return cursor.fetchone()[0]


def has_usage(vendor_id: int, first: date, last: date) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM usage_daily_rollup WHERE vendor_id = %s AND day >= %s AND day <= %s "
            "AND records > 0)",
            [vendor_id, first, last],
        )
        return cursor.fetchone()[0]


def rerate_enqueue(*, vendor_ids, since: date, until: date | None = None, reason: str, actor=None):
    """Queue a re-rating run (`usage.rerate`, sent by name once the transaction commits)."""
    return rerate_request(since=since, until=until, vendor_ids=vendor_ids, reason=reason, actor=actor)


# After ingestion ----------------------------------------------------------------------------------


@dataclass
class BatchRating:
    """What an ingest batch rates in its transaction: vendor → (first day, last day)."""

    ranges: dict[int, tuple[date, date]]
    contract_vendors: set[int]


def batch_rating_prepare(rows) -> BatchRating:
    """Before a batch is written: take its vendors' rating locks (exclusive where an agreement
    prices its dates)."""
    spans: dict[int, list[date]] = {}
    for row in rows:
        span = spans.get(row.vendor_id)
        if span is None:
            spans[row.vendor_id] = [row.usage_date, row.usage_date]
        elif row.usage_date < span[0]:
            span[0] = row.usage_date
        elif row.usage_date > span[1]:
            span[1] = row.usage_date
    if not spans:
        return BatchRating({}, set())
    first = min(s[0] for s in spans.values())
    last = max(s[1] for s in spans.values())
    agreements = vendor_agreements(spans, first, last)
    contract = {
        v
        for v, (a, b) in spans.items()
        if v in agreements and any(s.start <= b and s.end >= a for s, _, _ in agreements[v].specs)
    }
    rating_locks(exclusive=contract, shared=set(spans) - contract)
    return BatchRating({v: (a, b) for v, (a, b) in spans.items()}, contract)


def batch_rate(prepared: BatchRating, *, reporting_currency: str, moved_from: dict[int, date] | None = None) -> None:
    """After a batch is written: rate its days under the agreements, and queue the re-rating of
    the later days of the same pricing periods (their tier positions moved)."""
    moved_from = moved_from or {}
    for vendor_id in sorted(prepared.contract_vendors):
        first, last = prepared.ranges[vendor_id]
        first = min(first, moved_from.get(vendor_id, first))
        result = rate_range(vendor_ids=[vendor_id], since=first, until=last, reporting_currency=reporting_currency)
        tables = result.tables
        period_end = tables.tiered_period_ends.get(vendor_id) if tables else None
        ended_volume = tables and any(
            c[0] == vendor_id and c[4] < timezone.now().date() for c in tables.volume_counters
        )
        later = (
            period_end is not None and period_end > last and has_usage(vendor_id, last + timedelta(days=1), period_end)
        )
        if later or ended_volume:
            since = last + timedelta(days=1) if later else first
            rerate_enqueue(
                vendor_ids=[vendor_id],
                since=min(since, first) if ended_volume else since,
                until=max(period_end or last, last),
                reason="late usage moved the tier positions of later records",
            )
    for vendor_id, day in moved_from.items():
        if vendor_id not in prepared.ranges:  # a restatement moved a record away from this vendor
            rerate_enqueue(vendor_ids=[vendor_id], since=day, reason="a restated record left this vendor")
