"""billing's tasks: each loads its run by id and calls a service."""

from __future__ import annotations

from celery import shared_task

from core.jobs import job
from core.services import send_task

from .services import invoices


@job
def _generate(run, report) -> dict:
    return invoices.invoices_generate_run_execute(run, report)


@shared_task(name="billing.invoices_generate", acks_late=True)
def invoices_generate(run_id: int) -> None:
    _generate(run_id)


@shared_task(name="billing.invoices_issue", acks_late=True)
def invoices_issue(run_id: int) -> None:
    invoices.invoices_issue_fan_out(
        run_id=run_id, send=lambda run, ids: send_task("billing.invoices_issue_chunk", run, ids)
    )


@shared_task(name="billing.invoices_issue_chunk", acks_late=True)
def invoices_issue_chunk(run_id: int, ids: list[int]) -> None:
    invoices.invoices_issue_chunk(run_id=run_id, ids=ids)


@shared_task(name="billing.sla_evaluate", acks_late=True)
def sla_evaluate(period: str | None = None) -> int:
    """Evaluate a month's SLA clauses (`period` YYYY-MM; default the previous month, UTC), as the
    beat entry does on the 2nd of each month. Idempotent: re-evaluation keeps people's statuses."""
    from datetime import date

    from .months import previous_month
    from .services.sla import sla_evaluate as evaluate

    month = date.fromisoformat(f"{period}-01") if period else previous_month()
    return len(evaluate(month=month))
