"""Monthly reports (API.md: `GET reports/`, `POST reports/send {period}` → 202 run).

`GET reports/` lists the archived packs the caller may read (a department manager: only the
packs of their departments); `GET reports/{id}/` adds whom it was emailed to (a manager sees
only their own delivery); `GET reports/{id}/pdf` is the PDF. `POST reports/send` (finance)
writes and emails a month's packs now.
"""

from __future__ import annotations

import django_filters
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from billing.api.invoices import MonthField
from billing.filtersets_reconciliation import MonthFilter
from core.api.base import APIView, ReadOnlyModelViewSet
from core.api.serializers import RunCreatedSerializer
from core.policy import is_department_scoped

from ..models import MonthlyReport, ReportDelivery
from ..selectors.reports import report_list, report_pdf
from ..services import reports as services


class ReportFilterSet(django_filters.FilterSet):
    period = MonthFilter(label="Month (YYYY-MM)")
    scope = django_filters.ChoiceFilter(choices=MonthlyReport.Scope.choices)
    trigger = django_filters.ChoiceFilter(choices=MonthlyReport.Trigger.choices, label="Sent by")

    class Meta:
        model = MonthlyReport
        fields = ["period", "scope", "trigger"]


class ReportDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportDelivery
        fields = ["email", "status", "attempts", "sent_at", "error"]


class ReportSerializer(serializers.ModelSerializer):
    period = MonthField(read_only=True)
    departments = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    recipients = serializers.IntegerField(read_only=True)
    summary = serializers.DictField(read_only=True)

    class Meta:
        model = MonthlyReport
        fields = [
            "id",
            "period",
            "scope",
            "departments",
            "title",
            "trigger",
            "run",
            "currency",
            "summary",
            "recipients",
            "pdf_sha256",
            "generated_at",
        ]


class ReportDetailSerializer(ReportSerializer):
    deliveries = serializers.SerializerMethodField()

    class Meta(ReportSerializer.Meta):
        fields = [*ReportSerializer.Meta.fields, "deliveries"]

    @extend_schema_field(ReportDeliverySerializer(many=True))
    def get_deliveries(self, report) -> list[dict]:
        deliveries = report.deliveries.order_by("email")
        request = self.context.get("request")
        if request is not None and is_department_scoped(request.user, "report"):
            deliveries = deliveries.filter(user=request.user)  # a manager: their own only
        return ReportDeliverySerializer(deliveries, many=True).data


class ReportSendInputSerializer(serializers.Serializer):
    period = MonthField()


class ReportViewSet(ReadOnlyModelViewSet):
    """The archive of monthly report packs, newest first."""

    policy_resource = "report"
    policy_actions = {"pdf": "view"}
    serializer_class = ReportSerializer
    filterset_class = ReportFilterSet
    ordering_fields = ["period", "generated_at", "id"]
    ordering = ["-period", "-generated_at"]
    lookup_value_regex = r"\d+"
    queryset = MonthlyReport.objects.none()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return MonthlyReport.objects.none()
        return report_list(self.request.user).prefetch_related("departments")

    def get_serializer_class(self):
        return ReportDetailSerializer if self.action == "retrieve" else ReportSerializer

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="The pack as PDF")})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        report = self.get_object()
        response = HttpResponse(report_pdf(report), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
        return response


class ReportSendApi(APIView):
    """Write and email a month's packs now (finance) → 202 {"run": id}; 400 for a month that has
    not ended."""

    policy_resource = "report"
    policy_actions = {"post": "send"}

    @extend_schema(request=ReportSendInputSerializer, responses={202: RunCreatedSerializer})
    def post(self, request):
        data = ReportSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.reports_send_start(period=data.validated_data["period"], actor=request.user)
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


ROUTES = [("reports", ReportViewSet, "report")]
PATHS = [
    path("reports/send", ReportSendApi.as_view(), name="report-send"),
    path("reports/send/", ReportSendApi.as_view(), name="report-send-slash"),
    path("reports/<int:pk>/pdf", ReportViewSet.as_view({"get": "pdf"}), name="report-pdf-bare"),
]
