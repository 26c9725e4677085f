"""`GET /metrics`: Prometheus text format, for allowed addresses or the metrics bearer token."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST

from core.api.errors import json_error_response
from core.metrics import exposition, scrape_allowed


@never_cache
def metrics(request):
    if request.method not in ("GET", "HEAD"):
        return json_error_response("Use GET.", 405)
    if not scrape_allowed(request):
        return json_error_response(
            "Metrics are served to the addresses in METRICS_ALLOWED_IPS or with the METRICS_TOKEN bearer token.", 403
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
