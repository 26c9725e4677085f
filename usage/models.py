"""Usage sources. Ingestion runs, records, rejected rows and attribution rules follow."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from core.models import TimeStampedModel


class Source(TimeStampedModel):
    """Where usage comes from: a vendor's API, a file drop, a gateway pushing records."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    format = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name
