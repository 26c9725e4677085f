from __future__ import annotations

from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.base import ModelViewSet
from core.exceptions import ApplicationError

from .. import selectors, services
from ..filtersets import AgreementFilterSet
from ..models import Agreement
from .serializers import (
    AgreementAmendmentSerializer,
    AgreementSerializer,
    DocumentUploadSerializer,
    PendingApprovalSerializer,
)


class AgreementViewSet(ModelViewSet):
    """Framework agreements, addressed by reference (`agreements/FA-2026-01/`). Sending a nested
    list (`price_rules`, `commitments`, `sla_clauses`) replaces it as an amendment. With four-eyes
    on, activating or changing an active agreement answers 202 and waits for a second person."""

    policy_resource = "agreement"
    policy_actions = {"amendments": "view", "document": "view"}
    serializer_class = AgreementSerializer
    filterset_class = AgreementFilterSet
    lookup_field = "reference"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9._-]*"
    ordering_fields = ["reference", "start", "end", "status", "currency", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.agreement_list())

    def _respond(self, result: services.AgreementResult, created: bool) -> Response:
        agreement = self.get_queryset().get(pk=result.agreement.pk)
        data = AgreementSerializer(agreement, context=self.get_serializer_context()).data
        if result.pending:
            return Response(
                {
                    "message": f"Four-eyes: approval #{result.approval.pk} awaits a second person.",
                    "approval": result.approval.pk,
                    "agreement": data,
                },
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={201: AgreementSerializer, 202: PendingApprovalSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if Agreement.objects.filter(reference=serializer.validated_data["reference"]).exists():
            raise ApplicationError(
                "An agreement with this reference exists.", extra={"fields": {"reference": ["Already in use."]}}
            )
        result = services.agreement_change(agreement=None, changes=serializer.validated_data, actor=request.user)
        return self._respond(result, created=True)

    @extend_schema(responses={200: AgreementSerializer, 202: PendingApprovalSerializer})
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        agreement = self.get_object()
        serializer = self.get_serializer(agreement, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if changes.get("reference", agreement.reference) != agreement.reference:
            raise ApplicationError("The reference cannot change.", extra={"fields": {"reference": ["Read-only."]}})
        changes.pop("reference", None)
        result = services.agreement_change(agreement=agreement, changes=changes, actor=request.user)
        return self._respond(result, created=False)

    def destroy(self, request, *args, **kwargs):
        services.agreement_delete(agreement=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=AgreementAmendmentSerializer(many=True))
    @action(detail=True, methods=["get"])
    def amendments(self, request, reference=None):
        """Every change: what, who, who approved, and from when usage is re-rated."""
        agreement = self.get_object()
        rows = agreement.amendments.select_related("changed_by", "approved_by")
        return Response(AgreementAmendmentSerializer(rows, many=True).data)

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The signed contract")})
    @action(detail=True, methods=["get"])
    def document(self, request, reference=None):
        """Download the signed contract."""
        agreement = self.get_object()
        if not agreement.signed_document:
            raise Http404
        handle = agreement.signed_document.open("rb")
        return FileResponse(handle, as_attachment=True, filename=agreement.signed_document.name.rsplit("/", 1)[-1])

    @extend_schema(request={"multipart/form-data": DocumentUploadSerializer}, responses=AgreementSerializer)
    @document.mapping.post
    def upload_document(self, request, reference=None):
        """Attach the signed contract (multipart `file`); it is stored through the storage API."""
        agreement = self.get_object()
        upload = DocumentUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        services.agreement_attach_document(agreement=agreement, file=upload.validated_data["file"], actor=request.user)
        return Response(AgreementSerializer(self.get_queryset().get(pk=agreement.pk)).data)
