"""Framework agreements: price rules with tiers, commitments, SLA clauses, and amendments."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from core.fields import AmountField, CurrencyField, PriceField
from core.models import TimeStampedModel
from procurement.models import Department, Vendor

reference_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "Use letters, digits, '.', '_' and '-' (no spaces or '/'), e.g. FA-2026-01.",
)


class TokenClass(models.TextChoices):
    INPUT = "input", "Input (uncached)"
    CACHED_INPUT = "cached_input", "Cached input"
    CACHE_WRITE = "cache_write", "Cache write"
    OUTPUT = "output", "Output"


class Agreement(TimeStampedModel):
    """A framework agreement with one vendor. Its term is inclusive at both ends; at most one
    agreement per vendor is active on any date (a database trigger, migration 0002)."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        EXPIRED = "expired"
        TERMINATED = "terminated"

    reference = models.CharField(max_length=64, unique=True, validators=[reference_validator])
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="agreements")
    start = models.DateField()
    end = models.DateField()
    currency = CurrencyField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    payment_terms_days = models.PositiveSmallIntegerField(default=30, validators=[MaxValueValidator(365)])
    auto_renew = models.BooleanField(default=False)
    notice_days = models.PositiveSmallIntegerField(
        default=90, validators=[MaxValueValidator(730)], help_text="Days before the end to give notice."
    )
    po_number = models.CharField("PO number", max_length=64, blank=True)
    signed_document = models.FileField(upload_to="agreements/", blank=True)
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-start", "reference"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=models.F("start")), name="agreement_end_after_start"),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("contracts:agreement_detail", kwargs={"reference": self.reference})


class PriceRule(models.Model):
    """A model pattern and token class → a tier schedule, effective-dated inside the term."""

    class Schedule(models.TextChoices):
        FLAT = "flat", "Flat (one price)"
        GRADUATED = "graduated", "Graduated (each tier's tokens at its price)"
        VOLUME = "volume", "Volume (all tokens at the tier reached)"

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="price_rules")
    model_pattern = models.CharField(max_length=200, help_text="A model name or a shell-style pattern: deepseek-*")
    token_class = models.CharField(max_length=16, choices=TokenClass.choices)
    schedule = models.CharField(max_length=16, choices=Schedule.choices, default=Schedule.FLAT)
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "model_pattern", "token_class", "effective_from", "id"]

    def __str__(self) -> str:
        return f"{self.model_pattern} {self.token_class} ({self.schedule})"


class PriceTier(models.Model):
    """From `from_tokens` (cumulative in the pricing period) the price per 1 000 000 tokens."""

    rule = models.ForeignKey(PriceRule, on_delete=models.CASCADE, related_name="tiers")
    from_tokens = models.BigIntegerField(validators=[MinValueValidator(0)])
    price = PriceField()

    class Meta:
        ordering = ["rule", "from_tokens"]
        constraints = [models.UniqueConstraint(fields=["rule", "from_tokens"], name="tier_unique_start")]

    def __str__(self) -> str:
        return f"from {self.from_tokens}: {self.price}"


class Commitment(models.Model):
    class Period(models.TextChoices):
        ANNUAL = "annual"
        QUARTERLY = "quarterly"
        MONTHLY = "monthly"

    class Treatment(models.TextChoices):
        TAKE_OR_PAY = "take_or_pay", "Take or pay"
        PREPAID = "prepaid", "Prepaid drawdown"

    class Allocation(models.TextChoices):
        CENTRAL = "central", "Central department"
        PRO_RATA = "pro_rata", "Pro rata to consumption"

    TOKENS = "tokens"

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="commitments")
    unit = models.CharField(max_length=8, help_text="'tokens', or the agreement's currency code for money.")
    amount = AmountField()
    period = models.CharField(max_length=16, choices=Period.choices, default=Period.ANNUAL)
    token_classes = ArrayField(models.CharField(max_length=16, choices=TokenClass.choices), default=list, blank=True)
    treatment = models.CharField(max_length=16, choices=Treatment.choices, default=Treatment.TAKE_OR_PAY)
    shortfall_price = PriceField(null=True, blank=True, help_text="Per 1 000 000 tokens not consumed.")
    shortfall_allocation = models.CharField(max_length=16, choices=Allocation.choices, default=Allocation.CENTRAL)
    central_department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="central_commitments"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["agreement", "id"]

    def __str__(self) -> str:
        return f"{self.get_treatment_display()} {self.amount.normalize()} {self.unit} {self.period}"

    @property
    def is_tokens(self) -> bool:
        return self.unit == self.TOKENS


class SlaClause(models.Model):
    class Metric(models.TextChoices):
        AVAILABILITY = "availability", "Availability (%)"
        LATENCY_P50 = "latency_p50", "Latency P50 (ms)"
        LATENCY_P90 = "latency_p90", "Latency P90 (ms)"
        ERROR_RATE = "error_rate", "Error rate (%)"
        THROUGHPUT_FLUCTUATION = "throughput_fluctuation", "Throughput fluctuation (max ÷ min)"

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="sla_clauses")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    target = models.DecimalField(max_digits=14, decimal_places=4)
    cap_percent = models.DecimalField(max_digits=5, decimal_places=2, default=100)
    claim_days = models.PositiveSmallIntegerField(default=30)
    history = HistoricalRecords()
    # Named as API.md names it; defined last because the name shadows django.db.models here.
    models = ArrayField(models.CharField(max_length=200), default=list, blank=True, help_text="Empty: all models.")

    class Meta:
        ordering = ["agreement", "metric", "id"]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} target {self.target.normalize()}"

    @property
    def higher_is_better(self) -> bool:
        return self.metric == self.Metric.AVAILABILITY


class SlaBand(models.Model):
    """Above `breach_over` (ms, or percentage points) the credit is `credit_percent` of the
    month's charges for the models in scope; the highest applying band counts."""

    clause = models.ForeignKey(SlaClause, on_delete=models.CASCADE, related_name="bands")
    breach_over = models.DecimalField(max_digits=14, decimal_places=4, validators=[MinValueValidator(0)])
    credit_percent = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["clause", "breach_over"]
        constraints = [models.UniqueConstraint(fields=["clause", "breach_over"], name="band_unique_start")]

    def __str__(self) -> str:
        return f"over {self.breach_over.normalize()}: {self.credit_percent.normalize()} %"


class AgreementAmendment(models.Model):
    """One change to an agreement: what changed, who changed it, who approved it (four-eyes),
    and from which date usage must be re-rated."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="amendments")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval = models.ForeignKey(
        "accounts.ApprovalRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.TextField()
    changes = models.JSONField(default=dict)
    rerate_from = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["agreement", "-number"]
        constraints = [models.UniqueConstraint(fields=["agreement", "number"], name="amendment_number_unique")]

    def __str__(self) -> str:
        return f"{self.agreement.reference} amendment {self.number}"
