from django.apps import AppConfig


class InsightsConfig(AppConfig):
    """Forecasts, alerts and their delivery, monthly reports."""

    name = "insights"
    verbose_name = "Insights"
