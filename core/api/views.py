from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from core import selectors, services

from ..models import JobRun
from .base import APIView, ReadOnlyModelViewSet
from .serializers import (
    DiagnosticsInputSerializer,
    JobRunSerializer,
    OrganizationSettingsSerializer,
    RunCreatedSerializer,
)


class JobRunFilterSet(django_filters.FilterSet):
    created_by = django_filters.CharFilter(field_name="created_by__username")

    class Meta:
        model = JobRun
        fields = ["kind", "status", "created_by"]


class JobRunViewSet(ReadOnlyModelViewSet):
    """Background jobs: `GET runs/{id}` → kind, status, progress, message, result."""

    policy_resource = "job_run"
    owner_field = "created_by"
    serializer_class = JobRunSerializer
    filterset_class = JobRunFilterSet
    ordering_fields = ["created_at", "finished_at", "kind", "status"]

    def get_queryset(self):
        return self.scope_queryset(JobRun.objects.select_related("created_by"))


class OrganizationSettingsApi(APIView):
    """Reporting currency, fiscal year start, invoice issuer details, four-eyes and MFA rules."""

    policy_resource = "settings"

    @extend_schema(responses=OrganizationSettingsSerializer)
    def get(self, request):
        return Response(OrganizationSettingsSerializer(selectors.organization_settings()).data)

    @extend_schema(request=OrganizationSettingsSerializer, responses=OrganizationSettingsSerializer)
    def patch(self, request):
        serializer = OrganizationSettingsSerializer(selectors.organization_settings(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        updated = services.organization_settings_update(actor=request.user, **serializer.validated_data)
        return Response(OrganizationSettingsSerializer(updated).data)


class DiagnosticsRunApi(APIView):
    """Start a run that proves the worker, database (and, with `email_to`, mail) work: 202 {"run": id}."""

    policy_resource = "settings"
    policy_actions = {"post": "change"}

    @extend_schema(request=DiagnosticsInputSerializer, responses={202: RunCreatedSerializer})
    def post(self, request):
        data = DiagnosticsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.job_run_create(
            kind="diagnostics", created_by=request.user, params=data.validated_data, task="core.diagnostics"
        )
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)
