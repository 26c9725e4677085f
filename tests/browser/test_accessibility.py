"""Accessibility in the real browser: every page each role can open passes axe-core (no serious or
critical violation), the finance pages fit a tablet and a laptop without sideways scrolling (wide
tables scroll inside their .table-responsive box) with the sidebar reachable, and the agreement and
budget forms can be worked with the keyboard alone.

The pages are the permission matrix's parameterless GET pages the role may open, plus a few detail
and edit pages of a small planted world (a vendor with an agreement, budgets, usage, an alert)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from pprint import pformat

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.tests.factories import DailyRollupFactory, commitment
from contracts.models import Agreement, PriceRule, PriceTier, TokenClass
from core.policy import CHANGE, VIEW, can
from core.roles import Role
from insights.alerts.delivery import alert_deliver
from insights.models import AlertRule
from insights.services.alerts import alert_raise
from insights.tests.alerts_world import candidate
from procurement.tests.factories import BudgetFactory, VendorFactory
from tests.test_permission_matrix import UI_PAGES, _expected

from .conftest import AXE, LAPTOP, TABLET, axe_violations, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

UI_ROLES = [Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.DEPARTMENT_MANAGER, Role.AUDITOR]
# Answers with a file, not a page.
DOWNLOADS = {"billing:gl_export"}


@dataclass(frozen=True)
class World:
    vendor_slug: str
    agreement_reference: str
    budget_pk: int
    department_code: str
    alert_rule_pk: int
    alert_pk: int


def plant_world(role_world) -> World:
    """A vendor under an active agreement (a price rule, a commitment), budgets for the managed
    department tree, a month of usage in it and outside it, and an alert in the managed department."""
    today = timezone.localdate()
    vendor = VendorFactory(slug="deepseek", name="DeepSeek", billing_currency="USD")
    agreement = Agreement.objects.create(
        reference="FA-DS-2026",
        vendor=vendor,
        start=datetime.date(today.year, 1, 1),
        end=datetime.date(today.year, 12, 31),
        currency="USD",
        status=Agreement.Status.ACTIVE,
    )
    rule = PriceRule.objects.create(agreement=agreement, model_pattern="deepseek-*", token_class=TokenClass.INPUT)
    PriceTier.objects.create(rule=rule, from_tokens=0, price=Decimal("0.27"))
    commitment(agreement, amount="1000000000")
    budget = BudgetFactory(department=role_world.inside, fiscal_year=today.year, amount=Decimal("12000.00"))
    BudgetFactory(department=role_world.outside, fiscal_year=today.year, amount=Decimal("5000.00"))
    for offset in range(0, 30, 3):
        day = today - datetime.timedelta(days=offset)
        for department, cost in (
            (role_world.inside, "41.50"),
            (role_world.inside_child, "7.25"),
            (role_world.outside, "18.00"),
        ):
            DailyRollupFactory(
                day=day,
                department=department,
                vendor=vendor,
                model="deepseek-chat",
                records=12,
                requests=120,
                cost=Decimal(cost),
                list_cost=Decimal(cost) * 2,
                agreement_cost=Decimal(cost),
            )
    AlertRule.objects.all().delete()
    alert_rule = AlertRule.objects.create(name="Inbox", roles=["finance", "department_manager"], channels=["inbox"])
    alert, _ = alert_raise(candidate=candidate("in", department_id=role_world.inside.pk, title="Budget 80 % reached"))
    alert_deliver(alert=alert)
    return World(
        vendor_slug=vendor.slug,
        agreement_reference=agreement.reference,
        budget_pk=budget.pk,
        department_code=role_world.inside.code,
        alert_rule_pk=alert_rule.pk,
        alert_pk=alert.pk,
    )


def pages_for(user, world: World) -> list[str]:
    """The parameterless pages the role may open, then the planted world's detail and edit pages."""
    role = Role(user.role)
    pages = [r.url for r in UI_PAGES if r.name not in DOWNLOADS and _expected(r, role) == 200]
    details = [
        ("vendor", VIEW, reverse("procurement:vendor_detail", args=[world.vendor_slug])),
        ("vendor", CHANGE, reverse("procurement:vendor_edit", args=[world.vendor_slug])),
        ("scorecard", VIEW, reverse("billing:vendor_scorecard", args=[world.vendor_slug])),
        ("agreement", VIEW, reverse("contracts:agreement_detail", args=[world.agreement_reference])),
        ("agreement", CHANGE, reverse("contracts:agreement_edit", args=[world.agreement_reference])),
        ("department", VIEW, reverse("procurement:department_detail", args=[world.department_code])),
        ("budget", VIEW, reverse("procurement:budget_detail", args=[world.budget_pk])),
        ("budget", CHANGE, reverse("procurement:budget_edit", args=[world.budget_pk])),
        ("alert", VIEW, reverse("insights:alert_detail", args=[world.alert_pk])),
        ("alert_rule", CHANGE, reverse("insights:alert_rule_edit", args=[world.alert_rule_pk])),
    ]
    return pages + [url for resource, action, url in details if can(user, resource, action)]


