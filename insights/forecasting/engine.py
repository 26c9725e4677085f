"""Forecasts of daily series (pure functions: no models, no database).

`forecast_series(values, horizon=…)` forecasts one daily series with 80 % and 95 % intervals and
names the method it used; `forecast_many(...)` does it for many series, optionally on several
processes. Method choice, by the days of history (leading zero days do not count: before its first
non-zero day a series did not exist yet):

- ≥ 35 days (five full weeks): exponential smoothing, ETS(A,Ad,A) — additive error, additive
  damped trend, additive weekly season — fitted with statsmodels, with analytic intervals; fitted
  both to the tokens and (when no day is zero) to their logarithm, keeping the better fit;
- 14–34 days: seasonal naive (each day as the same weekday a week earlier), empirical interval;
- 3–13 days: the mean of the history, normal interval;
- under 3 days, or a history that never varied (all zeros included): flat at the history's
  average (zero without history), no interval.

A fit that fails (no convergence, a degenerate series, anything statsmodels raises) falls back to
seasonal naive; forecasting never raises for the data's sake. Token counts cannot be negative: the
point forecast and every bound are clipped at 0 (so a lower bound of 0 means "the interval reaches
zero"; clipping never moves an actual out of an interval). Only the last `MAX_HISTORY_DAYS` days
are fitted.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from .methods import (
    ETS_MIN_DAYS,
    MEAN_MIN_DAYS,
    SEASONAL_NAIVE_MIN_DAYS,
    FitFailed,
    RawForecast,
    ets_damped_weekly,
    flat,
    mean_method,
    seasonal_naive,
)

logger = logging.getLogger(__name__)

MAX_HISTORY_DAYS = 730  # two years: older traffic says little about next year, and it bounds the cost
DEFAULT_LEVELS = (80, 95)

METHOD_ETS = "ets_aada"
METHOD_ETS_LOG = "ets_log_aada"
METHOD_SEASONAL_NAIVE = "seasonal_naive"
METHOD_MEAN = "mean"
METHOD_FLAT = "flat"
METHODS = ("auto", METHOD_ETS, METHOD_ETS_LOG, METHOD_SEASONAL_NAIVE, METHOD_MEAN, METHOD_FLAT)

Number = float | int | Decimal


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """One forecast day: `date` (None when the forecast was made without a start date), the
    point forecast `value` and `intervals[level] = (low, high)`, all ≥ 0, in the series' unit."""

    date: date | None
    value: float
    intervals: dict[int, tuple[float, float]]

    @property
    def low80(self) -> float | None:
        return self._bound(80, 0)

    @property
    def high80(self) -> float | None:
        return self._bound(80, 1)

    @property
    def low95(self) -> float | None:
        return self._bound(95, 0)

    @property
    def high95(self) -> float | None:
        return self._bound(95, 1)

    def _bound(self, level: int, side: int) -> float | None:
        pair = self.intervals.get(level)
        return None if pair is None else pair[side]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: {"date": "2026-11-23" or None, "value", "low80", "high80", "low95", "high95"}."""
        out: dict[str, Any] = {"date": self.date.isoformat() if self.date else None, "value": self.value}
        for level, (low, high) in sorted(self.intervals.items()):
            out[f"low{level}"] = low
            out[f"high{level}"] = high
        return out


@dataclass(frozen=True, eq=False)
class SeriesForecast:
    """A series' forecast.

    - `method`: the method's name for people ("Exponential smoothing (additive damped trend,
      weekly season)"), shown beside the chart; `method_code`: its code (`METHODS`).
    - `points`: one `ForecastPoint` a day of the horizon (date, value, low80, high80, low95, high95).
    - `value`, `low(level)`, `high(level)`: the same as read-only numpy arrays, for sums and charts.
    - `start`: the first forecast day (or None); `history_days`: the days of history the method saw
      (after dropping leading zeros and anything older than `MAX_HISTORY_DAYS`); `levels`.
    - `params`: the fitted parameters (ETS: alpha, beta, gamma, phi and sigma — the one-day-ahead
      standard deviation, in tokens — or sigma_log on the log scale; mean: sigma).
    - `fallback_reason`: why a simpler method than the history allows was used ("" if none).
    """

    method: str
    method_code: str
    start: date | None
    value: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]
    history_days: int
    params: dict[str, float] = field(default_factory=dict)
    fallback_reason: str = ""

    @property
    def horizon(self) -> int:
        return int(self.value.size)

    @property
    def levels(self) -> tuple[int, ...]:
        return tuple(self.bounds)

    def low(self, level: int) -> np.ndarray:
        return self.bounds[level][0]

    def high(self, level: int) -> np.ndarray:
        return self.bounds[level][1]

    @functools.cached_property
    def points(self) -> tuple[ForecastPoint, ...]:
        values = self.value.tolist()
        bounds = {level: (low.tolist(), high.tolist()) for level, (low, high) in self.bounds.items()}
        return tuple(
            ForecastPoint(
                date=self.start + timedelta(days=i) if self.start else None,
                value=values[i],
                intervals={level: (lows[i], highs[i]) for level, (lows, highs) in bounds.items()},
            )
            for i in range(len(values))
        )

    def as_dicts(self) -> list[dict[str, Any]]:
        """The points JSON-ready: [{"date", "value", "low80", "high80", "low95", "high95"}, …]."""
        return [point.as_dict() for point in self.points]


def forecast_series(
    values: Sequence[Number],
    *,
    horizon: int,
    start: date | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
    scenario: tuple[date, Number] | None = None,
    method: str = "auto",
) -> SeriesForecast:
    """Forecast the `horizon` days after a daily series.

    `values` are consecutive daily values, oldest first, the last being the day before the forecast
    starts (days without usage as 0). `start`, if given, is the first forecast day and dates the
    points. `levels` are the central interval levels in percent. `scenario` = (d, k) multiplies the
    point forecast and both bounds of every day from d on by k (traffic × k from d; needs `start`).
    `method` forces a method (`METHODS`: "ets_aada", "ets_log_aada", "seasonal_naive", "mean",
    "flat") where the history allows it, else the automatic choice applies; "auto" (the default)
    chooses as the module docstring says.

    Every value and bound is ≥ 0: negative bounds are clipped at zero (token counts cannot be
    negative), so a clipped interval is narrower than the model's on its lower side only.
    Raises ValueError for bad arguments (negative horizon, non-finite values, a scenario without a
    start or with a negative factor); never for a model that cannot be fitted.
    """
    if horizon < 0:
        raise ValueError("horizon must be ≥ 0")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    levels = tuple(int(level) for level in levels)
    if any(not 0 < level < 100 for level in levels):
        raise ValueError("interval levels are percentages between 0 and 100")
    factor_from: tuple[date, float] | None = None
    if scenario is not None:
        if start is None:
            raise ValueError("a scenario needs the forecast's start date")
        factor_from = (scenario[0], float(scenario[1]))
        if not factor_from[1] >= 0:
            raise ValueError("a scenario's factor must be ≥ 0")
    history = _as_history(values)
    raw, reason = _choose_and_forecast(history, horizon, levels, method)
    return _finish(raw, horizon, start, levels, factor_from, history.size, reason)


def _as_history(values: Sequence[Number]) -> np.ndarray:
    history = np.array([float(v) for v in values], dtype=float)
    if not np.all(np.isfinite(history)):
        raise ValueError("values must be finite numbers (fill missing days with 0)")
    nonzero = np.flatnonzero(history)
    history = history[nonzero[0] :] if nonzero.size else history[:0]
    return history[-MAX_HISTORY_DAYS:]


def _choose_and_forecast(
    history: np.ndarray, horizon: int, levels: tuple[int, ...], method: str
) -> tuple[RawForecast, str]:
    n = history.size
    if n == 0:
        return flat(history, horizon, levels, name="No usage yet: zero"), ""
    if n < MEAN_MIN_DAYS or method == METHOD_FLAT:
        days = "day" if n == 1 else "days"
        return flat(history, horizon, levels, name=f"Flat at the average of {n} {days} of history (no interval)"), ""
    if np.ptp(history) == 0:
        return flat(history, horizon, levels, name="Flat: the history never varied (no interval)"), ""
    if n < SEASONAL_NAIVE_MIN_DAYS or method == METHOD_MEAN:
        return mean_method(history, horizon, levels), ""
    if n < ETS_MIN_DAYS or method == METHOD_SEASONAL_NAIVE:
        return seasonal_naive(history, horizon, levels), ""
    variant = {METHOD_ETS: "additive", METHOD_ETS_LOG: "log"}.get(method, "auto")
    if variant == "log" and history.min() <= 0:
        variant = "auto"  # the log model needs every day > 0
    try:
        return ets_damped_weekly(history, horizon, levels, variant=variant), ""
    except FitFailed as exc:
        return seasonal_naive(history, horizon, levels), f"exponential smoothing could not be fitted ({exc})"


def _finish(
    raw: RawForecast,
    horizon: int,
    start: date | None,
    levels: tuple[int, ...],
    factor_from: tuple[date, float] | None,
    history_days: int,
    reason: str,
) -> SeriesForecast:
    value = np.maximum(raw.value[:horizon], 0.0)
    bounds = {
        lv: (np.maximum(raw.bounds[lv][0][:horizon], 0.0), np.maximum(raw.bounds[lv][1][:horizon], 0.0))
        for lv in levels
    }
    if factor_from is not None and start is not None:
        first = (factor_from[0] - start).days  # index of the scenario's first day (may be < 0 or ≥ horizon)
        factor = np.where(np.arange(horizon) >= first, factor_from[1], 1.0)
        value = value * factor
        bounds = {lv: (low * factor, high * factor) for lv, (low, high) in bounds.items()}
    for array in (value, *(a for pair in bounds.values() for a in pair)):
        array.flags.writeable = False
    return SeriesForecast(
        method=raw.name,
        method_code=raw.code,
        start=start,
        value=value,
        bounds=bounds,
        history_days=history_days,
        params={key: float(v) for key, v in raw.params.items()},
        fallback_reason=reason,
    )


# Many series -----------------------------------------------------------------------------------------


def forecast_many(
    series: Iterable[Sequence[Number]],
    *,
    horizon: int,
    start: date | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
    processes: int | None = 1,
) -> list[SeriesForecast]:
    """`forecast_series` for each series (same horizon, start and levels), in order.

    `processes` > 1 (or None: one per CPU) spreads the series over up to that many worker
    processes, one per 50 series at most. They are spawned, so they share no database connection
    or lock with the caller (whose main module needs the usual `if __name__ == "__main__":`).
    Where child processes are not allowed (inside a daemonic process, e.g. a Celery prefork worker)
    or fail to start, the series are forecast in this process. A series of a year costs about
    15 ms of CPU (two ETS fits) and starting a worker about 1.2 s (importing numpy, scipy and
    statsmodels), so a second process pays only with a free core and a few hundred series.
    """
    items = [np.array([float(v) for v in values], dtype=float) for values in series]
    levels = tuple(levels)
    workers = (os.cpu_count() or 1) if processes is None else max(1, processes)
    workers = min(workers, max(1, len(items) // 50))
    if workers > 1 and not multiprocessing.current_process().daemon:
        context = multiprocessing.get_context("spawn")
        chunk = max(1, math.ceil(len(items) / (workers * 8)))
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                return list(pool.map(_forecast_one, items, [(horizon, start, levels)] * len(items), chunksize=chunk))
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            # e.g. a main module without `if __name__ == "__main__":`, or no processes left
            logger.warning("forecast_many: worker processes failed (%s); forecasting in this process", exc)
    return [forecast_series(values, horizon=horizon, start=start, levels=levels) for values in items]


def _forecast_one(values: list[Number], args: tuple[int, date | None, tuple[int, ...]]) -> SeriesForecast:
    horizon, start, levels = args
    return forecast_series(values, horizon=horizon, start=start, levels=levels)
