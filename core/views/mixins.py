"""The UI side of core.policy: every page names its resource; the mixin enforces role and scope."""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ImproperlyConfigured, PermissionDenied

from core.policy import CHANGE, VIEW, access_for, can
from core.scoping import scope_queryset


class PolicyRequiredMixin(LoginRequiredMixin):
    """`policy_resource` and `policy_action` (default: view for GET/HEAD, change otherwise).
    Anonymous users are sent to the login page; signed-in users without the role get 403; objects
    outside a manager's departments are filtered out of querysets, so they answer 404."""

    policy_resource: str
    policy_action: str | None = None
    department_field: str | None = None
    owner_field: str | None = None

    def get_policy_action(self) -> str:
        if self.policy_action:
            return self.policy_action
        return VIEW if self.request.method in ("GET", "HEAD", "OPTIONS") else CHANGE

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        allowed = can(request.user, self.policy_resource, self.get_policy_action())
        if not allowed and self.owner_field and self.get_policy_action() in (VIEW, CHANGE):
            allowed = True  # own objects only: get_queryset narrows
        if not allowed:
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def scope(self, queryset):
        user = self.request.user
        if self.owner_field and not can(user, self.policy_resource, VIEW):
            return queryset.filter(**{self.owner_field: user})
        if access_for(self.policy_resource).department_scoped:
            if self.department_field is None:
                raise ImproperlyConfigured(
                    f"{type(self).__name__} shows department-scoped {self.policy_resource!r} "
                    "but declares no department_field"
                )
            return scope_queryset(queryset, user, resource=self.policy_resource, department_field=self.department_field)
        return queryset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_change"] = can(self.request.user, self.policy_resource, CHANGE)
        context["policy_resource"] = self.policy_resource
        return context
