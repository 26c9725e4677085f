"""Invoice and credit note PDFs: rendered by WeasyPrint and read back with pypdf (text, pages)."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.models import GlAccount, Invoice, InvoiceLine
from billing.pdf import (
    STYLESHEET,
    _system_font_file,
    _url_fetcher,
    invoice_pdf_render,
    money_format,
    unit_price_format,
)
from core.services import organization_settings_update
from procurement.tests.factories import DepartmentFactory, VendorFactory

pytestmark = pytest.mark.django_db

D = Decimal
ISSUER = {
    "name": "Acme Holdings Ltd — Group IT",
    "address": "1 Main Street\nSpringfield",
    "tax_id": "GB123456789",
    "email": "chargeback@acme.example",
    "bank_details": "IBAN GB29 NWBK 6016 1331 9268 19\nBIC NWBKGB2L",
    "footer": "Internal chargeback: settle by intercompany transfer.",
}


def read_pdf(data: bytes) -> tuple[PdfReader, list[str]]:
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(data))
    return reader, [page.extract_text() for page in reader.pages]


def flat(text: str) -> str:
    """Page text with runs of whitespace made one space (pypdf breaks lines where the PDF does)."""
    return re.sub(r"\s+", " ", text)


def make_invoice(department, *, currency="USD", number="CB-2026-000123", period=date(2026, 11, 1), **fields):
    issued = number is not None
    return Invoice.objects.create(
        department=department,
        period=period,
        currency=currency,
        number=number,
        status=Invoice.Status.ISSUED if issued else Invoice.Status.DRAFT,
        issued_at=datetime(2026, 12, 2, 9, 30, tzinfo=UTC) if issued else None,
        issue_date=date(2026, 12, 2) if issued else None,
        due_date=date(2027, 1, 1) if issued else None,
        payment_terms_days=30,
        issuer=ISSUER if issued else {},
        **fields,
    )


def add_line(invoice, position, *, vendor=None, amount, **fields):
    """A line as the service writes it: `charge` is the line's own kind, usage for adjustments."""
    fields.setdefault("service_period", invoice.period)
    kind = fields.get("kind", InvoiceLine.Kind.USAGE)
    fields.setdefault("charge", InvoiceLine.Kind.USAGE if kind in ("adjustment", "credit") else kind)
    return InvoiceLine.objects.create(invoice=invoice, position=position, vendor=vendor, amount=amount, **fields)


def usage_lines(invoice, vendor, count: int) -> Decimal:
    """`count` usage lines (models × token classes); returns their sum, which becomes the total."""
    classes = ["input", "cached_input", "cache_write", "output"]
    total = D(0)
    for i in range(count):
        amount = D("123.45") + i
        add_line(
            invoice,
            i,
            vendor=vendor,
            model=f"model-{i // 4}",
            token_class=classes[i % 4],
            tokens=1_000_000_000 + i,
            unit_price=D("0.27"),
            amount=amount,
        )
        total += amount
    return total


@pytest.fixture
def vendor():
    return VendorFactory(slug="deepseek", name="DeepSeek", billing_currency="CNY")


def test_issued_usd_invoice_shows_number_department_period_lines_and_total(vendor):
    """GIVEN an issued USD invoice with usage, true-up, adjustment and SLA credit lines
    WHEN it is rendered THEN the PDF reads like an invoice: issuer, number, dates, bill-to with the
    cost centre, the period, lines by kind with readable tokens and prices, and the total."""
    department = DepartmentFactory(code="ENG-AI", name="AI Engineering", parent=DepartmentFactory(code="ENG"))
    GlAccount.objects.create(purpose="expense", department=department, account_code="6100", cost_centre="CC-4410")
    invoice = make_invoice(department, total=D("1234.56"))
    add_line(
        invoice,
        1,
        vendor=vendor,
        model="deepseek-chat",
        token_class="cached_input",
        tokens=12_345_678_901,
        unit_price=D("0.070000000000"),
        amount=D("864.20"),
        description="DeepSeek deepseek-chat — Cached input",
    )
    add_line(
        invoice,
        2,
        vendor=vendor,
        model="deepseek-chat",
        token_class="output",
        tokens=300_000_000,
        unit_price=D("1.123456789012"),
        amount=D("337.04"),
    )
    add_line(
        invoice,
        3,
        vendor=vendor,
        kind="true_up",
        model="deepseek-chat",
        token_class="output",
        amount=D("-6.68"),
        description="Volume true-up DeepSeek deepseek-chat — Output (300,000,000 tokens)",
    )
    add_line(
        invoice,
        4,
        vendor=vendor,
        kind="adjustment",
        service_period=date(2026, 9, 1),
        model="deepseek-chat",
        token_class="input",
        tokens=100_000_000,
        unit_price=D("0.27"),
        amount=D("50.00"),
        description="Adjustment for 2026-09: DeepSeek deepseek-chat — Input (uncached)",
    )
    add_line(invoice, 5, vendor=vendor, kind="sla_credit", description="P90 latency, October", amount=D("-10.00"))

    reader, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    assert len(pages) == 1
    text = flat(pages[0])
    for expected in [
        "Invoice",
        "CB-2026-000123",
        "Acme Holdings Ltd — Group IT",
        "1 Main Street",
        "Tax ID: GB123456789",
        "chargeback@acme.example",
        "2 December 2026",  # issue date
        "1 January 2027",  # due date
        "30 days net",
        "November 2026",
        "AI Engineering",
        "Department ENG-AI",
        "Cost centre CC-4410",
        "DeepSeek · deepseek-chat · cached input tokens",
        "12,345,678,901",
        "$0.07",
        "$1.123457",  # a blended rate shown half up to 6 places
        "$864.20",
        "Volume true-ups",
        "-$6.68",
        "Prior-period adjustments",
        "Adjustment for 2026-09",
        "SLA credits passed through",
        "P90 latency, October",
        "Total due",
        "$1,234.56",
        "IBAN GB29 NWBK 6016 1331 9268 19",
        "Internal chargeback: settle by intercompany transfer.",
        "Page 1 of 1",
    ]:
        assert expected in text, expected
    assert "DRAFT" not in text
    assert "DeepSeek deepseek-chat — Cached input" not in text  # a usage line's description only repeats it
    assert "Output (300,000,000 tokens)" in text  # a true-up's says more
    assert "Adjustment for 2026-09: DeepSeek" not in text
    assert reader.metadata.title == "Invoice CB-2026-000123"


