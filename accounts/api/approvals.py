"""Four-eyes approvals: list them, approve or reject."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.base import ReadOnlyModelViewSet

from .. import approvals
from ..models import ApprovalRequest


class ApprovalSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "action",
            "resource",
            "object_key",
            "summary",
            "payload",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "note",
        ]
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ApprovalFilterSet(django_filters.FilterSet):
    requested_by = django_filters.CharFilter(field_name="requested_by__username")

    class Meta:
        model = ApprovalRequest
        fields = ["status", "action", "resource", "object_key", "requested_by"]


class ApprovalViewSet(ReadOnlyModelViewSet):
    """Changes waiting for a second person (four-eyes). The requester cannot approve; they may
    withdraw (reject) their own request."""

    policy_resource = "approval"
    policy_actions = {"approve": "view", "reject": "view"}  # the service checks the target's right
    serializer_class = ApprovalSerializer
    filterset_class = ApprovalFilterSet
    ordering_fields = ["requested_at", "decided_at", "status"]

    def get_queryset(self):
        return ApprovalRequest.objects.select_related("requested_by", "decided_by")

    @extend_schema(request=DecisionSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        self._check_token(request)
        decision = DecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        approvals.approval_approve(
            request=self.get_object(), approver=request.user, note=decision.validated_data["note"]
        )
        return Response(ApprovalSerializer(self.get_queryset().get(pk=pk)).data)

    @extend_schema(request=DecisionSerializer, responses=ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        self._check_token(request)
        decision = DecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        approvals.approval_reject(
            request=self.get_object(), approver=request.user, note=decision.validated_data["note"]
        )
        return Response(ApprovalSerializer(self.get_queryset().get(pk=pk)).data)

    def _check_token(self, request) -> None:
        token = request.auth
        if token is not None and hasattr(token, "permits") and not token.permits(action="approve", resource="approval"):
            self.permission_denied(request, message="A read-only token cannot decide on approvals.")
