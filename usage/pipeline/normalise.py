"""Validate one raw record and bring it to the stored form (DESIGN.md, API.md usage ingestion).

A record passes or comes back with every reason it fails, so a person can fix it in one go.
This is the hot loop of ingestion: plain Python, no serializers, one pass per record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from hashlib import blake2b

import orjson

from .context import BatchContext

MAX_INT = 2**63 - 1
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
DIMENSION_FIELDS = ("project_id", "api_key_id", "workspace_id", "user_id", "service_tier", "region")
DIMENSION_LIMITS = {"service_tier": 64, "region": 64}
LATENCY_FIELDS = ("latency_ms", "latency_p50_ms", "latency_p90_ms")
SEP = "\x1f"
NUL = "\x00"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(slots=True)
class Row:
    """A valid record, normalised. The attribute step fills the department; rating happens in
    SQL as the rows are stored (usage.pipeline.persist)."""

    index: int
    key: bytes  # 16 bytes of BLAKE2b over the idempotency key
    content: bytes  # 16 bytes of BLAKE2b over the values
    external_id: str | None
    source: str
    source_id: int
    vendor_id: int
    model: str
    bucket_start: datetime
    bucket_end: datetime | None
    usage_date: date
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    requests: int
    failed_requests: int
    latency_ms: float | None
    latency_p50_ms: float | None
    latency_p90_ms: float | None
    project_id: str | None
    api_key_id: str | None
    workspace_id: str | None
    user_id: str | None
    service_tier: str | None
    region: str | None
    tags: dict
    department_id: int | None
    department_explicit: bool
    attribution_rule_id: int | None = None


def _timestamp(value, name: str, reasons: list[str]) -> datetime | None:
    if not isinstance(value, str):
        reasons.append(f"{name} must be an RFC 3339 timestamp string")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        reasons.append(f"{name} {value!r} is not an RFC 3339 timestamp")
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        reasons.append(f"{name} {value!r} has no UTC offset; give one, e.g. 2026-03-01T00:00:00Z")
        return None
    return parsed.astimezone(UTC)


def _count(record: dict, name: str, default: int | None, reasons: list[str], coerce: bool) -> int:
    value = record.get(name, default)
    if type(value) is int and 0 <= value <= MAX_INT:  # the common case, first
        return value
    if value is None:
        if default is None:
            reasons.append(f"{name} is required")
        return 0
    if type(value) is int:
        if value < 0:
            reasons.append(f"{name} must be ≥ 0, not {value}")
        elif value > MAX_INT:
            reasons.append(f"{name} {value} is larger than a 64-bit count")
        return value
    if coerce and isinstance(value, str):
        text = value.strip()
        if text == "":
            return default or 0
        if text.isdigit():
            number = int(text)
            if number > MAX_INT:
                reasons.append(f"{name} {text} is larger than a 64-bit count")
            return number
        reasons.append(f"{name} must be a whole number ≥ 0, not {value!r}")
        return 0
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isfinite(value) and value > MAX_INT:  # JSON integers past 64 bits arrive as floats
            reasons.append(f"{name} {value!r} is larger than a 64-bit count")
        elif math.isfinite(value) and value == int(value) and value >= 0:
            reasons.append(f"{name} must be a whole number, not {value!r}")
        else:
            reasons.append(f"{name} must be a whole number ≥ 0, not {value!r}")
        return 0
    reasons.append(f"{name} must be a whole number, not {type(value).__name__} {value!r}")
    return 0


def _latency(record: dict, name: str, reasons: list[str], coerce: bool) -> float | None:
    value = record.get(name)
    if value is None or (coerce and value == ""):
        return None
    if coerce and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            reasons.append(f"{name} must be a number, not {value!r}")
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        reasons.append(f"{name} must be a finite number ≥ 0, not {value!r}")
        return None
    return float(value)


def _fingerprint(values: tuple) -> bytes:
    """16 bytes of BLAKE2b over the values' JSON text (orjson: fast and deterministic)."""
    return blake2b(orjson.dumps(values), digest_size=16).digest()


