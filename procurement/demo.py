"""Demo procurement data (run by `manage.py load_demo`): a company tree of about a dozen cost
centres, the seven vendors of DESIGN.md with list prices from LiteLLM's public table, their
certifications (one expiring soon) and the fiscal year's budgets. Loading twice adds nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from .models import Budget, Department, Vendor, VendorCertification, VendorModel
from .services import budget_save, vendor_certification_save, vendor_model_save, vendor_save

# code, name, parent code
DEPARTMENTS = [
    ("CORP", "Corporate", None),
    ("FIN", "Finance", "CORP"),
    ("ENG", "Engineering", "CORP"),
    ("ENG-PLAT", "Platform Engineering", "ENG"),
    ("ENG-AI", "AI Products", "ENG"),
    ("ENG-AI-SEARCH", "Search & Assistants", "ENG-AI"),
    ("ENG-AI-CODE", "Code Assistant", "ENG-AI"),
    ("DATA", "Data Science", "CORP"),
    ("CS", "Customer Support", "CORP"),
    ("MKT", "Marketing", "CORP"),
    ("SALES", "Sales", "CORP"),
    ("LEGAL", "Legal & Compliance", "CORP"),
]


def load_departments() -> dict[str, Department]:
    by_code: dict[str, Department] = {}
    for code, name, parent in DEPARTMENTS:
        dept, _ = Department.objects.update_or_create(
            code=code, defaults={"name": name, "parent": by_code.get(parent) if parent else None}
        )
        by_code[code] = dept
    return by_code


# Vendors, their list prices and certifications -----------------------------------------------------

VENDORS = [
    dict(
        slug="deepseek",
        name="DeepSeek",
        kind="producer",
        country="CN",
        billing_currency="CNY",
        payment_terms_days=60,
        invoice_type="fapiao_special",
        data_residency=["CN"],
        dpa_signed=True,
        website="https://www.deepseek.com",
        aliases=["DeepSeek", "deepseek-ai"],
    ),
    dict(
        slug="alibaba",
        name="Alibaba Cloud (Qwen)",
        kind="cloud",
        country="CN",
        billing_currency="CNY",
        payment_terms_days=45,
        invoice_type="fapiao_special",
        data_residency=["CN", "SG"],
        dpa_signed=True,
        website="https://www.alibabacloud.com",
        aliases=["Alibaba Cloud", "Alibaba", "Qwen", "DashScope"],
    ),
    dict(
        slug="moonshot",
        name="Moonshot AI (Kimi)",
        kind="producer",
        country="CN",
        billing_currency="CNY",
        payment_terms_days=30,
        invoice_type="fapiao_general",
        data_residency=["CN"],
        dpa_signed=False,
        website="https://www.moonshot.cn",
        aliases=["Moonshot AI", "Kimi", "moonshotai"],
    ),
    dict(
        slug="zhipu",
        name="Zhipu AI (GLM)",
        kind="producer",
        country="CN",
        billing_currency="CNY",
        payment_terms_days=30,
        invoice_type="fapiao_special",
        data_residency=["CN"],
        dpa_signed=True,
        website="https://www.zhipuai.cn",
        aliases=["Zhipu AI", "Z.ai", "GLM", "z-ai"],
    ),
    dict(
        slug="openai",
        name="OpenAI",
        kind="producer",
        country="US",
        billing_currency="USD",
        payment_terms_days=30,
        invoice_type="commercial",
        data_residency=["US", "EU"],
        dpa_signed=True,
        website="https://openai.com",
        aliases=["OpenAI"],
    ),
    dict(
        slug="anthropic",
        name="Anthropic",
        kind="producer",
        country="US",
        billing_currency="USD",
        payment_terms_days=30,
        invoice_type="commercial",
        data_residency=["US", "EU"],
        dpa_signed=True,
        website="https://www.anthropic.com",
        aliases=["Anthropic"],
    ),
    dict(
        slug="openrouter",
        name="OpenRouter",
        kind="aggregator",
        country="US",
        billing_currency="USD",
        payment_terms_days=0,
        invoice_type="receipt",
        data_residency=["US"],
        dpa_signed=False,
        website="https://openrouter.ai",
        aliases=["OpenRouter"],
    ),
]
PRICES_FROM = date(2025, 1, 1)
DEMO_PRICES = Path(__file__).with_name("demo_prices.json")


def _certifications(today: date) -> list[dict]:
    """Certificates as a procurement team records them; OpenAI's SOC 2 report runs out within a
    month of loading, so the dashboard and alerts have something to say."""
    return [
        dict(vendor="deepseek", kind="mlps_level3", valid_from=date(2025, 3, 1), valid_until=date(2028, 2, 28)),
        dict(vendor="alibaba", kind="iso_27001", valid_from=date(2024, 6, 1), valid_until=date(2027, 5, 31)),
        dict(vendor="alibaba", kind="mlps_level3", valid_from=date(2025, 1, 15), valid_until=date(2028, 1, 14)),
        dict(vendor="zhipu", kind="mlps_level3", valid_from=date(2025, 7, 1), valid_until=date(2028, 6, 30)),
        dict(
            vendor="openai",
            kind="soc2_type2",
            valid_from=today - timedelta(days=335),
            valid_until=today + timedelta(days=30),
            reference="SOC 2 Type II report (renewal pending)",
        ),
        dict(vendor="openai", kind="iso_27001", valid_from=date(2025, 2, 1), valid_until=date(2028, 1, 31)),
        dict(vendor="anthropic", kind="soc2_type2", valid_from=date(2026, 3, 1), valid_until=date(2027, 2, 28)),
        dict(vendor="anthropic", kind="iso_42001", valid_from=date(2025, 1, 13), valid_until=date(2028, 1, 12)),
    ]


def load_vendors(actor=None) -> dict[str, Vendor]:
    vendors = {}
    for spec in VENDORS:
        spec = dict(spec)
        aliases = spec.pop("aliases")
        existing = Vendor.objects.filter(slug=spec["slug"]).first()
        if existing:
            vendors[existing.slug] = existing
            continue
        vendors[spec["slug"]] = vendor_save(actor=actor, aliases=aliases, **spec)
    return vendors


def load_price_book(vendors: dict[str, Vendor], actor=None) -> int:
    """List prices from LiteLLM's table (procurement/demo_prices.json, see scripts/extract_demo_prices.py),
    in force from 2025-01-01; gpt-4o also carries its launch price before that."""
    added = 0
    table = json.loads(DEMO_PRICES.read_text())
    rows = [
        dict(
            vendor=vendors[p["vendor"]],
            model=p["model"],
            effective_from=PRICES_FROM,
            effective_to=None,
            currency=table["currency"],
            **{
                f: (Decimal(p[f]) if p[f] is not None else None)
                for f in ("input_price", "cached_input_price", "cache_write_price", "output_price")
            },
        )
        for p in table["prices"]
    ]
    rows.append(
        dict(
            vendor=vendors["openai"],
            model="gpt-4o",
            effective_from=date(2024, 5, 13),
            effective_to=date(2024, 12, 31),
            currency="USD",
            input_price=Decimal("5"),
            cached_input_price=None,
            cache_write_price=None,
            output_price=Decimal("15"),
        )
    )
    for row in rows:
        if not VendorModel.objects.filter(
            vendor=row["vendor"], model=row["model"], effective_from=row["effective_from"]
        ).exists():
            vendor_model_save(actor=actor, **row)
            added += 1
    return added


def load_certifications(vendors: dict[str, Vendor], today: date, actor=None) -> None:
    for spec in _certifications(today):
        vendor = vendors[spec.pop("vendor")]
        if not VendorCertification.objects.filter(vendor=vendor, kind=spec["kind"]).exists():
            vendor_certification_save(actor=actor, vendor=vendor, **spec)


# Budgets ------------------------------------------------------------------------------------------------


def _growing(total: Decimal, start: Decimal = Decimal("0.06")) -> list[Decimal]:
    """Twelve months that grow linearly (usage ramps up over the year), summing exactly to total."""
    weights = [start + Decimal("0.0025") * i * 2 for i in range(12)]
    scale = total / sum(weights)
    months = [(w * scale).quantize(Decimal("0.01")) for w in weights]
    months[-1] += total - sum(months)
    return months


def load_budgets(fiscal_year: int, vendors: dict[str, Vendor], actor=None) -> int:
    """FY budgets in the reporting currency for the demo departments: evenly phased, one phased
    to grow with adoption, one per vendor, one with the advisory `block` action."""
    D = Decimal
    # Sized on the demo usage at list prices (usage runs from June): some on track, CS and the
    # Anthropic-only code assistant budget set to cross their thresholds, SALES ignored, FIN advisory-blocked.
    specs = [
        ("ENG", D("1000000"), None, [], "warn"),
        ("ENG-PLAT", D("120000"), None, [], "warn"),
        ("ENG-AI", D("900000"), None, _growing(D("900000")), "warn"),
        ("ENG-AI-SEARCH", D("450000"), None, [], "warn"),
        ("ENG-AI-CODE", D("400000"), None, [], "warn"),
        ("ENG-AI-CODE", D("360000"), vendors["anthropic"], [], "warn"),
        ("DATA", D("90000"), None, [], "warn"),
        ("CS", D("420000"), None, [], "warn"),
        ("MKT", D("8000"), None, [], "warn"),
        ("SALES", D("5000"), None, [], "ignore"),
        ("LEGAL", D("20000"), None, [], "warn"),
        ("FIN", D("30000"), None, [], "block"),
    ]
    added = 0
    departments = {d.code: d for d in Department.objects.all()}
    for code, amount, vendor, monthly, action in specs:
        department = departments[code]
        if Budget.objects.filter(department=department, fiscal_year=fiscal_year, vendor=vendor).exists():
            continue
        budget_save(
            actor=actor,
            department=department,
            fiscal_year=fiscal_year,
            amount=amount,
            vendor=vendor,
            monthly_amounts=monthly,
            action=action,
        )
        added += 1
    return added
