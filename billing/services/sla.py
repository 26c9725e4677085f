"""SLA evaluation (DESIGN.md, "SLA clauses"): per agreement × SLA clause × month, the measured
value (billing.selectors.performance), the breach, the credit band and the credit owed; a
person's status on it; and importing performance samples the evaluation can use.

Evaluation, per clause of every `active` or `expired` agreement whose term overlaps the month:

* scope: the vendor's usage and samples in the part of the month inside the agreement's term,
  for the clause's models (patterns; none = all).
* breach = how far the measured value is on the wrong side of the target, clamped at 0:
  availability target − measured (percentage points); the others measured − target (ms,
  percentage points, or the ratio). Nothing measured: no breach.
* band: the highest band whose `breach_over` is strictly below the breach; credit % = its
  percent, capped at the clause's `cap_percent`.
* in-scope charges: the month's rated `cost` (the agreement's currency) of the usage rated under
  the agreement (`agreement_id`) for the clause's models; unpriced records add nothing.
  credit = charges × percent ÷ 100, exact at 12 places.
* claim_by = the month's last day + the clause's `claim_days`.

Re-evaluation (one SlaCredit per clause and month): an `owed` row is recomputed and stays owed; a
row a person has moved on — `claimed`, `received`, `waived` — is never touched again (its figures
are what was claimed). Setting the status back to `owed` hands it back to the figures.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from contracts.models import Agreement, SlaClause
from core.exceptions import ApplicationError, ValidationFailed
from procurement.models import Vendor
from usage.models import UsageRecord

from ..models import PerformanceSample, SlaCredit
from ..months import month_last_day, previous_month
from ..selectors._decimal import exact_decimal
from ..selectors.performance import models_matching, vendor_performance

COST_QUANTUM = Decimal("0.000000000001")
ZERO = Decimal(0)


def month_bounds(month: date) -> tuple[date, date]:
    first = month.replace(day=1)
    return first, month_last_day(first)


def sla_breach(*, metric: str, target: Decimal, measured: Decimal | None) -> Decimal:
    """How far `measured` is on the wrong side of `target`, never below 0."""
    if measured is None:
        return ZERO
    gap = target - measured if metric == SlaClause.Metric.AVAILABILITY else measured - target
    return max(gap, ZERO)


def sla_credit_percent(*, clause: SlaClause, breach: Decimal) -> Decimal:
    """The highest band whose `breach_over` is strictly below the breach, capped."""
    applying = [band.credit_percent for band in clause.bands.all() if breach > band.breach_over]
    if not applying:
        return ZERO
    return min(max(applying), clause.cap_percent)


def sla_in_scope_charges(*, agreement: Agreement, model_names: list[str], start: date, end: date) -> Decimal:
    if not model_names:
        return ZERO
    total = UsageRecord.objects.filter(
        agreement_id=agreement.pk,
        vendor_id=agreement.vendor_id,
        usage_date__gte=start,
        usage_date__lte=end,
        model__in=model_names,
        cost__isnull=False,
    ).aggregate(total=Sum("cost"))["total"]
    return total or ZERO


@exact_decimal
def _clause_figures(*, clause: SlaClause, agreement: Agreement, start: date, end: date, last: date) -> dict:
    performance = vendor_performance(vendor_id=agreement.vendor_id, models=clause.models, start=start, end=end)
    measured = performance.value(clause.metric)
    breach = sla_breach(metric=clause.metric, target=clause.target, measured=measured)
    percent = sla_credit_percent(clause=clause, breach=breach)
    # charges of every record of the clause's models, measured or not
    names = models_matching(vendor_id=agreement.vendor_id, patterns=clause.models, start=start, end=end)
    charges = sla_in_scope_charges(agreement=agreement, model_names=names, start=start, end=end)
    credit = (charges * percent / 100).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return {
        "agreement": agreement,
        "metric": clause.metric,
        "models_in_scope": list(clause.models),
        "target": clause.target,
        "measured": measured,
        "breach": breach,
        "credit_percent": percent,
        "in_scope_charges": charges,
        "credit": credit,
        "currency": agreement.currency,
        "claim_by": last + timedelta(days=clause.claim_days),
    }


def sla_evaluate(*, month: date, agreement: Agreement | None = None, actor=None) -> list[SlaCredit]:
    """Evaluate the month's SLA clauses (see the module) and upsert their SlaCredit rows; answer
    every row of the clauses evaluated, kept ones included."""
    first, last = month_bounds(month)
    agreements = Agreement.objects.filter(
        status__in=[Agreement.Status.ACTIVE, Agreement.Status.EXPIRED], start__lte=last, end__gte=first
    ).select_related("vendor")
    if agreement is not None:
        agreements = agreements.filter(pk=agreement.pk)
    rows: list[SlaCredit] = []
    for current in agreements.prefetch_related("sla_clauses__bands"):
        start, end = max(first, current.start), min(last, current.end)
        for clause in current.sla_clauses.all():
            with transaction.atomic():
                row = SlaCredit.objects.select_for_update().filter(clause=clause, period=first).first()
                if row is not None and row.status != SlaCredit.Status.OWED:
                    rows.append(row)  # a person's decision: its figures are what was claimed
                    continue
                figures = _clause_figures(clause=clause, agreement=current, start=start, end=end, last=last)
                if row is None:
                    row = SlaCredit(clause=clause, period=first, status=SlaCredit.Status.OWED)
                elif all(getattr(row, name) == value for name, value in figures.items()):
                    rows.append(row)  # unchanged: no history entry
                    continue
                for name, value in figures.items():
                    setattr(row, name, value)
                row._history_user = actor
                row._change_reason = f"SLA evaluated for {first:%Y-%m}"
                row.save()
                rows.append(row)
    return rows


def sla_credit_status_set(
    *, credit: SlaCredit, status: str, received_on: date | None = None, note: str = "", actor
) -> SlaCredit:
    """A person's decision on a credit: `claimed`, `received` (on `received_on`, default today
    UTC), `waived`, or back to `owed` (recomputed by the next evaluation). The history keeps who
    and when."""
    if status not in SlaCredit.Status.values:
        choices = ", ".join(SlaCredit.Status.values)
        raise ValidationFailed({"status": [f"“{status}” is not an SLA credit status; use one of {choices}."]})
    if received_on is not None and status != SlaCredit.Status.RECEIVED:
        raise ValidationFailed({"received_on": ["Only a received credit has a date received."]})
    with transaction.atomic():
        row = SlaCredit.objects.select_for_update().get(pk=credit.pk)
        row.status = status
        row.received_on = (received_on or timezone.now().date()) if status == SlaCredit.Status.RECEIVED else None
        row.note = (note or "").strip()
        row._history_user = actor
        row._change_reason = f"status set to {status}"
        row.save(update_fields=["status", "received_on", "note"])
    return row


# Performance samples ---------------------------------------------------------------------------

REQUEST_COLUMNS = ("day", "model", "latency_ms", "output_tokens", "failed")
DAILY_COLUMNS = (
    "day",
    "model",
    "requests",
    "failed_requests",
    "latency_p50_ms",
    "latency_p90_ms",
    "throughput_median",
)
REQUIRED = {
    PerformanceSample.Layout.REQUEST: ("day", "model"),
    PerformanceSample.Layout.DAILY: ("day", "model", "requests"),
}
TRUE = {"1", "true", "yes", "y", "t"}
FALSE = {"", "0", "false", "no", "n", "f"}


@dataclass
class SampleImport:
    layout: str
    imported: int = 0
    replaced: int = 0
    rejected: list[dict] = field(default_factory=list)  # {"line", "reasons", "raw"}


def _number(text: str, *, integer: bool) -> float | int | None:
    text = (text or "").strip()
    if text == "":
        return None
    value = int(text) if integer else float(text)
    if not integer and not math.isfinite(value):
        raise ValueError
    if value < 0:
        raise ValueError
    return value


def _parse_row(layout: str, row: dict) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    values: dict = {}
    for name in REQUIRED[layout]:
        if not (row.get(name) or "").strip():
            reasons.append(f"{name} is required")
    try:
        values["day"] = date.fromisoformat((row.get("day") or "").strip())
    except ValueError:
        if (row.get("day") or "").strip():
            reasons.append("day is not a date (YYYY-MM-DD)")
    values["model"] = (row.get("model") or "").strip()
    if len(values["model"]) > 200:
        reasons.append("model is longer than 200 characters")
    numbers = (
        {"latency_ms": False, "output_tokens": True}
        if layout == PerformanceSample.Layout.REQUEST
        else {
            "requests": True,
            "failed_requests": True,
            "latency_p50_ms": False,
            "latency_p90_ms": False,
            "throughput_median": False,
        }
    )
    for name, integer in numbers.items():
        try:
            values[name] = _number(row.get(name, ""), integer=integer)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            reasons.append(f"{name} is not {kind} ≥ 0")
    if layout == PerformanceSample.Layout.REQUEST:
        flag = (row.get("failed") or "").strip().lower()
        if flag in TRUE:
            values["failed"] = True
        elif flag in FALSE:
            values["failed"] = False
        else:
            reasons.append("failed is not true/false")
        if (
            not values.get("failed")
            and values.get("latency_ms") is None
            and "latency_ms is not a number ≥ 0" not in reasons
        ):
            reasons.append("latency_ms is required for a request that did not fail")
    else:
        if values.get("failed_requests") is None and "failed_requests is not a whole number ≥ 0" not in reasons:
            values["failed_requests"] = 0
        if (
            isinstance(values.get("requests"), int)
            and isinstance(values.get("failed_requests"), int)
            and values["failed_requests"] > values["requests"]
        ):
            reasons.append("failed_requests exceeds requests")
    return values, reasons


def performance_samples_import(*, vendor: Vendor, layout: str, content: str | bytes, actor=None) -> SampleImport:
    """Import a CSV of performance samples for `vendor` in one layout (module docstring of
    billing.models.performance; columns REQUEST_COLUMNS or DAILY_COLUMNS, a header row, UTF-8,
    extra columns ignored). All or nothing: any rejected row (its line, reasons and raw text are
    answered) and nothing is stored. Otherwise the upload replaces the vendor's samples of the
    same layout for the (model, day) pairs it covers, so uploading a file twice changes nothing."""
    if layout not in PerformanceSample.Layout.values:
        raise ValidationFailed({"layout": [f"“{layout}” is not a layout; use request or daily."]})
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ApplicationError("The file is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(content))
    header = [name.strip() for name in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [name for name in REQUIRED[layout] if name not in header]
    if missing:
        raise ApplicationError(
            f"The {layout} layout needs the columns {', '.join(missing)}.", extra={"missing_columns": missing}
        )
    result = SampleImport(layout=layout)
    batch = uuid.uuid4()
    samples: list[PerformanceSample] = []
    for row in reader:
        values, reasons = _parse_row(layout, row)
        if reasons:
            raw = ",".join("" if v is None else str(v) for v in row.values())
            result.rejected.append({"line": reader.line_num, "reasons": reasons, "raw": raw})
            continue
        samples.append(PerformanceSample(vendor=vendor, layout=layout, batch=batch, uploaded_by=actor, **values))
    if result.rejected:
        return result
    covered = {(sample.model, sample.day) for sample in samples}
    with transaction.atomic():
        existing = PerformanceSample.objects.filter(vendor=vendor, layout=layout, day__in={day for _, day in covered})
        stale = [pk for pk, model, day in existing.values_list("pk", "model", "day") if (model, day) in covered]
        PerformanceSample.objects.filter(pk__in=stale).delete()
        PerformanceSample.objects.bulk_create(samples, batch_size=5000)
    result.imported, result.replaced = len(samples), len(stale)
    return result


def sla_credit_list():
    return SlaCredit.objects.select_related("agreement__vendor").order_by("-period", "agreement__reference", "id")


def sla_month_evaluate_once(*, month, actor) -> None:
    """A list asked for `month`: evaluate it first when it has ended and has no row yet (the API
    list and the UI list, billing/views_sla.py, alike)."""
    if month <= previous_month() and not SlaCredit.objects.filter(period=month).exists():
        sla_evaluate(month=month, actor=actor)
