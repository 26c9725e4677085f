"""Journeys of procurement and finance through the real UI, by label and role as a person (or a
screen reader) finds the controls:

* procurement records a framework agreement — terms, a graduated price rule whose tiers are added
  row by row, a take-or-pay commitment and an SLA clause with credit bands — is told beside the
  right rows what is wrong with a bad tier table (nothing is saved), corrects it and saves;
* finance uploads a FOCUS 1.0 file built from the real sample, sees the run's progress bar done,
  corrects a rejected row on the run's page and replays it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from contracts.models import Agreement, Commitment, PriceRule, SlaClause
from core.roles import Role
from core.testing import SHARED_DATA
from procurement.models import Department
from procurement.services import vendor_save
from usage.models import IngestionRun, RejectedRow, Source, VendorCostLine

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

FOCUS_SAMPLE = SHARED_DATA / "focus-sample-1.0" / "focus_sample.csv"


# 1. Procurement creates a framework agreement ----------------------------------------------------------------


def _tier_rows(page):
    """The tier rows of the (only) price rule, in order."""
    rule = page.get_by_role("group", name="Price rule 1")
    return rule.get_by_role("table", name="Tiers").locator("tbody tr:not([hidden])")


def _fill_tiers(page, tiers: list[tuple[str, str]]) -> None:
    rows = _tier_rows(page)
    for index, (from_tokens, price) in enumerate(tiers):
        row = rows.nth(index)
        row.get_by_label("From tokens", exact=True).fill(from_tokens)
        row.get_by_label("Price per 1M tokens", exact=True).fill(price)


def test_procurement_creates_a_framework_agreement_after_fixing_a_bad_tier_table(page, role_world):
    vendor_save(
        actor=None, slug="deepseek", name="DeepSeek", kind="producer", country="CN", billing_currency="CNY", aliases=[]
    )
    Department.objects.get_or_create(code="FIN", defaults={"name": "Finance"})
    sign_in(page, role_world.user(Role.PROCUREMENT))

    page.goto("/agreements/")
    page.get_by_role("link", name="New", exact=True).click()
    expect(page.get_by_role("heading", name="New agreement")).to_be_visible()

    # The terms
    page.get_by_label("Reference", exact=True).fill("FA-2026-07")
    page.get_by_label("Vendor", exact=True).select_option(label="DeepSeek")
    page.get_by_label("Status", exact=True).select_option(label="Draft")
    page.get_by_label("Start", exact=True).fill("2026-01-01")
    page.get_by_label("End", exact=True).fill("2026-12-31")
    page.get_by_label("Currency", exact=True).select_option("CNY")
    page.get_by_label("PO number", exact=True).fill("PO-9001")

    # A graduated price rule: the new form has one rule with one tier row; two more tiers are added
    rule = page.get_by_role("group", name="Price rule 1")
    rule.get_by_label("Model or pattern", exact=True).fill("deepseek-*")
    rule.get_by_label("Token class", exact=True).select_option(label="Input (uncached)")
    rule.get_by_label("Schedule", exact=True).select_option("graduated")
    # the price column names the agreement's currency once it is chosen (agreement_form.js)
    expect(rule.get_by_role("columnheader", name="Price per 1M tokens (CNY)")).to_be_visible()
    rule.get_by_role("button", name="Add tier").click()
    rule.get_by_role("button", name="Add tier").click()
    expect(_tier_rows(page)).to_have_count(3)
    # the adding button puts the focus in the new row, for the keyboard
    expect(_tier_rows(page).nth(2).get_by_label("From tokens", exact=True)).to_be_focused()
    # bad: the third tier's start is not a number of tokens
    _fill_tiers(page, [("0", "0.27"), ("100 B", "0.20"), ("lots", "0.15")])

    # A take-or-pay token commitment
    page.get_by_role("button", name="Add commitment").click()
    commitment = page.get_by_role("group", name="Commitment 1")
    commitment.get_by_label("Unit", exact=True).select_option("tokens")
    commitment.get_by_label("Amount", exact=True).fill("500 B")
    commitment.get_by_label("Period", exact=True).select_option("annual")
    commitment.get_by_label("Treatment", exact=True).select_option(label="Take or pay")
    commitment.get_by_label("Input (uncached)", exact=True).check()
    commitment.get_by_label("Output", exact=True).check()
    commitment.get_by_label("Shortfall price per 1M", exact=True).fill("0.25")
    commitment.get_by_label("Shortfall charged to", exact=True).select_option("central")
    commitment.get_by_label("Central department", exact=True).select_option("FIN")

    # An SLA clause with two credit bands
    page.get_by_role("button", name="Add SLA clause").click()
    clause = page.get_by_role("group", name="SLA clause 1")
    clause.get_by_label("Metric", exact=True).select_option(label="Latency P90 (ms)")
    clause.get_by_label("Models", exact=True).fill("deepseek-chat, deepseek-reasoner")
    clause.get_by_label("Target", exact=True).fill("1500")
    clause.get_by_label("Cap %", exact=True).fill("30")
    clause.get_by_label("Claim within (days)", exact=True).fill("45")
    clause.get_by_role("button", name="Add band").click()
    bands = clause.get_by_role("table", name="Credit bands").locator("tbody tr")
    expect(bands).to_have_count(2)
    for index, (breach_over, credit) in enumerate([("0", "5"), ("500", "15")]):
        bands.nth(index).get_by_label("Breach over", exact=True).fill(breach_over)
        bands.nth(index).get_by_label("Credit %", exact=True).fill(credit)

    # First attempt: the field error sits in the third tier's row, nothing is saved
    page.get_by_role("button", name="Create agreement").click()
    expect(page.get_by_role("alert").filter(has_text="Nothing was saved")).to_be_visible()
    rows = _tier_rows(page)
    expect(rows).to_have_count(3)
    expect(rows.nth(2).get_by_role("alert")).to_have_text("Enter a number of tokens, e.g. 100000000000 or 100 B.")
    expect(rows.nth(0).get_by_role("alert")).to_have_count(0)
    expect(rows.nth(1).get_by_role("alert")).to_have_count(0)
    assert not Agreement.objects.exists()

    # Second attempt: the tiers neither ascend nor are all prices positive; each of the service's
    # messages stands under the input at fault, marked invalid, and still nothing is saved
    _fill_tiers(page, [("0", "0.27"), ("100 B", "-0.20"), ("50 B", "0.15")])
    page.get_by_role("button", name="Create agreement").click()
    expect(page.get_by_role("alert").filter(has_text="Nothing was saved")).to_be_visible()
    rows = _tier_rows(page)
    third_start = rows.nth(2).get_by_label("From tokens", exact=True)
    expect(third_start).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(third_start).to_have_attribute("aria-invalid", "true")
    expect(rows.nth(2).get_by_role("alert")).to_have_text(
        "Tiers must ascend: 50000000000 does not come after 100000000000."
    )
    second_price = rows.nth(1).get_by_label("Price per 1M tokens", exact=True)
    expect(second_price).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(rows.nth(1).get_by_role("alert")).to_have_text("Prices cannot be negative (-0.20).")
    expect(rows.nth(0).locator(".is-invalid")).to_have_count(0)
    expect(rows.nth(1).get_by_label("From tokens", exact=True)).not_to_have_class(re.compile("is-invalid"))
    tier_errors = page.get_by_role("group", name="Price rule 1").locator('[data-field-errors="tiers"]')
    expect(tier_errors.get_by_role("alert")).to_have_count(0)  # nothing left for the table as a whole
    # the other tables were fine and kept what was typed
    expect(page.get_by_role("group", name="SLA clause 1").get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("group", name="Commitment 1").get_by_label("Amount", exact=True)).to_have_value("500 B")
    assert not Agreement.objects.exists()

    # Corrected: ascending from 0, positive prices
    _fill_tiers(page, [("0", "0.27"), ("50 B", "0.20"), ("100 B", "0.15")])
    page.get_by_role("button", name="Create agreement").click()
    expect(page.get_by_text("Agreement FA-2026-07 created.")).to_be_visible()
    assert urlsplit(page.url).path == "/agreements/FA-2026-07/"

    agreement = Agreement.objects.get(reference="FA-2026-07")
    assert (agreement.vendor.slug, agreement.currency, agreement.status) == ("deepseek", "CNY", "draft")
    assert (agreement.start, agreement.end, agreement.po_number) == (date(2026, 1, 1), date(2026, 12, 31), "PO-9001")
    (price_rule,) = agreement.price_rules.all()
    assert (price_rule.model_pattern, price_rule.token_class, price_rule.schedule) == (
        "deepseek-*",
        "input",
        PriceRule.Schedule.GRADUATED,
    )
    assert [(t.from_tokens, t.price) for t in price_rule.tiers.order_by("from_tokens")] == [
        (0, Decimal("0.27")),
        (50_000_000_000, Decimal("0.20")),
        (100_000_000_000, Decimal("0.15")),
    ]
    (commitment_row,) = agreement.commitments.all()
    assert commitment_row.unit == Commitment.TOKENS and commitment_row.amount == Decimal("500000000000")
    assert commitment_row.treatment == Commitment.Treatment.TAKE_OR_PAY
    assert commitment_row.period == Commitment.Period.ANNUAL
    assert sorted(commitment_row.token_classes) == ["input", "output"]
    assert commitment_row.shortfall_price == Decimal("0.25")
    assert commitment_row.central_department.code == "FIN"
    (sla,) = agreement.sla_clauses.all()
    assert (sla.metric, sla.models) == (SlaClause.Metric.LATENCY_P90, ["deepseek-chat", "deepseek-reasoner"])
    assert (sla.target, sla.cap_percent, sla.claim_days) == (Decimal("1500"), Decimal("30"), 45)
    assert [(b.breach_over, b.credit_percent) for b in sla.bands.order_by("breach_over")] == [
        (Decimal("0"), Decimal("5")),
        (Decimal("500"), Decimal("15")),
    ]

    # The agreement's page shows what was saved
    expect(page.get_by_role("heading", name="FA-2026-07")).to_be_visible()
    prices = page.locator(".card", has=page.get_by_role("heading", name="Price rules (per 1M tokens, CNY)"))
    expect(prices.get_by_role("heading", name="deepseek-* · Input (uncached)")).to_be_visible()
    expect(prices.get_by_text(re.compile(r"^Graduated"))).to_be_visible()
    expect(prices.locator("tbody tr")).to_have_count(3)
    for index, price in enumerate(["CNY 0.27", "CNY 0.20", "CNY 0.15"]):
        expect(prices.locator("tbody tr").nth(index).locator("td").nth(1)).to_have_text(price)
    commitments = page.locator(".card", has=page.get_by_role("heading", name="Commitments", exact=True))
    expect(commitments.locator("tbody tr")).to_have_count(1)
    expect(commitments.locator("tbody tr").first).to_contain_text("Take or pay 500 B tokens / annual")
    expect(commitments.locator("tbody tr").first).to_contain_text("input, output")
    expect(commitments.locator("tbody tr").first).to_contain_text("CNY 0.25")
    expect(commitments.locator("tbody tr").first).to_contain_text("FIN")
    slas = page.locator(".card", has=page.get_by_role("heading", name="SLA clauses", exact=True))
    expect(slas.get_by_role("heading", name="Latency P90 (ms): target 1500")).to_be_visible()
    expect(slas.get_by_text("credit capped at 30 %")).to_be_visible()
    expect(slas.locator("tbody tr")).to_have_count(2)
    expect(slas.locator("tbody tr").nth(1)).to_have_text(re.compile(r"500\s*15 %"))


# 2. Finance uploads a FOCUS file, then corrects and replays a rejected row ---------------------------------------


def _focus_file() -> tuple[bytes, dict[str, dict]]:
    """The header and the first 10 AWS rows and first Microsoft row of the real FOCUS 1.0 sample,
    with two rows made bad: Id 19384's BilledCost carries its currency, and Id 22882 names a
    provider no vendor is known as. Returns the file and the original rows by Id."""
    with FOCUS_SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    column = {name: index for index, name in enumerate(header)}
    aws = [r for r in rows if r[column["ProviderName"]] == "AWS"][:10]
    microsoft = next(r for r in rows if r[column["ProviderName"]] == "Microsoft")
    chosen = [list(r) for r in [*aws, microsoft]]
    originals = {r[column["Id"]]: dict(zip(header, r, strict=True)) for r in chosen}
    for row in chosen:
        if row[column["Id"]] == "19384":
            row[column["BilledCost"]] = "USD " + row[column["BilledCost"]]
        elif row[column["Id"]] == "22882":
            row[column["ProviderName"]] = "Nimbus Cloud"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(chosen)
    return out.getvalue().encode(), originals


@pytest.mark.skipif(not FOCUS_SAMPLE.exists(), reason="the shared FOCUS sample is not on this machine")
def test_finance_uploads_a_focus_file_then_corrects_and_replays_a_rejected_row(page, role_world):
    for slug, name, alias in (("aws", "Amazon Web Services", "AWS"), ("azure", "Microsoft Azure", "Microsoft")):
        vendor_save(
            actor=None, slug=slug, name=name, kind="cloud", country="US", billing_currency="USD", aliases=[alias]
        )
    Source.objects.create(slug="focus", name="FOCUS exports", format="focus_csv")
    content, originals = _focus_file()
    finance = role_world.user(Role.FINANCE)
    sign_in(page, finance)

    # Upload, as a person finds it: the usage page's Upload button
    page.goto("/usage/")
    page.get_by_role("link", name="Upload", exact=True).click()
    expect(page.get_by_role("heading", name="Upload usage")).to_be_visible()
    page.get_by_label("File", exact=True).set_input_files(
        files=[{"name": "focus-2024-09.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.get_by_label("Format", exact=True).select_option(label="FOCUS 1.0–1.2 CSV")
    # the request trace options are only for request traces (usage_upload.js)
    expect(page.get_by_role("group", name="Request trace options")).to_be_hidden()
    page.get_by_label("Source", exact=True).select_option(label="FOCUS exports")
    page.get_by_role("button", name="Upload").click()

    # The run ran during the request (Celery is eager): its page shows the bar done
    expect(page.get_by_text("File received. It is being ingested; this page follows the run.")).to_be_visible()
    run = IngestionRun.objects.get(origin=IngestionRun.Origin.FILE)
    assert urlsplit(page.url).path == f"/usage/runs/{run.pk}/"
    live = page.locator("#usage-run-live")
    progress = live.get_by_role("progressbar", name="Progress")
    expect(progress).to_have_attribute("value", "100")
    expect(live.locator("#run-status")).to_contain_text("100 %")
    expect(live.locator("#run-status .badge")).to_have_text("Succeeded")
    expect(live).not_to_have_attribute("hx-get", re.compile(".*"))  # finished: no more polling
    counts = {name: live.locator(f'[data-count="{name}"]') for name in ("received", "accepted", "rejected")}
    expect(counts["received"]).to_have_text("11")
    expect(counts["accepted"]).to_have_text("9")
    expect(counts["rejected"]).to_have_text("2")
    assert VendorCostLine.objects.filter(run=run).count() == 9
    assert not VendorCostLine.objects.filter(dimensions__Id="19384").exists()

    # The rejected rows, each with its reasons, editable by finance
    rejected = page.locator("#rejected-rows")
    expect(rejected.get_by_role("heading", name="Open rejected rows (2)")).to_be_visible()
    bad_cost = rejected.get_by_label(re.compile(r"^Line 3\b"))
    expect(bad_cost).to_be_editable()
    reasons = rejected.locator(f"#{bad_cost.get_attribute('aria-describedby')}")
    expect(reasons).to_contain_text("BilledCost 'USD 0.00001605990' is not a decimal number")
    unknown = rejected.get_by_label(re.compile(r"^Line 6\b"))
    expect(rejected.locator(f"#{unknown.get_attribute('aria-describedby')}")).to_contain_text(
        "no vendor is known as 'Nimbus Cloud'"
    )

    # Correct the cost in the row's text and replay only that row
    text = bad_cost.input_value()
    assert "USD 0.00001605990" in text
    bad_cost.fill(text.replace("USD 0.00001605990", "0.00001605990"))
    page.get_by_role("button", name="Replay the rows I corrected").click()

    replay = IngestionRun.objects.get(origin=IngestionRun.Origin.REPLAY)
    expect(page.get_by_text(f"1 corrected row(s) sent to replay run #{replay.pk}.")).to_be_visible()
    assert urlsplit(page.url).path == f"/usage/runs/{replay.pk}/"
    live = page.locator("#usage-run-live")
    expect(live.get_by_role("progressbar", name="Progress")).to_have_attribute("value", "100")
    expect(live.locator("#run-status .badge")).to_have_text("Succeeded")
    expect(live.locator('[data-count="accepted"]')).to_have_text("1")
    expect(live.locator('[data-count="rejected"]')).to_have_text("0")

    # The database: the corrected cost line exactly as typed, the row marked replayed by this run,
    # the row of the unknown provider still open
    line = VendorCostLine.objects.get(dimensions__Id="19384")
    assert line.vendor.slug == "aws" and line.run_id == replay.pk
    assert line.amount == Decimal(originals["19384"]["BilledCost"]) == Decimal("0.00001605990")
    assert format(line.amount, "f") == "0.00001605990"
    assert format(line.effective_cost, "f") == originals["19384"]["EffectiveCost"]
    corrected = RejectedRow.objects.get(run=run, row=3)
    assert corrected.resolved_at is not None and corrected.resolved_by_id == replay.pk
    assert "USD " not in corrected.raw
    still_open = RejectedRow.objects.get(run=run, row=6)
    assert still_open.resolved_at is None
    assert VendorCostLine.objects.count() == 10

    # Back on the uploaded run: one row left open, one resolved by the replay
    run_card = page.locator(".card", has=page.get_by_role("heading", name="Run", exact=True))
    expect(run_card).to_contain_text(re.compile(rf"Replays rows of\s*run #{run.pk}"))
    run_card.get_by_role("link", name=f"run #{run.pk}").click()
    rejected = page.locator("#rejected-rows")
    expect(rejected.get_by_role("heading", name="Open rejected rows (1)")).to_be_visible()
    expect(rejected.get_by_text("1 row resolved by replays")).to_be_visible()
    expect(rejected.get_by_label(re.compile(r"^Line 6\b"))).to_be_visible()
    expect(rejected.get_by_label(re.compile(r"^Line 3\b"))).to_have_count(0)
