"""Vendors, their certifications and the price book (effective-dated list prices)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.db.models.functions import Lower

from core.exceptions import Conflict
from core.services import rerate_request

from ..models import Vendor, VendorAlias, VendorCertification, VendorModel
from ._common import clean_or_raise, refuse_unknown_fields

VENDOR_FIELDS = (
    "slug",
    "name",
    "kind",
    "country",
    "billing_currency",
    "payment_terms_days",
    "invoice_type",
    "data_residency",
    "dpa_signed",
    "website",
    "notes",
)


def _clean_aliases(aliases: Sequence[str]) -> list[str]:
    cleaned: list[str] = []
    seen: set[str] = set()
    for alias in aliases:
        alias = (alias or "").strip()
        if alias and alias.lower() not in seen:
            seen.add(alias.lower())
            cleaned.append(alias)
    return cleaned


def _save_aliases(vendor: Vendor, aliases: list[str], actor) -> None:
    taken = (
        VendorAlias.objects.annotate(lower=Lower("alias"))
        .filter(lower__in=[a.lower() for a in aliases])
        .exclude(vendor=vendor)
        .select_related("vendor")
    )
    clashes = [f"{a.alias!r} belongs to {a.vendor.name}" for a in taken]
    if clashes:
        raise ValidationError({"aliases": [f"Aliases must be unique across vendors: {'; '.join(clashes)}."]})
    current = {a.alias.lower(): a for a in vendor.alias_set.all()}
    wanted = {a.lower(): a for a in aliases}
    for key, row in current.items():
        if key not in wanted:
            row._history_user = actor
            row.delete()
        elif row.alias != wanted[key]:
            row.alias = wanted[key]
            row._history_user = actor
            row.save()
    for key, alias in wanted.items():
        if key not in current:
            row = VendorAlias(vendor=vendor, alias=alias)
            row._history_user = actor
            row.save()


@transaction.atomic
def vendor_save(*, vendor: Vendor | None = None, actor, aliases: Sequence[str] | None = None, **fields) -> Vendor:
    """Create a vendor (vendor=None) or change one. `aliases`, when given, replaces the list."""
    unknown = set(fields) - set(VENDOR_FIELDS)
    if unknown:
        raise TypeError(f"Unknown vendor fields: {', '.join(sorted(unknown))}")
    vendor = vendor or Vendor()
    for name, value in fields.items():
        setattr(vendor, name, value)
    if vendor.country:
        vendor.country = vendor.country.upper()
    vendor.data_residency = [r.strip().upper() for r in vendor.data_residency if r and r.strip()]
    vendor.full_clean()
    vendor._history_user = actor
    try:
        with transaction.atomic():
            vendor.save()
            if aliases is not None:
                _save_aliases(vendor, _clean_aliases(aliases), actor)
    except IntegrityError as exc:  # two people adding the same alias at the same moment
        raise ValidationError({"aliases": ["Aliases must be unique across vendors."]}) from exc
    return vendor


def vendor_delete(*, vendor: Vendor, actor) -> None:
    try:
        with transaction.atomic():
            vendor._history_user = actor
            vendor.delete()
    except ProtectedError as exc:
        raise Conflict(
            f"{vendor.name} has agreements, budgets or usage and cannot be deleted; it stays for the history."
        ) from exc


# Certifications --------------------------------------------------------------------------------

CERTIFICATION_FIELDS = ("vendor", "kind", "valid_from", "valid_until", "reference", "notes")


@transaction.atomic
def vendor_certification_save(
    *, certification: VendorCertification | None = None, actor, **fields
) -> VendorCertification:
    """Record a certification (certification=None) or change one. Validity is inclusive at both ends."""
    refuse_unknown_fields(fields, CERTIFICATION_FIELDS, "certification")
    certification = certification or VendorCertification()
    for name, value in fields.items():
        setattr(certification, name, value)
    certification.reference = (certification.reference or "").strip()
    errors: dict[str, list[str]] = {}
    if certification.valid_from and certification.valid_until and certification.valid_until < certification.valid_from:
        errors["valid_until"] = [
            f"Valid until ({certification.valid_until}) must be on or after valid from ({certification.valid_from})."
        ]
    clean_or_raise(certification, errors)
    certification._history_user = actor
    certification.save()
    return certification


def vendor_certification_delete(*, certification: VendorCertification, actor) -> None:
    certification._history_user = actor
    certification.delete()


# Price book ------------------------------------------------------------------------------------

VENDOR_MODEL_FIELDS = (
    "vendor",
    "model",
    "effective_from",
    "effective_to",
    "currency",
    "input_price",
    "cached_input_price",
    "cache_write_price",
    "output_price",
)


def _overlapping_price(price: VendorModel) -> VendorModel | None:
    """Another list price of the same vendor and model whose effective period (inclusive,
    an open end meaning until further notice) shares at least one day with this one."""
    if not (price.vendor_id and price.model and price.effective_from):
        return None
    others = VendorModel.objects.filter(vendor_id=price.vendor_id, model=price.model).filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=price.effective_from)
    )
    if price.effective_to:
        others = others.filter(effective_from__lte=price.effective_to)
    if price.pk:
        others = others.exclude(pk=price.pk)
    return others.order_by("effective_from").first()


def _overlap_message(price: VendorModel, clash: VendorModel) -> str:
    return (
        f"{price.model} already has a list price for {clash.period_label}, which overlaps "
        f"{price.period_label}. End that period first (set its effective_to) or choose dates outside it."
    )


@transaction.atomic
def vendor_model_save(*, vendor_model: VendorModel | None = None, actor, **fields) -> VendorModel:
    """Add a list price to the price book (vendor_model=None) or change one.

    Periods of one vendor's model never overlap, so exactly one price is in force on a day
    (selectors.list_price_for). The currency defaults to the vendor's billing currency."""
    refuse_unknown_fields(fields, VENDOR_MODEL_FIELDS, "price book")
    price = vendor_model or VendorModel()
    for name, value in fields.items():
        setattr(price, name, value)
    price.model = (price.model or "").strip()
    price.currency = (price.currency or "").strip().upper()
    if not price.currency and price.vendor_id:
        price.currency = price.vendor.billing_currency
    errors: dict[str, list[str]] = {}
    if price.effective_from and price.effective_to and price.effective_to < price.effective_from:
        errors["effective_to"] = [
            f"The period ends ({price.effective_to}) before it starts ({price.effective_from}); "
            "effective_to is inclusive and may be left empty for an open end."
        ]
    elif clash := _overlapping_price(price):
        errors["effective_from"] = [_overlap_message(price, clash)]
    for name in ("input_price", "cached_input_price", "cache_write_price", "output_price"):
        value = getattr(price, name)
        if value is not None and value < 0:
            errors[name] = ["Prices cannot be negative."]
    clean_or_raise(price, errors)
    before = (
        VendorModel.objects.filter(pk=price.pk).values_list("effective_from", "effective_to", "vendor_id").first()
        if price.pk
        else None
    )
    price._history_user = actor
    try:
        with transaction.atomic():
            price.save()
    except IntegrityError as exc:  # someone saved an overlapping period at the same moment
        clash = _overlapping_price(price)
        message = (
            _overlap_message(price, clash)
            if clash
            else "Another price for this model was saved at the same moment; reload and try again."
        )
        raise ValidationError({"effective_from": [message]}) from exc
    _rerate_list_price(price, before, actor)
    return price


def _rerate_list_price(price: VendorModel, before: tuple | None, actor) -> None:
    """Usage of the days a list price covers (before and after the change) is re-rated."""
    froms = [price.effective_from] + ([before[0]] if before else [])
    tos = [price.effective_to] + ([before[1]] if before else [])
    rerate_request(
        since=min(froms),
        until=None if None in tos else max(tos),
        vendor_ids=[price.vendor_id] + ([before[2]] if before else []),
        reason=f"list price of {price.model}",
        actor=actor,
    )


@transaction.atomic
def vendor_model_delete(*, vendor_model: VendorModel, actor) -> None:
    vendor_model._history_user = actor
    vendor_model.delete()
    before = (vendor_model.effective_from, vendor_model.effective_to, vendor_model.vendor_id)
    _rerate_list_price(vendor_model, before, actor)
