"""A vendor's measured performance over a date range, for SLA evaluation (DESIGN.md, "SLA
clauses") and scorecards: from the usage records and the uploaded performance samples
(billing.models.PerformanceSample), aggregated in PostgreSQL.

Scope: the vendor's records and samples whose `usage_date` / `day` lies in [start, end] (both
inclusive) and whose model matches one of the patterns (shell-style globs, `fnmatch`; an empty
list means every model). The patterns are matched in Python against the distinct model names of
the range (few), and the database filters on the resulting names.

Metrics (None when nothing in scope measures them):

* `availability` % = (requests − failed) ÷ requests × 100, and `error_rate` % = failed ÷ requests
  × 100. `failed_requests` of a usage record counts the requests that failed for the vendor's
  reasons (5xx, timeouts; ingestion leaves 4xx and 429 out). Records contribute `requests` and
  `failed_requests`; a per-request sample counts 1 request (failed or not); a daily sample its
  `requests` and `failed_requests`.
* `latency_p50` / `latency_p90` (ms), **exact**, from per-request latencies: the usage records
  carrying `latency_ms` (one request's latency; such a record counts as one observation) and the
  per-request samples, successful requests only (a failed request's time says nothing about
  serving speed). Percentile method: **nearest rank** — the smallest latency x such that at least
  p % of the latencies are ≤ x, i.e. the ⌈p·N⌉-th smallest — PostgreSQL's `percentile_disc(p)`
  (numpy: `np.percentile(x, 100·p, method="inverted_cdf")`).
  Where the scope has no per-request latency at all, the **approximation** is the
  request-weighted mean of the bucket / daily summaries (`latency_p50_ms` / `latency_p90_ms` of
  records, the daily samples' values), weight = the bucket's `requests`; `latency_method` then says
  `weighted_summary` and `latency_approximate` is True. A scope with both uses the per-request
  values only and counts the summarised requests it left aside in `latency_summary_requests`.
* `throughput_fluctuation` (max ÷ min): per successful request output tokens per second =
  `output_tokens ÷ (latency_ms / 1000)` (requests with a positive latency and output); the median
  of each day (`percentile_cont(0.5)`, the usual interpolated median); a day without
  per-request data takes its daily samples' `throughput_median` (request-weighted mean over their
  models). Then over every 7-day window [d, d + 6] inside the range (the whole range when it is
  shorter than 7 days), max ÷ min of the daily medians of the days with data (at least 2); the
  result is the worst window's ratio, and `throughput_window_start` names that window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fnmatch import fnmatchcase

from django.db import connection

from usage.models import UsageRecord

from ..models import PerformanceSample

MEASURE_QUANTUM = Decimal("0.000001")  # SlaCredit.measured has 6 decimal places
WINDOW_DAYS = 7

PER_REQUEST = "per_request"
WEIGHTED_SUMMARY = "weighted_summary"


@dataclass(frozen=True)
class Performance:
    vendor_id: int
    models: tuple[str, ...]  # the patterns asked for (empty: all)
    start: date
    end: date
    model_names: tuple[str, ...]  # the model names in scope that had data
    requests: int = 0
    failed_requests: int = 0
    availability: Decimal | None = None
    error_rate: Decimal | None = None
    latency_p50_ms: Decimal | None = None
    latency_p90_ms: Decimal | None = None
    latency_method: str | None = None  # PER_REQUEST, WEIGHTED_SUMMARY or None
    latency_observations: int = 0  # per-request latencies used
    latency_summary_requests: int = 0  # requests behind the summaries (used, or left aside)
    throughput_fluctuation: Decimal | None = None
    throughput_window_start: date | None = None
    throughput_days: int = 0
    daily_throughput: dict[date, float] = field(default_factory=dict)

    @property
    def latency_approximate(self) -> bool:
        return self.latency_method == WEIGHTED_SUMMARY

    def value(self, metric: str) -> Decimal | None:
        """The month's value of an SlaClause metric."""
        return {
            "availability": self.availability,
            "error_rate": self.error_rate,
            "latency_p50": self.latency_p50_ms,
            "latency_p90": self.latency_p90_ms,
            "throughput_fluctuation": self.throughput_fluctuation,
        }[metric]


