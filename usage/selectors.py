"""Reads of the usage app: the summary (from the rollups), records, runs and their rejected rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection

from core.policy import is_department_scoped
from core.scoping import visible_department_ids
from core.selectors import organization_settings
from procurement.directory import descendant_ids

from .models import IngestionRun, UsageRecord, VendorCostLine
from .rollups import rollup_rows

# A summary groups on the rollups' own columns (hashing a few hundred groups), then labels the
# result rows: (the rollup column, the label of the grouped row g).
GROUPS = {
    "vendor": ("vendor_id", "v.slug"),
    "model": ("model", "g.model"),
    "department": ("department_id", "d.code"),
    "day": ("day", "g.day"),
    "month": ("month", "to_char(g.month, 'YYYY-MM')"),
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


def _rollup_where(
    *, user, start: date | None, end: date | None, vendors=(), models=(), departments=(), department_ids=None
) -> tuple[list[str], list]:
    """The WHERE of a read of the daily rollups (alias r, vendors joined as v): the filters, a
    department (by code, or the ids of a department tree) with its sub-departments, and a
    department manager's departments only."""
    where: list[str] = []
    params: list = []
    if start is not None:
        where.append("r.day >= %s")
        params.append(start)
    if end is not None:
        where.append("r.day < %s")
        params.append(end)
    if vendors:
        where.append("v.slug = ANY(%s)")
        params.append(list(vendors))
    if models:
        where.append("r.model = ANY(%s)")
        params.append(list(models))
    if departments:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM procurement_department WHERE code = ANY(%s)", [list(departments)])
            roots = [row[0] for row in cursor.fetchall()]
        department_ids = descendant_ids(roots) if roots else set()
    if department_ids is not None:
        where.append("r.department_id = ANY(%s)")
        params.append(sorted(department_ids) or [-1])
    if is_department_scoped(user, "usage"):
        where.append("r.department_id = ANY(%s)")
        params.append(sorted(visible_department_ids(user)) or [-1])
    return where or ["TRUE"], params


# Money sums of a summary row (rollup columns of the same names), in the reporting currency:
# `cost` includes the true-ups; `off_contract_cost` is its list-priced part.
MONEY_SUMS = ("cost", "list_cost", "off_contract_cost", "true_up_cost")
ZERO_COST = "0.000000000000"


def usage_summary(query: SummaryQuery, *, user) -> dict:
    """Token and cost totals from the rollups, grouped as asked. A department filter takes in its
    sub-departments (a department's actuals include them); a department manager sees only their
    departments. Costs are in the reporting currency at the full stored precision.

    Without `day` in the grouping, whole months are read from the monthly rollups and only the
    days at either edge of the range from the daily ones (usage.rollups): a year is a few
    thousand rows rather than a few hundred thousand. Rows are grouped on the rollups' columns
    (ids, model, day, month) and vendors and departments joined for their labels afterwards,
    on the few grouped rows."""
    where, params = _rollup_where(user=user, start=None, end=None, models=query.models, departments=query.departments)
    if query.vendors:
        where.append("r.vendor_id IN (SELECT id FROM procurement_vendor WHERE slug = ANY(%s))")
        params.append(list(query.vendors))
    groups = list(dict.fromkeys(query.group_by))
    keys = [GROUPS[g][0] for g in groups]
    rows_sql, params = rollup_rows(
        query.start,
        query.end,
        columns=[*keys, *SUMS, *MONEY_SUMS, "unpriced_records"],
        where=" AND ".join(where),
        params=params,
        by_day="day" in groups,
    )
    grouped = ", ".join([*(f"r.{key}" for key in keys), *(f"sum(r.{name})::bigint AS {name}" for name in SUMS)])
    grouped += ", " + ", ".join(f"sum(r.{name}) AS {name}" for name in MONEY_SUMS)
    labels = [f"{GROUPS[g][1]} AS {g}" for g in groups]
    joins = ""
    if "vendor" in groups:
        joins += " JOIN procurement_vendor v ON v.id = g.vendor_id"
    if "department" in groups:
        joins += " JOIN procurement_department d ON d.id = g.department_id"
    positions = ", ".join(str(i + 1) for i in range(len(labels)))
    sql = f"""
        SELECT {", ".join([*labels, *(f"g.{name}" for name in (*SUMS, *MONEY_SUMS)), "g.unpriced"])}
        FROM (
            SELECT {grouped}, sum(r.unpriced_records)::bigint AS unpriced
            FROM ({rows_sql}) r
            {"GROUP BY " + ", ".join(f"r.{key}" for key in keys) if keys else ""}
        ) g{joins}
        {"ORDER BY " + positions if labels else ""}
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
        for name in MONEY_SUMS:
            amount = item.pop(name)
            item[name] = f"{amount:.12f}" if amount is not None else ZERO_COST
        item["unpriced_records"] = item.pop("unpriced") or 0
        if "day" in item:
            item["day"] = item["day"].isoformat()
        rows.append(item)
    return {"currency": organization_settings().reporting_currency, "rows": rows}


def usage_records():
    """Usage records with what a list shows (source, vendor, department and rating basis joined),
    newest first."""
    return (
        UsageRecord.objects.select_related("source", "vendor", "department", "rating_basis")
        .defer("key")
        .order_by("-bucket_start", "-id")
    )


class RecordsByVendor:
    """A page of usage records in time order, read vendor by vendor through the (vendor_id,
    bucket_start) index — the table's only index — rather than by sorting every matching record.

    Each vendor's first `stop` records (in the queryset's order, with its filters) hold the first
    `stop` of all vendors together, so the page is sliced from their union: one statement of a
    few index scans per vendor whatever the table's size. Past `DEEP` records (a far page) the
    union grows with the depth and the plain query is used. Paginator-compatible: slicing,
    `count()`, `ordered`."""

    DEEP = 10_000
    ordered = True

    def __init__(self, queryset):
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, item):
        if not isinstance(item, slice) or item.stop is None or item.stop > self.DEEP:
            return self.queryset[item]
        from django.contrib.postgres.expressions import ArraySubquery
        from django.db.models import BigIntegerField, Func, OuterRef

        from procurement.models import Vendor

        ordering = self.queryset.query.order_by
        firsts = self.queryset.filter(vendor_id=OuterRef("pk")).order_by(*ordering).values("id")[: item.stop]
        candidates = Vendor.objects.order_by().values(
            record_id=Func(ArraySubquery(firsts), function="unnest", output_field=BigIntegerField())
        )
        return self.queryset.filter(id__in=candidates)[item]


def usage_record_count(
    *, user, vendor_id: int | None = None, model: str | None = None, department_ids=None, start=None, end=None
) -> int:
    """How many usage records there are of a vendor, model, department tree (ids) and usage
    dates [start, end) — what a department manager sees — counted from the daily rollups: exact,
    since they change in the same transaction as the records, and thousands of rows rather than
    millions."""
    where, params = _rollup_where(
        user=user, start=start, end=end, models=[model] if model else (), department_ids=department_ids
    )
    if vendor_id is not None:
        where.append("r.vendor_id = %s")
        params.append(vendor_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(sum(r.records), 0)::bigint FROM usage_daily_rollup r WHERE {' AND '.join(where)}", params
        )
        return cursor.fetchone()[0]


def agreement_references(agreement_ids) -> dict[int, str]:
    """Agreement id → reference for the ids given (records keep the id, not a foreign key)."""
    ids = {i for i in agreement_ids if i is not None}
    if not ids:
        return {}
    from contracts.models import Agreement

    return dict(Agreement.objects.filter(id__in=ids).order_by().values_list("id", "reference"))


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
