"""API rate limits that keep the API up when their cache is down.

DRF's throttles count requests in the shared cache (`CACHE_URL`). When that cache is a Redis that
has gone away (in many deployments the broker's own Redis), counting fails; refusing every request
would turn a cache outage into an API outage, so the request is let through unthrottled and the
failure logged. Usage posted meanwhile is stored as always."""

from __future__ import annotations

import logging

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

logger = logging.getLogger(__name__)


class _FailOpen:
    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # any cache backend's connection error, whatever its class
            logger.warning("API throttling skipped: the cache is unavailable (%s: %s)", type(exc).__name__, exc)
            return True


class AnonThrottle(_FailOpen, AnonRateThrottle):
    pass


class UserThrottle(_FailOpen, UserRateThrottle):
    pass
