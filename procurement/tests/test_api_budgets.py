"""Budgets through the API: reporting currency, minor units, monthly phasing, thresholds, one per
department and year, department scoping."""

from decimal import Decimal

import pytest

from core.roles import Role
from core.services import organization_settings_update
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement.models import Budget
from procurement.services import budgets as budget_services

from .factories import BudgetFactory, DepartmentFactory, VendorFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/budgets/"
EVEN = {"department": "T-IN", "fiscal_year": 2026, "amount": "12000.00", "currency": "USD"}
MONTHS = ["1000.00"] * 11 + ["1000.00"]


class TestBudgetAPI(APIResourceContract):
    resource = "budget"
    basename = "budget"

    def make_object(self, world, department):
        return BudgetFactory(department=department)

    def create_payload(self, world):
        return {
            "department": world.inside.code,
            "fiscal_year": 2026,
            "amount": "1000.00",
            "currency": "USD",
            "thresholds": ["50", "80", "100"],
            "action": "warn",
        }

    def update_payload(self, world, obj):
        return {"amount": "2000.00"}


def finance(world):
    return token_client(world.user(Role.FINANCE))


def test_fields_round_trip_as_decimal_strings(role_world):
    VendorFactory(slug="deepseek")
    client = finance(role_world)
    sent = {
        "department": "T-IN",
        "fiscal_year": 2026,
        "amount": "1200.50",
        "currency": "USD",
        "monthly_amounts": ["100.00"] * 11 + ["100.50"],
        "vendor": "deepseek",
        "thresholds": ["25", "62.5", "90", "110"],
        "action": "block",
    }
    response = client.post(URL, sent, format="json")
    assert response.status_code == 201, response.content
    body = client.get(f"{URL}{response.json()['id']}/").json()
    for field, value in sent.items():
        assert body[field] == value, field
    assert body["phasing"][0] == {"month": "2026-01-01", "amount": "100.00"}
    assert body["phasing"][-1] == {"month": "2026-12-01", "amount": "100.50"}
    stored = Budget.objects.get()
    assert stored.amount == Decimal("1200.50") and stored.thresholds == [25, Decimal("62.5"), 90, 110]


def test_defaults_even_phasing_reporting_currency_and_thresholds(role_world):
    response = finance(role_world).post(URL, {"department": "T-IN", "fiscal_year": 2026, "amount": "1000"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["currency"] == "USD" and body["monthly_amounts"] == [] and body["vendor"] is None
    assert body["thresholds"] == ["50", "80", "100"] and body["action"] == "warn"
    amounts = [Decimal(m["amount"]) for m in body["phasing"]]
    assert amounts == [Decimal("83.33")] * 11 + [Decimal("83.37")] and sum(amounts) == Decimal(1000)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"currency": "EUR"}, "currency", "Budgets are kept in the reporting currency, USD; EUR is not it."),
        ({"amount": "-1.00"}, "amount", None),
        ({"amount": "100.001"}, "amount", "USD amounts have at most 2 decimal places."),
        ({"amount": "ten"}, "amount", None),
        ({"monthly_amounts": ["1000.00"] * 11}, "monthly_amounts", "Give twelve monthly amounts"),
        (
            {"monthly_amounts": ["1000.00"] * 11 + ["999.99"]},
            "monthly_amounts",
            "The monthly amounts add up to 11999.99, not to the budget amount 12000.00",
        ),
        ({"monthly_amounts": ["-1000.00"] + ["1200.00"] * 10 + ["1000.00"]}, "monthly_amounts", "cannot be negative"),
        ({"monthly_amounts": ["999.995"] + ["1000.00"] * 10 + ["1000.005"]}, "monthly_amounts", "at most 2 decimal"),
        ({"thresholds": ["80", "50"]}, "thresholds", "strictly ascending"),
        ({"thresholds": ["50", "50"]}, "thresholds", "strictly ascending"),
        ({"thresholds": ["0", "50"]}, "thresholds", "greater than 0"),
        ({"thresholds": []}, "thresholds", "at least one threshold"),
        ({"action": "shout"}, "action", None),
        ({"fiscal_year": 1999}, "fiscal_year", None),
        ({"department": "NOPE"}, "department", None),
        ({"vendor": "nobody"}, "vendor", None),
    ],
)
def test_budget_rules_are_400_with_the_field_named(change, field, message, role_world):
    response = finance(role_world).post(URL, {**EVEN, **change}, format="json")
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    fields = response.json()["extra"]["fields"]
    assert field in fields, fields
    if message:
        assert message in str(fields[field]), fields[field]
    assert not Budget.objects.exists()


