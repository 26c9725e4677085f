"""GET usage/summary from the rollups: totals equal an independent count of what was sent, in
any grouping; managers see only their departments; unattributed usage is UNALLOCATED."""

import random
from collections import defaultdict
from decimal import Decimal

import pytest

from core.roles import Role
from core.testing import assert_error_shape, token_client
from usage.services import attribution_rule_save

from .factories import record, world

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded(role_world):
    """600 records over 3 days, 3 departments (by rule, by their own field, unallocated), 2 models."""
    world()
    world(model="gpt-4o-mini", price_in="0.15", price_out="0.6", cached=None)
    attribution_rule_save(actor=None, dimension="api_key_id", value="k-in", department=role_world.inside)
    rng = random.Random(7)
    batch, expected = [], defaultdict(lambda: defaultdict(int))
    for i in range(600):
        day = 1 + i % 3
        key = rng.choice(["k-in", "k-none", "k-child"])
        rec = record(
            0,
            external_id=f"r{i}",
            model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
            bucket_start=f"2026-03-0{day}T{i % 24:02d}:00:00Z",
            bucket_end=None,
            input_tokens=rng.randint(0, 10**9),
            output_tokens=rng.randint(0, 10**7),
            api_key_id=key,
        )
        department = {"k-in": "T-IN", "k-none": "UNALLOCATED", "k-child": "T-IN-SUB"}[key]
        if key == "k-child":
            rec["department"] = "T-IN-SUB"
        batch.append(rec)
        expected[department]["input_tokens"] += rec["input_tokens"]
        expected[department]["output_tokens"] += rec["output_tokens"]
    client = token_client(role_world.user(Role.FINANCE))
    assert client.post("/api/v1/usage/records", batch, format="json").json()["accepted"] == 600
    return expected, batch


def summary(client, **params):
    response = client.get("/api/v1/usage/summary", {"start": "2026-03-01", "end": "2026-04-01", **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_totals_per_department_equal_an_independent_count(loaded, role_world):
    expected, _ = loaded
    body = summary(token_client(role_world.user(Role.AUDITOR)), group_by="department")
    assert body["currency"] == "USD"
    got = {r["department"]: r for r in body["rows"]}
    assert set(got) == set(expected)
    for department, sums in expected.items():
        assert got[department]["input_tokens"] == sums["input_tokens"]
        assert got[department]["output_tokens"] == sums["output_tokens"]


def test_costs_are_exact_and_every_grouping_adds_up(loaded, role_world):
    _, batch = loaded
    client = token_client(role_world.user(Role.FINANCE))
    prices = {
        "gpt-4o": (Decimal("2.5"), Decimal("1.25"), Decimal("10")),
        "gpt-4o-mini": (Decimal("0.15"), Decimal("0.15"), Decimal("0.6")),
    }
    total = sum(
        (
            r["input_tokens"] * prices[r["model"]][0]
            + r["cached_input_tokens"] * prices[r["model"]][1]
            + r["output_tokens"] * prices[r["model"]][2]
        )
        / Decimal(10**6)
        for r in batch
    )
    whole = summary(client)["rows"]
    assert len(whole) == 1 and Decimal(whole[0]["cost"]) == total and whole[0]["cost"].count(".") == 1
    assert len(whole[0]["cost"].split(".")[1]) == 12
    for grouping in ("vendor", "model", "day", "month", "department,model", "day,vendor,model,department"):
        rows = summary(client, group_by=grouping)["rows"]
        assert sum(Decimal(r["cost"]) for r in rows) == total, grouping
        assert sum(r["input_tokens"] for r in rows) == whole[0]["input_tokens"]
    days = [r["day"] for r in summary(client, group_by="day")["rows"]]
    assert days == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert summary(client, group_by="month")["rows"][0]["month"] == "2026-03"


def test_filters_and_exclusive_end(loaded, role_world):
    expected, _ = loaded
    client = token_client(role_world.user(Role.FINANCE))
    only_first = summary(client, end="2026-03-02", group_by="day")["rows"]
    assert [r["day"] for r in only_first] == ["2026-03-01"]
    in_tree = summary(client, department="T-IN")["rows"][0]  # the department and its sub-departments
    assert in_tree["input_tokens"] == expected["T-IN"]["input_tokens"] + expected["T-IN-SUB"]["input_tokens"]
    mini = summary(client, model="gpt-4o-mini", group_by="model")["rows"]
    assert [r["model"] for r in mini] == ["gpt-4o-mini"]
    assert summary(client, vendor="nobody")["rows"] == []


def test_manager_sees_only_their_departments(loaded, role_world):
    rows = summary(token_client(role_world.user(Role.DEPARTMENT_MANAGER)), group_by="department")["rows"]
    assert {r["department"] for r in rows} == {"T-IN", "T-IN-SUB"}
    assert summary(token_client(role_world.user(Role.DEPARTMENT_MANAGER)), department="UNALLOCATED")["rows"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"start": "x", "end": "2026-04-01"},
        {"start": "2026-03-01", "end": "2026-03-01"},
        {"start": "2026-03-01", "end": "2026-04-01", "group_by": "planet"},
    ],
)
def test_bad_parameters_answer_400(params, role_world):
    response = token_client(role_world.user(Role.FINANCE)).get("/api/v1/usage/summary", params)
    assert response.status_code == 400
    assert_error_shape(response)


