"""Forecasting engine: daily series → point forecasts with intervals, and their backtests.

Pure functions on sequences of numbers; storage, API and UI call these.
"""

from .backtest import backtest
from .engine import (
    DEFAULT_LEVELS,
    MAX_HISTORY_DAYS,
    METHOD_ETS,
    METHOD_ETS_LOG,
    METHOD_FLAT,
    METHOD_MEAN,
    METHOD_SEASONAL_NAIVE,
    METHODS,
    ForecastPoint,
    SeriesForecast,
    forecast_many,
    forecast_series,
)

__all__ = [
    "DEFAULT_LEVELS",
    "MAX_HISTORY_DAYS",
    "METHODS",
    "METHOD_ETS",
    "METHOD_ETS_LOG",
    "METHOD_FLAT",
    "METHOD_MEAN",
    "METHOD_SEASONAL_NAIVE",
    "ForecastPoint",
    "SeriesForecast",
    "backtest",
    "forecast_many",
    "forecast_series",
]
