"""Finance's month end in the browser, on the March 2026 usage of billing's tests (T-IN owes
USD 150.36, T-OUT USD 200.06; see billing/tests/test_invoices.py):

GIVEN March's rated usage of two departments and an open period
WHEN finance closes March on the periods page, generates its invoices, issues them all (accepting
the confirmation) and downloads one invoice's PDF
THEN the period is closed, both invoices are issued with the numbers CB-<year>-000001 and -000002,
and the PDF downloaded is that invoice's, with its number and department."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from billing.models import Invoice, Period
from billing.tests.conftest import march  # noqa: F401  (the fixture of billing's invoice tests)
from billing.tests.test_invoices import MARCH
from core.models import JobRun
from core.roles import Role

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def run_card(page, heading: str):
    """The card of a generate or issue run on the invoice list, found by its heading."""
    card = page.locator(".card", has=page.get_by_role("heading", name=heading))
    card.get_by_text("Succeeded").wait_for()
    return card


def test_finance_closes_march_generates_issues_and_downloads_a_pdf(page, march):  # noqa: F811
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    sign_in(page, march.user(Role.FINANCE))

    # Close March on the periods page
    page.goto("/invoices/periods/")
    row = page.get_by_role("row", name=re.compile("2026-03"))
    assert row.get_by_text("Open", exact=True).is_visible()
    row.get_by_role("button", name="Close 2026-03").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("2026-03 closed.").is_visible()
    assert page.get_by_role("row", name=re.compile("2026-03")).get_by_text("Closed", exact=True).is_visible()
    assert Period.objects.get(month=MARCH).is_closed

    # Generate its invoices: the run's card shows it finished, with both drafts listed
    page.goto("/invoices/")
    page.locator('select[name="generate-period"]').select_option("2026-03")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_load_state("networkidle")
    generated = run_card(page, "Generating the invoices of 2026-03")
    assert generated.locator("progress").get_attribute("value") == "100"
    assert JobRun.objects.get(kind="invoice_generate").status == "succeeded"
    table = page.locator("table").last
    assert "USD 150.36" in table.inner_text() and "USD 200.06" in table.inner_text()
    assert Invoice.objects.filter(period=MARCH, status=Invoice.Status.DRAFT).count() == 2

    # Issue them all, through the form's confirmation
    page.locator('select[name="issue-period"]').select_option("2026-03")
    page.locator("form[data-confirm]").get_by_role("button", name="Issue all").click()
    page.wait_for_load_state("networkidle")
    assert dialogs and "Issue every ready invoice" in dialogs[-1]
    issued_card = run_card(page, "Issuing the invoices of 2026-03")
    assert issued_card.locator("progress").get_attribute("value") == "100"

    invoices = {i.department.code: i for i in Invoice.objects.filter(period=MARCH).select_related("department")}
    assert {code: i.status for code, i in invoices.items()} == {"T-IN": "issued", "T-OUT": "issued"}
    year = invoices["T-IN"].issue_date.year
    assert sorted(i.number for i in invoices.values()) == [f"CB-{year}-000001", f"CB-{year}-000002"]

    # Open T-IN's invoice from the month's list and download its PDF
    issued_card.get_by_role("link", name="Show the invoices of 2026-03").click()
    inside = invoices["T-IN"]
    page.get_by_role("link", name=inside.number, exact=True).click()
    page.wait_for_url(f"**/invoices/{inside.pk}/")
    assert page.get_by_role("heading", name=re.compile(inside.number)).is_visible()
    assert page.locator('[data-figure="total"]').inner_text() == "USD 150.36"
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{inside.number}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert inside.number in text and "T-IN" in text and "T-OUT" not in text
