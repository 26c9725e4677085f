"""The forecasting methods, on plain numpy arrays: each takes the history (floats, oldest first) and
a horizon and returns a `RawForecast` — the point forecast and, per interval level, the lower and
upper bounds, not yet clipped at zero. `engine.forecast_series` chooses among them.

- `ets_aada` (≥ 35 days): ETS(A,Ad,A) — additive error, additive damped trend, additive weekly
  season — fitted with statsmodels' `ETSModel`; analytic normal intervals;
- `ets_log_aada` (≥ 35 days, none of them zero): the same on log(tokens), kept instead when it fits
  the history better (likelihood of the tokens);
- `seasonal_naive` (≥ 14 days): each day as the same weekday a week earlier; empirical interval;
- `mean` (≥ 3 days): the mean of the history; normal interval;
- `flat` (anything): the history's average (or zero), no interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from .threads import single_blas_thread

SEASON = 7  # days in the weekly cycle
ETS_MIN_DAYS = 35  # five full weeks: each weekday seen five times before its seasonal state is trusted
SEASONAL_NAIVE_MIN_DAYS = 14  # two weeks: one week to repeat, one week of errors for the interval
MEAN_MIN_DAYS = 3  # below this there is no spread to measure


@dataclass
class RawForecast:
    """A method's output: `value` (horizon,) and `bounds[level] = (low, high)` arrays."""

    code: str
    name: str
    value: np.ndarray
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]
    params: dict[str, float] = field(default_factory=dict)


class FitFailed(Exception):
    """An ETS fit that gave no usable forecast (the caller falls back to a simpler method)."""


def z_score(level: float) -> float:
    """The standard normal quantile of a central `level` % interval (80 → 1.2816)."""
    return NormalDist().inv_cdf(0.5 + level / 200)


# Exponential smoothing --------------------------------------------------------------------------------

ETS_NAME = "Exponential smoothing (additive damped trend, weekly season)"
ETS_LOG_NAME = "Exponential smoothing of log tokens (damped growth, weekly season in proportion)"


@dataclass
class _EtsFit:
    mean: np.ndarray  # (horizon,) point forecast on the fitted scale
    sd: np.ndarray  # (horizon,) forecast standard deviation on the fitted scale
    sigma: float  # the one-step standard deviation (root mean square of the residuals)
    loglik: float  # Gaussian log-likelihood of the fitted (transformed, scaled) data
    params: dict[str, float]


def _fit_ets(y: np.ndarray, horizon: int, *, initialization: str, maxiter: int) -> _EtsFit:
    """Fit ETS(A,Ad,A) to `y` by maximum likelihood with statsmodels' `ETSModel` and forecast
    `horizon` steps in closed form (Hyndman et al. 2008, *Forecasting with Exponential Smoothing*,
    §6.3, class 1): ŷ(h) = ℓ + (φ + … + φʰ)·b + s(h), with forecast variance σ²·(1 + Σⱼ₌₁ʰ⁻¹ cⱼ²),
    cⱼ = α + β·(φ + … + φʲ) + γ·[7 divides j], σ² the residuals' mean square. This is what
    `ETSResults.get_prediction(...).summary_frame(alpha)` answers for this model (a test checks
    it), without building statsmodels' results object, whose numerical Hessian costs as much as the
    fit itself."""
    with warnings.catch_warnings(), single_blas_thread(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            model = ETSModel(
                y,
                error="add",
                trend="add",
                damped_trend=True,
                seasonal="add",
                seasonal_periods=SEASON,
                initialization_method=initialization,
            )
            params = np.asarray(model.fit(disp=False, maxiter=maxiter, return_params=True))
            fitted, states = model.smooth(params, return_raw=True)
        except Exception as exc:  # any failure of the fit falls back: forecasting never raises
            raise FitFailed(f"{type(exc).__name__}: {exc}") from exc
    named = dict(zip(model.param_names, params.tolist(), strict=True))
    alpha, beta = named["smoothing_level"], named["smoothing_trend"]
    gamma, phi = named["smoothing_seasonal"], named["damping_trend"]
    states = np.asarray(states)
    level, slope = states[-1, 0], states[-1, 1]
    season = states[-SEASON:, 2]  # the last seasonal state of each weekday, oldest first
    steps = np.arange(1, horizon + 1)
    damped = np.cumsum(phi**steps)  # φ + φ² + … + φʰ
    mean = level + damped * slope + season[(steps - 1) % SEASON]
    sigma2 = float(np.mean((y - np.asarray(fitted)) ** 2))
    c = alpha + beta * damped[:-1] + gamma * (steps[:-1] % SEASON == 0)
    variance = sigma2 * (1 + np.concatenate(([0.0], np.cumsum(c**2)))[:horizon])
    loglik = -y.size / 2 * (np.log(2 * np.pi * sigma2) + 1) if sigma2 > 0 else np.inf
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))):
        raise FitFailed("the fitted model gives a non-finite forecast")
    params = {"alpha": alpha, "beta": beta, "gamma": gamma, "phi": phi}
    return _EtsFit(mean, np.sqrt(variance), float(np.sqrt(sigma2)), float(loglik), params)


