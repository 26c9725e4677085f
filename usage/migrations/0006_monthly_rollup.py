"""The monthly rollup (department × vendor × model × month), kept in step with the daily rollups by
statement-level triggers, and back-filled from them.

Each INSERT, UPDATE or DELETE statement on usage_daily_rollup adds its change to the months it
touches, once per statement: the transition tables (the rows the statement inserted, or the old
and new versions of the rows it updated, or the rows it deleted) are grouped by month and upserted
in key order, so concurrent writers lock monthly rows in one order. An UPDATE adds new − old (a row
moved to another key leaves one month and joins the other). A monthly row left empty — no records,
no true-up, no agreement cost: usage.pipeline.persist.EMPTY_ROLLUP, written out here because a
migration must not change when that constant does — is deleted, as the daily rows are.
`INSERT … ON CONFLICT DO UPDATE` fires both the INSERT trigger (rows it inserted) and the UPDATE
trigger (rows it updated). TRUNCATE of the daily rollups is not followed.

The triggers are created before the back-fill: CREATE TRIGGER locks usage_daily_rollup against
writes until this migration commits, so nothing written meanwhile is lost or counted twice.

The partial index on the daily rollups lists the rows with a negative true-up: the only rows whose
cost can be negative (records' costs are not). A month without one has a cumulative spend that
never falls within it, so a budget's crossing day is found from month sums plus the days of the
one month it happens in (billing.selectors.budgets).
"""

import django.db.models.deletion
from django.db import migrations, models

import core.fields

SUMS = [
    "records",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "failed_requests",
    "cost",
    "list_cost",
    "unpriced_records",
    "off_contract_cost",
    "agreement_cost",
    "true_up_cost",
]
KEY = "month, department_id, vendor_id, model"
MONTH = "date_trunc('month', {t}.day::timestamp)::date"  # timestamp without zone: no session time zone
EMPTY = "records = 0 AND true_up_cost = 0 AND agreement_cost = 0"  # usage.pipeline.persist.EMPTY_ROLLUP


def _upsert(rows: str) -> str:
    """Add the grouped sums of `rows` (alias d: day, department_id, vendor_id, model, SUMS) to the
    monthly rollups, in key order; collect the ids of rows left empty."""
    sums = ", ".join(f"sum(d.{name})" for name in SUMS)
    updates = ", ".join(f"{name} = m.{name} + excluded.{name}" for name in SUMS)
    return f"""
    WITH up AS (
        INSERT INTO usage_monthly_rollup AS m ({KEY}, {", ".join(SUMS)})
        SELECT {MONTH.format(t="d")}, d.department_id, d.vendor_id, d.model, {sums}
        FROM ({rows}) d
        GROUP BY 1, 2, 3, 4
        ORDER BY 1, 2, 3, 4
        ON CONFLICT (month, department_id, vendor_id, model) DO UPDATE SET {updates}
        RETURNING m.id, m.records, m.true_up_cost, m.agreement_cost
    )
    SELECT array_agg(up.id) INTO emptied FROM up
    WHERE up.records = 0 AND up.true_up_cost = 0 AND up.agreement_cost = 0;"""


COLUMNS = ", ".join(SUMS)
NEGATED = ", ".join(f"-{name} AS {name}" for name in SUMS)
INSERTED = f"SELECT day, department_id, vendor_id, model, {COLUMNS} FROM new_rows"
DELETED = f"SELECT day, department_id, vendor_id, model, {NEGATED} FROM old_rows"
FUNCTION = f"""
CREATE FUNCTION usage_monthly_rollup_follow() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    emptied bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_upsert(INSERTED)}
    ELSIF TG_OP = 'UPDATE' THEN
        {_upsert(f"{INSERTED} UNION ALL {DELETED}")}
    ELSE
        {_upsert(DELETED)}
    END IF;
    IF emptied IS NOT NULL THEN
        DELETE FROM usage_monthly_rollup WHERE id = ANY(emptied) AND {EMPTY};
    END IF;
    RETURN NULL;
END
$$
"""
TRIGGERS = [
    """CREATE TRIGGER usage_monthly_rollup_insert AFTER INSERT ON usage_daily_rollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_rollup_follow()""",
    """CREATE TRIGGER usage_monthly_rollup_update AFTER UPDATE ON usage_daily_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_rollup_follow()""",
    """CREATE TRIGGER usage_monthly_rollup_delete AFTER DELETE ON usage_daily_rollup
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_monthly_rollup_follow()""",
]
DROP_TRIGGERS = [
    f"DROP TRIGGER IF EXISTS usage_monthly_rollup_{event} ON usage_daily_rollup"
    for event in ("insert", "update", "delete")
]
BACKFILL = f"""
INSERT INTO usage_monthly_rollup ({KEY}, {COLUMNS})
SELECT {MONTH.format(t="d")}, d.department_id, d.vendor_id, d.model, {", ".join(f"sum(d.{name})" for name in SUMS)}
FROM usage_daily_rollup d
GROUP BY 1, 2, 3, 4
HAVING NOT (sum(d.records) = 0 AND sum(d.true_up_cost) = 0 AND sum(d.agreement_cost) = 0)
ORDER BY 1, 2, 3, 4
"""


class Migration(migrations.Migration):
    dependencies = [
        ("procurement", "0004_price_periods_do_not_overlap"),
        ("usage", "0004_usage_record_fillfactor"),
    ]

    operations = [
        migrations.CreateModel(
            name="MonthlyRollup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the month.")),
                ("model", models.CharField(max_length=200)),
                ("records", models.BigIntegerField(default=0)),
                ("input_tokens", models.BigIntegerField(default=0)),
                ("cached_input_tokens", models.BigIntegerField(default=0)),
                ("cache_write_tokens", models.BigIntegerField(default=0)),
                ("output_tokens", models.BigIntegerField(default=0)),
                ("requests", models.BigIntegerField(default=0)),
                ("failed_requests", models.BigIntegerField(default=0)),
                ("cost", core.fields.CostField(default=0, help_text="In the reporting currency.")),
                ("list_cost", core.fields.CostField(default=0, help_text="In the reporting currency.")),
                (
                    "unpriced_records",
                    models.BigIntegerField(default=0, help_text="Records without a cost in the reporting currency."),
                ),
                ("off_contract_cost", core.fields.CostField(default=0)),
                (
                    "agreement_cost",
                    core.fields.CostField(
                        default=0, help_text="In the currency of the agreement in force, true-ups included."
                    ),
                ),
                (
                    "true_up_cost",
                    core.fields.CostField(
                        default=0, help_text="Volume true-ups booked in this month (included in cost)."
                    ),
                ),
                (
                    "department",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="procurement.department",
                    ),
                ),
                (
                    "vendor",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="procurement.vendor",
                    ),
                ),
            ],
            options={
                "db_table": "usage_monthly_rollup",
                "indexes": [models.Index(fields=["department", "month"], name="usage_monthly_dept_month")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "department", "vendor", "model"), name="usage_monthly_rollup_key"
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="dailyrollup",
            index=models.Index(
                condition=models.Q(("true_up_cost__lt", 0)),
                fields=["department", "day"],
                name="usage_rollup_negative_true_up",
            ),
        ),
        migrations.RunSQL([FUNCTION], reverse_sql=["DROP FUNCTION usage_monthly_rollup_follow()"]),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
        migrations.RunSQL([BACKFILL, "ANALYZE usage_monthly_rollup"], reverse_sql=migrations.RunSQL.noop),
    ]
