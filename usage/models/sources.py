"""Where usage comes from: a gateway pushing records, a vendor's API pulled on a schedule, files."""

from __future__ import annotations

from django.db import models
from django.urls import reverse
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


class Source(TimeStampedModel):
    """A feed of usage. `vendor` is empty for multi-vendor feeds (FOCUS, a gateway)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    vendor = models.ForeignKey(Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="sources")
    format = models.CharField(max_length=32, choices=Format.choices, default=Format.NDJSON)
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("usage:source_detail", kwargs={"slug": self.slug})
