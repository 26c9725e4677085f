"""budget_status: hand-worked figures from daily rollups written with known values."""

from datetime import date
from decimal import Decimal

import pytest

from billing.selectors import budget_status
from billing.selectors.budgets import budget_to_date
from core.services import organization_settings_update
from procurement.tests.factories import BudgetFactory, DepartmentFactory, VendorFactory

from .factories import DailyRollupFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def tree():
    """P ← C ← G (child and grandchild), and S, P's sibling under the same root."""
    root = DepartmentFactory(code="ROOT")
    parent = DepartmentFactory(code="P", parent=root)
    child = DepartmentFactory(code="C", parent=parent)
    grandchild = DepartmentFactory(code="G", parent=child)
    sibling = DepartmentFactory(code="S", parent=root)
    return parent, child, grandchild, sibling


def test_department_with_sub_departments_all_vendors_even_phasing(tree):
    """Fiscal year from April: FY2026 is 2026-04-01 → 2027-03-31 (365 days). USD 12 000 evenly:
    1 000.00 a month."""
    organization_settings_update(actor=None, fiscal_year_start_month=4)
    parent, child, grandchild, sibling = tree
    v1, v2 = VendorFactory(slug="v-one", name="Vendor One"), VendorFactory(slug="v-two", name="Vendor Two")
    budget = BudgetFactory(department=parent, fiscal_year=2026, amount=D("12000.00"))
    DailyRollupFactory(day=date(2026, 3, 31), department=parent, vendor=v1, cost=D("999"))  # before the year
    DailyRollupFactory(day=date(2026, 4, 10), department=parent, vendor=v1, cost=D("300.000000000001"))
    DailyRollupFactory(day=date(2026, 4, 20), department=child, vendor=v2, cost=D("200"))
    DailyRollupFactory(day=date(2026, 5, 5), department=grandchild, vendor=v1, cost=D("500"), unpriced_records=3)
    DailyRollupFactory(day=date(2026, 5, 20), department=sibling, vendor=v1, cost=D("7777"))  # not in scope
    DailyRollupFactory(day=date(2026, 5, 25), department=parent, vendor=v1, cost=D("1000"))  # after as_of

    s = budget_status(budget=budget, as_of=date(2026, 5, 15))
    assert (s.first_day, s.last_day, s.year_days, s.elapsed_days) == (date(2026, 4, 1), date(2027, 3, 31), 365, 45)
    assert s.currency == "USD"
    assert s.annual == D("12000.000000000000")
    assert s.actual == D("1000.000000000001")  # 300.000000000001 + 200 + 500
    assert s.budget_to_date == D("1483.870967741935")  # April 1 000 + May 1 000 × 15 ÷ 31 (483.870967741935|48)
    assert s.variance_to_date == D("483.870967741934")
    assert s.percent_used == D("8.33")  # 1 000.000000000001 ÷ 12 000 × 100
    assert s.projected_year_end == D("8111.111111111119")  # 1 000.000000000001 × 365 ÷ 45 = 8 111.111111111119|22
    assert s.projected_low == s.projected_high == s.projected_year_end
    assert s.projected_overrun_date is None  # 8 111 stays within 12 000
    assert s.thresholds_crossed == []
    assert s.unpriced_records == 3

    april, may, june = s.months[:3]
    assert (april.month, april.budget, april.actual) == (date(2026, 4, 1), D("1000.00"), D("500.000000000001"))
    assert (may.budget, may.actual, may.cumulative_actual) == (D("1000.00"), D("500"), D("1000.000000000001"))
    assert (may.cumulative_budget, june.cumulative_budget) == (D("2000"), D("3000"))
    assert june.actual is None and june.cumulative_actual is None
    assert s.months[-1].month == date(2027, 3, 1) and s.months[-1].cumulative_budget == D("12000.00")

    # by vendor, largest first: v1 300.000000000001 + 500; v2 200
    assert [(v.slug, v.actual, v.share) for v in s.vendors] == [
        ("v-one", D("800.000000000001"), D("80.00")),
        ("v-two", D("200.000000000000"), D("20.00")),
    ]


