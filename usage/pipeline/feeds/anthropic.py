"""Anthropic's Admin API reports (`anthropic_usage`, `anthropic_costs`).

A file holds one page, a JSON array of pages, or one page per line as a pull saves them:
`{"data": [{"starting_at": RFC 3339, "ending_at": RFC 3339, "results": [...]}], "has_more": bool,
"next_page": opaque}`. Every result is one row, numbered from 1 across the file in order. A row's
raw text is the result with its bucket's times, `{"bucket": {"starting_at", "ending_at"},
"result": {...}}`, so a rejected row can be corrected and replayed on its own.

Usage (`usage_report/messages`, DESIGN.md "Token classes"):

- `uncached_input_tokens` *excludes* cache reads and writes: it is the uncached input as it is.
  `cache_read_input_tokens` are cached input; the cache writes are
  `cache_creation.ephemeral_5m_input_tokens + cache_creation.ephemeral_1h_input_tokens`, the split
  kept in the tags `cache_write_5m` and `cache_write_1h` (they are priced differently).
- The report has no request count: records carry `requests` 0 (not the default 1, which would
  invent requests).
- Dimensions: `api_key_id`, `workspace_id`, `service_tier`; `inference_geo` is the `region` and
  `account_id` the `user_id`. `context_window`, `speed`, `service_account_id` and
  `server_tool_use.web_search_requests` are tags. A report not grouped by model has `model: null`;
  its records carry the model "(all models)".
- Each record's `external_id` is derived from the bucket and every grouping value, so pulling the
  same bucket again restates it instead of adding to it.

Costs (`cost_report`): `amount` is a decimal string in the currency's lowest unit — cents:
"123.78912" USD is 1.2378912 USD. The line keeps that text (`amount_as_given`, `amount_unit`
"cents") and its exact value in dollars. A JSON number is accepted as well, read exactly.
`line_item` is the description, else `cost_type/token_type`. Priority Tier costs never appear in
the cost report (Anthropic reports them as usage only).

Unknown fields are ignored; a value of the wrong type rejects its row with the reason.
"""

from __future__ import annotations

from decimal import Decimal

from ..formats import FeedError, Parsed, Unreadable
from . import register
from .base import (
    CostItem,
    Feed,
    FeedOptions,
    exact_decimal,
    json_count,
    json_text,
    line_id,
    rfc3339,
    shown,
)
from .buckets import BucketLayout

