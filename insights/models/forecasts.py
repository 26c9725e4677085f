"""Stored, versioned forecasts of daily tokens and cost, and the scenarios people compare."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.fields import CurrencyField
from core.models import JobRun


class ForecastScenario(models.Model):
    """ "Traffic × `multiplier` from `starts_on`" for one subject (or, blank, every subject)."""

    name = models.CharField(max_length=120)
    subject = models.CharField(max_length=200, blank=True, help_text="e.g. department:ENG-AI; blank: all")
    multiplier = models.DecimalField(max_digits=9, decimal_places=4)
    starts_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name}: × {self.multiplier.normalize()} from {self.starts_on}"


class Forecast(models.Model):
    """One forecast of one subject's daily series: the method, the data it was fitted on, the
    points with their 80 % and 95 % intervals, and its backtest. Each refresh writes a new version;
    the newest per (subject, metric, scenario) has `is_latest`.

    `subject` is `company`, `department:<code>`, `vendor:<slug>`, `agreement:<reference>` or
    `series:<department code>/<vendor slug>/<model>` (the finest series)."""

    class Metric(models.TextChoices):
        TOKENS = "tokens", "Tokens"
        COST = "cost", "Cost"

    subject = models.CharField(max_length=300)
    metric = models.CharField(max_length=8, choices=Metric.choices)
    scenario = models.ForeignKey(
        ForecastScenario, null=True, blank=True, on_delete=models.CASCADE, related_name="forecasts"
    )
    version = models.PositiveIntegerField(default=1)
    is_latest = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    method = models.CharField(max_length=200)
    history_start = models.DateField(null=True, blank=True)
    history_end = models.DateField(null=True, blank=True, help_text="The last day of data used.")
    horizon_end = models.DateField(null=True, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the series fitted.")
    currency = CurrencyField(blank=True)
    # [{"date": "2026-11-23", "value": "…", "low80": …, "high80": …, "low95": …, "high95": …}]
    points = models.JSONField(default=list)
    # The actuals fitted, for the chart beside the forecast: [{"date", "value"}]
    actuals = models.JSONField(default=list, blank=True)
    # {"mape", "smape", "mase", "baseline_mape", "baseline_smape", "baseline_mase", "origins", "horizon"}
    backtest = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["subject", "metric", "-version"]
        indexes = [models.Index(fields=["subject", "metric", "is_latest"], name="insights_forecast_latest")]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "metric", "scenario", "version"],
                name="insights_forecast_version",
                nulls_distinct=False,
            ),
            models.UniqueConstraint(
                fields=["subject", "metric", "scenario"],
                condition=models.Q(is_latest=True),
                name="insights_forecast_one_latest",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} {self.metric} v{self.version} ({self.method})"
