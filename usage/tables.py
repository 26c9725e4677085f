from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from core.columns import DateTimeColumn

from .models import AttributionRule, IngestionRun, Source, VendorCostLine
from .models.sources import PullHealth

NUM = {"td": {"class": "tl-num"}, "th": {"class": "tl-num"}}


HEALTH_COLOURS = {
    PullHealth.OK: "green",
    PullHealth.FAILING: "red",
    PullHealth.STALE: "orange",
    PullHealth.NEVER_PULLED: "secondary",
    PullHealth.OFF: "secondary",
}


class SourceTable(tables.Table):
    name = tables.Column(linkify=True)
    vendor = tables.Column(linkify=True, default="several vendors", order_by=("vendor__name",))
    is_active = tables.BooleanColumn(verbose_name="Active")
    last_pull_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Last pull (UTC)", default="—")
    next_pull_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Next pull (UTC)", default="—")
    health = tables.Column(accessor="pull_health", verbose_name="Pull health", orderable=False, empty_values=())
    updated_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Updated (UTC)")

    class Meta:
        model = Source
        fields = (
            "name",
            "slug",
            "vendor",
            "format",
            "is_active",
            "last_pull_at",
            "next_pull_at",
            "health",
            "updated_at",
        )

    def render_next_pull_at(self, value, record):
        return value.strftime("%Y-%m-%d %H:%M") if record.pull_enabled and record.is_active and value else "—"

    def render_health(self, value, record):
        title = record.last_pull_error[:300] if value == PullHealth.FAILING else ""
        return format_html(
            '<span class="badge bg-{}-lt" title="{}">{}</span>{}',
            HEALTH_COLOURS.get(value, "secondary"),
            title,
            record.get_pull_health_display(),
            format_html(' <span class="text-secondary small">×{}</span>', record.pull_failures)
            if record.pull_failures
            else "",
        )

    def value_health(self, value, record):
        return record.get_pull_health_display()


def _short(text: str, length: int = 32) -> str:
    return text if len(text) <= length else f"{text[: length - 1]}…"


class StatusColumn(tables.Column):
    COLOURS = {"queued": "secondary", "running": "blue", "succeeded": "green", "failed": "red"}

    def render(self, value, record):
        return format_html(
            '<span class="badge bg-{}-lt">{}</span>', self.COLOURS.get(record.status, "secondary"), value
        )

    def value(self, value, record):
        return record.status


class IngestionRunTable(tables.Table):
    """What a run was (origin, file) shows under its number; the export has them apart, and the
    duplicate and restated counts the run's page shows."""

    run = tables.Column(accessor="pk", verbose_name="Run", order_by=("jobrun_ptr_id",))
    origin = tables.Column(visible=False)
    format = tables.Column(visible=False)
    file_name = tables.Column(visible=False)
    status = StatusColumn()
    source = tables.Column(default="—", order_by=("source__slug",))
    created_by = tables.Column(accessor="created_by__username", verbose_name="Started by", default="system")
    received = tables.Column(attrs=NUM)
    accepted = tables.Column(attrs=NUM)
    duplicates = tables.Column(attrs=NUM, visible=False)
    restated = tables.Column(attrs=NUM, visible=False)
    rejected = tables.Column(attrs=NUM)
    created_at = DateTimeColumn(
        format="Y-m-d H:i", verbose_name="Started (UTC)", attrs={"td": {"class": "text-nowrap"}}
    )

    class Meta:
        model = IngestionRun
        fields = (
            "run",
            "origin",
            "status",
            "source",
            "format",
            "file_name",
            "received",
            "accepted",
            "duplicates",
            "restated",
            "rejected",
            "created_by",
            "created_at",
        )

    def render_run(self, value, record):
        return format_html(
            '<a href="{}">#{}</a><div class="small text-secondary" title="{}">{}</div>{}',
            record.get_absolute_url(),
            value,
            record.get_format_display(),
            record.get_origin_display(),
            format_html(
                '<div class="small text-secondary" title="{}">{}</div>', record.file_name, _short(record.file_name)
            )
            if record.file_name
            else "",
        )

    def value_run(self, value):
        return value

    def render_source(self, value, record):
        return format_html(
            '<a href="{}" title="{}">{}</a>', record.source.get_absolute_url(), value, record.source.slug
        )


