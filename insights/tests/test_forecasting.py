"""The forecasting engine (`insights.forecasting`): pure functions, no database.

Synthetic series of known structure (linear trend + weekly season + Gaussian noise, seeded): the
intervals cover what they claim over many held-out days, the forecast beats seasonal naive, and
the closed-form ETS forecast equals statsmodels' own. Short and degenerate histories fall back to
named simpler methods without raising; scenarios multiply from their date; nothing is negative.
And a backtest on OpenRouter's real daily token totals (skipped without the shared data set)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from core.testing import SHARED_DATA, needs_shared_data
from insights.forecasting import backtest, forecast_many, forecast_series
from insights.forecasting.backtest import mape, mase, smape
from insights.forecasting.threads import single_blas_thread

WEEK = np.array([30.0, 45.0, 50.0, 40.0, 20.0, -80.0, -105.0])  # Monday … Sunday, sums to 0
START = date(2026, 1, 5)  # a Monday


def trend_season_noise(seed: int, days: int = 200, *, slope: float = 2.0, noise: float = 25.0) -> np.ndarray:
    """Linear trend + weekly season + Gaussian noise, well above zero (no clipping)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    return 1000 + slope * t + WEEK[t % 7] + rng.normal(0, noise, days)


def ordered(forecast) -> bool:
    """0 ≤ low95 ≤ low80 ≤ value ≤ high80 ≤ high95 on every day."""
    return all(0 <= p.low95 <= p.low80 <= p.value <= p.high80 <= p.high95 for p in forecast.points)


# The model -----------------------------------------------------------------------------------------


def test_ets_forecast_and_intervals_equal_statsmodels_get_prediction():
    """GIVEN a trending weekly series WHEN forecast with the additive ETS THEN the closed-form point
    forecast and 80/95 % bounds equal ETSResults.get_prediction(...).summary_frame for the same
    model fitted by statsmodels itself (same scaling, same heuristic initial states)."""
    values = trend_season_noise(1)
    forecast = forecast_series(values, horizon=60, method="ets_aada")
    assert forecast.method_code == "ets_aada"

    scale = np.mean(np.abs(values))
    endog = pd.Series(values / scale, index=pd.date_range("2025-06-01", periods=values.size, freq="D"))
    model = ETSModel(
        endog,
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add",
        seasonal_periods=7,
        initialization_method="heuristic",
    )
    prediction = model.fit(disp=False).get_prediction(start=values.size, end=values.size + 59)
    for level in (80, 95):
        frame = prediction.summary_frame(alpha=1 - level / 100)
        np.testing.assert_allclose(forecast.value, frame["mean"].to_numpy() * scale, rtol=1e-6)
        np.testing.assert_allclose(forecast.low(level), frame["pi_lower"].to_numpy() * scale, rtol=1e-6)
        np.testing.assert_allclose(forecast.high(level), frame["pi_upper"].to_numpy() * scale, rtol=1e-6)


def test_the_80_and_95_percent_intervals_cover_about_that_share_of_held_out_days():
    """GIVEN 30 seeded series (trend + weekly season + noise) WHEN backtested from 6 origins each
    (2 520 held-out days) THEN the 80 % interval holds 65–92 % of the actuals and the 95 % interval
    more than that, at least 85 %."""
    results = [backtest(trend_season_noise(seed), horizon=14, origins=6, step=7) for seed in range(30)]
    days = sum(r["origins"] * r["horizon"] for r in results)
    coverage80 = sum(r["coverage80"] * r["origins"] * r["horizon"] for r in results) / days
    coverage95 = sum(r["coverage95"] * r["origins"] * r["horizon"] for r in results) / days
    assert days == 30 * 6 * 14
    assert 0.65 <= coverage80 <= 0.92, coverage80
    assert coverage95 > coverage80
    assert 0.85 <= coverage95 <= 0.995, coverage95


def test_exponential_smoothing_beats_seasonal_naive_on_a_trending_series():
    """GIVEN trending weekly series WHEN backtested THEN the method's MASE (and MAPE) is below the
    seasonal-naive baseline's, which lags a week of trend behind."""
    results = [backtest(trend_season_noise(100 + seed, slope=4.0)) for seed in range(5)]
    assert all(set(r["methods"]) <= {"ets_aada", "ets_log_aada"} for r in results)
    assert np.mean([r["mase"] for r in results]) < 0.9 * np.mean([r["baseline_mase"] for r in results])
    assert all(r["mape"] < r["baseline_mape"] for r in results)


