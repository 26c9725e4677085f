"""Reading the rollups over a range of days: whole months from the monthly rollups
(usage_monthly_rollup), the days at either edge from the daily ones (usage_daily_rollup).

A year of daily rollups is a few hundred thousand rows at ten million records a year; the same
year is a few thousand monthly rows plus the days of the month in progress. Both tables have the
same key columns (department_id, vendor_id, model) and sums, so a read names its columns once
and `rollup_rows` gives the rows of either table, with `month` (the first day of the month) for
both and `day` only when the read asks for days (then only the daily rollups are read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

# the month of a daily row (timestamp without time zone: the session's time zone plays no part)
MONTH_OF_DAY = "date_trunc('month', r.day::timestamp)::date"


def next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def whole_months(start: date, end: date) -> tuple[date, date] | None:
    """The whole calendar months in the days [start, end): (first month's first day, the day
    after the last month), or None when no month lies wholly inside."""
    first = start if start.day == 1 else next_month(start)
    after = end.replace(day=1)
    return (first, after) if first < after else None


def rollup_rows(
    start: date, end: date, *, columns: Sequence[str], where: str = "", params: Sequence = (), by_day: bool = False
) -> tuple[str, list]:
    """SQL (and its parameters) of the rollup rows covering the days [start, end), to read as
    `FROM (<sql>) r`: whole months from the monthly rollups, the other days from the daily ones.

    `columns`: names of rollup columns; "month" is the first day of the row's month in either
    table, "day" (only with `by_day`) the daily row's day. `where`: a condition on the columns
    both tables have (alias r; department_id, vendor_id, model, the sums), with `params`.
    With `by_day` every row comes from the daily rollups."""
    condition = f" AND ({where})" if where else ""
    daily_columns = ", ".join(f"{MONTH_OF_DAY} AS month" if c == "month" else f"r.{c}" for c in columns)
    months = None if by_day else whole_months(start, end)
    if months is None:
        sql = f"SELECT {daily_columns} FROM usage_daily_rollup r WHERE r.day >= %s AND r.day < %s{condition}"
        return sql, [start, end, *params]
    first, after = months
    monthly_columns = ", ".join(f"r.{c}" for c in columns)
    parts = [f"SELECT {monthly_columns} FROM usage_monthly_rollup r WHERE r.month >= %s AND r.month < %s{condition}"]
    values: list = [first, after, *params]
    edges = [(start, first), (after, end)]
    edges = [(a, b) for a, b in edges if a < b]
    if edges:
        days = " OR ".join("(r.day >= %s AND r.day < %s)" for _ in edges)
        parts.append(f"SELECT {daily_columns} FROM usage_daily_rollup r WHERE ({days}){condition}")
        values += [day for edge in edges for day in edge]
        values += list(params)
    return " UNION ALL ".join(parts), values


def last_day_to_end(last: date) -> date:
    """An inclusive last day as the exclusive end `rollup_rows` takes."""
    return last + timedelta(days=1)
