"""Where each vendor feed format can be pulled from: the API path, the query, the authentication
headers, whether it pages, and where a page says which buckets it holds.

The pages a pull fetches are the same pages a user could upload as a file of that format (one
page per line), so the parsers are the feeds' own (usage.pipeline.feeds). The HTTP side —
retries, back-off, paging — is usage.pulls; scheduling is usage.services.pulls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ...models.sources import Format

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
ANTHROPIC_VERSION = "2023-06-01"

Query = list[tuple[str, str]]


@dataclass(frozen=True)
class Endpoint:
    """One pullable feed format."""

    format: str
    vendor: str  # as people name it, for messages
    default_base_url: str
    path: str
    query: Callable[[datetime, datetime], Query]  # (window start, window end) → query parameters
    headers: Callable[[str], dict[str, str]]  # credential → authentication headers
    bucket_ends: Callable[[dict], list[datetime]]  # a page → the ends of the buckets it holds
    paged: bool = True  # has_more / next_page, the token passed back as ?page=

    def url(self, base_url: str) -> str:
        return (base_url or self.default_base_url).rstrip("/") + self.path


def _unix(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def _anthropic(credential: str) -> dict[str, str]:
    return {"x-api-key": credential, "anthropic-version": ANTHROPIC_VERSION}


def _buckets(page: dict) -> list:
    return [b for b in page.get("data") or [] if isinstance(b, dict)]


def _unix_ends(page: dict) -> list[datetime]:
    """OpenAI: buckets carry `end_time` in Unix seconds (exclusive)."""
    ends = []
    for bucket in _buckets(page):
        value = bucket.get("end_time")
        if isinstance(value, int) and not isinstance(value, bool):
            ends.append(datetime.fromtimestamp(value, tz=UTC))
    return ends


def _rfc3339_ends(page: dict) -> list[datetime]:
    """Anthropic: buckets carry `ending_at` (RFC 3339, exclusive)."""
    ends = []
    for bucket in _buckets(page):
        try:
            moment = datetime.fromisoformat(str(bucket.get("ending_at")).replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is not None:
            ends.append(moment.astimezone(UTC))
    return ends


def _day_ends(page: dict) -> list[datetime]:
    """OpenRouter activity: rows carry their UTC `date`; the day ends at the next midnight."""
    ends = []
    for row in _buckets(page):
        try:
            day = date.fromisoformat(str(row.get("date"))[:10])
        except ValueError:
            continue
        ends.append(datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
    return ends


def _openai_usage(start: datetime, end: datetime) -> Query:
    return [
        ("start_time", _unix(start)),
        ("end_time", _unix(end)),
        ("bucket_width", "1d"),
        *[("group_by", g) for g in ("model", "project_id", "api_key_id", "user_id", "batch", "service_tier")],
        ("limit", "31"),
    ]


def _openai_costs(start: datetime, end: datetime) -> Query:
    return [
        ("start_time", _unix(start)),
        ("end_time", _unix(end)),
        ("bucket_width", "1d"),
        ("group_by", "line_item"),
        ("group_by", "project_id"),
        ("limit", "180"),
    ]


def _anthropic_usage(start: datetime, end: datetime) -> Query:
    return [
        ("starting_at", _rfc3339(start)),
        ("ending_at", _rfc3339(end)),
        ("bucket_width", "1d"),
        *[("group_by[]", g) for g in ("model", "workspace_id", "api_key_id", "service_tier")],
        ("limit", "31"),
    ]


def _anthropic_costs(start: datetime, end: datetime) -> Query:
    return [
        ("starting_at", _rfc3339(start)),
        ("ending_at", _rfc3339(end)),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
        ("limit", "31"),
    ]


def _no_query(start: datetime, end: datetime) -> Query:
    return []  # OpenRouter's activity answers the last 30 days at once


ENDPOINTS: dict[str, Endpoint] = {
    e.format: e
    for e in (
        Endpoint(
            Format.OPENAI_USAGE,
            "OpenAI",
            OPENAI_BASE_URL,
            "/organization/usage/completions",
            _openai_usage,
            _bearer,
            _unix_ends,
        ),
        Endpoint(
            Format.OPENAI_COSTS, "OpenAI", OPENAI_BASE_URL, "/organization/costs", _openai_costs, _bearer, _unix_ends
        ),
        Endpoint(
            Format.ANTHROPIC_USAGE,
            "Anthropic",
            ANTHROPIC_BASE_URL,
            "/organizations/usage_report/messages",
            _anthropic_usage,
            _anthropic,
            _rfc3339_ends,
        ),
        Endpoint(
            Format.ANTHROPIC_COSTS,
            "Anthropic",
            ANTHROPIC_BASE_URL,
            "/organizations/cost_report",
            _anthropic_costs,
            _anthropic,
            _rfc3339_ends,
        ),
        Endpoint(
            Format.OPENROUTER_ACTIVITY,
            "OpenRouter",
            OPENROUTER_BASE_URL,
            "/activity",
            _no_query,
            _bearer,
            _day_ends,
            paged=False,
        ),
    )
}

PULL_FORMATS = frozenset(ENDPOINTS)


def endpoint_for(format: str) -> Endpoint | None:
    return ENDPOINTS.get(format)
