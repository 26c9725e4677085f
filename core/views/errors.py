"""Error pages: JSON in the API's error shape under /api/, friendly HTML elsewhere."""

from __future__ import annotations

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from core.api.errors import json_error_response


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
    """Rendered without context processors: the database may be the thing that failed."""
    message = "Internal server error; the team has been told."
    if request.path.startswith("/api/"):
        return json_error_response(message, 500)
    return HttpResponseServerError(loader.get_template("errors/500.html").render({}))
