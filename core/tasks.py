"""Core background tasks: diagnostics that prove the worker, database and mail work end to end."""

from __future__ import annotations

import socket

from celery import shared_task
from django.core.mail import send_mail
from django.db import connection

from .exceptions import ApplicationError
from .jobs import job
from .models import JobRun


@job
def _diagnostics(run: JobRun, report) -> dict:
    report(30, "Worker picked up the run")
    with connection.cursor() as cursor:
        cursor.execute("select version()")
        (version,) = cursor.fetchone()
    result = {"worker": socket.gethostname(), "database": version.split(",")[0]}
    recipient = run.params.get("email_to")
    if recipient:
        report(60, f"Sending a test email to {recipient}")
        send_mail(
            "TokenLedger test email",
            "This message proves that TokenLedger's background worker can send email.",
            None,
            [recipient],
        )
        result["email_sent_to"] = recipient
    result["message"] = "Worker, database" + (" and email" if recipient else "") + " are working."
    return result


@shared_task(name="core.diagnostics", acks_late=True)
def diagnostics(run_id: int) -> None:
    _diagnostics(run_id)


@job
def _fx_import(run: JobRun, report) -> dict:
    from django.core.files.storage import default_storage

    from .fx import FxImportError, fx_rates_import_csv

    with default_storage.open(run.params["file"], "rb") as handle:
        data = handle.read()
    report(10, "Reading the rate table")
    try:
        result = fx_rates_import_csv(data, actor=run.created_by, progress=lambda p: report(10 + int(p * 0.9)))
    except FxImportError as exc:
        raise ApplicationError(str(exc)) from exc
    return result.as_dict()


@shared_task(name="core.fx_import", acks_late=True)
def fx_import(run_id: int) -> None:
    _fx_import(run_id)


@shared_task(name="core.requeue_queued_runs", acks_late=True)
def requeue_queued_runs() -> int:
    """Beat (JOB_REQUEUE_INTERVAL_SECONDS): send again the tasks of queued runs the broker never
    got or lost; idempotent, since a run's task does nothing once the run started or finished."""
    from . import services

    return len(services.job_runs_requeue())
