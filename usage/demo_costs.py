"""Demo vendor cost feeds (run by `manage.py load_demo`): what OpenAI's Costs API and Anthropic's
cost_report would say they charged for the demo usage, written in their own page formats and
ingested through the same file runs as an upload, so the cost lines page and, later, the
reconciliation have the vendor's side of the story.

Each day's charge per model and token class is the demo usage at the vendor's list price (the
price book). So that reconciliation has something to find, on two seeded days per vendor the
vendor charges 4 % more than that. OpenAI amounts are JSON numbers (USD, up to 10 decimals);
Anthropic amounts are decimal strings in cents, as their APIs give them.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .models import Source

COST_SOURCES = [
    # slug, name, vendor, format, base URL, credential environment variable
    ("openai-admin", "OpenAI Costs API", "openai", "openai_costs", "https://api.openai.com/v1", "OPENAI_ADMIN_KEY"),
    (
        "anthropic-admin",
        "Anthropic cost report",
        "anthropic",
        "anthropic_costs",
        "https://api.anthropic.com/v1",
        "ANTHROPIC_ADMIN_KEY",
    ),
]
OVERCHARGE = Decimal("1.04")
OVERCHARGED_DAYS = 2
CLASSES = [
    # record field, price field, OpenAI line item suffix, Anthropic token_type
    ("input_tokens", "input_price", "input", "uncached_input_tokens"),
    ("cached_input_tokens", "cached_input_price", "cached input", "cache_read_input_tokens"),
    ("cache_write_tokens", "cache_write_price", "cache write", "cache_creation.ephemeral_5m_input_tokens"),
    ("output_tokens", "output_price", "output", "output_tokens"),
]
_NUMBER = re.compile(r'"#(-?\d+(?:\.\d+)?)#"')


def load_cost_sources() -> list[Source]:
    """The vendors' admin APIs as sources. Pulls stay off: the demo has no vendor credentials
    (set the named environment variable and switch the pull on to use them for real)."""
    from procurement.models import Vendor

    sources = []
    for slug, name, vendor, fmt, base_url, env in COST_SOURCES:
        source, _ = Source.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "vendor": Vendor.objects.get(slug=vendor),
                "format": fmt,
                "base_url": base_url,
                "credential_env": env,
                "description": "Demo: the vendor's own statement of what it charged, for reconciliation.",
            },
        )
        sources.append(source)
    return sources


def daily_charges(vendor_slug: str, first: date, last: date) -> dict[date, list[tuple[str, str, Decimal]]]:
    """(day → [(model, class suffix or token type, amount in USD)]) for the vendor's demo usage."""
    from django.db.models import Sum

    from procurement.models import VendorModel

    from .models import UsageRecord

    totals = (
        UsageRecord.objects.filter(
            vendor__slug=vendor_slug, usage_date__gte=first, usage_date__lte=last, external_id__startswith="demo:"
        )
        .values("usage_date", "model")
        .annotate(**{name: Sum(name) for name, *_ in CLASSES})
        .order_by("usage_date", "model")
    )
    prices = list(VendorModel.objects.filter(vendor__slug=vendor_slug))
    charges: dict[date, list[tuple[str, str, Decimal]]] = defaultdict(list)
    for row in totals:
        price = next(
            (
                p
                for p in prices
                if p.model == row["model"]
                and p.effective_from <= row["usage_date"]
                and (p.effective_to is None or row["usage_date"] <= p.effective_to)
            ),
            None,
        )
        if price is None:
            continue
        for name, price_name, suffix, token_type in CLASSES:
            tokens = row[name] or 0
            unit = getattr(price, price_name)
            unit = price.input_price if unit is None else unit
            if tokens:
                label = suffix if vendor_slug == "openai" else token_type
                charges[row["usage_date"]].append((row["model"], label, Decimal(tokens) * unit / 1_000_000))
    return charges


