from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Forecasts, alerts and their delivery, monthly reports."""

    name = "insights"
    verbose_name = "Insights"

    def ready(self) -> None:
        from billing.projections import register_forecast_source

        from .services.forecasts import latest_points

        # billing's budget and commitment projections read the latest forecasts (billing cannot
        # import insights: it sits below)
        register_forecast_source(latest_points)
        # tasks registered here, so eager mode and apply_async find them
        for module in ("tasks_forecasts", "tasks_reports", "tasks"):
            if find_spec(f"{self.name}.{module}") is not None:
                import_module(f"{self.name}.{module}")
        # the unread count of the user's alert inbox beside "Alerts" in the sidebar
        from core.navigation import register_badge

        from .selectors.alerts import inbox_unread_count

        register_badge("insights:alert_list", inbox_unread_count)