ALL_MODELS = "(all models)"
# grouping values of usage_report/messages kept as tags (strings), beside the record's own fields
USAGE_TAGS = ("context_window", "speed", "service_account_id")
COST_TEXTS = (
    "workspace_id",
    "description",
    "cost_type",
    "token_type",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
COST_DIMENSIONS = ("cost_type", "token_type", "service_tier", "context_window", "inference_geo")


# Reading pages ------------------------------------------------------------------------------------------------


LAYOUT = BucketLayout(
    start="starting_at",
    end="ending_at",
    read_time=rfc3339,
    other_start="start_time",
    other="it is an OpenAI page; upload it as openai_usage or openai_costs",
)
bucket_results = LAYOUT.results
raw_row = LAYOUT.raw_row
read_raw_row = LAYOUT.read_raw_row
bucket_times = LAYOUT.times


def nested(result: dict, name: str, reasons: list[str]) -> dict | None:
    """An optional object inside a result (cache_creation, server_tool_use)."""
    value = result.get(name)
    if value is None or isinstance(value, dict):
        return value
    reasons.append(f"{name} must be an object, not {shown(value)}")
    return None


def is_usage(result) -> bool:
    return isinstance(result, dict) and "uncached_input_tokens" in result


def is_cost(result) -> bool:
    return isinstance(result, dict) and "amount" in result and "uncached_input_tokens" not in result


# Usage ----------------------------------------------------------------------------------------------------------


def usage_item(bucket: dict, result, raw: str, opts: FeedOptions) -> Parsed | Unreadable:
    if not isinstance(result, dict):
        return Unreadable(raw, f"a result must be a JSON object, not {shown(result)}")
    reasons: list[str] = []
    start, end = bucket_times(bucket, reasons)
    uncached = json_count(result, "uncached_input_tokens", reasons, required=True)
    cached = json_count(result, "cache_read_input_tokens", reasons)
    creation = nested(result, "cache_creation", reasons)
    writes_5m = writes_1h = 0
    if creation is not None:
        writes_5m = json_count(
            creation, "ephemeral_5m_input_tokens", reasons, label="cache_creation.ephemeral_5m_input_tokens"
        )
        writes_1h = json_count(
            creation, "ephemeral_1h_input_tokens", reasons, label="cache_creation.ephemeral_1h_input_tokens"
        )
    output = json_count(result, "output_tokens", reasons, required=True)
    tool_use = nested(result, "server_tool_use", reasons)
    web_searches = None
    if tool_use is not None and tool_use.get("web_search_requests") is not None:
        web_searches = json_count(tool_use, "web_search_requests", reasons, label="server_tool_use.web_search_requests")
    model = json_text(result, "model", reasons)
    fields = {
        "api_key_id": json_text(result, "api_key_id", reasons),
        "workspace_id": json_text(result, "workspace_id", reasons),
        "service_tier": json_text(result, "service_tier", reasons),
        "region": json_text(result, "inference_geo", reasons),
        "user_id": json_text(result, "account_id", reasons),
    }
    grouped_tags = {name: json_text(result, name, reasons) for name in USAGE_TAGS}
    if reasons:
        return Unreadable(raw, "; ".join(reasons))

    external_id = line_id(
        "anthropic_usage",
        start.isoformat(),
        end.isoformat(),
        model,
        fields["api_key_id"],
        fields["workspace_id"],
        fields["service_tier"],
        fields["region"],
        fields["user_id"],
        *grouped_tags.values(),
    )
    record = {
        "external_id": external_id,
        "vendor": opts.vendor,
        "model": model or ALL_MODELS,
        "bucket_start": start.isoformat(),
        "bucket_end": end.isoformat(),
        "input_tokens": uncached,  # excludes cache reads and writes, unlike OpenAI's input_tokens
        "cached_input_tokens": cached,
        "cache_write_tokens": writes_5m + writes_1h,
        "output_tokens": output,
        "requests": 0,  # the report counts no requests
    }
    record.update((name, value) for name, value in fields.items() if value is not None)
    tags = {name: value for name, value in grouped_tags.items() if value is not None}
    if creation is not None:
        tags["cache_write_5m"] = str(writes_5m)
        tags["cache_write_1h"] = str(writes_1h)
    if web_searches is not None:
        tags["web_search_requests"] = str(web_searches)
    if tags:
        record["tags"] = tags
    return Parsed(record, raw)


class AnthropicUsageFeed(Feed):
    format = "anthropic_usage"
    vendor_alias = "Anthropic"

    def rows(self, text, opts):
        pairs = bucket_results(text, self.format)  # the whole structure is checked before any row
        if pairs and all(is_cost(result) for _, result in pairs):
            raise FeedError("These are Anthropic cost_report results (amounts): upload the file as anthropic_costs.")
        return (
            (number, usage_item(bucket, result, raw_row(bucket, result), opts))
            for number, (bucket, result) in enumerate(pairs, start=1)
        )

    def row(self, raw, opts, number):
        read = read_raw_row(raw)
        return read if isinstance(read, Unreadable) else usage_item(*read, raw, opts)


# Costs ----------------------------------------------------------------------------------------------------------


def cents_to_major(cents: Decimal) -> Decimal:
    """Cents → the major unit, exactly (the digits stay, the exponent moves two places; no
    arithmetic context can round it)."""
    sign, digits, exponent = cents.as_tuple()
    return Decimal((sign, digits, exponent - 2))


def cost_item(bucket: dict, result, raw: str, opts: FeedOptions) -> CostItem | Unreadable:
    if not isinstance(result, dict):
        return Unreadable(raw, f"a result must be a JSON object, not {shown(result)}")
    reasons: list[str] = []
    start, end = bucket_times(bucket, reasons)
    given = result.get("amount")
    cents = None
    try:
        cents = exact_decimal(given, "amount")
    except ValueError as exc:
        reasons.append(f'{exc} (a decimal string in cents, e.g. "123.45")')
    currency = result.get("currency")
    if not isinstance(currency, str) or not currency.strip():
        reasons.append(f"currency must be a currency code such as USD, not {shown(currency)}")
    values = {name: json_text(result, name, reasons) for name in COST_TEXTS}
    if reasons:
        return Unreadable(raw, "; ".join(reasons))
    kind = "/".join(values[name] for name in ("cost_type", "token_type") if values[name])
    line_item = values["description"] or kind
    return CostItem(
        {
            "vendor": opts.vendor,
            "period_start": start,
            "period_end": end,
            "amount": cents_to_major(cents),
            "amount_as_given": given.strip() if isinstance(given, str) else format(cents, "f"),
            "amount_unit": "cents",
            "currency": currency.strip().upper(),
            "description": line_item or "Anthropic costs",
            "line_item": line_item,
            "model": values["model"],
            "charge_category": "Usage",
            "workspace_id": values["workspace_id"],
            "dimensions": {name: values[name] for name in COST_DIMENSIONS if values[name] is not None},
            "identity": (start.isoformat(), end.isoformat(), *values.values()),
        },
        raw,
    )


class AnthropicCostsFeed(Feed):
    format = "anthropic_costs"
    vendor_alias = "Anthropic"

    def rows(self, text, opts):
        pairs = bucket_results(text, self.format)
        if pairs and all(is_usage(result) for _, result in pairs):
            raise FeedError(
                "These are Anthropic usage_report/messages results (token counts): upload the file as anthropic_usage."
            )
        return (
            (number, cost_item(bucket, result, raw_row(bucket, result), opts))
            for number, (bucket, result) in enumerate(pairs, start=1)
        )

    def row(self, raw, opts, number):
        read = read_raw_row(raw)
        return read if isinstance(read, Unreadable) else cost_item(*read, raw, opts)


register(AnthropicUsageFeed())
register(AnthropicCostsFeed())
