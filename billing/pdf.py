"""Chargeback invoice and credit note PDFs, rendered with WeasyPrint from
templates/billing/pdf/invoice.html and invoice.css.

The PDF is rendered once, when the invoice is issued, and its bytes stored (DESIGN.md, Periods and
chargeback invoices); drafts are rendered on demand with a DRAFT watermark. Everything the template
prints is prepared here as text (amounts formatted for their currency with Babel, en locale, to the
currency's ISO 4217 minor unit), so the template only lays it out. Django's autoescaping stays on:
department names and descriptions are user input.

Rendering is kept fast (0.13–0.26 s for 18 lines, see benchmarks/invoices.py and its README):
the stylesheet and a lean copy of the font (below) are prepared once per process with one
FontConfiguration, the CSS avoids what makes WeasyPrint slow (images, shadows, filters, flex
layouts, auto-sized line tables), and nothing is fetched — the only URLs WeasyPrint may open are
files of the template folder and data: URLs. Where the system has libharfbuzz-subset, WeasyPrint
subsets fonts with it, which halves the time again.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from django.conf import settings
from django.template.loader import render_to_string
from fontTools import subset
from fontTools.ttLib import TTFont
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from contracts.models import TokenClass
from core.currencies import minor_units
from core.money import PRICE_PLACES, round_to_minor_unit

from .models import GlAccount, Invoice, InvoiceLine

LOCALE = "en"
TEMPLATE = "billing/pdf/invoice.html"
TEMPLATE_DIR = Path(settings.BASE_DIR) / "templates" / "billing" / "pdf"
STYLESHEET = TEMPLATE_DIR / "invoice.css"
DOCUMENT_STYLESHEET = TEMPLATE_DIR / "document.css"  # the page and fonts of every PDF

# The order in which line kinds are printed, each kind under its own heading.
KIND_ORDER = [
    InvoiceLine.Kind.USAGE,
    InvoiceLine.Kind.TRUE_UP,
    InvoiceLine.Kind.SHORTFALL,
    InvoiceLine.Kind.ADJUSTMENT,
    InvoiceLine.Kind.SLA_CREDIT,
    InvoiceLine.Kind.CREDIT,
]
KIND_HEADINGS = {
    InvoiceLine.Kind.USAGE: "Usage",
    InvoiceLine.Kind.TRUE_UP: "Volume true-ups",
    InvoiceLine.Kind.SHORTFALL: "Commitment shortfalls",
    InvoiceLine.Kind.ADJUSTMENT: "Prior-period adjustments",
    InvoiceLine.Kind.SLA_CREDIT: "SLA credits passed through",
    InvoiceLine.Kind.CREDIT: "Credited",
}
ISSUER_KEYS = ("name", "address", "tax_id", "email", "bank_details", "footer")

# The invoice font: DejaVu Sans (regular and bold), prepared once per process as a lean copy that
# WeasyPrint subsets quickly for each document. fontTools (WeasyPrint's subsetter unless the
# system has libharfbuzz-subset) spends most of a render on DejaVu's 6 000 glyphs and its GPOS,
# GSUB, GDEF and MATH tables: ~90 ms per font and document; on the lean copy ~11 ms. The copy keeps
# the scripts invoices are written in — Latin (with Vietnamese), Greek, Cyrillic, punctuation,
# currency and number signs, arrows, mathematical operators — without hinting or the layout tables
# (kerning, which the CSS turns off, ligatures and mathematical layout). Any other character falls
# through to the full "DejaVu Sans" next in the CSS font stack, then to "Noto Sans CJK SC": it still
# prints, only that document pays the slower subsetting.
LEAN_FONT_FAMILY = "Invoice Sans"
LEAN_FONT_SOURCE = "DejaVu Sans"
LEAN_FONT_RANGES = (
    (0x0020, 0x024F),  # Basic Latin … Latin Extended-B
    (0x02B0, 0x036F),  # spacing modifiers, combining diacritics
    (0x0370, 0x052F),  # Greek, Cyrillic
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x218F),  # punctuation, super/subscripts, currency signs, letterlike, number forms
    (0x2190, 0x22FF),  # arrows, mathematical operators
    (0x25A0, 0x25FF),  # geometric shapes
    (0xFFFD, 0xFFFD),  # replacement character
)

logger = logging.getLogger(__name__)

# While WeasyPrint subsets a font it raises the "fontTools" logger to DEBUG (to catch fontTools'
# warnings and pass them on as its own), so fontTools' debug and info messages — hundreds per
# document — would propagate to the root handlers and be written on every render (1.3 MB of
# worker log for 100 invoices). Its sub-loggers, which do the logging, are held at WARNING:
# their warnings still reach WeasyPrint.
FONTTOOLS_LOGGERS = ("fontTools.subset", "fontTools.ttLib", "fontTools.misc", "fontTools.cffLib", "fontTools.varLib")
for _name in FONTTOOLS_LOGGERS:
    logging.getLogger(_name).setLevel(logging.WARNING)


class _LocalFilesOnly(URLFetcher):
    """Lets WeasyPrint read data: URLs and the files of one template folder, nothing else: a
    department name or description can never make the renderer touch the network or the disk."""

    def __init__(self, folder: Path, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder.resolve()

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith("file:"):
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if path.is_relative_to(self.folder):
                return super().fetch(url, headers)
        raise ValueError(f"PDFs fetch nothing from outside their template folder: {url}")


_render_lock = threading.Lock()


@cache
def _font_config() -> FontConfiguration:
    # One per process: building it (and the fontconfig cache behind it) is the slow part of a
    # first render. Celery's prefork workers each get their own.
    return FontConfiguration()


@cache
def _url_fetcher(folder: Path = TEMPLATE_DIR) -> _LocalFilesOnly:
    return _LocalFilesOnly(folder, allowed_protocols={"file", "data"})


def _system_font_file(family: str, style: str) -> str | None:
    """The file fontconfig would use for `family` in `style` (None when it would substitute
    another family), through the fontconfig library WeasyPrint already loads."""
    from weasyprint.text.ffi import ffi, fontconfig

    config = fontconfig.FcInitLoadConfigAndFonts()
    pattern = fontconfig.FcPatternCreate()
    try:
        fontconfig.FcPatternAddString(pattern, b"family", family.encode())
        fontconfig.FcPatternAddString(pattern, b"style", style.encode())
        fontconfig.FcConfigSubstitute(config, pattern, fontconfig.FcMatchPattern)
        fontconfig.FcDefaultSubstitute(pattern)
        result = ffi.new("FcResult *")
        match = fontconfig.FcFontMatch(config, pattern, result)
        if match == ffi.NULL:
            return None
        try:
            found_family, found_file = ffi.new("FcChar8 **"), ffi.new("FcChar8 **")
            if fontconfig.FcPatternGetString(match, b"family", 0, found_family) != fontconfig.FcResultMatch:
                return None
            if ffi.string(found_family[0]).decode() != family:
                return None
            if fontconfig.FcPatternGetString(match, b"file", 0, found_file) != fontconfig.FcResultMatch:
                return None
            return ffi.string(found_file[0]).decode()
        finally:
            fontconfig.FcPatternDestroy(match)
    finally:
        fontconfig.FcPatternDestroy(pattern)
        fontconfig.FcConfigDestroy(config)


def _lean_font(path: str) -> bytes:
    options = subset.Options(
        hinting=False,
        layout_features=[],
        notdef_outline=True,
        name_IDs=["*"],  # the licence and copyright notices stay with the font
        name_languages=["*"],
        legacy_kern=False,
    )
    options.drop_tables += ["GPOS", "GSUB", "GDEF", "MATH", "kern", "FFTM"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for first, last in LEAN_FONT_RANGES for c in range(first, last + 1)])
    font = TTFont(path)
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def _lean_font_faces() -> str:
    """@font-face rules for the lean invoice font, as data: URLs (nothing written to disk); empty
    when DejaVu Sans is not installed — the CSS then falls through to the next family."""
    rules = []
    try:
        for style, weight in (("Book", "normal"), ("Bold", "bold")):
            path = _system_font_file(LEAN_FONT_SOURCE, style)
            if path is None:
                logger.warning("%s %s not found: invoice PDFs use the system fonts (slower)", LEAN_FONT_SOURCE, style)
                return ""
            data = base64.b64encode(_lean_font(path)).decode("ascii")
            rules.append(
                f'@font-face {{ font-family: "{LEAN_FONT_FAMILY}"; font-weight: {weight}; font-style: normal; '
                f"src: url(data:font/ttf;base64,{data}); }}"
            )
    except Exception:  # a font we cannot read must not stop invoicing: the system font still works
        logger.exception("could not prepare the invoice font; invoice PDFs use the system fonts (slower)")
        return ""
    return "\n".join(rules)


@cache
def _stylesheet(path: Path) -> CSS:
    """A stylesheet parsed once per process; document.css with the lean font's @font-face rules."""
    fonts = _lean_font_faces() + "\n" if path == DOCUMENT_STYLESHEET else ""
    return CSS(
        string=fonts + path.read_text(),
        base_url=str(path.parent) + "/",
        font_config=_font_config(),
        url_fetcher=_url_fetcher(path.parent),
    )


