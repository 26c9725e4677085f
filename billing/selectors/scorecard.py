"""Vendor scorecards: performance, SLA results, cost share and trend, certifications and DPA,
side by side with the vendors serving the same model families, and every vendor's share of spend
against the concentration policy (primary/backup).

Performance comes from billing.selectors.performance (usage records and uploaded samples);
cost from the daily rollups (reporting currency). A model's *family* is its name without a
router's prefix (`deepseek/deepseek-chat` → `deepseek-chat`) up to its first digit-led or
dated part, so `deepseek-chat` at DeepSeek and `deepseek/deepseek-chat` at OpenRouter meet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import TruncMonth

from procurement.models import Vendor
from usage.models import DailyRollup

from ..models import SlaCredit
from .performance import Performance, vendor_performance

TOKENS_SUM = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def model_family(model: str) -> str:
    """`openai/gpt-4o-mini` → `gpt-4o-mini`; `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`."""
    name = model.rsplit("/", 1)[-1].lower()
    return re.sub(r"-\d{8}$|-\d{4}-\d{2}-\d{2}$", "", name)


@dataclass
class FamilyPeer:
    vendor: str
    vendor_name: str
    family: str
    tokens: int
    cost: Decimal
    cost_per_million: Decimal | None
    latency_p50_ms: Decimal | None
    latency_p90_ms: Decimal | None
    availability: Decimal | None


@dataclass
class Scorecard:
    vendor: Vendor
    start: date
    end: date
    currency: str
    performance: Performance
    cost: Decimal
    cost_share: Decimal | None  # percent of all vendors' spend in the range
    trend: list[dict]  # [{"month", "cost"}]
    sla: list[SlaCredit]
    certifications: list
    dpa_signed: bool
    families: dict[str, list[FamilyPeer]] = field(default_factory=dict)
    shares: list[dict] = field(default_factory=list)  # every vendor's share of spend
    policy_percent: Decimal = Decimal(80)

    def __getattr__(self, name):  # the performance metrics read as the scorecard's own
        if name in ("latency_p50_ms", "latency_p90_ms", "availability", "error_rate", "throughput_fluctuation"):
            return getattr(self.performance, name)
        raise AttributeError(name)


def _peers(families: set[str], *, start: date, end: date) -> dict[str, list[FamilyPeer]]:
    rows = (
        DailyRollup.objects.filter(day__gte=start, day__lte=end)
        .values("vendor_id", "vendor__slug", "vendor__name", "model")
        .annotate(cost=Sum("cost"), **{c: Sum(c) for c in TOKENS_SUM})
        .order_by()
    )
    grouped: dict[tuple[str, int], dict] = {}
    for row in rows:
        family = model_family(row["model"])
        if family not in families:
            continue
        entry = grouped.setdefault(
            (family, row["vendor_id"]),
            {"slug": row["vendor__slug"], "name": row["vendor__name"], "models": [], "tokens": 0, "cost": Decimal(0)},
        )
        entry["models"].append(row["model"])
        entry["tokens"] += sum(int(row[c] or 0) for c in TOKENS_SUM)
        entry["cost"] += row["cost"] or Decimal(0)
    peers: dict[str, list[FamilyPeer]] = {}
    for (family, vendor_id), entry in sorted(grouped.items(), key=lambda item: (item[0][0], item[1]["slug"])):
        performance = vendor_performance(vendor_id=vendor_id, models=entry["models"], start=start, end=end)
        per_million = entry["cost"] * 1_000_000 / entry["tokens"] if entry["tokens"] else None
        peers.setdefault(family, []).append(
            FamilyPeer(
                vendor=entry["slug"],
                vendor_name=entry["name"],
                family=family,
                tokens=entry["tokens"],
                cost=entry["cost"],
                cost_per_million=per_million.quantize(Decimal("0.000001")) if per_million is not None else None,
                latency_p50_ms=performance.latency_p50_ms,
                latency_p90_ms=performance.latency_p90_ms,
                availability=performance.availability,
            )
        )
    return peers


def vendor_scorecard(*, vendor: Vendor, start: date, end: date) -> Scorecard:
    from core.selectors import organization_settings

    performance = vendor_performance(vendor_id=vendor.pk, start=start, end=end)
    by_vendor = {
        row["vendor_id"]: row
        for row in DailyRollup.objects.filter(day__gte=start, day__lte=end)
        .values("vendor_id", "vendor__slug", "vendor__name")
        .annotate(cost=Sum("cost"))
        .order_by()
    }
    total = sum((row["cost"] or Decimal(0) for row in by_vendor.values()), Decimal(0))
    cost = (by_vendor.get(vendor.pk) or {}).get("cost") or Decimal(0)
    policy = Decimal(str(getattr(settings, "ALERT_CONCENTRATION_PERCENT", "80")))
    shares = [
        {
            "vendor": row["vendor__slug"],
            "vendor_name": row["vendor__name"],
            "cost": row["cost"] or Decimal(0),
            "share": ((row["cost"] or Decimal(0)) * 100 / total).quantize(Decimal("0.01")) if total else None,
        }
        for row in sorted(by_vendor.values(), key=lambda r: -(r["cost"] or 0))
    ]
    for share in shares:
        share["role"] = "primary" if share is shares[0] else "backup"
        share["over_policy"] = share["share"] is not None and share["share"] > policy
    trend = [
        {"month": row["month"], "cost": row["cost"] or Decimal(0)}
        for row in DailyRollup.objects.filter(vendor=vendor, day__gte=start, day__lte=end)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(cost=Sum("cost"))
        .order_by("month")
    ]
    families = {
        model_family(m)
        for m in DailyRollup.objects.filter(vendor=vendor, day__gte=start, day__lte=end)
        .values_list("model", flat=True)
        .distinct()
    }
    sla = list(
        SlaCredit.objects.filter(agreement__vendor=vendor, period__gte=start.replace(day=1), period__lte=end)
        .select_related("agreement")
        .order_by("-period", "metric")
    )
    return Scorecard(
        vendor=vendor,
        start=start,
        end=end,
        currency=organization_settings().reporting_currency,
        performance=performance,
        cost=cost,
        cost_share=(cost * 100 / total).quantize(Decimal("0.01")) if total else None,
        trend=trend,
        sla=sla,
        certifications=list(vendor.certifications.order_by("kind")),
        dpa_signed=vendor.dpa_signed,
        families=_peers(families, start=start, end=end),
        shares=shares,
        policy_percent=policy,
    )