def test_currency_follows_the_reporting_currency_and_its_minor_unit(role_world):
    """GIVEN the reporting currency is JPY (no minor unit) WHEN budgets are sent THEN yen are
    whole numbers, and a USD budget is refused."""
    organization_settings_update(actor=None, reporting_currency="JPY")
    client = finance(role_world)
    assert client.post(URL, {**EVEN, "currency": "USD"}, format="json").status_code == 400
    fraction = client.post(URL, {**EVEN, "currency": "JPY", "amount": "100.5"}, format="json")
    assert fraction.json()["extra"]["fields"]["amount"] == ["JPY amounts are whole numbers (no decimal places)."]
    response = client.post(URL, {"department": "T-IN", "fiscal_year": 2026, "amount": "100"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["currency"] == "JPY" and response.json()["amount"] == "100"
    assert [m["amount"] for m in response.json()["phasing"]] == ["8"] * 11 + ["12"]


def test_one_budget_per_department_year_and_vendor(role_world):
    VendorFactory(slug="deepseek", name="DeepSeek")
    client = finance(role_world)
    assert client.post(URL, EVEN, format="json").status_code == 201
    again = client.post(URL, EVEN, format="json")
    assert again.status_code == 400
    assert again.json()["extra"]["fields"]["fiscal_year"] == [
        "T-IN already has a budget for fiscal year 2026; change that one instead."
    ]
    assert client.post(URL, {**EVEN, "fiscal_year": 2027}, format="json").status_code == 201
    assert client.post(URL, {**EVEN, "vendor": "deepseek"}, format="json").status_code == 201
    per_vendor = client.post(URL, {**EVEN, "vendor": "deepseek"}, format="json")
    assert per_vendor.status_code == 400
    assert "T-IN already has a budget for DeepSeek for fiscal year 2026" in per_vendor.json()["message"]
    assert Budget.objects.count() == 3


def test_a_duplicate_created_at_the_same_moment_is_still_a_friendly_400(role_world, monkeypatch):
    BudgetFactory(department=role_world.inside)
    monkeypatch.setattr(budget_services, "_duplicate", lambda budget: None)  # both saw no budget yet
    response = finance(role_world).post(URL, EVEN, format="json")
    assert response.status_code == 400
    assert "already has a budget for fiscal year 2026" in response.json()["extra"]["fields"]["fiscal_year"][0]
    assert Budget.objects.count() == 1


def test_changing_the_amount_of_a_phased_budget_needs_new_months(role_world):
    budget = BudgetFactory(department=role_world.inside, monthly_amounts=[Decimal(1000)] * 12)
    client = finance(role_world)
    refused = client.patch(f"{URL}{budget.pk}/", {"amount": "13000.00"}, format="json")
    assert refused.status_code == 400 and "monthly_amounts" in refused.json()["extra"]["fields"]
    both = client.patch(
        f"{URL}{budget.pk}/", {"amount": "13000.00", "monthly_amounts": ["2000.00", *MONTHS[1:]]}, format="json"
    )
    assert both.status_code == 200, both.content
    even = client.patch(f"{URL}{budget.pk}/", {"monthly_amounts": []}, format="json")
    assert even.status_code == 200 and even.json()["monthly_amounts"] == []


def test_manager_sees_budgets_of_their_subtree(role_world):
    mine = BudgetFactory(department=role_world.inside)
    child = BudgetFactory(department=role_world.inside_child)
    theirs = BudgetFactory(department=role_world.outside)
    client = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
    assert {b["id"] for b in client.get(URL).json()["results"]} == {mine.pk, child.pk}
    assert client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert client.get(URL, {"department": "T-OUT"}).status_code == 400  # not even a valid choice for them


def test_filters(role_world):
    deepseek = VendorFactory(slug="deepseek")
    a = BudgetFactory(department=role_world.inside, fiscal_year=2026)
    b = BudgetFactory(department=role_world.inside_child, fiscal_year=2026, vendor=deepseek, action="block")
    c = BudgetFactory(department=role_world.outside, fiscal_year=2027)
    client = token_client(role_world.user(Role.AUDITOR), scope="read")

    def ids(**params):
        return {x["id"] for x in client.get(URL, params).json()["results"]}

    assert ids(department="T-IN") == {a.pk}
    assert ids(within="T-IN") == {a.pk, b.pk}
    assert ids(within="T-ROOT") == {a.pk, b.pk, c.pk}
    assert ids(fiscal_year=2027) == {c.pk}
    assert ids(vendor="deepseek") == {b.pk}
    assert ids(company_wide="true") == {a.pk, c.pk}
    assert ids(action="block") == {b.pk}
    assert [x["id"] for x in client.get(URL, {"ordering": "-amount,id"}).json()["results"]] == [a.pk, b.pk, c.pk]


def test_history_records_who_changed_a_budget(role_world):
    finance_user = role_world.user(Role.FINANCE)
    client = token_client(finance_user)
    created = client.post(URL, EVEN, format="json").json()
    client.patch(f"{URL}{created['id']}/", {"amount": "15000.00"}, format="json")
    latest = Budget.objects.get(pk=created["id"]).history.first()
    assert latest.history_user == finance_user and latest.amount == Decimal("15000.00")
    assert latest.prev_record.amount == Decimal("12000.00")


def test_budget_for_an_unrelated_new_department_is_not_visible_to_the_manager(role_world):
    elsewhere = DepartmentFactory(code="ELSEWHERE")
    budget = BudgetFactory(department=elsewhere)
    client = token_client(role_world.user(Role.DEPARTMENT_MANAGER), scope="read")
    assert client.get(f"{URL}{budget.pk}/").status_code == 404
