"""The invoice and period pages, per role, on the data of test_invoices.py: March 2026, T-IN owes
150.36 (600M input at the blended 0.25, 100 000 output, 1M cached input) and T-OUT 200.06.

Transactional tests: the usage is rated and the runs' tasks run eagerly once a transaction
commits, as they do in the application."""

from __future__ import annotations

import html as html_lib
import itertools
import re
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import user_create_or_update
from billing.models import Invoice, InvoiceLine, Period
from billing.services.invoices import invoice_issue
from billing.services.periods import period_close
from core.models import JobRun
from core.roles import Role
from core.services import organization_settings_update
from procurement.models import Department
from procurement.tests.helpers import csv_rows
from usage.tests.factories import record

from .test_invoices import MARCH, close_and_generate, ingest

pytestmark = pytest.mark.django_db(transaction=True)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return html_lib.unescape(response.content.decode())


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assert_csp_clean(html: str) -> None:
    assert not re.search(r"<script(?![^>]*application/json)[^>]*>[^<]+</script>", html), "inline script"
    assert " style=" not in html and not re.search(r"\son[a-z]+=", html)


def ingest_unallocated(client) -> None:
    ingest(
        client,
        [
            record(
                9,
                external_id="nodept",
                vendor="acme",
                model="acme-large",
                bucket_start="2026-03-05T00:00:00Z",
                bucket_end=None,
                input_tokens=10,
                cached_input_tokens=0,
                output_tokens=0,
                project_id="nobody",
            )
        ],
    )


# The list ----------------------------------------------------------------------------------------


def test_the_list_shows_the_months_invoices_to_finance(march):
    close_and_generate(march.user(Role.FINANCE))
    client = browser(march.user(Role.FINANCE))
    page = client.get("/invoices/")
    assert page.status_code == 200
    html = text(page)
    assert_csp_clean(page.content.decode())
    assert "USD 150.36" in html and "USD 200.06" in html
    assert "T-IN" in html and "T-OUT" in html and "2026-03" in html
    assert html.count('<span class="text-secondary">Draft</span>') == 2
    # finance generates and issues from here, and reaches the close page
    assert 'action="/invoices/generate/"' in html and 'action="/invoices/issue/"' in html
    assert '<option value="2026-03">2026-03</option>' in html
    assert 'href="/invoices/periods/"' in html

    only_in = text(client.get("/invoices/", {"period": "2026-03", "department": "T-IN"}))
    assert "USD 150.36" in only_in and "USD 200.06" not in only_in
    assert "USD 150.36" not in text(client.get("/invoices/", {"status": "issued"}))
    assert "USD 150.36" not in text(client.get("/invoices/", {"period": "2026-04"}))
    bad = client.get("/invoices/", {"period": "March"})
    assert bad.status_code == 200 and "Give a month as YYYY-MM." in text(bad) and "USD 150.36" not in text(bad)

    # sorted by total, largest first
    by_total = text(client.get("/invoices/", {"sort": "-total"}))
    assert by_total.index("USD 200.06") < by_total.index("USD 150.36")
    by_total = text(client.get("/invoices/", {"sort": "total"}))
    assert by_total.index("USD 150.36") < by_total.index("USD 200.06")


