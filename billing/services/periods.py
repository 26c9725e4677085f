"""Closing months. After close, whatever changes a month's figures is billed as a prior-period
adjustment on a later invoice (billing.services.invoices); closing is refused while the month
holds unrated or unattributed usage that finance has not acknowledged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.exceptions import ApplicationError, Conflict
from procurement.models.departments import UNALLOCATED
from usage.models import DailyRollup

from ..models import Period
from ..months import PeriodError, next_month, parse_period


def parse_month(value: str) -> date:
    """`YYYY-MM` → its first day; anything else is a 400 with a clear message."""
    try:
        return parse_period(value)
    except PeriodError as exc:
        raise ApplicationError(str(exc), extra={"period": value}) from None


@dataclass(frozen=True)
class MonthOpenItems:
    """What stands in the way of closing a month: records without a reporting-currency cost, and
    records no attribution rule matched (department UNALLOCATED)."""

    unrated: int
    unallocated: int
    unallocated_cost: object


def month_open_items(month: date) -> MonthOpenItems:
    rollups = DailyRollup.objects.filter(day__gte=month, day__lt=next_month(month))
    unrated = rollups.aggregate(n=Sum("unpriced_records"))["n"] or 0
    unallocated = rollups.filter(department__code=UNALLOCATED).aggregate(n=Sum("records"), cost=Sum("cost"))
    return MonthOpenItems(
        unrated=int(unrated), unallocated=int(unallocated["n"] or 0), unallocated_cost=unallocated["cost"] or 0
    )


def period_for(month: date) -> Period:
    period, _ = Period.objects.get_or_create(month=month)
    return period


@transaction.atomic
def period_close(
    *, month: date, actor, acknowledge_unrated: bool = False, acknowledge_unallocated: bool = False, note: str = ""
) -> Period:
    """Close `month` (its first day). Refused (409) when it has not ended, is closed already, or
    holds unrated or unallocated usage not acknowledged; the acknowledgement (with the counts it
    covered) is kept on the period and in its history."""
    if month.day != 1:
        raise ApplicationError("A period is a month: give its first day", extra={"period": month.isoformat()})
    today = timezone.now().date()
    if next_month(month) > today:
        raise Conflict(
            f"{month:%Y-%m} has not ended yet: it can be closed from {next_month(month):%Y-%m-%d}",
            extra={"period": f"{month:%Y-%m}"},
        )
    Period.objects.get_or_create(month=month)
    period = Period.objects.select_for_update().get(month=month)
    if period.is_closed:
        raise Conflict(f"{period.label} is closed already", extra={"period": period.label})
    items = month_open_items(month)
    missing = {}
    if items.unrated and not acknowledge_unrated:
        missing["unrated"] = items.unrated
    if items.unallocated and not acknowledge_unallocated:
        missing["unallocated"] = items.unallocated
    if missing:
        parts = []
        if "unrated" in missing:
            parts.append(f"{items.unrated:,} records have no cost")
        if "unallocated" in missing:
            parts.append(f"{items.unallocated:,} records are attributed to no department")
        raise Conflict(
            f"{period.label} cannot be closed: " + " and ".join(parts) + ". Correct them, or acknowledge them to close "
            "the month anyway.",
            extra={"period": period.label, **missing},
        )
    period.status = Period.Status.CLOSED
    period.closed_at = timezone.now()
    period.closed_by = actor
    period.acknowledged = {
        "unrated": items.unrated,
        "unallocated": items.unallocated,
        "unallocated_cost": str(items.unallocated_cost),
        "note": note,
    }
    period._history_user = actor
    period.save()
    return period


def period_is_closed(month: date) -> bool:
    return Period.objects.filter(month=month, status=Period.Status.CLOSED).exists()
