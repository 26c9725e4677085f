"""Test data for the status views: agreements with commitments, and daily rollups with known
figures (the rollups are the selectors' input, so tests may write them directly)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory

from contracts.models import Agreement, Commitment
from procurement.tests.factories import DepartmentFactory, VendorFactory
from usage.models import DailyRollup


class DailyRollupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DailyRollup

    day = date(2026, 1, 1)
    department = factory.SubFactory(DepartmentFactory)
    vendor = factory.SubFactory(VendorFactory)
    model = "model-a"
    records = 1
    requests = 1
    cost = Decimal(0)
    list_cost = Decimal(0)
    agreement_cost = Decimal(0)


def agreement(
    reference: str = "FA-BILL-1",
    *,
    vendor=None,
    start: date = date(2026, 1, 1),
    end: date = date(2026, 12, 31),
    currency: str = "USD",
) -> Agreement:
    return Agreement.objects.create(
        reference=reference,
        vendor=vendor or VendorFactory(slug="vend-commit", billing_currency=currency),
        start=start,
        end=end,
        currency=currency,
        status=Agreement.Status.ACTIVE,
    )


def commitment(agreement: Agreement, **fields) -> Commitment:
    fields.setdefault("unit", Commitment.TOKENS)
    fields.setdefault("period", Commitment.Period.ANNUAL)
    fields.setdefault("treatment", Commitment.Treatment.TAKE_OR_PAY)
    if fields["unit"] == Commitment.TOKENS and fields["treatment"] == Commitment.Treatment.TAKE_OR_PAY:
        fields.setdefault("shortfall_price", Decimal("0.50"))
    fields["amount"] = Decimal(fields["amount"])
    return Commitment.objects.create(agreement=agreement, **fields)