def measure(value) -> Decimal | None:
    """A float or Decimal from the database as a 6-place Decimal (through its shortest text, so a
    float's binary noise does not show)."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(MEASURE_QUANTUM, rounding=ROUND_HALF_UP)


def models_matching(*, vendor_id: int, patterns: list[str] | tuple[str, ...], start: date, end: date) -> list[str]:
    """The distinct model names of the vendor's records and samples in the range that match one
    of the patterns (all of them when there are none)."""
    names = set(
        UsageRecord.objects.filter(vendor_id=vendor_id, usage_date__gte=start, usage_date__lte=end)
        .values_list("model", flat=True)
        .distinct()
    )
    names |= set(
        PerformanceSample.objects.filter(vendor_id=vendor_id, day__gte=start, day__lte=end)
        .values_list("model", flat=True)
        .distinct()
    )
    if patterns:
        names = {name for name in names if any(fnmatchcase(name, pattern) for pattern in patterns)}
    return sorted(names)


# One CTE of the successful per-request observations, from records and samples alike.
_REQUESTS_CTE = """
WITH req AS (
    SELECT usage_date AS day, latency_ms, output_tokens
      FROM usage_record
     WHERE vendor_id = %(vendor)s AND usage_date BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
       AND latency_ms IS NOT NULL AND failed_requests < requests
    UNION ALL
    SELECT day, latency_ms, output_tokens
      FROM billing_performancesample
     WHERE vendor_id = %(vendor)s AND day BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
       AND layout = 'request' AND NOT failed AND latency_ms IS NOT NULL
)
"""

_COUNTS_SQL = """
SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(failed), 0),
       COALESCE(SUM(summary_requests), 0), SUM(p50_weighted), SUM(p90_weighted)
  FROM (
    SELECT requests, failed_requests AS failed,
           CASE WHEN latency_p50_ms IS NOT NULL OR latency_p90_ms IS NOT NULL THEN requests ELSE 0 END
               AS summary_requests,
           latency_p50_ms * requests AS p50_weighted, latency_p90_ms * requests AS p90_weighted
      FROM usage_record
     WHERE vendor_id = %(vendor)s AND usage_date BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
    UNION ALL
    SELECT CASE WHEN layout = 'request' THEN 1 ELSE requests END,
           CASE WHEN layout = 'request' THEN failed::int ELSE failed_requests END,
           CASE WHEN layout = 'daily' AND (latency_p50_ms IS NOT NULL OR latency_p90_ms IS NOT NULL)
                THEN requests ELSE 0 END,
           CASE WHEN layout = 'daily' THEN latency_p50_ms * requests END,
           CASE WHEN layout = 'daily' THEN latency_p90_ms * requests END
      FROM billing_performancesample
     WHERE vendor_id = %(vendor)s AND day BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
  ) AS rows
"""

_SUMMARY_WEIGHTS_SQL = """
SELECT COALESCE(SUM(requests) FILTER (WHERE latency_p50_ms IS NOT NULL), 0),
       COALESCE(SUM(requests) FILTER (WHERE latency_p90_ms IS NOT NULL), 0)
  FROM (
    SELECT requests, latency_p50_ms, latency_p90_ms FROM usage_record
     WHERE vendor_id = %(vendor)s AND usage_date BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
    UNION ALL
    SELECT requests, latency_p50_ms, latency_p90_ms FROM billing_performancesample
     WHERE vendor_id = %(vendor)s AND day BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
       AND layout = 'daily'
  ) AS rows
"""

_PERCENTILES_SQL = (
    _REQUESTS_CTE
    + """
SELECT COUNT(*),
       percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms),
       percentile_disc(0.9) WITHIN GROUP (ORDER BY latency_ms)
  FROM req
"""
)

_DAILY_THROUGHPUT_SQL = (
    _REQUESTS_CTE
    + """
SELECT day, percentile_cont(0.5) WITHIN GROUP (ORDER BY output_tokens * 1000.0 / latency_ms)
  FROM req
 WHERE latency_ms > 0 AND output_tokens > 0
 GROUP BY day