def test_jpy_total_has_no_decimals_and_cny_its_symbol(vendor):
    yen = make_invoice(DepartmentFactory(code="JP-OPS", name="Tokyo Operations"), currency="JPY", total=D("1234567"))
    add_line(yen, 1, vendor=vendor, model="m", token_class="input", tokens=5, unit_price=D("150"), amount=D("1234567"))
    _, pages = read_pdf(invoice_pdf_render(invoice=yen))
    text = flat(pages[0])
    assert "¥1,234,567" in text and "¥150" in text
    assert "¥1,234,567.00" not in text and "Amount (JPY)" in text

    yuan = make_invoice(DepartmentFactory(code="CN-RD"), currency="CNY", number="CB-2026-000124", total=D("98765.4"))
    add_line(yuan, 1, vendor=vendor, model="m", token_class="output", amount=D("98765.40"))
    _, pages = read_pdf(invoice_pdf_render(invoice=yuan))
    assert "CN¥98,765.40" in flat(pages[0])


def test_money_is_formatted_to_the_iso_minor_unit_half_up():
    assert money_format(D("1234.565"), "USD") == "$1,234.57"
    assert money_format(D("-0.5"), "JPY") == "-¥1"  # half up (away from zero), as the lines are rounded
    assert money_format(D("1.2345"), "BHD") == "BHD1.235"  # 3 minor digits
    assert unit_price_format(D("2.5"), "USD") == "$2.50"
    assert unit_price_format(D("0.000000499"), "USD") == "$0.00"
    assert unit_price_format(D("15.25"), "JPY") == "¥15.25"


def test_a_long_invoice_spans_two_pages_with_page_numbers_and_the_header_repeated(vendor):
    invoice = make_invoice(DepartmentFactory(code="DATA", name="Data Platform"))
    invoice.total = usage_lines(invoice, vendor, 40)
    invoice.save(update_fields=["total"])

    reader, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    assert len(reader.pages) == 2
    first, second = flat(pages[0]), flat(pages[1])
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert "Description" in second and "Unit price" in second  # the table header on the next page
    assert "Invoice CB-2026-000123 · DATA · November 2026" in second  # the running reference
    assert "Total due" in second and money_format(invoice.total, "USD") in second


def test_credit_note_names_the_original_and_the_reason(vendor):
    department = DepartmentFactory(code="MKT", name="Marketing")
    original = make_invoice(department, total=D("500.00"))
    note = make_invoice(
        department,
        kind=Invoice.Kind.CREDIT_NOTE,
        number="CN-2026-000007",
        original=original,
        reason="Usage of the staging key was attributed to Marketing by mistake.",
        total=D("-120.50"),
    )
    add_line(note, 1, vendor=vendor, kind="credit", model="deepseek-chat", token_class="input", amount=D("-120.50"))

    reader, pages = read_pdf(invoice_pdf_render(invoice=note))

    text = flat(pages[0])
    assert "Credit note" in text and "CN-2026-000007" in text
    assert "Credits invoice CB-2026-000123" in text and "Invoice CB-2026-000123 (November 2026)" in text
    assert "attributed to Marketing by mistake." in text
    assert "Total credited" in text and "-$120.50" in text
    assert "Due date" not in text
    assert reader.metadata.title == "Credit note CN-2026-000007"


