"""The agreement and budget pages load their status panels with htmx; the panels render the
figures and carry the chart data in a json_script tag (no inline script or style: strict CSP)."""

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from contracts.models import Commitment
from core.roles import Role
from procurement.tests.factories import BudgetFactory, VendorFactory

from .factories import DailyRollupFactory, agreement, commitment

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def chart_data(html: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script {element_id}"
    return json.loads(match.group(1))


def assert_csp_clean(html: str) -> None:
    assert not re.search(r"<script(?![^>]*application/json)[^>]*>[^<]+</script>", html), "inline script"
    assert " style=" not in html and not re.search(r"\son[a-z]+=", html)


def test_agreement_page_loads_the_commitment_panel(role_world):
    fa = agreement("FA-UI-1")
    c = commitment(fa, amount="900000000", period=Commitment.Period.QUARTERLY)
    DailyRollupFactory(day=date(2026, 1, 10), department=role_world.inside, vendor=fa.vendor, input_tokens=300_000_000)
    client = browser(role_world.user(Role.PROCUREMENT))

    page = client.get("/agreements/FA-UI-1/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'hx-get="/agreements/FA-UI-1/commitment-panel/"' in html
    assert "js/billing_charts.js" in html and "chartjs/chart.umd.min.js" in html

    panel = client.get("/agreements/FA-UI-1/commitment-panel/", {"as_of": "2026-02-14"}, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    html = panel.content.decode()
    assert_csp_clean(html)
    assert "300 M tokens" in html and "450 M tokens" in html  # consumed; expected 900 M × 45 ÷ 90
    assert "USD 150.00" in html  # projected shortfall 300 M × 0.50 ÷ 10⁶
    assert f'data-billing-chart="commitment-chart-{c.pk}"' in html
    data = chart_data(html, f"commitment-chart-{c.pk}")
    assert data["kind"] == "commitment" and data["unit"] == "tokens"
    assert data["labels"][0] == "2026-01-01" and len(data["labels"]) == 90
    series = {s["key"]: s["data"] for s in data["series"]}
    assert series["consumed"][44] == "300000000" and series["consumed"][45] is None
    assert series["expected"][44] == "450000000" and series["committed"][0] == "900000000"
    assert series["projected"][44] == "300000000" and series["projected"][-1] == "600000000"


def test_commitment_panel_reports_a_bad_date_and_uses_today(role_world):
    fa = agreement("FA-UI-2")
    commitment(fa, unit="USD", amount="100", treatment=Commitment.Treatment.PREPAID)
    panel = browser(role_world.user(Role.AUDITOR)).get("/agreements/FA-UI-2/commitment-panel/", {"as_of": "nope"})
    assert panel.status_code == 200
    assert "is not a date" in panel.content.decode()


def test_agreement_without_commitments_has_no_panel(role_world):
    agreement("FA-UI-3")
    html = browser(role_world.user(Role.FINANCE)).get("/agreements/FA-UI-3/").content.decode()
    assert "commitment-panel" not in html and "billing_charts.js" not in html


def test_commitment_panel_follows_the_agreement_policy(role_world):
    fa = agreement("FA-UI-4")
    commitment(fa, amount="1000")
    assert (
        browser(role_world.user(Role.DEPARTMENT_MANAGER)).get("/agreements/FA-UI-4/commitment-panel/").status_code
        == 403
    )
    assert Client().get("/agreements/FA-UI-4/commitment-panel/").status_code == 302
    assert browser(role_world.user(Role.FINANCE)).get("/agreements/NOPE/commitment-panel/").status_code == 404


def test_budget_page_loads_the_status_panel_with_a_burn_chart(role_world):
    vendor = VendorFactory(slug="v-ui", name="Vendor UI")
    budget = BudgetFactory(department=role_world.inside, amount=Decimal("1200.00"))
    DailyRollupFactory(day=date(2026, 1, 15), department=role_world.inside_child, vendor=vendor, cost=Decimal("400"))
    client = browser(role_world.user(Role.DEPARTMENT_MANAGER))

    page = client.get(f"/budgets/{budget.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'hx-get="/budgets/{budget.pk}/status-panel/"' in html and "js/billing_charts.js" in html

    panel = client.get(f"/budgets/{budget.pk}/status-panel/", {"as_of": "2026-01-31"}, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    html = panel.content.decode()
    assert_csp_clean(html)
    assert "USD 400.00" in html and "(33.33 %)" in html  # actual, percent used
    assert "2026-04-04" in html  # projected overrun: ⌊1 200 × 31 ÷ 400⌋ + 1 = day 94
    assert "Vendor UI" in html  # the vendor split of an all-vendor budget
    data = chart_data(html, f"budget-chart-{budget.pk}")
    assert data["kind"] == "budget" and data["currency"] == "USD"
    assert data["labels"][:2] == ["2026-01", "2026-02"]
    series = {s["key"]: s["data"] for s in data["series"]}
    assert series["consumed"][:2] == ["400.000000", None]
    assert series["expected"][0] == "100.000000" and series["expected"][-1] == "1200.000000"
    assert series["committed"][0] == "1200.000000"
    assert series["projected"][0] == "400.000000" and series["projected"][-1] == "4709.677419"


def test_budget_panel_of_another_department_answers_404_to_a_manager(role_world):
    budget = BudgetFactory(department=role_world.outside)
    manager = browser(role_world.user(Role.DEPARTMENT_MANAGER))
    assert manager.get(f"/budgets/{budget.pk}/status-panel/").status_code == 404
    assert browser(role_world.user(Role.SERVICE)).get(f"/budgets/{budget.pk}/status-panel/").status_code in (302, 403)
    assert browser(role_world.user(Role.FINANCE)).get(f"/budgets/{budget.pk}/status-panel/").status_code == 200
