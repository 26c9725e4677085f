"""Reads of the usage app: the summary (from daily rollups), runs and their rejected rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection

from core.policy import is_department_scoped
from core.scoping import visible_department_ids
from core.selectors import organization_settings
from procurement.directory import descendant_ids

from .models import IngestionRun, VendorCostLine

GROUPS = {
    "vendor": ("v.slug", "vendor"),
    "model": ("r.model", "model"),
    "department": ("d.code", "department"),
    "day": ("r.day", "day"),
    "month": ("to_char(r.day, 'YYYY-MM')", "month"),
}
SUMS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "requests")


@dataclass(frozen=True)
class SummaryQuery:
    start: date
    end: date  # exclusive
    group_by: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


def usage_summary(query: SummaryQuery, *, user) -> dict:
    """Token and cost totals from the daily rollups, grouped as asked. A department filter takes
    in its sub-departments (a department's actuals include them); a department manager sees only
    their departments. Costs are in the reporting currency at the full stored precision."""
    where = ["r.day >= %s", "r.day < %s"]
    params: list = [query.start, query.end]
    if query.vendors:
        where.append("v.slug = ANY(%s)")
        params.append(list(query.vendors))
    if query.models:
        where.append("r.model = ANY(%s)")
        params.append(list(query.models))
    if query.departments:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM procurement_department WHERE code = ANY(%s)", [list(query.departments)])
            roots = [row[0] for row in cursor.fetchall()]
        where.append("r.department_id = ANY(%s)")
        params.append(sorted(descendant_ids(roots)) or [-1])
    if is_department_scoped(user, "usage"):
        where.append("r.department_id = ANY(%s)")
        params.append(sorted(visible_department_ids(user)) or [-1])
    selected = [f"{GROUPS[g][0]} AS {GROUPS[g][1]}" for g in query.group_by]
    sums = [f"sum(r.{name})::bigint AS {name}" for name in SUMS]
    sql = f"""
        SELECT {", ".join([*selected, *sums, "sum(r.cost) AS cost", "sum(r.unpriced_records)::bigint AS unpriced"])}
        FROM usage_daily_rollup r
        JOIN procurement_vendor v ON v.id = r.vendor_id
        JOIN procurement_department d ON d.id = r.department_id
        WHERE {" AND ".join(where)}
        {"GROUP BY " + ", ".join(str(i + 1) for i in range(len(selected))) if selected else ""}
        {"ORDER BY " + ", ".join(str(i + 1) for i in range(len(selected))) if selected else ""}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        raw_rows = cursor.fetchall()
    rows = []
    for raw in raw_rows:
        item = dict(zip(names, raw, strict=True))
        if not query.group_by and item["requests"] is None:
            continue  # no usage at all: an empty list rather than a row of nulls
        for name in SUMS:
            item[name] = item[name] or 0
        cost = item.pop("cost")
        item["cost"] = f"{cost:.12f}" if cost is not None else "0.000000000000"
        item["unpriced_records"] = item.pop("unpriced") or 0
        if "day" in item:
            item["day"] = item["day"].isoformat()
        rows.append(item)
    return {"currency": organization_settings().reporting_currency, "rows": rows}


def ingestion_runs():
    return IngestionRun.objects.select_related("source", "created_by")


def vendor_cost_lines():
    """What vendors' cost feeds say they charged, newest period first, with what a list shows."""
    return VendorCostLine.objects.select_related("vendor", "source").order_by("-period_start", "vendor_id", "id")


def usage_model_names() -> list[str]:
    """Model names to suggest in the explorer's filter: those of the price book (a small table;
    the explorer still accepts any name a feed carries)."""
    from procurement.models import VendorModel

    return list(VendorModel.objects.order_by("model").values_list("model", flat=True).distinct())


def latest_reattribution_run(*, user):
    """The re-attribution run the user's last rule change scheduled (None when there is none)."""
    from core.models import JobRun

    return JobRun.objects.filter(kind="reattribution", created_by=user).order_by("-created_at", "-id").first()