@pytest.fixture
def axe_page(axe_page):
    """The CSP-free page with axe-core already in every document it opens (quicker than adding it
    to each page afterwards)."""
    axe_page.context.add_init_script(path=str(AXE))
    return axe_page


def visit(page, url: str) -> None:
    response = page.goto(url)  # until the load event
    assert response is not None and response.status == 200, (url, response and response.status)
    # the panels htmx fetches once the page is there (hx-trigger="load") are in before any check
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


# 1. axe-core on every page of every role ------------------------------------------------------------


@pytest.mark.parametrize("role", UI_ROLES, ids=lambda r: r.value)
def test_every_page_of_the_role_passes_axe(axe_page, role_world, role):
    world = plant_world(role_world)
    user = role_world.user(role)
    sign_in(axe_page, user)
    urls = pages_for(user, world)
    assert len(urls) >= 15, urls
    violations = {}
    for url in urls:
        visit(axe_page, url)
        if found := axe_violations(axe_page):
            violations[url] = found
    assert not violations, pformat(violations, width=140)


# 2. Widths: no sideways page scrolling, the sidebar reachable --------------------------------------

OVERFLOW = """() => {
    const width = window.innerWidth;
    if (document.documentElement.scrollWidth <= width + 1) return null;
    // the outermost elements that stick out, outside any box that scrolls or clips on its own
    // (an absolutely positioned element escapes the boxes below its containing block)
    const container = (el) =>
        (getComputedStyle(el).position === 'absolute' && el.offsetParent) || el.parentElement;
    const clipped = (el) => {
        for (let up = container(el); up && up !== document.body; up = up.parentElement) {
            if (getComputedStyle(up).overflowX !== 'visible') return true;
        }
        return false;
    };
    const culprits = [];
    for (const el of document.querySelectorAll('body *')) {
        const right = el.getBoundingClientRect().right;
        if (right > width + 1 && container(el).getBoundingClientRect().right <= width + 1 && !clipped(el)) {
            const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
            culprits.push(`${name}${[...el.classList].map((c) => '.' + c).join('')} right=${Math.round(right)}`);
        }
    }
    return {scrollWidth: document.documentElement.scrollWidth, width, culprits: culprits.slice(0, 6)};
}"""


@pytest.mark.parametrize("viewport", [TABLET, LAPTOP], ids=["tablet", "laptop"])
def test_finance_pages_fit_the_width_and_the_sidebar_is_reachable(page, role_world, viewport):
    world = plant_world(role_world)
    user = role_world.user(Role.FINANCE)
    page.set_viewport_size(viewport)
    sign_in(page, user)
    overflowing, scrolling_tables = {}, {}
    for url in pages_for(user, world):
        visit(page, url)
        if problem := page.evaluate(OVERFLOW):
            overflowing[url] = problem
        # a table that scrolls in its box joins the tab order (static/js/app.js), named for the keyboard
        if scrolling := page.locator(".table-responsive[data-tl-scroll]").count():
            scrolling_tables[url] = scrolling
            box = page.locator(".table-responsive[data-tl-scroll]").first
            assert box.get_attribute("tabindex") == "0" and box.get_attribute("aria-label"), url
    assert not overflowing, pformat(overflowing, width=140)
    if viewport == TABLET:  # the reconciliation board is wider than a tablet: it scrolls in its box
        assert "/reconciliation/" in scrolling_tables, scrolling_tables
    else:  # on a laptop every list fits: nothing to scroll sideways for its last columns
        assert not scrolling_tables, scrolling_tables

    visit(page, "/")
    budgets = page.locator("#sidebar-menu").get_by_role("link", name="Budgets")
    toggler = page.get_by_role("button", name="Toggle navigation")
    if viewport == TABLET:
        assert toggler.is_visible() and not budgets.is_visible()
        toggler.click()
        budgets.wait_for(state="visible")
        assert toggler.get_attribute("aria-expanded") == "true"
    else:
        assert not toggler.is_visible()
    assert budgets.is_visible()
    budgets.click()
    page.wait_for_url("**/budgets/")


