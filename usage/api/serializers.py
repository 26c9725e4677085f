from __future__ import annotations

from rest_framework import serializers

from procurement.models import Vendor

from ..models import AttributionRule, IngestionRun, RejectedRow, Source
from ..models.attribution import validate_dimension
from ..models.sources import Format


class SourceSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(
        slug_field="slug", queryset=Vendor.objects.all(), allow_null=True, required=False
    )

    class Meta:
        model = Source
        fields = ["slug", "name", "vendor", "format", "is_active", "description", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
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
    cost = serializers.CharField(help_text="Reporting currency, 12 decimal places")
    unpriced_records = serializers.IntegerField()


class SummarySerializer(serializers.Serializer):
    currency = serializers.CharField()
    rows = SummaryRowSerializer(many=True)