def render_pdf(html: str, *, stylesheet: Path) -> bytes:
    """A TokenLedger document as PDF bytes: document.css (A4, the invoice font, the running
    reference at the foot of each page), then the document's own stylesheet. The HTML may read
    only data: URLs and the files of the stylesheet's folder. Used for invoices here and for the monthly
    report (insights.reports)."""
    folder = stylesheet.parent
    # The shared FontConfiguration (Pango and fontconfig underneath) is not made for concurrent
    # use: threads of one process render one at a time (renders hold the GIL nearly throughout,
    # so little is lost). Celery's prefork workers and gunicorn's sync workers never wait here.
    with _render_lock:
        document = HTML(string=html, base_url=str(folder), url_fetcher=_url_fetcher(folder))
        return document.write_pdf(
            stylesheets=[_stylesheet(DOCUMENT_STYLESHEET), _stylesheet(stylesheet)], font_config=_font_config()
        )


# -- formatting ---------------------------------------------------------------------------------


def _pattern(min_places: int, max_places: int) -> str:
    decimals = "0" * min_places + "#" * (max_places - min_places)
    return "¤#,##0" + (f".{decimals}" if decimals else "")


def money_format(amount: Decimal, currency: str) -> str:
    """An invoice amount in the en locale, to the currency's ISO 4217 minor unit (half up, as the
    lines were rounded): `$1,234.56`, `¥1,235`, `CN¥1,234.56`, `-$10.00`."""
    places = minor_units(currency)
    return format_currency(
        round_to_minor_unit(amount, currency),
        currency,
        format=_pattern(places, places),
        locale=LOCALE,
        currency_digits=False,
    )


