"""Finance's journeys through the real UI.

1. Finance signs in with a second factor (TOTP, required for the role), reads the dashboard — its
   three charts drawn with the ingested spend — follows a vendor's spend into the usage explorer,
   sees only that vendor's figures there and downloads them as CSV.
2. Budget alerts raised by the evaluation land in finance's inbox: the sidebar counts them, finance
   acknowledges one from the list (htmx) and resolves it from its page with a note.

Usage is planted as a gateway would send it: POST /api/v1/usage/records with a service account's
ingest token, priced at the vendors' list prices by the pipeline, rolled up for the dashboard and
the explorer. The budget alerts come from the evaluation (insights.services.alerts) and reach the
inbox through the default alert rules.
"""

from __future__ import annotations

import csv
import importlib
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.utils import timezone
from playwright.sync_api import expect

from core.roles import Role
from core.services import organization_settings_update
from core.testing import token_client
from insights.models import Alert, AlertRule, InboxItem
from insights.services.alerts import alerts_evaluate
from insights.tests.alerts_world import spend
from procurement.services import vendor_save
from procurement.tests.factories import BudgetFactory, VendorFactory
from usage.tests.factories import world

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

D = Decimal
MILLION = 1_000_000


# Usage, as a gateway sends it ----------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One usage record: its vendor, model, department, day and tokens, and what it costs at the
    list prices planted below (USD per million tokens)."""

    vendor: str
    model: str
    department: str
    day: date
    input_tokens: int
    output_tokens: int
    cost: Decimal


PRICES = {  # (vendor, model) → (input, output) in USD per million tokens
    ("openai", "gpt-4o"): (D("2.5"), D("10")),
    ("anthropic", "claude-sonnet-4"): (D("3"), D("15")),
}


def line(vendor: str, model: str, department: str, day: date, input_tokens: int, output_tokens: int) -> Line:
    price_in, price_out = PRICES[(vendor, model)]
    cost = (input_tokens * price_in + output_tokens * price_out) / MILLION
    return Line(vendor, model, department, day, input_tokens, output_tokens, cost)


def ingest_usage(role_world, lines: list[Line]) -> None:
    """Two vendors with list prices, a gateway source, and the records POSTed with the service
    account's ingest token, each attributed to its department by the gateway."""
    vendor_save(actor=None, slug="openai", name="OpenAI", kind="producer", country="US", billing_currency="USD")
    vendor_save(actor=None, slug="anthropic", name="Anthropic", kind="producer", country="US", billing_currency="USD")
    for (vendor, model), (price_in, price_out) in PRICES.items():
        world(vendor=vendor, model=model, price_in=str(price_in), price_out=str(price_out), cached=None)
    gateway = token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"])
    records = [
        {
            "source": "gw",
            "external_id": f"req-{i}",
            "vendor": item.vendor,
            "model": item.model,
            "bucket_start": f"{item.day.isoformat()}T00:00:00Z",
            "bucket_end": f"{item.day.isoformat()}T00:59:59Z",
            "input_tokens": item.input_tokens,
            "output_tokens": item.output_tokens,
            "requests": 10,
            "department": item.department,
        }
        for i, item in enumerate(lines)
    ]
    response = gateway.post("/api/v1/usage/records", records, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (len(records), 0), body


def chart_sums(page, canvas_id: str) -> list[float] | None:
    """What Chart.js holds for the canvas: the sum of each dataset's data (None: no chart)."""
    return page.evaluate(
        """(id) => {
            const chart = window.Chart && Chart.getChart(document.getElementById(id));
            if (!chart) return null;
            return chart.data.datasets.map((set) => set.data.reduce((a, b) => a + Number(b), 0));
        }""",
        canvas_id,
    )


def chart_labels(page, canvas_id: str) -> dict:
    """The chart's category labels and its datasets' labels."""
    return page.evaluate(
        """(id) => {
            const chart = Chart.getChart(document.getElementById(id));
            return {labels: chart.data.labels, datasets: chart.data.datasets.map((set) => set.label)};
        }""",
        canvas_id,
    )


def chart_points(page, canvas_id: str) -> dict[str, float]:
    """A one-dataset chart's value per label (a bar or a slice each)."""
    return page.evaluate(
        """(id) => {
            const chart = Chart.getChart(document.getElementById(id));
            return Object.fromEntries(chart.data.labels.map((label, i) => [label, chart.data.datasets[0].data[i]]));
        }""",
        canvas_id,
    )


def test_finance_signs_in_with_totp_reads_the_dashboard_and_exports_a_vendors_usage(page, role_world):
    today = timezone.now().date()
    first = today.replace(day=1)
    last_month = (first - timedelta(days=1)).replace(day=1)
    organization_settings_update(
        actor=None, reporting_currency="USD", fiscal_year_start_month=1, mfa_required_roles=[Role.FINANCE]
    )
    lines = [
        line("openai", "gpt-4o", "T-IN", first, 2 * MILLION, MILLION // 2),  # USD 10.00
        line("openai", "gpt-4o", "T-OUT", today, 4 * MILLION, MILLION),  # USD 20.00
        line("anthropic", "claude-sonnet-4", "T-IN", today, MILLION, MILLION // 5),  # USD 6.00
        line("openai", "gpt-4o", "T-IN", last_month, MILLION, 0),  # USD 2.50, the same days of last month
    ]
    ingest_usage(role_world, lines)
    this_month = [item for item in lines if item.day >= first]
    openai = [item for item in this_month if item.vendor == "openai"]
    openai_total = sum((item.cost for item in openai), D(0))
    anthropic_total = sum((item.cost for item in this_month if item.vendor == "anthropic"), D(0))
    assert (openai_total, anthropic_total) == (D("30"), D("6"))

    finance = role_world.user(Role.FINANCE)
    secret = generate_totp_secret()
    TOTP.activate(finance, secret)

    # Password first, then the authenticator app's code; a wrong code is refused.
    sign_in(page, finance)
    assert urlsplit(page.url).path == "/accounts/2fa/authenticate/"
    authenticator_app = pyotp.TOTP(secret)
    page.get_by_label("Code").fill("000000" if authenticator_app.now() != "000000" else "111111")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/accounts/2fa/authenticate/"
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    page.get_by_label("Code").fill(authenticator_app.now())
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/"
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert Authenticator.objects.filter(user=finance, type="totp").count() == 1

    # The key figures and the three charts hold the ingested spend.
    expect(page.locator("#kpi-spend-mtd")).to_contain_text("36.00")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('dashboard-vendors-chart'))")
    # the daily chart: a dataset per vendor over the last 60 days (last month's usage too)
    in_chart = [item for item in lines if item.day > today - timedelta(days=60)]
    daily = chart_sums(page, "dashboard-daily-chart")
    assert daily == pytest.approx(
        [float(sum((i.cost for i in in_chart if i.vendor == vendor), D(0))) for vendor in ("openai", "anthropic")]
    ), daily
    assert chart_labels(page, "dashboard-daily-chart")["datasets"] == ["OpenAI", "Anthropic"]
    assert chart_labels(page, "dashboard-daily-chart")["labels"][-1] == today.isoformat()
    departments = chart_points(page, "dashboard-departments-chart")
    assert departments == pytest.approx({"T-OUT": 20, "T-IN": 16}), departments
    vendors = chart_points(page, "dashboard-vendors-chart")
    assert vendors == pytest.approx({"OpenAI": 30, "Anthropic": 6}), vendors

    # The vendor breakdown: OpenAI's spend this month links to its usage.
    vendor_row = page.locator("#table-vendors tbody tr", has_text="OpenAI")
    expect(vendor_row.locator("td").nth(1)).to_have_text(re.compile(r"30\.00"))
    expect(vendor_row.locator("td").nth(2)).to_have_text(re.compile(r"2\.50"))
    vendor_row.locator("td").nth(1).get_by_role("link").click()
    page.wait_for_load_state("networkidle")

    # The explorer: filtered on OpenAI, this month to date, by day and model.
    assert urlsplit(page.url).path == "/usage/"
    query = parse_qs(urlsplit(page.url).query)
    assert query["vendor"] == ["openai"] and query["start"] == [first.isoformat()]
    assert query["end"] == [(today + timedelta(days=1)).isoformat()]
    expect(page.get_by_label("Vendor").locator("option:checked")).to_have_text("OpenAI")
    by_day: dict[date, Decimal] = {}
    for item in openai:
        by_day[item.day] = by_day.get(item.day, D(0)) + item.cost
    table = page.locator("table.card-table")
    body_rows = table.locator("tbody tr")
    expect(body_rows).to_have_count(len(by_day))
    for day, cost in sorted(by_day.items()):
        row = body_rows.filter(has_text=day.isoformat())
        expect(row).to_contain_text("gpt-4o")
        expect(row.locator("td").last).to_have_text(f"{cost:,.2f}")
    if len(by_day) > 1:
        expect(table.locator("tfoot")).to_contain_text(f"{openai_total:,.2f}")
    expect(table).not_to_contain_text("claude")
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('usage-chart'))")
    assert sum(chart_sums(page, "usage-chart")) == pytest.approx(float(openai_total))

    # Export the same rows as CSV.
    page.get_by_role("button", name="Export").click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename == f"usage_{first:%Y-%m-%d}_{today + timedelta(days=1):%Y-%m-%d}.csv"
    exported = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert [row["day"] for row in exported] == [day.isoformat() for day in sorted(by_day)]
    assert {row["model"] for row in exported} == {"gpt-4o"} and {row["currency"] for row in exported} == {"USD"}
    assert {date.fromisoformat(row["day"]): D(row["cost"]) for row in exported} == by_day
    assert sum(int(row["input_tokens"]) for row in exported) == sum(item.input_tokens for item in openai)
    assert sum(int(row["output_tokens"]) for row in exported) == sum(item.output_tokens for item in openai)
    assert sum(int(row["requests"]) for row in exported) == 10 * len(openai)
    assert {row["unpriced_records"] for row in exported} == {"0"}


# Alerts -------------------------------------------------------------------------------------------------


def default_alert_rules() -> None:
    """The rules the migration creates (a transactional test's flush may have removed them)."""
    migration = importlib.import_module("insights.migrations.0002_default_alert_rules")
    for name, types, roles in migration.DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            name=name, defaults={"types": types, "roles": roles, "channels": ["email", "inbox"]}
        )


