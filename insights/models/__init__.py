"""insights' models: forecasts and their scenarios, alerts, alert rules, deliveries and the inbox."""

from .alerts import Alert, AlertDelivery, AlertRule, InboxItem
from .forecasts import Forecast, ForecastScenario

__all__ = ["Alert", "AlertDelivery", "AlertRule", "Forecast", "ForecastScenario", "InboxItem"]
