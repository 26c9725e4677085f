"""Ingestion runs: one per REST batch, uploaded file, replay or scheduled pull."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from core.models import JobRun

from .sources import Format, Source


class IngestionRun(JobRun):
    """A job run that ingests usage (multi-table inheritance: `runs/{id}` and `usage/runs/{id}`
    are the same id). Counts satisfy received = accepted + duplicates + restated + rejected."""

    class Origin(models.TextChoices):
        API = "api", "REST batch"
        FILE = "file", "File upload"
        REPLAY = "replay", "Replay of rejected rows"
        PULL = "pull", "Scheduled pull"
        DEMO = "demo", "Demo data"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="runs", null=True, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    format = models.CharField(max_length=32, choices=Format.choices)
    file = models.FileField(upload_to="usage-files/%Y/%m/", blank=True)
    file_name = models.CharField(max_length=300, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    options = models.JSONField(default=dict, blank=True, help_text="timezone, start, vendor, model, header, …")
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays")
    received = models.PositiveBigIntegerField(default=0)
    accepted = models.PositiveBigIntegerField(default=0)
    duplicates = models.PositiveBigIntegerField(default=0)
    restated = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-jobrun_ptr_id"]

    def __str__(self) -> str:
        return f"Ingestion run #{self.pk} ({self.get_origin_display()}, {self.status})"

    def get_absolute_url(self) -> str:
        return reverse("usage:run_detail", kwargs={"pk": self.pk})

    @property
    def counts(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "restated": self.restated,
            "rejected": self.rejected,
        }
