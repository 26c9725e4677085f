"""A department manager's view of the company, in the browser.

GIVEN spend, budgets, invoices, forecasts, forecast scenarios, alerts and monthly reports of T-IN
and its child T-IN-SUB (which the manager manages) and of T-OUT ("Zebra Skunkworks", which they
do not), T-OUT's with figures found nowhere else
WHEN the manager goes through the dashboard, the usage explorer, the budgets, invoices, forecasts,
alerts and reports
THEN every page shows T-IN's figures and no trace of T-OUT (not its code, name, model or amounts,
not even in a chart's data or a filter's choices), and T-OUT's invoice, budget, alert, forecast and
report answer the helpful not-found page when their addresses are typed in."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Invoice
from billing.tests.factories import DailyRollupFactory
from core.roles import Role
from core.selectors import organization_settings
from insights.models import Alert, ForecastScenario, MonthlyReport
from insights.tests.test_reports import forecast
from procurement.selectors import current_fiscal_year
from procurement.tests.factories import BudgetFactory, VendorFactory

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
# Everything that would give T-OUT away; none of it is a figure of T-IN's.
FOREIGN = (
    "T-OUT",
    "Zebra",
    "zebra-secret-model",
    "98,765.43",
    "98765.43",
    "87,654",
    "87654",
    "76,543.21",
    "76543.21",
    "CB-2026-424242",
    "333.33",
)


def report(period, title: str, departments, *, scope=MonthlyReport.Scope.DEPARTMENTS) -> MonthlyReport:
    pdf = b"%PDF-1.4 planted"
    pack = MonthlyReport.objects.create(
        period=period,
        scope=scope,
        scope_key=f"{scope}:{','.join(str(d.pk) for d in departments)}",
        title=title,
        currency="USD",
        summary={"spend": "1345.67"},
        pdf=pdf,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    pack.departments.set(departments)
    return pack


@pytest.fixture
def company(role_world):
    """This month T-IN spends 1 234.56 and T-IN-SUB 111.11 on Acme AI; T-OUT 98 765.43 on a model
    of its own. Each has a budget, an invoice of last month, a forecast and an alert."""
    world = role_world
    world.outside.name = "Zebra Skunkworks"
    world.outside.save()
    today = timezone.now().date()
    first = today.replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    acme = VendorFactory(slug="acme-ai", name="Acme AI", billing_currency="USD")
    for department, day, cost, model in (
        (world.inside, first, "1234.56", "acme-large"),
        (world.inside_child, today, "111.11", "acme-small"),
        (world.outside, today, "98765.43", "zebra-secret-model"),
    ):
        DailyRollupFactory(
            day=day,
            department=department,
            vendor=acme,
            model=model,
            cost=D(cost),
            list_cost=D(cost),
            input_tokens=1_000_000,
            output_tokens=250_000,
        )
    fiscal_year = current_fiscal_year(organization_settings().fiscal_year_start_month, today=today)
    world.budgets = {
        "T-IN": BudgetFactory(department=world.inside, fiscal_year=fiscal_year, amount=D("12000.00")),
        "T-IN-SUB": BudgetFactory(department=world.inside_child, fiscal_year=fiscal_year, amount=D("3000.00")),
        "T-OUT": BudgetFactory(department=world.outside, fiscal_year=fiscal_year, amount=D("87654.00")),
    }
    world.invoices = {
        "T-IN": Invoice.objects.create(department=world.inside, period=last_month, currency="USD", total=D("432.10")),
        "T-OUT": Invoice.objects.create(
            department=world.outside,
            period=last_month,
            currency="USD",
            total=D("76543.21"),
            status=Invoice.Status.ISSUED,
            number="CB-2026-424242",
            issue_date=today,
            issued_at=timezone.now(),
            due_date=today + timedelta(days=30),
        ),
    }
    forecast("department:T-IN", "45")
    forecast("department:T-OUT", "333.33")
    for name, subject in (
        ("Managed bot launch", "department:T-IN"),
        ("Company-wide growth", ""),
        ("Zebra Skunkworks launch", "department:T-OUT"),
    ):
        ForecastScenario.objects.create(name=name, subject=subject, multiplier=D("3"), starts_on=today)
    world.alerts = {
        code: Alert.objects.create(
            type=Alert.Type.BUDGET_THRESHOLD,
            dedup_key=f"budget:{code}",
            title=title,
            message=message,
            department=department,
            severity=severity,
        )
        for code, department, title, message, severity in (
            ("T-IN", world.inside, "Managed budget at 80 %", "Spent USD 9,600.00.", Alert.Severity.WARNING),
            ("T-IN-SUB", world.inside_child, "Managed child budget at 50 %", "", Alert.Severity.INFO),
            (
                "T-OUT",
                world.outside,
                "Zebra Skunkworks budget at 95 %",
                "Spent USD 83,271.30 of USD 87,654.00.",
                Alert.Severity.CRITICAL,
            ),
        )
    }
    world.reports = {
        "T-IN": report(last_month, "Monthly report — Managed", [world.inside]),
        "T-OUT": report(last_month, "Monthly report — Zebra Skunkworks", [world.outside]),
        "company": report(last_month, "Monthly report — company incl. Zebra", [], scope=MonthlyReport.Scope.COMPANY),
    }
    return world


def assert_no_trace_of_t_out(page, where: str) -> None:
    html = page.content()
    leaked = [foreign for foreign in FOREIGN if foreign in html]
    assert not leaked, f"{where} shows T-OUT's {leaked}"


def visit(page, url: str):
    response = page.goto(url)
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    return page.inner_text("body")


def test_a_manager_sees_only_their_departments_everywhere(page, company, request):
    # the typed-in addresses below answer 404, which Chromium reports on the console
    request.node.allowed_console = ("status of 404",)
    sign_in(page, company.user(Role.DEPARTMENT_MANAGER))

    text = visit(page, "/")
    assert "T-IN" in text and "1,345.67" in text  # this month: 1 234.56 + 111.11
    assert_no_trace_of_t_out(page, "the dashboard")

    text = visit(page, "/usage/?group_by=department&metric=cost")
    assert "T-IN" in text and "T-IN-SUB" in text and "1,234.56" in text and "111.11" in text
    assert_no_trace_of_t_out(page, "the usage explorer")
    text = visit(page, "/usage/?group_by=model&metric=cost")
    assert "acme-large" in text
    assert_no_trace_of_t_out(page, "the usage explorer by model")

    text = visit(page, "/budgets/")
    assert "T-IN" in text and "12,000.00" in text and "3,000.00" in text
    assert_no_trace_of_t_out(page, "the budgets")

    text = visit(page, "/invoices/")
    assert "T-IN" in text and "USD 432.10" in text
    assert_no_trace_of_t_out(page, "the invoices")

    text = visit(page, "/forecasts/")
    assert "department:T-IN" in text and "1,350.00" in text  # 30 days at 45.00
    options = page.locator("#forecast-subject option").evaluate_all("options => options.map(o => o.value)")
    assert options == ["department:T-IN", "department:T-IN-SUB"]
    scenarios = page.locator("#forecast-scenario option").all_inner_texts()
    assert [name.split(":")[0] for name in scenarios] == ["None", "Company-wide growth", "Managed bot launch"]
    assert_no_trace_of_t_out(page, "the forecasts")
    # the same session through the API: T-OUT's scenario is not listed there either
    scenarios = page.request.get("/api/v1/forecast-scenarios/")
    assert scenarios.ok and "Zebra" not in scenarios.text()
    assert [s["name"] for s in scenarios.json()["results"]] == ["Company-wide growth", "Managed bot launch"]

    text = visit(page, "/alerts/")
    assert "Managed budget at 80 %" in text and "Managed child budget at 50 %" in text
    assert_no_trace_of_t_out(page, "the alerts")

    text = visit(page, "/reports/")
    assert "Monthly report — Managed" in text
    assert_no_trace_of_t_out(page, "the reports")

    # T-OUT's things, their addresses typed in, are not found, with the page that says why
    for url in (
        f"/invoices/{company.invoices['T-OUT'].pk}/",
        f"/invoices/{company.invoices['T-OUT'].pk}/pdf/",
        f"/budgets/{company.budgets['T-OUT'].pk}/",
        f"/alerts/{company.alerts['T-OUT'].pk}/",
        f"/reports/{company.reports['T-OUT'].pk}/",
        f"/reports/{company.reports['company'].pk}/",
        "/forecasts/?subject=department:T-OUT",
    ):
        response = page.goto(url)
        assert response.status == 404, url
        assert page.get_by_role("heading", level=1).inner_text() == "Page not found", url
        assert "belongs to a department you don't manage" in page.inner_text("body"), url
        assert_no_trace_of_t_out(page, url)

    # and their own open as usual
    for url, expected in (
        (f"/invoices/{company.invoices['T-IN'].pk}/", "USD 432.10"),
        (f"/budgets/{company.budgets['T-IN-SUB'].pk}/", "T-IN-SUB"),
        (f"/alerts/{company.alerts['T-IN'].pk}/", "Managed budget at 80 %"),
    ):
        assert expected in visit(page, url), url
        assert_no_trace_of_t_out(page, url)
