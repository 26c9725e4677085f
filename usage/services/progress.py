"""Progress of a run that works inside one long transaction, written where others can see it.

A file is ingested in a single transaction (all or nothing), so its progress updates go through
a second database connection in autocommit; the run page and `GET usage/runs/{id}` read them
while the work is still uncommitted."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.utils import timezone

ALIAS = "progress"


def report(run_id: int, progress: int, message: str | None = None) -> None:
    # The test settings have no second alias: progress then lands in the run's own transaction.
    connection = connections[ALIAS if ALIAS in settings.DATABASES else "default"]
    with connection.cursor() as cursor:
        if message is None:
            cursor.execute(
                "UPDATE core_jobrun SET progress = %s, updated_at = %s WHERE id = %s",
                [max(0, min(100, progress)), timezone.now(), run_id],
            )
        else:
            cursor.execute(
                "UPDATE core_jobrun SET progress = %s, message = %s, updated_at = %s WHERE id = %s",
                [max(0, min(100, progress)), message, timezone.now(), run_id],
            )
