"""Requests carrying NUL characters are refused early: PostgreSQL cannot store them in text, so
a slug, filter or form value with one would otherwise end as a database error."""

from __future__ import annotations

from django.http import HttpResponseBadRequest

from core.api.errors import json_error_response

MESSAGE = "The request contains a NUL character, which no field accepts."


class RejectNulCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            if request.path.startswith("/api/"):
                return json_error_response(MESSAGE, 400)
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in vs) for k, vs in request.GET.lists()):
            return True
        # Form posts of the web pages; API bodies are parsed by DRF (and a stray NUL there is a 400
        # from the API error handler). Files may hold NUL bytes legitimately and are not looked at.
        if (
            request.method == "POST"
            and not request.path.startswith("/api/")
            and request.content_type
            in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            )
        ):
            return any("\x00" in k or any("\x00" in v for v in vs) for k, vs in request.POST.lists())
        return False
