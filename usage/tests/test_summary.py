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
