"""The nested tables of forms (static/js/formset.js), on the vendor invoice form: lines are added
and removed in place, numbered as they show, and only the kept ones are saved."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import VendorInvoice
from core.roles import Role
from procurement.tests.factories import VendorFactory

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def visible_rows(page):
    return page.locator('[data-formset-rows="lines"] > tr:not([hidden])')


def test_vendor_invoice_lines_are_added_removed_and_saved(page, role_world):
    VendorFactory(slug="deepseek", name="DeepSeek", billing_currency="USD")
    sign_in(page, role_world.user(Role.FINANCE))
    page.goto("/reconciliation/vendor-invoices/new/")
    page.get_by_label("Vendor").select_option(label="DeepSeek")
    page.get_by_label("Invoice number").fill("DS-2026-10-001")
    page.get_by_label("Invoice date").fill("2026-11-01")
    page.get_by_label("Month of usage").fill("2026-10")
    page.get_by_label("Currency").select_option("USD")

    add = page.get_by_role("button", name="Add line")
    for _ in range(2):
        add.click()
    rows = visible_rows(page)
    assert rows.count() == 3
    # the new row's first control has the focus, and rows are numbered as they show
    assert page.evaluate("document.activeElement.name") == "lines-2-description"
    assert [rows.nth(i).locator("[data-row-number]").inner_text() for i in range(3)] == ["1", "2", "3"]
    for i, (description, amount) in enumerate(
        [("Chat input", "120.50"), ("Wrong line", "999.00"), ("Chat output", "79.50")]
    ):
        rows.nth(i).get_by_label("Description").fill(description)
        rows.nth(i).get_by_label("Amount").fill(amount)

    rows.nth(1).get_by_role("button", name="Remove this line").click()
    assert visible_rows(page).count() == 2
    assert page.evaluate("document.activeElement.dataset.formsetAdd") == "lines"  # focus back on "Add line"
    assert [visible_rows(page).nth(i).locator("[data-row-number]").inner_text() for i in range(2)] == ["1", "2"]
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")

    invoice = VendorInvoice.objects.get(number="DS-2026-10-001")
    assert [(line.description, line.amount) for line in invoice.lines.order_by("position")] == [
        ("Chat input", Decimal("120.50")),
        ("Chat output", Decimal("79.50")),
    ]
    assert invoice.subtotal == Decimal("200.00")
    assert page.get_by_text("Chat output").is_visible() and not page.get_by_text("Wrong line").count()
