"""django-allauth adapters: no public sign-up; single sign-on only for known or provisioned users."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse

from core.roles import Role


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # Accounts are created by administrators (UI, API or `manage.py create_user`).
        return False

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        """Failed sign-ins count per account, however it is named: the username and the email
        address of one person share one counter (allauth counts per typed login, which would let
        an attacker alternate the two and double the attempts)."""
        from django.db.models import Q

        from .models import User

        login = (credentials.get("email") or credentials.get("username") or "").strip()
        user_id = (
            User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).values_list("pk", flat=True).first()
            if login
            else None
        )
        return f"user:{user_id}" if user_id else super()._get_login_attempts_cache_key(request, **credentials)

    def pre_login(self, request, user, **kwargs):
        if user.role == Role.SERVICE:
            messages.error(request, "Service accounts cannot sign in; they use API tokens.")
            return HttpResponseRedirect(reverse("account_login"))
        if not user.role:
            messages.error(request, "Your account has no role yet; ask an administrator to give you one.")
            return HttpResponseRedirect(reverse("account_login"))
        return super().pre_login(request, user, **kwargs)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """SSO users are matched to existing accounts by verified email. New people are provisioned
    only when SSO_DEFAULT_ROLE names a role; otherwise an administrator creates them first."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return settings.SSO_DEFAULT_ROLE in Role.values

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.role = settings.SSO_DEFAULT_ROLE
        return user
