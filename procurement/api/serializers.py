from __future__ import annotations

from rest_framework import serializers

from core.currencies import currency_choices

from ..models import Vendor


class VendorSerializer(serializers.ModelSerializer):
    aliases = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text="Names the vendor carries in feeds (e.g. FOCUS ProviderName); unique across vendors.",
    )
    data_residency = serializers.ListField(child=serializers.CharField(max_length=32), required=False)
    billing_currency = serializers.ChoiceField(choices=currency_choices())

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
