"""Usage's shared-state metrics for `GET /metrics` (registered with core.metrics in UsageConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Sum

from core.metrics import StateMetric

OUTCOMES = ("accepted", "duplicates", "restated", "rejected")


def ingestion_metrics() -> Iterable[StateMetric]:
    """Rows every ingestion run has counted, by origin (api, file, replay, pull, demo) and outcome,
    and the rejected rows still waiting to be corrected and replayed."""
    from .models import IngestionRun, RejectedRow

    rows = StateMetric(
        "tokenledger_ingestion_rows",
        "counter",
        "Usage rows ingested, by origin and outcome (accepted, duplicates, restated, rejected).",
        ("origin", "outcome"),
    )
    totals = IngestionRun.objects.order_by().values("origin").annotate(**{o: Sum(o) for o in OUTCOMES})
    for row in totals:
        for outcome in OUTCOMES:
            rows.samples.append(((row["origin"], outcome), row[outcome] or 0))
    open_rows = StateMetric(
        "tokenledger_rejected_rows_open",
        "gauge",
        "Rejected usage rows not yet corrected and replayed.",
        samples=[((), RejectedRow.objects.filter(resolved_at__isnull=True).count())],
    )
    return [rows, open_rows]
