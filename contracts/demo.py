"""Demo framework agreements (run by `manage.py load_demo`): three, in CNY and USD, with
graduated and volume tiers, a take-or-pay and a prepaid commitment, and SLA clauses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from procurement.models import Department, Vendor

from .models import Agreement
from .services import agreement_change

B = 1_000_000_000  # a billion tokens


def _tiers(*pairs):
    return [{"from_tokens": int(start), "price": D(price)} for start, price in pairs]


def _rule(pattern, token_class, schedule, *pairs, effective_from=None, effective_to=None):
    return {
        "model_pattern": pattern,
        "token_class": token_class,
        "schedule": schedule,
        "tiers": _tiers(*pairs),
        "effective_from": effective_from,
        "effective_to": effective_to,
    }


def _sla(metric, target, bands, *, models=(), cap="30", claim_days=30):
    return {
        "metric": metric,
        "models": list(models),
        "target": D(target),
        "bands": [{"breach_over": D(over), "credit_percent": D(credit)} for over, credit in bands],
        "cap_percent": D(cap),
        "claim_days": claim_days,
    }


def agreements() -> list[dict]:
    fin = Department.objects.get(code="FIN")
    vendor = {v.slug: v for v in Vendor.objects.filter(slug__in=["deepseek", "openai", "alibaba"])}
    return [
        {
            # DeepSeek, in CNY: graduated tiers on all deepseek-* models; a more specific price for
            # the reasoner's output; 2 trillion tokens a year take-or-pay, shortfall to Finance.
            "reference": "FA-2026-DS-01",
            "vendor": vendor["deepseek"],
            "start": date(2026, 1, 1),
            "end": date(2026, 12, 31),
            "currency": "CNY",
            "status": Agreement.Status.ACTIVE,
            "payment_terms_days": 60,
            "auto_renew": True,
            "notice_days": 90,
            "po_number": "PO-2026-0117",
            "notes": "Primary vendor for Chinese-language workloads. Fapiao (专票) monthly.",
            "price_rules": [
                _rule("deepseek-*", "input", "graduated", (0, "1.80"), (200 * B, "1.50"), (1000 * B, "1.20")),
                _rule("deepseek-*", "cached_input", "flat", (0, "0.18")),
                _rule("deepseek-*", "output", "graduated", (0, "2.80"), (100 * B, "2.40")),
                _rule("deepseek-reasoner", "output", "flat", (0, "3.20")),
            ],
            "commitments": [
                {
                    "unit": "tokens",
                    "amount": D(2000 * B),
                    "period": "annual",
                    "token_classes": [],
                    "treatment": "take_or_pay",
                    "shortfall_price": D("1.00"),
                    "shortfall_allocation": "central",
                    "central_department": fin,
                }
            ],
            "sla_clauses": [
                _sla("latency_p90", "1500", [("0", "5"), ("500", "10"), ("1500", "20")], models=["deepseek-chat"]),
                _sla("availability", "99.5", [("0", "5"), ("0.5", "10"), ("2", "25")]),
            ],
        },
        {
            # OpenAI, in USD: volume tiers (all tokens of the year at the tier reached) and a
            # prepaid drawdown of USD 250 000 a year; what is left at year end expires.
            "reference": "FA-2026-OA-01",
            "vendor": vendor["openai"],
            "start": date(2026, 1, 1),
            "end": date(2026, 12, 31),
            "currency": "USD",
            "status": Agreement.Status.ACTIVE,
            "payment_terms_days": 30,
            "auto_renew": False,
            "notice_days": 60,
            "po_number": "PO-2026-0042",
            "notes": "Enterprise agreement; invoices in USD.",
            "price_rules": [
                _rule("gpt-4o*", "input", "volume", (0, "2.40"), (50 * B, "2.20"), (200 * B, "2.00")),
                _rule("gpt-4o*", "cached_input", "flat", (0, "1.20")),
                _rule("gpt-4o*", "output", "volume", (0, "9.50"), (20 * B, "9.00")),
                _rule("gpt-4o-mini*", "input", "flat", (0, "0.14")),
                _rule("gpt-4o-mini*", "output", "flat", (0, "0.57")),
                _rule("gpt-4.1*", "input", "flat", (0, "1.90")),
                _rule("gpt-4.1*", "output", "flat", (0, "7.60")),
            ],
            "commitments": [
                {
                    "unit": "USD",
                    "amount": D("250000"),
                    "period": "annual",
                    "token_classes": [],
                    "treatment": "prepaid",
                    "shortfall_price": None,
                    "shortfall_allocation": "central",
                    "central_department": fin,
                }
            ],
            "sla_clauses": [
                _sla("availability", "99.9", [("0", "10"), ("0.4", "25"), ("4.9", "50")], cap="50"),
                _sla("latency_p50", "800", [("0", "5"), ("400", "10")], models=["gpt-4o", "gpt-4o-mini"], cap="20"),
            ],
        },
        {
            # Alibaba Cloud (Qwen), in CNY, fiscal-year term from April: a quarterly money
            # take-or-pay of CNY 300 000 shared pro rata by consumption.
            "reference": "FA-2026-QW-01",
            "vendor": vendor["alibaba"],
            "start": date(2026, 4, 1),
            "end": date(2027, 3, 31),
            "currency": "CNY",
            "status": Agreement.Status.ACTIVE,
            "payment_terms_days": 45,
            "auto_renew": True,
            "notice_days": 120,
            "po_number": "PO-2026-0311",
            "notes": "Backup vendor; data stays in the CN and SG regions.",
            "price_rules": [
                _rule("qwen-max*", "input", "flat", (0, "10.00")),
                _rule("qwen-max*", "output", "flat", (0, "40.00")),
                _rule("qwen-plus*", "input", "graduated", (0, "2.60"), (100 * B, "2.20")),
                _rule("qwen-plus*", "output", "graduated", (0, "7.80"), (50 * B, "6.60")),
                _rule("qwen-turbo*", "input", "flat", (0, "0.30")),
                _rule("qwen-turbo*", "output", "flat", (0, "0.60")),
            ],
            "commitments": [
                {
                    "unit": "CNY",
                    "amount": D("300000"),
                    "period": "quarterly",
                    "token_classes": [],
                    "treatment": "take_or_pay",
                    "shortfall_price": None,
                    "shortfall_allocation": "pro_rata",
                    "central_department": None,
                }
            ],
            "sla_clauses": [_sla("error_rate", "1.0", [("0", "5"), ("1", "15")], cap="25")],
        },
    ]


def load_agreements(actor=None) -> list[Agreement]:
    """Create the demo agreements that do not exist yet (existing ones are left as they are)."""
    created = []
    for data in agreements():
        if not Agreement.objects.filter(reference=data["reference"]).exists():
            created.append(agreement_change(agreement=None, changes=data, actor=actor).agreement)
    return created
