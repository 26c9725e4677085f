"""Reads of the core app."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import JobRun, OrganizationSettings
from .policy import VIEW, can
from .services import organization_settings_ensure


def organization_settings() -> OrganizationSettings:
    return organization_settings_ensure()


def job_run_list(*, user) -> QuerySet[JobRun]:
    """Company-wide readers see every run; everyone else sees the runs they started."""
    runs = JobRun.objects.select_related("created_by")
    if can(user, "job_run", VIEW):
        return runs
    return runs.filter(created_by=user)
