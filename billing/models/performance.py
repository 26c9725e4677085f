"""Performance samples uploaded for SLA evaluation (issue 9): latency, failures and throughput a
company measured itself (a gateway's logs, a benchmark run) when the usage feed carries none.

Two layouts, one row each (see billing.services.sla, `performance_samples_import`, for the CSV formats):

* `request` — one request: `latency_ms`, `output_tokens`, `failed`.
* `daily` — one model's day summarised: `requests`, `failed_requests`, `latency_p50_ms`,
  `latency_p90_ms`, `throughput_median` (output tokens per second, the day's median).

billing.selectors.performance combines them with the usage records' own figures.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from procurement.models import Vendor


class PerformanceSample(models.Model):
    class Layout(models.TextChoices):
        REQUEST = "request", "Per request"
        DAILY = "daily", "Daily summary"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="performance_samples")
    model = models.CharField(max_length=200)
    day = models.DateField(help_text="The UTC date measured.")
    layout = models.CharField(max_length=8, choices=Layout.choices)
    # per request
    latency_ms = models.FloatField(null=True, blank=True)
    output_tokens = models.BigIntegerField(null=True, blank=True)
    failed = models.BooleanField(default=False, help_text="Failed for the vendor's reasons (5xx, timeout).")
    # daily summary
    requests = models.BigIntegerField(null=True, blank=True)
    failed_requests = models.BigIntegerField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p90_ms = models.FloatField(null=True, blank=True)
    throughput_median = models.FloatField(null=True, blank=True, help_text="Output tokens per second, median.")
    # provenance: one upload's rows share a batch
    batch = models.UUIDField(db_index=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["vendor", "day", "model", "id"]
        indexes = [models.Index(fields=["vendor", "day"], name="billing_perf_sample_vendor_day")]
        constraints = [
            models.CheckConstraint(
                condition=Q(layout="daily") | Q(latency_ms__isnull=False) | Q(failed=True),
                name="billing_perf_sample_request_latency",
            ),
            models.CheckConstraint(
                condition=Q(layout="request") | (Q(requests__isnull=False) & Q(failed_requests__isnull=False)),
                name="billing_perf_sample_daily_counts",
            ),
            models.CheckConstraint(
                condition=Q(failed_requests__isnull=True) | Q(failed_requests__lte=models.F("requests")),
                name="billing_perf_sample_failed_le_requests",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor_id}/{self.model} {self.day} ({self.layout})"
