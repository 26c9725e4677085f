"""Reads of vendor invoices and GL accounts, with what their lists and pages show."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from core.currencies import is_currency, minor_units

from ..models import GlAccount, VendorInvoice, VendorInvoiceLine


def vendor_invoice_list() -> QuerySet[VendorInvoice]:
    """Newest invoice date first, with the vendor, the people and the lines (no query per row)."""
    return (
        VendorInvoice.objects.select_related("vendor", "created_by", "approved_by")
        .prefetch_related(Prefetch("lines", queryset=VendorInvoiceLine.objects.order_by("position", "id")))
        .order_by("-invoice_date", "vendor__name", "number", "id")
    )


def gl_account_list() -> QuerySet[GlAccount]:
    return GlAccount.objects.select_related("vendor", "department").order_by(
        "purpose", "vendor__slug", "department__code", "id"
    )


def minor_unit_text(value: Decimal | None, currency: str) -> str | None:
    """An invoice amount at its currency's minor unit ("100.00"; "1500" for JPY)."""
    if value is None:
        return None
    digits = minor_units(currency) if is_currency(currency or "") else 2
    return format(value.quantize(Decimal(1).scaleb(-digits)), "f")
