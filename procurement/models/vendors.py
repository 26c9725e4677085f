"""Vendors, the names they carry in feeds, their certifications, and the price book."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.fields import CurrencyField, PriceField
from core.models import TimeStampedModel

from ..validators import validate_country, validate_region


class Vendor(TimeStampedModel):
    class Kind(models.TextChoices):
        PRODUCER = "producer", "Model producer"
        AGGREGATOR = "aggregator", "Aggregator"
        CLOUD = "cloud", "Cloud platform"

    class InvoiceType(models.TextChoices):
        COMMERCIAL = "commercial", "Commercial invoice"
        VAT = "vat", "VAT invoice"
        FAPIAO_SPECIAL = "fapiao_special", "VAT special fapiao (专票)"
        FAPIAO_GENERAL = "fapiao_general", "VAT general fapiao (普票)"
        RECEIPT = "receipt", "Card receipt"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    country = models.CharField(max_length=2, validators=[validate_country], help_text="ISO 3166 code, e.g. CN.")
    billing_currency = CurrencyField()
    payment_terms_days = models.PositiveSmallIntegerField(default=30)
    invoice_type = models.CharField(max_length=16, choices=InvoiceType.choices, default=InvoiceType.COMMERCIAL)
    data_residency = ArrayField(
        models.CharField(max_length=32, validators=[validate_region]),
        default=list,
        blank=True,
        help_text="Regions where the vendor processes data, e.g. CN, EU, US.",
    )
    dpa_signed = models.BooleanField("DPA signed", default=False)
    website = models.URLField(blank=True)
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("procurement:vendor_detail", kwargs={"slug": self.slug})

    @property
    def aliases(self) -> list[str]:
        return [a.alias for a in self.alias_set.all()]


class VendorAlias(models.Model):
    """A name the vendor carries in feeds (FOCUS `ProviderName`, OpenRouter provider, …).
    Unique across vendors, ignoring case, so a feed row matches one vendor at most."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="alias_set")
    alias = models.CharField(max_length=200)
    history = HistoricalRecords()

    class Meta:
        ordering = ["alias"]
        constraints = [models.UniqueConstraint(Lower("alias"), name="vendoralias_unique_ci")]

    def __str__(self) -> str:
        return self.alias


class VendorCertification(TimeStampedModel):
    class Kind(models.TextChoices):
        ISO_27001 = "iso_27001", "ISO/IEC 27001"
        ISO_27701 = "iso_27701", "ISO/IEC 27701"
        ISO_42001 = "iso_42001", "ISO/IEC 42001"
        SOC2_TYPE1 = "soc2_type1", "SOC 2 Type I"
        SOC2_TYPE2 = "soc2_type2", "SOC 2 Type II"
        CSA_STAR = "csa_star", "CSA STAR"
        MLPS_LEVEL3 = "mlps_level3", "China MLPS level 3 (等保三级)"
        HIPAA = "hipaa", "HIPAA attestation"
        OTHER = "other", "Other"

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="certifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    valid_from = models.DateField()
    valid_until = models.DateField()
    reference = models.CharField(max_length=200, blank=True, help_text="Certificate number or auditor.")
    notes = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["vendor__name", "kind", "-valid_until"]
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gte=models.F("valid_from")), name="cert_until_after_from"),
        ]

    EXPIRING_WITHIN_DAYS = 60

    def __str__(self) -> str:
        return f"{self.vendor} {self.get_kind_display()} until {self.valid_until}"

    def get_absolute_url(self) -> str:
        return reverse("procurement:certification_detail", kwargs={"pk": self.pk})

    @property
    def days_left(self) -> int:
        return (self.valid_until - timezone.now().date()).days

    @property
    def status(self) -> str:
        """valid, expiring (within 60 days), expired, or future (not yet valid)."""
        today = timezone.now().date()
        if self.valid_until < today:
            return "expired"
        if self.valid_from > today:
            return "future"
        return "expiring" if self.days_left <= self.EXPIRING_WITHIN_DAYS else "valid"


class VendorModel(TimeStampedModel):
    """A list price of one of the vendor's models, per 1 000 000 tokens, effective-dated
    (both ends inclusive; no end means until further notice). A missing cached or cache-write
    price means the vendor charges those tokens at the input price."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="models")
    model = models.CharField(max_length=200)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    currency = CurrencyField()
    input_price = PriceField()
    cached_input_price = PriceField(null=True, blank=True)
    cache_write_price = PriceField(null=True, blank=True)
    output_price = PriceField()
    history = HistoricalRecords()

    # Periods of one vendor's model never overlap: a database trigger (core.db.no_overlap_trigger,
    # migration 0004) refuses them even when two writers race.

    class Meta:
        ordering = ["vendor__name", "model", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="vendormodel_to_after_from",
            ),
            models.CheckConstraint(
                condition=Q(input_price__gte=0)
                & Q(output_price__gte=0)
                & (Q(cached_input_price__isnull=True) | Q(cached_input_price__gte=0))
                & (Q(cache_write_price__isnull=True) | Q(cache_write_price__gte=0)),
                name="vendormodel_prices_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["vendor", "model", "-effective_from"], name="vendormodel_lookup")]

    def __str__(self) -> str:
        return f"{self.vendor.slug}/{self.model} from {self.effective_from}"

    def get_absolute_url(self) -> str:
        return reverse("procurement:vendormodel_detail", kwargs={"pk": self.pk})

    @property
    def period_label(self) -> str:
        """'2026-01-01 → 2026-06-30', or '2026-07-01 → open' without an end."""
        end = self.effective_to.isoformat() if self.effective_to else "open"
        return f"{self.effective_from.isoformat()} → {end}"
