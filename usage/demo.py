"""Demo usage (run by `manage.py load_demo`): the gateway source, attribution rules, and months of
usage made by a seeded replay of real request traces onto a calendar (see `demo_records`)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from procurement.models import Department

from .models import Source

SOURCES = [
    ("demo-gateway", "Internal LLM gateway (demo)", "ndjson"),
]


def load_sources() -> list[Source]:
    return [
        Source.objects.update_or_create(slug=slug, defaults={"name": name, "format": fmt})[0]
        for slug, name, fmt in SOURCES
    ]


# Demo usage: a seeded replay of real LLM request traces onto a calendar ------------------------------

TRACES = Path(__file__).with_name("demo_traces.json")
WEEKDAY = (1.0, 1.04, 1.06, 1.03, 0.93, 0.34, 0.26)  # Monday … Sunday
BUCKET_HOURS = 3  # one record per workload and three hours


@dataclass(frozen=True)
class Workload:
    """One application's traffic: which trace its request sizes come from, its volume on a
    weekday at the start, how much it grows a month, and how it is attributed."""

    name: str
    vendor: str
    model: str
    trace: str
    requests_per_day: int
    monthly_growth: float
    api_key: str
    department: str | None = None  # sent on the record (the gateway knows the team)
    rule_department: str | None = None  # attributed by a rule on the API key
    cache_share: float | None = None  # None: the Mooncake prefix-cache hit rate
    peak_hour_utc: int = 7  # the team's working day (07 UTC ≈ Shanghai afternoon, Europe morning)
    failure_rate: float = 0.002


WORKLOADS = [
    Workload(
        "search-assistant",
        "deepseek",
        "deepseek-chat",
        "azure_conv",
        3_400_000,
        0.05,
        "sk-search-01",
        rule_department="ENG-AI-SEARCH",
    ),
    Workload(
        "search-backup",
        "alibaba",
        "qwen-plus",
        "azure_conv",
        900_000,
        0.04,
        "sk-search-02",
        rule_department="ENG-AI-SEARCH",
    ),
    Workload(
        "analytics-reasoner",
        "deepseek",
        "deepseek-reasoner",
        "azure_conv",
        260_000,
        0.08,
        "sk-data-01",
        department="DATA",
    ),
    Workload(
        "long-context-research", "moonshot", "kimi-k2.5", "mooncake_conv", 45_000, 0.06, "sk-data-02", department="DATA"
    ),
    Workload(
        "code-assistant",
        "anthropic",
        "claude-sonnet-4-5",
        "azure_code",
        420_000,
        0.09,
        "sk-code-01",
        rule_department="ENG-AI-CODE",
        cache_share=0.55,
        peak_hour_utc=14,
    ),
    Workload(
        "support-bot",
        "openai",
        "gpt-4o",
        "azure_conv",
        310_000,
        0.03,
        "sk-support-01",
        rule_department="CS",
        cache_share=0.30,
        peak_hour_utc=15,
    ),
    Workload(
        "support-triage",
        "anthropic",
        "claude-haiku-4-5",
        "azure_conv",
        520_000,
        0.02,
        "sk-support-02",
        rule_department="CS",
        cache_share=0.25,
        peak_hour_utc=15,
    ),
    Workload(
        "platform-agents",
        "openai",
        "gpt-4.1",
        "azure_code",
        150_000,
        0.07,
        "sk-platform-01",
        rule_department="ENG-PLAT",
        cache_share=0.40,
        peak_hour_utc=14,
    ),
    Workload(
        "marketing-copy",
        "openai",
        "gpt-4o-mini",
        "azure_conv",
        90_000,
        0.02,
        "sk-mkt-01",
        department="MKT",
        cache_share=0.10,
        peak_hour_utc=14,
    ),
    Workload(
        "sales-email",
        "openai",
        "gpt-4o-mini",
        "azure_conv",
        60_000,
        0.01,
        "sk-sales-01",
        rule_department="SALES",
        cache_share=0.10,
        peak_hour_utc=15,
    ),
    Workload(
        "contract-review",
        "zhipu",
        "glm-4.5",
        "mooncake_conv",
        12_000,
        0.03,
        "sk-legal-01",
        rule_department="LEGAL",
        peak_hour_utc=3,
    ),
    # An experiment no rule attributes: it lands in UNALLOCATED for finance to sort out.
    Workload("prototype-router", "openrouter", "deepseek/deepseek-chat", "azure_conv", 40_000, 0.12, "sk-proto-99"),
]


def _hour_shape(peak_utc: int) -> list[float]:
    """Share of a day's requests in each UTC hour: a working-day bump around the team's peak."""
    weights = [0.25 + math.exp(-(((h - peak_utc + 12) % 24 - 12) ** 2) / 18) for h in range(24)]
    total = sum(weights)
    return [w / total for w in weights]


def _trace_samples() -> tuple[dict[str, list[list[int]]], float]:
    data = json.loads(TRACES.read_text())
    return data["samples"], data["mooncake_prefix_cache_hit_rate"]


def demo_records(start: date, end: date, *, seed: int = 2026) -> list[dict]:
    """Records for every workload and 3-hour bucket from `start` to `end` (inclusive), in the
    generic record schema. Each bucket's request count follows the workload's volume, growth,
    weekday rhythm, hour-of-day shape and ±8 % noise; its token counts replay real requests drawn
    from the workload's trace (up to 48 per bucket, scaled to the bucket's count)."""
    samples, moon_cache = _trace_samples()
    records = []
    for work in WORKLOADS:
        rng = random.Random(f"{seed}:{work.name}")  # noqa: S311 - reproducible demo data
        shape = _hour_shape(work.peak_hour_utc)
        buckets = [sum(shape[h : h + BUCKET_HOURS]) for h in range(0, 24, BUCKET_HOURS)]
        pool = samples[work.trace]
        cache = moon_cache if work.cache_share is None else work.cache_share
        day = start
        while day <= end:
            months = (day - start).days / 30.4
            daily = work.requests_per_day * WEEKDAY[day.weekday()] * (1 + work.monthly_growth) ** months
            for index, share in enumerate(buckets):
                requests = max(1, round(daily * share * rng.lognormvariate(0, 0.08)))
                drawn = [pool[rng.randrange(len(pool))] for _ in range(min(requests, 48))]
                scale = requests / len(drawn)
                prompt = round(sum(d[0] for d in drawn) * scale)
                output = round(sum(d[1] for d in drawn) * scale)
                cached = round(prompt * min(0.95, max(0.0, rng.gauss(cache, 0.04))))
                at = datetime(day.year, day.month, day.day, index * BUCKET_HOURS, tzinfo=UTC)
                record = {
                    "external_id": f"demo:{work.name}:{at:%Y%m%d%H}",
                    "source": "demo-gateway",
                    "vendor": work.vendor,
                    "model": work.model,
                    "bucket_start": at.isoformat(),
                    "bucket_end": (at + timedelta(hours=BUCKET_HOURS, microseconds=-1)).isoformat(),
                    "input_tokens": prompt - cached,
                    "cached_input_tokens": cached,
                    "output_tokens": output,
                    "requests": requests,
                    "failed_requests": min(requests, round(requests * work.failure_rate * rng.lognormvariate(0, 0.5))),
                    "api_key_id": work.api_key,
                    "project_id": work.name,
                    "tags": {"app": work.name},
                }
                if work.department:
                    record["department"] = work.department
                records.append(record)
            day += timedelta(days=1)
    return records


def load_attribution_rules() -> None:
    from .models import AttributionRule

    departments = dict(Department.objects.values_list("code", "id"))
    for work in WORKLOADS:
        if (
            work.rule_department
            and not AttributionRule.objects.filter(dimension="api_key_id", value=work.api_key).exists()
        ):
            AttributionRule.objects.create(
                priority=100,
                dimension="api_key_id",
                value=work.api_key,
                department_id=departments[work.rule_department],
                description=f"{work.name} (demo)",
            )


def load_usage(start: date, end: date, *, actor=None) -> int:
    """Ingest the demo usage through the pipeline (one run), only the days not loaded yet."""
    from django.db import transaction

    from core.models import JobRun

    from .models import IngestionRun, UsageRecord
    from .pipeline import ingest_records
    from .pipeline.context import BatchContext

    load_attribution_rules()
    last = (
        UsageRecord.objects.filter(external_id__startswith="demo:")
        .order_by("-usage_date")
        .values_list("usage_date", flat=True)
        .first()
    )
    first = max(start, last + timedelta(days=1)) if last else start
    if first > end:
        return 0
    records = demo_records(start, end)
    records = [r for r in records if r["bucket_start"][:10] >= first.isoformat()]
    with transaction.atomic():
        run = IngestionRun.objects.create(
            kind="ingestion",
            status=JobRun.Status.RUNNING,
            created_by=actor,
            origin=IngestionRun.Origin.DEMO,
            format="ndjson",
            source=Source.objects.get(slug="demo-gateway"),
            message=f"Demo usage {first} to {end}",
        )
        ctx = BatchContext.load(default_source="demo-gateway")
        result = None
        for i in range(0, len(records), 10_000):
            part = ingest_records(list(enumerate(records[i : i + 10_000], start=i)), ctx, run_id=run.pk)
            result = part if result is None else (result.add(part) or result)
        counts = result.counts
        IngestionRun.objects.filter(pk=run.pk).update(
            status=JobRun.Status.SUCCEEDED,
            progress=100,
            received=counts["received"],
            accepted=counts["accepted"],
            duplicates=counts["duplicates"],
            restated=counts["restated"],
            rejected=counts["rejected"],
            result=counts,
        )
    return counts["accepted"]
