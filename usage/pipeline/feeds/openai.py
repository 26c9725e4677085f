"""OpenAI's organization usage and costs pages (`openai_usage`, `openai_costs`).

A file holds one page, a JSON array of pages, or one page per line as a pull saves them:
`{"object": "page", "data": [{"object": "bucket", "start_time": unix, "end_time": unix,
"results": [...]}], "has_more": bool, "next_page": str | null}`. Every result is one row,
numbered from 1 across the file in order. A row's raw text is the result with its bucket's
times, `{"bucket": {"start_time", "end_time"}, "result": {...}}`, so a rejected row can be
corrected and replayed on its own.

Usage (`organization/usage/completions`, DESIGN.md "Token classes"):

- OpenAI's `input_tokens` *includes* cached and cache-write tokens. Uncached input is
  `input_uncached_tokens` when the result has it, else `input_tokens − input_cached_tokens −
  input_cache_write_tokens` (absent counts are 0; a negative difference rejects the row).
  `input_cached_tokens` are cached input, `input_cache_write_tokens` cache writes, and
  `output_tokens` (reasoning included) output; `num_model_requests` are the requests.
- The modality breakdowns (`input_text_tokens`, `input_audio_tokens`, `input_cached_image_tokens`,
  `output_audio_tokens`, …) are parts of those totals and are ignored: adding them would count
  the same tokens twice.
- Dimensions: `project_id`, `user_id`, `api_key_id`, `service_tier` as the record's fields;
  `batch` as the tag `batch` ("true" / "false"; none when the page is not grouped by batch).
- A page not grouped by model has `model: null`; its records carry the model "(all models)".
- Each record's `external_id` is derived from the bucket and every grouping value, so pulling
  the same bucket again restates it (a day still open) instead of adding to it.
- Results of the embeddings and moderations usage endpoints are input tokens only (tagged
  `endpoint`). Other usage (images, audio, vector stores, code interpreter, web and file search)
  is not token usage: such rows are rejected with that reason.

Costs (`organization/costs`): each result is a vendor cost line (usage.pipeline.costs), its
amount read exactly from the JSON text (0.06 is Decimal("0.06"), never a float), in the major
unit of `amount.currency` (upper-cased). A line item such as "gpt-4o-2024-08-06, input" names
the model before its comma.

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
    shown,
    unix_time,
)
from .buckets import BucketLayout

ALL_MODELS = "(all models)"
COMPLETIONS = "organization.usage.completions.result"
# the usage endpoints whose results are tokens, and the tag naming them (none for completions)
TOKEN_USAGE = {
    COMPLETIONS: None,
    "organization.usage.embeddings.result": "embeddings",
    "organization.usage.moderations.result": "moderations",
}
COSTS = "organization.costs.result"
USAGE_DIMENSIONS = ("project_id", "user_id", "api_key_id", "service_tier")


# Reading pages ------------------------------------------------------------------------------------------------


LAYOUT = BucketLayout(
    start="start_time",
    end="end_time",
    read_time=unix_time,
    other_start="starting_at",
    other="it is an Anthropic report; upload it as anthropic_usage or anthropic_costs",
)
bucket_results = LAYOUT.results
raw_row = LAYOUT.raw_row
read_raw_row = LAYOUT.read_raw_row
bucket_times = LAYOUT.times


def results_kinds(pairs: list[tuple[dict, object]]) -> set:
    return {kind_of(result) for _, result in pairs}


def kind_of(result, default: str | None = None) -> str | None:
    """A result's `object` (what it is), when it is a string."""
    kind = result.get("object", default) if isinstance(result, dict) else None
    return kind if isinstance(kind, str) else None if kind is None else repr(kind)


# Usage ----------------------------------------------------------------------------------------------------------


def usage_item(bucket: dict, result, raw: str, opts: FeedOptions) -> Parsed | Unreadable:
    if not isinstance(result, dict):
        return Unreadable(raw, f"a result must be a JSON object, not {shown(result)}")
    kind = kind_of(result, COMPLETIONS)  # a result without its object is read as completions
    if kind not in TOKEN_USAGE:
        return Unreadable(raw, f"not token usage ({kind}): TokenLedger ingests completions, embeddings and moderations")
    endpoint = TOKEN_USAGE[kind]
    reasons: list[str] = []
    start, end = bucket_times(bucket, reasons)
    counted = len(reasons)
    if endpoint is None:
        cached = json_count(result, "input_cached_tokens", reasons)
        writes = json_count(result, "input_cache_write_tokens", reasons)
        if result.get("input_uncached_tokens") is not None:
            json_count(result, "input_tokens", reasons)  # checked, not used: it includes the cached tokens
            uncached = json_count(result, "input_uncached_tokens", reasons)
        else:
            total = json_count(result, "input_tokens", reasons, required=True)
            uncached = total - cached - writes
            if uncached < 0 and len(reasons) == counted:  # three valid counts that do not add up
                reasons.append(
                    f"input_tokens {total} is less than input_cached_tokens {cached} + "
                    f"input_cache_write_tokens {writes}: OpenAI's input_tokens includes them"
                )
        output = json_count(result, "output_tokens", reasons, required=True)
    else:
        uncached = json_count(result, "input_tokens", reasons, required=True)
        cached = writes = output = 0
    requests = json_count(result, "num_model_requests", reasons, required=True)
    model = json_text(result, "model", reasons)
    dimensions = {name: json_text(result, name, reasons) for name in USAGE_DIMENSIONS}
    batch = result.get("batch") if endpoint is None else None
    if batch is not None and not isinstance(batch, bool):
        reasons.append(f"batch must be true, false or null, not {shown(batch)}")
    if reasons:
        return Unreadable(raw, "; ".join(reasons))

    grouping = (model, *(dimensions[name] for name in ("project_id", "user_id", "api_key_id")))
    times = (int(start.timestamp()), int(end.timestamp()))
    if endpoint is None:
        external_id = line_id("openai_usage", *times, *grouping, batch, dimensions["service_tier"])
    else:
        external_id = line_id("openai_usage", endpoint, *times, *grouping)
    record = {
        "external_id": external_id,
        "vendor": opts.vendor,
        "model": model or ALL_MODELS,
        "bucket_start": start.isoformat(),
        "bucket_end": end.isoformat(),
        "input_tokens": uncached,
        "cached_input_tokens": cached,
        "cache_write_tokens": writes,
        "output_tokens": output,
        "requests": requests,
    }
    record.update((name, value) for name, value in dimensions.items() if value is not None)
    tags = {}
    if batch is not None:
        tags["batch"] = "true" if batch else "false"
    if endpoint is not None:
        tags["endpoint"] = endpoint
    if tags:
        record["tags"] = tags
    return Parsed(record, raw)


