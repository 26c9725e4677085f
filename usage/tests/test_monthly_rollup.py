"""The monthly rollups equal the daily rollups grouped by month after every path that writes the
daily ones: ingestion, restatement, re-attribution, re-rating and true-ups (the database's
triggers keep them in step), and after plain statements on the daily rollups (updates moving a
row to another month, deletes, rows left empty). The migration's back-fill gives the same."""

from __future__ import annotations

import importlib
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from core.roles import Role
from core.testing import token_client
from usage.models import DailyRollup, MonthlyRollup, TrueUp, UsageRecord
from usage.pipeline.persist import EMPTY_ROLLUP

from .factories import record, world
from .test_contract_rating import MONTHLY, VOLUME_OUTPUT, agreement, agreement_rules, ingest, rec

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
MIGRATION = importlib.import_module("usage.migrations.0006_monthly_rollup")


def daily_by_month() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT date_trunc('month', day::timestamp)::date, department_id, vendor_id, model,
                       {", ".join(f"sum({name})" for name in SUMS)}
                FROM usage_daily_rollup GROUP BY 1, 2, 3, 4
                HAVING NOT (sum(records) = 0 AND sum(true_up_cost) = 0 AND sum(agreement_cost) = 0)
                ORDER BY 1, 2, 3, 4"""
        )
        return cursor.fetchall()


def monthly() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT month, department_id, vendor_id, model, {', '.join(SUMS)} "
            "FROM usage_monthly_rollup ORDER BY 1, 2, 3, 4"
        )
        return cursor.fetchall()


def assert_in_step(*, months: int | None = None) -> list[tuple]:
    rows = monthly()
    assert rows == daily_by_month()
    assert all(row[0].day == 1 for row in rows)
    if months is not None:
        assert len({row[0] for row in rows}) == months
    return rows


def spread(i: int, **overrides) -> dict:
    """Records over February, March and April 2026."""
    month = 2 + i % 3
    return record(
        i,
        external_id=f"m{i}",
        bucket_start=f"2026-{month:02d}-{1 + i % 27:02d}T{i % 24:02d}:00:00Z",
        bucket_end=None,
        api_key_id=f"k-{i % 2}",
        **overrides,
    )


@pytest.mark.django_db
class TestPipelinePaths:
    @pytest.fixture
    def finance(self, role_world):
        world()
        world(model="gpt-4o-mini", price_in="0.15", price_out="0.6", cached=None)
        return token_client(role_world.user(Role.FINANCE))

    def test_ingestion(self, finance):
        batch = [spread(i, model=("gpt-4o", "gpt-4o-mini", "no-price")[i % 3]) for i in range(60)]
        batch += [spread(100 + i, department="T-IN") for i in range(9)]
        assert finance.post("/api/v1/usage/records", batch, format="json").json()["accepted"] == 69
        rows = assert_in_step(months=3)
        assert sum(row[4] for row in rows) == 69  # records
        assert any(row[4 + SUMS.index("unpriced_records")] for row in rows)

    def test_restatement_moves_records_between_months_and_empties_rows(self, finance):
        batch = [spread(i) for i in range(12)]
        finance.post("/api/v1/usage/records", batch, format="json")
        assert_in_step(months=3)
        # every February record moves to May with other tokens: February's rows are left empty
        moved = [
            {**r, "bucket_start": r["bucket_start"].replace("2026-02-", "2026-05-"), "input_tokens": 7}
            for r in batch
            if r["bucket_start"].startswith("2026-02-")
        ]
        changed = [{**r, "output_tokens": 1} for r in batch if r["bucket_start"].startswith("2026-03-")]
        body = finance.post("/api/v1/usage/records", moved + changed, format="json").json()
        assert body["restated"] == len(moved) + len(changed)
        rows = assert_in_step(months=3)
        assert date(2026, 2, 1) not in {row[0] for row in rows}
        # (the pipeline deletes emptied daily rows of the new days only: February's stay, empty)
        assert not DailyRollup.objects.filter(day__month=2).exclude(records=0).exists()

    def test_reattribution(self, finance, role_world, django_capture_on_commit_callbacks):
        finance.post("/api/v1/usage/records", [spread(i) for i in range(30)], format="json")
        before = assert_in_step(months=3)
        with django_capture_on_commit_callbacks(execute=True):
            response = finance.post(
                "/api/v1/attribution-rules/",
                {"priority": 10, "dimension": "api_key_id", "value": "k-1", "department": "T-IN"},
                format="json",
            )
        assert response.status_code == 201, response.content
        after = assert_in_step(months=3)
        assert after != before
        assert role_world.inside.pk in {row[1] for row in after}


@pytest.mark.django_db(transaction=True)
class TestRatingPaths:
    @pytest.fixture
    def acme(self, role_world):
        world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
        return role_world

    def test_re_rating_after_an_amendment(self, acme):
        procurement = token_client(acme.user(Role.PROCUREMENT))
        agreement(procurement)
        finance = token_client(acme.user(Role.FINANCE))
        records = [rec(1, 1, 0, 1_000_000), rec(2, 20, 0, 1_000_000), rec(3, 25, 5_000, 2_000_000)]
        records.append({**rec(4, 1, 0, 3_000_000), "bucket_start": "2026-04-02T00:00:00Z"})
        ingest(finance, records)
        before = assert_in_step(months=2)
        rules = agreement_rules()
        rules[1]["effective_to"] = "2026-03-14"
        rules.append(
            {
                **rules[1],
                "effective_from": "2026-03-15",
                "effective_to": None,
                "tiers": [{"from_tokens": 0, "price": "0.90"}],
            }
        )
        response = procurement.patch("/api/v1/agreements/FA-ACME/", {"price_rules": rules}, format="json")
        assert response.status_code == 200, response.content
        assert UsageRecord.objects.get(external_id="a2").cost == Decimal("0.9")
        after = assert_in_step(months=2)
        assert after != before

    def test_true_up_booked_and_recomputed(self, acme):
        agreement(token_client(acme.user(Role.PROCUREMENT)), price_rules=[VOLUME_OUTPUT], commitments=[MONTHLY])
        finance = token_client(acme.user(Role.FINANCE))
        ingest(finance, [rec(3, 12, 0, 400_000), rec(1, 10, 0, 600_000), rec(2, 11, 0, 300_000)])
        assert TrueUp.objects.get().adjustment == Decimal("-0.09")
        rows = assert_in_step(months=1)
        assert sum(row[4 + SUMS.index("true_up_cost")] for row in rows) == Decimal("-0.09")
        ingest(finance, [rec(4, 5, 0, 100_000)])  # late: the true-up is recomputed
        rows = assert_in_step(months=1)
        assert sum(row[4 + SUMS.index("cost")] for row in rows) == Decimal("0.28")
        march = MonthlyRollup.objects.get()
        assert march.month == date(2026, 3, 1) and march.records == 4


@pytest.mark.django_db
class TestStatements:
    """Plain statements on the daily rollups, as the triggers see them."""

    @pytest.fixture
    def rows(self, role_world):
        from billing.tests.factories import DailyRollupFactory
        from procurement.tests.factories import VendorFactory

        vendor = VendorFactory(slug="trig")
        made = [
            DailyRollupFactory(day=date(2026, 1, day), department=role_world.inside, vendor=vendor, cost=Decimal(day))
            for day in (1, 15, 31)
        ]
        made.append(
            DailyRollupFactory(day=date(2026, 2, 1), department=role_world.outside, vendor=vendor, cost=Decimal("2.5"))
        )
        return made

    def test_inserts_add_per_month(self, rows):
        got = assert_in_step(months=2)
        january = next(row for row in got if row[0] == date(2026, 1, 1))
        assert january[4] == 3 and january[4 + SUMS.index("cost")] == Decimal(47)

    def test_an_update_adds_new_minus_old_and_may_move_a_row(self, rows, role_world):
        DailyRollup.objects.filter(day__month=1).update(cost=Decimal("0.5"), input_tokens=9)
        assert_in_step(months=2)
        moved = rows[0]
        moved.day, moved.department = date(2026, 3, 3), role_world.outside
        moved.save()
        assert_in_step(months=3)

    def test_deletes_subtract_and_empty_rows_go(self, rows):
        DailyRollup.objects.filter(day=date(2026, 2, 1)).delete()
        assert [row[0] for row in assert_in_step(months=1)] == [date(2026, 1, 1)]
        DailyRollup.objects.filter(day=date(2026, 1, 15)).update(records=0)
        assert MonthlyRollup.objects.get().records == 2
        DailyRollup.objects.all().delete()
        assert monthly() == []

    def test_a_row_without_records_is_kept_while_it_holds_a_true_up(self, rows):
        DailyRollup.objects.all().update(records=0, true_up_cost=Decimal("1"))
        assert_in_step(months=2)
        DailyRollup.objects.filter(day__month=2).update(true_up_cost=0)  # empty by EMPTY_ROLLUP
        assert [row[0] for row in assert_in_step(months=1)] == [date(2026, 1, 1)]

    def test_the_migration_back_fills_the_same_rows(self, rows):
        expected = assert_in_step(months=2)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM usage_monthly_rollup")
            cursor.execute(MIGRATION.BACKFILL)
        assert monthly() == expected

    def test_the_trigger_deletes_what_the_pipeline_calls_empty(self):
        """The migration writes EMPTY_ROLLUP out (a migration must not follow a later change of
        the constant); when the constant changes, a new migration must change the trigger."""
        assert MIGRATION.EMPTY == EMPTY_ROLLUP
        with connection.cursor() as cursor:
            cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'usage_monthly_rollup_follow'")
            assert EMPTY_ROLLUP in cursor.fetchone()[0]
