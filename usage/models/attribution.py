"""Attribution rules: a vendor dimension's value → a department, highest priority first."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.models import TimeStampedModel
from procurement.models import Department

DIMENSIONS = ("api_key_id", "project_id", "workspace_id", "user_id")
TAG_DIMENSION = re.compile(r"^tag:[A-Za-z0-9_.:-]{1,64}$")


def validate_dimension(value: str) -> None:
    if value not in DIMENSIONS and not TAG_DIMENSION.match(value or ""):
        raise ValidationError(
            "%(value)s is not a dimension: use api_key_id, project_id, workspace_id, user_id or tag:<key>.",
            code="invalid_dimension",
            params={"value": value},
        )


class AttributionRule(TimeStampedModel):
    """Records whose `dimension` equals `value` belong to `department`. Among matching rules the
    highest `priority` wins (ties: the older rule). A record's own department wins over rules."""

    priority = models.IntegerField(default=100, help_text="Higher wins.")
    dimension = models.CharField(max_length=80, validators=[validate_dimension])
    value = models.CharField(max_length=255)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="attribution_rules")
    description = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "value", "priority"], name="attribution_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dimension} = {self.value} → {self.department.code}"

    def get_absolute_url(self) -> str:
        return reverse("usage:rule_list")
