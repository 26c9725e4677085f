"""The invoice and period pages' tables and the invoice list's filters, and how an invoice's
lines are grouped and figured on its page. The API's FilterSet (billing.api.invoices) is the one
filter of invoices; the UI's only swaps two widgets: the department is a choice of the
departments the user may see, and a month that does not parse is a form error, not a 400."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import django_filters
import django_tables2 as tables
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from contracts.models import TokenClass
from contracts.tables import plain_price
from core.columns import DateColumn, DateTimeColumn
from core.exceptions import ApplicationError
from procurement.filtersets import visible_departments

from .api.invoices import InvoiceFilterSet
from .models import Invoice, InvoiceLine, Period
from .months import next_month
from .services.periods import parse_month
from .templatetags.billing_tags import money, short_tokens

STATUS_COLOURS = {
    Invoice.Status.DRAFT: "secondary",
    Invoice.Status.APPROVED: "blue",
    Invoice.Status.ISSUED: "green",
    Period.Status.OPEN: "yellow",
    Period.Status.CLOSED: "green",
}
NUM = {"td": {"class": "tl-num text-nowrap"}, "th": {"class": "tl-num"}}
PRICE_PLACES = Decimal("0.000001")  # prices carry 6 places; a blended rate is stored with 12


def amount_text(value: Decimal | None, currency: str) -> str:
    """ "USD 1,234.57": at the currency's minor unit, thousands separated."""
    return "—" if value is None else f"{currency} {money(value, currency)}"


def price_text(value: Decimal | None) -> str:
    """A price per 1M tokens, rounded half up to the 6 places prices carry: 0.25 → "0.25"."""
    return "" if value is None else plain_price(value.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP))


def status_badge(value: str, label: str):
    return format_html('<span class="badge bg-{}-lt">{}</span>', STATUS_COLOURS.get(value, "secondary"), label)


def month_validator(value: str) -> None:
    try:
        parse_month(value)
    except ApplicationError:
        raise ValidationError("Give a month as YYYY-MM.") from None


class MonthInput(forms.TextInput):
    """The browser's month picker (YYYY-MM); browsers without one show a text box."""

    input_type = "month"

    def __init__(self, attrs=None):
        super().__init__(attrs={"placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}", **(attrs or {})})


class InvoiceListFilterSet(InvoiceFilterSet):
    period = django_filters.CharFilter(
        method="filter_period", label="Period", widget=MonthInput, validators=[month_validator]
    )
    department = django_filters.ModelChoiceFilter(
        queryset=visible_departments, to_field_name="code", field_name="department", label="Department"
    )

    class Meta(InvoiceFilterSet.Meta):
        fields = ["period", "department", "status", "kind", "number", "currency"]


def invoice_url(invoice_id: int) -> str:
    return reverse("billing:invoice_detail", kwargs={"pk": invoice_id})


class InvoiceTable(tables.Table):
    number = tables.Column(accessor="number", verbose_name="Number", order_by=("number", "id"), empty_values=())
    kind = tables.Column()
    department = tables.Column(accessor="department__code", verbose_name="Department", order_by=("department__code",))
    period = tables.Column(order_by=("period", "department__code"))
    status = tables.Column()
    total = tables.Column(attrs=NUM, order_by=("total",))
    currency = tables.Column(visible=False)  # in exports, beside the plain total
    issue_date = DateColumn(format="Y-m-d", default="—")
    due_date = DateColumn(format="Y-m-d", default="—")
    original = tables.Column(
        accessor="original__number", verbose_name="Credits", order_by=("original__number",), default=""
    )

    class Meta:
        model = Invoice
        fields = (
            "number",
            "kind",
            "department",
            "period",
            "status",
            "total",
            "currency",
            "issue_date",
            "due_date",
            "original",
        )

    def render_number(self, record):
        label = record.number or mark_safe('<span class="text-secondary">Draft</span>')
        return format_html('<a href="{}" class="text-nowrap">{}</a>', invoice_url(record.pk), label)

    def value_number(self, record):
        return record.number or ""

    def render_kind(self, record):
        return record.get_kind_display()

    def value_kind(self, record):
        return record.kind

    def render_department(self, record):
        return format_html(
            '{}<div class="small text-secondary">{}</div>', record.department.code, record.department.name
        )

    def value_department(self, record):
        return record.department.code

    def render_period(self, value):
        return f"{value:%Y-%m}"

    def value_period(self, value):
        return f"{value:%Y-%m}"

    def render_status(self, record):
        return status_badge(record.status, record.get_status_display())

    def value_status(self, record):
        return record.status

    def render_total(self, record):
        return amount_text(record.total, record.currency)

    def value_total(self, record):
        return money(record.total, record.currency).replace(",", "")

    def render_original(self, record):
        if record.original_id is None:
            return ""
        return format_html('<a href="{}">{}</a>', invoice_url(record.original_id), record.original.number or "draft")

    def value_original(self, record):
        return record.original.number if record.original_id else ""


# An invoice's lines, grouped by kind on its page -----------------------------------------------

KIND_ORDER = [
    InvoiceLine.Kind.USAGE,
    InvoiceLine.Kind.SHORTFALL,
    InvoiceLine.Kind.TRUE_UP,
    InvoiceLine.Kind.SLA_CREDIT,
    InvoiceLine.Kind.ADJUSTMENT,
    InvoiceLine.Kind.CREDIT,
]
KIND_HEADINGS = {
    InvoiceLine.Kind.USAGE: "Usage",
    InvoiceLine.Kind.SHORTFALL: "Commitment shortfall",
    InvoiceLine.Kind.TRUE_UP: "Volume true-ups",
    InvoiceLine.Kind.SLA_CREDIT: "SLA credits",
    InvoiceLine.Kind.ADJUSTMENT: "Prior-period adjustments",
    InvoiceLine.Kind.CREDIT: "Credits",
}