def test_service_accounts_read_no_summary(role_world):
    world()
    client = token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"])
    assert client.get("/api/v1/usage/summary", {"start": "2026-03-01", "end": "2026-04-01"}).status_code == 403


def test_money_columns_beside_cost(loaded, role_world):
    """At list price without an agreement every cost is off contract, list cost equals cost, and
    there are no true-ups; each is a decimal string at 12 places."""
    client = token_client(role_world.user(Role.FINANCE))
    for grouping in ("", "department,model"):
        for row in summary(client, group_by=grouping)["rows"]:
            for name in ("cost", "list_cost", "off_contract_cost", "true_up_cost"):
                assert len(row[name].split(".")[1]) == 12, (name, row[name])
            assert row["list_cost"] == row["off_contract_cost"] == row["cost"]
            assert row["true_up_cost"] == "0.000000000000"


@pytest.mark.django_db(transaction=True)
def test_list_off_contract_and_true_up_costs_under_an_agreement(role_world):
    """acme's agreement prices acme-* output in volume tiers (0.30, from 1 000 000 tokens 0.20)
    with monthly periods; its other-model has no rule. March: 600 000, 300 000 and 400 000
    output tokens of acme-large (list price 2) and one other-model record of 1 000 000 input
    (list 1) and 1 000 000 output tokens (list 3).
    cost = 1 300 000 × 0.20 (after the true-up of −0.09 on 31 March) + 4 = 4.26;
    list_cost = 1 300 000 × 2 + 4 = 6.6; off_contract_cost = 4; true_up_cost = −0.09."""
    world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
    world(vendor="acme", model="other-model", price_in="1", price_out="3", cached=None)
    body = {
        "reference": "FA-ACME",
        "vendor": "acme",
        "start": "2026-01-01",
        "end": "2026-12-31",
        "currency": "USD",
        "status": "active",
        "price_rules": [
            {
                "model_pattern": "acme-*",
                "token_class": "output",
                "schedule": "volume",
                "tiers": [{"from_tokens": 0, "price": "0.30"}, {"from_tokens": 1_000_000, "price": "0.20"}],
            }
        ],
        "commitments": [
            {
                "unit": "tokens",
                "amount": "1000000",
                "period": "monthly",
                "token_classes": [],
                "treatment": "take_or_pay",
                "shortfall_price": "0.10",
                "shortfall_allocation": "central",
                "central_department": "T-IN",
            }
        ],
        "sla_clauses": [],
    }
    response = token_client(role_world.user(Role.PROCUREMENT)).post("/api/v1/agreements/", body, format="json")
    assert response.status_code == 201, response.content

    def acme(i, day, model="acme-large", tokens_in=0, tokens_out=0):
        return record(
            0,
            external_id=f"a{i}",
            vendor="acme",
            model=model,
            bucket_start=f"2026-03-{day:02d}T00:00:00Z",
            bucket_end=None,
            input_tokens=tokens_in,
            cached_input_tokens=0,
            output_tokens=tokens_out,
            department="T-IN",
        )

    finance = token_client(role_world.user(Role.FINANCE))
    batch = [
        acme(1, 10, tokens_out=600_000),
        acme(2, 11, tokens_out=300_000),
        acme(3, 12, tokens_out=400_000),
        acme(4, 13, model="other-model", tokens_in=1_000_000, tokens_out=1_000_000),
    ]
    answer = finance.post("/api/v1/usage/records", batch, format="json").json()
    assert answer["accepted"] == 4, answer
    (whole,) = summary(finance)["rows"]
    assert (whole["cost"], whole["list_cost"]) == ("4.260000000000", "6.600000000000")
    assert (whole["off_contract_cost"], whole["true_up_cost"]) == ("4.000000000000", "-0.090000000000")
    models = {r["model"]: r for r in summary(finance, group_by="model")["rows"]}
    assert models["acme-large"]["off_contract_cost"] == "0.000000000000"
    assert models["acme-large"]["list_cost"] == "2.600000000000"
    assert models["other-model"]["cost"] == models["other-model"]["off_contract_cost"] == "4.000000000000"
    days = {r["day"]: r for r in summary(finance, group_by="day")["rows"]}
    assert days["2026-03-31"]["true_up_cost"] == "-0.090000000000" and days["2026-03-31"]["requests"] == 0
    assert sum(Decimal(r["true_up_cost"]) for r in days.values()) == Decimal("-0.09")


# Whole months from the monthly rollups, edge days from the daily ones ----------------------------

DAILY_GROUPS = {
    "vendor": "v.slug",
    "model": "r.model",
    "department": "d.code",
    "day": "r.day",
    "month": "to_char(r.day, 'YYYY-MM')",
}