class AttributionRuleTable(tables.Table):
    value = tables.Column(attrs={"td": {"class": "text-nowrap"}})
    department = tables.Column(order_by=("department__code",), attrs={"td": {"class": "text-nowrap"}})
    updated_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Updated (UTC)")
    actions = tables.Column(accessor="pk", verbose_name="", orderable=False, exclude_from_export=True)

    class Meta:
        model = AttributionRule
        fields = ("priority", "dimension", "value", "department", "description", "updated_at", "actions")
        attrs = {"class": "table table-vcenter card-table table-striped"}

    def render_department(self, value, record):
        return format_html('<a href="{}">{}</a>', record.department.get_absolute_url(), record.department.code)

    def value_department(self, value, record):
        return record.department.code

    def render_dimension(self, value):
        return format_html("<code>{}</code>", value)

    def render_actions(self, value, record):
        return format_html(
            '<a class="btn btn-sm btn-outline-primary" href="{}" aria-label="Edit rule {}">Edit</a>',
            reverse("usage:rule_edit", kwargs={"pk": value}),
            record,
        )


def exact(value) -> str:
    """A stored exact decimal as the feed wrote it ("0.00000080000", never "8.0000E-7")."""
    return "" if value is None else format(value, "f")


class ExactDecimalColumn(tables.Column):
    """An exact decimal, shown and exported with every digit the feed gave."""

    def __init__(self, **kwargs):
        kwargs.setdefault("attrs", NUM)
        kwargs.setdefault("default", "—")
        super().__init__(**kwargs)

    def render(self, value):
        return format_html('<span class="font-monospace">{}</span>', exact(value))

    def value(self, value):
        return exact(value)


class VendorCostLineTable(tables.Table):
    """A vendor cost line as its feed stated it. The page shows the period, the line item over its
    description and the amount with its currency; the export has each in its own column."""

    period = tables.Column(
        accessor="period_start",
        verbose_name="Period (UTC)",
        order_by=("period_start", "period_end"),
        attrs={"td": {"class": "text-nowrap"}},
    )
    period_end = DateTimeColumn(visible=False, verbose_name="Period end (UTC)")
    vendor = tables.Column(order_by=("vendor__name",))
    line_item = tables.Column(verbose_name="Line item", default="—")
    description = tables.Column(visible=False)
    model = tables.Column(default="—")
    charge_category = tables.Column(verbose_name="Category", default="—")
    amount = ExactDecimalColumn(verbose_name="Amount")
    currency = tables.Column(visible=False)
    amount_as_given = tables.Column(visible=False, verbose_name="Amount as given")
    amount_unit = tables.Column(visible=False, verbose_name="Amount unit")
    billed_cost = ExactDecimalColumn(verbose_name="Billed")
    effective_cost = ExactDecimalColumn(verbose_name="Effective")
    list_cost = ExactDecimalColumn(verbose_name="List")
    source = tables.Column(order_by=("source__slug",))
    run = tables.Column(accessor="run_id", verbose_name="Run", default="—")
    version = tables.Column(visible=False, attrs=NUM)

    class Meta:
        model = VendorCostLine
        fields = (
            "period",
            "period_end",
            "vendor",
            "line_item",
            "description",
            "model",
            "charge_category",
            "amount",
            "currency",
            "amount_as_given",
            "amount_unit",
            "billed_cost",
            "effective_cost",
            "list_cost",
            "source",
            "run",
            "version",
        )

    def render_period(self, value, record):
        start, end = record.period_start, record.period_end
        same_day = start.date() == end.date()
        return format_html(
            '{}<div class="small text-secondary">to {}</div>',
            f"{start:%Y-%m-%d %H:%M}",
            f"{end:%H:%M}" if same_day else f"{end:%Y-%m-%d %H:%M}",
        )

    def value_period(self, value, record):
        return record.period_start.isoformat()

    def value_period_end(self, value, record):
        return record.period_end.isoformat()

    def render_vendor(self, value, record):
        return format_html('<a href="{}">{}</a>', record.vendor.get_absolute_url(), record.vendor.name)

    def value_vendor(self, value, record):
        return record.vendor.slug

    def render_line_item(self, value, record):
        description = record.description if record.description != value else ""
        return format_html(
            "{}{}",
            value,
            format_html('<div class="small text-secondary" title="{}">{}</div>', description, _short(description, 60))
            if description
            else "",
        )

    def value_line_item(self, value):
        return value

    def render_amount(self, value, record):
        return format_html(
            '<span class="font-monospace" title="as given: {} ({})">{}</span> {}{}',
            record.amount_as_given,
            record.amount_unit,
            exact(value),
            record.currency,
            format_html(' <span class="badge bg-orange-lt" title="restated">v{}</span>', record.version)
            if record.version > 1
            else "",
        )

    def value_amount(self, value):
        return exact(value)

    def render_source(self, value, record):
        return format_html('<a href="{}">{}</a>', record.source.get_absolute_url(), record.source.slug)

    def value_source(self, value, record):
        return record.source.slug

    def render_run(self, value):
        return format_html('<a href="{}">#{}</a>', reverse("usage:run_detail", kwargs={"pk": value}), value)

    def value_run(self, value):
        return value
