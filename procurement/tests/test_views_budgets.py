"""Budget pages: twelve month inputs, messages beside fields, the phasing table, list and export,
department scoping."""

import re
from decimal import Decimal

import pytest

from core.roles import Role
from core.services import organization_settings_update
from procurement.models import Budget

from .factories import BudgetFactory, VendorFactory
from .helpers import csv_rows, errors_beside, signed_in

pytestmark = pytest.mark.django_db


def form(**overrides):
    data = {
        "department": "T-IN",
        "fiscal_year": "2026",
        "vendor": "",
        "amount": "12000.00",
        "currency": "USD",
        "thresholds": "50, 80, 100",
        "action": "warn",
        "notes": "",
    }
    months = overrides.pop("months", [""] * 12)
    data.update({f"monthly_amounts_{i}": value for i, value in enumerate(months)})
    data.update(overrides)
    return data


def test_finance_creates_a_budget_with_monthly_amounts(role_world):
    organization_settings_update(actor=None, fiscal_year_start_month=4)
    finance = role_world.user(Role.FINANCE)
    client = signed_in(finance)
    page = client.get("/budgets/new/", {"department": "T-IN"}).content.decode()
    assert '<option value="T-IN" selected>' in page and 'value="50, 80, 100"' in page
    assert "1. Apr" in page and "12. Mar" in page  # month inputs labelled from the fiscal year start
    months = ["500.00"] * 6 + ["1500.00"] * 6
    response = client.post("/budgets/new/", form(months=months, thresholds="60, 90%, 110"))
    assert response.status_code == 302, errors_beside(response.content.decode(), "monthly_amounts")
    budget = Budget.objects.get()
    assert response["Location"] == f"/budgets/{budget.pk}/"
    assert budget.monthly_amounts == [Decimal(500)] * 6 + [Decimal(1500)] * 6
    assert budget.thresholds == [60, 90, 110] and budget.history.first().history_user == finance
    detail = client.get(response["Location"]).content.decode()
    assert "Apr 2026" in detail and "Mar 2027" in detail and "12000.00" in detail and "100.0 %" in detail
    assert "2026-04-01 → 2027-03-31" in detail and "Change history" in detail


def test_errors_beside_fields_and_typed_values_kept(role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    uneven = client.post("/budgets/new/", form(months=["1000.00"] * 11 + ["999.00"]))
    assert uneven.status_code == 200
    html = uneven.content.decode()
    assert errors_beside(html, "monthly_amounts") == [
        "The monthly amounts add up to 11999.00, not to the budget amount 12000.00; they must match exactly."
    ]
    assert 'name="monthly_amounts_11" value="999.00"' in html
    partial = client.post("/budgets/new/", form(months=["1000.00"] * 10 + ["", ""]))
    assert errors_beside(partial.content.decode(), "monthly_amounts") == [
        "Fill in all twelve months (month 11, 12 is empty), or none to phase evenly."
    ]
    thresholds = client.post("/budgets/new/", form(thresholds="80, 50"))
    assert "strictly ascending" in errors_beside(thresholds.content.decode(), "thresholds")[0]
    words = client.post("/budgets/new/", form(thresholds="half, all"))
    assert errors_beside(words.content.decode(), "thresholds") == [
        "Enter percentages separated by commas, e.g. 50, 80, 100."
    ]
    currency = client.post("/budgets/new/", form(currency="EUR"))
    assert errors_beside(currency.content.decode(), "currency") == [
        "Budgets are kept in the reporting currency, USD; EUR is not it."
    ]
    cents = client.post("/budgets/new/", form(amount="12000.005"))
    assert errors_beside(cents.content.decode(), "amount") == ["USD amounts have at most 2 decimal places."]
    assert not Budget.objects.exists()
    BudgetFactory(department=role_world.inside)
    duplicate = client.post("/budgets/new/", form())
    assert errors_beside(duplicate.content.decode(), "fiscal_year") == [
        "T-IN already has a budget for fiscal year 2026; change that one instead."
    ]
    assert Budget.objects.count() == 1


def test_edit_shows_the_stored_values_and_even_phasing(role_world):
    budget = BudgetFactory(department=role_world.inside, amount=Decimal("1000.00"))
    client = signed_in(role_world.user(Role.FINANCE))
    page = client.get(f"/budgets/{budget.pk}/edit/").content.decode()
    assert 'value="1000.00"' in page and 'value="50, 80, 100"' in page
    detail = client.get(f"/budgets/{budget.pk}/").content.decode()
    months = re.findall(r'<td>(\w{3} \d{4})</td>\s*<td class="tl-num">([\d.]+)</td>', detail)
    assert [amount for _, amount in months] == ["83.33"] * 11 + ["83.37"]
    assert months[0][0] == "Jan 2026" and "even" in detail
    response = client.post(f"/budgets/{budget.pk}/edit/", form(amount="1200", action="block"))
    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.amount == Decimal(1200) and budget.action == "block"


def test_list_filters_and_exports(role_world):
    deepseek = VendorFactory(slug="deepseek", name="DeepSeek")
    BudgetFactory(department=role_world.inside, fiscal_year=2026)
    BudgetFactory(department=role_world.inside_child, fiscal_year=2026, vendor=deepseek, amount=Decimal("500.5"))
    BudgetFactory(department=role_world.outside, fiscal_year=2027, amount=Decimal("1234567.125"))
    client = signed_in(role_world.user(Role.AUDITOR))
    page = client.get("/budgets/", {"fiscal_year": "2027"}).content.decode()
    assert "T-OUT FY2027" in page and "T-IN FY2026" not in page
    assert ">1,234,567.125<" in page  # read with separators, never rounded (the export keeps it plain)
    rows = csv_rows(client.get("/budgets/", {"vendor": "deepseek", "_export": "csv"}))
    assert [(r["Budget"], r["Department"], r["Vendor"], r["Amount"], r["Currency"]) for r in rows] == [
        ("T-IN-SUB FY2026 · DeepSeek", "T-IN-SUB", "DeepSeek", "500.50", "USD")
    ]
    rows = csv_rows(client.get("/budgets/", {"within": "T-IN", "_export": "csv"}))
    assert sorted(r["Department"] for r in rows) == ["T-IN", "T-IN-SUB"]
    assert client.get("/budgets/", {"_export": "xlsx"}).content[:2] == b"PK"


def test_managers_see_their_budgets_and_change_none(role_world):
    mine = BudgetFactory(department=role_world.inside_child)
    theirs = BudgetFactory(department=role_world.outside)
    manager = signed_in(role_world.user(Role.DEPARTMENT_MANAGER))
    page = manager.get("/budgets/").content.decode()
    assert "T-IN-SUB FY2026" in page and "T-OUT FY2026" not in page and "/budgets/new/" not in page
    assert manager.get(f"/budgets/{mine.pk}/").status_code == 200
    assert manager.get(f"/budgets/{theirs.pk}/").status_code == 404
    for role in (Role.DEPARTMENT_MANAGER, Role.PROCUREMENT, Role.AUDITOR, Role.ADMIN):
        client = signed_in(role_world.user(role))
        assert client.get("/budgets/new/").status_code == 403
        assert client.get(f"/budgets/{mine.pk}/edit/").status_code == 403
        assert client.post(f"/budgets/{mine.pk}/delete/").status_code == 403
    finance = signed_in(role_world.user(Role.FINANCE))
    response = finance.post(f"/budgets/{mine.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/budgets/"
    assert not Budget.objects.filter(pk=mine.pk).exists()
