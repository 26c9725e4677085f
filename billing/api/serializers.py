"""Output shapes of the status endpoints: decimals as strings, never floats (API.md)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field({"type": "string", "format": "decimal", "example": "1234.500000000000"})
class DecimalStringField(serializers.Field):
    """A Decimal as plain text with its full scale ("1234.500000000000", never "1.2345E+3")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else format(value, "f")


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "42.50"})
class OptionalDecimalStringField(DecimalStringField):
    """A decimal string, or null where the figure does not apply."""


class AsOfQuerySerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False, help_text="The last day counted (YYYY-MM-DD); default today (UTC).")


# Commitments -----------------------------------------------------------------------------------


class CommitmentPointSerializer(serializers.Serializer):
    date = serializers.DateField(source="day")
    consumed = OptionalDecimalStringField(help_text="Cumulative; null after as_of")
    expected = DecimalStringField(help_text="Cumulative commitment pro rata")


class CommitmentStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    unit = serializers.CharField(help_text="'tokens' or the agreement's currency (a money commitment)")
    treatment = serializers.CharField()
    period = serializers.CharField()
    token_classes = serializers.ListField(child=serializers.CharField(), help_text="Empty: all four classes")
    currency = serializers.CharField(help_text="The agreement's currency: of money figures and of the charges")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    period_days = serializers.IntegerField()
    elapsed_days = serializers.IntegerField()
    final = serializers.BooleanField(help_text="The period has ended: consumption and charges are final")
    committed = DecimalStringField(help_text="In the commitment's unit (whole tokens, or money at 12 places)")
    consumed = DecimalStringField()
    expected_to_date = DecimalStringField(help_text="committed × elapsed days ÷ period days")
    utilisation = OptionalDecimalStringField(help_text="consumed ÷ committed, in percent")
    projection_method = serializers.CharField()
    projected_end = DecimalStringField()
    projected_low = DecimalStringField()
    projected_high = DecimalStringField()
    projected_shortfall = DecimalStringField(help_text="max(0, committed − projected_end)")
    shortfall_price = OptionalDecimalStringField(help_text="Per 1 000 000 tokens not consumed")
    shortfall_charge = DecimalStringField(
        help_text="Take-or-pay, in the agreement's currency: due at the period's end; projected while not final"
    )
    drawn = OptionalDecimalStringField(help_text="Prepaid: min(consumed, committed)")
    remaining = OptionalDecimalStringField(help_text="Prepaid: committed − drawn")
    overage = OptionalDecimalStringField(help_text="Prepaid: consumed beyond the prepaid amount")
    projected_overage = OptionalDecimalStringField(help_text="Prepaid: projected_end beyond the prepaid amount")
    expiring = OptionalDecimalStringField(help_text="Prepaid: left at the period's end, written off (projected)")
    daily = CommitmentPointSerializer(source="series", many=True)


class CommitmentStatusAnswerSerializer(serializers.Serializer):
    agreement = serializers.CharField(help_text="The agreement's reference")
    as_of = serializers.DateField()
    commitments = CommitmentStatusSerializer(many=True)


# Budgets ---------------------------------------------------------------------------------------


class BudgetMonthSerializer(serializers.Serializer):
    month = serializers.SerializerMethodField()
    budget = DecimalStringField()
    actual = OptionalDecimalStringField(help_text="Month to date; null for months after as_of")
    cumulative_budget = DecimalStringField()
    cumulative_actual = OptionalDecimalStringField()

    def get_month(self, row) -> str:
        return row.month.strftime("%Y-%m")


class BudgetThresholdSerializer(serializers.Serializer):
    percent = DecimalStringField()
    amount = DecimalStringField()
    crossed = serializers.BooleanField()
    crossed_on = serializers.DateField(allow_null=True)


class BudgetVendorSerializer(serializers.Serializer):
    vendor = serializers.CharField(source="slug")
    name = serializers.CharField()
    actual = DecimalStringField()
    share = OptionalDecimalStringField(help_text="Percent of the budget's actual")


class BudgetStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    currency = serializers.CharField(help_text="The reporting currency")
    fiscal_year = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    as_of = serializers.DateField()
    elapsed_days = serializers.IntegerField()
    year_days = serializers.IntegerField()
    annual = DecimalStringField()
    actual = DecimalStringField(help_text="Cost of the department and its sub-departments (the vendor's, if named)")
    budget_to_date = DecimalStringField(help_text="Ended months' phased amounts + the current month's pro rata")
    variance_to_date = DecimalStringField(help_text="budget_to_date − actual")
    percent_used = OptionalDecimalStringField(help_text="actual ÷ annual × 100")
    projection_method = serializers.CharField()
    projected_year_end = DecimalStringField()
    projected_low = DecimalStringField()
    projected_high = DecimalStringField()
    projected_overrun_date = serializers.DateField(allow_null=True)
    thresholds_crossed = serializers.ListField(child=DecimalStringField())
    thresholds = BudgetThresholdSerializer(many=True)
    unpriced_records = serializers.IntegerField(help_text="Records in scope without a reporting-currency cost")
    months = BudgetMonthSerializer(many=True)
    vendors = BudgetVendorSerializer(many=True, help_text="Per vendor, when the budget covers all vendors")