class OpenAIUsageFeed(Feed):
    format = "openai_usage"
    vendor_alias = "OpenAI"

    def rows(self, text, opts):
        pairs = bucket_results(text, self.format)  # the whole structure is checked before any row
        if pairs and results_kinds(pairs) == {COSTS}:
            raise FeedError(f"These are OpenAI costs results ({COSTS}): upload the file as openai_costs.")
        return (
            (number, usage_item(bucket, result, raw_row(bucket, result), opts))
            for number, (bucket, result) in enumerate(pairs, start=1)
        )

    def row(self, raw, opts, number):
        read = read_raw_row(raw)
        return read if isinstance(read, Unreadable) else usage_item(*read, raw, opts)


# Costs ----------------------------------------------------------------------------------------------------------


def as_given(value, amount: Decimal) -> str:
    """An amount's text as the feed gave it (a kept row has it as a string)."""
    return value.strip() if isinstance(value, str) else format(amount, "f")


def cost_item(bucket: dict, result, raw: str, opts: FeedOptions) -> CostItem | Unreadable:
    if not isinstance(result, dict):
        return Unreadable(raw, f"a result must be a JSON object, not {shown(result)}")
    kind = kind_of(result, COSTS)
    if kind != COSTS:
        return Unreadable(raw, f"not a costs result ({kind}): upload usage pages as openai_usage")
    reasons: list[str] = []
    start, end = bucket_times(bucket, reasons)
    money = result.get("amount")
    amount = currency = None
    if not isinstance(money, dict):
        reasons.append(f"amount must be an object with a value and a currency, not {shown(money)}")
    else:
        try:
            amount = exact_decimal(money.get("value"), "amount.value")
        except ValueError as exc:
            reasons.append(str(exc))
        currency = money.get("currency")
        if not isinstance(currency, str) or not currency.strip():
            reasons.append(f"amount.currency must be a currency code such as usd, not {shown(currency)}")
    quantity = result.get("quantity")
    if quantity is not None:
        try:
            quantity = exact_decimal(quantity, "quantity")
        except ValueError as exc:
            reasons.append(str(exc))
    line_item = json_text(result, "line_item", reasons)
    project_id = json_text(result, "project_id", reasons)
    api_key_id = json_text(result, "api_key_id", reasons)
    quantity_unit = json_text(result, "quantity_unit", reasons)
    if reasons:
        return Unreadable(raw, "; ".join(reasons))
    return CostItem(
        {
            "vendor": opts.vendor,
            "period_start": start,
            "period_end": end,
            "amount": amount,
            "amount_as_given": as_given(money.get("value"), amount),
            "amount_unit": "major",
            "currency": currency.strip().upper(),
            "description": line_item or "OpenAI costs",
            "line_item": line_item,
            # "gpt-4o-2024-08-06, input": the model, then what of it was charged
            "model": line_item.split(", ", 1)[0] if line_item and ", " in line_item else None,
            "charge_category": "Usage",
            "quantity": quantity,
            "quantity_unit": quantity_unit,
            "project_id": project_id,
            "api_key_id": api_key_id,
            "identity": (start.isoformat(), end.isoformat(), line_item, project_id, api_key_id),
        },
        raw,
    )


class OpenAICostsFeed(Feed):
    format = "openai_costs"
    vendor_alias = "OpenAI"

    def rows(self, text, opts):
        pairs = bucket_results(text, self.format)
        kinds = results_kinds(pairs)
        if pairs and all(isinstance(kind, str) and kind.startswith("organization.usage.") for kind in kinds):
            raise FeedError(
                f"These are OpenAI usage results ({', '.join(sorted(kinds))}): upload the file as openai_usage."
            )
        return (
            (number, cost_item(bucket, result, raw_row(bucket, result), opts))
            for number, (bucket, result) in enumerate(pairs, start=1)
        )

    def row(self, raw, opts, number):
        read = read_raw_row(raw)
        return read if isinstance(read, Unreadable) else cost_item(*read, raw, opts)


register(OpenAIUsageFeed())
register(OpenAICostsFeed())
