"""Error pages: JSON in the API's error shape under /api/, friendly HTML elsewhere."""

from __future__ import annotations

import sys

from django.http import HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from core.api.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS, database_unavailable, json_error_response


def _respond(request, status: int, message: str, template: str):
    if request.path.startswith("/api/"):
        return json_error_response(message, status)
    return render(request, template, {"status": status, "message": message}, status=status)


def bad_request(request, exception=None):
    return _respond(request, 400, "Bad request.", "errors/400.html")


def permission_denied(request, exception=None):
    return _respond(request, 403, "You do not have permission to do this.", "errors/403.html")


def page_not_found(request, exception=None):
    return _respond(request, 404, "Not found.", "errors/404.html")


def server_error(request):
    """Rendered without context processors: the database may be the thing that failed. When it
    did (outside an API view, e.g. loading a session), the answer is 503: try again shortly."""
    if database_unavailable(sys.exc_info()[1]):
        if request.path.startswith("/api/"):
            response = json_error_response(DATABASE_UNAVAILABLE, 503)
        else:
            response = HttpResponse(DATABASE_UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    message = "Internal server error; the team has been told."
    if request.path.startswith("/api/"):
        return json_error_response(message, 500)
    return HttpResponseServerError(loader.get_template("errors/500.html").render({}))
