"""The dashboard (home): figures equal a hand computation on rollups written directly; this
month to date against the same days of last month; the fiscal year to date; a department
manager's dashboard (page and exports) holds no figure of another department; the empty state;
CSV and XLSX exports; a pinned number of queries."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client

from accounts.services import user_create_or_update
from billing.tests.factories import DailyRollupFactory, agreement, commitment
from core.roles import Role
from core.services import organization_settings_update
from insights.selectors import Window, dashboard, same_days_last_month
from procurement.models import Budget
from procurement.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2026, 3, 15)
D = Decimal


def rollup(day, department, vendor, *, cost, list_cost=None, off_contract="0", model="model-a", tokens=0, unpriced=0):
    """A rollup row with known figures: `tokens` split as 3/4 input and 1/4 output."""
    return DailyRollupFactory(
        day=day,
        department=department,
        vendor=vendor,
        model=model,
        cost=D(cost),
        list_cost=D(list_cost if list_cost is not None else cost),
        off_contract_cost=D(off_contract),
        input_tokens=tokens - tokens // 4,
        output_tokens=tokens // 4,
        unpriced_records=unpriced,
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def company(role_world):
    """Two vendors; usage in the managed department (T-IN), its child (T-IN-SUB) and outside
    (T-OUT) this month, last month and before."""
    organization_settings_update(actor=None, reporting_currency="USD", fiscal_year_start_month=1)
    acme = VendorFactory(slug="acme", name="Acme AI")
    zeta = VendorFactory(slug="zeta", name="Zeta Models")
    w = role_world
    # This month to date (1–15 March)
    rollup(date(2026, 3, 1), w.inside, acme, cost="10.5", list_cost="14", off_contract="2", tokens=1_000_000)
    rollup(date(2026, 3, 15), w.inside_child, acme, cost="4.25", list_cost="5", tokens=3_000_000, model="model-b")
    rollup(date(2026, 3, 10), w.outside, zeta, cost="100", list_cost="100", off_contract="100", tokens=500_000_000)
    rollup(date(2026, 3, 16), w.inside, acme, cost="999", tokens=7)  # after as_of: nowhere
    # Same days last month (1–15 February)
    rollup(date(2026, 2, 1), w.inside, acme, cost="5", list_cost="6", tokens=2_000_000)
    rollup(date(2026, 2, 15), w.outside, zeta, cost="80", list_cost="90", tokens=100)
    rollup(date(2026, 2, 16), w.inside, acme, cost="1000", tokens=9)  # after the same days: year only
    # Earlier this (calendar) fiscal year, and last year
    rollup(date(2026, 1, 20), w.inside, acme, cost="30", list_cost="33", tokens=10)
    rollup(date(2025, 12, 31), w.outside, acme, cost="700", tokens=10)
    return w


def test_month_to_date_against_the_same_days_of_last_month(company):
    board = dashboard(user=company.user(Role.FINANCE), as_of=AS_OF)
    assert board.currency == "USD" and not board.scoped
    assert board.month == Window(date(2026, 3, 1), date(2026, 3, 15))
    assert board.previous_month == Window(date(2026, 2, 1), date(2026, 2, 15))

    assert board.mtd.cost == D("10.5") + D("4.25") + D("100")
    assert board.mtd.list_cost == D("14") + D("5") + D("100")
    assert board.mtd.savings == D("4.25")
    assert board.mtd.off_contract_cost == D("102")
    assert board.mtd.tokens == 504_000_000
    assert board.previous_mtd.cost == D("85")
    assert board.mtd_change.delta == D("114.75") - D("85")
    assert board.mtd_change.percent == D("35.0")  # 29.75 / 85 = 35 %

    vendors = {row.key: row for row in board.vendors}
    assert [row.key for row in board.vendors] == ["zeta", "acme"]  # largest first
    assert vendors["acme"].current.cost == D("14.75") and vendors["acme"].previous.cost == D("5")
    assert vendors["acme"].change.percent == D("195.0")
    assert vendors["zeta"].share == D("87.1")  # 100 / 114.75
    departments = {row.key: row for row in board.departments}
    assert set(departments) == {"T-IN", "T-IN-SUB", "T-OUT"}
    assert departments["T-IN"].current.cost == D("10.5") and departments["T-IN"].previous.cost == D("5")
    assert departments["T-IN-SUB"].change.percent is None  # nothing last month: "new"

    # Top movers: department × vendor × model, largest absolute change first
    assert [(m.department_code, m.vendor_slug, m.model, m.change.delta) for m in board.movers] == [
        ("T-OUT", "zeta", "model-a", D("20")),
        ("T-IN", "acme", "model-a", D("5.5")),
        ("T-IN-SUB", "acme", "model-b", D("4.25")),
    ]


def test_same_days_of_last_month_end_with_that_month():
    assert same_days_last_month(date(2026, 3, 31)) == Window(date(2026, 2, 1), date(2026, 2, 28))
    assert same_days_last_month(date(2024, 3, 30)) == Window(date(2024, 2, 1), date(2024, 2, 29))
    assert same_days_last_month(date(2026, 1, 10)) == Window(date(2025, 12, 1), date(2025, 12, 10))
    assert same_days_last_month(date(2026, 5, 31)) == Window(date(2026, 4, 1), date(2026, 4, 30))


def test_year_to_date_with_a_fiscal_year_starting_in_april(company):
    organization_settings_update(actor=None, fiscal_year_start_month=4)
    w = company
    acme = VendorFactory(slug="acme")
    rollup(date(2026, 3, 31), w.inside, acme, cost="1", tokens=1)  # fiscal year 2025
    rollup(date(2026, 4, 1), w.inside, acme, cost="2", tokens=1)  # fiscal year 2026 from here
    rollup(date(2026, 5, 10), w.outside, acme, cost="3.5", tokens=1)
    rollup(date(2026, 5, 11), w.outside, acme, cost="400", tokens=1)  # after as_of

    board = dashboard(user=w.user(Role.AUDITOR), as_of=date(2026, 5, 10))
    assert board.fiscal_year == 2026 and board.year == Window(date(2026, 4, 1), date(2026, 5, 10))
    assert board.ytd.cost == D("5.5")

    # In March the fiscal year is the one that started in April 2025: every row from then on.
    board = dashboard(user=w.user(Role.AUDITOR), as_of=AS_OF)
    assert board.fiscal_year == 2025 and board.year.start == date(2025, 4, 1)
    assert board.ytd.cost == D("10.5") + D("4.25") + D("100") + D("5") + D("80") + D("1000") + D("30") + D("700")


def test_daily_spend_of_the_last_sixty_days_by_vendor(company):
    board = dashboard(user=company.user(Role.FINANCE), as_of=AS_OF)
    daily = board.daily
    assert daily.window == Window(date(2026, 1, 15), AS_OF) and len(daily.days) == 60
    series = {slug: dict(zip(daily.days, values, strict=True)) for slug, _, values in daily.vendors}
    assert series["acme"][date(2026, 3, 1)] == D("10.5")
    assert series["acme"][date(2026, 2, 16)] == D("1000")
    assert series["acme"][date(2026, 1, 20)] == D("30")
    assert series["acme"][date(2026, 1, 21)] == 0
    assert series["zeta"][date(2026, 3, 10)] == D("100")
    # 2025-12-31 falls before the window, 16 March after it
    assert sum(sum(values) for _, _, values in daily.vendors) == D("10.5") + D("4.25") + D("100") + D("5") + D(
        "80"
    ) + D("1000") + D("30")


def test_manager_sees_only_their_departments_everywhere(company):
    w = company
    outsider = VendorFactory(slug="outsider-vendor", name="Outsider Vendor Inc")
    rollup(date(2026, 3, 2), w.outside, outsider, cost="4242.42", model="secret-model-x", tokens=77)
    Budget.objects.create(department=w.inside, fiscal_year=2026, amount=D("1200"), currency="USD")
    Budget.objects.create(department=w.outside, fiscal_year=2026, amount=D("98765"), currency="USD")
    active = agreement("FA-OUT-1", vendor=outsider)
    commitment(active, amount="1000000")

    manager = w.user(Role.DEPARTMENT_MANAGER)
    board = dashboard(user=manager, as_of=AS_OF)
    assert board.scoped
    assert {row.key for row in board.departments} == {"T-IN", "T-IN-SUB"}
    assert {row.key for row in board.vendors} == {"acme"}
    assert board.mtd.cost == D("14.75") and board.previous_mtd.cost == D("5")
    assert board.ytd.cost == D("10.5") + D("4.25") + D("5") + D("1000") + D("30")
    assert all(m.department_code in {"T-IN", "T-IN-SUB"} for m in board.movers)
    assert [line.budget.department.code for line in board.budgets] == ["T-IN"]
    assert board.budgets[0].actual == board.ytd.cost  # T-IN's budget covers T-IN-SUB
    assert board.commitments is None  # agreements are company-level

    client = signed_in(manager)
    for response in (
        client.get("/", {"as_of": "2026-03-15"}),
        client.get("/", {"as_of": "2026-03-15", "export": "csv"}),
    ):
        assert response.status_code == 200
        text = response.content.decode()
        for foreign in ("T-OUT", "outsider", "Outsider", "secret-model-x", "4242", "98765", "Zeta", "zeta", "FA-OUT-1"):
            assert foreign not in text, foreign
    book = openpyxl.load_workbook(io.BytesIO(client.get("/", {"as_of": "2026-03-15", "export": "xlsx"}).content))
    cells = " ".join(str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row)
    for foreign in ("T-OUT", "outsider", "secret-model-x", "4242", "98765", "zeta", "FA-OUT-1"):
        assert foreign not in cells, foreign
    assert "Commitments" not in book.sheetnames

    # Finance sees the whole company, commitments included.
    board = dashboard(user=w.user(Role.FINANCE), as_of=AS_OF)
    assert "T-OUT" in {row.key for row in board.departments}
    assert {line.budget.department.code for line in board.budgets} == {"T-IN", "T-OUT"}
    assert [line.agreement.reference for line in board.commitments] == ["FA-OUT-1"]


def test_a_manager_without_departments_sees_nothing(company):
    manager, _ = user_create_or_update(
        username="t-new-manager", role=Role.DEPARTMENT_MANAGER, email="new@example.com", departments=[]
    )
    board = dashboard(user=manager, as_of=AS_OF)
    assert board.manages_no_department and not board.has_usage and board.budgets == []
    html = signed_in(manager).get("/", {"as_of": "2026-03-15"}).content.decode()
    assert "You manage no department yet" in html


def test_empty_state(role_world):
    board = dashboard(user=role_world.user(Role.FINANCE), as_of=AS_OF)
    assert not board.has_usage and board.mtd.cost == 0 and board.vendors == [] and board.movers == []
    response = signed_in(role_world.user(Role.FINANCE)).get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "No spend to show yet" in html and "POST /api/v1/usage/records" in html
    assert "dashboard.js" not in html and "export=csv" not in html
    assert "Commitment utilisation" in html and "No active agreement" in html


def test_page_shows_the_figures_with_links_to_their_detail(company):
    Budget.objects.create(department=company.inside, fiscal_year=2026, amount=D("1200"), currency="USD")
    html = signed_in(company.user(Role.FINANCE)).get("/", {"as_of": "2026-03-15"}).content.decode()
    assert "USD 114.75" in html  # spend this month
    assert "+35.0 %" in html
    assert "USD 1,229.75" in html  # the calendar fiscal year to date
    assert "/usage/?start=2026-03-01&amp;end=2026-03-16&amp;group_by=day&amp;group_by=vendor&amp;metric=cost" in html
    assert (
        "/usage/?start=2026-03-01&amp;end=2026-03-16&amp;group_by=day&amp;group_by=model&amp;metric=cost&amp;vendor=acme"
        in html
    )
    assert "/usage/?start=2026-02-01&amp;end=2026-02-16" in html  # last month's same days
    assert 'id="dashboard-daily-data"' in html and 'id="dashboard-vendors-data"' in html and "js/dashboard.js" in html
    assert "Budget burn" in html and "/budgets/" in html
    # A link answers with the same figure in the explorer.
    explorer = signed_in(company.user(Role.FINANCE)).get(
        "/usage/",
        {"start": "2026-03-01", "end": "2026-03-16", "group_by": ["vendor"], "metric": "cost", "vendor": "acme"},
    )
    assert explorer.status_code == 200 and "14.75" in explorer.content.decode()


def test_csv_export_holds_every_figure_exactly(company):
    response = signed_in(company.user(Role.FINANCE)).get("/", {"as_of": "2026-03-15", "export": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="dashboard_2026-03-15.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))

    def value(section, measure, start, **keys):
        found = [
            r
            for r in rows
            if r["section"] == section
            and r["measure"] == measure
            and r["period_start"] == start
            and all(r[k] == v for k, v in keys.items())
        ]
        assert len(found) == 1, (section, measure, start, keys, found)
        return found[0]["value"]

    assert value("summary", "cost", "2026-03-01") == "114.750000000000"
    assert value("summary", "cost", "2026-02-01") == "85.000000000000"
    assert value("summary", "cost", "2026-01-01") == "1229.750000000000"
    assert value("summary", "savings_vs_list", "2026-03-01") == "4.250000000000"
    assert value("summary", "off_contract_cost", "2026-03-01") == "102.000000000000"
    assert value("summary", "tokens", "2026-03-01") == "504000000"
    assert value("summary", "cost_change_percent", "2026-03-01") == "35.0"
    assert value("vendor", "cost", "2026-03-01", vendor="acme") == "14.750000000000"
    assert value("vendor", "cost", "2026-02-01", vendor="acme") == "5.000000000000"
    assert value("department", "cost", "2026-03-01", department="T-IN-SUB") == "4.250000000000"
    assert value("top_mover", "cost_change_vs_same_days_last_month", "2026-03-01", department="T-OUT") == (
        "20.000000000000"
    )
    assert value("daily", "cost", "2026-02-16", vendor="acme") == "1000.000000000000"
    assert {r["unit"] for r in rows if r["measure"] == "cost"} == {"USD"}


def test_xlsx_export_has_a_sheet_per_panel(company):
    Budget.objects.create(department=company.inside, fiscal_year=2026, amount=D("1200"), currency="USD")
    response = signed_in(company.user(Role.FINANCE)).get("/", {"as_of": "2026-03-15", "_export": "xlsx"})
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == [
        "Summary",
        "By vendor",
        "By department",
        "Top movers",
        "Daily by vendor",
        "Budgets",
        "Commitments",
    ]
    vendors = list(book["By vendor"].iter_rows(values_only=True))
    assert vendors[0][:4] == ("vendor", "name", "cost_mtd", "cost_same_days_last_month")
    assert vendors[1][:4] == ("zeta", "Zeta Models", "100.000000000000", "80.000000000000")
    budgets = list(book["Budgets"].iter_rows(values_only=True))
    header, line = budgets[0], budgets[1]
    assert dict(zip(header, line, strict=True))["actual"] == "1049.750000000000"  # T-IN and T-IN-SUB this year


def test_an_invalid_day_falls_back_to_today(company):
    response = signed_in(company.user(Role.FINANCE)).get("/", {"as_of": "15/03/2026", "export": "csv"})
    assert response.status_code == 200 and "not a date" in response.content.decode()


@pytest.mark.parametrize(("role", "queries"), [(Role.FINANCE, 11), (Role.DEPARTMENT_MANAGER, 9)])
def test_queries_are_few_and_do_not_grow_with_budgets(company, role, queries, django_assert_max_num_queries):
    """The settings, the manager's departments (two), three rollup queries for every window, the
    budgets, the department tree, the day series of the budgets already exceeded, and the active
    agreements with their commitments (then two for all of them, in billing's
    commitment_statuses_many: the daily sums and their forecasts; managers see none) —
    however many budgets, departments and days there are."""
    w = company
    for department in (w.inside, w.inside_child, w.outside):
        Budget.objects.create(department=department, fiscal_year=2026, amount=D("1200"), currency="USD")
    Budget.objects.create(
        department=w.inside, fiscal_year=2026, amount=D("1"), currency="USD", vendor=VendorFactory(slug="acme")
    )  # exceeded
    deal = agreement("FA-Q-1", vendor=VendorFactory(slug="acme"))
    commitment(deal, amount="1000000")
    commitment(deal, unit="USD", amount="500", treatment="prepaid")
    user = type(w.user(role)).objects.get(pk=w.user(role).pk)  # nothing cached on it
    with django_assert_max_num_queries(queries):
        board = dashboard(user=user, as_of=AS_OF)
    assert any(burn.exceeded for burn in board.budgets)
    client = signed_in(user)
    client.get("/")  # the session's first use
    # the session, its user, the navigation's settings and its unread alerts badge
    with django_assert_max_num_queries(queries + 4):
        assert client.get("/", {"as_of": "2026-03-15"}).status_code == 200


def test_a_quiet_quarter_shows_the_year_without_a_daily_chart(company):
    """Nothing in the last 60 days, but spend earlier in the fiscal year."""
    client = signed_in(company.user(Role.FINANCE))
    board = dashboard(user=company.user(Role.FINANCE), as_of=date(2026, 12, 31))
    assert board.has_usage and board.daily.vendors == [] and board.mtd.cost == 0
    assert board.ytd.cost == D("10.5") + D("4.25") + D("100") + D("999") + D("5") + D("80") + D("1000") + D("30")
    html = client.get("/", {"as_of": "2026-12-31"}).content.decode()
    assert "No usage in the last 60 days." in html and "USD 2,228.75" in html
    assert "dashboard-daily-data" not in html and "js/dashboard.js" not in html


def test_the_year_in_its_first_month_and_at_a_month_end(company):
    """The fiscal year to date is its earlier months (monthly rollups) plus this month to date:
    in the year's first month only the latter, on a month's last day every day of it."""
    first_month = dashboard(user=company.user(Role.FINANCE), as_of=date(2026, 1, 25))
    assert first_month.ytd == first_month.mtd and first_month.ytd.cost == D("30")
    assert first_month.ytd.list_cost == D("33") and first_month.ytd.tokens == 10
    month_end = dashboard(user=company.user(Role.FINANCE), as_of=date(2026, 2, 28))
    assert month_end.ytd.cost == D("30") + D("5") + D("80") + D("1000")
    assert month_end.ytd.tokens == 10 + 2_000_000 + 100 + 9