def unit_price_format(price: Decimal, currency: str) -> str:
    """A price per 1 000 000 tokens: at least the currency's minor unit, at most the 6 places prices
    carry (a blended rate is stored with 12; it is shown rounded half up to 6): `$0.27`,
    `$0.123457`, `¥15`."""
    places = minor_units(currency)
    shown = price.quantize(Decimal(1).scaleb(-PRICE_PLACES), rounding=ROUND_HALF_UP)
    return format_currency(
        shown,
        currency,
        format=_pattern(min(places, PRICE_PLACES), PRICE_PLACES),
        locale=LOCALE,
        currency_digits=False,
        decimal_quantization=False,
    )


def tokens_format(tokens: int) -> str:
    return format_decimal(tokens, locale=LOCALE)


def date_format(value: date | None) -> str:
    return format_date(value, "d MMMM y", locale=LOCALE) if value else ""


def month_format(value: date) -> str:
    return format_date(value, "MMMM y", locale=LOCALE)


# -- what the template prints -------------------------------------------------------------------


@dataclass
class PrintedLine:
    description: str
    detail: str
    tokens: str
    unit_price: str
    amount: str


@dataclass
class PrintedGroup:
    heading: str
    lines: list[PrintedLine] = field(default_factory=list)
    subtotal: str = ""


# How a line names its token class: "DeepSeek · deepseek-chat · cached input tokens".
TOKEN_CLASS_WORDS = {
    TokenClass.INPUT: "input",
    TokenClass.CACHED_INPUT: "cached input",
    TokenClass.CACHE_WRITE: "cache write",
    TokenClass.OUTPUT: "output",
}


# Prefixes the service layer puts on descriptions that the PDF says in its own way.
DESCRIPTION_PREFIXES = re.compile(r"^(?:Credit: )?(?:Adjustment for \d{4}-\d{2}: )?")


def line_description(line: InvoiceLine) -> tuple[str, str]:
    """(main text, detail) of a line. Main: vendor · model · token class where the line has
    them. Detail: the service month of an adjustment ("Adjustment for 2026-09") or of anything
    charged for another month than the invoice's, and the line's own description where it says
    more than the main text — for usage it only repeats vendor, model and class, so it is left out;
    for shortfalls, true-ups and SLA credits it names the commitment, tokens or clause."""
    parts = [p for p in (line.vendor.name if line.vendor else "", line.model) if p]
    if line.token_class:
        parts.append(f"{TOKEN_CLASS_WORDS.get(line.token_class, line.token_class)} tokens")
    main = " · ".join(parts)
    notes = []
    if line.kind == InvoiceLine.Kind.ADJUSTMENT:
        charged = "" if line.charge == InvoiceLine.Kind.USAGE else f" ({InvoiceLine.Kind(line.charge).label.lower()})"
        notes.append(f"Adjustment for {line.service_period:%Y-%m}{charged}")
    elif line.service_period and line.service_period != line.invoice.period:
        notes.append(f"Service period {line.service_period:%Y-%m}")
    description = DESCRIPTION_PREFIXES.sub("", line.description or "").strip()
    repeats_main = line.charge == InvoiceLine.Kind.USAGE and line.vendor_id and line.model and line.token_class
    if description and description != main and not repeats_main:
        notes.append(description)
    if not main:
        main = notes.pop(0) if notes else InvoiceLine.Kind(line.kind).label
    return main, " — ".join(notes)


