"""Forecast tasks: the on-demand refresh run and the nightly refresh of every subject."""

from __future__ import annotations

from datetime import date

from celery import shared_task

from core.jobs import job

from .services import forecasts
from .services.reports import reports_send_start


@job
def _refresh(run, report) -> dict:
    result = forecasts.forecasts_refresh(subject=run.params.get("subject"), run=run, report=report)
    if run.params.get("then_reports"):
        reports_send_start(period=date.fromisoformat(run.params["then_reports"]), actor=run.created_by)
    return result


@shared_task(name="insights.forecasts_refresh", acks_late=True)
def forecasts_refresh(run_id: int) -> None:
    _refresh(run_id)


@shared_task(name="insights.forecasts_nightly", acks_late=True)
def forecasts_nightly() -> int:
    """Celery beat, nightly: a run (visible under runs) that refreshes every subject."""
    run = forecasts.forecasts_refresh_start()
    return run.pk