def _fast(record: dict, index: int, ctx: BatchContext) -> Row | None:
    """The well-formed record, quickly: every value of the expected type and in range. None sends
    the record to the full check, which names every reason (and gives the same Row for a valid
    record: tests compare the two)."""
    if ctx.coerce_strings:
        return None
    get = record.get
    source = get("source") or ctx.default_source
    source_id = ctx.sources.get(source) if type(source) is str else None
    if ctx.allowed_sources is not None and source not in ctx.allowed_sources:
        return None
    vendor = get("vendor")
    vendor_id = ctx.vendors.get(vendor) if type(vendor) is str else None
    model = get("model")
    if source_id is None or vendor_id is None or type(model) is not str or not model or len(model) > 200:
        return None
    if model[0] == " " or model[-1] == " " or model != model.strip() or NUL in model:
        return None
    start_text = get("bucket_start")
    end_text = get("bucket_end")
    if type(start_text) is not str or (end_text is not None and type(end_text) is not str):
        return None
    try:
        start = datetime.fromisoformat(start_text)
        end = None if end_text is None else datetime.fromisoformat(end_text)
    except ValueError:
        return None
    tz = start.tzinfo
    if tz is not UTC:
        if tz is None:
            return None
        start = start.astimezone(UTC)
    if end is not None:
        tz = end.tzinfo
        if tz is not UTC:
            if tz is None:
                return None
            end = end.astimezone(UTC)
        if end < start:
            return None
    if start > ctx.latest_start:
        return None
    input_tokens = get("input_tokens")
    cached = get("cached_input_tokens", 0)
    writes = get("cache_write_tokens", 0)
    output = get("output_tokens", 0)
    requests = get("requests", 1)
    failed = get("failed_requests", 0)
    for value in (input_tokens, cached, writes, output, requests, failed):
        if type(value) is not int or value < 0 or value > MAX_INT:
            return None
    if failed > requests:
        return None
    latency, p50, p90 = get("latency_ms"), get("latency_p50_ms"), get("latency_p90_ms")
    if latency is not None or p50 is not None or p90 is not None:
        for value in (latency, p50, p90):
            if value is not None and (type(value) not in (int, float) or not value >= 0 or value == math.inf):
                return None
        latency = None if latency is None else float(latency)
        p50 = None if p50 is None else float(p50)
        p90 = None if p90 is None else float(p90)
    project, api_key, workspace, user = get("project_id"), get("api_key_id"), get("workspace_id"), get("user_id")
    tier, region = get("service_tier"), get("region")
    for value in (project, api_key, workspace, user, tier, region):
        if value is not None and (type(value) is not str or not value or len(value) > 64 or NUL in value):
            return None
    tags = get("tags")
    if tags:
        if type(tags) is not dict:
            return None
        for k, v in tags.items():
            if type(k) is not str or type(v) is not str or NUL in k or NUL in v:
                return None
        tag_items = sorted(tags.items())
    else:
        tags, tag_items = {}, []
    department = get("department")
    department_id = None
    if department is not None and department != "":
        department_id = ctx.departments.get(department) if type(department) is str else None
        if department_id is None:
            return None
    else:
        department = None
    external_id = get("external_id")
    if external_id is not None and (
        type(external_id) is not str or not external_id or len(external_id) > 255 or NUL in external_id
    ):
        return None
    start_us = (start - EPOCH) // MICROSECOND
    end_us = None if end is None else (end - EPOCH) // MICROSECOND
    if external_id is not None:
        key = blake2b(f"e{SEP}{source}{SEP}{external_id}".encode(), digest_size=16).digest()
    else:
        key = _fingerprint(
            ("d", source, start_us, end_us, vendor, model, project, api_key, workspace, user, tier, region, tag_items)
        )
    content = _fingerprint(
        (
            start_us,
            end_us,
            vendor,
            model,
            project,
            api_key,
            workspace,
            user,
            tier,
            region,
            tag_items,
            department,
            input_tokens,
            cached,
            writes,
            output,
            requests,
            failed,
            latency,
            p50,
            p90,
        )
    )
    return Row(
        index,
        key,
        content,
        external_id,
        source,
        source_id,
        vendor_id,
        model,
        start,
        end,
        start.date(),
        input_tokens,
        cached,
        writes,
        output,
        requests,
        failed,
        latency,
        p50,
        p90,
        project,
        api_key,
        workspace,
        user,
        tier,
        region,
        tags,
        department_id,
        department_id is not None,
    )


def normalise(record, index: int, ctx: BatchContext) -> Row | list[str]:
    """A Row, or the reasons the record is rejected."""
    if type(record) is dict:
        row = _fast(record, index, ctx)
        if row is not None:
            return row
    return _checked(record, index, ctx)


