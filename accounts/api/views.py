from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.base import APIView, ModelViewSet
from core.exceptions import ApplicationError
from core.policy import POLICY, VIEW, can

from .. import selectors, services
from ..filtersets import ApiTokenFilterSet, UserFilterSet
from ..models import ApiToken, User
from .serializers import ApiTokenSerializer, MeSerializer, UserSerializer


class UserViewSet(ModelViewSet):
    """People and service accounts. DELETE deactivates (history keeps who did what)."""

    policy_resource = "user"
    serializer_class = UserSerializer
    filterset_class = UserFilterSet
    ordering_fields = ["username", "email", "role", "last_login", "date_joined"]
    lookup_field = "username"
    lookup_value_regex = r"[\w.@+-]+"

    def get_queryset(self):
        from allauth.mfa.models import Authenticator

        return self.scope_queryset(
            User.objects.prefetch_related(
                "managed_departments", Prefetch("authenticator_set", queryset=Authenticator.objects.all())
            )
        )

    def _save(self, serializer, *, username: str | None = None):
        data = serializer.validated_data
        user, _ = services.user_create_or_update(
            username=username or data["username"],
            role=data.get("role", serializer.instance.role if serializer.instance else None),
            email=data.get("email"),
            departments=data.get("departments"),
            password=data.get("password"),
            first_name=data.get("first_name"),
            last_name=data.get("last_name"),
            is_active=data.get("is_active"),
            actor=self.request.user,
        )
        serializer.instance = self.get_queryset().get(pk=user.pk)

    def perform_create(self, serializer):
        if User.objects.filter(username=serializer.validated_data["username"]).exists():
            raise ApplicationError("A user with this username exists.", extra={"fields": {"username": ["Taken."]}})
        self._save(serializer)

    def perform_update(self, serializer):
        if (
            "username" in serializer.validated_data
            and serializer.validated_data["username"] != serializer.instance.username
        ):
            raise ApplicationError("Usernames cannot be changed.", extra={"fields": {"username": ["Read-only."]}})
        self._save(serializer, username=serializer.instance.username)

    def perform_destroy(self, instance):
        services.user_create_or_update(
            username=instance.username, role=instance.role, is_active=False, actor=self.request.user
        )


class ApiTokenViewSet(ModelViewSet):
    """Your API tokens (administrators: everyone's). The token text is in the create answer only."""

    policy_resource = "api_token"
    owner_field = "user"
    owner_may_change = True
    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilterSet
    ordering_fields = ["created_at", "expires_at", "last_used_at", "name"]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.api_token_list(user=self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        owner = data.get("user") or self.request.user
        if owner != self.request.user and not can(self.request.user, "api_token", "change"):
            raise ApplicationError(
                "You can only create tokens for yourself.", extra={"fields": {"user": ["Not allowed."]}}
            )
        token, text = services.api_token_create(
            user=owner,
            scope=data["scope"],
            name=data.get("name", ""),
            source_slugs=data.get("source_slugs", []),
            expires_days=data.get("expires_days", settings.API_TOKEN_DEFAULT_EXPIRY_DAYS),
            created_by=self.request.user,
        )
        token.plaintext = text
        serializer.instance = token

    def destroy(self, request, *args, **kwargs):
        """Revokes the token (it stays listed, as revoked)."""
        token = services.api_token_revoke(token=self.get_object(), revoked_by=request.user)
        return Response(self.get_serializer(token).data, status=status.HTTP_200_OK)

    @extend_schema(request=None, responses=ApiTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        token = services.api_token_revoke(token=self.get_object(), revoked_by=request.user)
        return Response(self.get_serializer(token).data)


class MeApi(APIView):
    """Who the caller is and what their role allows, per resource."""

    policy_resource = "dashboard"
    permission_classes: list = []

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)
        permissions = {
            resource: [
                action for action in (VIEW, "change", *access.actions.keys()) if can(request.user, resource, action)
            ]
            for resource, access in POLICY.items()
        }
        permissions = {k: v for k, v in permissions.items() if v}
        return Response(MeSerializer.build(request.user, permissions))
