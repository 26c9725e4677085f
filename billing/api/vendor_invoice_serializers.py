"""Shapes of the vendor invoice, reconciliation, accrual and GL account endpoints. Money travels as
decimal strings: invoice amounts at the currency's minor unit, computed figures at 12 places."""

from __future__ import annotations

import json

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from procurement.models import Department, Vendor

from ..models import GlAccount, Reconciliation, VendorInvoice
from ..months import PeriodError, parse_period
from ..selectors.reconciliation import reconciliation_basis
from ..selectors.vendor_invoices import minor_unit_text
from .serializers import DecimalStringField, OptionalDecimalStringField

MONEY_INPUT = {"max_digits": 22, "decimal_places": 6}


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-01"})
class PeriodField(serializers.Field):
    """A month as YYYY-MM (stored as its first day)."""

    default_error_messages = {"invalid": "{message}"}

    def to_representation(self, value):
        return value.strftime("%Y-%m")

    def to_internal_value(self, data):
        try:
            return parse_period(data)
        except PeriodError as exc:
            self.fail("invalid", message=str(exc))


# Vendor invoices -------------------------------------------------------------------------------


class VendorInvoiceLineSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=300, allow_blank=True)
    model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    tokens = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**63 - 1)
    amount = serializers.DecimalField(**MONEY_INPUT, help_text="Decimal string at the currency's minor unit")


class LinesField(serializers.ListField):
    """The lines as a JSON list — in a multipart body (with a document), as JSON text."""

    child = VendorInvoiceLineSerializer()

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):
            if self.field_name not in dictionary:
                return empty
            raw = dictionary.get(self.field_name)
            if isinstance(raw, str):
                try:
                    return json.loads(raw) if raw.strip() else []
                except ValueError:
                    return raw  # refused below as "not a list"
            return raw
        return super().get_value(dictionary)

    def to_representation(self, data):
        return super().to_representation(data.all() if hasattr(data, "all") else data)


@extend_schema_field({"type": "string", "format": "binary", "nullable": True})
class DocumentField(serializers.FileField):
    """Uploaded (multipart) as a file; answered as the path that downloads it, or null."""

    def to_representation(self, value):
        if not value:
            return None
        return reverse("api:vendor-invoice-document", kwargs={"pk": value.instance.pk})


class VendorInvoiceSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", queryset=Vendor.objects.all(), help_text="Vendor slug")
    period = PeriodField(help_text="The month of usage the invoice charges, YYYY-MM")
    due_date = serializers.DateField(
        required=False, allow_null=True, help_text="Default: invoice date + the payment terms (agreement, else vendor)"
    )
    currency = serializers.CharField(
        max_length=3, required=False, allow_blank=True, help_text="Default: the vendor's billing currency"
    )
    subtotal = serializers.DecimalField(
        **MONEY_INPUT, required=False, allow_null=True, help_text="Before tax; default (and must be) the sum of lines"
    )
    tax = serializers.DecimalField(**MONEY_INPUT, required=False, help_text="Default 0")
    total = serializers.DecimalField(
        **MONEY_INPUT, required=False, allow_null=True, help_text="Default (and must be) subtotal + tax"
    )
    tax_type = serializers.ChoiceField(
        choices=VendorInvoice.TaxType.choices, required=False, help_text="Default: from the vendor's invoice type"
    )
    lines = LinesField(required=False, help_text="Replace the lines when sent; in multipart, as JSON text")
    document = DocumentField(
        required=False, allow_null=True, help_text="PDF, image or XML/OFD e-invoice (multipart); answered as its path"
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = VendorInvoice
        fields = [
            "id",
            "vendor",
            "number",
            "po_number",
            "invoice_date",
            "period",
            "due_date",
            "currency",
            "subtotal",
            "tax",
            "total",
            "tax_type",
            "status",
            "notes",
            "lines",
            "document",
            "created_by",
            "created_at",
            "approved_by",
            "approved_at",
        ]
        read_only_fields = ["id", "status", "created_by", "created_at", "approved_by", "approved_at"]
        validators = []  # one number per vendor: the service answers with a clear message
        extra_kwargs = {"po_number": {"required": False}, "notes": {"required": False}}

    def to_representation(self, invoice):
        data = super().to_representation(invoice)
        for name in ("subtotal", "tax", "total"):
            data[name] = minor_unit_text(getattr(invoice, name), invoice.currency)
        data["lines"] = [
            {
                "position": line.position,
                "description": line.description,
                "model": line.model,
                "tokens": line.tokens,
                "amount": minor_unit_text(line.amount, invoice.currency),
            }
            for line in invoice.lines.all()
        ]
        return data


# Reconciliations -------------------------------------------------------------------------------


class ReconciliationSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    vendor_name = serializers.CharField(source="vendor.name", read_only=True)
    period = PeriodField(read_only=True)
    expected_usage = DecimalStringField(help_text="Rated usage + volume true-ups, in the vendor's currency")
    expected_shortfall = DecimalStringField(help_text="Take-or-pay shortfall charges of periods ending in the month")
    expected_sla_credits = DecimalStringField(help_text="SLA credits for the month (not waived)")
    expected = DecimalStringField(help_text="expected_usage + expected_shortfall − expected_sla_credits")
    invoiced = OptionalDecimalStringField(help_text="Subtotals (before tax) of the month's vendor invoices")
    vendor_reported = OptionalDecimalStringField(help_text="The vendor's cost feed for the month (tax lines excluded)")
    variance = OptionalDecimalStringField(help_text="invoiced − expected, else vendor_reported − expected")
    variance_percent = OptionalDecimalStringField(help_text="variance ÷ expected × 100")
    tolerance_percent = DecimalStringField()
    basis = serializers.SerializerMethodField(help_text="What the variance compares with: invoice, vendor_feed or none")
    feed_variance = serializers.SerializerMethodField(help_text="vendor_reported − expected, whatever the basis")

    class Meta:
        model = Reconciliation
        fields = [
            "id",
            "vendor",
            "vendor_name",
            "period",
            "currency",
            "expected_usage",
            "expected_shortfall",
            "expected_sla_credits",
            "expected",
            "invoiced",
            "vendor_reported",
            "variance",
            "variance_percent",
            "tolerance_percent",
            "basis",
            "feed_variance",
            "status",
            "note",
            "warnings",
            "computed_at",
        ]
        read_only_fields = fields

    def get_basis(self, row) -> str:
        return reconciliation_basis(row)

    @extend_schema_field(OptionalDecimalStringField())
    def get_feed_variance(self, row) -> str | None:
        if row.vendor_reported is None:
            return None
        return format(row.vendor_reported - row.expected, "f")


class ModelRowSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="Empty: cost lines or invoice lines without a model")
    tokens = serializers.IntegerField()
    expected = DecimalStringField()
    vendor_reported = OptionalDecimalStringField()
    invoiced = OptionalDecimalStringField(help_text="From the invoices' lines naming the model")
    difference = OptionalDecimalStringField(help_text="vendor_reported − expected")


class DayRowSerializer(serializers.Serializer):
    date = serializers.DateField(source="day")
    tokens = serializers.IntegerField()
    expected = DecimalStringField()
    vendor_reported = OptionalDecimalStringField()
    difference = OptionalDecimalStringField(help_text="vendor_reported − expected")


class InvoiceFigureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    invoice_date = serializers.DateField()
    status = serializers.CharField()
    currency = serializers.CharField()
    subtotal = DecimalStringField()
    converted = OptionalDecimalStringField(help_text="In the vendor's currency; null when no rate could be used")


class ShortfallFigureSerializer(serializers.Serializer):
    agreement = serializers.CharField()
    commitment = serializers.IntegerField(source="commitment_id")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    final = serializers.BooleanField()
    currency = serializers.CharField()
    charge = DecimalStringField()
    converted = OptionalDecimalStringField()


class CreditFigureSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agreement = serializers.CharField()
    metric = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    credit = DecimalStringField()
    converted = OptionalDecimalStringField()


