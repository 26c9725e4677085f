from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from .models import AttributionRule, IngestionRun, Source

NUM = {"td": {"class": "tl-num"}, "th": {"class": "tl-num"}}


class SourceTable(tables.Table):
    name = tables.Column(linkify=True)
    vendor = tables.Column(linkify=True, default="several vendors", order_by=("vendor__name",))
    is_active = tables.BooleanColumn(verbose_name="Active")
    updated_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Updated (UTC)")

    class Meta:
        model = Source
        fields = ("name", "slug", "vendor", "format", "is_active", "updated_at")


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
    created_at = tables.DateTimeColumn(
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
    updated_at = tables.DateTimeColumn(format="Y-m-d H:i", verbose_name="Updated (UTC)")
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