def invoice_groups(invoice: Invoice, lines: list[InvoiceLine]) -> list[PrintedGroup]:
    currency = invoice.currency
    by_kind: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        by_kind.setdefault(line.kind, []).append(line)
    order = KIND_ORDER + sorted(set(by_kind) - set(KIND_ORDER))
    groups = []
    for kind in order:
        if kind not in by_kind:
            continue
        group = PrintedGroup(heading=KIND_HEADINGS.get(kind, str(kind)))
        subtotal = Decimal(0)
        for line in by_kind[kind]:
            main, detail = line_description(line)
            group.lines.append(
                PrintedLine(
                    description=main,
                    detail=detail,
                    tokens=tokens_format(line.tokens) if line.tokens else "",
                    unit_price=unit_price_format(line.unit_price, currency) if line.unit_price is not None else "",
                    amount=money_format(line.amount, currency),
                )
            )
            subtotal += line.amount
        group.subtotal = money_format(subtotal, currency)
        groups.append(group)
    return groups


def invoice_issuer(invoice: Invoice) -> dict[str, str]:
    """The issuer details frozen on the invoice at issue; for a draft (or an invoice issued before
    they were recorded), today's organisation settings."""
    if invoice.issuer:
        return {key: str(invoice.issuer.get(key) or "") for key in ISSUER_KEYS}
    from core.selectors import organization_settings

    org = organization_settings()
    return {
        "name": org.issuer_name,
        "address": org.issuer_address,
        "tax_id": org.issuer_tax_id,
        "email": org.issuer_email,
        "bank_details": org.issuer_bank_details,
        "footer": org.invoice_footer,
    }


def department_cost_centre(department) -> str:
    """The department's GL cost centre: a department-wide expense account's override, else its code."""
    override = (
        GlAccount.objects.filter(purpose=GlAccount.Purpose.EXPENSE, department=department, vendor=None)
        .exclude(cost_centre="")
        .values_list("cost_centre", flat=True)
        .first()
    )
    return override or department.code


def invoice_context(invoice: Invoice) -> dict:
    lines = list(invoice.lines.select_related("vendor").order_by("position", "id"))
    for line in lines:
        line.invoice = invoice  # line_description compares service periods without a query
    is_credit_note = invoice.kind == Invoice.Kind.CREDIT_NOTE
    title = "Credit note" if is_credit_note else "Invoice"
    original = invoice.original if is_credit_note else None
    issued_at: datetime | None = invoice.issued_at
    return {
        "invoice": invoice,
        "title": title,
        "document_title": f"{title} {invoice.number}" if invoice.is_issued else f"Draft {title.lower()}",
        "is_credit_note": is_credit_note,
        "is_draft": not invoice.is_issued,
        "number": invoice.number or "DRAFT",
        "issue_date": date_format(invoice.issue_date),
        "due_date": date_format(invoice.due_date),
        "payment_terms": f"{invoice.payment_terms_days} days net",
        "period": month_format(invoice.period),
        "currency": invoice.currency,
        "department": invoice.department,
        "cost_centre": department_cost_centre(invoice.department),
        "parent": invoice.department.parent,
        "original_number": (original.number or "draft") if original else "",
        "original_period": month_format(original.period) if original else "",
        "reason": invoice.reason,
        "issuer": invoice_issuer(invoice),
        "groups": invoice_groups(invoice, lines),
        "show_group_headings": len({line.kind for line in lines}) > 1,
        "total": money_format(invoice.total, invoice.currency),
        # "Please pay …" only when something is due: a month whose credits exceed its charges
        # credits the cost centre instead.
        "payable": invoice.total > 0,
        "credited": money_format(-invoice.total, invoice.currency) if invoice.total < 0 else "",
        "created": issued_at.strftime("%Y-%m-%dT%H:%M:%SZ") if issued_at else "",
    }


def invoice_html(*, invoice: Invoice) -> str:
    """The HTML the PDF is made from (also handy to look at in a browser)."""
    return render_to_string(TEMPLATE, invoice_context(invoice))


def invoice_pdf_render(*, invoice: Invoice) -> bytes:
    """The invoice or credit note as PDF bytes. An issued one carries its number and the issuer
    details frozen at issue; a draft or approved one prints DRAFT instead of a number."""
    return render_pdf(invoice_html(invoice=invoice), stylesheet=STYLESHEET)