def test_draft_prints_draft_and_todays_issuer_details(vendor):
    organization_settings_update(actor=None, issuer_name="Settings Issuer GmbH", issuer_tax_id="DE999")
    draft = make_invoice(DepartmentFactory(code="LEGAL", name="Legal"), number=None, total=D("10"))
    add_line(draft, 1, vendor=vendor, model="m", token_class="input", tokens=1000, amount=D("10"))

    _, pages = read_pdf(invoice_pdf_render(invoice=draft))

    text = flat(pages[0])
    assert "DRAFT" in text and "not issued" in text
    assert "CB-" not in text
    assert "Settings Issuer GmbH" in text and "Tax ID: DE999" in text
    assert "Issue date on issue" in text


def test_markup_and_formulas_in_names_print_as_text(vendor):
    department = DepartmentFactory(code="EVIL", name="<script>alert(1)</script>")
    invoice = make_invoice(department, total=D("1"))
    add_line(invoice, 1, vendor=vendor, description='=HYPERLINK("http://x.example")<b>bold</b>', amount=D("1"))

    _, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    text = flat(pages[0])
    assert "<script>alert(1)</script>" in text
    assert '=HYPERLINK("http://x.example")<b>bold</b>' in text


def test_an_empty_invoice_still_renders(vendor):
    invoice = make_invoice(DepartmentFactory(code="IDLE", name="Idle"), total=D("0"))
    _, pages = read_pdf(invoice_pdf_render(invoice=invoice))
    text = flat(pages[0])
    assert "No charges for this period." in text and "$0.00" in text


def test_a_chinese_department_name_prints_where_a_cjk_font_is_installed(vendor):
    """The font stack names "Noto Sans CJK SC" after DejaVu Sans (which has no Han glyphs); with
    fonts-noto-cjk installed its glyphs are embedded and the name reads back as text."""
    if _system_font_file("Noto Sans CJK SC", "Regular") is None:
        pytest.skip("Noto Sans CJK SC is not installed (fonts-noto-cjk)")
    invoice = make_invoice(DepartmentFactory(code="CN-RD", name="研发中心"), currency="CNY", total=D("1"))
    add_line(invoice, 1, vendor=vendor, model="deepseek-chat", token_class="input", tokens=1, amount=D("1"))

    reader, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    assert "研发中心" in pages[0]
    fonts = [str(font.get_object()["/BaseFont"]) for font in reader.pages[0]["/Resources"]["/Font"].values()]
    assert any("CJK" in name for name in fonts), fonts


def test_renders_fetch_nothing_from_outside_the_template_folder():
    fetcher = _url_fetcher()
    with pytest.raises(ValueError, match="fetch nothing"):
        fetcher.fetch("http://127.0.0.1:9/logo.png")
    with pytest.raises(ValueError, match="fetch nothing"):
        fetcher.fetch("file:///etc/passwd")
    assert fetcher.fetch(STYLESHEET.as_uri()).read().startswith(b"/*")


def test_a_month_of_credits_asks_for_no_payment(vendor):
    """An SLA credit larger than the month's charges: the invoice credits the cost centre."""
    invoice = make_invoice(DepartmentFactory(code="OPS", name="Operations"), total=D("-100.00"))
    add_line(invoice, 1, vendor=vendor, kind="sla_credit", description="Availability, October", amount=D("-100.00"))

    _, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    text = flat(pages[0])
    assert "Nothing to pay: $100.00 is credited to cost centre OPS." in text
    assert "Please pay" not in text


def test_an_approved_invoice_is_still_a_draft_until_issued(vendor):
    invoice = make_invoice(DepartmentFactory(code="HR", name="People"), number=None, total=D("5"))
    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.APPROVED)
    invoice.refresh_from_db()
    add_line(invoice, 1, vendor=vendor, model="m", token_class="output", tokens=10, amount=D("5"))

    reader, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    assert "DRAFT" in flat(pages[0]) and reader.metadata.title == "Draft invoice"


def test_characters_outside_the_lean_font_come_from_full_dejavu(vendor):
    """Armenian is in DejaVu Sans but not in the lean invoice font: it falls through the font
    stack and still prints, from DejaVu Sans itself."""
    invoice = make_invoice(DepartmentFactory(code="AM", name="Երևան office"), total=D("1"))
    add_line(invoice, 1, vendor=vendor, model="m", token_class="input", tokens=1, amount=D("1"))

    reader, pages = read_pdf(invoice_pdf_render(invoice=invoice))

    assert "Երևան office" in flat(pages[0])
    page_fonts = reader.pages[0]["/Resources"]["/Font"].values()
    fonts = {str(font.get_object()["/BaseFont"]).split("+")[-1] for font in page_fonts}
    assert {"Invoice-Sans", "Invoice-Sans-Bold"} <= fonts, fonts
    assert any(name.startswith("DejaVu-Sans") for name in fonts), fonts
