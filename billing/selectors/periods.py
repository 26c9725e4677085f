"""Months as finance closes them: status, usage and what closing each involves."""

from __future__ import annotations

from django.db.models import Count, Q, Sum

from usage.models import DailyRollup

from ..models import Invoice, Period


def period_rows() -> list[dict]:
    """Every month with usage or a period row, newest first: status and what closing it involves."""
    from django.db.models.functions import TruncMonth

    usage = {
        row["month"]: row
        for row in DailyRollup.objects.annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(
            record_count=Sum("records"),
            cost_sum=Sum("cost"),
            unrated=Sum("unpriced_records"),
            unallocated=Sum("records", filter=Q(department__code="UNALLOCATED")),
        )
        .order_by()
    }
    invoices = {
        row["period"]: row
        for row in Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
        .values("period")
        .annotate(n=Count("id"), issued=Count("id", filter=Q(status="issued")))
        .order_by()
    }
    periods = {p.month: p for p in Period.objects.select_related("closed_by")}
    rows = []
    for month in sorted(set(usage) | set(periods), reverse=True):
        period, sums, invoiced = periods.get(month), usage.get(month, {}), invoices.get(month, {})
        rows.append(
            {
                "period": month.strftime("%Y-%m"),
                "month": month,
                "status": period.status if period else Period.Status.OPEN,
                "closed_at": period.closed_at if period else None,
                "closed_by": period.closed_by.username if period and period.closed_by else None,
                "invoiced_at": period.invoiced_at if period else None,
                "records": sums.get("record_count") or 0,
                "cost": sums.get("cost_sum") or 0,
                "unrated": sums.get("unrated") or 0,
                "unallocated": sums.get("unallocated") or 0,
                "invoices": invoiced.get("n", 0),
                "issued": invoiced.get("issued", 0),
                "acknowledged": period.acknowledged if period else {},
            }
        )
    return rows
