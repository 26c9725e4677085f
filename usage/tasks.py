"""Usage tasks: each loads its run by id and calls a service (HackSoft's rule)."""

from __future__ import annotations

from celery import shared_task

from core.jobs import job

from . import services
from .models import IngestionRun


def _ingestion_run(run) -> IngestionRun:
    return IngestionRun.objects.select_related("source", "replay_of", "replay_of__source").get(pk=run.pk)


@job
def _ingest_file(run, report) -> dict:
    return services.file_run_execute(_ingestion_run(run))


@job
def _replay(run, report) -> dict:
    return services.replay_run_execute(_ingestion_run(run))


@job
def _reattribute(run, report) -> dict:
    pairs = [tuple(p) for p in run.params.get("pairs", [])] if "pairs" in run.params else None
    return services.reattribute(pairs)


@job
def _pull_source(run, report) -> dict:
    return services.pull_run_execute(_ingestion_run(run))


@shared_task(name="usage.ingest_file", acks_late=True)
def ingest_file(run_id: int) -> None:
    _ingest_file(run_id)


@shared_task(name="usage.replay", acks_late=True)
def replay(run_id: int) -> None:
    _replay(run_id)


@shared_task(name="usage.reattribute", acks_late=True)
def reattribute(run_id: int) -> None:
    _reattribute(run_id)


@shared_task(name="usage.pull_source", acks_late=True)
def pull_source(run_id: int) -> None:
    _pull_source(run_id)


@shared_task(name="usage.pull_due_sources", acks_late=True)
def pull_due_sources() -> int:
    """Beat, every minute (CELERY_BEAT_SCHEDULE): a pull run for each source that is due."""
    return len(services.sources_pull_due())


@job
def _rerate(run, report) -> dict:
    return services.rerate_run_execute(run)


@shared_task(name="usage.rerate", acks_late=True)
def rerate(run_id: int) -> None:
    """Re-rate a vendor's usage from a date (late data, an amendment, an FX rate, a list price)."""
    _rerate(run_id)


@shared_task(name="usage.true_ups_due", acks_late=True)
def true_ups_due() -> int:
    """Beat, hourly: re-rating runs that record the true-ups of volume periods that have ended."""
    return len(services.true_ups_due())
