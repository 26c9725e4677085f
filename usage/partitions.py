"""Monthly partitions of `usage_record`, for a database where it is range-partitioned by month.

The migrations create `usage_record` as a plain table: uniqueness lives in `usage_key`, so the
table *can* be converted to `PARTITION BY RANGE (bucket_start)` without losing global idempotency
(README "Monthly partitions"), but no migration does it. On a partitioned table each month needs
its partition before records of that month arrive; `manage.py usage_partitions` creates the
coming months' ahead of time and does nothing on a plain table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connection


@dataclass(frozen=True)
class MonthPartition:
    name: str
    start: date
    end: date  # exclusive: the first day of the next month
    created: bool


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def range_partition_key(table: str) -> str | None:
    """The column `table` is range-partitioned on, or None when it is not range-partitioned."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.attname
            FROM pg_partitioned_table p
            JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
            WHERE p.partrelid = to_regclass(%s) AND p.partstrat = 'r' AND p.partnatts = 1
            """,
            [table],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def monthly_partitions_ensure(*, table: str, first: date, months: int) -> list[MonthPartition]:
    """Make sure `table` has a partition for each of `months` calendar months from `first`'s month
    (`<table>_pYYYY_MM`, bounds at UTC midnight of the first days). Existing ones are left alone."""
    if range_partition_key(table) is None:
        raise ValueError(f"{table} is not partitioned by range")
    qn = connection.ops.quote_name
    out = []
    month = first.replace(day=1)
    for _ in range(months):
        following = add_months(month, 1)
        name = f"{table}_p{month:%Y_%m}"
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            exists = cursor.fetchone()[0]
            if not exists:
                # bounds are literals (dates this function made), identifiers are quoted
                cursor.execute(
                    f"CREATE TABLE {qn(name)} PARTITION OF {qn(table)} "
                    f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{following.isoformat()} 00:00:00+00')"
                )
        out.append(MonthPartition(name, month, following, created=not exists))
        month = following
    return out
