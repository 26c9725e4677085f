"""Vendor invoices and what is checked against them: reconciliations per vendor and month,
accruals, the GL journal export and the GL account codes it uses (API.md, "Money views and
actions"). Business actions are small views calling one service each."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.api.base import APIView, ModelViewSet, ReadOnlyModelViewSet
from procurement.api.views import ServiceWritesMixin

from ..filtersets_reconciliation import GlAccountFilterSet, ReconciliationFilterSet, VendorInvoiceFilterSet
from ..gl_export import gl_journal, gl_journal_csv
from ..months import previous_month
from ..selectors.accruals import accruals_for_month
from ..selectors.reconciliation import (
    reconciliation_drilldown,
    reconciliation_list,
    vendor_month_figures,
)
from ..selectors.vendor_invoices import gl_account_list, vendor_invoice_list
from ..services import gl_accounts as gl_account_services
from ..services import reconciliation as reconciliation_services
from ..services import vendor_invoices as invoice_services
from .vendor_invoice_serializers import (
    AccrualReportSerializer,
    GlAccountSerializer,
    PeriodQuerySerializer,
    ReconciliationComputeAnswerSerializer,
    ReconciliationComputeInputSerializer,
    ReconciliationDetailSerializer,
    ReconciliationSerializer,
    ReconciliationStatusInputSerializer,
    VendorInvoiceSerializer,
)

PERIOD = OpenApiParameter("period", OpenApiTypes.STR, description="The month, YYYY-MM; default the previous month")
HISTORY_LIMIT = 100


def period_param(request, *, default_previous: bool = False):
    """`?period=YYYY-MM`; anything else answers 400 in the error shape. Absent: 400, or the
    previous month (UTC) where `default_previous` (accruals and the GL journal are month-end
    reports: last month is what one asks for)."""
    if default_previous and not request.query_params.get("period"):
        return previous_month()
    query = PeriodQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data["period"]


# Vendor invoices -------------------------------------------------------------------------------


class VendorInvoiceViewSet(ModelViewSet):
    """Vendors' invoices: entered by finance (JSON, or multipart with a `document` and the `lines`
    as JSON text), changed while received, approved before payment (`POST …/approve`). Filters
    `vendor`, `period` (YYYY-MM), `status`, `currency`, `tax_type`, `number`, `po_number`, dates."""

    policy_resource = "vendor_invoice"
    serializer_class = VendorInvoiceSerializer
    filterset_class = VendorInvoiceFilterSet
    lookup_value_regex = r"\d+"
    ordering_fields = [
        "id",
        "invoice_date",
        "due_date",
        "period",
        "number",
        "vendor__slug",
        "total",
        "subtotal",
        "status",
        "created_at",
    ]

    def get_queryset(self):
        return self.scope_queryset(vendor_invoice_list())

    @staticmethod
    def _split(data: dict) -> tuple[dict, list | None, object]:
        lines = data.pop("lines", None)
        document = data.pop("document", None)
        return data, lines, document

    def perform_create(self, serializer):
        data, lines, document = self._split(dict(serializer.validated_data))
        serializer.instance = invoice_services.vendor_invoice_create(
            actor=self.request.user, lines=lines, document=document, **data
        )

    def perform_update(self, serializer):
        data, lines, document = self._split(dict(serializer.validated_data))
        serializer.instance = invoice_services.vendor_invoice_update(
            invoice=serializer.instance, actor=self.request.user, lines=lines, document=document, **data
        )

    def destroy(self, request, *args, **kwargs):
        invoice_services.vendor_invoice_delete(invoice=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VendorInvoiceApproveApi(APIView):
    """Approve the invoice for payment; approving an approved invoice answers 409."""

    policy_resource = "vendor_invoice"
    policy_actions = {"post": "approve"}

    @extend_schema(request=None, responses=VendorInvoiceSerializer)
    def post(self, request, pk):
        invoice = get_object_or_404(self.scope_queryset(vendor_invoice_list()), pk=pk)
        invoice_services.vendor_invoice_approve(invoice=invoice, actor=request.user)
        return Response(VendorInvoiceSerializer(vendor_invoice_list().get(pk=pk)).data)


class VendorInvoiceDocumentSerializer(serializers.Serializer):
    file = serializers.FileField()


class VendorInvoiceDocumentApi(APIView):
    """`GET` downloads the invoice's document; `POST` (multipart `file`) attaches or replaces it
    while the invoice is not approved (413 too large, 415 not a PDF, image or e-invoice)."""

    policy_resource = "vendor_invoice"

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The document")})
    def get(self, request, pk):
        invoice = get_object_or_404(self.scope_queryset(vendor_invoice_list()), pk=pk)
        if not invoice.document:
            raise Http404
        name = invoice.document.name.rsplit("/", 1)[-1]
        return FileResponse(invoice.document.open("rb"), as_attachment=True, filename=name)

    @extend_schema(request={"multipart/form-data": VendorInvoiceDocumentSerializer}, responses=VendorInvoiceSerializer)
    def post(self, request, pk):
        invoice = get_object_or_404(self.scope_queryset(vendor_invoice_list()), pk=pk)
        upload = VendorInvoiceDocumentSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        invoice_services.vendor_invoice_attach_document(
            invoice=invoice, file=upload.validated_data["file"], actor=request.user
        )
        return Response(VendorInvoiceSerializer(vendor_invoice_list().get(pk=pk)).data)


# Reconciliations -------------------------------------------------------------------------------


class ReconciliationViewSet(ReadOnlyModelViewSet):
    """Per vendor and month, in the vendor's currency: expected charges (rated usage + true-ups +
    shortfall − SLA credits) against the invoices (subtotals) and the vendor's cost feed, the
    variance and the status. `?period=YYYY-MM` computes (refreshes) that month's rows first; a
    row's page (`reconciliations/{id}/`) refreshes it and adds the drill-down by model and by day
    and the history."""

    policy_resource = "reconciliation"
    serializer_class = ReconciliationSerializer
    filterset_class = ReconciliationFilterSet
    lookup_value_regex = r"\d+"
    ordering_fields = [
        "period",
        "vendor__slug",
        "status",
        "expected",
        "invoiced",
        "vendor_reported",
        "variance",
        "variance_percent",
        "computed_at",
    ]

    def get_queryset(self):
        return self.scope_queryset(reconciliation_list())

    def list(self, request, *args, **kwargs):
        if "period" in request.query_params:
            reconciliation_services.reconciliations_compute_month(month=period_param(request), actor=request.user)
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=ReconciliationDetailSerializer)
    def retrieve(self, request, *args, **kwargs):
        row = self.get_object()
        figures = vendor_month_figures(month=row.period, vendor_ids=[row.vendor_id])[row.vendor_id]
        row = reconciliation_services.reconciliation_compute(
            vendor=row.vendor, month=row.period, actor=request.user, figures=figures
        )
        history = list(row.history.select_related("history_user").order_by("-history_date", "-pk")[:HISTORY_LIMIT])
        context = {**self.get_serializer_context(), "drilldown": reconciliation_drilldown(figures), "history": history}
        return Response(ReconciliationDetailSerializer(row, context=context).data)


class ReconciliationStatusApi(APIView):
    """A person's decision on a vendor-month: `disputed` or `accepted` (kept through
    recomputations), or `matched` / `needs_review`, with a note. An unknown status answers 400."""

    policy_resource = "reconciliation"

    @extend_schema(request=ReconciliationStatusInputSerializer, responses=ReconciliationSerializer)
    def post(self, request, pk):
        row = get_object_or_404(self.scope_queryset(reconciliation_list()), pk=pk)
        data = ReconciliationStatusInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = reconciliation_services.reconciliation_status_set(
            reconciliation=row,
            status=data.validated_data["status"],
            note=data.validated_data["note"],
            actor=request.user,
        )
        return Response(ReconciliationSerializer(reconciliation_list().get(pk=row.pk)).data)


class ReconciliationComputeApi(APIView):
    """Compute (refresh) a month's reconciliations — every vendor with something to reconcile,
    or the one `vendor` given — and answer them."""

    policy_resource = "reconciliation"

    @extend_schema(request=ReconciliationComputeInputSerializer, responses=ReconciliationComputeAnswerSerializer)
    def post(self, request):
        data = ReconciliationComputeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        month, vendor = data.validated_data["period"], data.validated_data.get("vendor")
        if vendor is not None:
            rows = [reconciliation_services.reconciliation_compute(vendor=vendor, month=month, actor=request.user)]
        else:
            rows = reconciliation_services.reconciliations_compute_month(month=month, actor=request.user)
        rows = list(reconciliation_list().filter(pk__in=[row.pk for row in rows]))
        answer = {"period": month, "count": len(rows), "results": rows}
        return Response(ReconciliationComputeAnswerSerializer(answer).data)


# Accruals and the GL journal -------------------------------------------------------------------


class AccrualsApi(APIView):
    """The month's accruals per vendor: usage consumed (rated) in the vendor's currency and in the
    reporting currency, what the vendor's invoices for the month cover, and the accrual; the
    total in the reporting currency."""

    policy_resource = "accrual"

    @extend_schema(parameters=[PERIOD], responses=AccrualReportSerializer)
    def get(self, request):
        report = accruals_for_month(month=period_param(request, default_previous=True))
        answer = {
            "month": report.month,
            "currency": report.currency,
            "closing_day": report.closing_day,
            "total": report.total,
            "consumed_total": report.consumed_total,
            "count": len(report.rows),
            "next": None,
            "previous": None,
            "results": report.rows,
            "warnings": report.warnings,
        }
        return Response(AccrualReportSerializer(answer).data)


class GlExportApi(APIView):
    """The month's GL journal as CSV (one header row; columns date, journal, account, cost_centre,
    department, vendor, description, debit, credit, currency): each department's rated spend per
    vendor debited to the expense account on its cost centre, credited per vendor to the accrued
    liability; amounts at the reporting currency's minor unit, balanced."""

    policy_resource = "accrual"

    @extend_schema(parameters=[PERIOD], responses={(200, "text/csv"): OpenApiResponse(description="The journal")})
    def get(self, request):
        journal = gl_journal(month=period_param(request, default_previous=True))
        return gl_csv_response(journal)


