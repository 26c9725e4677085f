"""Base API views: policy, department scoping and owner scoping in one place."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import generics, mixins, viewsets
from rest_framework import views as drf_views

from core.policy import VIEW, access_for, can
from core.scoping import scope_queryset


class PolicyMixin:
    """Set `policy_resource`; for department-scoped resources also `department_field` (the lookup
    path to the department id); for owned objects `owner_field`. `policy_actions` maps a viewset
    action or an HTTP method to a named policy action ("approve", "issue", ...)."""

    policy_resource: str
    policy_actions: dict[str, str] = {}
    department_field: str | None = None
    owner_field: str | None = None
    owner_may_change: bool = False

    def scope_queryset(self, queryset):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no real user
            return queryset.none()
        user = self.request.user
        if self.owner_field and not can(user, self.policy_resource, VIEW):
            return queryset.filter(**{self.owner_field: user})
        if access_for(self.policy_resource).department_scoped:
            if self.department_field is None:
                raise ImproperlyConfigured(
                    f"{type(self).__name__} serves department-scoped {self.policy_resource!r} "
                    "but declares no department_field"
                )
            return scope_queryset(queryset, user, resource=self.policy_resource, department_field=self.department_field)
        return queryset

    def get_queryset(self):
        return self.scope_queryset(super().get_queryset())


class APIView(PolicyMixin, drf_views.APIView):
    """A business action (`<Entity><Action>Api`): input serializer → one service → output."""


class GenericAPIView(PolicyMixin, generics.GenericAPIView):
    pass


class ModelViewSet(PolicyMixin, viewsets.ModelViewSet):
    pass


class ReadOnlyModelViewSet(PolicyMixin, viewsets.ReadOnlyModelViewSet):
    pass


class CreateListRetrieveViewSet(
    PolicyMixin,
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    pass