def test_below_1400_px_the_filter_folds_above_the_list_and_opens_when_set(page, role_world):
    """On a laptop the list takes the full width; its filter card is folded, opens with its button,
    and once a filter is applied it comes back open, saying how many filters are set."""
    world = plant_world(role_world)
    sign_in(page, role_world.user(Role.FINANCE))
    visit(page, "/alerts/")
    status = page.get_by_label("Status", exact=True)
    toggle = page.get_by_role("button", name="Filters")
    assert not status.is_visible() and toggle.get_attribute("aria-expanded") == "false"
    table_box = page.locator(".table-responsive").first.bounding_box()
    assert table_box["width"] > 1000, table_box  # the whole content width, no filter column beside it
    toggle.click()
    status.wait_for(state="visible")
    assert toggle.get_attribute("aria-expanded") == "true"
    status.select_option("open")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/alerts/?*status=open*")
    assert page.get_by_label("Status", exact=True).is_visible()
    assert page.locator(".tl-filter .card-title").inner_text().strip().endswith("1 active")
    assert page.locator("table tbody tr").filter(has_text="Budget 80 % reached").count() == 1
    assert world.alert_pk


# 3. Keyboard: the forms can be filled and submitted without a mouse --------------------------------

# A control as the keyboard meets it: radio buttons are one tab stop per group.
CONTROL_KEY = """(el) => el.type === 'radio'
    ? `radio:${el.name}`
    : (el.id || el.name || el.getAttribute('aria-label') || el.textContent.replace(/\\s+/g, ' ').trim())"""
FORM_CONTROLS = f"""(selector) => {{
    const key = {CONTROL_KEY};
    return [...document.querySelector(selector).elements]
        .filter((el) => ['INPUT', 'SELECT', 'TEXTAREA', 'BUTTON'].includes(el.tagName))
        .filter((el) => el.type !== 'hidden' && !el.disabled && el.getClientRects().length > 0)
        .filter((el) => getComputedStyle(el).visibility !== 'hidden')
        .map(key);
}}"""
FOCUSED = f"""(selector) => {{
    const key = {CONTROL_KEY};
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const node = axe.utils.getNodeFromTree(el);
    return {{
        key: key(el),
        tag: el.tagName.toLowerCase(),
        name: node ? axe.commons.text.accessibleTextVirtual(node).trim() : '',
        submit: el.type === 'submit' && el.form === document.querySelector(selector),
    }};
}}"""


@pytest.mark.parametrize(
    ("role", "url_name", "form"),
    [
        pytest.param(Role.PROCUREMENT, "contracts:agreement_create", "#agreement-form", id="agreement-form"),
        pytest.param(Role.FINANCE, "procurement:budget_create", "main form[method=post]", id="budget-form"),
    ],
)
def test_the_form_works_with_the_keyboard(axe_page, role_world, role, url_name, form):
    """From the top of the page, Tab alone reaches every control of the form, each with an
    accessible name, and then its submit button."""
    plant_world(role_world)
    sign_in(axe_page, role_world.user(role))
    visit(axe_page, reverse(url_name))
    controls = axe_page.evaluate(FORM_CONTROLS, form)
    axe_page.evaluate("() => { axe.setup(document); }")
    visited = []
    for _ in range(4 * len(controls) + 40):  # the skip link, the sidebar and the header come first
        axe_page.keyboard.press("Tab")
        if (focused := axe_page.evaluate(FOCUSED, form)) is None:
            continue
        visited.append(focused)
        if focused["submit"]:
            break
    else:
        pytest.fail(f"Tab never reached the submit button; the last stops: {pformat(visited[-10:])}")
    unnamed = [f for f in visited if not f["name"]]
    assert not unnamed, f"focusable without an accessible name: {pformat(unnamed)}"
    unreached = set(controls) - {f["key"] for f in visited}
    assert not unreached, f"controls Tab skipped: {sorted(unreached)}"
    assert len(controls) >= 3
