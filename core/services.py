"""Writes of the core app: organisation settings and the life cycle of background job runs."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import FxRate, JobRun, OrganizationSettings

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = (
    "reporting_currency",
    "fiscal_year_start_month",
    "issuer_name",
    "issuer_address",
    "issuer_tax_id",
    "issuer_email",
    "issuer_bank_details",
    "invoice_footer",
    "default_payment_terms_days",
    "four_eyes_enabled",
    "monthly_report_day",
    "mfa_required_roles",
)


def organization_settings_ensure() -> OrganizationSettings:
    """The settings row, created with the deployment's defaults on first use."""
    obj, _ = OrganizationSettings.objects.get_or_create(
        id=OrganizationSettings.SINGLETON_ID,
        defaults={
            "reporting_currency": settings.TOKENLEDGER_DEFAULT_REPORTING_CURRENCY,
            "fiscal_year_start_month": settings.TOKENLEDGER_DEFAULT_FISCAL_YEAR_START_MONTH,
        },
    )
    return obj


@transaction.atomic
def organization_settings_update(*, actor, **changes: Any) -> OrganizationSettings:
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise TypeError(f"Unknown settings: {', '.join(sorted(unknown))}")
    obj = OrganizationSettings.objects.select_for_update().get(pk=organization_settings_ensure().pk)
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj._history_user = actor
    obj.save()
    return obj


# Job runs ----------------------------------------------------------------------------------------


def job_run_create(*, kind: str, created_by=None, params: dict | None = None, task: str | None = None) -> JobRun:
    """Create a queued run and, once the surrounding transaction commits, send its task by name.

    Sending by name keeps imports downward: a lower layer can start work a higher one does.
    """
    run = JobRun.objects.create(kind=kind, created_by=created_by, params=params or {})
    if task:
        job_run_enqueue(run=run, task=task)
    return run


def rerate_request(*, since, until=None, vendor_ids=None, reason: str, actor=None) -> JobRun:
    """Ask the usage app to re-rate usage from `since` (to `until`; of these vendors, else all),
    by task name once the transaction commits: core, procurement and contracts change what prices
    usage (FX rates, list prices, agreements) but cannot import usage (DESIGN.md, Architecture)."""
    params: dict[str, Any] = {"since": since.isoformat(), "reason": reason}
    if until is not None:
        params["until"] = until.isoformat()
    if vendor_ids is not None:
        params["vendor_ids"] = sorted(set(vendor_ids))
    return job_run_create(kind="rerate", created_by=actor, params=params, task="usage.rerate")


def job_run_enqueue(*, run: JobRun, task: str) -> None:
    transaction.on_commit(lambda: send_task(task, run.pk))


def send_task(name: str, *args: Any) -> None:
    """Send a task by its name. Tasks registered in this process go through apply_async, so
    eager mode (tests without a broker) runs them in place; send_task would skip eager mode."""
    registered = current_app.tasks.get(name)
    if registered is not None:
        registered.apply_async(args=list(args))
    else:
        current_app.send_task(name, args=list(args))


def job_run_start(*, run_id: int) -> JobRun | None:
    """Mark a run as running; None when it has already finished (a re-delivered task)."""
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(pk=run_id)
        if run.is_finished:
            return None
        run.status = JobRun.Status.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.attempts = F("attempts") + 1
        run.save(update_fields=["status", "started_at", "attempts", "updated_at"])
    run.refresh_from_db()
    return run


def job_run_progress(*, run_id: int, progress: int, message: str | None = None) -> None:
    fields: dict[str, Any] = {"progress": max(0, min(100, int(progress))), "updated_at": timezone.now()}
    if message is not None:
        fields["message"] = message
    JobRun.objects.filter(pk=run_id).update(**fields)


def job_run_succeed(*, run_id: int, result: dict | None = None, message: str = "") -> None:
    JobRun.objects.filter(pk=run_id).update(
        status=JobRun.Status.SUCCEEDED,
        progress=100,
        result=result or {},
        message=message,
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )


def job_run_fail(*, run_id: int, message: str) -> None:
    JobRun.objects.filter(pk=run_id).update(
        status=JobRun.Status.FAILED, message=message, finished_at=timezone.now(), updated_at=timezone.now()
    )


# FX rates ----------------------------------------------------------------------------------------


@transaction.atomic
def fx_rate_save(*, fx_rate: FxRate | None = None, actor, **fields: Any) -> FxRate:
    """Create or change one rate; one rate per date and pair (a clash is named in words)."""
    rate = fx_rate or FxRate()
    for name in ("date", "base", "quote", "rate"):
        if name in fields:
            setattr(rate, name, fields[name])
    clash = FxRate.objects.filter(date=rate.date, base=rate.base, quote=rate.quote).exclude(pk=rate.pk).first()
    if clash:
        raise ValidationError(
            {"date": [f"A {rate.base}/{rate.quote} rate for {rate.date} exists ({clash.rate}); change that one."]}
        )
    rate.full_clean()
    before = FxRate.objects.filter(pk=rate.pk).values_list("date", flat=True).first() if rate.pk else None
    rate._history_user = actor
    rate.save()
    first = min(rate.date, before or rate.date)
    # a rate serves its date and up to MAX_AGE_DAYS later ones (DESIGN.md, FX)
    rerate_request(
        since=first,
        until=max(rate.date, before or rate.date) + timedelta(days=7),
        reason=f"FX rate {rate.base}/{rate.quote} {rate.date}",
        actor=actor,
    )
    return rate


def fx_import_start(*, file, actor) -> JobRun:
    """Keep the uploaded table (storage API) and import it in the background."""
    from django.core.files.storage import default_storage

    name = default_storage.save(f"fx-imports/{timezone.now():%Y%m%d-%H%M%S}-{file.name}", file)
    return job_run_create(kind="fx_import", created_by=actor, params={"file": name}, task="core.fx_import")
