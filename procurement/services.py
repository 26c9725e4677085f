"""Writes of the procurement app. Every write validates fully and records who made it."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.db.models.functions import Lower

from core.exceptions import Conflict

from .models import Vendor, VendorAlias

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