def test_a_series_growing_by_a_rate_is_fitted_on_the_log_scale():
    """GIVEN usage growing 8 % a month with a proportional weekly pattern and noise WHEN forecast
    THEN the log model fits better and is kept; its interval is wider on busy days than on quiet
    ones (the noise is proportional)."""
    rng = np.random.default_rng(7)
    t = np.arange(300)
    weekday = np.array([1.0, 1.04, 1.06, 1.03, 0.93, 0.34, 0.26])
    values = 5e8 * 1.08 ** (t / 30.4) * weekday[t % 7] * rng.lognormal(0, 0.08, t.size)
    forecast = forecast_series(values, horizon=14, start=START)
    assert forecast.method_code == "ets_log_aada"
    assert forecast.method == "Exponential smoothing of log tokens (damped growth, weekly season in proportion)"
    width = forecast.high(80) - forecast.low(80)
    assert width[2] > 2 * width[6]  # Wednesday against Sunday
    assert ordered(forecast)


# Fallbacks and odd input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "code", "name"),
    [
        (0, "flat", "No usage yet: zero"),
        (1, "flat", "Flat at the average of 1 day of history (no interval)"),
        (2, "flat", "Flat at the average of 2 days of history (no interval)"),
        (3, "mean", "Mean of the 3 days of history, normal interval"),
        (13, "mean", "Mean of the 13 days of history, normal interval"),
        (14, "seasonal_naive", "Seasonal naive (same weekday a week earlier), empirical interval"),
        (34, "seasonal_naive", "Seasonal naive (same weekday a week earlier), empirical interval"),
        (35, "ets_aada", "Exponential smoothing (additive damped trend, weekly season)"),
    ],
)
def test_short_histories_fall_back_to_named_simpler_methods(days, code, name):
    values = trend_season_noise(3, days=200)[-days:] if days else []
    forecast = forecast_series(values, horizon=10, start=START, method="ets_aada" if days >= 35 else "auto")
    assert (forecast.method_code, forecast.method) == (code, name)
    assert forecast.history_days == days
    assert len(forecast.points) == 10
    assert ordered(forecast)


def test_leading_zero_days_are_before_the_series_began():
    """GIVEN 300 days of which the first 280 are zero WHEN forecast THEN the method sees 20 days."""
    values = [0] * 280 + list(trend_season_noise(4, days=20))
    forecast = forecast_series(values, horizon=7)
    assert (forecast.history_days, forecast.method_code) == (20, "seasonal_naive")


def test_seasonal_naive_repeats_last_week_and_widens_by_weeks_ahead():
    values = trend_season_noise(5, days=21)
    forecast = forecast_series(values, horizon=21)
    np.testing.assert_allclose(forecast.value, np.tile(values[-7:], 3))
    width = forecast.high(95) - forecast.low(95)
    np.testing.assert_allclose(width[7:14], width[:7] * np.sqrt(2))
    np.testing.assert_allclose(width[14:], width[:7] * np.sqrt(3))


@pytest.mark.parametrize(
    "values",
    [
        [0] * 90,
        [7] * 90,
        [Decimal("12.5")] * 60,
        [0] * 89 + [5],
        [5] + [0] * 89,
        [0, 1000] * 45,  # every other day
        list(np.where(np.arange(120) % 7 == 3, 1e6, 0.0)),  # one day a week
        [1e12 + i for i in range(60)],
        [1e-9 * (1 + i % 7) for i in range(60)],
        [10, 10, 10, 10, 10, 10, 11] * 10,
    ],
    ids=[
        "zeros",
        "constant",
        "decimals",
        "one-day-at-the-end",
        "one-day-at-the-start",
        "alternating",
        "weekly-spike",
        "huge",
        "tiny",
        "nearly-constant",
    ],
)
def test_degenerate_series_never_raise(values):
    forecast = forecast_series(values, horizon=30, start=START)
    assert len(forecast.points) == 30
    assert ordered(forecast)
    assert np.all(np.isfinite(forecast.value))


def test_constant_and_zero_series_are_flat_without_an_interval():
    zero = forecast_series([0] * 50, horizon=5)
    assert zero.method_code == "flat"
    assert zero.value.tolist() == [0.0] * 5
    constant = forecast_series([42] * 50, horizon=5)
    assert (constant.method_code, constant.method) == ("flat", "Flat: the history never varied (no interval)")
    assert constant.low(95).tolist() == constant.high(95).tolist() == [42.0] * 5


