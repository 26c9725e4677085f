"""OpenRouter's activity (`GET /api/v1/activity`, format `openrouter_activity`).

The endpoint answers the last 30 completed UTC days, by day, without paging:
`{"data": [{"date": "2025-08-24", "model": "openai/gpt-4.1", "model_permaslug":
"openai/gpt-4.1-2025-04-14", "endpoint_id": "…", "provider_name": "OpenAI", "usage": 0.015,
"byok_usage_inference": 0.012, "requests": 5, "prompt_tokens": 50, "completion_tokens": 125,
"reasoning_tokens": 25}]}`. A file holds one such answer, a JSON array of them, one per line (as a
pull saves them) or a bare array of activity rows. Rows are numbered from 1 across the file; a
row's raw text is the row object, so a rejected row can be corrected and replayed on its own.

Each row gives two items with the same number:
- a usage record for the source's vendor (OpenRouter): the model as OpenRouter names it, the day
  as its bucket (00:00Z to the next 00:00Z), `prompt_tokens` as input, `completion_tokens` as
  output — reasoning tokens are already part of them, so `reasoning_tokens` is only a tag, beside
  `provider`, `endpoint_id` and `model_permaslug`; its external id is derived from the day and the
  grouping values, so pulling a day again restates it;
- a vendor cost line: `usage` (USD, OpenRouter credits spent) read exactly from the JSON text,
  with `byok_usage_inference` (what BYOK inference cost on the customer's own keys) kept beside it.

Unknown fields are ignored; a missing or mistyped required field rejects the row with every reason.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from ..formats import FeedError, Parsed, Unreadable
from . import register
from .base import (
    CostItem,
    Feed,
    FeedOptions,
    dumps_raw,
    exact_decimal,
    json_count,
    json_pages,
    json_text,
    line_id,
    loads_exact,
    shown,
)

FORMAT = "openrouter_activity"
DESCRIPTION = "OpenRouter usage"


def activity_rows(text: str) -> list:
    """Every activity row of the file, in order (pages checked by json_pages; a bare JSON array
    of rows is accepted too)."""
    try:
        pages = json_pages(text)
    except FeedError:
        try:
            document = loads_exact(text.strip())
        except ValueError:
            document = None
        if isinstance(document, list) and document and all(_looks_like_row(item) for item in document):
            return document
        raise
    return [row for page in pages for row in page["data"]]


def _looks_like_row(item) -> bool:
    return isinstance(item, dict) and "date" in item and "data" not in item


def _day(value, reasons: list[str]) -> date | None:
    if value is None:
        reasons.append("date is missing")
        return None
    if not isinstance(value, str):
        reasons.append(f"date must be a YYYY-MM-DD string, not {shown(value)}")
        return None
    text = value.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:  # a day written as its midnight ("2025-08-24 00:00:00", "2025-08-24T00:00:00Z")
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None and moment.time() == datetime.min.time() and moment.utcoffset() in (None, timedelta(0)):
        return moment.date()
    reasons.append(f"date {value!r} is not a YYYY-MM-DD date")
    return None


def _money(row: dict, name: str, reasons: list[str], *, required: bool) -> Decimal | None:
    value = row.get(name)
    if value is None:
        if required:
            reasons.append(f"{name} is missing")
        return None
    try:
        return exact_decimal(value, name)
    except ValueError as exc:
        reasons.append(str(exc))
        return None


def activity_items(row, raw: str, opts: FeedOptions) -> list[Parsed | CostItem] | Unreadable:
    """One activity row → [its usage record, its cost line], or the row with every reason."""
    if not isinstance(row, dict):
        return Unreadable(raw, f"an activity row must be a JSON object, not {shown(row)}")
    reasons: list[str] = []
    day = _day(row.get("date"), reasons)
    model = json_text(row, "model", reasons)
    if model is None and not any(r.startswith("model ") for r in reasons):
        reasons.append("model is missing")
    permaslug = json_text(row, "model_permaslug", reasons)
    endpoint_id = json_text(row, "endpoint_id", reasons)
    provider = json_text(row, "provider_name", reasons)
    usage = _money(row, "usage", reasons, required=True)
    byok = _money(row, "byok_usage_inference", reasons, required=False)
    requests = json_count(row, "requests", reasons, required=True)
    prompt = json_count(row, "prompt_tokens", reasons, required=True)
    completion = json_count(row, "completion_tokens", reasons, required=True)
    reasoning = json_count(row, "reasoning_tokens", reasons) if row.get("reasoning_tokens") is not None else None
    if reasons:
        return Unreadable(raw, "; ".join(reasons))

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    grouping = (day.isoformat(), permaslug, endpoint_id, provider)
    tags = {
        "provider": provider,
        "endpoint_id": endpoint_id,
        "model_permaslug": permaslug,
        "reasoning_tokens": None if reasoning is None else str(reasoning),
    }
    record = {
        "external_id": line_id(FORMAT, *grouping),
        "vendor": opts.vendor,
        "model": model,
        "bucket_start": start.isoformat(),
        "bucket_end": end.isoformat(),
        "input_tokens": prompt,
        "output_tokens": completion,
        "requests": requests,
        "tags": {name: value for name, value in tags.items() if value is not None},
    }
    dimensions = {
        "provider": provider,
        "endpoint_id": endpoint_id,
        "model_permaslug": permaslug,
        "byok_usage_inference": None if byok is None else format(byok, "f"),
    }
    cost = {
        "vendor": opts.vendor,
        "period_start": start,
        "period_end": end,
        "amount": usage,
        "amount_as_given": row["usage"].strip() if isinstance(row["usage"], str) else format(usage, "f"),
        "amount_unit": "major",
        "currency": "USD",
        "description": DESCRIPTION,
        "model": model,
        "line_item": permaslug or model,
        "charge_category": "Usage",
        "dimensions": {name: value for name, value in dimensions.items() if value is not None},
        "identity": [FORMAT, *grouping],
    }
    return [Parsed(record, raw), CostItem(cost, raw)]


class OpenRouterActivityFeed(Feed):
    format = FORMAT
    vendor_alias = "OpenRouter"

    def rows(self, text, opts):
        rows = activity_rows(text)  # the whole structure is checked before any row

        def items():
            for number, row in enumerate(rows, start=1):
                parsed = activity_items(row, dumps_raw(row), opts)
                for item in parsed if isinstance(parsed, list) else [parsed]:
                    yield number, item

        return items()

    def row(self, raw, opts, number):
        try:
            row = loads_exact(raw)
        except ValueError as exc:
            return Unreadable(raw, f"the row is not JSON ({exc}): expected one activity row object")
        return activity_items(row, raw, opts)


register(OpenRouterActivityFeed())