"""
)

_DAILY_SAMPLE_THROUGHPUT_SQL = """
SELECT day, SUM(throughput_median * GREATEST(requests, 1)) / SUM(GREATEST(requests, 1))
  FROM billing_performancesample
 WHERE vendor_id = %(vendor)s AND day BETWEEN %(start)s AND %(end)s AND model = ANY(%(models)s)
   AND layout = 'daily' AND throughput_median IS NOT NULL AND throughput_median > 0
 GROUP BY day
"""


def _percent(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(MEASURE_QUANTUM, rounding=ROUND_HALF_UP)


def _weighted_mean(weighted_sum, weight) -> Decimal | None:
    if not weight or weighted_sum is None:
        return None
    return measure(Decimal(str(weighted_sum)) / Decimal(weight))


def worst_window(daily: dict[date, float], *, start: date, end: date) -> tuple[Decimal | None, date | None]:
    """Max ÷ min of the daily values over each 7-day window inside [start, end] (the whole range
    when shorter), windows with fewer than 2 days of data skipped; the worst ratio and its
    window's first day."""
    span = (end - start).days + 1
    starts = [start] if span <= WINDOW_DAYS else [start + timedelta(days=i) for i in range(span - WINDOW_DAYS + 1)]
    worst: Decimal | None = None
    worst_start: date | None = None
    for first in starts:
        last = min(end, first + timedelta(days=WINDOW_DAYS - 1))
        values = [Decimal(str(v)) for day, v in daily.items() if first <= day <= last and v > 0]
        if len(values) < 2:
            continue
        ratio = (max(values) / min(values)).quantize(MEASURE_QUANTUM, rounding=ROUND_HALF_UP)
        if worst is None or ratio > worst:
            worst, worst_start = ratio, first
    return worst, worst_start


def vendor_performance(
    *, vendor_id: int, models: list[str] | tuple[str, ...] = (), start: date, end: date
) -> Performance:
    """The vendor's performance metrics over [start, end] for the model patterns (see the module)."""
    names = models_matching(vendor_id=vendor_id, patterns=models, start=start, end=end)
    base = {"vendor_id": vendor_id, "models": tuple(models), "start": start, "end": end, "model_names": tuple(names)}
    if not names:
        return Performance(**base)
    params = {"vendor": vendor_id, "start": start, "end": end, "models": names}
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS_SQL, params)
        requests, failed, summary_requests, p50_weighted, p90_weighted = cursor.fetchone()
        cursor.execute(_PERCENTILES_SQL, params)
        observations, p50, p90 = cursor.fetchone()
        cursor.execute(_DAILY_THROUGHPUT_SQL, params)
        daily = {day: float(value) for day, value in cursor.fetchall()}
        cursor.execute(_DAILY_SAMPLE_THROUGHPUT_SQL, params)
        for day, value in cursor.fetchall():
            daily.setdefault(day, float(value))  # per-request data of the day wins
        weights = (0, 0)
        if not observations and summary_requests:
            cursor.execute(_SUMMARY_WEIGHTS_SQL, params)
            weights = cursor.fetchone()
    requests, failed = int(requests), int(failed)
    if observations:
        method, p50_ms, p90_ms = PER_REQUEST, measure(p50), measure(p90)
    elif summary_requests:
        method = WEIGHTED_SUMMARY
        p50_ms = _weighted_mean(p50_weighted, weights[0])
        p90_ms = _weighted_mean(p90_weighted, weights[1])
    else:
        method, p50_ms, p90_ms = None, None, None
    fluctuation, window_start = worst_window(daily, start=start, end=end)
    return Performance(
        **base,
        requests=requests,
        failed_requests=failed,
        availability=_percent(requests - failed, requests),
        error_rate=_percent(failed, requests),
        latency_p50_ms=p50_ms,
        latency_p90_ms=p90_ms,
        latency_method=method,
        latency_observations=int(observations),
        latency_summary_requests=int(summary_requests),
        throughput_fluctuation=fluctuation,
        throughput_window_start=window_start,
        throughput_days=len(daily),
        daily_throughput=dict(sorted(daily.items())),
    )
