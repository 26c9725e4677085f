"""insights' models: forecasts and their scenarios, alerts, alert rules, deliveries and the inbox,
monthly reports and their deliveries."""

from .alerts import Alert, AlertDelivery, AlertRule, InboxItem
from .forecasts import Forecast, ForecastScenario
from .reports import MonthlyReport, ReportDelivery

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertRule",
    "Forecast",
    "ForecastScenario",
    "InboxItem",
    "MonthlyReport",
    "ReportDelivery",
]
