"""Writes of the core app: organisation settings and the life cycle of background job runs."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
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
    run = JobRun.objects.create(kind=kind, created_by=created_by, params=params or {}, task=task or "")
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
    """Remember the run's task, and send it once the transaction commits. When the broker is down
    the run stays queued (nothing is lost, the request still succeeds) and the periodic sweep
    `job_runs_requeue` sends it when the broker is back."""
    if run.task != task:
        run.task = task
        JobRun.objects.filter(pk=run.pk).update(task=task)
    run_id = run.pk
    transaction.on_commit(lambda: job_run_send(run_id=run_id, task=task))


def job_run_send(*, run_id: int, task: str) -> bool:
    """Send a run's task now; on success note when (so the sweep leaves it alone)."""
    if not send_task(task, run_id):
        return False
    JobRun.objects.filter(pk=run_id, status=JobRun.Status.QUEUED).update(enqueued_at=timezone.now())
    return True


def send_task(name: str, *args: Any) -> bool:
    """Send a task by its name. Tasks registered in this process go through apply_async, so
    eager mode (tests without a broker) runs them in place; send_task would skip eager mode.

    False when the broker cannot be reached (after Celery's short publish retries, see
    CELERY_TASK_PUBLISH_RETRY_POLICY): the caller's data is committed already, and what was to be
    sent is caught up by a periodic task (queued runs: `job_runs_requeue`; alert evaluation: its
    own beat entry), so a broker outage never turns a stored request into an error."""
    from kombu.exceptions import OperationalError as BrokerUnavailable

    registered = current_app.tasks.get(name)
    try:
        if registered is not None:
            registered.apply_async(args=list(args))
        else:
            current_app.send_task(name, args=list(args))
    except BrokerUnavailable as exc:
        logger.warning("broker unavailable, task %s%r not sent now (it is caught up later): %s", name, args, exc)
        return False
    return True


def job_runs_requeue(
    *, unsent_after: float | None = None, sent_after: float | None = None, running_after: float | None = None
) -> list[int]:
    """Send again the tasks of queued runs the broker never got (sent nowhere for `unsent_after`
    seconds: the broker was down when they were created) or that are still waiting long after
    they were sent (`sent_after` seconds: the message was lost, e.g. a broker restarted without
    persistence), and of orphaned running runs (`job_runs_orphaned`). A run sent twice is
    harmless: its task does nothing while another worker runs it or once it has finished
    (core.jobs). Returns the ids sent."""
    now = timezone.now()
    unsent_after = settings.JOB_REQUEUE_UNSENT_AFTER_SECONDS if unsent_after is None else unsent_after
    sent_after = settings.JOB_REQUEUE_SENT_AFTER_SECONDS if sent_after is None else sent_after
    stale = (
        JobRun.objects.filter(status=JobRun.Status.QUEUED)
        .exclude(task="")
        .filter(
            Q(enqueued_at__isnull=True, created_at__lt=now - timedelta(seconds=unsent_after))
            | Q(enqueued_at__lt=now - timedelta(seconds=sent_after))
        )
        .order_by("created_at")
        .values_list("pk", "task")
    )
    sent = []
    for run_id, task in stale[:1000]:
        if not job_run_send(run_id=run_id, task=task):
            break  # still no broker: the next sweep tries again
        sent.append(run_id)
    else:
        for run_id, task in job_runs_orphaned(running_after=running_after):
            if not send_task(task, run_id):
                break
            # touched: sent again once, not at every sweep while its message waits in the queue
            JobRun.objects.filter(pk=run_id, status=JobRun.Status.RUNNING).update(updated_at=timezone.now())
            sent.append(run_id)
    if sent:
        logger.info("sent the tasks of %d queued or orphaned run(s) again: %s", len(sent), sent)
    return sent


# Tasks whose runs work without their advisory lock: they fan out to other tasks, and the last
# of those ends the run. A free lock says nothing about them, so the sweep leaves them alone.
RUNS_WITHOUT_LOCK = frozenset({"billing.invoices_issue"})


def job_runs_orphaned(*, running_after: float | None = None) -> list[tuple[int, str]]:
    """(id, task) of runs `running` that no worker runs: nothing touched them for `running_after`
    seconds and their advisory lock (core.jobs.run_lock) is free, so the worker that ran them is
    gone (its session, and the lock with it). Their message is normally handed out again by the
    broker after its visibility timeout; this also recovers them when it was lost (a broker
    restarted without persistence), and when a second delivery found the lock taken and was
    acknowledged as done before the worker holding it died. A run whose worker still works holds
    its lock and is left alone, however long it takes; runs that work without it
    (RUNS_WITHOUT_LOCK) are never taken for orphans."""
    from .jobs import run_lock

    running_after = settings.JOB_REQUEUE_RUNNING_AFTER_SECONDS if running_after is None else running_after
    candidates = (
        JobRun.objects.filter(
            status=JobRun.Status.RUNNING, updated_at__lt=timezone.now() - timedelta(seconds=running_after)
        )
        .exclude(task="")
        .exclude(task__in=RUNS_WITHOUT_LOCK)
        .order_by("updated_at")
        .values_list("pk", "task")
    )
    orphaned = []
    for run_id, task in candidates[:1000]:
        with run_lock(run_id) as free:
            if free:
                orphaned.append((run_id, task))
    return orphaned


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
