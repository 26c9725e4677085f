"""Accounting periods: calendar months that finance closes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Period(models.Model):
    """A calendar month (`month` is its first day). Open until finance closes it; from then on its
    invoices are final and whatever changes its figures lands as prior-period adjustment lines on
    a later month's invoices (billing.services.chargeback). A period row exists once someone
    looks at or closes the month; a month without a row is open."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    month = models.DateField(unique=True, help_text="The first day of the month.")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What finance acknowledged when closing: {"unrated": n, "unallocated": n, "note": "..."}
    acknowledged = models.JSONField(default=dict, blank=True)
    # Set when chargeback invoices were first generated for the month: from then on its later
    # changes are billed as prior-period adjustments.
    invoiced_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-month"]
        constraints = [models.CheckConstraint(condition=models.Q(month__day=1), name="billing_period_first_day")]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def is_closed(self) -> bool:
        return self.status == self.Status.CLOSED