class DrilldownSerializer(serializers.Serializer):
    by_model = ModelRowSerializer(many=True)
    by_day = DayRowSerializer(many=True)
    invoices = InvoiceFigureSerializer(many=True, source="figures.invoices")
    shortfalls = ShortfallFigureSerializer(many=True, source="figures.shortfalls")
    sla_credits = CreditFigureSerializer(many=True, source="figures.credits")
    invoice_lines_missing = serializers.BooleanField(
        help_text="Some invoice has no lines: the by-model invoiced figures do not add up to the invoiced total"
    )


class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="history_date")
    user = serializers.SerializerMethodField()
    change = serializers.CharField(source="history_change_reason", allow_null=True)
    status = serializers.CharField()
    note = serializers.CharField()
    expected = DecimalStringField()
    invoiced = OptionalDecimalStringField()
    vendor_reported = OptionalDecimalStringField()
    variance = OptionalDecimalStringField()

    def get_user(self, entry) -> str | None:
        return entry.history_user.username if entry.history_user else None


class ReconciliationDetailSerializer(ReconciliationSerializer):
    drilldown = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    class Meta(ReconciliationSerializer.Meta):
        fields = [*ReconciliationSerializer.Meta.fields, "drilldown", "history"]
        read_only_fields = fields

    @extend_schema_field(DrilldownSerializer)
    def get_drilldown(self, row) -> dict:
        return DrilldownSerializer(self.context["drilldown"]).data

    @extend_schema_field(HistoryEntrySerializer(many=True))
    def get_history(self, row) -> list:
        return HistoryEntrySerializer(self.context.get("history", []), many=True).data


class ReconciliationStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Reconciliation.Status.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class ReconciliationComputeInputSerializer(serializers.Serializer):
    period = PeriodField()
    vendor = serializers.SlugRelatedField(
        slug_field="slug", queryset=Vendor.objects.all(), required=False, help_text="Only this vendor"
    )


class ReconciliationComputeAnswerSerializer(serializers.Serializer):
    period = PeriodField()
    count = serializers.IntegerField()
    results = ReconciliationSerializer(many=True)


class PeriodQuerySerializer(serializers.Serializer):
    period = PeriodField(help_text="YYYY-MM")


# Accruals --------------------------------------------------------------------------------------


class NoteSerializer(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()


class AccrualRowSerializer(serializers.Serializer):
    vendor = serializers.CharField(source="vendor.slug")
    vendor_name = serializers.CharField(source="vendor.name")
    currency = serializers.CharField(help_text="The vendor's billing currency")
    consumed = DecimalStringField(help_text="Rated usage + true-ups of the month")
    invoiced = DecimalStringField(help_text="Subtotals of the month's vendor invoices")
    covered = DecimalStringField(help_text="What the invoices cover of the consumption")
    accrual = DecimalStringField(help_text="max(0, consumed − invoiced)")
    over_invoiced = DecimalStringField(help_text="max(0, invoiced − consumed)")
    invoices = serializers.IntegerField()
    reporting_currency = serializers.CharField()
    consumed_reporting = DecimalStringField()
    accrual_reporting = OptionalDecimalStringField(
        help_text="The accrual at the closing rate (the month's last day); null without a usable rate"
    )
    shortfall_accrual = DecimalStringField(
        help_text="Shortfalls projected for take-or-pay periods still running, accrued to the month's end "
        "(vendor currency)"
    )
    shortfall_accrual_reporting = DecimalStringField()
    notes = NoteSerializer(many=True)


class AccrualReportSerializer(serializers.Serializer):
    period = PeriodField(source="month")
    currency = serializers.CharField(help_text="The reporting currency")
    closing_day = serializers.DateField(help_text="The rate of this day converts the accruals")
    total = DecimalStringField(help_text="The accruals in the reporting currency")
    consumed_total = DecimalStringField()
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = AccrualRowSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


# GL accounts -----------------------------------------------------------------------------------


class GlAccountSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(
        slug_field="slug", queryset=Vendor.objects.all(), allow_null=True, required=False, help_text="Vendor slug"
    )
    department = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Department.objects.all(),
        allow_null=True,
        required=False,
        help_text="Department code",
    )

    class Meta:
        model = GlAccount
        fields = ["id", "purpose", "vendor", "department", "account_code", "cost_centre", "description"]
        read_only_fields = ["id"]
        validators = []  # one per purpose and scope: the service answers with a clear message
