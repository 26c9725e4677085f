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
