"""`Authorization: Bearer tl_<key_id>_<secret>` for scripts (API.md, Authentication)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken


def parse_token(raw: str) -> str | None:
    """The key id of a well-formed token, else None."""
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] != ApiToken.PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1", errors="replace")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw or " " in raw:
            raise exceptions.AuthenticationFailed("Invalid bearer token header.")
        key_id = parse_token(raw)
        token = None
        if key_id:
            token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
        if token is None or not token.matches(raw):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed("Token has expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive.")
        self._touch(token, request)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'

    @staticmethod
    def _touch(token: ApiToken, request) -> None:
        """Record use at most once a minute, so reading the API does not write on every request."""
        now = timezone.now()
        stale = now - timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION)
        if token.last_used_at is not None and token.last_used_at > stale:
            return
        ip = request.META.get("REMOTE_ADDR")
        ApiToken.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale), pk=token.pk).update(
            last_used_at=now, last_used_ip=ip
        )
        token.last_used_at = now
