"""The dashboard's budget burn (every budget from one grouped query) says exactly what
billing.selectors.budget_status says for each budget: actual with sub-departments, vendor
budgets, explicit phasing, a projected overrun and one that already happened."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.selectors import budget_status
from billing.tests.factories import DailyRollupFactory
from core.roles import Role
from core.services import organization_settings_update
from insights.selectors import dashboard
from procurement.tests.factories import BudgetFactory, DepartmentFactory, VendorFactory

pytestmark = pytest.mark.django_db

D = Decimal
FIELDS = ("annual", "actual", "budget_to_date", "percent_used", "projected_year_end", "projected_overrun_date")


@pytest.fixture
def budgets(role_world):
    """P ← C ← G, S and E under one root; budgets on P (all vendors), C (one vendor, explicit
    phasing), S (already exceeded), G, E (nothing spent), and one of last fiscal year."""
    organization_settings_update(actor=None, reporting_currency="USD", fiscal_year_start_month=4)
    root = DepartmentFactory(code="ROOT")
    parent = DepartmentFactory(code="P", parent=root)
    child = DepartmentFactory(code="C", parent=parent)
    grandchild = DepartmentFactory(code="G", parent=child)
    sibling = DepartmentFactory(code="S", parent=root)
    empty = DepartmentFactory(code="E", parent=root)
    v1, v2 = VendorFactory(slug="v-one"), VendorFactory(slug="v-two")
    rows = [
        (date(2026, 3, 31), parent, v1, "999"),  # fiscal year 2025
        (date(2026, 4, 10), parent, v1, "300.000000000001"),
        (date(2026, 4, 20), child, v2, "200"),
        (date(2026, 5, 5), grandchild, v1, "500"),
        (date(2026, 4, 2), sibling, v2, "700"),
        (date(2026, 5, 1), sibling, v1, "900"),
        (date(2026, 5, 25), parent, v1, "1000"),  # after as_of
    ]
    for day, department, vendor, cost in rows:
        DailyRollupFactory(day=day, department=department, vendor=vendor, cost=D(cost), list_cost=D(cost))
    made = [
        BudgetFactory(department=parent, fiscal_year=2026, amount=D("12000.00")),
        BudgetFactory(
            department=child,
            fiscal_year=2026,
            vendor=v1,
            amount=D("1200.00"),
            monthly_amounts=[D(100)] * 6 + [D(50)] * 5 + [D(350)],
        ),
        BudgetFactory(department=sibling, fiscal_year=2026, amount=D("1500.00")),
        BudgetFactory(department=grandchild, fiscal_year=2026, amount=D("10000.00")),
        BudgetFactory(department=empty, fiscal_year=2026, amount=D("100.00")),
        BudgetFactory(department=parent, fiscal_year=2025, amount=D("5.00")),  # another fiscal year
    ]
    return made, role_world


def test_budget_burn_equals_budget_status(budgets):
    made, world = budgets
    as_of = date(2026, 5, 15)
    board = dashboard(user=world.user(Role.FINANCE), as_of=as_of)
    by_id = {burn.budget.pk: burn for burn in board.budgets}
    assert set(by_id) == {b.pk for b in made[:5]}  # this fiscal year's only
    for budget in made[:5]:
        status = budget_status(budget=budget, as_of=as_of)
        burn = by_id[budget.pk]
        assert {f: getattr(burn, f) for f in FIELDS} == {f: getattr(status, f) for f in FIELDS}, budget
        assert burn.variance_to_date == status.variance_to_date
    parent, child, sibling, grandchild, empty = (by_id[b.pk] for b in made[:5])
    assert parent.actual == D("1000.000000000001")  # P, C and G, every vendor
    assert child.actual == D("500.000000000000")  # C and G, v-one only
    assert sibling.exceeded and sibling.projected_overrun_date == date(2026, 5, 1)  # 700 + 900 > 1 500
    assert grandchild.actual == D("500.000000000000") and grandchild.percent_used == D("5.00")
    assert empty.actual == 0 and empty.percent_used == 0 and empty.projected_overrun_date is None
    # the most used first
    assert [burn.budget.department.code for burn in board.budgets] == ["S", "C", "P", "G", "E"]


@pytest.mark.parametrize("seed", range(4))
def test_budget_burn_equals_budget_status_over_a_year_of_spend(role_world, seed):
    """A year of random spend (negative true-ups on some days, so a cumulative spend can pass an
    amount and fall back within a month), read from whole months and the month in progress: the
    dashboard's budgets say what budget_status says, exceeded ones dated on the same day."""
    import random
    from datetime import timedelta

    rng = random.Random(seed)
    root = DepartmentFactory(code="ROOT")
    divisions = [DepartmentFactory(code=f"D{i}", parent=root) for i in range(2)]
    teams = [DepartmentFactory(code=f"D{i}-T{j}", parent=divisions[i]) for i in range(2) for j in range(3)]
    vendors = [VendorFactory(slug=f"v-{i}") for i in range(3)]
    entries: dict[tuple, list] = {}
    for _ in range(250):
        key = (
            date(2026, 1, 1) + timedelta(days=rng.randrange(365)),
            rng.choice(teams + divisions),
            rng.choice(vendors),
        )
        true_up = -D(rng.randrange(0, 40_000)) / 100 if rng.random() < 0.1 else D(0)
        entry = entries.setdefault(key, [D(0), D(0)])
        entry[0] += D(rng.randrange(0, 30_000)) / 100 + true_up
        entry[1] += true_up
    for (day, department, vendor), (cost, true_up) in entries.items():
        DailyRollupFactory(day=day, department=department, vendor=vendor, cost=cost, true_up_cost=true_up)
    made = [BudgetFactory(department=root, amount=D("60000.00"))]
    made += [BudgetFactory(department=d, amount=D(rng.randrange(6_000, 20_000))) for d in divisions]
    made += [BudgetFactory(department=t, amount=D(rng.randrange(1_000, 6_000))) for t in teams]
    made += [BudgetFactory(department=divisions[0], vendor=vendors[1], amount=D("1500.00"))]
    as_of = date(2026, 1, 1) + timedelta(days=rng.randrange(150, 365))
    board = dashboard(user=role_world.user(Role.FINANCE), as_of=as_of)
    by_id = {burn.budget.pk: burn for burn in board.budgets}
    assert any(burn.exceeded for burn in board.budgets) and not all(burn.exceeded for burn in board.budgets)
    for budget in made:
        status = budget_status(budget=budget, as_of=as_of)
        burn = by_id[budget.pk]
        assert {f: getattr(burn, f) for f in FIELDS} == {f: getattr(status, f) for f in FIELDS}, (seed, budget)
    # the year to date (earlier months from the monthly rollups, this month from the daily ones)
    # and this month to date, against the daily rollups summed here
    year = [(day, cost) for (day, _, _), (cost, _) in entries.items() if date(2026, 1, 1) <= day <= as_of]
    assert board.ytd.cost == sum((cost for _, cost in year), D(0))
    assert board.mtd.cost == sum((cost for day, cost in year if day >= as_of.replace(day=1)), D(0))
