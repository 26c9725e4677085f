"""Reads of the procurement app."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch, Q, QuerySet

from .models import Vendor, VendorAlias, VendorModel


def vendor_list() -> QuerySet[Vendor]:
    return Vendor.objects.prefetch_related(Prefetch("alias_set", queryset=VendorAlias.objects.order_by("alias")))


def vendor_by_alias(name: str) -> Vendor | None:
    """The vendor a feed's provider name belongs to (its slug, name or an alias, ignoring case)."""
    name = (name or "").strip()
    if not name:
        return None
    alias = VendorAlias.objects.select_related("vendor").filter(alias__iexact=name).first()
    if alias:
        return alias.vendor
    return Vendor.objects.filter(slug__iexact=name).first() or Vendor.objects.filter(name__iexact=name).first()


def vendor_prices_in_force(*, vendor: Vendor, on: date) -> QuerySet[VendorModel]:
    return vendor.models.filter(
        Q(effective_to__isnull=True) | Q(effective_to__gte=on), effective_from__lte=on
    ).order_by("model")
