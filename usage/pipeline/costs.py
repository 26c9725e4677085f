"""Vendor cost lines through the pipeline: validate a CostItem, then store it idempotently.

The key of a line is its source, its feed format and its `identity` (the bucket and the grouping
values that name it). The same key with the same values is a duplicate; with another amount or
other values a restatement, which replaces the line and keeps the earlier amount in `superseded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from hashlib import blake2b

import orjson
from django.db import connection
from django.utils import timezone

from core.currencies import is_currency
from procurement.selectors import vendor_ids_by_feed_name

from ..models import VendorCostLine
from .context import BatchContext
from .feeds.base import CostItem, _exact_default

TEXT_LIMITS = {"model": 200, "line_item": 300, "charge_category": 32, "quantity_unit": 64}
DIMENSION_LIMIT = 255
EXACT_FIELDS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost", "quantity")


@dataclass(slots=True)
class CostRow:
    index: int
    key: bytes
    content: bytes
    values: dict


def _digest(value) -> bytes:
    return blake2b(orjson.dumps(value, default=_exact_default), digest_size=16).digest()


def vendor_lookup(ctx: BatchContext) -> dict[str, int]:
    """procurement's feed-name table (slug, name, aliases → vendor id), loaded once per batch."""
    lookup = ctx.caches.get("vendor_lookup")
    if lookup is None:
        lookup = ctx.caches["vendor_lookup"] = vendor_ids_by_feed_name()
    return lookup


def validate_cost(item: CostItem, index: int, ctx: BatchContext, *, feed: str) -> CostRow | list[str]:
    reasons: list[str] = []
    source = item.get("source") or ctx.default_source
    source_id = ctx.sources.get(source) if isinstance(source, str) else None
    if source_id is None:
        reasons.append(f"unknown or inactive source {source!r}" if source else "source is required")

    vendor_id = None
    if item.get("vendor"):
        vendor_id = ctx.vendors.get(item["vendor"])
        if vendor_id is None:
            reasons.append(f"unknown vendor {item['vendor']!r}")
    else:
        provider = (item.get("provider_name") or "").strip()
        if not provider:
            reasons.append("the row names no provider (ProviderName is empty)")
        else:
            vendor_id = vendor_lookup(ctx).get(provider.lower())
            if vendor_id is None:
                reasons.append(
                    f"no vendor is known as {provider!r}: add it as an alias of a vendor, then replay this row"
                )

    start, end = item.get("period_start"), item.get("period_end")
    for name, value in (("period_start", start), ("period_end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            reasons.append(f"{name} is missing or not a timestamp")
    if isinstance(start, datetime) and isinstance(end, datetime) and start.tzinfo and end.tzinfo and end < start:
        reasons.append("period_end is before period_start")

    amount = item.get("amount")
    if not isinstance(amount, Decimal) or not amount.is_finite():
        reasons.append(f"amount {item.get('amount_as_given', amount)!r} is not a decimal number")
    currency = str(item.get("currency") or "").strip().upper()
    if not currency:
        reasons.append("currency is missing")
    elif not is_currency(currency):
        reasons.append(f"currency {currency!r} is not an ISO 4217 code")
    for name in EXACT_FIELDS:
        value = item.get(name)
        if value is not None and (not isinstance(value, Decimal) or not value.is_finite()):
            reasons.append(f"{name} {value!r} is not a decimal number")
    for name, limit in TEXT_LIMITS.items():
        if len(str(item.get(name) or "")) > limit:
            reasons.append(f"{name} is longer than {limit} characters")
    for name in ("project_id", "api_key_id", "workspace_id"):
        if len(str(item.get(name) or "")) > DIMENSION_LIMIT:
            reasons.append(f"{name} is longer than {DIMENSION_LIMIT} characters")
    if reasons:
        return reasons

    values = {
        "source_id": source_id,
        "vendor_id": vendor_id,
        "feed": feed,
        "period_start": start,
        "period_end": end,
        "description": str(item.get("description") or ""),
        "model": str(item.get("model") or ""),
        "line_item": str(item.get("line_item") or ""),
        "charge_category": str(item.get("charge_category") or ""),
        "amount": amount,
        "amount_as_given": str(item.get("amount_as_given") or format(amount, "f"))[:100],
        "amount_unit": item.get("amount_unit") or "major",
        "currency": currency,
        "quantity_unit": str(item.get("quantity_unit") or ""),
        "project_id": str(item.get("project_id") or ""),
        "api_key_id": str(item.get("api_key_id") or ""),
        "workspace_id": str(item.get("workspace_id") or ""),
        "dimensions": item.get("dimensions") or {},
        **{name: item.get(name) for name in EXACT_FIELDS},
    }
    key = _digest(("c", source, feed, item.get("identity")))
    content = _digest(sorted((k, v) for k, v in values.items() if k not in ("source_id", "feed")))
    return CostRow(index, key, content, values)


@dataclass
class CostResult:
    accepted: int = 0
    duplicates: int = 0
    restated: int = 0


def persist_costs(rows: list[CostRow], *, run_id: int | None) -> CostResult:
    """Store the lines (call inside a transaction). Lines of one batch with the same key are
    taken in order, the later restating the earlier. Concurrent batches take turns on a
    transaction-level advisory lock: cost feeds are small, correctness is what matters."""
    result = CostResult()
    if not rows:
        return result
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('usage.vendor_cost_line'))")
    existing = {bytes(line.key): line for line in VendorCostLine.objects.filter(key__in=[r.key for r in rows])}
    now = timezone.now()
    created: dict[bytes, VendorCostLine] = {}
    changed: dict[bytes, VendorCostLine] = {}
    for row in rows:
        line = created.get(row.key) or existing.get(row.key)
        if line is None:
            line = VendorCostLine(key=row.key, content=row.content, run_id=run_id, **row.values)
            created[row.key] = line
            result.accepted += 1
            continue
        if bytes(line.content) == row.content:
            result.duplicates += 1
            continue
        line.superseded = [
            *line.superseded,
            {"version": line.version, "amount": format(line.amount, "f"), "run": line.run_id, "at": now.isoformat()},
        ]
        for name, value in row.values.items():
            setattr(line, name, value)
        line.content, line.run_id, line.version = row.content, run_id, line.version + 1
        if row.key not in created:
            changed[row.key] = line
        result.restated += 1
    VendorCostLine.objects.bulk_create(created.values(), batch_size=1000)
    if changed:
        for line in changed.values():
            line.updated_at = now
        fields = [*rows[0].values, "content", "run_id", "version", "superseded", "updated_at"]
        VendorCostLine.objects.bulk_update(changed.values(), fields, batch_size=1000)
    return result
