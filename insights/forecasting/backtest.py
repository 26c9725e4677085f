"""Rolling-origin backtests: how well the forecaster would have done on the series' own past.

The last `origins` cut-off days, `step` days apart, each end a training window; from each, the
method forecasts the next `horizon` days, which are compared with what happened. The same windows
are forecast by the seasonal-naive baseline (each day as the same weekday a week earlier), so every
figure has its baseline beside it. Leading zero days are dropped first, as `forecast_series` does;
a cut-off is used only when at least 14 days of training remain.

Metrics (over every held-out day of every origin):

- `mape`: mean absolute percentage error, in %. Days whose actual is 0 are skipped (their
  percentage error is undefined); None if every held-out day is 0.
- `smape`: symmetric MAPE, 200·|y − ŷ| / (|y| + |ŷ|) averaged, in % (0–200); a day where actual and
  forecast are both 0 counts as 0 (a perfect forecast).
- `mase`: mean absolute scaled error (Hyndman & Koehler 2006): an origin's mean absolute error
  divided by the in-sample mean absolute error of the one-step seasonal-naive forecast (m = 7) over
  that origin's training window, averaged over origins. Below 1: better than seasonal naive was
  in-sample. Origins whose training window repeats itself exactly week on week (scale 0) are
  skipped; None if none remain.
- `baseline_mape`, `baseline_smape`, `baseline_mase`: the same for the seasonal-naive forecast.
- `coverage80`, `coverage95`: the share (0–1) of held-out days inside the method's 80 % and 95 %
  intervals.
- `origins` (the number used), `horizon`, `step`, `methods` ({method code: origins}).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .engine import Number, forecast_series
from .methods import SEASON, SEASONAL_NAIVE_MIN_DAYS

LEVELS = (80, 95)


def backtest(
    values: Sequence[Number],
    *,
    horizon: int = 14,
    origins: int = 8,
    step: int = 7,
    method: str = "auto",
) -> dict[str, Any]:
    """Backtest `forecast_series(..., method=method)` on `values` (daily, oldest first) from
    `origins` cut-offs `step` days apart, the last one `horizon` days before the end. Returns the
    metrics described in the module docstring; with no usable origin, every metric is None and
    `origins` is 0."""
    if horizon < 1 or origins < 1 or step < 1:
        raise ValueError("horizon, origins and step must be ≥ 1")
    series = np.array([float(v) for v in values], dtype=float)
    nonzero = np.flatnonzero(series)
    series = series[nonzero[0] :] if nonzero.size else series[:0]
    cuts = [series.size - horizon - i * step for i in reversed(range(origins))]
    cuts = [cut for cut in cuts if cut >= SEASONAL_NAIVE_MIN_DAYS]

    actual, predicted, baseline, scales = [], [], [], []
    inside = {level: [] for level in LEVELS}
    methods: Counter[str] = Counter()
    for cut in cuts:
        train, test = series[:cut], series[cut : cut + horizon]
        forecast = forecast_series(train, horizon=horizon, levels=LEVELS, method=method)
        methods[forecast.method_code] += 1
        predicted.append(forecast.value)
        for level in LEVELS:
            inside[level].append((forecast.low(level) <= test) & (test <= forecast.high(level)))
        baseline.append(seasonal_naive_point(train, horizon))
        actual.append(test)
        scales.append(float(np.mean(np.abs(train[SEASON:] - train[:-SEASON]))))

    result: dict[str, Any] = {
        "origins": len(cuts),
        "horizon": horizon,
        "step": step,
        "methods": dict(methods),
    }
    y = np.array(actual).reshape(len(cuts), horizon)
    for prefix, forecasts in (("", predicted), ("baseline_", baseline)):
        f = np.array(forecasts, dtype=float).reshape(len(cuts), horizon)
        result[f"{prefix}mape"] = mape(y, f)
        result[f"{prefix}smape"] = smape(y, f)
        result[f"{prefix}mase"] = mase(y, f, np.array(scales))
    for level in LEVELS:
        hits = np.array(inside[level])
        result[f"coverage{level}"] = float(hits.mean()) if hits.size else None
    return result


def seasonal_naive_point(train: np.ndarray, horizon: int) -> np.ndarray:
    """The seasonal-naive forecast: day h after the window as the same weekday of its last week."""
    return train[-SEASON:][np.arange(horizon) % SEASON]


def mape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Mean absolute percentage error in %, over the days whose actual is not 0 (None if none)."""
    mask = actual != 0
    if not mask.any():
        return None
    return float(np.mean(np.abs(actual[mask] - forecast[mask]) / np.abs(actual[mask])) * 100)


def smape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Symmetric MAPE in % (0–200); a day with actual and forecast both 0 counts as 0."""
    if actual.size == 0:
        return None
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(np.mean(ratio) * 200)


def mase(actual: np.ndarray, forecast: np.ndarray, scales: np.ndarray) -> float | None:
    """Mean absolute scaled error: each origin's (row's) MAE over its scale, averaged over the
    origins whose scale is > 0 (None if none)."""
    usable = scales > 0
    if not usable.any():
        return None
    errors = np.mean(np.abs(actual - forecast), axis=1)
    return float(np.mean(errors[usable] / scales[usable]))
