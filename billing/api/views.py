"""Commitment and budget status: small read APIs over billing.selectors."""

from __future__ import annotations

from datetime import date

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from contracts.models import Agreement
from core.api.base import APIView
from procurement.selectors import budget_list

from .. import selectors
from .serializers import AsOfQuerySerializer, BudgetStatusSerializer, CommitmentStatusAnswerSerializer

AS_OF = OpenApiParameter(
    "as_of", date, description="The last day counted (YYYY-MM-DD); default today (UTC). Figures run through it."
)


def as_of_param(request) -> date:
    """`?as_of=YYYY-MM-DD`, default today (UTC); anything else answers 400 in the error shape."""
    query = AsOfQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data.get("as_of") or timezone.now().date()


class AgreementCommitmentStatusApi(APIView):
    """Each commitment of the agreement in its period containing `as_of`: committed, consumed,
    expected to date, utilisation, projection, shortfall and its charge (take-or-pay), drawdown
    and expiry (prepaid), and the daily cumulative series. Readable by whoever reads agreements."""

    policy_resource = "agreement"

    @extend_schema(parameters=[AS_OF], responses=CommitmentStatusAnswerSerializer)
    def get(self, request, reference):
        agreement = get_object_or_404(self.scope_queryset(Agreement.objects.all()), reference=reference)
        as_of = as_of_param(request)
        statuses = selectors.commitment_statuses(agreement=agreement, as_of=as_of)
        answer = {"agreement": agreement.reference, "as_of": as_of, "commitments": statuses}
        return Response(CommitmentStatusAnswerSerializer(answer).data)


class BudgetStatusApi(APIView):
    """The budget's actual against its phasing through `as_of`, the linear year-end projection
    and overrun date, thresholds crossed, and month and vendor rows. Department managers see the
    budgets of their departments only (404 for others)."""

    policy_resource = "budget"
    department_field = "department_id"

    @extend_schema(parameters=[AS_OF], responses=BudgetStatusSerializer)
    def get(self, request, pk):
        budget = get_object_or_404(self.scope_queryset(budget_list()), pk=pk)
        status = selectors.budget_status(budget=budget, as_of=as_of_param(request))
        return Response(BudgetStatusSerializer(status).data)
