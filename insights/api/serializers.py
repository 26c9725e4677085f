"""Alerts, alert rules and the inbox as the API shows and takes them (API.md, "Money views and
actions": `alerts/`, `alert-rules/`)."""

from __future__ import annotations

import django_filters
from django.urls import reverse
from rest_framework import serializers

from core.filtersets import UtcIsoDateTimeFilter
from core.policy import can

from ..models import Alert, AlertDelivery, AlertRule, InboxItem
from ..services.alerts import RECIPIENT_ROLES, alert_rule_errors


class AlertFilterSet(django_filters.FilterSet):
    """One filter of alerts for the API and the alert list page."""

    type = django_filters.ChoiceFilter(choices=Alert.Type.choices)
    status = django_filters.ChoiceFilter(choices=Alert.Status.choices)
    severity = django_filters.ChoiceFilter(choices=Alert.Severity.choices)
    department = django_filters.CharFilter(field_name="department__code", help_text="Department code.")
    vendor = django_filters.CharFilter(field_name="vendor__slug", help_text="Vendor slug.")
    period = django_filters.CharFilter()
    raised_after = UtcIsoDateTimeFilter(field_name="raised_at", lookup_expr="gte")
    raised_before = UtcIsoDateTimeFilter(field_name="raised_at", lookup_expr="lt")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains", label="Title contains")

    class Meta:
        model = Alert
        fields = ["type", "status", "severity", "department", "vendor", "period", "raised_after", "raised_before", "q"]


class AlertDeliverySerializer(serializers.ModelSerializer):
    rule = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = AlertDelivery
        fields = [
            "id",
            "rule",
            "channel",
            "recipient",
            "status",
            "attempts",
            "response_code",
            "last_error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    type_label = serializers.CharField(source="get_type_display", read_only=True)
    department = serializers.SlugRelatedField(slug_field="code", read_only=True)
    vendor = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField(help_text="The alert's page.")

    class Meta:
        model = Alert
        fields = [
            "id",
            "type",
            "type_label",
            "severity",
            "status",
            "dedup_key",
            "title",
            "message",
            "subject_url",
            "department",
            "vendor",
            "period",
            "data",
            "raised_at",
            "last_seen_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "note",
            "url",
        ]
        read_only_fields = fields

    def get_url(self, alert) -> str:
        return reverse("insights:alert_detail", kwargs={"pk": alert.pk})


class AlertDetailSerializer(AlertSerializer):
    deliveries = serializers.SerializerMethodField(help_text="Shown to those who may read the alert rules.")

    class Meta(AlertSerializer.Meta):
        fields = [*AlertSerializer.Meta.fields, "deliveries"]
        read_only_fields = fields

    def get_deliveries(self, alert) -> list[dict]:
        request = self.context.get("request")
        if request is None or not can(request.user, "alert_rule", "view"):
            return []
        rows = alert.deliveries.select_related("rule").order_by("channel", "recipient")
        return AlertDeliverySerializer(rows, many=True).data


class AlertActionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AlertEvaluateSerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False, help_text="Evaluate as of this day (default: today, UTC).")
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=Alert.Type.choices), required=False, help_text="Default: every type."
    )


class AlertEvaluateResultSerializer(serializers.Serializer):
    today = serializers.DateField()
    candidates = serializers.IntegerField()
    raised = serializers.IntegerField()
    repeated = serializers.IntegerField()
    deliveries = serializers.IntegerField()
    alerts = serializers.ListField(child=serializers.IntegerField())
    by_type = serializers.DictField()
    errors = serializers.ListField(child=serializers.DictField())
    message = serializers.CharField()


# Rules -------------------------------------------------------------------------------------------------


class RecipientsSerializer(serializers.Serializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=RECIPIENT_ROLES),
        required=False,
        default=list,
        help_text="Users of these roles (department managers: only alerts about their departments).",
    )
    addresses = serializers.ListField(
        child=serializers.EmailField(), required=False, default=list, help_text="Email addresses."
    )


class AlertRuleSerializer(serializers.ModelSerializer):
    types = serializers.ListField(
        child=serializers.ChoiceField(choices=Alert.Type.choices),
        required=False,
        default=list,
        help_text="Alert types; empty means every type.",
    )
    recipients = RecipientsSerializer(source="*", required=False)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=AlertRule.Channel.choices))
    webhook_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Signs webhook bodies (HMAC-SHA256); write-only, stored encrypted. Empty removes it.",
    )
    webhook_secret_set = serializers.SerializerMethodField()
    thresholds = serializers.JSONField(
        required=False,
        default=dict,
        help_text='Per alert type, the level an alert must reach for this rule, e.g. {"budget_threshold": 100}.',
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "types",
            "recipients",
            "channels",
            "webhook_url",
            "webhook_secret",
            "webhook_secret_set",
            "min_severity",
            "thresholds",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at", "webhook_secret_set"]

    def get_webhook_secret_set(self, rule) -> bool:
        return bool(rule.webhook_secret)

    def validate(self, attrs):
        """The rule as it would be saved must be usable (insights.services.alerts.alert_rule_errors);
        errors about roles and addresses are reported under `recipients`."""
        instance = self.instance
        merged = {
            name: attrs.get(name, getattr(instance, name) if instance is not None else default)
            for name, default in (
                ("types", []),
                ("roles", []),
                ("addresses", []),
                ("channels", []),
                ("webhook_url", ""),
                ("min_severity", Alert.Severity.INFO),
                ("thresholds", {}),
            )
        }
        errors = alert_rule_errors(AlertRule(**merged))
        if errors:
            shaped: dict = {}
            for field, messages in errors.items():
                if field in ("roles", "addresses"):
                    shaped.setdefault("recipients", {})[field] = messages
                else:
                    shaped[field] = messages
            raise serializers.ValidationError(shaped)
        return attrs


class InboxItemSerializer(serializers.ModelSerializer):
    alert = AlertSerializer(read_only=True)
    unread = serializers.SerializerMethodField()

    class Meta:
        model = InboxItem
        fields = ["id", "alert", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, item) -> bool:
        return item.read_at is None
