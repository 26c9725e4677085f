"""One application exception hierarchy; the API turns each into {"message", "extra"} (core.api.errors)."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business rule refused the action. `extra` carries machine-readable details."""

    status_code = 400

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Field errors of a nested object, shaped as DRF shapes them: {"price_rules": [{}, {"tiers":
    ["..."]}]}. The API answers 400 {"message", "extra": {"fields": ...}}."""

    def __init__(self, fields: dict[str, Any], message: str | None = None) -> None:
        from core.api.errors import summarise_fields

        super().__init__(message or summarise_fields(fields), extra={"fields": fields})
        self.fields = fields


class Conflict(ApplicationError):
    """The action conflicts with the object's state (issuing an issued invoice, ...)."""

    status_code = 409


class NotFound(ApplicationError):
    status_code = 404


class Forbidden(ApplicationError):
    status_code = 403


class PayloadTooLarge(ApplicationError):
    status_code = 413


class UnsupportedFormat(ApplicationError):
    status_code = 415