def _checked(record, index: int, ctx: BatchContext) -> Row | list[str]:
    """The full check: every reason a record is rejected, or its Row."""
    if not isinstance(record, dict):
        return [f"a record must be a JSON object, not {type(record).__name__}"]
    reasons: list[str] = []
    coerce = ctx.coerce_strings

    source = record.get("source") or ctx.default_source
    source_id = None
    if ctx.allowed_sources is not None and isinstance(source, str) and source and source not in ctx.allowed_sources:
        ctx.forbidden_sources.add(source)  # the whole request is refused (403), see ingest_records
    if not source:
        reasons.append("source is required (the token is not scoped to exactly one source)")
    elif not isinstance(source, str) or source not in ctx.sources:
        reasons.append(f"unknown or inactive source {source!r}")
    else:
        source_id = ctx.sources[source]

    vendor = record.get("vendor")
    vendor_id = ctx.vendors.get(vendor) if isinstance(vendor, str) else None
    if vendor is None or vendor == "":
        reasons.append("vendor is required")
    elif vendor_id is None:
        reasons.append(f"unknown vendor {vendor!r}")

    model = record.get("model")
    if not isinstance(model, str) or not model.strip():
        reasons.append("model is required")
        model = ""
    elif len(model) > 200:
        reasons.append("model is longer than 200 characters")
    model = model.strip()

    start = (
        _timestamp(record.get("bucket_start"), "bucket_start", reasons)
        if record.get("bucket_start") is not None
        else None
    )
    if record.get("bucket_start") is None:
        reasons.append("bucket_start is required")
    end_raw = record.get("bucket_end")
    end = None if end_raw in (None, "") else _timestamp(end_raw, "bucket_end", reasons)
    if start is not None:
        if end is not None and end < start:
            reasons.append("bucket_end is before bucket_start")
        if start > ctx.now + ctx.future_tolerance:
            reasons.append(f"bucket_start {start.isoformat()} is in the future")

    tokens = [_count(record, name, None if name == "input_tokens" else 0, reasons, coerce) for name in TOKEN_FIELDS]
    requests = _count(record, "requests", 1, reasons, coerce)
    failed = _count(record, "failed_requests", 0, reasons, coerce)
    if failed > requests:
        reasons.append(f"failed_requests ({failed}) exceeds requests ({requests})")
    latencies = [_latency(record, name, reasons, coerce) for name in LATENCY_FIELDS]

    dims = []
    for name in DIMENSION_FIELDS:
        value = record.get(name)
        if value is None or value == "":
            dims.append(None)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            if len(text) > DIMENSION_LIMITS.get(name, 255):
                reasons.append(f"{name} is longer than {DIMENSION_LIMITS.get(name, 255)} characters")
            dims.append(text)
        else:
            reasons.append(f"{name} must be a string")
            dims.append(None)

    tags = record.get("tags") or {}
    if coerce and isinstance(tags, str):
        try:
            tags = orjson.loads(tags) if tags.strip() else {}
        except orjson.JSONDecodeError:
            reasons.append("tags must be a JSON object of strings")
            tags = {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        reasons.append("tags must be an object whose values are strings")
        tags = {}

    department = record.get("department")
    department_id = None
    if department not in (None, ""):
        department_id = ctx.departments.get(department) if isinstance(department, str) else None
        if department_id is None:
            reasons.append(f"unknown department {department!r}")
    else:
        department = None

    external_id = record.get("external_id")
    if external_id is not None and external_id != "":
        if not isinstance(external_id, (str, int)) or isinstance(external_id, bool):
            reasons.append("external_id must be a string")
        else:
            external_id = str(external_id)
            if len(external_id) > 255:
                reasons.append("external_id is longer than 255 characters")
    else:
        external_id = None

    # PostgreSQL text cannot hold NUL: a record carrying one is rejected, not the whole batch
    with_nul = [name for name, value in record.items() if isinstance(value, str) and NUL in value]
    if isinstance(tags, dict) and any(NUL in k or NUL in v for k, v in tags.items()):
        with_nul.append("tags")
    if with_nul:
        reasons.append(f"{', '.join(sorted(set(with_nul)))} must not contain a NUL character (\\u0000)")

    if reasons:
        return reasons

    start_us = (start - EPOCH) // MICROSECOND
    end_us = (end - EPOCH) // MICROSECOND if end else None
    tag_items = sorted(tags.items()) if tags else []
    if external_id is not None:
        key = blake2b(f"e{SEP}{source}{SEP}{external_id}".encode(), digest_size=16).digest()
    else:
        key = _fingerprint(("d", source, start_us, end_us, vendor, model, *dims, tag_items))
    content = _fingerprint(
        (start_us, end_us, vendor, model, *dims, tag_items, department, *tokens, requests, failed, *latencies)
    )
    return Row(
        index,
        key,
        content,
        external_id,
        source,
        source_id,
        vendor_id,
        model,
        start,
        end,
        start.date(),
        tokens[0],
        tokens[1],
        tokens[2],
        tokens[3],
        requests,
        failed,
        latencies[0],
        latencies[1],
        latencies[2],
        dims[0],
        dims[1],
        dims[2],
        dims[3],
        dims[4],
        dims[5],
        tags,
        department_id,
        department_id is not None,
    )
