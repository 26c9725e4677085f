"""Roles listed in the MFA setting must enrol an authenticator app before anything else."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from core.api.errors import json_error_response

from .selectors import user_must_enrol_mfa

ALLOWED_PREFIXES = ("/accounts/", "/static/", "/healthz", "/readyz", "/api/schema/")


class MFAEnforcementMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(ALLOWED_PREFIXES)
            and user_must_enrol_mfa(user)
        ):
            if request.path.startswith("/api/"):
                return json_error_response(
                    "Two-factor authentication is required for your role: enrol an authenticator app "
                    "at /accounts/2fa/ first.",
                    403,
                )
            messages.warning(
                request, "Your role requires two-factor authentication. Set up an authenticator app to continue."
            )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
