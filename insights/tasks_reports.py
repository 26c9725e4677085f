"""Monthly report tasks: the send run (beat or "send now") and the daily check whether this
month's scheduled send is due (insights.services.reports)."""

from __future__ import annotations

from celery import shared_task

from core.jobs import job

from .services import reports


@job
def _send(run, report) -> dict:
    return reports.reports_send_run_execute(run, report)


@shared_task(name="insights.reports_send", acks_late=True)
def reports_send(run_id: int) -> None:
    _send(run_id)


@shared_task(name="insights.reports_monthly", acks_late=True)
def reports_monthly() -> int | None:
    """Celery beat, daily: on or after the organisation's monthly_report_day, the previous
    month's packs are written and emailed, once a month."""
    run = reports.reports_monthly_due()
    return run.pk if run else None
