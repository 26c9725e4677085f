"""Sources: where usage comes from."""

from __future__ import annotations

from django.db import transaction
from django.db.models import ProtectedError

from core.exceptions import Conflict

from ..models import Source

SOURCE_FIELDS = ("slug", "name", "vendor", "format", "is_active", "description")


@transaction.atomic
def source_save(*, source: Source | None = None, actor, **fields) -> Source:
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown source fields: {', '.join(sorted(unknown))}")
    source = source or Source()
    for name, value in fields.items():
        setattr(source, name, value)
    source.full_clean()
    source._history_user = actor
    source.save()
    return source


def source_delete(*, source: Source, actor) -> None:
    try:
        with transaction.atomic():
            source._history_user = actor
            source.delete()
    except ProtectedError as exc:
        raise Conflict(f"{source.name} has ingestion runs or usage; deactivate it instead.") from exc
