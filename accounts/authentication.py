"""`Authorization: Bearer tl_<key_id>_<secret>` for scripts (API.md, Authentication)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken

logger = logging.getLogger(__name__)


def parse_token(raw: str) -> str | None:
    """The key id of a well-formed token, else None."""
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] != ApiToken.PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def client_ip(request) -> str:
    """The caller's address as the sign-in limits see it (allauth: REMOTE_ADDR, or the trusted
    proxies' X-Forwarded-For entry when ALLAUTH_TRUSTED_PROXY_COUNT is set)."""
    from allauth.core.internal.httpkit import get_client_ip

    try:
        return get_client_ip(request) or "unknown"
    except PermissionDenied:  # a forwarded-for header that does not match the trusted proxies
        return request.META.get("REMOTE_ADDR") or "unknown"


def _failures(key: str) -> int:
    try:
        return cache.get(key, 0)
    except Exception as exc:  # the shared cache is down: count nothing rather than refuse the API
        logger.warning("Bearer failure limit skipped: the cache is unavailable (%s)", type(exc).__name__)
        return 0


def _count_failure(key: str) -> None:
    try:
        if not cache.add(key, 1, timeout=60):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=60)
    except Exception as exc:
        logger.warning("Bearer failure not counted: the cache is unavailable (%s)", type(exc).__name__)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1", errors="replace")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        failures_key = f"tl:bearer-failed:{client_ip(request)}"
        if _failures(failures_key) >= settings.API_TOKEN_FAILED_PER_MINUTE:
            # Guessing is cut off for the rest of the minute, good tokens from that address included.
            raise exceptions.Throttled(wait=60)
        try:
            return self._authenticate_token(raw.strip(), request)
        except exceptions.AuthenticationFailed:
            _count_failure(failures_key)
            raise

    def _authenticate_token(self, raw: str, request):
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
