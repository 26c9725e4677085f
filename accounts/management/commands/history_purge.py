"""Drop change-history rows older than a retention period (the only way history rows go).

    python manage.py history_purge --older-than-days 3650 [--dry-run]

The history is append-only in the database (accounts.history); this command lifts the guard for
its own transaction only.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.history import history_maintenance, history_models


class Command(BaseCommand):
    help = "Delete change-history rows older than --older-than-days (at least 365)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, required=True)
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, older_than_days: int, dry_run: bool, **options):
        if older_than_days < 365:
            raise CommandError("--older-than-days must be at least 365: the history is the audit trail.")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        total = 0
        with history_maintenance():
            # m2m history rows (they point at their historical row) go first
            models = sorted(history_models(), key=lambda m: _has_date(m))
            for model in models:
                lookup = "history_date__lt" if _has_date(model) else "history__history_date__lt"
                old = model.objects.filter(**{lookup: cutoff})
                count = old.count() if dry_run else old.delete()[1].get(model._meta.label, 0)
                total += count
                if count:
                    self.stdout.write(f"{model._meta.db_table}: {count}")
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} {total} history rows older than {cutoff:%Y-%m-%d}")


def _has_date(model) -> bool:
    return any(field.name == "history_date" for field in model._meta.fields)
