"""How records were rated (their shared rating bases), and volume true-ups: the adjustment entries
recorded when a pricing period with volume tiers ends."""

from __future__ import annotations

from django.db import models

from core.fields import CostField, CurrencyField
from procurement.models import Department, Vendor


class RatingBasis(models.Model):
    """How a record was rated under an agreement: per token class the rule, schedule, tier and rate
    used, or the list rate of a class without a rule. For example
        {"agreement": 7,
         "input": {"rule": 12, "schedule": "graduated", "tier": 1, "position": 99999000000,
                   "parts": [[0, 1000000, "0.270000"], [1, 2000000, "0.200000"]]},
         "output": {"rule": 13, "schedule": "volume", "tier": 0, "rate": "0.300000", "provisional": true},
         "cache_write": {"list_rate": "3.750000"}}
    (`position` and `parts` only where the record crosses a graduated tier boundary).

    Shared, not stored on each record: almost every record of an agreement is rated on one of a
    few bases, and a usage record that gained ~300 bytes of JSON when first rated no longer fitted
    its page, so the update moved it and touched its indexes; a record carries only the basis id
    (UsageRecord.rating_basis). The id is the content's address — the first 8 bytes of the MD5 of
    the JSON text as a signed integer (usage.pipeline.rerate.basis_id) — so rating needs no
    round trip to number a basis, and an id once written always means the same content: rows are
    never changed or deleted (history keeps ids), and a rating that finds an id taken by other
    content stops rather than mislabel records."""

    id = models.BigIntegerField(primary_key=True)
    detail = models.JSONField()

    class Meta:
        db_table = "usage_rating_basis"

    def __str__(self) -> str:
        return f"rating basis {self.id}"


class TrueUp(models.Model):
    """One adjustment entry: the records of one department and model rated under one volume rule
    in one ended pricing period, repriced at the tier the period finally reached.

    `adjustment` = `final_cost` − `provisional_cost` in the agreement's currency (negative when the
    price fell with volume: a credit). It is booked on `period_end`, and converted to the reporting
    currency at that day's rate. Late data or an amendment recomputes it: the row takes the new
    figures, its `version` goes up and the figures it replaces are kept in `superseded`."""

    agreement_id = models.BigIntegerField()
    rule_id = models.BigIntegerField()
    token_class = models.CharField(max_length=16)
    period_start = models.DateField()
    period_end = models.DateField()
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    model = models.CharField(max_length=200)
    tokens = models.BigIntegerField()
    final_rate = models.DecimalField(max_digits=18, decimal_places=6, help_text="Per 1 000 000 tokens.")
    provisional_cost = CostField()
    final_cost = CostField()
    adjustment = CostField()
    currency = CurrencyField()
    adjustment_reporting = CostField(null=True, blank=True)
    reporting_currency = CurrencyField(blank=True)
    fx_status = models.CharField(max_length=8, blank=True)
    version = models.PositiveIntegerField(default=1)
    superseded = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        db_table = "usage_true_up"
        ordering = ["-period_end", "agreement_id", "rule_id", "department_id", "model"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule_id", "period_start", "department", "model"], name="usage_true_up_unique"
            )
        ]

    def __str__(self) -> str:
        return f"true-up rule {self.rule_id} {self.period_start}–{self.period_end} {self.model}: {self.adjustment}"