def test_vendor_budget_with_explicit_phasing_and_a_projected_overrun(tree):
    """Calendar fiscal year. USD 1 200 for Vendor One only, phased 100 × 6, 50 × 5, 350."""
    parent, child, _, _ = tree
    v1, v2 = VendorFactory(slug="v-one"), VendorFactory(slug="v-two")
    budget = BudgetFactory(
        department=parent,
        vendor=v1,
        amount=D("1200.00"),
        monthly_amounts=[D(100)] * 6 + [D(50)] * 5 + [D(350)],
        thresholds=[D(50), D(80), D(100)],
    )
    DailyRollupFactory(day=date(2026, 1, 15), department=parent, vendor=v1, cost=D("400"))
    DailyRollupFactory(day=date(2026, 2, 10), department=child, vendor=v1, cost=D("300"))
    DailyRollupFactory(day=date(2026, 2, 10), department=parent, vendor=v2, cost=D("999"))  # another vendor

    s = budget_status(budget=budget, as_of=date(2026, 2, 14))
    assert s.elapsed_days == 45  # 31 + 14
    assert s.actual == D("700.000000000000")
    assert s.budget_to_date == D("150.000000000000")  # January 100 + February 100 × 14 ÷ 28
    assert s.percent_used == D("58.33")  # 700 ÷ 1 200 = 58.333…
    assert s.projected_year_end == D("5677.777777777778")  # 700 × 365 ÷ 45 = 5 677.777…
    # 700 ÷ 45 a day exceeds 1 200 on day ⌊1 200 × 45 ÷ 700⌋ + 1 = 78: Jan 1 + 77 days = Mar 19
    # (day 77 holds 1 197.78, day 78 holds 1 213.33)
    assert s.projected_overrun_date == date(2026, 3, 19)
    assert s.thresholds_crossed == [D(50)]  # 700 ≥ 600; < 960
    fifty, eighty, _ = s.thresholds
    assert (fifty.amount, fifty.crossed_on) == (D("600.000000000000"), date(2026, 2, 10))  # 400 on Jan 15, 700 Feb 10
    assert (eighty.amount, eighty.crossed, eighty.crossed_on) == (D("960.000000000000"), False, None)
    assert s.vendors == ()  # a vendor budget has no vendor split
    assert [(m.budget, m.actual) for m in s.months[:3]] == [(D(100), D(400)), (D(100), D(300)), (D(100), None)]


def test_an_overrun_that_already_happened_is_dated_from_the_data(tree):
    parent = tree[0]
    budget = BudgetFactory(department=parent, amount=D("500.00"))
    vendor = VendorFactory(slug="v-one")
    DailyRollupFactory(day=date(2026, 1, 5), department=parent, vendor=vendor, cost=D("300"))
    DailyRollupFactory(day=date(2026, 1, 7), department=parent, vendor=vendor, cost=D("300"))
    s = budget_status(budget=budget, as_of=date(2026, 1, 31))
    assert s.actual == D("600.000000000000")
    assert s.projected_overrun_date == date(2026, 1, 7)  # 600 > 500 from Jan 7
    assert s.percent_used == D("120.00")
    assert s.thresholds_crossed == [D(50), D(80), D(100)]
    assert [t.crossed_on for t in s.thresholds] == [date(2026, 1, 5), date(2026, 1, 7), date(2026, 1, 7)]


def test_before_and_after_the_fiscal_year(tree):
    parent = tree[0]
    budget = BudgetFactory(department=parent, amount=D("1200.00"))
    DailyRollupFactory(day=date(2026, 6, 1), department=parent, vendor=VendorFactory(slug="v-one"), cost=D("100"))
    before = budget_status(budget=budget, as_of=date(2025, 12, 31))
    assert (before.elapsed_days, before.actual, before.budget_to_date, before.projected_year_end) == (0, 0, 0, 0)
    assert all(m.actual is None for m in before.months)
    after = budget_status(budget=budget, as_of=date(2027, 2, 1))
    assert after.elapsed_days == 365 and after.budget_to_date == D("1200.000000000000")
    assert after.actual == after.projected_year_end == D("100.000000000000")  # the year is over: no projection


def test_phasing_even_against_explicit_to_date():
    """Even: 1 000.00 ÷ 12 = 83.33 (the last month 83.37). Explicit: what the budget says."""
    from procurement.models import Budget
    from procurement.selectors import budget_phasing

    even = budget_phasing(Budget(fiscal_year=2026, amount=D("1000.00"), currency="USD"), start_month=1)
    # January and February in full, March 10 of 31 days: 83.33 + 83.33 + 83.33 × 10 ÷ 31 (26.880645161290|32…)
    assert budget_to_date(even, as_of=date(2026, 3, 10)) == D("193.540645161290")
    explicit = budget_phasing(
        Budget(
            fiscal_year=2026,
            amount=D("1000.00"),
            currency="USD",
            monthly_amounts=[D(0), D(0), D(310)] + [D(0)] * 8 + [D(690)],
        ),
        start_month=1,
    )
    assert budget_to_date(explicit, as_of=date(2026, 3, 10)) == D("100.000000000000")  # 310 × 10 ÷ 31
    assert budget_to_date(explicit, as_of=date(2026, 12, 31)) == D("1000.000000000000")
