from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response

from core.api.base import ModelViewSet
from core.selectors import organization_settings

from .. import selectors, services
from ..filtersets import (
    BudgetFilterSet,
    DepartmentFilterSet,
    VendorCertificationFilterSet,
    VendorFilterSet,
    VendorModelFilterSet,
)
from .serializers import (
    BudgetSerializer,
    DepartmentSerializer,
    VendorCertificationSerializer,
    VendorModelSerializer,
    VendorSerializer,
)


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


class ServiceWritesMixin:
    """Create, update and delete through one service each: `save_object(instance, actor, data)`
    (instance None to create) returns the saved object; `delete_object(instance, actor)` removes
    it or refuses (409). (Not `delete`: a viewset binds HTTP method names to its actions.)"""

    def save_object(self, instance, actor, data: dict):
        raise NotImplementedError

    def delete_object(self, instance, actor) -> None:
        raise NotImplementedError

    def perform_create(self, serializer):
        serializer.instance = self.save_object(None, self.request.user, dict(serializer.validated_data))

    def perform_update(self, serializer):
        serializer.instance = self.save_object(serializer.instance, self.request.user, dict(serializer.validated_data))

    def destroy(self, request, *args, **kwargs):
        self.delete_object(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VendorCertificationViewSet(ServiceWritesMixin, ModelViewSet):
    """Vendors' certifications (ISO 27001, SOC 2, MLPS level 3, …) with their validity dates."""

    policy_resource = "vendor_certification"
    serializer_class = VendorCertificationSerializer
    filterset_class = VendorCertificationFilterSet
    ordering_fields = ["id", "vendor__slug", "kind", "valid_from", "valid_until", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.certification_list())

    def save_object(self, instance, actor, data):
        return services.vendor_certification_save(certification=instance, actor=actor, **data)

    def delete_object(self, instance, actor):
        services.vendor_certification_delete(certification=instance, actor=actor)


class VendorModelViewSet(ServiceWritesMixin, ModelViewSet):
    """The price book: vendors' effective-dated list prices per 1 000 000 tokens."""

    policy_resource = "vendor_model"
    serializer_class = VendorModelSerializer
    filterset_class = VendorModelFilterSet
    ordering_fields = ["id", "vendor__slug", "model", "effective_from", "effective_to", "currency", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.vendor_model_list())

    def save_object(self, instance, actor, data):
        return services.vendor_model_save(vendor_model=instance, actor=actor, **data)

    def delete_object(self, instance, actor):
        services.vendor_model_delete(vendor_model=instance, actor=actor)


class DepartmentViewSet(ServiceWritesMixin, ModelViewSet):
    """Departments, addressed by code (`departments/FIN/`). A department manager sees the
    departments they manage and everything below them."""

    policy_resource = "department"
    department_field = "id"
    serializer_class = DepartmentSerializer
    filterset_class = DepartmentFilterSet
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"  # codes may contain dots
    ordering_fields = ["code", "name", "parent__code", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.department_list())

    def save_object(self, instance, actor, data):
        managers = data.pop("managers", None)
        return services.department_save(department=instance, actor=actor, managers=managers, **data)

    def delete_object(self, instance, actor):
        services.department_delete(department=instance, actor=actor)


class BudgetViewSet(ServiceWritesMixin, ModelViewSet):
    """Budgets per department and fiscal year, in the reporting currency. A department manager
    sees the budgets of their departments and sub-departments."""

    policy_resource = "budget"
    department_field = "department_id"
    serializer_class = BudgetSerializer
    filterset_class = BudgetFilterSet
    ordering_fields = ["id", "department__code", "fiscal_year", "amount", "vendor__slug", "action", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.budget_list())

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["fiscal_year_start_month"] = organization_settings().fiscal_year_start_month
        return context

    def save_object(self, instance, actor, data):
        return services.budget_save(budget=instance, actor=actor, **data)

    def delete_object(self, instance, actor):
        services.budget_delete(budget=instance, actor=actor)
