"""Helpers shared by the procurement services."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import models


def refuse_unknown_fields(fields: Mapping[str, object], allowed: Iterable[str], what: str) -> None:
    """A programming error, not a user's: services take only the fields they know."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"Unknown {what} fields: {', '.join(sorted(unknown))}")


def clean_or_raise(obj: models.Model, errors: dict[str, list[str]]) -> None:
    """Run the model's own field validation and raise it together with the service's `errors`.

    Where the service already has a message for a field, the model's generic one for the same
    field is dropped: the service's names the rule and says what to do. Database constraints are
    not re-validated here: each service checks the rule behind a constraint itself first, and the
    constraint stays as the backstop against races.
    """
    try:
        obj.full_clean(validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            if field not in errors:
                errors[field] = list(messages)
    if errors:
        raise ValidationError(errors)
