"""The reconciliation pages: the month's board (figures, status set in place with htmx, history,
export), a vendor-month's drill-down, vendor invoices (list, filter, export, the form with lines
and a document, approval), accruals with the GL journal download, GL accounts; who may open what;
and lists that never query per row."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import GlAccount, Reconciliation, VendorInvoice
from billing.services.reconciliation import reconciliation_compute
from billing.services.vendor_invoices import vendor_invoice_create
from core.roles import Role
from core.testing import token_client

from .reconciliation_world import JANUARY, build, vendor

pytestmark = pytest.mark.django_db
D = Decimal
BOARD = "/reconciliation/"
INVOICES = "/reconciliation/vendor-invoices/"
ACCRUALS = "/reconciliation/accruals/"
ACCOUNTS = "/reconciliation/gl-accounts/"
PDF = b"%PDF-1.4\n%%EOF\n"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def month(role_world, django_capture_on_commit_callbacks):
    return build(role_world, django_capture_on_commit_callbacks)


@pytest.fixture
def finance(role_world):
    return signed_in(role_world.user(Role.FINANCE))


# Who may open what -----------------------------------------------------------------------------------------------

PAGES = [
    (BOARD + "?period=2026-01", {Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR}),
    (INVOICES, {Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR}),
    (INVOICES + "new/", {Role.FINANCE}),
    (ACCRUALS + "?period=2026-01", {Role.ADMIN, Role.FINANCE, Role.AUDITOR}),
    (ACCRUALS + "gl-export/?period=2026-01", {Role.ADMIN, Role.FINANCE, Role.AUDITOR}),
    (ACCOUNTS, {Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR}),
    (ACCOUNTS + "new/", {Role.FINANCE}),
]


@pytest.mark.parametrize(("url", "allowed"), PAGES, ids=[p[0] for p in PAGES])
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_who_may_open_each_page(url, allowed, role, role_world):
    response = signed_in(role_world.user(role)).get(url)
    if role in allowed:
        assert response.status_code == 200, (role, response.status_code)
    else:
        assert response.status_code in (302, 403), (role, response.status_code)
        assert response.status_code == 403 or role == Role.SERVICE


def test_anonymous_visitors_are_sent_to_sign_in():
    response = Client().get(BOARD)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("role", [Role.PROCUREMENT, Role.AUDITOR, Role.DEPARTMENT_MANAGER, Role.ADMIN])
def test_only_finance_changes(role, month, role_world):
    client = signed_in(role_world.user(role))
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    invoice = month["anthropic_invoice"]
    assert client.post(f"{BOARD}{row.pk}/status/", {"status": "accepted"}).status_code == 403
    assert client.post(f"{BOARD}compute/", {"period": "2026-01"}).status_code == 403
    assert client.post(f"{INVOICES}{invoice.pk}/approve/").status_code == 403
    assert client.post(f"{INVOICES}{invoice.pk}/delete/").status_code == 403
    assert Reconciliation.objects.get(pk=row.pk).status == "needs_review"
    assert VendorInvoice.objects.get(pk=invoice.pk).status == "received"


# The board -------------------------------------------------------------------------------------------------------


def test_the_board_shows_the_month_per_vendor(month, finance):
    html = finance.get(BOARD, {"period": "2026-01"}).content.decode()
    assert "Reconciliation · 2026-01" in html
    for name in ("Anthropic", "OpenAI", "DeepSeek", "Qwen"):
        assert name in html
    assert "218.00" in html and "219.00" in html and "60.13" in html  # expected, invoiced, vendor-reported
    assert "0.4587 %" in html and "5 %" in html
    assert "Matched" in html and "Needs review" in html
    assert 'hx-post="/reconciliation/' in html and 'name="note"' in html  # finance sets statuses in place
    assert "<script>" not in html.replace("<script src=", "")  # no inline scripts (CSP)


def test_readers_see_no_status_form(month, role_world):
    html = signed_in(role_world.user(Role.AUDITOR)).get(BOARD, {"period": "2026-01"}).content.decode()
    assert "Anthropic" in html and 'name="note"' not in html and "Recompute" not in html


def test_the_board_filters_and_defaults_to_last_month(month, finance):
    html = finance.get(BOARD, {"period": "2026-01", "status": "matched"}).content.decode()
    assert ">Anthropic</a>" in html and ">Qwen</a>" not in html
    bad = finance.get(BOARD, {"period": "Jan 2026"}).content.decode()
    assert "is not a month" in bad


def test_setting_a_status_with_htmx_answers_the_cell(month, finance, role_world):
    row = reconciliation_compute(vendor=month["openai"], month=JANUARY)
    response = finance.post(
        f"{BOARD}{row.pk}/status/", {"status": "disputed", "note": "Feed counts a day twice"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith(f'<div id="rec-status-{row.pk}"') and "Disputed" in html
    assert "Feed counts a day twice" in html and "History" in html and "t-finance" in html
    row.refresh_from_db()
    assert (row.status, row.note) == ("disputed", "Feed counts a day twice")
    bad = finance.post(f"{BOARD}{row.pk}/status/", {"status": "paid"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 400 and "not one of the available choices" in bad.content.decode()
    # without htmx: back to the board of the month
    plain = finance.post(f"{BOARD}{row.pk}/status/", {"status": "accepted", "note": ""})
    assert plain.status_code == 302 and plain["Location"] == f"{BOARD}?period=2026-01"


def test_board_export(month, finance):
    response = finance.get(BOARD, {"period": "2026-01", "_export": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    anthropic = next(r for r in rows if r["Vendor"] == "Anthropic")
    assert anthropic["Expected"] == "218.000000000000" and anthropic["Status"] == "matched"
    assert anthropic["Compared with"] == "invoice" and anthropic["Month"] == "2026-01"
    xlsx = finance.get(BOARD, {"period": "2026-01", "_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row == 5


def test_recompute_button(month, finance):
    response = finance.post(f"{BOARD}compute/", {"period": "2026-01"})
    assert response.status_code == 302 and response["Location"] == f"{BOARD}?period=2026-01"
    assert Reconciliation.objects.filter(period=JANUARY).count() == 4


def test_the_drilldown_page(month, finance):
    row = reconciliation_compute(vendor=month["anthropic"], month=JANUARY)
    html = finance.get(f"{BOARD}{row.pk}/").content.decode()
    assert "Anthropic · January 2026" in html
    assert "By model" in html and "claude-haiku" in html and "40.13" in html and "0.13" in html
    assert "By day (UTC)" in html and "2026-01-20" in html
    assert "FA-ANTH · 2026-01-01 → 2026-01-31 · USD 164.00" in html
    assert "latency_p90" in html and "ANT-2026-01" in html
    assert "Change history" in html


# Vendor invoices -------------------------------------------------------------------------------------------------


def form_data(**overrides) -> dict:
    data = {
        "vendor": "acme",
        "number": "F-1",
        "po_number": "",
        "invoice_date": "2026-02-03",
        "period": "2026-01",
        "due_date": "",
        "currency": "",
        "subtotal": "",
        "tax": "2.00",
        "total": "",
        "tax_type": "",
        "notes": "",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-description": "input",
        "lines-0-model": "acme-large",
        "lines-0-tokens": "1000000",
        "lines-0-amount": "7.50",
        "lines-1-description": "removed",
        "lines-1-amount": "99.00",
        "lines-1-DELETE": "on",
        "lines-2-description": "output",
        "lines-2-amount": "2.50",
    }
    data.update(overrides)
    return data


def test_finance_enters_an_invoice_with_lines_and_a_document(finance, role_world):
    vendor("acme", "Acme AI", "USD", payment_terms_days=14)
    page = finance.get(f"{INVOICES}new/").content.decode()
    assert 'data-formset-add="lines"' in page and "js/formset.js" in page and 'type="month"' in page
    data = form_data(document=SimpleUploadedFile("acme.pdf", PDF, content_type="application/pdf"))
    response = finance.post(f"{INVOICES}new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    invoice = VendorInvoice.objects.get()
    assert response["Location"] == f"{INVOICES}{invoice.pk}/"
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("10"), D("2"), D("12"))
    assert invoice.due_date == date(2026, 2, 17) and invoice.currency == "USD"
    assert [line.description for line in invoice.lines.all()] == ["input", "output"]
    detail = finance.get(response["Location"]).content.decode()
    assert "Approve for payment" in detail and "acme.pdf" in detail and "USD 12.00" in detail
    download = finance.get(f"{INVOICES}{invoice.pk}/document/")
    assert b"".join(download.streaming_content) == PDF

    approved = finance.post(f"{INVOICES}{invoice.pk}/approve/")
    assert approved.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "approved" and invoice.approved_by == role_world.user(Role.FINANCE)
    detail = finance.get(f"{INVOICES}{invoice.pk}/").content.decode()
    assert "Approve for payment" not in detail and f"{INVOICES}{invoice.pk}/edit/" not in detail
    again = finance.post(f"{INVOICES}{invoice.pk}/approve/", follow=True).content.decode()
    assert "was already approved by t-finance" in again
    assert finance.get(f"{INVOICES}{invoice.pk}/edit/").status_code == 302


def test_messages_beside_the_fields_and_lines(finance):
    vendor("acme", "Acme AI", "USD")
    response = finance.post(
        f"{INVOICES}new/",
        form_data(**{"subtotal": "11.00", "lines-2-amount": "2.505", "lines-0-description": ""}),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert "Describe the line" in html and "USD amounts have at most 2 decimal places." in html
    assert 'name="lines-2-amount" value="2.505"' in html  # typed values kept
    wrong_total = finance.post(f"{INVOICES}new/", form_data(total="99.00")).content.decode()
    assert "is not subtotal + tax (10 + 2 = 12)" in wrong_total
    bad_file = finance.post(
        f"{INVOICES}new/", form_data(document=SimpleUploadedFile("acme.pdf", b"GIF89a not a pdf"))
    ).content.decode()
    assert "is not a PDF: its content does not match its name." in bad_file
    assert not VendorInvoice.objects.exists()


def test_editing_replaces_the_lines(finance, role_world):
    acme = vendor("acme", "Acme AI", "USD")
    invoice = vendor_invoice_create(
        actor=None,
        vendor=acme,
        number="E-1",
        invoice_date=date(2026, 2, 3),
        period=JANUARY,
        lines=[{"description": "old", "amount": D("5.00")}],
    )
    page = finance.get(f"{INVOICES}{invoice.pk}/edit/").content.decode()
    assert 'value="old"' in page
    data = form_data(
        number="E-1",
        **{
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-0-description": "new",
            "lines-0-amount": "6.00",
        },
    )
    for key in [k for k in data if k.startswith(("lines-1-", "lines-2-"))]:
        data.pop(key)
    data.pop("vendor")
    response = finance.post(f"{INVOICES}{invoice.pk}/edit/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    invoice.refresh_from_db()
    assert [line.description for line in invoice.lines.all()] == ["new"] and invoice.total == D("8.00")


def test_the_invoice_list_filters_and_exports(finance, role_world):
    acme, beta = vendor("acme", "Acme AI", "USD"), vendor("beta", "Beta", "EUR")
    for number, v, period in [("A-1", acme, JANUARY), ("A-2", acme, date(2026, 2, 1)), ("B-1", beta, JANUARY)]:
        vendor_invoice_create(
            actor=None, vendor=v, number=number, invoice_date=date(2026, 3, 1), period=period, subtotal=D("1.50")
        )
    html = finance.get(INVOICES, {"vendor": "acme", "period": "2026-01"}).content.decode()
    assert "A-1" in html and "A-2" not in html and "B-1" not in html
    assert "Vendor invoices" in html and "Accruals &amp; GL export" in html
    exported = finance.get(INVOICES, {"_export": "csv", "sort": "number"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["Number"] for r in rows] == ["A-1", "A-2", "B-1"]
    assert rows[0]["Subtotal"] == "1.500000" and rows[0]["Month"] == "2026-01" and rows[0]["Status"] == "received"
    xlsx = finance.get(INVOICES, {"_export": "xlsx"})
    assert openpyxl.load_workbook(io.BytesIO(xlsx.content)).active.max_row == 4


# Accruals and GL -------------------------------------------------------------------------------------------------


def test_the_accruals_page_and_the_journal_download(month, finance):
    html = finance.get(ACCRUALS, {"period": "2026-01"}).content.decode()
    assert "Total USD 13.11" in html and "Qwen" in html and "22.40" in html
    assert "GL journal TL-2026-01" in html and "79.35" in html and "yes" in html
    assert f"{ACCRUALS}gl-export/?period=2026-01" in html
    response = finance.get(f"{ACCRUALS}gl-export/", {"period": "2026-01"})
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="gl-journal-2026-01.csv"'
    assert response.content.decode().splitlines()[0] == (
        "date,journal,account,cost_centre,department,vendor,description,debit,credit,currency"
    )
    exported = finance.get(ACCRUALS, {"period": "2026-01", "_export": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert next(r for r in rows if r["Vendor"] == "Qwen")["Accrual (reporting)"] == "3.111111111111"


def test_gl_accounts_pages(finance, role_world):
    response = finance.post(f"{ACCOUNTS}new/", {"purpose": "expense", "account_code": "6100", "description": "LLM"})
    assert response.status_code == 302 and response["Location"] == ACCOUNTS
    account = GlAccount.objects.get()
    assert account.history.first().history_user == role_world.user(Role.FINANCE)
    twice = finance.post(f"{ACCOUNTS}new/", {"purpose": "expense", "account_code": "6200"}).content.decode()
    assert "There is already a GL account for expense (everything else)" in twice
    html = finance.get(ACCOUNTS).content.decode()
    assert "6100" in html and f"{ACCOUNTS}{account.pk}/edit/" in html
    auditor = signed_in(role_world.user(Role.AUDITOR)).get(ACCOUNTS).content.decode()
    assert "6100" in auditor and f"{ACCOUNTS}{account.pk}/edit/" not in auditor
    assert finance.post(f"{ACCOUNTS}{account.pk}/delete/").status_code == 302
    assert not GlAccount.objects.exists()


# Query counts ----------------------------------------------------------------------------------------------------

_n = itertools.count()


def add_vendors(count: int) -> None:
    for _ in range(count):
        i = next(_n)
        v = vendor(f"qv{i}", f"Vendor {i}", "USD")
        vendor_invoice_create(
            actor=None,
            vendor=v,
            number=f"Q-{i}",
            invoice_date=date(2026, 2, 1),
            period=JANUARY,
            lines=[{"description": "usage", "amount": D("1.00")}, {"description": "fee", "amount": D("2.00")}],
        )
        GlAccount.objects.create(purpose="expense", vendor=v, account_code=f"6{i:03d}")


def queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200, response.content[:500]
    return len(captured)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/vendor-invoices/",
        "/api/v1/reconciliations/?period=2026-01",
        "/api/v1/reconciliations/",
        "/api/v1/gl-accounts/",
        "/api/v1/accruals/?period=2026-01",
    ],
)
def test_api_lists_do_not_query_per_row(path, role_world):
    client = token_client(role_world.user(Role.FINANCE))
    add_vendors(2)
    client.get(path)  # warm up: the token's last use, the month's first computation
    few = queries(lambda: client.get(path))
    add_vendors(6)
    client.get(path)  # the new vendors' rows are computed once
    assert queries(lambda: client.get(path)) == few


@pytest.mark.parametrize("path", [INVOICES, BOARD + "?period=2026-01", ACCOUNTS, ACCRUALS + "?period=2026-01"])
def test_pages_do_not_query_per_row(path, role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    add_vendors(2)
    client.get(path)
    few = queries(lambda: client.get(path))
    add_vendors(6)
    client.get(path)
    assert queries(lambda: client.get(path)) == few
