"""Run the pipeline's steps over records already parsed."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from core.exceptions import Forbidden

from .attribute import attribute, rule_index
from .context import BatchContext
from .costs import CostRow, persist_costs, validate_cost
from .feeds.base import CostItem
from .formats import Unreadable
from .normalise import Row, normalise
from .persist import persist
from .rate import RatingTables, rating_tables
from .rating import batch_rate, batch_rating_prepare


@dataclass
class RejectedRecord:
    index: int
    reasons: list[str]
    record: object
    external_id: str | None = None

    def as_error(self) -> dict:
        return {"index": self.index, "external_id": self.external_id, "reasons": self.reasons}


@dataclass
class BatchResult:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    restated: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    cost_lines: int = 0  # of the accepted and restated, how many were vendor cost lines

    def add(self, other: BatchResult) -> None:
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.restated += other.restated
        self.rejected.extend(other.rejected)
        self.cost_lines += other.cost_lines

    @property
    def counts(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "restated": self.restated,
            "rejected": len(self.rejected),
        }


def validate(records: Iterable[tuple[int, object]], ctx: BatchContext) -> tuple[list[Row], list[RejectedRecord]]:
    """Step 1–2: normalise every record; collect the rejected ones with their reasons (lines the
    parser could not read come in as Unreadable and are rejected with the parser's reason)."""
    rows: list[Row] = []
    rejected: list[RejectedRecord] = []
    append = rows.append
    for index, record in records:
        result = normalise(record, index, ctx) if type(record) is not Unreadable else [record.reason]
        if type(result) is Row:
            append(result)
        else:
            external_id = record.get("external_id") if isinstance(record, dict) else None
            rejected.append(
                RejectedRecord(index, result, record, str(external_id) if external_id is not None else None)
            )
    return rows, rejected


@contextmanager
def collector_paused() -> Iterator[None]:
    """A batch allocates hundreds of thousands of short-lived objects that reference counting
    frees; pausing Python's cycle collector meanwhile saves it from scanning them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generations(rows: list[Row]) -> list[list[Row]]:
    """Rows grouped so that no key repeats within a group, in batch order: a key sent twice in
    one batch is handled as if the second arrived after the first (a duplicate or restatement)."""
    if len({row.key for row in rows}) == len(rows):
        return [rows] if rows else []  # the usual case: every key once
    groups: list[list[Row]] = []
    seen: dict[bytes, int] = {}
    for row in rows:
        level = seen.get(row.key, -1) + 1
        seen[row.key] = level
        if level == len(groups):
            groups.append([])
        groups[level].append(row)
    return groups


def enrich(rows: list[Row], ctx: BatchContext) -> RatingTables:
    """Steps 3–4: attribute, and gather what rating needs (reference data loaded once per batch)."""
    if not rows:
        return RatingTables()
    attribute(rows, rule_index(), ctx.unallocated_id)
    return rating_tables(rows, ctx.reporting_currency)


def ingest_items(
    items: Iterable[tuple[int, object]], ctx: BatchContext, *, run_id: int | None, feed: str
) -> BatchResult:
    """A feed's items: usage records go through ingest_records, vendor cost lines are checked
    and stored beside them (usage.pipeline.costs); one result counts both."""
    records, costs = [], []
    for number, item in items:
        (costs if type(item) is CostItem else records).append((number, item))
    result = ingest_records(records, ctx, run_id=run_id) if records else BatchResult()
    if costs:
        rows: list[CostRow] = []
        for number, item in costs:
            checked = validate_cost(item, number, ctx, feed=feed)
            if type(checked) is CostRow:
                rows.append(checked)
            else:
                result.rejected.append(RejectedRecord(number, checked, item))
        stored = persist_costs(rows, run_id=run_id)
        result.received += len(costs)
        result.accepted += stored.accepted
        result.duplicates += stored.duplicates
        result.restated += stored.restated
        result.cost_lines += stored.accepted + stored.restated
    return result


def ingest_records(records: Iterable[tuple[int, object]], ctx: BatchContext, *, run_id: int | None) -> BatchResult:
    """Validate, attribute, rate and persist. Call inside a transaction; nothing is written for
    rejected records (the caller keeps them)."""
    with collector_paused():
        rows, rejected = validate(records, ctx)
    if ctx.forbidden_sources:
        raise Forbidden(
            f"This token may not push usage to source(s) {', '.join(sorted(ctx.forbidden_sources))}.",
            extra={"sources": sorted(ctx.forbidden_sources)},
        )
    result = BatchResult(received=len(rows) + len(rejected), rejected=rejected)
    tables = enrich(rows, ctx)
    prepared = batch_rating_prepare(rows)
    moved_from: dict = {}
    for group in generations(rows):
        persisted = persist(group, tables, run_id=run_id, reporting_currency=ctx.reporting_currency)
        result.accepted += persisted.accepted
        result.duplicates += persisted.duplicates
        result.restated += persisted.restated
        for vendor_id, day in (persisted.moved_from or {}).items():
            moved_from[vendor_id] = min(day, moved_from.get(vendor_id, day))
    # Step 5: the agreements' prices (persist priced the rows at list price; see services/rating.py)
    batch_rate(prepared, reporting_currency=ctx.reporting_currency, moved_from=moved_from)
    return result
