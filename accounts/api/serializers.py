from __future__ import annotations

from rest_framework import serializers

from core import directory
from core.roles import Role

from ..models import ApiToken, User


class UserSerializer(serializers.ModelSerializer):
    departments = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        help_text="Codes of the departments a department manager manages.",
    )
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"})
    mfa_enabled = serializers.SerializerMethodField()
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "role",
            "departments",
            "is_active",
            "last_login",
            "date_joined",
            "mfa_enabled",
            "password",
        ]
        read_only_fields = ["id", "last_login", "date_joined", "mfa_enabled"]

    def get_mfa_enabled(self, user: User) -> bool:
        return any(a.type == "totp" for a in user.authenticator_set.all())

    def to_representation(self, user: User):
        data = super().to_representation(user)
        data["departments"] = [d.code for d in user.managed_departments.all()]
        return data


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.all(), required=False)
    sources = serializers.ListField(child=serializers.SlugField(), source="source_slugs", required=False)
    expires_days = serializers.IntegerField(write_only=True, required=False, min_value=1, allow_null=True)
    status = serializers.CharField(read_only=True)
    token = serializers.SerializerMethodField(help_text="The token text: in the create answer only, once.")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "user",
            "key_id",
            "scope",
            "sources",
            "expires_days",
            "created_at",
            "created_by",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "status",
            "token",
        ]
        read_only_fields = ["id", "key_id", "created_at", "expires_at", "last_used_at", "revoked_at"]

    def get_token(self, obj) -> str | None:
        return getattr(obj, "plaintext", None)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()
    departments = serializers.ListField(child=serializers.CharField())
    permissions = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))

    @staticmethod
    def build(user: User, permissions: dict[str, list[str]]) -> dict:
        return {
            "username": user.username,
            "email": user.email,
            "role": user.role,
            "departments": directory.departments().managed_department_codes(user),
            "permissions": permissions,
        }