def test_a_fit_that_fails_falls_back_to_seasonal_naive(monkeypatch):
    def broken_fit(self, *args, **kwargs):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(ETSModel, "fit", broken_fit)
    forecast = forecast_series(trend_season_noise(6), horizon=14)
    assert forecast.method_code == "seasonal_naive"
    assert "singular matrix" in forecast.fallback_reason


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="finite"):
        forecast_series([1.0, float("nan"), 2.0], horizon=3)
    with pytest.raises(ValueError, match="horizon"):
        forecast_series([1, 2, 3], horizon=-1)
    with pytest.raises(ValueError, match="start"):
        forecast_series([1, 2, 3], horizon=3, scenario=(START, 2))
    with pytest.raises(ValueError, match="factor"):
        forecast_series([1, 2, 3], horizon=3, start=START, scenario=(START, -1))
    with pytest.raises(ValueError, match="method"):
        forecast_series([1, 2, 3], horizon=3, method="prophet")


# Output ---------------------------------------------------------------------------------------------


def test_nothing_is_negative_even_for_a_falling_series():
    """GIVEN usage falling towards zero WHEN forecast far ahead THEN the model's negative values
    and bounds are clipped at 0."""
    rng = np.random.default_rng(8)
    t = np.arange(90)
    values = np.maximum(2000 - 22 * t + WEEK[t % 7] + rng.normal(0, 40, t.size), 1)
    for method in ("auto", "ets_aada", "seasonal_naive", "mean"):
        forecast = forecast_series(values, horizon=120, method=method)
        arrays = [forecast.value, *(a for level in (80, 95) for a in (forecast.low(level), forecast.high(level)))]
        assert all(np.all(a >= 0) for a in arrays), method
        assert ordered(forecast), method
    assert forecast_series(values, horizon=120, method="ets_aada").low(95)[-1] == 0


def test_points_are_dated_and_serialise_to_json_ready_dicts():
    forecast = forecast_series(trend_season_noise(9), horizon=3, start=date(2026, 12, 31))
    dicts = forecast.as_dicts()
    assert [d["date"] for d in dicts] == ["2026-12-31", "2027-01-01", "2027-01-02"]
    assert set(dicts[0]) == {"date", "value", "low80", "high80", "low95", "high95"}
    assert all(isinstance(d["value"], float) for d in dicts)
    assert forecast.points[1].date == date(2027, 1, 1)
    assert forecast.points[1].high95 == dicts[1]["high95"] == forecast.high(95)[1]
    undated = forecast_series(trend_season_noise(9), horizon=3)
    assert undated.points[0].date is None and undated.as_dicts()[0]["date"] is None


@pytest.mark.parametrize("days", [0, 2, 10, 20, 60])
def test_a_zero_day_horizon_has_no_points(days):
    forecast = forecast_series(trend_season_noise(14)[:days], horizon=0, start=START)
    assert forecast.points == () and forecast.value.size == 0 and forecast.as_dicts() == []


def test_other_interval_levels():
    forecast = forecast_series(trend_season_noise(10), horizon=5, levels=(50, 99))
    assert forecast.levels == (50, 99)
    assert np.all(forecast.low(99) < forecast.low(50))
    assert forecast.points[0].low80 is None
    assert set(forecast.as_dicts()[0]) == {"date", "value", "low50", "high50", "low99", "high99"}


def test_a_scenario_multiplies_point_and_bounds_from_its_date():
    values = trend_season_noise(11)
    plain = forecast_series(values, horizon=30, start=START)
    from_day = START + timedelta(days=10)
    scaled = forecast_series(values, horizon=30, start=START, scenario=(from_day, Decimal("1.5")))
    np.testing.assert_array_equal(scaled.value[:10], plain.value[:10])
    np.testing.assert_allclose(scaled.value[10:], plain.value[10:] * 1.5)
    for level in (80, 95):
        np.testing.assert_array_equal(scaled.low(level)[:10], plain.low(level)[:10])
        np.testing.assert_allclose(scaled.low(level)[10:], plain.low(level)[10:] * 1.5)
        np.testing.assert_allclose(scaled.high(level)[10:], plain.high(level)[10:] * 1.5)
    before = forecast_series(values, horizon=30, start=START, scenario=(START - timedelta(days=3), 0.5))
    np.testing.assert_allclose(before.value, plain.value * 0.5)
    after = forecast_series(values, horizon=30, start=START, scenario=(START + timedelta(days=30), 3))
    np.testing.assert_array_equal(after.value, plain.value)


