"""Every API error answers {"message": "...", "extra": {...}} (API.md, Errors)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import ApplicationError


def error_body(message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"message": message, "extra": extra or {}}


DATABASE_UNAVAILABLE = "The database cannot be reached right now; try again in a few seconds."
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException | None) -> bool:
    """The database went away (restarting, failing over, unreachable) or broke the connection:
    a temporary condition, answered 503 with Retry-After rather than as a server error. The next
    request reconnects (health-checked persistent connections), so the process need not restart."""
    return isinstance(exc, (OperationalError, InterfaceError))


def database_unavailable_response() -> Response:
    response = Response(error_body(DATABASE_UNAVAILABLE), status=status.HTTP_503_SERVICE_UNAVAILABLE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def summarise_fields(fields: Any) -> str:
    """'Invalid input: tiers — Tiers must start at 0 tokens.' for the first field error."""
    if isinstance(fields, dict) and fields:
        name, errors = next(iter(fields.items()))
        while isinstance(errors, dict) and errors:
            sub, errors = next(iter(errors.items()))
            name = f"{name}.{sub}"
        while isinstance(errors, list) and errors and isinstance(errors[0], (list, dict)):
            nested = next((e for e in errors if e), None)
            if isinstance(nested, dict) and nested:
                sub, errors = next(iter(nested.items()))
                name = f"{name}.{sub}"
            else:
                errors = nested or []
        text = errors[0] if isinstance(errors, list) and errors else errors
        if name in ("non_field_errors", "__all__"):
            return f"Invalid input: {text}"
        return f"Invalid input: {name} — {text}"
    if isinstance(fields, list) and fields:
        return f"Invalid input: {fields[0]}"
    return "Invalid input."


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DataError):
        # A value the database cannot take (a NUL character, a number out of range): the input's fault.
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid value"
        return Response(error_body(f"A value could not be used: {detail}."), status=status.HTTP_400_BAD_REQUEST)
    elif isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("Request body is larger than the configured limit."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )

    elif database_unavailable(exc):
        return database_unavailable_response()

    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.extra), status=exc.status_code)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django logs it and handler500 answers in the same shape

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail
        response.data = error_body(summarise_fields(fields), {"fields": fields})
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body("Too many requests; slow down.", {"wait_seconds": exc.wait})
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        extra: dict[str, Any] = {}
        if isinstance(detail, dict):
            extra = {k: v for k, v in detail.items() if k != "detail"}
            detail = detail.get("detail", "Error.")
        response.data = error_body(str(detail), extra)
    return response


def json_error_response(message: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(message), status=status_code)
