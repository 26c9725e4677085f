"""Departments: cost centres in a tree, with managers."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.models import TimeStampedModel

department_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_.-]{0,31}$",
    "Use up to 32 capital letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. FIN, RND-AI).",
)


UNALLOCATED = "UNALLOCATED"


class Department(TimeStampedModel):
    """A cost centre. Its actuals include its sub-departments'; its managers see the subtree."""

    code = models.CharField(max_length=32, unique=True, validators=[department_code_validator])
    name = models.CharField(max_length=200)
    is_system = models.BooleanField(
        default=False, editable=False, help_text="Kept by TokenLedger (UNALLOCATED); cannot be changed or deleted."
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    managers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="managed_departments")
    history = HistoricalRecords(m2m_fields=[managers])

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=~Q(parent=F("id")), name="department_not_own_parent")]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("procurement:department_detail", kwargs={"code": self.code})