def test_forecast_many_in_worker_processes_equals_one_by_one():
    series = [trend_season_noise(seed, days=40 + seed % 30) for seed in range(100)]
    parallel = forecast_many(series, horizon=20, start=START, processes=2)
    serial = [forecast_series(values, horizon=20, start=START) for values in series]
    assert [f.method_code for f in parallel] == [f.method_code for f in serial]
    for a, b in zip(parallel, serial, strict=True):
        np.testing.assert_allclose(a.value, b.value)
        np.testing.assert_allclose(a.high(95), b.high(95))
        assert a.points[0].date == START


def test_single_blas_thread_is_harmless():
    with single_blas_thread():
        assert float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3)) == 9.0


# Backtests -----------------------------------------------------------------------------------------


def test_error_measures_by_hand():
    actual = np.array([[100.0, 0.0, 50.0, 0.0]])
    forecast = np.array([[110.0, 10.0, 40.0, 0.0]])
    assert mape(actual, forecast) == pytest.approx((10 + 20) / 2)  # zero actuals skipped
    assert mape(np.zeros((1, 3)), np.ones((1, 3))) is None
    expected = 200 / 4 * (10 / 210 + 10 / 10 + 10 / 90 + 0)  # 0 vs 0 counts as 0
    assert smape(actual, forecast) == pytest.approx(expected)
    assert mase(actual, forecast, np.array([5.0])) == pytest.approx(7.5 / 5)
    assert mase(actual, forecast, np.array([0.0])) is None


def test_backtest_of_seasonal_naive_is_its_own_baseline():
    values = trend_season_noise(12, days=120)
    result = backtest(values, method="seasonal_naive")
    assert result["origins"] == 8 and result["horizon"] == 14 and result["methods"] == {"seasonal_naive": 8}
    for measure in ("mape", "smape", "mase"):
        assert result[measure] == pytest.approx(result[f"baseline_{measure}"])


def test_backtest_mase_is_scaled_by_the_training_windows_seasonal_naive_error():
    """MASE by hand for one origin: the forecast's MAE over the in-sample MAE of y[t] − y[t−7]."""
    values = trend_season_noise(13, days=60)
    result = backtest(values, horizon=14, origins=1)
    train, test = values[:46], values[46:]
    forecast = forecast_series(train, horizon=14)
    scale = np.mean(np.abs(train[7:] - train[:-7]))
    assert result["mase"] == pytest.approx(np.mean(np.abs(test - forecast.value)) / scale)
    naive = np.tile(train[-7:], 2)
    assert result["baseline_mase"] == pytest.approx(np.mean(np.abs(test - naive)) / scale)


def test_backtest_without_enough_history_has_no_origins():
    result = backtest([5, 6, 7] * 8, horizon=14, origins=8)
    assert result["origins"] == 0
    assert result["mase"] is None and result["coverage80"] is None and result["baseline_mape"] is None


# Real data -----------------------------------------------------------------------------------------


@needs_shared_data
def test_openrouter_total_daily_tokens():
    """GIVEN OpenRouter's public daily token totals (2025-01-01 → 2026-09-17, CC BY 4.0; each day's
    rows, `other` included, sum to all traffic; two unpublished days filled from their neighbours)
    WHEN forecast to the end of the year and backtested THEN ETS is used, the forecast is sane and
    beats seasonal naive on every measure."""
    totals: dict[date, int] = defaultdict(int)
    with (SHARED_DATA / "openrouter-rankings-daily" / "rankings_daily.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            totals[date.fromisoformat(row["date"])] += int(row["total_tokens"])
    first, last = min(totals), max(totals)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    values = np.array([totals.get(day, np.nan) for day in days], dtype=float)
    gaps = np.isnan(values)
    assert gaps.sum() == 2  # 2025-06-15 and 2025-07-15 were never published
    values[gaps] = np.interp(np.flatnonzero(gaps), np.flatnonzero(~gaps), values[~gaps])

    forecast = forecast_series(values, horizon=105, start=last + timedelta(days=1))
    assert forecast.method_code in ("ets_aada", "ets_log_aada")
    assert forecast.points[-1].date == date(2026, 12, 31)
    assert ordered(forecast)
    recent = values[-28:].mean()
    assert 0.5 * recent < forecast.value[:28].mean() < 2 * recent

    result = backtest(values, horizon=14, origins=8)
    assert result["origins"] == 8
    for measure in ("mape", "smape", "mase"):
        assert result[measure] < result[f"baseline_{measure}"], measure
    assert result["coverage95"] >= result["coverage80"] >= 0.5
