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


class Conflict(ApplicationError):
    """The action conflicts with the object's state (issuing an issued invoice, ...)."""

    status_code = 409


class Forbidden(ApplicationError):
    status_code = 403


class PayloadTooLarge(ApplicationError):
    status_code = 413


class UnsupportedFormat(ApplicationError):
    status_code = 415
