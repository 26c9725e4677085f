"""SLA credits owed by vendors: what SLA evaluation (issue 9) finds, tracked until received and
passed through to departments on their invoices."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from contracts.models import Agreement, SlaClause
from core.fields import CostField, CurrencyField


class SlaCredit(models.Model):
    """The credit one SLA clause earns for one month (`period`), in the agreement's currency.
    Once `received_on` is set (status `received`), the credit is passed through to the
    departments on the invoices of the month it was received in, pro rata to their charges for
    the clause's models in `period` (the in-scope charges it was computed on)."""

    class Status(models.TextChoices):
        OWED = "owed", "Owed"
        CLAIMED = "claimed", "Claimed"
        RECEIVED = "received", "Received"
        WAIVED = "waived", "Waived"

    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="sla_credits")
    clause = models.ForeignKey(SlaClause, null=True, blank=True, on_delete=models.SET_NULL, related_name="credits")
    period = models.DateField(help_text="The month evaluated (its first day).")
    metric = models.CharField(max_length=32)
    models_in_scope = models.JSONField(default=list, blank=True)
    target = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    measured = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    breach = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    credit_percent = models.DecimalField(max_digits=9, decimal_places=4, default=0)
    in_scope_charges = CostField(default=0)
    credit = CostField(default=0)
    currency = CurrencyField()
    claim_by = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OWED)
    received_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period", "agreement_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["clause", "period"], name="billing_sla_credit_clause_period"),
            models.CheckConstraint(
                condition=~models.Q(status="received") | models.Q(received_on__isnull=False),
                name="billing_sla_credit_received_on",
            ),
        ]

    def __str__(self) -> str:
        return f"SLA credit {self.agreement_id} {self.period:%Y-%m}: {self.credit} {self.currency}"
