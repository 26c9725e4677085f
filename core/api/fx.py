"""FX rates (API.md `fx-rates/`): CRUD, CSV/ECB import as a background run, and conversion."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core import fx, services
from core.currencies import CURRENCY_CHOICES, is_currency
from core.exceptions import NotFound
from core.filtersets import FxRateFilterSet
from core.models import FxRate
from core.money import MoneyError, to_decimal
from core.selectors import organization_settings

from .base import ModelViewSet
from .serializers import RunCreatedSerializer


class FxRateSerializer(serializers.ModelSerializer):
    base = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    quote = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    rate = serializers.DecimalField(max_digits=24, decimal_places=10, min_value=0)

    class Meta:
        model = FxRate
        fields = ["id", "date", "base", "quote", "rate", "source", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "created_at", "updated_at"]
        validators = []  # the service names the clash in words

    def validate(self, data):
        base = data.get("base", getattr(self.instance, "base", None))
        quote = data.get("quote", getattr(self.instance, "quote", None))
        if base == quote:
            raise serializers.ValidationError({"quote": ["Base and quote must differ."]})
        if "rate" in data and data["rate"] <= 0:
            raise serializers.ValidationError({"rate": ["A rate is positive."]})
        return data


class FxImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="ECB eurofxref-hist.csv (Date,USD,JPY,…) or a date,base,quote,rate CSV.")


class FxConversionSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=40, decimal_places=12)
    currency = serializers.CharField()
    converted = serializers.DecimalField(max_digits=40, decimal_places=12)
    to = serializers.CharField()
    rate = serializers.DecimalField(max_digits=40, decimal_places=12)
    rate_date = serializers.DateField()
    method = serializers.CharField()
    via = serializers.CharField(allow_null=True)


class FxRateViewSet(ModelViewSet):
    """Daily exchange rates: 1 `base` buys `rate` `quote` (ECB convention: EUR, USD, 1.08)."""

    policy_resource = "fx_rate"
    policy_actions = {"convert": "view"}
    serializer_class = FxRateSerializer
    filterset_class = FxRateFilterSet
    ordering_fields = ["date", "base", "quote", "rate"]

    def get_queryset(self):
        return self.scope_queryset(FxRate.objects.all())

    def perform_create(self, serializer):
        serializer.instance = services.fx_rate_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.fx_rate_save(
            fx_rate=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        instance._history_user = self.request.user
        instance.delete()

    @extend_schema(request={"multipart/form-data": FxImportSerializer}, responses={202: RunCreatedSerializer})
    @action(detail=False, methods=["post"], url_path="import")
    def import_file(self, request):
        """Import a rate table in the background → 202 {"run": id}; the run's result counts
        created, updated and unchanged rates and lists rejected rows with reasons."""
        upload = FxImportSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        run = services.fx_import_start(file=upload.validated_data["file"], actor=request.user)
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[
            OpenApiParameter("amount", str, required=True),
            OpenApiParameter("from", str, required=True, description="Currency of the amount"),
            OpenApiParameter("to", str, required=False, description="Default: the reporting currency"),
            OpenApiParameter("date", date, required=True),
        ],
        responses=FxConversionSerializer,
    )
    @action(detail=False, methods=["get"])
    def convert(self, request):
        """Convert an amount by DESIGN.md's rule (direct, inverse, cross; at most 7 days old).
        A missing or stale rate answers 404 with `extra.reason` "missing" or "stale"."""
        params = request.query_params
        errors = {}
        try:
            amount = to_decimal(params.get("amount", ""))
        except MoneyError as exc:
            errors["amount"] = [str(exc)]
        try:
            on = date.fromisoformat(params.get("date", ""))
        except ValueError:
            errors["date"] = ["Give the date as YYYY-MM-DD."]
        source = (params.get("from") or "").upper()
        target = (params.get("to") or organization_settings().reporting_currency).upper()
        for name, code in (("from", source), ("to", target)):
            if not is_currency(code):
                errors[name] = [f"{code!r} is not an ISO 4217 currency code."]
        if errors:
            raise ValidationError(errors)
        try:
            quote = fx.fx_quote(source, target, on)
        except fx.FxUnavailable as exc:
            raise NotFound(str(exc), extra={"reason": exc.reason}) from exc
        return Response(
            FxConversionSerializer(
                {
                    "amount": amount,
                    "currency": source,
                    "converted": quote.convert(amount),
                    "to": target,
                    "rate": quote.rate,
                    "rate_date": quote.rate_date,
                    "method": quote.method,
                    "via": quote.via,
                }
            ).data
        )
