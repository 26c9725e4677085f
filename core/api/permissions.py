"""The API side of core.policy: one permission class for every endpoint."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.policy import CHANGE, VIEW, can


def policy_action_for(view, request) -> str:
    mapping = getattr(view, "policy_actions", None) or {}
    action = getattr(view, "action", None)
    if action in mapping:
        return mapping[action]
    method_action = mapping.get(request.method.lower())
    if method_action:
        return method_action
    return VIEW if request.method in SAFE_METHODS else CHANGE


def _method_supported(view, request) -> bool:
    method = request.method.lower()
    action_map = getattr(view, "action_map", None)
    if action_map is not None:
        return method in action_map or method == "options"
    return hasattr(view, method)


class PolicyPermission(BasePermission):
    """Allows a request when the user's role may do the action on the view's `policy_resource`,
    and the API token (when one is used) allows it too: a token never exceeds its user's role.

    Views with an `owner_field` also let any signed-in user view their own objects (and change
    them when `owner_may_change` is set); their querysets narrow to those objects.
    """

    def has_permission(self, request, view) -> bool:
        if getattr(view, "policy_public", False) or not _method_supported(view, request):
            return True  # the view answers 405 in the error shape
        user = request.user
        if not user or not user.is_authenticated or not user.is_active:
            return False
        resource = view.policy_resource
        action = policy_action_for(view, request)
        token = request.auth
        if token is not None and hasattr(token, "permits") and not token.permits(action=action, resource=resource):
            return False
        if can(user, resource, action):
            return True
        # Views over owned objects (tokens, runs) let anyone reach their own; querysets narrow.
        owns = bool(getattr(view, "owner_field", None))
        return owns and (action == VIEW or (action == CHANGE and getattr(view, "owner_may_change", False)))