def _number(amount: Decimal) -> str:
    """A JSON number written from a Decimal (a marker json.dumps leaves for _NUMBER to unquote)."""
    return f"#{amount.quantize(Decimal('1e-10'), rounding=ROUND_HALF_UP).normalize():f}#"


def openai_pages(charges, seed: int) -> str:
    """Costs API pages, one per 7 days, one line each (as a pull stores them)."""
    pages, days = [], sorted(charges)
    for i in range(0, len(days), 7):
        buckets = []
        for day in days[i : i + 7]:
            start = int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
            results = [
                {
                    "object": "organization.costs.result",
                    "amount": {"value": _number(amount), "currency": "usd"},
                    "line_item": f"{model}, {suffix}",
                    "project_id": None,
                    "api_key_id": None,
                    "quantity": None,
                    "quantity_unit": None,
                }
                for model, suffix, amount in charges[day]
            ]
            buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results})
        more = i + 7 < len(days)
        page = {"object": "page", "data": buckets, "has_more": more, "next_page": f"page_{seed}_{i}" if more else None}
        pages.append(_NUMBER.sub(r"\1", json.dumps(page)))
    return "\n".join(pages) + "\n"


def anthropic_pages(charges, seed: int) -> str:
    """cost_report pages (amounts: decimal strings in cents), one per 7 days."""
    pages, days = [], sorted(charges)
    for i in range(0, len(days), 7):
        buckets = []
        for day in days[i : i + 7]:
            start = datetime.combine(day, time(), tzinfo=UTC)
            results = [
                {
                    "currency": "USD",
                    "amount": format((amount * 100).quantize(Decimal("1e-7"), rounding=ROUND_HALF_UP), "f"),
                    "workspace_id": None,
                    "description": f"{model} {token_type.replace('_', ' ')}",
                    "cost_type": "tokens",
                    "context_window": "0-200k",
                    "model": model,
                    "service_tier": "standard",
                    "token_type": token_type,
                    "inference_geo": None,
                }
                for model, token_type, amount in charges[day]
            ]
            buckets.append(
                {
                    "starting_at": start.isoformat().replace("+00:00", "Z"),
                    "ending_at": (start + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                    "results": results,
                }
            )
        more = i + 7 < len(days)
        pages.append(json.dumps({"data": buckets, "has_more": more, "next_page": f"page_{seed}_{i}" if more else None}))
    return "\n".join(pages) + "\n"


def load_vendor_costs(first: date, last: date, *, actor=None, seed: int = 2026) -> int:
    """Write and ingest the vendors' cost pages for the days not loaded yet → cost lines added."""
    from .models import IngestionRun, VendorCostLine
    from .services.ingest import file_run_execute, run_file_attach

    added = 0
    for source in load_cost_sources():
        lines = VendorCostLine.objects.filter(source=source).order_by("-period_start")
        done = lines.values_list("period_start", flat=True).first()
        start = max(first, done.date() + timedelta(days=1)) if done else first
        if start > last:
            continue
        charges = daily_charges(source.vendor.slug, start, last)
        if not charges:
            continue
        rng = random.Random(f"{seed}:{source.slug}")  # noqa: S311 - reproducible demo data
        for day in rng.sample(sorted(charges), min(OVERCHARGED_DAYS, len(charges))):
            charges[day] = [(model, label, amount * OVERCHARGE) for model, label, amount in charges[day]]
        text = (openai_pages if source.format == "openai_costs" else anthropic_pages)(charges, seed)
        run = IngestionRun(
            kind="ingestion",
            created_by=actor,
            origin=IngestionRun.Origin.DEMO,
            format=source.format,
            source=source,
            message=f"Demo vendor costs {start} to {last}",
        )
        run_file_attach(run, text.encode(), f"{source.slug}-{start}-{last}.ndjson")
        run.save()
        result = file_run_execute(run)
        added += result["accepted"]
    return added
