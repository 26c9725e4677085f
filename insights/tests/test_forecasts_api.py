"""Stored forecasts: refresh, versions, the API's one-object answer, scoping, and the money views
(budget projection and overrun date) reading them instead of the linear projection."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.tests.factories import DailyRollupFactory
from core.models import JobRun
from core.roles import Role
from core.testing import token_client
from insights.models import Forecast
from insights.services.forecasts import forecast_subject, subject_series
from procurement.models import Budget
from procurement.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def history(role_world):
    """120 days up to yesterday of T-IN usage: a rising trend with a weekly season and noise."""
    vendor = VendorFactory(slug="acme")
    rng = random.Random(7)
    today = timezone.now().date()
    for offset in range(120, 0, -1):
        day = today - timedelta(days=offset)
        tokens = int((1_000_000 + 5_000 * (120 - offset)) * (1 + 0.3 * math.sin(day.weekday())) * rng.uniform(0.9, 1.1))
        DailyRollupFactory(
            day=day,
            department=role_world.inside,
            vendor=vendor,
            model="acme-large",
            input_tokens=tokens,
            cost=Decimal(tokens) / Decimal(1_000_000),
        )
    return role_world


def test_refresh_stores_versions_and_the_api_answers_the_latest(history):
    finance = token_client(history.user(Role.FINANCE))
    response = finance.post("/api/v1/forecasts/refresh", {"subject": "department:T-IN"}, format="json")
    assert response.status_code == 200, response.content
    assert {f["metric"] for f in response.json()} == {"tokens", "cost"}
    again = finance.post("/api/v1/forecasts/refresh", {"subject": "department:T-IN"}, format="json").json()
    assert {f["version"] for f in again} == {2}
    assert Forecast.objects.filter(subject="department:T-IN", is_latest=True).count() == 2

    latest = finance.get("/api/v1/forecasts/?subject=department:T-IN&metric=tokens")
    assert latest.status_code == 200
    body = latest.json()
    assert body["version"] == 2 and body["method"] and body["created"]
    assert body["history_end"] == (timezone.now().date() - timedelta(days=1)).isoformat()
    first = body["points"][0]
    assert first["date"] == timezone.now().date().isoformat()
    assert Decimal(first["low95"]) <= Decimal(first["low80"]) <= Decimal(first["value"]) <= Decimal(first["high80"])
    assert Decimal(first["high80"]) <= Decimal(first["high95"])
    assert {"mape", "smape", "mase", "baseline_mase"} <= set(body["backtest"])
    assert finance.get("/api/v1/forecasts/?subject=department:T-OUT&metric=tokens").status_code == 404
    assert finance.get("/api/v1/forecasts/?subject=planet:mars").status_code in (400, 404)


def test_the_series_is_zero_filled_and_sums_the_subtree(history):
    series = subject_series("department:T-ROOT", "tokens")
    assert len(series.values) == 120 and all(v > 0 for v in series.values)
    assert subject_series("department:T-IN", "cost").currency == "USD"


def test_managers_see_their_departments_forecasts_only(history):
    forecast_subject("department:T-IN", "tokens")
    forecast_subject("vendor:acme", "tokens")
    manager = token_client(history.user(Role.DEPARTMENT_MANAGER))
    assert manager.get("/api/v1/forecasts/?subject=department:T-IN").status_code == 200
    assert manager.get("/api/v1/forecasts/?subject=vendor:acme").status_code == 404
    assert manager.get("/api/v1/forecasts/?subject=department:T-OUT").status_code == 404
    assert manager.post("/api/v1/forecasts/refresh", {"subject": "department:T-IN"}, format="json").status_code == 403


def test_budget_status_reads_the_forecast(history):
    today = timezone.now().date()
    budget = Budget.objects.create(
        department=history.inside,
        fiscal_year=today.year if today.month >= 1 else today.year - 1,
        amount=Decimal("100"),
        currency="USD",
    )
    finance = token_client(history.user(Role.FINANCE))
    linear = finance.get(f"/api/v1/budgets/{budget.pk}/status").json()
    forecast_subject(f"budget:{budget.pk}", "cost")
    status = finance.get(f"/api/v1/budgets/{budget.pk}/status").json()
    assert linear["projection_method"] == "linear"
    assert status["projection_method"] != "linear"
    assert (
        Decimal(status["projected_low"]) <= Decimal(status["projected_year_end"]) <= Decimal(status["projected_high"])
    )
    # about 1.6 a day and rising: a 100 budget is overrun before the year ends, on a forecast day
    assert status["projected_overrun_date"] is not None


def test_refresh_of_everything_is_a_run(history):
    finance = token_client(history.user(Role.FINANCE))
    response = finance.post("/api/v1/forecasts/refresh", {}, format="json")
    assert response.status_code == 202
    run = JobRun.objects.get(pk=response.json()["run"])
    assert run.status == "succeeded", run.message
    assert run.result["forecasts"] >= 6 and not run.result["failed"]
    assert Forecast.objects.filter(subject="series:T-IN/acme/acme-large", is_latest=True).exists()


def test_the_forecast_page(history, client):
    from core.testing import PASSWORD

    client.login(username=history.user(Role.FINANCE).username, password=PASSWORD)
    empty = client.get("/forecasts/?subject=department:T-IN&metric=tokens")
    assert empty.status_code == 200 and b"Compute the forecast" in empty.content
    computed = client.post("/forecasts/", {"subject": "department:T-IN", "metric": "tokens"})
    assert computed.status_code == 302
    page = client.get("/forecasts/?subject=department:T-IN&metric=tokens")
    forecast = Forecast.objects.get(subject="department:T-IN", metric="tokens", is_latest=True)
    assert forecast.method.encode() in page.content and b'data-forecast-chart="forecast-chart-data"' in page.content
    scenario = client.post(
        "/forecasts/",
        {
            "subject": "department:T-IN",
            "metric": "tokens",
            "action": "scenario",
            "name": "Bot launch",
            "multiplier": "2",
            "starts_on": timezone.now().date().isoformat(),
        },
    )
    assert scenario.status_code == 302 and "scenario=" in scenario["Location"]
    compared = client.get(scenario["Location"])
    assert b"Bot launch" in compared.content and b'data-figure="scenario-total"' in compared.content
    baseline = Forecast.objects.get(subject="department:T-IN", metric="tokens", scenario=None, is_latest=True)
    doubled = Forecast.objects.get(subject="department:T-IN", metric="tokens", scenario__name="Bot launch")
    assert Decimal(doubled.points[0]["value"]) == pytest.approx(
        2 * Decimal(baseline.points[0]["value"]), rel=Decimal("1e-6")
    )
    export = client.get("/forecasts/?subject=department:T-IN&metric=tokens&export=csv")
    assert export["Content-Type"].startswith("text/csv") and export.content.count(b"\n") == len(baseline.points) + 1
    workbook = client.get("/forecasts/?subject=department:T-IN&metric=tokens&export=xlsx")
    assert workbook["Content-Type"].startswith("application/vnd.openxmlformats") and workbook.content[:2] == b"PK"

    client.login(username=history.user(Role.DEPARTMENT_MANAGER).username, password=PASSWORD)
    assert client.get("/forecasts/?subject=department:T-IN&metric=tokens").status_code == 200
    assert client.get("/forecasts/?subject=department:T-OUT").status_code == 404
    assert client.get("/forecasts/?subject=company").status_code == 404
    assert client.post("/forecasts/", {"subject": "department:T-IN"}).status_code == 403


def test_an_agreements_cost_forecast_prices_tokens_through_its_tiers(role_world):
    """100 000 input tokens a day for 60 days under a graduated rule: 1.00 per 1M up to 8M tokens
    in the agreement year, 0.50 beyond. The counter stands at 6M today, so the forecast days cost
    0.10 until the 8M-th token (day 20) and 0.05 after."""
    from contracts.models import Agreement, PriceRule, PriceTier

    today = timezone.now().date()
    vendor = VendorFactory(slug="tiers")
    deal = Agreement.objects.create(
        reference="FA-TIERS",
        vendor=vendor,
        start=today - timedelta(days=60),
        end=today + timedelta(days=300),
        currency="USD",
        status=Agreement.Status.ACTIVE,
    )
    rule = PriceRule.objects.create(agreement=deal, model_pattern="*", token_class="input", schedule="graduated")
    PriceTier.objects.create(rule=rule, from_tokens=0, price=Decimal("1.00"))
    PriceTier.objects.create(rule=rule, from_tokens=8_000_000, price=Decimal("0.50"))
    for offset in range(60, 0, -1):
        DailyRollupFactory(
            day=today - timedelta(days=offset),
            department=role_world.inside,
            vendor=vendor,
            model="m",
            input_tokens=100_000,
            agreement_cost=Decimal("0.1"),
            cost=Decimal("0.1"),
        )
    forecast = forecast_subject("agreement:FA-TIERS", "cost")
    assert "priced through FA-TIERS's rules" in forecast.method
    values = [Decimal(p["value"]) for p in forecast.points]
    assert values[0] == Decimal("0.100000") and values[19] == Decimal("0.100000")
    assert values[20] == Decimal("0.050000") and values[-1] == Decimal("0.050000")
    assert all(Decimal(p["low80"]) <= Decimal(p["value"]) <= Decimal(p["high80"]) for p in forecast.points)
    # the department that makes all of that usage: its cost forecast priced the same way
    department = forecast_subject("department:T-IN", "cost")
    assert "priced through the vendors' agreements" in department.method
    costs = [Decimal(p["value"]) for p in department.points]
    assert costs[0] == Decimal("0.100000") and costs[20] == Decimal("0.050000")