def ets_damped_weekly(
    history: np.ndarray,
    horizon: int,
    levels: tuple[int, ...],
    *,
    variant: str = "auto",
    initialization: str = "heuristic",
    maxiter: int = 1000,
) -> RawForecast:
    """ETS(A,Ad,A) — additive error, additive damped trend (φ in [0.8, 0.98]), additive weekly
    season — on the tokens themselves, or on their logarithm, whichever fits the history better.

    *Additive*: fitted to the series divided by its mean absolute value (the model is linear, so
    this changes nothing but the optimizer's conditioning: daily tokens reach 10¹¹) and multiplied
    back; normal intervals ŷ ± z·σₕ.

    *Log* (only for histories without a zero day): fitted to log(tokens), so growth is a rate, the
    weekly pattern a proportion and the noise proportional to the level — how usage that grows by a
    few percent a month behaves. The bounds are exp(μ ± z·σₕ) (quantiles survive the transform)
    and the point forecast is the median exp(μ). The mean, exp(μ + σₕ²/2), would be 1–4 % higher
    by day 120 on a steady series, but on a volatile one (a model's first weeks after launch) σₕ
    grows so fast that the mean lands far above the data — up to 20× in the OpenRouter backtests,
    where it tripled the mean MAPE; the median is also what minimises the absolute errors MASE
    counts.

    `variant="auto"` fits both and keeps the one with the higher likelihood *of the tokens* (the
    log model's likelihood less Σ log y, the Jacobian of the transform; both have the same number
    of parameters, so this is also the AIC choice). Initial states: statsmodels' heuristic
    decomposition of the first weeks (Hyndman et al. 2008, §2.6.1); estimating them with the
    smoothing parameters made the fits 5.5× slower for a MASE better by 1–2 % (measured on the
    benchmark's series, see benchmarks/README.md).
    """
    candidates: list[tuple[float, RawForecast]] = []
    failures = []
    if variant in ("auto", "additive"):
        scale = float(np.mean(np.abs(history)))
        try:
            fit = _fit_ets(history / scale, horizon, initialization=initialization, maxiter=maxiter)
        except FitFailed as exc:
            failures.append(str(exc))
        else:
            value, sd = fit.mean * scale, fit.sd * scale
            bounds = {lv: (value - z_score(lv) * sd, value + z_score(lv) * sd) for lv in levels}
            loglik = fit.loglik - history.size * np.log(scale)
            params = {**fit.params, "sigma": fit.sigma * scale}
            candidates.append((loglik, RawForecast("ets_aada", ETS_NAME, value, bounds, params)))
    if variant in ("auto", "log") and history.min() > 0:
        logs = np.log(history)
        shift = float(np.mean(logs))
        try:
            fit = _fit_ets(logs - shift, horizon, initialization=initialization, maxiter=maxiter)
        except FitFailed as exc:
            failures.append(str(exc))
        else:
            mu = fit.mean + shift
            with np.errstate(over="ignore"):
                value = np.exp(mu)
                bounds = {lv: (np.exp(mu - z_score(lv) * fit.sd), np.exp(mu + z_score(lv) * fit.sd)) for lv in levels}
            if np.all(np.isfinite(value)) and all(np.all(np.isfinite(hi)) for _, hi in bounds.values()):
                loglik = fit.loglik - float(np.sum(logs))
                params = {**fit.params, "sigma_log": fit.sigma}
                candidates.append((loglik, RawForecast("ets_log_aada", ETS_LOG_NAME, value, bounds, params)))
            else:
                failures.append("the log model's forecast overflows")
    if not candidates:
        raise FitFailed("; ".join(failures) or "no model applies")
    return max(candidates, key=lambda pair: pair[0])[1]


# Simpler methods for short histories ---------------------------------------------------------------


def seasonal_naive(history: np.ndarray, horizon: int, levels: tuple[int, ...]) -> RawForecast:
    """Each day as the same weekday of the last week of history. Interval: the empirical quantiles
    of the history's own week-on-week changes (y[t] − y[t−7]), widened by √k for a day k weeks
    ahead (k = 1 for the first seven days), as the errors of a seasonal random walk add up."""
    steps = np.arange(1, horizon + 1)
    last_week = history[-SEASON:]
    value = last_week[(steps - 1) % SEASON].astype(float)
    changes = history[SEASON:] - history[:-SEASON]
    widen = np.sqrt((steps - 1) // SEASON + 1)
    bounds = {}
    for lv in levels:
        tail = (1 - lv / 100) / 2
        low, high = np.quantile(changes, [tail, 1 - tail]) if changes.size else (0.0, 0.0)
        bounds[lv] = (value + min(low, 0.0) * widen, value + max(high, 0.0) * widen)
    return RawForecast(
        code="seasonal_naive",
        name="Seasonal naive (same weekday a week earlier), empirical interval",
        value=value,
        bounds=bounds,
    )


def mean_method(history: np.ndarray, horizon: int, levels: tuple[int, ...]) -> RawForecast:
    """The mean of the history, every day. Interval: normal, ȳ ± z·s·√(1 + 1/n) (the mean method's
    forecast variance). Chosen over drift for histories this short: a slope from a few days,
    carried to the end of a fiscal year, would mostly extrapolate noise."""
    n = history.size
    mean = float(np.mean(history))
    spread = float(np.std(history, ddof=1)) * np.sqrt(1 + 1 / n)
    value = np.full(horizon, mean)
    bounds = {lv: (value - z_score(lv) * spread, value + z_score(lv) * spread) for lv in levels}
    return RawForecast(
        code="mean",
        name=f"Mean of the {n} days of history, normal interval",
        value=value,
        bounds=bounds,
        params={"sigma": spread},
    )


def flat(history: np.ndarray, horizon: int, levels: tuple[int, ...], *, name: str) -> RawForecast:
    """The history's average every day (zero without history), with no interval: too little to
    measure one, or a history that never varied."""
    value = np.full(horizon, float(np.mean(history)) if history.size else 0.0)
    return RawForecast(code="flat", name=name, value=value, bounds=dict.fromkeys(levels, (value, value)))
