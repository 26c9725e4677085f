"""Where usage comes from: a gateway pushing records, a vendor's API pulled on a schedule, files."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.models import TimeStampedModel
from procurement.models import Vendor


class Format(models.TextChoices):
    """Feed formats (API.md, usage/files)."""

    GENERIC_CSV = "generic_csv", "Generic CSV"
    NDJSON = "ndjson", "NDJSON records"
    OPENAI_USAGE = "openai_usage", "OpenAI organization/usage/completions"
    OPENAI_COSTS = "openai_costs", "OpenAI organization/costs"
    ANTHROPIC_USAGE = "anthropic_usage", "Anthropic usage_report/messages"
    ANTHROPIC_COSTS = "anthropic_costs", "Anthropic cost_report"
    OPENROUTER_ACTIVITY = "openrouter_activity", "OpenRouter activity"
    FOCUS_CSV = "focus_csv", "FOCUS 1.0–1.2 CSV"
    REQUEST_TRACE = "request_trace", "Request trace (Azure / Mooncake layout)"


class PullHealth(models.TextChoices):
    """How a source's scheduled pulls are doing (the source list's badge, the API's `health`)."""

    OK = "ok", "ok"
    FAILING = "failing", "failing"
    STALE = "stale", "stale"
    NEVER_PULLED = "never_pulled", "never pulled"
    OFF = "off", "off"


# A source whose last good pull is older than two intervals and this is stale (beat or workers down).
STALE_GRACE = timedelta(minutes=15)


class Source(TimeStampedModel):
    """A feed of usage. `vendor` is empty for multi-vendor feeds (FOCUS, a gateway)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="sources")
    format = models.CharField(max_length=32, choices=Format.choices, default=Format.NDJSON)
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    # Scheduled pulls of the vendor's API (usage.services.pulls). The credential is the name of an
    # environment variable, or a secret stored encrypted (never shown back).
    pull_enabled = models.BooleanField(default=False, help_text="Pull this feed from the vendor's API on a schedule.")
    base_url = models.URLField(blank=True, help_text="e.g. https://api.openai.com/v1")
    credential_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the API key."
    )
    credential_encrypted = models.TextField(blank=True, help_text="The API key, encrypted (Fernet).")
    pull_interval_minutes = models.PositiveIntegerField(default=60)
    pull_open_days = models.PositiveSmallIntegerField(
        default=2, help_text="Days a vendor may still change; they are pulled again (restatements)."
    )
    pull_start = models.DateField(null=True, blank=True, help_text="First day to pull when never pulled.")
    pulled_until = models.DateTimeField(
        null=True, blank=True, help_text="Buckets ending at or before this are final and not pulled again."
    )
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_pull_ok_at = models.DateTimeField(null=True, blank=True)
    next_pull_at = models.DateTimeField(null=True, blank=True)
    pull_failures = models.PositiveIntegerField(default=0, help_text="Failed pulls in a row.")
    last_pull_error = models.TextField(blank=True)
    history = HistoricalRecords(
        excluded_fields=["credential_encrypted", "last_pull_at", "last_pull_ok_at", "next_pull_at", "pull_failures"]
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("usage:source_detail", kwargs={"slug": self.slug})

    @property
    def credential_set(self) -> bool:
        """A stored credential exists (it is never shown back)."""
        return bool(self.credential_encrypted)

    @property
    def pull_health(self) -> str:
        if not self.pull_enabled or not self.is_active:
            return PullHealth.OFF
        if self.pull_failures:
            return PullHealth.FAILING
        if self.last_pull_ok_at is None:
            return PullHealth.NEVER_PULLED
        if timezone.now() - self.last_pull_ok_at > 2 * timedelta(minutes=self.pull_interval_minutes) + STALE_GRACE:
            return PullHealth.STALE
        return PullHealth.OK

    def get_pull_health_display(self) -> str:
        return PullHealth(self.pull_health).label
