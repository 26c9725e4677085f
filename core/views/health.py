"""Liveness and readiness for load balancers and orchestrators (no authentication, no secrets)."""

from __future__ import annotations

import time

from celery import current_app
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    """The process answers."""
    return JsonResponse({"status": "ok"})


def _check(name: str, fn) -> dict:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # a readiness probe reports every failure, whatever its kind
        return {
            "name": name,
            "ok": False,
            "error": type(exc).__name__,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
    return {"name": name, "ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("select 1")


def _cache() -> None:
    cache.set("tl:readyz", "1", 5)


def _broker() -> None:
    with current_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
def readyz(request):
    """The database, cache and broker are reachable: 200, else 503 with what failed."""
    checks = [_check("database", _database), _check("cache", _cache), _check("broker", _broker)]
    ok = all(c["ok"] for c in checks)
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
