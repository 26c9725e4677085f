"""General-ledger account codes for the month-end journal export."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from procurement.models import Department, Vendor


class GlAccount(models.Model):
    """An account code for one purpose, optionally only for one vendor or department (the most
    specific row wins: vendor and department, then vendor, then department, then neither).

    Purposes: `expense` (LLM spend, debited to the department's cost centre), `accrual` (the
    liability for usage not yet invoiced by the vendor), `recovery` (chargeback income of the
    central IT cost centre), `payable` (vendor invoices approved)."""

    class Purpose(models.TextChoices):
        EXPENSE = "expense", "Expense"
        ACCRUAL = "accrual", "Accrued liability"
        RECOVERY = "recovery", "Chargeback recovery"
        PAYABLE = "payable", "Accounts payable"

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    account_code = models.CharField(max_length=32)
    cost_centre = models.CharField(
        max_length=32, blank=True, help_text="Overrides the department's code as the cost centre (with a department)."
    )
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["purpose", "vendor_id", "department_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "vendor", "department"],
                name="billing_gl_account_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose}: {self.account_code}"
