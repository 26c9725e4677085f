"""Vendor scorecards (`GET vendors/{slug}/scorecard`) and performance samples upload
(`POST vendors/{slug}/performance-samples`)."""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.urls import re_path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from core.api.base import APIView
from core.exceptions import ApplicationError
from procurement.models import Vendor

from ..selectors.scorecard import vendor_scorecard
from ..services.sla import performance_samples_import


class ScorecardSlaSerializer(serializers.Serializer):
    agreement = serializers.CharField(source="agreement.reference")
    period = serializers.DateField(format="%Y-%m")
    metric = serializers.CharField()
    target = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    measured = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    breach = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    credit_percent = serializers.DecimalField(max_digits=9, decimal_places=4)
    credit = serializers.DecimalField(max_digits=34, decimal_places=12)
    currency = serializers.CharField()
    status = serializers.CharField()


class FamilyPeerSerializer(serializers.Serializer):
    vendor = serializers.CharField()
    vendor_name = serializers.CharField()
    tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=34, decimal_places=12)
    cost_per_million = serializers.DecimalField(max_digits=24, decimal_places=6, allow_null=True)
    latency_p50_ms = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    latency_p90_ms = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    availability = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)


class ShareSerializer(serializers.Serializer):
    vendor = serializers.CharField()
    vendor_name = serializers.CharField()
    cost = serializers.DecimalField(max_digits=34, decimal_places=12)
    share = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    role = serializers.CharField()
    over_policy = serializers.BooleanField()


class CertificationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField()
    status = serializers.CharField()


class ScorecardSerializer(serializers.Serializer):
    vendor = serializers.CharField(source="vendor.slug")
    start = serializers.DateField()
    end = serializers.DateField()
    latency_p50_ms = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    latency_p90_ms = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    latency_method = serializers.CharField(source="performance.latency_method", allow_null=True)
    availability = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    error_rate = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    throughput_fluctuation = serializers.DecimalField(max_digits=20, decimal_places=6, allow_null=True)
    requests = serializers.IntegerField(source="performance.requests")
    failed_requests = serializers.IntegerField(source="performance.failed_requests")
    cost = serializers.DecimalField(max_digits=34, decimal_places=12)
    cost_share = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    currency = serializers.CharField()
    trend = serializers.ListField(child=serializers.DictField())
    sla = ScorecardSlaSerializer(many=True)
    certifications = CertificationSerializer(many=True)
    dpa_signed = serializers.BooleanField()
    families = serializers.DictField(child=FamilyPeerSerializer(many=True))
    shares = ShareSerializer(many=True)
    policy_percent = serializers.DecimalField(max_digits=7, decimal_places=2)


class SamplesImportedSerializer(serializers.Serializer):
    layout = serializers.CharField()
    imported = serializers.IntegerField()
    replaced = serializers.IntegerField()
    rejected = serializers.ListField(child=serializers.DictField())


class VendorScorecardApi(APIView):
    """A vendor's performance, SLA results, cost share and trend, certifications and DPA, its
    model families beside the other vendors serving them, and every vendor's share of spend
    against the concentration policy. Range: `start`…`end` (inclusive; default the last 30 days)."""

    policy_resource = "scorecard"

    class ScorecardQuerySerializer(serializers.Serializer):
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)

    @extend_schema(
        parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str)], responses=ScorecardSerializer
    )
    def get(self, request, slug):
        vendor = get_object_or_404(Vendor, slug=slug)
        query = self.ScorecardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        end = query.validated_data.get("end") or timezone.now().date() - timedelta(days=1)
        start = query.validated_data.get("start") or end - timedelta(days=29)
        if start > end:
            raise ApplicationError("start must not be after end", extra={"fields": {"start": ["After end."]}})
        return Response(ScorecardSerializer(vendor_scorecard(vendor=vendor, start=start, end=end)).data)


class PerformanceSamplesUploadApi(APIView):
    """Upload a vendor's performance samples as CSV (layout `request` or `daily`, see the README):
    all or nothing; rejected rows come back with their line numbers and reasons (400)."""

    policy_resource = "sla_evaluation"
    policy_actions = {"post": "change"}
    parser_classes = [MultiPartParser, FormParser]

    class SamplesUploadSerializer(serializers.Serializer):
        layout = serializers.ChoiceField(choices=["request", "daily"])
        file = serializers.FileField()

    @extend_schema(request={"multipart/form-data": SamplesUploadSerializer}, responses={201: SamplesImportedSerializer})
    def post(self, request, slug):
        vendor = get_object_or_404(Vendor, slug=slug)
        data = self.SamplesUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > 64 * 1024 * 1024:
            raise ApplicationError("The file is larger than 64 MiB")
        result = performance_samples_import(
            vendor=vendor, layout=data.validated_data["layout"], content=upload.read(), actor=request.user
        )
        body = {
            "layout": result.layout,
            "imported": result.imported,
            "replaced": result.replaced,
            "rejected": result.rejected,
        }
        if result.rejected:
            raise ApplicationError(f"{len(result.rejected)} rows were rejected: nothing was stored", extra=body)
        return Response(body, status=status.HTTP_201_CREATED)


PATHS = [
    re_path(r"^vendors/(?P<slug>[-\w]+)/scorecard/?$", VendorScorecardApi.as_view(), name="vendor-scorecard"),
    re_path(
        r"^vendors/(?P<slug>[-\w]+)/performance-samples/?$",
        PerformanceSamplesUploadApi.as_view(),
        name="vendor-performance-samples",
    ),
]
