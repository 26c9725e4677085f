"""Budgets: per department per fiscal year, in the reporting currency, phased by month."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.fields import AmountField, CurrencyField
from core.models import TimeStampedModel

from .departments import Department
from .vendors import Vendor


def default_thresholds() -> list[Decimal]:
    return [Decimal(50), Decimal(80), Decimal(100)]


class Budget(TimeStampedModel):
    """`fiscal_year` names the calendar year in which the fiscal year starts: with a fiscal year
    starting in April, fiscal year 2026 runs from 1 April 2026 to 31 March 2027. The budget
    covers the department and its sub-departments; with a vendor, only that vendor's spend."""

    class Action(models.TextChoices):
        WARN = "warn", "Warn"
        BLOCK = "block", "Block (advisory: the alert says spend must stop)"
        IGNORE = "ignore", "Ignore"

    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="budgets")
    fiscal_year = models.PositiveSmallIntegerField(validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    amount = AmountField()
    currency = CurrencyField()
    monthly_amounts = ArrayField(
        AmountField(),
        default=list,
        blank=True,
        help_text="Twelve amounts, first month of the fiscal year first; empty means evenly phased.",
    )
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="budgets")
    thresholds = ArrayField(
        models.DecimalField(max_digits=7, decimal_places=2),
        default=default_thresholds,
        help_text="Percentages of the budget that raise an alert.",
    )
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.WARN)
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-fiscal_year", "department__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "fiscal_year"], condition=Q(vendor__isnull=True), name="budget_one_per_year"
            ),
            models.UniqueConstraint(
                fields=["department", "fiscal_year", "vendor"],
                condition=Q(vendor__isnull=False),
                name="budget_one_per_year_and_vendor",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="budget_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(monthly_amounts__len=0) | Q(monthly_amounts__len=12), name="budget_twelve_months_or_none"
            ),
        ]

    def __str__(self) -> str:
        scope = f" · {self.vendor}" if self.vendor_id else ""
        return f"{self.department.code} FY{self.fiscal_year}{scope}"

    def get_absolute_url(self) -> str:
        return reverse("procurement:budget_detail", kwargs={"pk": self.pk})
