"""The alert and alert rule lists' tables, and the alert list's filters (the API's FilterSet with
choices of what the user may see, and the inbox filter)."""

from __future__ import annotations

import django_filters
import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from core.columns import DateTimeColumn, TemplateColumn
from core.roles import Role
from procurement.filtersets import vendors, visible_departments

from .api.serializers import AlertFilterSet
from .models import Alert, AlertRule

SEVERITY_COLOURS = {Alert.Severity.INFO: "azure", Alert.Severity.WARNING: "yellow", Alert.Severity.CRITICAL: "red"}
STATUS_COLOURS = {Alert.Status.OPEN: "orange", Alert.Status.ACKNOWLEDGED: "blue", Alert.Status.RESOLVED: "green"}
INBOX_CHOICES = [("unread", "Unread in my inbox"), ("mine", "In my inbox")]


def severity_badge(alert: Alert):
    return format_html(
        '<span class="badge bg-{}-lt">{}</span>',
        SEVERITY_COLOURS.get(alert.severity, "secondary"),
        alert.get_severity_display(),
    )


class AlertListFilterSet(AlertFilterSet):
    department = django_filters.ModelChoiceFilter(
        queryset=visible_departments, to_field_name="code", field_name="department", label="Department"
    )
    vendor = django_filters.ModelChoiceFilter(
        queryset=vendors, to_field_name="slug", field_name="vendor", label="Vendor"
    )
    inbox = django_filters.ChoiceFilter(choices=INBOX_CHOICES, method="filter_inbox", label="Inbox")

    class Meta(AlertFilterSet.Meta):
        fields = ["inbox", "status", "severity", "type", "department", "vendor", "q"]

    def filter_inbox(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        if user is None:
            return queryset.none()
        if value == "unread":
            return queryset.filter(inbox_items__user=user, inbox_items__read_at__isnull=True)
        return queryset.filter(inbox_items__user=user)


def alert_title(alert, *, unread: bool, oob: bool = False):
    """The title cell: a link, bold and marked New while unread in the user's inbox. Its box has an
    id so that acknowledging from the list can swap it read (htmx, out of band)."""
    url = reverse("insights:alert_detail", kwargs={"pk": alert.pk})
    swap = mark_safe(' hx-swap-oob="true"') if oob else ""
    if unread:
        return format_html(
            '<span id="alert-title-{}"{}><a href="{}" class="fw-bold">{}</a> '
            '<span class="badge bg-red-lt ms-1">New</span></span>',
            alert.pk,
            swap,
            url,
            alert.title,
        )
    return format_html('<span id="alert-title-{}"{}><a href="{}">{}</a></span>', alert.pk, swap, url, alert.title)


class AlertTable(tables.Table):
    severity = tables.Column(order_by=("severity_rank", "-raised_at"))  # info < warning < critical
    title = tables.Column(verbose_name="Alert")
    type = tables.Column()
    department = tables.Column(accessor="department__code", verbose_name="Department", default="company-wide")
    vendor = tables.Column(accessor="vendor__name", verbose_name="Vendor", default="—")
    raised_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Raised (UTC)")
    last_seen_at = DateTimeColumn(format="Y-m-d H:i", verbose_name="Last seen (UTC)")
    status = TemplateColumn(
        template_code='{% include "insights/alerts/_actions.html" with alert=record compact=True %}',
        verbose_name="Status",
        order_by=("status",),
    )

    class Meta:
        model = Alert
        fields = ("severity", "title", "type", "department", "vendor", "raised_at", "last_seen_at", "status")

    def __init__(self, *args, unread_ids=frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.unread_ids = unread_ids

    def render_severity(self, record):
        return severity_badge(record)

    def value_severity(self, record):
        return record.severity

    def render_title(self, record):
        return alert_title(record, unread=record.pk in self.unread_ids)

    def value_title(self, record):
        return record.title

    def render_type(self, record):
        return record.get_type_display()

    def value_type(self, record):
        return record.type

    def value_status(self, record):
        return record.status


class AlertRuleTable(tables.Table):
    name = tables.Column()
    types = tables.Column(verbose_name="Alert types", orderable=False)
    recipients = tables.Column(accessor="roles", verbose_name="Recipients", orderable=False)
    channels = tables.Column(orderable=False)
    min_severity = tables.Column(verbose_name="Minimum severity")
    thresholds = tables.Column(orderable=False, default="—")
    is_active = tables.BooleanColumn(verbose_name="Active")

    class Meta:
        model = AlertRule
        fields = ("name", "types", "recipients", "channels", "min_severity", "thresholds", "is_active")

    def __init__(self, *args, can_change=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.can_change = can_change

    def render_name(self, record):
        if not self.can_change:
            return record.name
        return format_html(
            '<a href="{}">{}</a>', reverse("insights:alert_rule_edit", kwargs={"pk": record.pk}), record.name
        )

    def render_types(self, record):
        if not record.types:
            return "every type"
        labels = dict(Alert.Type.choices)
        return format_html_join(", ", "{}", ((labels.get(t, t),) for t in record.types))

    def value_types(self, record):
        return " ".join(record.types) or "all"

    def render_recipients(self, record):
        roles = [Role(r).label if r in Role.values else r for r in record.roles]
        parts = [*roles, *record.addresses]
        return ", ".join(parts) or "—"

    def value_recipients(self, record):
        return " ".join([*record.roles, *record.addresses])

    def render_channels(self, record):
        labels = dict(AlertRule.Channel.choices)
        text = ", ".join(labels.get(c, c) for c in record.channels)
        if AlertRule.Channel.WEBHOOK in record.channels and record.webhook_url:
            signed = "signed" if record.webhook_secret else "unsigned"
            text += f" → {record.webhook_url} ({signed})"
        return text

    def value_channels(self, record):
        return " ".join(record.channels)

    def render_min_severity(self, record):
        return record.get_min_severity_display()

    def render_thresholds(self, record):
        if not record.thresholds:
            return "—"
        labels = dict(Alert.Type.choices)
        return "; ".join(f"{labels.get(k, k)}: {v}" for k, v in sorted(record.thresholds.items()))
