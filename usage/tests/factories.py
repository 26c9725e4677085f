"""Usage test data: a vendor with a list price, a source, and record builders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from procurement.models import Vendor, VendorModel
from procurement.services import vendor_save
from usage.models import Source


def world(*, vendor="openai", currency="USD", model="gpt-4o", price_in="2.5", price_out="10", cached="1.25"):
    v = Vendor.objects.filter(slug=vendor).first() or vendor_save(
        actor=None,
        slug=vendor,
        name=vendor.title(),
        kind="producer",
        country="US",
        billing_currency=currency,
        aliases=[],
    )
    if not VendorModel.objects.filter(vendor=v, model=model).exists():
        VendorModel.objects.create(
            vendor=v,
            model=model,
            effective_from=date(2025, 1, 1),
            currency=currency,
            input_price=Decimal(price_in),
            output_price=Decimal(price_out),
            cached_input_price=Decimal(cached) if cached else None,
        )
    source, _ = Source.objects.get_or_create(slug="gw", defaults={"name": "Gateway"})
    return v, source


def record(i: int = 0, **overrides) -> dict:
    base = {
        "source": "gw",
        "vendor": "openai",
        "model": "gpt-4o",
        "bucket_start": f"2026-03-0{1 + i % 9}T{i % 24:02d}:00:00Z",
        "bucket_end": f"2026-03-0{1 + i % 9}T{i % 24:02d}:59:59Z",
        "input_tokens": 1000 + i,
        "cached_input_tokens": 100,
        "output_tokens": 500,
        "requests": 3,
        "project_id": f"proj-{i % 3}",
    }
    base.update(overrides)
    return base
