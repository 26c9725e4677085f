"""Agreement payloads and objects for tests (API.md's example, and a minimal valid draft)."""

from __future__ import annotations

import copy
from datetime import date

from procurement.models import Department, Vendor
from procurement.services import vendor_save

API_EXAMPLE = {
    "reference": "FA-2026-01",
    "vendor": "deepseek",
    "start": "2026-01-01",
    "end": "2026-12-31",
    "currency": "CNY",
    "status": "draft",
    "payment_terms_days": 60,
    "auto_renew": True,
    "notice_days": 90,
    "po_number": "PO-778",
    "price_rules": [
        {
            "model_pattern": "deepseek-*",
            "token_class": "input",
            "schedule": "graduated",
            "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 100000000000, "price": "0.20"}],
            "effective_from": None,
            "effective_to": None,
        }
    ],
    "commitments": [
        {
            "unit": "tokens",
            "amount": "500000000000",
            "period": "annual",
            "token_classes": [],
            "treatment": "take_or_pay",
            "shortfall_price": "0.25",
            "shortfall_allocation": "central",
            "central_department": "FIN",
        }
    ],
    "sla_clauses": [
        {
            "metric": "latency_p90",
            "models": ["deepseek-chat"],
            "target": "1500",
            "bands": [{"breach_over": "0", "credit_percent": "5"}, {"breach_over": "500", "credit_percent": "15"}],
            "cap_percent": "30",
            "claim_days": 30,
        }
    ],
}


def payload(**overrides) -> dict:
    data = copy.deepcopy(API_EXAMPLE)
    data.update(overrides)
    return data


def ensure_vendor(slug: str = "deepseek", currency: str = "CNY") -> Vendor:
    vendor = Vendor.objects.filter(slug=slug).first()
    if vendor:
        return vendor
    return vendor_save(
        actor=None, slug=slug, name=slug.title(), kind="producer", country="CN", billing_currency=currency, aliases=[]
    )


def ensure_fin() -> Department:
    return Department.objects.get_or_create(code="FIN", defaults={"name": "Finance"})[0]


def make_agreement(reference="FA-TEST", *, status="draft", start=date(2026, 1, 1), end=date(2026, 12, 31), vendor=None):
    from contracts.services import agreement_change

    vendor = vendor or ensure_vendor()
    result = agreement_change(
        agreement=None,
        changes={
            "reference": reference,
            "vendor": vendor,
            "start": start,
            "end": end,
            "currency": "CNY",
            "status": status,
        },
        actor=None,
    )
    return result.agreement
