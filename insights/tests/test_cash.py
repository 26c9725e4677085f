"""The cash view: each month's charges fall due by the agreement's payment terms after the month;
vendor invoices entered replace the estimate; prepaid amounts and shortfalls add their dues."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import VendorInvoice
from billing.months import next_month
from billing.tests.factories import DailyRollupFactory, agreement, commitment
from core.roles import Role
from core.testing import token_client
from insights.selectors.cash import cash_view
from procurement.tests.factories import VendorFactory

pytestmark = pytest.mark.django_db


def test_months_fall_due_by_the_agreements_terms(role_world):
    today = timezone.now().date()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    before = (last_month - timedelta(days=1)).replace(day=1)
    vendor = VendorFactory(slug="acme", payment_terms_days=30, billing_currency="USD")
    deal = agreement("FA-CASH", vendor=vendor, start=date(today.year - 1, 1, 1), end=date(today.year + 1, 12, 31))
    deal.payment_terms_days = 60
    deal.save()
    commitment(deal, unit="USD", amount="1200", treatment="prepaid", period="monthly")
    DailyRollupFactory(
        day=last_month + timedelta(days=3), department=role_world.inside, vendor=vendor, cost=Decimal("100")
    )
    DailyRollupFactory(day=before + timedelta(days=3), department=role_world.inside, vendor=vendor, cost=Decimal("70"))
    VendorInvoice.objects.create(
        vendor=vendor,
        number="INV-1",
        invoice_date=next_month(before),
        period=before,
        due_date=today + timedelta(days=5),
        currency="USD",
        subtotal=Decimal("71"),
        total=Decimal("71"),
    )
    view = cash_view()
    items = {(i.what, i.source): (i.due, i.amount) for i in view.items}
    # last month: usage 100, invoiced on the 1st of this month, due 60 days later
    assert items[(f"Usage {last_month:%Y-%m}", "usage")] == (this_month + timedelta(days=60), Decimal("100.00"))
    # the month before: the vendor's invoice, its own due date and amount
    assert items[("Invoice INV-1", "invoice")] == (today + timedelta(days=5), Decimal("71.00"))
    assert not any(what == f"Usage {before:%Y-%m}" for what, _ in items)
    # a monthly prepaid amount falls due at each period's start + terms
    prepaid = [i for i in view.items if i.source == "prepaid"]
    assert prepaid and all(i.amount == Decimal("1200.00") for i in prepaid)
    assert all(view.start <= i.due <= view.end for i in view.items)
    assert sum(r["amount"] for r in view.by_month) == view.total

    finance = token_client(role_world.user(Role.FINANCE))
    body = finance.get("/api/v1/cash").json()
    assert Decimal(body["total"]) == view.total and body["currency"] == "USD"
    assert token_client(role_world.user(Role.DEPARTMENT_MANAGER)).get("/api/v1/cash").status_code == 403

    # the page's exports: every item, in CSV and XLSX
    from django.test import Client

    web = Client()
    web.force_login(role_world.user(Role.FINANCE))
    csv_text = web.get("/forecasts/cash/", {"export": "csv"}).content.decode()
    assert csv_text.splitlines()[0].startswith("due,vendor,what,from,amount")
    assert len(csv_text.strip().splitlines()) == len(view.items) + 1 and "Invoice INV-1" in csv_text
    workbook = web.get("/forecasts/cash/", {"export": "xlsx"})
    assert workbook["Content-Disposition"].endswith('.xlsx"') and workbook.content[:2] == b"PK"