@dataclass
class LineGroup:
    kind: str
    heading: str
    lines: list[dict] = field(default_factory=list)
    subtotal: Decimal = Decimal(0)
    subtotal_text: str = ""


def _token_class_label(token_class: str) -> str:
    return TokenClass(token_class).label if token_class in TokenClass.values else token_class


def line_row(line: InvoiceLine, currency: str) -> dict:
    return {
        "line": line,
        "vendor": line.vendor.name if line.vendor_id else "",
        "token_class": _token_class_label(line.token_class) if line.token_class else "",
        "tokens": short_tokens(line.tokens) if line.tokens else "",
        "tokens_exact": f"{line.tokens:,} tokens" if line.tokens else "",
        "unit_price": price_text(line.unit_price),
        "amount": money(line.amount, currency),
        "service_period": f"{line.service_period:%Y-%m}",
        "charge": InvoiceLine.Kind(line.charge).label if line.charge in InvoiceLine.Kind.values else line.charge,
    }


def line_groups(invoice: Invoice, lines: list[InvoiceLine]) -> list[LineGroup]:
    """The lines by kind (usage, shortfall, true-up, SLA credit, prior-period adjustment, credit),
    each group with its subtotal in the invoice's currency."""
    by_kind: dict[str, list[InvoiceLine]] = {}
    for line in lines:
        by_kind.setdefault(line.kind, []).append(line)
    order = KIND_ORDER + sorted(set(by_kind) - set(KIND_ORDER))
    groups = []
    for kind in order:
        if kind not in by_kind:
            continue
        group = LineGroup(kind=kind, heading=KIND_HEADINGS.get(kind, str(kind)))
        for line in by_kind[kind]:
            group.lines.append(line_row(line, invoice.currency))
            group.subtotal += line.amount
        group.subtotal_text = money(group.subtotal, invoice.currency)
        groups.append(group)
    return groups


# Periods -----------------------------------------------------------------------------------------


def month_has_ended(month: date, today: date) -> bool:
    return next_month(month) <= today


class PeriodTable(tables.Table):
    """Rows are billing.api.invoices.period_rows() dicts (one per month, newest first)."""

    period = tables.Column(accessor="month", verbose_name="Month", attrs={"td": {"class": "text-nowrap"}})
    status = tables.Column()
    records = tables.Column(attrs=NUM)
    cost = tables.Column(attrs=NUM, verbose_name="Cost")
    unrated = tables.Column(attrs=NUM, verbose_name="Unrated records")
    unallocated = tables.Column(attrs=NUM, verbose_name="Unallocated records")
    invoices = tables.Column(attrs=NUM, verbose_name="Invoices")
    issued = tables.Column(attrs=NUM, verbose_name="Issued")
    closed_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Closed (UTC)", default="—")
    closed_by = tables.Column(default="—", verbose_name="Closed by", visible=False)  # on the page: with the time
    acknowledged = tables.Column(orderable=False, verbose_name="Acknowledged", default="")
    links = tables.TemplateColumn(
        template_name="billing/invoices/_period_links.html", orderable=False, verbose_name="", exclude_from_export=True
    )
    actions = tables.TemplateColumn(
        template_name="billing/invoices/_period_actions.html",
        orderable=False,
        verbose_name="",
        exclude_from_export=True,
    )

    class Meta:
        orderable = True
        # thirteen columns: tighter cells keep the month's row within a laptop's width
        attrs = {"class": "table table-vcenter card-table table-striped table-sm"}

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.columns["cost"].column.verbose_name = f"Cost ({currency})"

    def render_period(self, record):
        return record["period"]

    def value_period(self, record):
        return record["period"]

    def render_status(self, record):
        return status_badge(record["status"], Period.Status(record["status"]).label)

    def value_status(self, record):
        return record["status"]

    def render_records(self, value):
        return f"{value:,}"

    def value_records(self, value):
        return value

    def render_cost(self, value):
        return money(value, self.currency)

    def value_cost(self, value):
        return money(value, self.currency).replace(",", "")

    def render_closed_at(self, value, record, bound_column):
        text = bound_column.column.render(value=value, bound_column=bound_column)
        return (
            format_html('{}<div class="small text-secondary">by {}</div>', text, record["closed_by"])
            if record.get("closed_by")
            else text
        )

    def value_closed_at(self, value, bound_column):
        return bound_column.column.render(value=value, bound_column=bound_column)

    def render_unrated(self, value):
        return format_html('<span class="text-danger fw-bold">{}</span>', f"{value:,}") if value else "0"

    def render_unallocated(self, value):
        return format_html('<span class="text-warning fw-bold">{}</span>', f"{value:,}") if value else "0"

    def value_unrated(self, value):
        return value

    def value_unallocated(self, value):
        return value

    def _acknowledged(self, value: dict) -> str:
        if not value:
            return ""
        parts = []
        if value.get("unrated"):
            parts.append(f"{value['unrated']:,} unrated")
        if value.get("unallocated"):
            parts.append(f"{value['unallocated']:,} unallocated")
        text = ", ".join(parts) or "nothing open"
        if value.get("note"):
            text += f" — {value['note']}"
        return text

    def render_acknowledged(self, value):
        return self._acknowledged(value) or "—"

    def value_acknowledged(self, value):
        return self._acknowledged(value)
