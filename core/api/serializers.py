from __future__ import annotations

from rest_framework import serializers

from core.currencies import CURRENCY_CHOICES
from core.roles import Role

from ..models import JobRun, OrganizationSettings


class RunCreatedSerializer(serializers.Serializer):
    """The answer of every long action: 202 {"run": id}."""

    run = serializers.IntegerField()


class JobRunSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = JobRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "result",
            "params",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
        ]
        read_only_fields = fields


class OrganizationSettingsSerializer(serializers.ModelSerializer):
    reporting_currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    mfa_required_roles = serializers.ListField(child=serializers.ChoiceField(choices=Role.choices), required=False)

    class Meta:
        model = OrganizationSettings
        fields = [
            "reporting_currency",
            "fiscal_year_start_month",
            "issuer_name",
            "issuer_address",
            "issuer_tax_id",
            "issuer_email",
            "issuer_bank_details",
            "invoice_footer",
            "default_payment_terms_days",
            "four_eyes_enabled",
            "monthly_report_day",
            "mfa_required_roles",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]


class DiagnosticsInputSerializer(serializers.Serializer):
    email_to = serializers.EmailField(required=False, help_text="Also send a test email to this address.")
