"""Shared base models, organisation settings and background job runs."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from .currencies import validate_currency
from .fields import CurrencyField
from .roles import Role


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OrganizationSettings(models.Model):
    """The company's settings: one row, edited by administrators on /settings/."""

    SINGLETON_ID = 1

    reporting_currency = models.CharField(
        max_length=3,
        validators=[validate_currency],
        help_text="Budgets, dashboards and chargeback invoices are in this currency.",
    )
    fiscal_year_start_month = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text="1 = January. Budgets are per fiscal year.",
    )
    issuer_name = models.CharField("issuer name", max_length=200, blank=True)
    issuer_address = models.TextField("issuer address", blank=True)
    issuer_tax_id = models.CharField("tax / VAT id", max_length=64, blank=True)
    issuer_email = models.EmailField("billing contact email", blank=True)
    issuer_bank_details = models.TextField("bank details", blank=True)
    invoice_footer = models.TextField(blank=True, help_text="Printed at the foot of every chargeback invoice.")
    default_payment_terms_days = models.PositiveSmallIntegerField(
        default=30, validators=[MaxValueValidator(365)], help_text="Due date of chargeback invoices."
    )
    four_eyes_enabled = models.BooleanField(
        "four-eyes approvals",
        default=False,
        help_text="Activating or amending an agreement and issuing invoices need a second user's approval.",
    )
    monthly_report_day = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text="Day of the month (1–28, UTC) the monthly report for the previous month is emailed.",
    )
    mfa_required_roles = ArrayField(
        models.CharField(max_length=32, choices=Role.choices),
        default=list,
        blank=True,
        help_text="Users of these roles must enrol an authenticator app before using TokenLedger.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "organisation settings"
        verbose_name_plural = "organisation settings"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="organization_settings_singleton")]

    def __str__(self) -> str:
        return "Organisation settings"


class JobRun(TimeStampedModel):
    """A long action run by a Celery worker: status and progress for the UI and `GET runs/{id}`."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    message = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task that runs it, and when the broker last took that task: a queued run whose
    # task never reached the broker (it was down) or got lost is sent again (core.requeue_queued_runs).
    task = models.CharField(max_length=100, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_by", "-created_at"], name="jobrun_creator_recent"),
            models.Index(fields=["status", "created_at"], name="jobrun_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class FxRate(models.Model):
    """A daily exchange rate, ECB convention: 1 `base` buys `rate` `quote` (EUR, USD, 1.08)."""

    class Source(models.TextChoices):
        MANUAL = "manual"
        ECB = "ecb", "ECB reference rates"
        CSV = "csv", "CSV import"

    date = models.DateField()
    base = CurrencyField()
    quote = CurrencyField()
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "base", "quote"]
        constraints = [
            models.UniqueConstraint(fields=["date", "base", "quote"], name="fxrate_one_per_day_and_pair"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="fxrate_rate_positive"),
            models.CheckConstraint(condition=~models.Q(base=models.F("quote")), name="fxrate_distinct_currencies"),
        ]
        indexes = [models.Index(fields=["base", "quote", "-date"], name="fxrate_pair_latest")]

    def __str__(self) -> str:
        return f"{self.date} 1 {self.base} = {self.rate.normalize()} {self.quote}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("core:fxrate_edit", kwargs={"pk": self.pk})


class StoredFile(models.Model):
    """A file kept in PostgreSQL (core.storage.DatabaseStorage), so every machine sees it."""

    name = models.CharField(max_length=500, unique=True)
    content = models.BinaryField()
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
