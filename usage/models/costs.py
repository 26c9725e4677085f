"""Vendor cost lines: what a vendor's own cost feed says it charged (OpenAI costs, Anthropic
cost_report, FOCUS, OpenRouter activity), kept exactly as the feed stated it, for reconciliation."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from core.fields import CurrencyField
from procurement.models import Vendor

from .runs import IngestionRun
from .sources import Source


class ExactDecimalField(models.DecimalField):
    """PostgreSQL `numeric` without precision or scale: the value keeps every digit and the
    scale the feed wrote ("0.00000080000" stays that), which a fixed-scale column would change."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 1000)
        kwargs.setdefault("decimal_places", 500)
        super().__init__(*args, **kwargs)

    def db_type(self, connection) -> str:
        return "numeric"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_digits", None)
        kwargs.pop("decimal_places", None)
        return name, path, args, kwargs


class VendorCostLine(models.Model):
    """One line of a vendor's cost feed. `amount` is in `currency`'s major unit, exactly equal to
    what the feed stated (`amount_as_given` and `amount_unit` keep its own text and unit, e.g.
    Anthropic's "123.78912" cents). For FOCUS rows `amount` is `BilledCost`, and the other FOCUS
    cost columns are kept beside it. The idempotency key makes a re-upload change nothing and a
    changed amount for the same line a restatement (`version` counts, `superseded` keeps the
    earlier amounts)."""

    key = models.BinaryField(max_length=16, unique=True)
    content = models.BinaryField(max_length=16)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="cost_lines")
    run = models.ForeignKey(IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="cost_lines")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="cost_lines")
    feed = models.CharField(max_length=32, help_text="The format the line came in.")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    description = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    line_item = models.CharField(max_length=300, blank=True)
    charge_category = models.CharField(max_length=32, blank=True, help_text="FOCUS ChargeCategory, or Usage.")
    amount = ExactDecimalField()
    amount_as_given = models.CharField(max_length=100)
    amount_unit = models.CharField(max_length=16, default="major", help_text="major, or cents (Anthropic).")
    currency = CurrencyField()
    billed_cost = ExactDecimalField(null=True, blank=True)
    effective_cost = ExactDecimalField(null=True, blank=True)
    list_cost = ExactDecimalField(null=True, blank=True)
    contracted_cost = ExactDecimalField(null=True, blank=True)
    quantity = ExactDecimalField(null=True, blank=True)
    quantity_unit = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=255, blank=True)
    api_key_id = models.CharField(max_length=255, blank=True)
    workspace_id = models.CharField(max_length=255, blank=True)
    dimensions = models.JSONField(default=dict, blank=True, help_text="The feed's other columns.")
    version = models.PositiveIntegerField(default=1)
    superseded = models.JSONField(default=list, blank=True, help_text="Earlier amounts: amount, run, at.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period_start", "vendor_id", "id"]
        indexes = [models.Index(fields=["vendor", "period_start"], name="cost_line_vendor_period")]

    def __str__(self) -> str:
        return f"{self.vendor_id} {self.period_start:%Y-%m-%d} {self.description or self.model} {self.amount}"
