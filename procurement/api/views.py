from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from core.api.base import ModelViewSet

from .. import selectors, services
from ..filtersets import VendorFilterSet
from .serializers import VendorSerializer


class VendorViewSet(ModelViewSet):
    """Vendors, addressed by slug (`vendors/deepseek/`)."""

    policy_resource = "vendor"
    serializer_class = VendorSerializer
    filterset_class = VendorFilterSet
    lookup_field = "slug"
    ordering_fields = ["slug", "name", "kind", "country", "billing_currency", "payment_terms_days", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.vendor_list())

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        aliases = data.pop("aliases", [])
        serializer.instance = services.vendor_save(actor=self.request.user, aliases=aliases, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        aliases = data.pop("aliases", None)
        serializer.instance = services.vendor_save(
            vendor=serializer.instance, actor=self.request.user, aliases=aliases, **data
        )

    def destroy(self, request, *args, **kwargs):
        services.vendor_delete(vendor=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
