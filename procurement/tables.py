from __future__ import annotations

from decimal import Decimal

import django_tables2 as tables
from django.utils.html import format_html

from .models import Budget, Department, Vendor, VendorCertification, VendorModel
from .selectors import tidy_amount


def _plain_decimal(value: Decimal | None) -> str:
    """0.270000 → 0.27, 10.000000 → 10 (never in exponent form)."""
    return "—" if value is None else format(value.normalize(), "f")


class VendorTable(tables.Table):
    name = tables.Column(linkify=True)
    aliases = tables.Column(accessor="aliases", orderable=False, verbose_name="Aliases")
    data_residency = tables.Column(verbose_name="Residency", orderable=False)
    dpa_signed = tables.BooleanColumn(verbose_name="DPA")

    class Meta:
        model = Vendor
        fields = (
            "name",
            "slug",
            "kind",
            "country",
            "billing_currency",
            "payment_terms_days",
            "invoice_type",
            "data_residency",
            "dpa_signed",
            "aliases",
        )

    def render_aliases(self, value):
        return ", ".join(value) or "—"

    def value_aliases(self, value):
        return ", ".join(value)

    def render_data_residency(self, value):
        return ", ".join(value) or "—"

    def value_data_residency(self, value):
        return ", ".join(value)


class VendorCertificationTable(tables.Table):
    kind = tables.Column(linkify=True)
    vendor = tables.Column(linkify=True, order_by=("vendor__name",))
    status = tables.TemplateColumn(
        template_name="procurement/_cert_status_cell.html", orderable=False, verbose_name="Status"
    )
    days_left = tables.Column(verbose_name="Days left", order_by=("valid_until",))

    class Meta:
        model = VendorCertification
        fields = ("kind", "vendor", "valid_from", "valid_until", "status", "days_left", "reference")

    def value_status(self, record):
        return record.status


class PriceColumn(tables.Column):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("attrs", {"td": {"class": "tl-num"}, "th": {"class": "tl-num"}})
        super().__init__(*args, **kwargs)

    def render(self, value):
        return _plain_decimal(value)

    def value(self, value):
        return "" if value is None else str(value)


class VendorModelTable(tables.Table):
    model = tables.Column(linkify=True)
    vendor = tables.Column(linkify=True, order_by=("vendor__name",))
    effective_to = tables.Column(default="open")
    input_price = PriceColumn(verbose_name="Input")
    cached_input_price = PriceColumn(verbose_name="Cached input", default="—")
    cache_write_price = PriceColumn(verbose_name="Cache write", default="—")
    output_price = PriceColumn(verbose_name="Output")

    class Meta:
        model = VendorModel
        fields = (
            "model",
            "vendor",
            "effective_from",
            "effective_to",
            "currency",
            "input_price",
            "cached_input_price",
            "cache_write_price",
            "output_price",
        )


class DepartmentTable(tables.Table):
    """Drawn as a tree (rows in tree order, codes indented by depth) unless sorted by a column."""

    code = tables.Column()
    parent = tables.Column(accessor="parent__code", verbose_name="Parent", order_by=("parent__code",))
    managers = tables.Column(accessor="pk", orderable=False, verbose_name="Managers")
    is_system = tables.BooleanColumn(verbose_name="System")

    class Meta:
        model = Department
        fields = ("code", "name", "parent", "managers", "is_system")

    def render_code(self, value, record):
        depth = getattr(record, "tree_depth", 0)
        label = (
            format_html('<span class="text-secondary me-1" aria-hidden="true">└</span>{}', value) if depth else value
        )
        for _ in range(depth):  # nested margins add up: one step per level, no inline style
            label = format_html('<span class="ms-3">{}</span>', label)
        return format_html('<a href="{}">{}</a>', record.get_absolute_url(), label)

    def value_code(self, value):
        return value

    def render_managers(self, record):
        names = [user.username for user in record.managers.all()]
        return ", ".join(names) or "—"

    def value_managers(self, record):
        return ", ".join(user.username for user in record.managers.all())


class BudgetTable(tables.Table):
    budget = tables.Column(accessor="pk", verbose_name="Budget", order_by=("department__code", "fiscal_year"))
    department = tables.Column(accessor="department__code", verbose_name="Department", order_by=("department__code",))
    vendor = tables.Column(linkify=True, default="all vendors", order_by=("vendor__name",))
    amount = tables.Column(attrs={"td": {"class": "tl-num"}, "th": {"class": "tl-num"}})
    phasing = tables.Column(accessor="monthly_amounts", orderable=False, verbose_name="Phasing")
    thresholds = tables.Column(orderable=False, verbose_name="Thresholds (%)")

    class Meta:
        model = Budget
        fields = (
            "budget",
            "department",
            "fiscal_year",
            "vendor",
            "amount",
            "currency",
            "phasing",
            "thresholds",
            "action",
        )

    def render_budget(self, record):
        return format_html('<a href="{}">{}</a>', record.get_absolute_url(), str(record))

    def value_budget(self, record):
        return str(record)

    def render_department(self, record):
        return format_html('<a href="{}">{}</a>', record.department.get_absolute_url(), record.department.code)

    def value_department(self, record):
        return record.department.code

    def render_amount(self, record):
        return f"{tidy_amount(record.amount, record.currency):,f}"  # exact, with thousands separators

    def value_amount(self, record):
        return str(tidy_amount(record.amount, record.currency))

    def render_phasing(self, value):
        return "monthly" if value else "even"

    def render_thresholds(self, value):
        return ", ".join(_plain_decimal(v) for v in value)
