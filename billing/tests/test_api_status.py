"""GET agreements/{reference}/commitment-status and GET budgets/{id}/status: shape, errors,
permissions and department scoping; and one end-to-end run from ingested records."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from contracts.models import Commitment
from core.roles import Role
from core.testing import assert_error_shape, expected_status, token_client
from procurement.tests.factories import BudgetFactory, VendorFactory
from usage.tests.factories import record, world

from .factories import DailyRollupFactory, agreement, commitment

pytestmark = pytest.mark.django_db

ROLES = [None, *Role]
ids = lambda r: getattr(r, "value", "anonymous")  # noqa: E731


def client_for(role_world, role):
    return APIClient() if role is None else token_client(role_world.user(role), scope="read")


@pytest.fixture
def commitment_agreement(db):
    fa = agreement("FA-API.1")
    commitment(fa, amount="900000000", period=Commitment.Period.QUARTERLY, shortfall_price=Decimal("0.50"))
    commitment(fa, unit="USD", amount="1000", period=Commitment.Period.MONTHLY, treatment="prepaid")
    return fa


def test_commitment_status_answer(commitment_agreement, role_world):
    DailyRollupFactory(
        day=date(2026, 2, 1),
        department=role_world.inside,
        vendor=commitment_agreement.vendor,
        input_tokens=300_000_000,
        agreement_cost=Decimal("250.5"),
    )
    response = token_client(role_world.user(Role.FINANCE)).get(
        "/api/v1/agreements/FA-API.1/commitment-status", {"as_of": "2026-02-14"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["agreement"], body["as_of"]) == ("FA-API.1", "2026-02-14")
    tokens, money = body["commitments"]
    contract = {
        "id",
        "committed",
        "consumed",
        "expected_to_date",
        "utilisation",
        "projected_end",
        "projected_low",
        "projected_high",
        "projected_shortfall",
        "shortfall_charge",
        "currency",
    }
    assert contract <= set(tokens) and contract <= set(money)
    # Q1: 90 days, 45 elapsed; 300 M consumed → projected 600 M, shortfall 300 M × 0.50 ÷ 10⁶ = 150
    assert tokens["committed"] == "900000000" and tokens["consumed"] == "300000000"
    assert tokens["expected_to_date"] == "450000000" and tokens["utilisation"] == "33.33"
    assert tokens["projected_end"] == tokens["projected_low"] == tokens["projected_high"] == "600000000"
    assert tokens["projected_shortfall"] == "300000000"
    assert tokens["shortfall_charge"] == "150.000000000000"
    assert (tokens["currency"], tokens["unit"], tokens["final"]) == ("USD", "tokens", False)
    assert tokens["period_start"] == "2026-01-01" and tokens["period_end"] == "2026-03-31"
    assert len(tokens["daily"]) == 90 and tokens["daily"][44] == {
        "date": "2026-02-14",
        "consumed": "300000000",
        "expected": "450000000",
    }
    assert tokens["daily"][45]["consumed"] is None
    # February, prepaid USD 1 000: 250.5 drawn on day 14 of 28 → projected 501, expiring 499
    assert money["consumed"] == "250.500000000000" and money["drawn"] == "250.500000000000"
    assert money["remaining"] == "749.500000000000" and money["overage"] == "0.000000000000"
    assert money["projected_end"] == "501.000000000000" and money["expiring"] == "499.000000000000"
    assert money["shortfall_charge"] == "0.000000000000"


def test_as_of_defaults_to_today_and_a_bad_date_answers_400(commitment_agreement, role_world):
    client = token_client(role_world.user(Role.AUDITOR))
    response = client.get("/api/v1/agreements/FA-API.1/commitment-status")
    assert response.status_code == 200 and response.json()["as_of"] == timezone.now().date().isoformat()
    for bad in ("2026-02-30", "yesterday", "14/02/2026"):
        response = client.get("/api/v1/agreements/FA-API.1/commitment-status", {"as_of": bad})
        assert response.status_code == 400, bad
        assert_error_shape(response)
        assert "as_of" in response.json()["extra"]["fields"]
    budget = BudgetFactory(department=role_world.inside)
    response = client.get(f"/api/v1/budgets/{budget.pk}/status", {"as_of": "2026-13-01"})
    assert response.status_code == 400
    assert_error_shape(response)


def test_unknown_objects_answer_404(role_world):
    client = token_client(role_world.user(Role.FINANCE))
    for url in ("/api/v1/agreements/NOPE/commitment-status", "/api/v1/budgets/999999/status"):
        response = client.get(url)
        assert response.status_code == 404
        assert_error_shape(response)


@pytest.mark.parametrize("role", ROLES, ids=ids)
def test_commitment_status_is_read_by_whoever_reads_agreements(role, commitment_agreement, role_world):
    response = client_for(role_world, role).get("/api/v1/agreements/FA-API.1/commitment-status")
    assert response.status_code == expected_status(role, "agreement", "view", ok=200)
    if response.status_code != 200:
        assert_error_shape(response)


@pytest.mark.parametrize("role", ROLES, ids=ids)
def test_budget_status_follows_the_budget_policy_and_department_scope(role, role_world):
    inside_child = BudgetFactory(department=role_world.inside_child)
    outside = BudgetFactory(department=role_world.outside)
    client = client_for(role_world, role)
    mine = client.get(f"/api/v1/budgets/{inside_child.pk}/status")
    assert mine.status_code == expected_status(role, "budget", "view", ok=200, in_scope=True)
    theirs = client.get(f"/api/v1/budgets/{outside.pk}/status")
    assert theirs.status_code == expected_status(role, "budget", "view", ok=200, in_scope=False)
    if role == Role.DEPARTMENT_MANAGER:
        assert (mine.status_code, theirs.status_code) == (200, 404)
        assert_error_shape(theirs)


def test_budget_status_answer(role_world):
    vendor = VendorFactory(slug="v-api")
    budget = BudgetFactory(department=role_world.inside, amount=Decimal("1200.00"))
    DailyRollupFactory(day=date(2026, 1, 15), department=role_world.inside_child, vendor=vendor, cost=Decimal("400"))
    response = token_client(role_world.user(Role.DEPARTMENT_MANAGER)).get(
        f"/api/v1/budgets/{budget.pk}/status", {"as_of": "2026-01-31"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {
        "actual",
        "budget_to_date",
        "annual",
        "percent_used",
        "projected_year_end",
        "projected_overrun_date",
    } <= set(body)
    assert body["currency"] == "USD"
    assert body["actual"] == "400.000000000000"  # the child department's spend counts
    assert body["annual"] == "1200.000000000000"
    assert body["budget_to_date"] == "100.000000000000"  # January in full: 1 200 ÷ 12
    assert body["percent_used"] == "33.33"
    # 400 in 31 days: 400 × 365 ÷ 31 = 4 709.677419354838|7… ; exceeds 1 200 on day ⌊1 200 × 31 ÷ 400⌋ + 1 = 94
    assert body["projected_year_end"] == "4709.677419354839"
    assert body["projected_overrun_date"] == "2026-04-04"  # Jan 1 + 93 days
    assert body["thresholds_crossed"] == []  # 33.33 % is under the first threshold (50 %)
    assert body["thresholds"][0] == {
        "percent": "50.00",
        "amount": "600.000000000000",
        "crossed": False,
        "crossed_on": None,
    }
    assert body["months"][0] == {
        "month": "2026-01",
        "budget": "100.000000000000",
        "actual": "400.000000000000",
        "cumulative_budget": "100.000000000000",
        "cumulative_actual": "400.000000000000",
    }
    assert body["months"][1]["actual"] is None
    assert body["vendors"] == [
        {"vendor": "v-api", "name": vendor.name, "actual": "400.000000000000", "share": "100.00"}
    ]


def test_end_to_end_ingested_records_count_towards_a_token_commitment(role_world):
    """Records pushed through POST usage/records reach the rollups and so the commitment."""
    vendor, _ = world(vendor="e2e-vendor", model="e2e-model")
    fa = agreement("FA-E2E", vendor=vendor)
    in_out = commitment(fa, amount="10000000", token_classes=["input", "output"])
    every = commitment(fa, amount="10000000", token_classes=[])
    batch = [
        record(
            i,
            vendor="e2e-vendor",
            model="e2e-model",
            external_id=f"e2e-{i}",
            department=role_world.inside.code,
        )
        for i in range(6)
    ]
    answer = token_client(role_world.user(Role.FINANCE)).post("/api/v1/usage/records", batch, format="json")
    assert answer.status_code == 200 and answer.json()["accepted"] == 6, answer.content
    input_output = sum(r["input_tokens"] + r["output_tokens"] for r in batch)  # (1000 + i) + 500 for i in 0..5
    cached = sum(r["cached_input_tokens"] for r in batch)
    assert input_output == 9015 and cached == 600

    body = token_client(role_world.user(Role.PROCUREMENT)).get(
        "/api/v1/agreements/FA-E2E/commitment-status", {"as_of": "2026-03-31"}
    )
    assert body.status_code == 200, body.content
    by_id = {c["id"]: c for c in body.json()["commitments"]}
    assert by_id[in_out.pk]["consumed"] == "9015"
    assert by_id[every.pk]["consumed"] == "9615"  # cached input counts when no class is named
    # the records are on Mar 1–6 (record() spreads them over the month's first days)
    assert by_id[in_out.pk]["daily"][59]["date"] == "2026-03-01"


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
def test_dates_far_from_the_term_still_answer(as_of, commitment_agreement, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    budget = BudgetFactory(department=role_world.inside)
    assert client.get("/api/v1/agreements/FA-API.1/commitment-status", {"as_of": as_of}).status_code == 200
    assert client.get(f"/api/v1/budgets/{budget.pk}/status", {"as_of": as_of}).status_code == 200


def test_status_reads_take_a_fixed_number_of_queries(
    commitment_agreement, role_world, django_assert_num_queries, django_assert_max_num_queries
):
    """Rollups only, grouped in the database: the query count does not grow with the data."""
    from billing.selectors import budget_status, commitment_statuses

    vendor = commitment_agreement.vendor
    for day in range(1, 29):
        DailyRollupFactory(day=date(2026, 2, day), department=role_world.inside, vendor=vendor, input_tokens=day)
    budget = BudgetFactory(department=role_world.inside)
    budget_status(budget=budget, as_of=date(2026, 1, 1))  # the settings row exists from here on
    commitments = commitment_agreement.commitments.count()
    # the commitments, the vendor's daily sums, and a forecast lookup per commitment whose period runs on
    with django_assert_max_num_queries(2 + commitments):
        commitment_statuses(agreement=commitment_agreement, as_of=date(2026, 2, 28))
    # settings, the department tree, month × vendor sums (no day to name), the budget's forecast
    with django_assert_num_queries(4):
        budget_status(budget=budget, as_of=date(2026, 2, 28))
