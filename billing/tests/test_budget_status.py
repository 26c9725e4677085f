"""budget_status: hand-worked figures from daily rollups written with known values."""

from datetime import date, timedelta
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


def _brute_force_days(rows, budget, scope, *, first, last, amounts):
    """Every day's total in day order, the running sum, the first day reaching each (amount, strictly)."""
    totals: dict[date, Decimal] = {}
    for day, department, vendor, cost, _ in rows:
        if department in scope and first <= day <= last and (budget.vendor_id is None or vendor == budget.vendor_id):
            totals[day] = totals.get(day, D(0)) + cost
    found = []
    for amount, strictly in amounts:
        running, hit = D(0), None
        for day in sorted(totals):
            running += totals[day]
            if running > amount or (not strictly and running >= amount):
                hit = day
                break
        found.append(hit)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_crossing_days_from_month_totals_equal_a_day_by_day_count(tree, seed):
    """Month totals and the days of the crossing months (and of months with a negative true-up,
    where the running spend may pass an amount and fall back) name the same days as a day-by-day
    count over every day: random spend over the year, negative true-ups on some days, and the
    month in progress cut at as_of."""
    import random

    rng = random.Random(seed)
    parent, child, grandchild, sibling = tree
    v1, v2 = VendorFactory(slug="v-one"), VendorFactory(slug="v-two")
    departments = {parent: "p", child: "c", grandchild: "g", sibling: "s"}
    rows = []
    for _ in range(120):
        day = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
        department = rng.choice(list(departments))
        vendor = rng.choice([v1, v2])
        cost = D(rng.randrange(0, 20_000)) / 100
        true_up = -D(rng.randrange(0, 30_000)) / 100 if rng.random() < 0.12 else D(0)
        rows.append((day, department.pk, vendor.pk, cost + true_up, true_up))
    merged: dict[tuple, list] = {}
    for day, department_id, vendor_id, cost, true_up in rows:
        entry = merged.setdefault((day, department_id, vendor_id), [D(0), D(0)])
        entry[0] += cost
        entry[1] += true_up
    for (day, department_id, vendor_id), (cost, true_up) in merged.items():
        DailyRollupFactory(day=day, department_id=department_id, vendor_id=vendor_id, cost=cost, true_up_cost=true_up)
    as_of = date(2026, 1, 1) + timedelta(days=rng.randrange(200, 365))

    def spent(scope, vendor=None):
        return sum(
            (c for day, d, v, c, _ in rows if day <= as_of and d in scope and vendor in (None, v)), D(0)
        ).quantize(D(1))

    trees = {parent.pk, child.pk, grandchild.pk}, {child.pk, grandchild.pk}
    for budget in (
        BudgetFactory(department=parent, amount=max(D(1), spent(trees[0]) * D("0.7"))),
        BudgetFactory(
            department=child, vendor=v1, amount=max(D(1), spent(trees[1], v1.pk)), thresholds=[D(10), D(50), D(90)]
        ),
    ):
        scope = trees[0] if budget.department == parent else trees[1]
        s = budget_status(budget=budget, as_of=as_of)
        amounts = [(t.amount, False) for t in s.thresholds] + [(s.annual, True)]
        expected = _brute_force_days(rows, budget, scope, first=date(2026, 1, 1), last=as_of, amounts=amounts)
        # a threshold is dated only when the actual has reached it (it may have passed and fallen back)
        dated = [day if t.crossed else None for t, day in zip(s.thresholds, expected, strict=False)]
        assert [t.crossed_on for t in s.thresholds] == dated, (seed, budget)
        assert any(t.crossed for t in s.thresholds), (seed, budget)
        if s.actual > s.annual:
            assert s.projected_overrun_date == expected[-1], (seed, budget)


def test_a_threshold_passed_then_fallen_back_within_a_month_is_dated_on_the_first_pass(tree):
    """600 on 10 March passes 50 % of 1 000; a true-up of −200 on 31 March takes March back to
    400; May's 300 passes 50 % again. The day is 10 March (the first day it was reached)."""
    parent = tree[0]
    vendor = VendorFactory(slug="v-one")
    budget = BudgetFactory(department=parent, amount=D("1000.00"), thresholds=[D(50)])
    DailyRollupFactory(day=date(2026, 3, 10), department=parent, vendor=vendor, cost=D("600"))
    DailyRollupFactory(
        day=date(2026, 3, 31), department=parent, vendor=vendor, records=0, cost=D("-200"), true_up_cost=D("-200")
    )
    DailyRollupFactory(day=date(2026, 5, 4), department=parent, vendor=vendor, cost=D("300"))
    s = budget_status(budget=budget, as_of=date(2026, 6, 30))
    assert s.actual == D("700.000000000000")
    assert [(t.crossed, t.crossed_on) for t in s.thresholds] == [(True, date(2026, 3, 10))]
    assert [m.actual for m in s.months[2:5]] == [D(400), D(0), D(300)]