def gl_csv_response(journal) -> HttpResponse:
    response = HttpResponse(gl_journal_csv(journal), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{journal.filename}"'
    response["X-Unpriced-Records"] = str(journal.unpriced_records)
    return response


class GlAccountViewSet(ServiceWritesMixin, ModelViewSet):
    """Account codes of the GL journal: per purpose (expense, accrual, recovery, payable),
    optionally only for a vendor and/or a department; the most specific row wins."""

    policy_resource = "gl_account"
    serializer_class = GlAccountSerializer
    filterset_class = GlAccountFilterSet
    lookup_value_regex = r"\d+"
    ordering_fields = ["id", "purpose", "account_code", "vendor__slug", "department__code"]

    def get_queryset(self):
        return self.scope_queryset(gl_account_list())

    def save_object(self, instance, actor, data):
        return gl_account_services.gl_account_save(account=instance, actor=actor, **data)

    def delete_object(self, instance, actor):
        gl_account_services.gl_account_delete(account=instance, actor=actor)


# Routes and paths (billing/api/urls.py adds them to the API's) ---------------------------------

ROUTES = [
    ("vendor-invoices", VendorInvoiceViewSet, "vendor-invoice"),
    ("reconciliations", ReconciliationViewSet, "reconciliation"),
    ("gl-accounts", GlAccountViewSet, "gl-account"),
]
# API.md writes the actions without a trailing slash; with one they work too. These come before
# the router's routes, so `reconciliations/compute` is never taken for a reconciliation's id.
PATHS = [
    re_path(
        r"^vendor-invoices/(?P<pk>\d+)/approve/?$", VendorInvoiceApproveApi.as_view(), name="vendor-invoice-approve"
    ),
    re_path(
        r"^vendor-invoices/(?P<pk>\d+)/document/?$", VendorInvoiceDocumentApi.as_view(), name="vendor-invoice-document"
    ),
    re_path(r"^reconciliations/compute/?$", ReconciliationComputeApi.as_view(), name="reconciliation-compute"),
    re_path(r"^reconciliations/(?P<pk>\d+)/status/?$", ReconciliationStatusApi.as_view(), name="reconciliation-status"),
    re_path(r"^accruals/?$", AccrualsApi.as_view(), name="accruals"),
    re_path(r"^gl-export/?$", GlExportApi.as_view(), name="gl-export"),
]
