"""Usage records, their idempotency keys and earlier versions, rejected rows, daily and monthly
rollups.

Layout for scale. `usage_record` carries no unique constraint of its own, so it can be turned
into a table partitioned by month on `bucket_start` (its primary key then becomes (id,
bucket_start)). Idempotency stays global in `usage_key`, one row per key across all months,
mapping the key to the current record and the hash of its values: the same key with the same
values is a duplicate, with other values a restatement. See the README, "Usage records".
"""

from __future__ import annotations

from django.db import models

from core.fields import CostField, CurrencyField
from procurement.models import Department, Vendor

from .rating import RatingBasis
from .runs import IngestionRun
from .sources import Source


class UsageKey(models.Model):
    """The global idempotency index: the record's key (16 bytes of BLAKE2b) → the current record."""

    key = models.BinaryField(primary_key=True, max_length=16)
    record_id = models.BigIntegerField()
    bucket_start = models.DateTimeField(help_text="Lets a lookup go straight to the record's month.")
    content = models.BinaryField(max_length=16, help_text="BLAKE2b (16 bytes) of the record's values.")
    version = models.PositiveIntegerField(default=1)

    class Meta:
        db_table = "usage_key"

    def __str__(self) -> str:
        return f"key {bytes(self.key).hex()} → record {self.record_id} v{self.version}"


