"""Forecast API paths (config/api_router.py): `forecasts/` answers one object (the latest
forecast of a subject), so it is a plain path, not a router list."""

from django.urls import path

from .forecasts import CashApi, ForecastLatestApi, ForecastRefreshApi, ForecastScenarioViewSet

ROUTES = [("forecast-scenarios", ForecastScenarioViewSet, "forecastscenario")]

PATHS = [
    path("forecasts/", ForecastLatestApi.as_view(), name="forecast-latest"),
    path("forecasts/refresh", ForecastRefreshApi.as_view(), name="forecast-refresh"),
    path("forecasts/refresh/", ForecastRefreshApi.as_view(), name="forecast-refresh-slash"),
    path("cash", CashApi.as_view(), name="cash"),
]
