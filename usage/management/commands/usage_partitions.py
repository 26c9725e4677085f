"""`manage.py usage_partitions [--months N]`: create the coming months' partitions of usage_record.

Only where `usage_record` has been converted to `PARTITION BY RANGE (bucket_start)` (README
"Monthly partitions"); on the plain table the migrations create it says so and changes nothing.
Run it monthly (deploy/tokenledger-partitions.timer) so a month's partition exists before its
first record arrives.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage.partitions import monthly_partitions_ensure, range_partition_key

TABLE = "usage_record"


class Command(BaseCommand):
    help = "Create this month's and the next months' partitions of usage_record, if it is partitioned."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--months", type=int, default=3, help="This month and the next N-1 (default 3).")

    def handle(self, *args, **opts) -> None:
        if opts["months"] < 1:
            raise CommandError("--months must be at least 1.")
        key = range_partition_key(TABLE)
        if key is None:
            self.stdout.write(
                f"{TABLE} is not partitioned: nothing to create "
                "(README, 'Monthly partitions', tells how to convert it)."
            )
            return
        if key != "bucket_start":
            raise CommandError(
                f"{TABLE} is range-partitioned on {key}, not bucket_start: create its partitions by hand."
            )
        today = timezone.now().date()
        for part in monthly_partitions_ensure(table=TABLE, first=today, months=opts["months"]):
            state = "created" if part.created else "present"
            self.stdout.write(f"{part.name}: {part.start} to {part.end} (exclusive) {state}")