class UsageRecord(models.Model):
    """One feed bucket or request, as last stated, with its attribution and rated cost."""

    class FxStatus(models.TextChoices):
        SAME = "same", "Same currency"
        OK = "ok", "Converted"
        MISSING = "missing", "No rate"
        STALE = "stale", "Rate older than 7 days"

    class Rating(models.TextChoices):
        LIST = "list", "List price"
        CONTRACT = "contract", "Agreement"
        UNPRICED = "unpriced", "No price"

    id = models.BigAutoField(primary_key=True)
    key = models.BinaryField(max_length=16)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    # The hot fact table carries no database-level foreign keys: per-row constraint triggers would
    # cost a third of an ingest. Ingestion checks every reference against the reference data it
    # loads for the batch, and Django still refuses (PROTECT) deleting what records point to.
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    model = models.CharField(max_length=200)
    bucket_start = models.DateTimeField()
    bucket_end = models.DateTimeField(null=True, blank=True)
    usage_date = models.DateField(help_text="The UTC date of bucket_start.")
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=1)
    failed_requests = models.BigIntegerField(default=0)
    latency_ms = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    latency_p90_ms = models.FloatField(null=True, blank=True)
    project_id = models.CharField(max_length=255, null=True, blank=True)
    api_key_id = models.CharField(max_length=255, null=True, blank=True)
    workspace_id = models.CharField(max_length=255, null=True, blank=True)
    user_id = models.CharField(max_length=255, null=True, blank=True)
    service_tier = models.CharField(max_length=64, null=True, blank=True)
    region = models.CharField(max_length=64, null=True, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    department_explicit = models.BooleanField(default=False, help_text="The record named its department.")
    attribution_rule_id = models.BigIntegerField(null=True, blank=True)
    # Rating: cost in `cost_currency` (the agreement's, or the list price's), then in the reporting
    # currency. Exact at 12 places; rounding happens only on invoice lines.
    rating = models.CharField(max_length=16, choices=Rating.choices, default=Rating.UNPRICED)
    # The agreement in force for the vendor on the usage date (None: no agreement, list price).
    agreement_id = models.BigIntegerField(null=True, blank=True)
    off_contract = models.BooleanField(default=True, help_text="Some of its tokens had no price rule.")
    off_contract_reporting = CostField(
        null=True, blank=True, help_text="The list-priced (off-contract) part of cost_reporting."
    )
    cost = CostField(null=True, blank=True)
    list_cost = CostField(null=True, blank=True)
    cost_currency = CurrencyField(blank=True)
    cost_reporting = CostField(null=True, blank=True)
    list_cost_reporting = CostField(null=True, blank=True)
    reporting_currency = CurrencyField(blank=True)
    fx_rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    fx_date = models.DateField(null=True, blank=True)
    fx_status = models.CharField(max_length=8, choices=FxStatus.choices, blank=True)
    # per token class the rule, tier and rate used (see RatingBasis; None at list price without
    # an agreement): shared by the records rated alike, so a rating does not widen the row
    rating_basis = models.ForeignKey(
        RatingBasis,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    version = models.PositiveIntegerField(default=1)
    run = models.ForeignKey(
        IngestionRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "usage_record"
        # Only the index a query needs: records of a vendor in time order (drill-down, and the
        # rating order). Summaries and dashboards read the daily rollups, never this table.
        indexes = [models.Index(fields=["vendor", "bucket_start"], name="usage_record_vendor_time")]

    def __str__(self) -> str:
        return f"{self.vendor_id}/{self.model} {self.bucket_start:%Y-%m-%d %H:%M} v{self.version}"

    @property
    def rating_detail(self) -> dict | None:
        """Per token class the rule, schedule, tier and rate used, or the list rate (RatingBasis).
        Lists select_related("rating_basis") so this costs no query per record."""
        return None if self.rating_basis_id is None else self.rating_basis.detail


class UsageRecordVersion(models.Model):
    """An earlier version of a restated record, as it was (DESIGN.md: kept in history)."""

    record_id = models.BigIntegerField(db_index=True)
    version = models.PositiveIntegerField()
    data = models.JSONField()
    superseded_at = models.DateTimeField()
    superseded_by_run = models.ForeignKey(
        IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )

    class Meta:
        db_table = "usage_record_version"
        ordering = ["record_id", "version"]
        constraints = [models.UniqueConstraint(fields=["record_id", "version"], name="usage_version_unique")]

    def __str__(self) -> str:
        return f"record {self.record_id} v{self.version}"


class RejectedRow(models.Model):
    """A row that could not be ingested, kept with its raw text and reasons until it is
    corrected and replayed (then `resolved_by` names the run that took it)."""

    run = models.ForeignKey(IngestionRun, on_delete=models.CASCADE, related_name="rejected_rows")
    row = models.PositiveIntegerField(help_text="Index in the batch (from 0), or line number in the file (from 1).")
    raw = models.TextField()
    reasons = models.JSONField(default=list)
    external_id = models.CharField(max_length=255, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        IngestionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_rows"
    )

    class Meta:
        ordering = ["run", "row", "id"]
        indexes = [
            models.Index(
                fields=["run", "row"], name="rejected_open_by_run", condition=models.Q(resolved_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} row {self.row}"


class DailyRollup(models.Model):
    """Department × vendor × model × day totals, kept exact on insert, restatement and
    re-attribution; the summary API and dashboards read these."""

    day = models.DateField()
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", db_index=False)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+", db_index=False)
    model = models.CharField(max_length=200)
    records = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)
    failed_requests = models.BigIntegerField(default=0)
    cost = CostField(default=0, help_text="In the reporting currency.")
    list_cost = CostField(default=0, help_text="In the reporting currency.")
    unpriced_records = models.BigIntegerField(default=0, help_text="Records without a cost in the reporting currency.")
    off_contract_cost = CostField(default=0)
    agreement_cost = CostField(
        default=0,
        db_default=0,
        help_text="In the currency of the agreement in force (one per vendor and day), true-ups included.",
    )
    true_up_cost = CostField(
        default=0, db_default=0, help_text="Volume true-ups booked on this day (included in cost)."
    )

    class Meta:
        db_table = "usage_daily_rollup"
        constraints = [
            models.UniqueConstraint(fields=["day", "department", "vendor", "model"], name="usage_rollup_key"),
        ]
        indexes = [
            models.Index(fields=["department", "day"], name="usage_rollup_dept_day"),
            # the only rows whose cost can be negative (records' costs are not): a month without
            # one never sees a cumulative spend fall, so a crossing day is found in one month's
            # days (billing.selectors.budgets.first_days_reaching)
            models.Index(
                fields=["department", "day"],
                name="usage_rollup_negative_true_up",
                condition=models.Q(true_up_cost__lt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.department_id} {self.vendor_id} {self.model}"


class MonthlyRollup(models.Model):
    """Department × vendor × model × month totals: the daily rollups summed by calendar month.

    Kept in step by the database, not by the code that writes the daily rollups: statement-level
    AFTER INSERT / UPDATE / DELETE triggers on usage_daily_rollup (with transition tables) add
    each statement's change per month (an UPDATE adds new − old), upserting in key order, and
    delete a monthly row left empty (as usage.pipeline.persist.EMPTY_ROLLUP defines empty). See
    usage/migrations/0006_monthly_rollup.py. A TRUNCATE of the daily rollups is not followed.
    Year-long summaries, the dashboard's fiscal year and budget statuses read whole months here
    and only the edge days from the daily rollups."""

    month = models.DateField(help_text="The first day of the month.")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", db_index=False)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+", db_index=False)
    model = models.CharField(max_length=200)
    records = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)
    failed_requests = models.BigIntegerField(default=0)
    cost = CostField(default=0, help_text="In the reporting currency.")
    list_cost = CostField(default=0, help_text="In the reporting currency.")
    unpriced_records = models.BigIntegerField(default=0, help_text="Records without a cost in the reporting currency.")
    off_contract_cost = CostField(default=0)
    agreement_cost = CostField(default=0, help_text="In the currency of the agreement in force, true-ups included.")
    true_up_cost = CostField(default=0, help_text="Volume true-ups booked in this month (included in cost).")

    class Meta:
        db_table = "usage_monthly_rollup"
        constraints = [
            models.UniqueConstraint(fields=["month", "department", "vendor", "model"], name="usage_monthly_rollup_key"),
        ]
        indexes = [models.Index(fields=["department", "month"], name="usage_monthly_dept_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.department_id} {self.vendor_id} {self.model}"
