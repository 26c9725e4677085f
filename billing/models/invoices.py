"""Chargeback invoices to departments and their credit notes, with gapless numbers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from contracts.models import TokenClass
from core.fields import CostField, CurrencyField
from procurement.models import Department, Vendor

# Invoice amounts: rounded to the currency's minor unit (at most 3 places in ISO 4217).
MONEY = {"max_digits": 22, "decimal_places": 3}


class InvoiceCounter(models.Model):
    """The last number given in a series and year. Issuing locks the row (SELECT … FOR UPDATE),
    takes the next number and commits with the invoice: numbers are gapless and never reused."""

    series = models.CharField(max_length=8)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="billing_counter_series_year")]

    def __str__(self) -> str:
        return f"{self.series}-{self.year}: {self.last_number}"


class Invoice(models.Model):
    """A department's chargeback invoice for a month, or a credit note correcting an issued one.

    draft → (approved, when four-eyes is on) → issued. Drafts are regenerated freely; an issued
    invoice never changes (its lines, totals, issuer details and PDF bytes are frozen)."""

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        ISSUED = "issued", "Issued"

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    number = models.CharField(max_length=32, unique=True, null=True, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="invoices")
    period = models.DateField(help_text="The month invoiced (its first day).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    currency = CurrencyField()
    total = models.DecimalField(**MONEY, default=0)
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    original = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes")
    reason = models.TextField(blank=True)
    # Issuer details as they were at issue (OrganizationSettings may change later).
    issuer = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    generated_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(null=True, blank=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pdf = models.BinaryField(null=True, blank=True, editable=False)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    history = HistoricalRecords(excluded_fields=["pdf"])

    class Meta:
        ordering = ["-period", "department__code", "-id"]
        indexes = [models.Index(fields=["period", "status"]), models.Index(fields=["department", "period"])]
        constraints = [
            # one invoice (of kind invoice) per department and month
            models.UniqueConstraint(
                fields=["department", "period"],
                condition=models.Q(kind="invoice"),
                name="billing_invoice_one_per_department_month",
            ),
            models.CheckConstraint(condition=models.Q(period__day=1), name="billing_invoice_period_first_day"),
            models.CheckConstraint(
                condition=models.Q(kind="invoice", original__isnull=True)
                | models.Q(kind="credit_note", original__isnull=False),
                name="billing_credit_note_has_original",
            ),
            models.CheckConstraint(
                condition=models.Q(status="issued", number__isnull=False, issued_at__isnull=False)
                | (~models.Q(status="issued") & models.Q(number__isnull=True)),
                name="billing_invoice_number_iff_issued",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.get_kind_display().lower()} {self.department.code} {self.period:%Y-%m}"

    @property
    def is_issued(self) -> bool:
        return self.status == self.Status.ISSUED

    @property
    def period_label(self) -> str:
        return self.period.strftime("%Y-%m")


class InvoiceLine(models.Model):
    """One line. `usage`: a department's tokens of one vendor × model × token class in the month at
    the month's blended rate. `shortfall`: its share of a commitment's shortfall. `true_up`: volume
    true-ups booked in the month. `sla_credit`: SLA credits received, passed through.
    `adjustment`: a prior-period adjustment (`service_period` earlier than the invoice's month).
    `credit`: a credit note's line (negative of the original's)."""

    class Kind(models.TextChoices):
        USAGE = "usage", "Usage"
        SHORTFALL = "shortfall", "Commitment shortfall"
        TRUE_UP = "true_up", "Volume true-up"
        SLA_CREDIT = "sla_credit", "SLA credit"
        ADJUSTMENT = "adjustment", "Prior-period adjustment"
        CREDIT = "credit", "Credit"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.USAGE)
    # What the line charges: the usage line's kind for an adjustment (see `charge`).
    charge = models.CharField(max_length=12, choices=Kind.choices, default=Kind.USAGE)
    service_period = models.DateField(help_text="The month whose usage the line charges.")
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    model = models.CharField(max_length=200, blank=True)
    token_class = models.CharField(max_length=16, choices=TokenClass.choices, blank=True)
    tokens = models.BigIntegerField(default=0)
    unit_price = CostField(null=True, blank=True, help_text="Per 1 000 000 tokens, the month's blended rate.")
    amount = models.DecimalField(**MONEY)
    description = models.CharField(max_length=300, blank=True)
    # Where the figure came from (commitment id, SLA credit id, original line id, ...)
    reference = models.JSONField(default=dict, blank=True)
    original_line = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credited_by"
    )

    class Meta:
        ordering = ["invoice", "position", "id"]
        indexes = [models.Index(fields=["service_period", "charge"])]

    def __str__(self) -> str:
        return f"{self.description or self.kind}: {self.amount}"
