"""Periods and chargeback invoices (API.md, "Money views and actions")."""

from __future__ import annotations

import django_filters
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.base import APIView, ReadOnlyModelViewSet
from core.api.pagination import PageNumberPagination
from core.api.serializers import RunCreatedSerializer
from core.exceptions import ApplicationError
from procurement.models import Department

from ..models import Invoice, InvoiceLine
from ..selectors.periods import period_rows
from ..services import invoices as services
from ..services.periods import parse_month, period_close


@extend_schema_field({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "example": "2026-10"})
class MonthField(serializers.Field):
    """A month as `YYYY-MM` (stored as its first day)."""

    default_error_messages = {"invalid": "Give a month as YYYY-MM."}

    def to_representation(self, value):
        return value.strftime("%Y-%m")

    def to_internal_value(self, data):
        try:
            return parse_month(data)
        except ApplicationError:
            self.fail("invalid")


# Periods ---------------------------------------------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    period = serializers.CharField()
    status = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(allow_null=True)
    invoiced_at = serializers.DateTimeField(allow_null=True)
    records = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=34, decimal_places=12)
    unrated = serializers.IntegerField()
    unallocated = serializers.IntegerField()
    invoices = serializers.IntegerField()
    issued = serializers.IntegerField()
    acknowledged = serializers.DictField()


class PeriodListApi(APIView):
    """Months with usage, open or closed, newest first, with what closing each involves."""

    policy_resource = "period"

    @extend_schema(responses=PeriodSerializer(many=True))
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(period_rows(), request, view=self)
        return paginator.get_paginated_response(PeriodSerializer(page, many=True).data)


class PeriodCloseApi(APIView):
    """Close a month (finance). 409 when it has not ended, is closed, or holds unrated or
    unallocated usage not acknowledged (`extra` gives the counts)."""

    policy_resource = "period"
    policy_actions = {"post": "close"}

    class PeriodCloseInputSerializer(serializers.Serializer):
        acknowledge_unrated = serializers.BooleanField(default=False)
        acknowledge_unallocated = serializers.BooleanField(default=False)
        note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(request=PeriodCloseInputSerializer, responses=PeriodSerializer)
    def post(self, request, period):
        data = self.PeriodCloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closed = period_close(month=parse_month(period), actor=request.user, **data.validated_data)
        row = next(r for r in period_rows() if r["month"] == closed.month)
        return Response(PeriodSerializer(row).data)


# Invoices --------------------------------------------------------------------------------------


class InvoiceFilterSet(django_filters.FilterSet):
    period = django_filters.CharFilter(method="filter_period", help_text="YYYY-MM")
    department = django_filters.CharFilter(field_name="department__code")
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    kind = django_filters.ChoiceFilter(choices=Invoice.Kind.choices)
    number = django_filters.CharFilter()
    currency = django_filters.CharFilter()

    class Meta:
        model = Invoice
        fields = ["period", "department", "status", "kind", "number", "currency"]

    def filter_period(self, queryset, name, value):
        return queryset.filter(period=parse_month(value))


class InvoiceLineSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    service_period = MonthField(read_only=True)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "kind",
            "charge",
            "service_period",
            "vendor",
            "model",
            "token_class",
            "tokens",
            "unit_price",
            "amount",
            "description",
            "original_line",
        ]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(slug_field="code", read_only=True)
    period = MonthField(read_only=True)
    original = serializers.SlugRelatedField(slug_field="number", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    issued_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    has_pdf = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "kind",
            "department",
            "period",
            "status",
            "currency",
            "total",
            "issue_date",
            "issued_at",
            "due_date",
            "payment_terms_days",
            "original",
            "reason",
            "created_by",
            "approved_by",
            "approved_at",
            "issued_by",
            "has_pdf",
        ]
        read_only_fields = fields

    def get_has_pdf(self, invoice) -> bool:
        return bool(invoice.pdf_sha256)


