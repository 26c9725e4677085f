"""Alerts, who receives which (rules), what was delivered, and each user's inbox."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from simple_history.models import HistoricalRecords

from procurement.models import Department, Vendor


class Alert(models.Model):
    """Something someone must look at. `dedup_key` (type + subject + period) is unique: the same
    condition in the same period is never raised twice; a repeat only refreshes `last_seen_at`."""

    class Type(models.TextChoices):
        BUDGET_THRESHOLD = "budget_threshold", "Budget threshold crossed"
        BUDGET_OVERRUN = "budget_overrun", "Budget projected to overrun"
        COMMITMENT_SHORTFALL = "commitment_shortfall", "Commitment shortfall risk"
        COMMITMENT_CAP = "commitment_cap", "Commitment or tier cap reached"
        SLA_BREACH = "sla_breach", "SLA breach"
        SLA_CLAIM_DEADLINE = "sla_claim_deadline", "SLA credit claim deadline"
        CONTRACT_NOTICE = "contract_notice", "Contract notice deadline approaching"
        CERTIFICATION_EXPIRING = "certification_expiring", "Certification expiring"
        COMPLIANCE = "compliance", "Compliance"
        USAGE_ANOMALY = "usage_anomaly", "Usage anomaly"
        VENDOR_CONCENTRATION = "vendor_concentration", "Vendor concentration beyond policy"
        FEED_STALE = "feed_stale", "Feed stale or failing"
        FX_MISSING = "fx_missing", "FX rate missing or stale"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    type = models.CharField(max_length=32, choices=Type.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    dedup_key = models.CharField(max_length=300, unique=True)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True)
    subject_url = models.CharField(max_length=500, blank=True, help_text="The page of what the alert is about.")
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    period = models.CharField(max_length=32, blank=True)
    data = models.JSONField(default=dict, blank=True)
    raised_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["status", "type"], name="insights_alert_status_type"),
            models.Index(fields=["department", "status"], name="insights_alert_department"),
        ]

    def __str__(self) -> str:
        return self.title


class AlertRule(models.Model):
    """Which alert types go to which roles and addresses, on which channels. Department managers
    among the roles receive only alerts about their departments (and company-wide ones never)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"
        INBOX = "inbox", "In-app inbox"

    name = models.CharField(max_length=120, unique=True)
    types = ArrayField(models.CharField(max_length=32, choices=Alert.Type.choices), default=list, blank=True)
    roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    addresses = ArrayField(models.EmailField(), default=list, blank=True)
    channels = ArrayField(models.CharField(max_length=8, choices=Channel.choices), default=list)
    webhook_url = models.URLField(blank=True)
    webhook_secret = models.TextField(blank=True, help_text="Encrypted (core.crypto); signs the webhook body.")
    min_severity = models.CharField(max_length=8, choices=Alert.Severity.choices, default=Alert.Severity.INFO)
    thresholds = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AlertDelivery(models.Model):
    """One alert sent once to one recipient on one channel, with its attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=AlertRule.Channel.choices)
    recipient = models.CharField(max_length=500)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["alert", "channel", "recipient"], name="insights_delivery_once")]

    def __str__(self) -> str:
        return f"{self.alert_id} → {self.channel}:{self.recipient} ({self.status})"


class InboxItem(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="inbox_items")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "alert"], name="insights_inbox_once")]
        indexes = [models.Index(fields=["user", "read_at"], name="insights_inbox_unread")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.alert_id}"
