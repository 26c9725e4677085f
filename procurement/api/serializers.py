from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.currencies import CURRENCY_CHOICES

from .. import selectors
from ..models import Budget, Department, Vendor, VendorCertification, VendorModel


class VendorSerializer(serializers.ModelSerializer):
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Names the vendor carries in feeds (e.g. FOCUS ProviderName); unique across vendors.",
    )
    data_residency = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    billing_currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)

    class Meta:
        model = Vendor
        fields = [
            "slug",
            "name",
            "kind",
            "country",
            "billing_currency",
            "payment_terms_days",
            "invoice_type",
            "data_residency",
            "dpa_signed",
            "aliases",
            "website",
            "notes",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}  # uniqueness is checked by the service's full_clean

    def to_representation(self, vendor):
        data = super().to_representation(vendor)
        data["aliases"] = vendor.aliases
        return data


class VendorCertificationSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", queryset=Vendor.objects.all(), help_text="Vendor slug.")
    status = serializers.ChoiceField(
        choices=selectors.CERTIFICATION_STATUSES,
        read_only=True,
        help_text="Today: valid, expiring (within 60 days), expired, or future (not yet valid).",
    )
    days_left = serializers.IntegerField(read_only=True, help_text="Days until valid_until; negative once expired.")

    class Meta:
        model = VendorCertification
        fields = [
            "id",
            "vendor",
            "kind",
            "valid_from",
            "valid_until",
            "reference",
            "notes",
            "status",
            "days_left",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"valid_until": {"help_text": "Inclusive; on or after valid_from."}}


PRICE_HELP = "Per 1 000 000 tokens, a decimal string with up to 6 decimals; never negative."


class VendorModelSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", queryset=Vendor.objects.all(), help_text="Vendor slug.")
    currency = serializers.CharField(
        max_length=3,
        required=False,
        allow_blank=True,
        help_text="ISO 4217 code; defaults to the vendor's billing currency.",
    )

    class Meta:
        model = VendorModel
        fields = [
            "id",
            "vendor",
            "model",
            "effective_from",
            "effective_to",
            "currency",
            "input_price",
            "cached_input_price",
            "cache_write_price",
            "output_price",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            "model": {"help_text": "The model's name exactly as the vendor bills it."},
            "effective_to": {"help_text": "Inclusive; null means until further notice."},
            "input_price": {"help_text": PRICE_HELP},
            "cached_input_price": {"help_text": PRICE_HELP + " Null: charged at the input price."},
            "cache_write_price": {"help_text": PRICE_HELP + " Null: charged at the input price."},
            "output_price": {"help_text": PRICE_HELP},
        }


class UsernameListField(serializers.ListField):
    """Usernames in, the related users' usernames out (sorted)."""

    child = serializers.CharField(max_length=150)

    def to_representation(self, users):
        return sorted(user.username for user in users.all())


class DepartmentSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Department.objects.all(),
        allow_null=True,
        required=False,
        help_text="Code of the parent department; null for a top-level department.",
    )
    managers = UsernameListField(
        required=False,
        help_text="Usernames of the department managers; they see this department and everything below it.",
    )
    children = serializers.SerializerMethodField(help_text="Codes of the direct sub-departments.")

    class Meta:
        model = Department
        fields = ["code", "name", "parent", "managers", "is_system", "children", "created_at", "updated_at"]
        read_only_fields = ["is_system", "created_at", "updated_at"]
        extra_kwargs = {"code": {"validators": []}}  # format and uniqueness: the service's full_clean

    def get_children(self, department) -> list[str]:
        return [child.code for child in department.children.all()]


def _money_text(value: Decimal, currency: str) -> str:
    """An amount as its currency shows it: 1200.000000 stored → "1200.00" for USD."""
    return str(selectors.tidy_amount(value, currency))


def _percent_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


class PhasingMonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="First day of the month.")
    amount = serializers.DecimalField(max_digits=26, decimal_places=6)


class BudgetSerializer(serializers.ModelSerializer):
    department = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.all(), help_text="Department code."
    )
    vendor = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Vendor.objects.all(),
        allow_null=True,
        required=False,
        help_text="Vendor slug: the budget covers only this vendor's spend. Null: all vendors.",
    )
    amount = serializers.DecimalField(
        max_digits=26,
        decimal_places=6,
        min_value=Decimal(0),
        help_text="Decimal string, no more decimals than the currency's minor unit.",
    )
    currency = serializers.CharField(
        max_length=3, required=False, help_text="Must be the reporting currency (the default)."
    )
    monthly_amounts = serializers.ListField(
        child=serializers.DecimalField(max_digits=26, decimal_places=6),
        required=False,
        help_text="Twelve decimal strings, first fiscal month first, adding up exactly to amount; "
        "empty for even phasing.",
    )
    thresholds = serializers.ListField(
        child=serializers.DecimalField(max_digits=7, decimal_places=2),
        required=False,
        help_text="Percentages of the budget that raise an alert, strictly ascending; default [50, 80, 100].",
    )
    phasing = serializers.SerializerMethodField(help_text="The twelve months and their amounts, as alerts use them.")

    class Meta:
        model = Budget
        fields = [
            "id",
            "department",
            "fiscal_year",
            "amount",
            "currency",
            "monthly_amounts",
            "vendor",
            "thresholds",
            "action",
            "notes",
            "phasing",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # one per department and year: the service answers with a clear message

    @extend_schema_field(PhasingMonthSerializer(many=True))
    def get_phasing(self, budget) -> list[dict]:
        start_month = self.context.get("fiscal_year_start_month")
        return [
            {"month": month.isoformat(), "amount": str(amount)}
            for month, amount in selectors.budget_phasing(budget, start_month=start_month)
        ]

    def to_representation(self, budget):
        data = super().to_representation(budget)
        data["amount"] = _money_text(budget.amount, budget.currency)
        data["monthly_amounts"] = [_money_text(value, budget.currency) for value in budget.monthly_amounts]
        data["thresholds"] = [_percent_text(value) for value in budget.thresholds]
        return data
