"""Tables of the reconciliation pages: the month's board, vendor invoices, accruals, GL accounts.
Pages show money at the currency's minor unit; exports (CSV, XLSX) carry the exact figures."""

from __future__ import annotations

import django_tables2 as tables
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html

from billing.templatetags.billing_tags import money
from core.columns import DateColumn
from core.policy import CHANGE, can

from .models import GlAccount, Reconciliation, VendorInvoice
from .selectors.reconciliation import reconciliation_basis

NUM = {"td": {"class": "tl-num"}, "th": {"class": "tl-num"}}
BASIS_LABELS = {"invoice": "invoice", "vendor_feed": "vendor's cost feed", "none": "—"}


def exact(value) -> str:
    return "" if value is None else format(value, "f")


class MoneyColumn(tables.Column):
    """A figure in the row's currency (`currency_accessor`): rounded on the page, exact in exports."""

    def __init__(self, *args, currency_accessor: str = "currency", **kwargs):
        kwargs.setdefault("attrs", NUM)
        kwargs.setdefault("default", "—")
        self.currency_accessor = currency_accessor
        super().__init__(*args, **kwargs)

    def render(self, value, record):
        currency = tables.A(self.currency_accessor).resolve(record)
        return format_html('<span title="{}">{}</span>', exact(value), money(value, currency))

    def value(self, value, record):
        return exact(value)


def cell(table: tables.Table, template: str, record, resource: str) -> str:
    """A cell from a template, rendered with only what it needs: a TemplateColumn renders each
    cell with the request, which runs every context processor (the menu) once per row."""
    request = getattr(table, "request", None)
    user = getattr(request, "user", None)
    return render_to_string(
        template,
        {
            "record": record,
            "request": request,
            "csrf_token": get_token(request) if request is not None else "",
            "can_change": user is not None and can(user, resource, CHANGE),
            "status_choices": Reconciliation.Status.choices,
        },
    )


class ReconciliationTable(tables.Table):
    vendor = tables.Column(accessor="vendor__name", order_by=("vendor__name",))
    currency = tables.Column()
    expected = MoneyColumn(verbose_name="Expected")
    invoiced = MoneyColumn(verbose_name="Invoiced (before tax)")
    vendor_reported = MoneyColumn(verbose_name="Vendor-reported")
    variance = MoneyColumn(verbose_name="Variance")
    variance_percent = tables.Column(verbose_name="Variance %", attrs=NUM, default="—")
    basis = tables.Column(accessor="pk", verbose_name="Compared with", orderable=False)
    status = tables.Column(verbose_name="Status", order_by=("status",))
    period = tables.Column(visible=False, verbose_name="Month")
    expected_usage = MoneyColumn(visible=False, verbose_name="Expected usage")
    expected_shortfall = MoneyColumn(visible=False, verbose_name="Shortfall")
    expected_sla_credits = MoneyColumn(visible=False, verbose_name="SLA credits")
    note = tables.Column(visible=False)
    warnings = tables.Column(visible=False)

    class Meta:
        model = Reconciliation
        fields = (
            "vendor",
            "currency",
            "expected",
            "invoiced",
            "vendor_reported",
            "variance",
            "variance_percent",
            "basis",
            "status",
        )
        attrs = {"class": "table table-vcenter card-table"}
        empty_text = "Nothing to reconcile in this month: no usage, invoices, cost feeds or commitments."

    def render_vendor(self, record):
        url = reverse("billing:reconciliation_detail", kwargs={"pk": record.pk})
        return format_html('<a href="{}">{}</a>', url, record.vendor.name)

    def value_vendor(self, record):
        return record.vendor.name

    def render_variance_percent(self, value):
        return f"{value.normalize():f} %"

    def value_variance_percent(self, value):
        return exact(value)

    def render_basis(self, record):
        return BASIS_LABELS[reconciliation_basis(record)]

    def value_basis(self, record):
        return reconciliation_basis(record)

    def render_status(self, record):
        return cell(self, "billing/reconciliation/_status_cell.html", record, "reconciliation")

    def value_status(self, record):
        return record.status

    def value_period(self, value):
        return value.strftime("%Y-%m")

    def value_warnings(self, value):
        return " | ".join(w.get("message", "") for w in value or [])


