"""What every feed parser shares: the interface, the cost item, JSON pages read with exact money.

A feed turns a file's text into numbered items — usage records in the generic record schema of
API.md (`Parsed`), vendor cost lines (`CostItem`) or lines it cannot read (`Unreadable`) — and one
kept row back into its item (a replay of a rejected row). The pipeline's later steps (validate,
normalise, dedupe, attribute, rate, persist) are the same for every feed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from hashlib import blake2b

import orjson

from ..formats import FeedError, Parsed, Unreadable

Item = Parsed | Unreadable


class CostItem(dict):
    """A vendor cost line as a feed states it, with the text it came from (kept if rejected).

    Keys (usage.pipeline.costs checks them): `vendor` (slug) or `provider_name` (FOCUS
    ProviderName, matched through vendor aliases), `period_start`, `period_end` (aware
    datetimes), `amount` (Decimal, major currency unit), `amount_as_given` (the feed's text),
    `amount_unit` ("major" or "cents"), `currency`, `identity` (JSON-able values that name the
    line: the same line in a later pull has the same identity), and optionally `description`,
    `model`, `line_item`, `charge_category`, `billed_cost`, `effective_cost`, `list_cost`,
    `contracted_cost`, `quantity`, `quantity_unit`, `project_id`, `api_key_id`, `workspace_id`,
    `dimensions` (dict of the feed's other values)."""

    __slots__ = ("raw",)

    def __init__(self, values: dict, raw: str) -> None:
        super().__init__(values)
        self.raw = raw


@dataclass(frozen=True)
class FeedOptions:
    """What a parser is told beside the text: the source, the vendor (a slug: the source's, or
    the one the format belongs to), the file's digest and the run's options (a CSV header kept
    for replays, a trace's timezone and start, …)."""

    source: str | None = None
    vendor: str | None = None
    file_sha256: str = ""
    options: dict = field(default_factory=dict)


class Feed:
    """A feed format. Subclasses set `format` and implement `rows` and `row`."""

    format: str = ""
    #: the records' numbers come as text (CSV): normalise reads them from text
    coerce_strings: bool = False
    #: the vendor a single-vendor feed belongs to when its source names none (slug or alias)
    vendor_alias: str | None = None
    #: True when the vendor is a property of each row (FOCUS ProviderName), not of the source
    multi_vendor: bool = False

    def prepare(self, text: str, opts: FeedOptions) -> dict:
        """Check the file's structure before any row is read (raise FeedError) and return what
        must be kept in the run's options to read a single row again later (e.g. a CSV header)."""
        return {}

    def rows(self, text: str, opts: FeedOptions) -> Iterator[tuple[int, Item | CostItem]]:
        raise NotImplementedError

    def row(self, raw: str, opts: FeedOptions, number: int) -> Item | CostItem | list[Item | CostItem]:
        """One kept row again (possibly corrected), numbered as it was in its file. A feed whose
        row gives several items (a usage record and a cost line) returns them as a list."""
        raise NotImplementedError


# Helpers for JSON pages -------------------------------------------------------------------------------


def loads_exact(text: str):
    """JSON with every non-integer number as a Decimal read from its text (never a float)."""
    return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def json_pages(text: str) -> list[dict]:
    """The pages of a JSON feed file: one page object, a JSON array of pages, or one page per
    line (NDJSON, as a pull saves them). A file cut off in the middle, or anything that is not
    JSON pages, raises FeedError with where and why."""
    stripped = text.strip()
    if not stripped:
        raise FeedError('The file is empty: expected a JSON page ({"data": [...], ...}).')
    try:
        document = loads_exact(stripped)
    except json.JSONDecodeError as whole_error:
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) < 2 or not lines[0].lstrip().startswith("{"):
            raise FeedError(_json_problem(whole_error)) from whole_error
        pages = []
        for number, line in enumerate(lines, start=1):
            try:
                pages.append(loads_exact(line))
            except json.JSONDecodeError as exc:
                if number == 1:  # not a page per line: one pretty-printed document, broken where it says
                    raise FeedError(_json_problem(whole_error)) from whole_error
                raise FeedError(f"Page {number} (line {number}): {_json_problem(exc)}") from exc
            except ValueError as exc:
                raise FeedError(f"Page {number} (line {number}): {exc}.") from exc
        document = pages
    except ValueError as exc:  # NaN, Infinity
        raise FeedError(f"The file is not valid JSON: {exc}.") from exc
    pages = document if isinstance(document, list) else [document]
    for number, page in enumerate(pages, start=1):
        if not isinstance(page, dict):
            raise FeedError(f"Page {number} is a JSON {type(page).__name__}, not an object with a data list.")
        if not isinstance(page.get("data"), list):
            raise FeedError(f"Page {number} has no data list: it is not a page of this feed.")
    return pages


def _json_problem(exc: json.JSONDecodeError) -> str:
    rest = exc.doc[exc.pos :].strip()
    if (
        exc.pos >= len(exc.doc.rstrip()) - 1
        or exc.msg.startswith("Unterminated string")  # cut inside a string: the error is where it began
        or (rest and any(word.startswith(rest) for word in ("true", "false", "null")))  # cut inside a word
    ):
        return (
            f"the JSON ends unexpectedly at character {exc.pos} (line {exc.lineno}): "
            "the page was cut off; nothing was stored."
        )
    return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; nothing was stored."


def dumps_raw(value) -> str:
    """A row's raw text for keeping and replaying: JSON, with Decimals as their exact text
    (strings — a parser reading a kept row accepts an amount as a number or a decimal string)."""
    try:
        return orjson.dumps(value, default=_exact_default, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits (orjson refuses it): the row is kept all the same
        return json.dumps(value, default=_exact_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _exact_default(value):
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def exact_decimal(value, name: str) -> Decimal:
    """A money amount from a JSON number (already a Decimal) or a decimal string, exactly."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} is missing or not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} {value} is not a finite number")
        return value
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{name} {value!r} is not a decimal number") from None
        if not parsed.is_finite():
            raise ValueError(f"{name} {value!r} is not a finite number")
        return parsed
    raise ValueError(f"{name} must be a number, not {type(value).__name__} {value!r}")


def unix_time(value, name: str) -> datetime:
    """Unix seconds (OpenAI's start_time / end_time) → an aware UTC datetime."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"{name} {value!r} is not a Unix time in seconds")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise ValueError(f"{name} {value} is not a whole number of seconds")  # never truncated silently
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{name} {value} is out of the range of dates") from None


def rfc3339(value, name: str) -> datetime:
    """An RFC 3339 timestamp with an offset ("2025-08-01T00:00:00Z") → aware UTC datetime."""
    if not isinstance(value, str):
        raise ValueError(f"{name} {value!r} is not an RFC 3339 timestamp")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{name} {value!r} is out of the range of dates") from None


def line_id(format: str, *values) -> str:
    """A deterministic external id for a vendor row: the format and a digest of the values that
    identify the row (bucket and grouping dimensions), so pulling the row again restates it."""
    digest = blake2b(orjson.dumps(values, default=_exact_default), digest_size=16).hexdigest()
    return f"{format}:{digest}"


# Reading a vendor row's values, with the reason a bad one is rejected ------------------------------------------


def shown(value) -> str:
    """A JSON value as a reason quotes it: text in quotes, numbers as written, JSON words as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    return "a JSON object" if isinstance(value, dict) else "a JSON array" if isinstance(value, list) else repr(value)


def json_count(values: dict, name: str, reasons: list[str], *, required: bool = False, label: str = "") -> int:
    """A token or request count: a JSON integer ≥ 0; null or absent is 0 unless required. A bad
    value adds its reason (named `label` if given, e.g. "cache_creation.ephemeral_5m_input_tokens")."""
    value = values.get(name)
    if value is None:
        if required:
            reasons.append(f"{label or name} is missing")
        return 0
    if type(value) is int and value >= 0:
        return value
    reasons.append(f"{label or name} must be a whole number ≥ 0, not {shown(value)}")
    return 0


def json_text(values: dict, name: str, reasons: list[str]) -> str | None:
    """An optional grouping value: a string, or null (an empty string is null too)."""
    value = values.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    reasons.append(f"{name} must be a string or null, not {shown(value)}")
    return None