def test_the_list_exports_csv_and_xlsx(march):
    invoices, _ = close_and_generate(march.user(Role.FINANCE))
    invoice_issue(invoice=invoices["T-IN"], actor=march.user(Role.FINANCE), render_pdf=False)
    client = browser(march.user(Role.FINANCE))
    rows = csv_rows(client.get("/invoices/", {"_export": "csv"}))
    by_department = {row["Department"]: row for row in rows}
    assert set(by_department) == {"T-IN", "T-OUT"}
    inside = by_department["T-IN"]
    assert inside["Number"].startswith("CB-") and inside["Status"] == "issued" and inside["Kind"] == "invoice"
    assert inside["Total"] == "150.36" and inside["Currency"] == "USD" and inside["Period"] == "2026-03"
    assert by_department["T-OUT"]["Number"] == "" and by_department["T-OUT"]["Total"] == "200.06"
    xlsx = client.get("/invoices/", {"_export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    # the manager's export holds their departments only
    manager_rows = csv_rows(browser(march.user(Role.DEPARTMENT_MANAGER)).get("/invoices/", {"_export": "csv"}))
    assert [row["Department"] for row in manager_rows] == ["T-IN"]


# One invoice ------------------------------------------------------------------------------------


def test_the_invoice_page_groups_its_lines_and_offers_finance_its_actions(march):
    invoices, _ = close_and_generate(march.user(Role.FINANCE))
    inside = invoices["T-IN"]
    page = browser(march.user(Role.FINANCE)).get(f"/invoices/{inside.pk}/")
    assert page.status_code == 200
    html = text(page)
    assert_csp_clean(page.content.decode())
    assert "DRAFT" in html and "T-IN" in html and "2026-03" in html
    assert 'data-figure="total">USD 150.36<' in html
    assert ">Usage</h3>" in html and "Usage subtotal" in html
    # 600M input at the blended 0.25 per 1M: 150.00; 100 000 output at 1.10: 0.11; 1M cached at 0.25
    assert 'title="600,000,000 tokens">600 M<' in html and ">150.00<" in html
    assert ">0.25<" in html and ">1.10<" in html and ">0.11<" in html
    assert "Input" in html and "Output" in html and "Cached input" in html and "Acme" in html
    # actions: issue (confirm step), a preview PDF; no approval without four-eyes, no credit on a draft
    assert f'href="/invoices/{inside.pk}/issue/"' in html
    assert f'href="/invoices/{inside.pk}/pdf/"' in html and "Download preview PDF" in html
    assert f"/invoices/{inside.pk}/approve/" not in html and "Create credit note" not in html
    assert "Change history" in html


def test_a_manager_sees_their_departments_invoices_only(march):
    invoices, _ = close_and_generate(march.user(Role.FINANCE))
    client = browser(march.user(Role.DEPARTMENT_MANAGER))
    html = text(client.get("/invoices/"))
    assert "USD 150.36" in html and "USD 200.06" not in html and "T-OUT" not in html
    assert 'action="/invoices/generate/"' not in html and 'href="/invoices/periods/"' not in html
    inside, outside = invoices["T-IN"], invoices["T-OUT"]
    page = client.get(f"/invoices/{inside.pk}/")
    assert page.status_code == 200
    assert f"/invoices/{inside.pk}/issue/" not in text(page) and "Download preview PDF" in text(page)
    pdf = client.get(f"/invoices/{inside.pk}/pdf/")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(f"/invoices/{outside.pk}/").status_code == 404
    assert client.get(f"/invoices/{outside.pk}/pdf/").status_code == 404
    assert client.get("/invoices/", {"department": "T-OUT"}).status_code == 200  # not a choice: no rows
    assert "USD 200.06" not in text(client.get("/invoices/", {"department": "T-OUT"}))
    assert client.post(f"/invoices/{inside.pk}/issue/").status_code == 403
    assert client.get("/invoices/periods/").status_code == 403


def test_an_auditor_reads_everything_and_changes_nothing(march):
    invoices, _ = close_and_generate(march.user(Role.FINANCE))
    issued = invoice_issue(invoice=invoices["T-IN"], actor=march.user(Role.FINANCE), render_pdf=False)
    client = browser(march.user(Role.AUDITOR))
    html = text(client.get("/invoices/"))
    assert "USD 150.36" in html and "USD 200.06" in html
    assert 'action="/invoices/generate/"' not in html and 'action="/invoices/issue/"' not in html
    for invoice in (issued, invoices["T-OUT"]):
        page = text(client.get(f"/invoices/{invoice.pk}/"))
        assert "Change history" in page
        assert f"/invoices/{invoice.pk}/issue/" not in page and f"/invoices/{invoice.pk}/approve/" not in page
        assert "Create credit note" not in page
    periods = text(client.get("/invoices/periods/"))
    assert "2026-03" in periods and "/close/" not in periods and 'action="/invoices/generate/"' not in periods
    refused = [
        client.post("/invoices/generate/", {"generate-period": "2026-03"}),
        client.post("/invoices/issue/", {"issue-period": "2026-03"}),
        client.post(f"/invoices/{invoices['T-OUT'].pk}/approve/"),
        client.post(f"/invoices/{invoices['T-OUT'].pk}/issue/"),
        client.get(f"/invoices/{invoices['T-OUT'].pk}/issue/"),
        client.post(f"/invoices/{issued.pk}/credit-note/", {"reason": "x", "mode": "full"}),
        client.post("/invoices/periods/2026-04/close/"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert Invoice.objects.filter(status=Invoice.Status.ISSUED).count() == 1


# Periods ----------------------------------------------------------------------------------------


def test_finance_closes_a_month_after_acknowledging_its_open_items(march):
    ingest_unallocated(march.finance_client)
    client = browser(march.user(Role.FINANCE))
    page = client.get("/invoices/periods/")
    assert page.status_code == 200
    html = text(page)
    assert_csp_clean(page.content.decode())
    # one month: 3 records (2 attributed, 1 unallocated), open, ended, with a close form
    assert "2026-03" in html and ">Open<" in html and "Cost (USD)" in html
    cells = re.findall(r'<td class="text-nowrap tl-num">([^<]*)</td>', page.content.decode())
    # records, cost (350.00 input + 0.11 + 0.055 output + 0.25 cached + the unallocated 10 tokens),
    # unrated, invoices generated, issued; the unallocated count sits in a highlight of its own
    assert cells == ["3", "350.42", "0", "0", "0"]
    assert '<span class="text-warning fw-bold">1</span>' in html
    assert 'action="/invoices/periods/2026-03/close/"' in html
    assert 'name="acknowledge_unallocated"' in html and 'name="acknowledge_unrated"' not in html
    assert 'href="/invoices/?period=2026-03"' in html
    assert 'href="/usage/?start=2026-03-01&end=2026-04-01"' in html

    refused = client.post("/invoices/periods/2026-03/close/", {})
    assert refused.status_code == 302 and refused["Location"] == "/invoices/periods/"
    assert any("cannot be closed" in m and "1 records are attributed to no department" in m for m in flashed(refused))
    assert not Period.objects.filter(month=MARCH, status=Period.Status.CLOSED).exists()

    closed = client.post(
        "/invoices/periods/2026-03/close/", {"acknowledge_unallocated": "1", "note": "known gap"}, follow=True
    )
    assert "2026-03 closed." in text(closed)
    period = Period.objects.get(month=MARCH)
    assert period.is_closed and period.acknowledged["unallocated"] == 1 and period.acknowledged["note"] == "known gap"
    html = text(closed)
    assert ">Closed<" in html and "1 unallocated — known gap" in html and "t-finance" in html
    assert 'action="/invoices/periods/2026-03/close/"' not in html
    assert "Generate invoices" in html  # the closed month's next step

    again = client.post("/invoices/periods/2026-03/close/", {"acknowledge_unallocated": "1"})
    assert any("closed already" in m for m in flashed(again))
    future = client.post("/invoices/periods/2099-01/close/")
    assert any("has not ended" in m for m in flashed(future))
    assert any("is not a month" in m for m in flashed(client.post("/invoices/periods/March/close/")))
    periods_csv = csv_rows(client.get("/invoices/periods/", {"_export": "csv"}))
    assert periods_csv[0]["Month"] == "2026-03" and periods_csv[0]["Status"] == "closed"
    assert periods_csv[0]["Unallocated records"] == "1"


# Generate, issue, download, credit ------------------------------------------------------------------


def test_finance_generates_issues_downloads_and_credits_through_the_pages(march):
    client = browser(march.user(Role.FINANCE))
    refused = client.post("/invoices/generate/", {"generate-period": "2026-03"})
    assert any("is open: close it" in m for m in flashed(refused))
    client.post("/invoices/periods/2026-03/close/", {})

    started = client.post("/invoices/generate/", {"generate-period": "2026-03"})
    assert started.status_code == 302
    run = JobRun.objects.get(kind="invoice_generate")
    assert started["Location"] == f"/invoices/?period=2026-03&run={run.pk}"
    assert run.status == "succeeded", run.message
    page = client.get(started["Location"])
    html = text(page)
    assert 'id="invoice-run-live"' in html and "hx-disable" in html and "Succeeded" in html
    assert 'href="/invoices/?period=2026-03">Show the invoices of 2026-03' in html
    assert "USD 150.36" in html and "USD 200.06" in html
    poll = client.get(started["Location"], HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true" and "<html" not in poll.content.decode()
    inside = Invoice.objects.get(department__code="T-IN", period=MARCH)

    # issue: a confirmation first, then the number
    confirm = client.get(f"/invoices/{inside.pk}/issue/")
    assert confirm.status_code == 200 and "Issue this invoice?" in text(confirm) and "USD 150.36" in text(confirm)
    issued = client.post(f"/invoices/{inside.pk}/issue/", follow=True)
    inside.refresh_from_db()
    assert inside.is_issued and inside.number.endswith("-000001")
    html = text(issued)
    assert f"Issued as {inside.number}" in html and "Download PDF" in html and "Create credit note" in html
    assert f"/invoices/{inside.pk}/issue/" not in html
    again = client.post(f"/invoices/{inside.pk}/issue/")
    assert any("issued already" in m for m in flashed(again))

    pdf = client.get(f"/invoices/{inside.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and f'filename="{inside.number}.pdf"' in pdf["Content-Disposition"]

    # a credit note: the form offers every line's amount; too much is refused with the reason
    input_line = inside.lines.get(token_class="input")
    form = client.get(f"/invoices/{inside.pk}/credit-note/")
    assert form.status_code == 200
    assert f'name="line_{input_line.pk}"' in text(form) and 'value="150.00"' in text(form)
    too_much = client.post(
        f"/invoices/{inside.pk}/credit-note/",
        {"reason": "overcharged", "mode": "lines", f"line_{input_line.pk}": "150.01"},
    )
    assert too_much.status_code == 400 and not Invoice.objects.filter(kind="credit_note").exists()
    assert "At most 150.00 USD is left to credit on this line" in text(too_much)  # beside the line's amount
    no_reason = client.post(f"/invoices/{inside.pk}/credit-note/", {"reason": "", "mode": "full"})
    assert no_reason.status_code == 400
    partial = client.post(
        f"/invoices/{inside.pk}/credit-note/",
        {"reason": "discount agreed", "mode": "lines", f"line_{input_line.pk}": "50.00"},
        follow=True,
    )
    note = Invoice.objects.get(kind="credit_note")
    assert note.total == Decimal("-50.00") and note.original == inside and note.reason == "discount agreed"
    html = text(partial)
    assert partial.redirect_chain[-1][0] == f"/invoices/{note.pk}/"
    assert "USD -50.00" in html and inside.number in html and "Credits</h3>" in html
    assert f'href="/invoices/{inside.pk}/"' in html and "Download preview PDF" in html
    original_page = text(client.get(f"/invoices/{inside.pk}/"))
    assert f'href="/invoices/{note.pk}/"' in original_page and "Draft credit note" in original_page
    # the rest, in full, then nothing is left
    rest = client.post(f"/invoices/{inside.pk}/credit-note/", {"reason": "cancelled", "mode": "full"})
    assert rest.status_code == 302
    assert Invoice.objects.filter(kind="credit_note").order_by("-id").first().total == Decimal("-100.36")
    nothing = client.post(f"/invoices/{inside.pk}/credit-note/", {"reason": "again", "mode": "full"})
    assert nothing.status_code == 400 and "Nothing is left to credit" in text(nothing)
    assert any("Nothing is left" in m for m in flashed(client.get(f"/invoices/{inside.pk}/credit-note/")))
    assert "Create credit note" not in text(client.get(f"/invoices/{inside.pk}/"))
    client.post(f"/invoices/{note.pk}/issue/")
    note.refresh_from_db()
    assert note.number.startswith("CN-")

    # issue the rest of the month in one run
    issue_all = client.post("/invoices/issue/", {"issue-period": "2026-03"})
    issue_run = JobRun.objects.get(kind="invoice_issue")
    assert issue_all["Location"] == f"/invoices/?period=2026-03&run={issue_run.pk}"
    assert issue_run.status == "succeeded", issue_run.message
    assert Invoice.objects.get(department__code="T-OUT", kind="invoice").is_issued
    assert "Issuing the invoices of 2026-03" in text(client.get(issue_all["Location"]))
    none_left = client.post("/invoices/issue/", {"issue-period": "2026-03"})
    assert any("no invoices ready to issue" in m for m in flashed(none_left))


def test_four_eyes_needs_a_second_person_to_approve_on_the_page(march):
    finance = march.user(Role.FINANCE)
    other, _ = user_create_or_update(
        username="t-finance-2",
        role=Role.FINANCE,
        email="f2@example.com",
        departments=[],
        password="x" * 20,
        validate_new_password=False,
    )
    organization_settings_update(actor=march.user(Role.ADMIN), four_eyes_enabled=True)
    invoices, _ = close_and_generate(finance)
    inside = invoices["T-IN"]
    mine = browser(finance)
    html = text(mine.get(f"/invoices/{inside.pk}/"))
    assert "Four-eyes is on" in html and "someone else must approve it" in html
    assert f'action="/invoices/{inside.pk}/approve/"' not in html and f"/invoices/{inside.pk}/issue/" not in html
    refused = mine.post(f"/invoices/{inside.pk}/approve/")
    assert any("someone other than who generated" in m for m in flashed(refused))
    assert any("must be approved" in m for m in flashed(mine.post(f"/invoices/{inside.pk}/issue/")))

    theirs = browser(other)
    assert f'action="/invoices/{inside.pk}/approve/"' in text(theirs.get(f"/invoices/{inside.pk}/"))
    approved = theirs.post(f"/invoices/{inside.pk}/approve/", follow=True)
    inside.refresh_from_db()
    assert inside.status == Invoice.Status.APPROVED and inside.approved_by == other
    assert "approved" in text(approved) and f"/invoices/{inside.pk}/issue/" in text(approved)
    # only the approved invoice is offered for the month's issue
    assert '<option value="2026-03">' in text(mine.get("/invoices/"))


# Query counts -----------------------------------------------------------------------------------

_n = itertools.count()


def add_invoices(world, count: int) -> None:
    """Invoices of T-IN's sub-departments (the manager sees them), each with a credit note."""
    for _ in range(count):
        i = next(_n)
        department = Department.objects.create(code=f"QI-{i}", name=f"Query {i}", parent=world.inside)
        invoice = Invoice.objects.create(department=department, period=MARCH, currency="USD", total=Decimal("10"))
        InvoiceLine.objects.create(invoice=invoice, service_period=MARCH, amount=Decimal("10"))
        Invoice.objects.create(
            kind=Invoice.Kind.CREDIT_NOTE,
            department=department,
            period=MARCH,
            currency="USD",
            total=Decimal("-1"),
            original=invoice,
        )


def queries(fetch) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = fetch()
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", [Role.FINANCE, Role.DEPARTMENT_MANAGER])
def test_the_list_does_not_query_per_row(role, role_world):
    Period.objects.create(month=MARCH, status=Period.Status.CLOSED)
    client = browser(role_world.user(role))
    add_invoices(role_world, 2)
    client.get("/invoices/")
    few = queries(lambda: client.get("/invoices/"))
    add_invoices(role_world, 8)
    assert queries(lambda: client.get("/invoices/")) == few
    assert text(client.get("/invoices/")).count("USD 10.00") == 10


def test_periods_are_listed_without_usage_as_months_with_a_row(role_world):
    """A period row without usage (closed through the API, say) is listed too."""
    period_close(month=date(2026, 1, 1), actor=role_world.user(Role.FINANCE))
    html = text(browser(role_world.user(Role.PROCUREMENT)).get("/invoices/periods/"))
    assert "2026-01" in html and ">Closed<" in html and "/close/" not in html
