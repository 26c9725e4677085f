"""SLA evaluations (API.md, "Money views and actions"): per agreement × SLA clause × month the
measured value, breach, credit % and credit (billing.services.sla), and a person's status on it.

* `GET sla-evaluations/?period=YYYY-MM` evaluates that month first when it has ended and has no
  row yet; `POST sla-evaluations/evaluate {period, agreement?}` (re-)evaluates on demand.
* `POST sla-evaluations/{id}/status {status, received_on?, note}`.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import re_path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from contracts.models import Agreement
from core.api.base import APIView, ReadOnlyModelViewSet

from ..filtersets_reconciliation import SlaEvaluationFilterSet
from ..models import SlaCredit
from ..services import sla as sla_services
from ..services.sla import sla_credit_list, sla_month_evaluate_once
from .vendor_invoice_serializers import PeriodField, PeriodQuerySerializer


class SlaEvaluationSerializer(serializers.ModelSerializer):
    agreement = serializers.CharField(source="agreement.reference", read_only=True)
    vendor = serializers.CharField(source="agreement.vendor.slug", read_only=True)
    period = PeriodField(read_only=True)
    models = serializers.ListField(source="models_in_scope", child=serializers.CharField(), read_only=True)

    class Meta:
        model = SlaCredit
        fields = [
            "id",
            "agreement",
            "vendor",
            "clause",
            "period",
            "metric",
            "models",
            "target",
            "measured",
            "breach",
            "credit_percent",
            "in_scope_charges",
            "credit",
            "currency",
            "claim_by",
            "status",
            "received_on",
            "note",
        ]
        read_only_fields = fields


class SlaEvaluateInputSerializer(serializers.Serializer):
    period = PeriodField()
    agreement = serializers.SlugRelatedField(
        slug_field="reference", queryset=Agreement.objects.all(), required=False, help_text="Only this agreement"
    )


class SlaEvaluateAnswerSerializer(serializers.Serializer):
    period = PeriodField()
    count = serializers.IntegerField()
    results = SlaEvaluationSerializer(many=True)


class SlaStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SlaCredit.Status.choices)
    received_on = serializers.DateField(required=False, allow_null=True, default=None)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class SlaEvaluationViewSet(ReadOnlyModelViewSet):
    """SLA credits per agreement, clause and month. `?period=YYYY-MM` evaluates a month that has
    ended and has no evaluation yet before listing it. Filters `period`, `vendor`, `agreement`,
    `metric`, `status`."""

    policy_resource = "sla_evaluation"
    serializer_class = SlaEvaluationSerializer
    filterset_class = SlaEvaluationFilterSet
    lookup_value_regex = r"\d+"
    ordering_fields = ["id", "period", "agreement__reference", "metric", "credit", "claim_by", "status"]

    def get_queryset(self):
        return self.scope_queryset(sla_credit_list())

    def list(self, request, *args, **kwargs):
        if "period" in request.query_params:
            query = PeriodQuerySerializer(data=request.query_params)
            query.is_valid(raise_exception=True)
            sla_month_evaluate_once(month=query.validated_data["period"], actor=request.user)
        return super().list(request, *args, **kwargs)


class SlaEvaluateApi(APIView):
    """(Re-)evaluate a month's SLA clauses — every active or expired agreement's, or the one
    `agreement` given — and answer the rows. Claimed, received and waived rows are kept as they are."""

    policy_resource = "sla_evaluation"

    @extend_schema(request=SlaEvaluateInputSerializer, responses=SlaEvaluateAnswerSerializer)
    def post(self, request):
        data = SlaEvaluateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        month = data.validated_data["period"]
        rows = sla_services.sla_evaluate(
            month=month, agreement=data.validated_data.get("agreement"), actor=request.user
        )
        rows = list(sla_credit_list().filter(pk__in=[row.pk for row in rows]))
        return Response(SlaEvaluateAnswerSerializer({"period": month, "count": len(rows), "results": rows}).data)


class SlaEvaluationStatusApi(APIView):
    """A person's decision on a credit: `claimed`, `received` (with `received_on`, default today),
    `waived`, or `owed` again, with a note. Received credits pass through to departments' invoices."""

    policy_resource = "sla_evaluation"

    @extend_schema(request=SlaStatusInputSerializer, responses=SlaEvaluationSerializer)
    def post(self, request, pk):
        credit = get_object_or_404(self.scope_queryset(sla_credit_list()), pk=pk)
        data = SlaStatusInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = sla_services.sla_credit_status_set(credit=credit, actor=request.user, **data.validated_data)
        return Response(SlaEvaluationSerializer(sla_credit_list().get(pk=row.pk)).data)


# Routes and paths (billing/api/urls.py adds them to the API's) ---------------------------------

ROUTES = [("sla-evaluations", SlaEvaluationViewSet, "sla-evaluation")]
# Before the router's routes, so `sla-evaluations/evaluate` is never taken for an id; with or
# without the trailing slash.
PATHS = [
    re_path(r"^sla-evaluations/evaluate/?$", SlaEvaluateApi.as_view(), name="sla-evaluation-evaluate"),
    re_path(r"^sla-evaluations/(?P<pk>\d+)/status/?$", SlaEvaluationStatusApi.as_view(), name="sla-evaluation-status"),
]
