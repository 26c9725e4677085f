"""Reads of the accounts app."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.db.models import QuerySet

from core.policy import VIEW, can
from core.selectors import organization_settings

from .models import ApiToken, User


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """Administrators and auditors see every token; everyone else sees their own."""
    tokens = ApiToken.objects.select_related("user", "created_by")
    return tokens if can(user, "api_token", VIEW) else tokens.filter(user=user)


def mfa_required_roles() -> set[str]:
    return set(settings.MFA_REQUIRED_ROLES) | set(organization_settings().mfa_required_roles)


def user_must_enrol_mfa(user: User) -> bool:
    if not user.is_authenticated or user.role not in mfa_required_roles():
        return False
    return not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