def sidebar_badge(page):
    return page.locator("aside a.nav-link", has_text="Alerts").locator(".badge")


def test_finance_acknowledges_and_resolves_an_alert_from_the_inbox(page, role_world):
    today = timezone.now().date()
    organization_settings_update(actor=None, reporting_currency="USD", fiscal_year_start_month=1)
    default_alert_rules()
    # T-IN's budget of USD 1 000 for this fiscal year, 850 spent (by its sub-department): 50 % and
    # 80 % crossed.
    budget = BudgetFactory(department=role_world.inside, fiscal_year=today.year, amount=D("1000.00"))
    spend(role_world.inside_child, VendorFactory(slug="acme", name="Acme AI"), today, "850")
    summary = alerts_evaluate(types=[Alert.Type.BUDGET_THRESHOLD])
    assert summary["errors"] == [] and summary["raised"] == 2, summary
    eighty = Alert.objects.get(dedup_key=f"budget_threshold:budget:{budget.pk}:80%:FY{today.year}")
    fifty = Alert.objects.get(dedup_key=f"budget_threshold:budget:{budget.pk}:50%:FY{today.year}")
    finance = role_world.user(Role.FINANCE)
    assert InboxItem.objects.filter(user=finance, read_at__isnull=True).count() == 2

    sign_in(page, finance)
    expect(sidebar_badge(page)).to_have_text(re.compile(r"^\s*2\b"))
    page.locator("aside a.nav-link", has_text="Alerts").click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == "/alerts/"
    expect(page.get_by_role("heading", name="2 unread in your inbox")).to_be_visible()

    # The inbox, unread only: both alerts, marked New.
    page.get_by_role("link", name="Unread only").click()
    page.wait_for_load_state("networkidle")
    assert parse_qs(urlsplit(page.url).query) == {"inbox": ["unread"]}
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    row = rows.filter(has_text=eighty.title)
    expect(row).to_contain_text("New")
    expect(row).to_contain_text("Open")

    # Acknowledge from the list: htmx swaps the status cell in place.
    row.get_by_role("button", name=f"Acknowledge alert {eighty.pk}").click()
    actions = page.locator(f"#alert-actions-{eighty.pk}")
    expect(actions.locator(".badge")).to_have_text("Acknowledged")
    expect(actions.get_by_role("button", name=f"Acknowledge alert {eighty.pk}")).to_have_count(0)
    expect(actions.get_by_role("button", name=f"Resolve alert {eighty.pk}")).to_be_visible()
    eighty.refresh_from_db()
    assert (eighty.status, eighty.acknowledged_by, eighty.resolved_by) == ("acknowledged", finance, None)
    assert InboxItem.objects.get(user=finance, alert=eighty).read_at is not None

    # Acting read the alert: without a reload, the sidebar badge, the inbox heading and the row's
    # New mark follow (htmx out-of-band swaps), and the list keeps its unread-only filter.
    expect(sidebar_badge(page)).to_have_text(re.compile(r"^\s*1\b"))
    expect(page.get_by_role("heading", name="1 unread in your inbox")).to_be_visible()
    expect(row.locator(f"#alert-title-{eighty.pk}")).not_to_contain_text("New")
    expect(rows.filter(has_text=fifty.title)).to_contain_text("New")
    expect(page.get_by_role("link", name="All alerts")).to_have_attribute("href", "/alerts/")
    page.reload()  # and the page agrees
    expect(sidebar_badge(page)).to_have_text(re.compile(r"^\s*1\b"))
    expect(page.get_by_role("heading", name="1 unread in your inbox")).to_be_visible()
    page.get_by_role("link", name="All alerts").click()
    page.get_by_role("link", name=eighty.title).click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == f"/alerts/{eighty.pk}/"
    status = page.locator('[data-figure="status"]')
    expect(status).to_have_text("Acknowledged")
    expect(page.get_by_text(re.compile(r"UTC by t-finance"))).to_be_visible()

    # Resolve it from its page, with a note.
    note = "Raised the T-IN budget with the department head; spend is on plan."
    page.get_by_label("Note (optional)").fill(note)
    page.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state("networkidle")
    assert urlsplit(page.url).path == f"/alerts/{eighty.pk}/"
    expect(page.get_by_text("Alert resolved.")).to_be_visible()
    expect(status).to_have_text("Resolved")
    notes = page.get_by_role("heading", name="Notes").locator("xpath=following-sibling::p[1]")
    expect(notes).to_contain_text(f"t-finance (resolved): {note}")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    expect(sidebar_badge(page)).to_have_text(re.compile(r"^\s*1\b"))

    eighty.refresh_from_db()
    assert eighty.status == "resolved"
    assert eighty.acknowledged_by == finance and eighty.resolved_by == finance
    assert eighty.resolved_at is not None and f"t-finance (resolved): {note}" in eighty.note
    fifty.refresh_from_db()
    assert fifty.status == "open" and InboxItem.objects.get(user=finance, alert=fifty).read_at is None

    # Back on the list the resolved alert says so, the other is still open and unread.
    page.goto("/alerts/")
    expect(page.locator(f"#alert-actions-{eighty.pk} .badge")).to_have_text("Resolved")
    expect(page.locator(f"#alert-actions-{fifty.pk} .badge")).to_have_text("Open")
    expect(page.get_by_role("heading", name="1 unread in your inbox")).to_be_visible()
