"""An agreement change as data: typed (what services work with) and as JSON (what a four-eyes
approval stores until a second person approves it).

Typed form — the API serializer's validated data: top-level fields (`vendor` a Vendor,
dates as date, money as Decimal) and, when given, the nested lists `price_rules`,
`commitments` and `sla_clauses` (`central_department` a Department). The JSON form uses the
API's representation (slugs, codes, decimal strings, ISO dates).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from procurement.models import Department, Vendor

TOP_FIELDS = (
    "reference",
    "vendor",
    "start",
    "end",
    "currency",
    "status",
    "payment_terms_days",
    "auto_renew",
    "notice_days",
    "po_number",
    "notes",
)
NESTED = ("price_rules", "commitments", "sla_clauses")
DATE_FIELDS = {"start", "end", "effective_from", "effective_to"}
DECIMAL_FIELDS = {"price", "amount", "shortfall_price", "target", "breach_over", "credit_percent", "cap_percent"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Vendor):
        return value.slug
    if isinstance(value, Department):
        return value.code
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_payload(data: dict) -> dict:
    return _jsonable(data)


def _typed(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in DATE_FIELDS:
        return date.fromisoformat(value)
    if key in DECIMAL_FIELDS:
        return Decimal(value)
    if key == "vendor":
        return Vendor.objects.get(slug=value)
    if key == "central_department":
        return Department.objects.get(code=value)
    if isinstance(value, list):
        return [_typed_item(v) if isinstance(v, dict) else v for v in value]
    return value


def _typed_item(item: dict) -> dict:
    return {k: _typed(k, v) for k, v in item.items()}


def from_payload(payload: dict) -> dict:
    return _typed_item(payload)


def state_of(agreement) -> dict:
    """The agreement as typed data, nested lists included (ids kept)."""
    return {
        **{name: getattr(agreement, name) for name in TOP_FIELDS},
        "price_rules": [
            {
                "id": rule.pk,
                "model_pattern": rule.model_pattern,
                "token_class": rule.token_class,
                "schedule": rule.schedule,
                "tiers": [{"from_tokens": t.from_tokens, "price": t.price} for t in rule.tiers.all()],
                "effective_from": rule.effective_from,
                "effective_to": rule.effective_to,
            }
            for rule in agreement.price_rules.all()
        ],
        "commitments": [
            {
                "id": c.pk,
                "unit": c.unit,
                "amount": c.amount,
                "period": c.period,
                "token_classes": list(c.token_classes),
                "treatment": c.treatment,
                "shortfall_price": c.shortfall_price,
                "shortfall_allocation": c.shortfall_allocation,
                "central_department": c.central_department,
            }
            for c in agreement.commitments.all()
        ],
        "sla_clauses": [
            {
                "id": s.pk,
                "metric": s.metric,
                "models": list(s.models),
                "target": s.target,
                "bands": [{"breach_over": b.breach_over, "credit_percent": b.credit_percent} for b in s.bands.all()],
                "cap_percent": s.cap_percent,
                "claim_days": s.claim_days,
            }
            for s in agreement.sla_clauses.all()
        ],
    }
