"""Vendors' invoices to us, and their reconciliation against expected charges."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from core.fields import CostField, CurrencyField
from procurement.models import Vendor

MONEY = {"max_digits": 22, "decimal_places": 6}


class VendorInvoice(models.Model):
    """An invoice a vendor sent: entered or uploaded by finance, approved before payment."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPROVED = "approved", "Approved"

    class TaxType(models.TextChoices):
        NONE = "none", "No tax invoice"
        VAT = "vat", "VAT invoice"
        FAPIAO_GENERAL = "fapiao_general", "Fapiao (general, 增值税普通发票)"
        FAPIAO_SPECIAL = "fapiao_special", "Fapiao (special, 增值税专用发票)"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64)
    po_number = models.CharField(max_length=64, blank=True)
    invoice_date = models.DateField()
    period = models.DateField(help_text="The month of usage invoiced (its first day).")
    due_date = models.DateField()
    currency = CurrencyField()
    subtotal = models.DecimalField(**MONEY)
    tax = models.DecimalField(**MONEY, default=0)
    total = models.DecimalField(**MONEY)
    tax_type = models.CharField(max_length=16, choices=TaxType.choices, default=TaxType.NONE)
    document = models.FileField(upload_to="vendor-invoices/%Y/%m/", blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["-invoice_date", "vendor_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "number"], name="billing_vendor_invoice_number"),
            models.CheckConstraint(condition=models.Q(period__day=1), name="billing_vendor_invoice_period_day"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.number}"


class VendorInvoiceLine(models.Model):
    invoice = models.ForeignKey(VendorInvoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    description = models.CharField(max_length=300)
    model = models.CharField(max_length=200, blank=True)
    tokens = models.BigIntegerField(null=True, blank=True)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["invoice", "position", "id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"


class Reconciliation(models.Model):
    """One vendor and month, in the vendor's billing currency: what we expected to be charged (rated
    usage + shortfall − SLA credits) against the vendor's invoices and the vendor's own cost feed.
    Recomputed on demand; the status and notes are people's, and the history keeps both."""

    class Status(models.TextChoices):
        MATCHED = "matched", "Matched"
        NEEDS_REVIEW = "needs_review", "Needs review"
        DISPUTED = "disputed", "Disputed"
        ACCEPTED = "accepted", "Accepted"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="reconciliations")
    period = models.DateField(help_text="The month (its first day).")
    currency = CurrencyField()
    expected_usage = CostField(default=0)
    expected_shortfall = CostField(default=0)
    expected_sla_credits = CostField(default=0)
    expected = CostField(default=0)
    invoiced = CostField(null=True, blank=True)
    vendor_reported = CostField(null=True, blank=True)
    variance = CostField(null=True, blank=True)
    variance_percent = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    tolerance_percent = models.DecimalField(max_digits=7, decimal_places=4, default=1)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEEDS_REVIEW)
    note = models.TextField(blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    # Flags the computation raised (unrated usage, missing FX, ...): shown beside the figures.
    warnings = models.JSONField(default=list, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-period", "vendor__slug"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "period"], name="billing_reconciliation_vendor_period"),
            models.CheckConstraint(condition=models.Q(period__day=1), name="billing_reconciliation_period_day"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.period:%Y-%m}: {self.status}"