class VendorInvoiceTable(tables.Table):
    number = tables.Column(verbose_name="Number")
    vendor = tables.Column(accessor="vendor__name", order_by=("vendor__name",))
    invoice_date = DateColumn(format="Y-m-d", verbose_name="Date")
    period = tables.Column(verbose_name="Month")
    due_date = DateColumn(format="Y-m-d", verbose_name="Due")
    currency = tables.Column()
    subtotal = MoneyColumn()
    tax = MoneyColumn()
    total = MoneyColumn()
    tax_type = tables.Column(verbose_name="Tax document")
    status = tables.Column()
    lines = tables.Column(accessor="pk", verbose_name="Lines", orderable=False, attrs=NUM)
    po_number = tables.Column(visible=False, verbose_name="PO number")
    approved_by = tables.Column(visible=False, accessor="approved_by__username", verbose_name="Approved by")

    class Meta:
        model = VendorInvoice
        fields = (
            "number",
            "vendor",
            "invoice_date",
            "period",
            "due_date",
            "currency",
            "subtotal",
            "tax",
            "total",
            "tax_type",
            "status",
            "lines",
        )
        attrs = {"class": "table table-vcenter card-table"}

    def render_number(self, record):
        url = reverse("billing:vendor_invoice_detail", kwargs={"pk": record.pk})
        return format_html('<a href="{}">{}</a>', url, record.number)

    def value_number(self, record):
        return record.number

    def render_period(self, value):
        return value.strftime("%Y-%m")

    def value_period(self, value):
        return value.strftime("%Y-%m")

    def render_status(self, value, record):
        colour = "green" if record.status == VendorInvoice.Status.APPROVED else "blue"
        return format_html('<span class="badge bg-{}-lt">{}</span>', colour, record.get_status_display())

    def value_status(self, record):
        return record.status

    def value_tax_type(self, record):
        return record.tax_type

    def render_lines(self, record):
        return len(record.lines.all())

    def value_lines(self, record):
        return len(record.lines.all())


class AccrualTable(tables.Table):
    vendor = tables.Column(accessor="vendor__name", orderable=False)
    currency = tables.Column(orderable=False)
    consumed = MoneyColumn(orderable=False, verbose_name="Consumed")
    invoiced = MoneyColumn(orderable=False, verbose_name="Invoiced")
    covered = MoneyColumn(orderable=False, verbose_name="Covered", visible=False)
    accrual = MoneyColumn(orderable=False, verbose_name="Accrual")
    over_invoiced = MoneyColumn(orderable=False, verbose_name="Over-invoiced")
    consumed_reporting = MoneyColumn(
        orderable=False, currency_accessor="reporting_currency", verbose_name="Consumed (reporting)"
    )
    accrual_reporting = MoneyColumn(
        orderable=False, currency_accessor="reporting_currency", verbose_name="Accrual (reporting)"
    )
    shortfall_accrual_reporting = MoneyColumn(
        orderable=False, currency_accessor="reporting_currency", verbose_name="Shortfall accrued (reporting)"
    )
    notes = tables.Column(orderable=False, verbose_name="Warnings", default="")

    class Meta:
        attrs = {"class": "table table-vcenter card-table"}
        empty_text = "No usage or vendor invoices in this month."

    def render_notes(self, value):
        return format_html(
            "{}",
            " · ".join(note.message for note in value) if value else "",
        )

    def value_notes(self, value):
        return " | ".join(note.message for note in value or [])


class GlAccountTable(tables.Table):
    purpose = tables.Column()
    vendor = tables.Column(accessor="vendor__name", default="every vendor", order_by=("vendor__name",))
    department = tables.Column(accessor="department__code", default="every department", order_by=("department__code",))
    account_code = tables.Column(verbose_name="Account")
    cost_centre = tables.Column(verbose_name="Cost centre", default="—")
    description = tables.Column(default="")
    actions = tables.Column(
        accessor="pk", verbose_name="", orderable=False, exclude_from_export=True, attrs={"td": {"class": "text-end"}}
    )

    class Meta:
        model = GlAccount
        fields = ("purpose", "vendor", "department", "account_code", "cost_centre", "description", "actions")
        attrs = {"class": "table table-vcenter card-table"}
        empty_text = "No GL accounts: the journal uses GL_EXPENSE_ACCOUNT and GL_ACCRUAL_ACCOUNT."

    def value_purpose(self, record):
        return record.purpose

    def render_actions(self, record):
        return cell(self, "billing/reconciliation/_gl_account_actions.html", record, "gl_account")
