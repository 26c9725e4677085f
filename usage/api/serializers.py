from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from procurement.models import Vendor

from ..models import AttributionRule, IngestionRun, RejectedRow, Source, UsageRecord, VendorCostLine
from ..models.attribution import validate_dimension
from ..models.sources import Format, PullHealth


class SourceSerializer(serializers.ModelSerializer):
    """A source and how its vendor's API is pulled. The credential is write-only: send
    `credential` to store a key (encrypted), null to forget it; answers say only `credential_set`."""

    vendor = serializers.SlugRelatedField(
        slug_field="slug", queryset=Vendor.objects.all(), allow_null=True, required=False
    )
    credential = serializers.CharField(
        write_only=True,
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=4000,
        style={"input_type": "password"},
        help_text="The vendor API key, stored encrypted and never shown back; empty keeps it, null forgets it.",
    )
    credential_set = serializers.BooleanField(read_only=True, help_text="A credential is stored.")
    health = serializers.ChoiceField(
        source="pull_health", choices=PullHealth.choices, read_only=True, help_text="How the scheduled pulls are doing."
    )

    class Meta:
        model = Source
        fields = [
            "slug",
            "name",
            "vendor",
            "format",
            "is_active",
            "description",
            "pull_enabled",
            "base_url",
            "credential_env",
            "credential",
            "credential_set",
            "pull_interval_minutes",
            "pull_open_days",
            "pull_start",
            "pulled_until",
            "last_pull_at",
            "last_pull_ok_at",
            "next_pull_at",
            "pull_failures",
            "last_pull_error",
            "health",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "pulled_until",
            "last_pull_at",
            "last_pull_ok_at",
            "next_pull_at",
            "pull_failures",
            "last_pull_error",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"slug": {"validators": []}}


class AttributionRuleSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(
        slug_field="code", queryset=AttributionRule.department.field.related_model.objects.all()
    )
    dimension = serializers.CharField(
        validators=[validate_dimension], help_text="api_key_id, project_id, workspace_id, user_id or tag:<key>"
    )

    class Meta:
        model = AttributionRule
        fields = ["id", "priority", "dimension", "value", "department", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []


class IngestionRunSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    id = serializers.IntegerField(source="pk", read_only=True)

    class Meta:
        model = IngestionRun
        fields = [
            "id",
            "kind",
            "status",
            "progress",
            "message",
            "origin",
            "format",
            "source",
            "file_name",
            "options",
            "replay_of",
            "received",
            "accepted",
            "duplicates",
            "restated",
            "rejected",
            "result",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class RejectedRowSerializer(serializers.ModelSerializer):
    class Meta:
        model = RejectedRow
        fields = ["id", "row", "raw", "reasons", "external_id"]
        read_only_fields = fields


class IngestAnswerSerializer(serializers.Serializer):
    run = serializers.IntegerField(allow_null=True)
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    restated = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())


class FileUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=Format.choices)
    source = serializers.SlugRelatedField(slug_field="slug", queryset=Source.objects.filter(is_active=True))
    vendor = serializers.CharField(required=False, help_text="request_trace: the vendor's slug")
    model = serializers.CharField(required=False, help_text="request_trace: the model billed")
    timezone = serializers.CharField(required=False, default="UTC", help_text="request_trace: of naive timestamps")
    start = serializers.CharField(required=False, help_text="request_trace: start of relative timestamps")


class ReplayRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    raw = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class ReplaySerializer(serializers.Serializer):
    rows = ReplayRowSerializer(many=True, required=False)


class SummaryRowSerializer(serializers.Serializer):
    vendor = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    department = serializers.CharField(required=False)
    day = serializers.DateField(required=False)
    month = serializers.CharField(required=False)
    input_tokens = serializers.IntegerField()
    cached_input_tokens = serializers.IntegerField()
    cache_write_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()
    cost = serializers.CharField(
        help_text="What the usage cost, true-ups included: reporting currency, 12 decimal places"
    )
    list_cost = serializers.CharField(
        help_text="What the same usage costs at the vendors' list prices: reporting currency, 12 decimal places"
    )
    off_contract_cost = serializers.CharField(
        help_text="The part of `cost` priced at list price because no agreement rule covered it "
        "(off contract): reporting currency, 12 decimal places"
    )
    true_up_cost = serializers.CharField(
        help_text="Volume-tier true-ups booked in the range (included in `cost`, usually a credit): "
        "reporting currency, 12 decimal places"
    )
    unpriced_records = serializers.IntegerField(help_text="Records without a cost in the reporting currency")


class SummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    rows = SummaryRowSerializer(many=True)


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.00000080000"})
class ExactDecimalField(serializers.Field):
    """A decimal as the feed wrote it: every digit and its scale, never in exponent notation
    ("0.00000080000", not "8.0000E-7")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else format(value, "f")


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "0.00000080000"})
class OptionalExactDecimalField(ExactDecimalField):
    """An exact decimal, null when the feed gave none."""


class VendorCostLineSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True, help_text="The ingestion run")
    amount = ExactDecimalField(help_text="In the currency's major unit, exactly as the feed stated it")
    billed_cost = OptionalExactDecimalField(help_text="FOCUS BilledCost")
    effective_cost = OptionalExactDecimalField(help_text="FOCUS EffectiveCost")
    list_cost = OptionalExactDecimalField(help_text="FOCUS ListCost")
    contracted_cost = OptionalExactDecimalField(help_text="FOCUS ContractedCost")
    quantity = OptionalExactDecimalField(help_text="FOCUS ConsumedQuantity, or the feed's quantity")

    class Meta:
        model = VendorCostLine
        fields = [
            "id",
            "vendor",
            "period_start",
            "period_end",
            "description",
            "model",
            "line_item",
            "charge_category",
            "amount",
            "amount_as_given",
            "amount_unit",
            "currency",
            "billed_cost",
            "effective_cost",
            "list_cost",
            "contracted_cost",
            "quantity",
            "quantity_unit",
            "project_id",
            "api_key_id",
            "workspace_id",
            "dimensions",
            "source",
            "run",
            "feed",
            "version",
            "superseded",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class UsageRecordSerializer(serializers.ModelSerializer):
    """A usage record as last stated, with its attribution and rating. Money is a decimal string
    at the stored 12 places."""

    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    vendor = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    department = serializers.SlugRelatedField(slug_field="code", read_only=True)
    run = serializers.IntegerField(source="run_id", read_only=True, allow_null=True, help_text="The ingestion run")
    agreement = serializers.SerializerMethodField(help_text="Reference of the agreement in force, null at list price")
    tags = serializers.DictField(child=serializers.CharField(), read_only=True)
    fx_status = serializers.ChoiceField(
        choices=UsageRecord.FxStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="How cost_reporting was converted; empty when there is no cost to convert",
    )

    class Meta:
        model = UsageRecord
        fields = [
            "id",
            "external_id",
            "source",
            "vendor",
            "model",
            "bucket_start",
            "bucket_end",
            "usage_date",
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "output_tokens",
            "requests",
            "failed_requests",
            "latency_ms",
            "latency_p50_ms",
            "latency_p90_ms",
            "project_id",
            "api_key_id",
            "workspace_id",
            "user_id",
            "service_tier",
            "region",
            "tags",
            "department",
            "version",
            "run",
            "rating",
            "agreement",
            "off_contract",
            "cost",
            "cost_currency",
            "cost_reporting",
            "list_cost",
            "list_cost_reporting",
            "off_contract_reporting",
            "reporting_currency",
            "fx_rate",
            "fx_date",
            "fx_status",
            "rating_detail",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "cost": {"help_text": "In cost_currency (the agreement's, or the list price's)"},
            "cost_reporting": {"help_text": "In the reporting currency; null when the FX rate is missing or stale"},
            "list_cost": {"help_text": "At the list price, in cost_currency"},
            "list_cost_reporting": {"help_text": "At the list price, in the reporting currency"},
            "rating_detail": {"help_text": "Per token class: the rule, schedule, tier and rate, or the list rate"},
        }

    @extend_schema_field({"type": "string", "nullable": True, "example": "FA-2026-01"})
    def get_agreement(self, record) -> str | None:
        if record.agreement_id is None:
            return None
        return self.context.get("agreement_references", {}).get(record.agreement_id)