def daily_path(query, *, user) -> list[dict]:
    """The summary read from the daily rollups only, grouped on the labels (as it was before the
    monthly rollups): what every answer must equal."""
    from django.db import connection

    from usage.selectors import MONEY_SUMS, SUMS, _rollup_where

    where, params = _rollup_where(
        user=user,
        start=query.start,
        end=query.end,
        vendors=query.vendors,
        models=query.models,
        departments=query.departments,
    )
    selected = [f"{DAILY_GROUPS[g]} AS {g}" for g in query.group_by]
    sums = [f"sum(r.{name})::bigint AS {name}" for name in SUMS]
    money = [f"sum(r.{name}) AS {name}" for name in MONEY_SUMS]
    positions = ", ".join(str(i + 1) for i in range(len(selected)))
    sql = f"""
        SELECT {", ".join([*selected, *sums, *money, "sum(r.unpriced_records)::bigint AS unpriced_records"])}
        FROM usage_daily_rollup r
        JOIN procurement_vendor v ON v.id = r.vendor_id
        JOIN procurement_department d ON d.id = r.department_id
        WHERE {" AND ".join(where)}
        {"GROUP BY " + positions if selected else ""} {"ORDER BY " + positions if selected else ""}
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        rows = [dict(zip(names, raw, strict=True)) for raw in cursor.fetchall()]
    answer = []
    for row in rows:
        if not query.group_by and row["requests"] is None:
            continue
        for name in (*SUMS, "unpriced_records"):
            row[name] = row[name] or 0
        for name in MONEY_SUMS:
            row[name] = f"{row[name]:.12f}" if row[name] is not None else "0.000000000000"
        if "day" in row:
            row["day"] = row["day"].isoformat()
        answer.append(row)
    return answer


@pytest.mark.parametrize("seed", range(3))
def test_monthly_and_daily_paths_give_the_same_answers(role_world, seed):
    """Random rollups over January–June (true-ups and unpriced records among them); ranges
    with partial months at either end, whole months, a few days inside one month, one day;
    every grouping, the filters, a manager: the summary (whole months from the monthly rollups,
    edge days from the daily ones) equals the daily rollups' answer, row for row and in order."""
    from datetime import date, timedelta

    from billing.tests.factories import DailyRollupFactory
    from procurement.tests.factories import VendorFactory
    from usage.selectors import SummaryQuery, usage_summary

    rng = random.Random(seed)
    vendors = [VendorFactory(slug=slug) for slug in ("v-a", "v-b", "v-c")]
    departments = [role_world.inside, role_world.inside_child, role_world.outside]
    seen = set()
    for _ in range(400):
        key = (
            date(2026, 1, 1) + timedelta(days=rng.randrange(181)),
            rng.choice(departments),
            rng.choice(vendors),
            rng.choice(["m-1", "m-2", "m-3"]),
        )
        if key in seen:
            continue
        seen.add(key)
        true_up = Decimal(rng.randrange(-500, 500)) / 1000 if rng.random() < 0.05 else Decimal(0)
        cost = Decimal(rng.randrange(0, 10**9)) / 10**6
        DailyRollupFactory(
            day=key[0],
            department=key[1],
            vendor=key[2],
            model=key[3],
            records=rng.randint(1, 50),
            input_tokens=rng.randrange(10**9),
            cached_input_tokens=rng.randrange(10**6),
            output_tokens=rng.randrange(10**8),
            requests=rng.randint(1, 500),
            cost=cost + true_up,
            list_cost=cost * 2,
            off_contract_cost=cost / 4,
            true_up_cost=true_up,
            unpriced_records=rng.choice([0, 0, 0, 1]),
        )
    ranges = [
        (date(2026, 1, 1), date(2026, 7, 1)),  # whole months only
        (date(2026, 1, 17), date(2026, 5, 9)),  # partial at both ends
        (date(2026, 2, 1), date(2026, 4, 20)),  # partial at the end
        (date(2026, 2, 27), date(2026, 4, 1)),  # partial at the start
        (date(2026, 3, 3), date(2026, 3, 30)),  # inside one month
        (date(2026, 3, 31), date(2026, 4, 1)),  # one day
        (date(2025, 12, 30), date(2026, 8, 2)),  # beyond the data
    ]
    groupings = [(), ("vendor",), ("month",), ("department", "month"), ("vendor", "model", "month"), ("model", "day")]
    groupings += [("day", "vendor", "model", "department"), ("month", "department", "vendor", "model")]
    filters = [{}, {"vendors": ("v-b",)}, {"departments": ("T-IN",)}, {"models": ("m-2", "m-3")}]
    finance, manager = role_world.user(Role.FINANCE), role_world.user(Role.DEPARTMENT_MANAGER)
    compared = 0
    for start, end in ranges:
        for group_by in groupings:
            for extra in filters:
                for user in (finance, manager):
                    query = SummaryQuery(start=start, end=end, group_by=group_by, **extra)
                    expected = daily_path(query, user=user)
                    assert usage_summary(query, user=user)["rows"] == expected, (start, end, group_by, extra, user)
                    compared += bool(expected)
    assert compared > 300
