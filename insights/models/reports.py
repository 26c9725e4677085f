"""Monthly reports: the PDF packs of a month (DESIGN.md, Monthly report), archived, and who each
was emailed to.

A send run (a JobRun of kind `report_send`, by beat on the configured day or "send now") writes
one pack per audience: the company's (finance and procurement) and one per set of departments a
department manager manages (their departments and sub-departments only). Each recipient of a
pack has a delivery row, sent at most once; a run that is delivered again after a worker died
finds its packs and sent deliveries and carries on with what is left."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import JobRun
from procurement.models import Department


class MonthlyReport(models.Model):
    class Scope(models.TextChoices):
        COMPANY = "company", "Whole company"
        DEPARTMENTS = "departments", "Departments"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Send now"

    period = models.DateField(help_text="The month reported on (its first day).")
    scope = models.CharField(max_length=12, choices=Scope.choices)
    # "company", or "departments:<id>,<id>" (the departments managed, sorted): one pack per audience and run
    scope_key = models.CharField(max_length=300)
    departments = models.ManyToManyField(Department, blank=True, related_name="monthly_reports")
    title = models.CharField(max_length=300)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    run = models.ForeignKey(JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    currency = models.CharField(max_length=3)
    # The headline figures for the archive list: {"spend", "previous", "budget", "savings", "open_alerts"}
    summary = models.JSONField(default=dict, blank=True)
    pdf = models.BinaryField()
    pdf_sha256 = models.CharField(max_length=64)
    generated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "-generated_at", "scope", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "scope_key"], name="insights_report_once_per_run", nulls_distinct=False
            ),
        ]
        indexes = [models.Index(fields=["period", "scope"], name="insights_report_period")]

    def __str__(self) -> str:
        return self.title

    @property
    def filename(self) -> str:
        return f"tokenledger-report-{self.period:%Y-%m}-{self.pk}.pdf"


class ReportDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    report = models.ForeignKey(MonthlyReport, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    email = models.EmailField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    message_id = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["report_id", "email"]
        constraints = [models.UniqueConstraint(fields=["report", "email"], name="insights_report_delivery_once")]

    def __str__(self) -> str:
        return f"{self.report_id} → {self.email} ({self.status})"