class InvoiceDetailSerializer(InvoiceSerializer):
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "lines"]
        read_only_fields = fields


class CreditNoteInputSerializer(serializers.Serializer):
    class LineSerializer(serializers.Serializer):
        line = serializers.IntegerField()
        amount = serializers.DecimalField(max_digits=22, decimal_places=3)

    reason = serializers.CharField(max_length=2000)
    lines = LineSerializer(many=True, required=False)


def invoice_queryset():
    return (
        Invoice.objects.select_related("department", "original", "created_by", "approved_by", "issued_by")
        .defer("pdf")
        .order_by("-period", "department__code", "kind", "id")
    )


class InvoiceViewSet(ReadOnlyModelViewSet):
    """Chargeback invoices and credit notes. Department managers see their departments' only."""

    policy_resource = "invoice"
    department_field = "department_id"
    policy_actions = {"approve": "approve", "issue": "issue", "pdf": "view", "credit_note": "change"}
    filterset_class = InvoiceFilterSet
    serializer_class = InvoiceSerializer

    def get_queryset(self):
        queryset = invoice_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related("lines__vendor")
        return self.scope_queryset(queryset)

    def get_serializer_class(self):
        return InvoiceSerializer if self.action == "list" else InvoiceDetailSerializer

    def _answer(self, invoice, code=status.HTTP_200_OK):
        return Response(InvoiceDetailSerializer(self.get_queryset().get(pk=invoice.pk)).data, status=code)

    @extend_schema(request=None, responses=InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._answer(services.invoice_approve(invoice=self.get_object(), actor=request.user))

    @extend_schema(request=None, responses=InvoiceDetailSerializer)
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        return self._answer(services.invoice_issue(invoice=self.get_object(), actor=request.user))

    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="The invoice as PDF")})
    @action(detail=True, methods=["get"])
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        data = services.invoice_pdf_store(invoice=invoice)
        response = HttpResponse(data, content_type="application/pdf")
        name = invoice.number or f"draft-{invoice.department.code}-{invoice.period_label}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    @extend_schema(request=CreditNoteInputSerializer, responses={201: InvoiceDetailSerializer})
    @action(detail=True, methods=["post"], url_path="credit-note")
    def credit_note(self, request, pk=None):
        data = CreditNoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data.get("lines")
        note = services.invoice_credit_note_create(
            invoice=self.get_object(),
            reason=data.validated_data["reason"],
            lines=[dict(item) for item in lines] if lines is not None else None,
            actor=request.user,
        )
        return self._answer(note, status.HTTP_201_CREATED)


class InvoiceGenerateApi(APIView):
    """Generate (or regenerate the drafts of) a closed month's invoices → 202 {"run": id}."""

    policy_resource = "invoice"
    policy_actions = {"post": "change"}

    class InvoiceGenerateInputSerializer(serializers.Serializer):
        period = MonthField()
        department = serializers.SlugRelatedField(
            slug_field="code", queryset=Department.objects.all(), required=False, allow_null=True
        )

    @extend_schema(request=InvoiceGenerateInputSerializer, responses={202: RunCreatedSerializer})
    def post(self, request):
        data = self.InvoiceGenerateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.invoices_generate_start(
            month=data.validated_data["period"], department=data.validated_data.get("department"), actor=request.user
        )
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


class InvoiceIssueMonthApi(APIView):
    """Issue every invoice of a month that is ready (approved when four-eyes is on) → 202 run."""

    policy_resource = "invoice"
    policy_actions = {"post": "issue"}

    class InvoiceIssueMonthInputSerializer(serializers.Serializer):
        period = MonthField()

    @extend_schema(
        operation_id="invoices_issue_month",
        request=InvoiceIssueMonthInputSerializer,
        responses={202: RunCreatedSerializer},
    )
    def post(self, request):
        data = self.InvoiceIssueMonthInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.invoices_issue_start(month=data.validated_data["period"], actor=request.user)
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)
