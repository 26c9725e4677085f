"""Reconciliation: store each vendor-month's figures (billing.selectors.reconciliation) with a
status, and let finance set the status with a note.

The variance compares the expected charges with the vendor's invoices when there is one for the
month (their subtotals, before tax), else with the vendor's own cost feed:

    variance         = invoiced − expected          (or vendor_reported − expected)
    variance_percent = variance ÷ expected × 100    (4 places, half up; none when expected is 0)

A recomputation sets the status to `matched` when |variance| ≤ |expected| × tolerance ÷ 100 and
no warning makes the figures incomplete, else `needs_review` — unless a person set `disputed` or
`accepted`: their decision stays whatever the figures do, and the change history keeps both the
figures and the decisions. The tolerance is RECONCILIATION_TOLERANCE_PERCENT (default 1), kept
on each row as it was when computed.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from procurement.models import Vendor

from ..models import Reconciliation
from ..selectors._decimal import exact_decimal
from ..selectors.reconciliation import VendorMonth, vendor_month_figures

PERCENT_QUANTUM = Decimal("0.0001")
# Reconciliation.variance_percent has 12 digits, 4 of them decimals
PERCENT_LIMIT = Decimal("1e8")
PERSON_STATUSES = (Reconciliation.Status.DISPUTED, Reconciliation.Status.ACCEPTED)
FIGURE_FIELDS = (
    "currency",
    "expected_usage",
    "expected_shortfall",
    "expected_sla_credits",
    "expected",
    "invoiced",
    "vendor_reported",
    "variance",
    "variance_percent",
    "tolerance_percent",
    "warnings",
)


def tolerance_percent() -> Decimal:
    raw = getattr(settings, "RECONCILIATION_TOLERANCE_PERCENT", "1")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ImproperlyConfigured(f"RECONCILIATION_TOLERANCE_PERCENT={raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(f"RECONCILIATION_TOLERANCE_PERCENT={raw!r} must be a percentage ≥ 0")
    return value


@exact_decimal
def reconciliation_values(figures: VendorMonth, *, tolerance: Decimal) -> dict:
    """The stored figures of a vendor-month and the status they imply."""
    expected = figures.expected
    compared = figures.invoiced if figures.invoiced is not None else figures.vendor_reported
    variance = None if compared is None else compared - expected
    percent = None
    if variance is not None and expected != 0:
        percent = (variance * 100 / abs(expected)).quantize(PERCENT_QUANTUM, rounding=ROUND_HALF_UP)
        if abs(percent) >= PERCENT_LIMIT:
            percent = None  # too large to mean anything (and to store): the absolute variance says it
    within = variance is not None and abs(variance) * 100 <= abs(expected) * tolerance
    status = (
        Reconciliation.Status.MATCHED if within and not figures.has_warnings else Reconciliation.Status.NEEDS_REVIEW
    )
    return {
        "currency": figures.currency,
        "expected_usage": figures.expected_usage,
        "expected_shortfall": figures.shortfall,
        "expected_sla_credits": figures.sla_credits,
        "expected": expected,
        "invoiced": figures.invoiced,
        "vendor_reported": figures.vendor_reported,
        "variance": variance,
        "variance_percent": percent,
        "tolerance_percent": tolerance,
        "warnings": [note.as_dict() for note in figures.notes],
        "status": status,
    }


def _store(figures: VendorMonth, *, tolerance: Decimal, actor, existing: Reconciliation | None) -> Reconciliation:
    """Write one vendor-month's figures; the caller holds the transaction (and the row's lock)."""
    values = reconciliation_values(figures, tolerance=tolerance)
    computed_status = values.pop("status")
    row = existing
    if row is None:
        row = Reconciliation(
            vendor=figures.vendor, period=figures.month, status=computed_status, computed_at=timezone.now(), **values
        )
        row._history_user = actor
        row._change_reason = "computed"
        try:
            with transaction.atomic():
                row.save()
            return row
        except IntegrityError:  # computed at the same moment by someone else: refresh theirs
            row = Reconciliation.objects.select_for_update().get(vendor_id=figures.vendor_id, period=figures.month)
    changed = [name for name in FIGURE_FIELDS if _differs(getattr(row, name), values[name])]
    status = row.status if row.status in PERSON_STATUSES else computed_status
    if status != row.status:
        changed.append("status")
    for name in FIGURE_FIELDS:
        setattr(row, name, values[name])
    row.status = status
    row.vendor = figures.vendor
    if changed:
        row.computed_at = timezone.now()
        row._history_user = actor
        row._change_reason = "recomputed"
        row.save()
    return row


def _differs(old, new) -> bool:
    if isinstance(old, Decimal) or isinstance(new, Decimal):
        return old is None or new is None or Decimal(old) != Decimal(new)
    return old != new


@transaction.atomic
def reconciliation_compute(
    *, vendor: Vendor, month: date, actor=None, figures: VendorMonth | None = None
) -> Reconciliation:
    """Compute (or refresh) the vendor's reconciliation for `month` (its first day) and store it.
    `figures` may be given when the caller has them already (the drill-down)."""
    month = month.replace(day=1)
    if figures is None:
        figures = vendor_month_figures(month=month, vendor_ids=[vendor.pk])[vendor.pk]
    existing = Reconciliation.objects.select_for_update().filter(vendor=vendor, period=month).first()
    return _store(figures, tolerance=tolerance_percent(), actor=actor, existing=existing)


@transaction.atomic
def reconciliations_compute_month(*, month: date, actor=None) -> list[Reconciliation]:
    """Compute (or refresh) every vendor with something to reconcile in `month`: usage, true-ups,
    a shortfall, SLA credits, an invoice or a cost feed, or an earlier reconciliation. Rows whose
    figures did not change are not written (so their history stays quiet)."""
    month = month.replace(day=1)
    figures = vendor_month_figures(month=month)
    existing = {
        row.vendor_id: row
        for row in Reconciliation.objects.select_for_update().filter(period=month, vendor_id__in=list(figures))
    }
    tolerance = tolerance_percent()
    return [
        _store(vm, tolerance=tolerance, actor=actor, existing=existing.get(vendor_id))
        for vendor_id, vm in figures.items()
    ]


@transaction.atomic
def reconciliation_status_set(*, reconciliation: Reconciliation, status: str, note: str = "", actor) -> Reconciliation:
    """A person's decision: `disputed` or `accepted` stay through recomputations; `matched` or
    `needs_review` hand the status back to the figures (the next recomputation may change it)."""
    if status not in Reconciliation.Status.values:
        choices = ", ".join(Reconciliation.Status.values)
        raise ValidationError({"status": [f"“{status}” is not a reconciliation status; use one of {choices}."]})
    row = Reconciliation.objects.select_for_update().get(pk=reconciliation.pk)
    row.status = status
    row.note = (note or "").strip()
    row._history_user = actor
    row._change_reason = f"status set to {status}"
    row.save(update_fields=["status", "note"])
    return row
