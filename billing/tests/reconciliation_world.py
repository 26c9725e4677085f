"""A month of vendor spend built through the real code paths — agreements through the API, usage
through `POST usage/records` (rated by the pipeline), vendor cost feeds uploaded as files — for
the reconciliation, accrual and GL tests. Every figure is worked out in `hand_worked()`.

January 2026, reporting currency USD:

* Anthropic (USD): agreement FA-ANTH, claude-* input 2.00 and output 10.00 per 1M, a monthly
  take-or-pay commitment of 100 M tokens at 2.00 per 1M short, 45 days' payment terms.
  Usage: claude-sonnet-4 on 10 Jan, 5 M in + 1 M out = 10.00 + 10.00 = 20.00 (department T-IN);
  claude-haiku on 20 Jan, 10 M in + 2 M out = 20.00 + 20.00 = 40.00 (department T-OUT).
  Shortfall: 100 M − 18 M = 82 M × 2.00 ÷ 10⁶ = 164.00. SLA credit for January: 6.00 (owed).
  Expected = 60.00 + 164.00 − 6.00 = 218.00. Invoice ANT-2026-01: lines 20 + 40 + 164 − 6 + 1
  (a support fee) = 219.00, tax 21.90, total 240.90 → variance 1.00, 0.4587 % (within 1 %).
  Cost feed (Anthropic cost_report, cents): "2000" on 10 Jan (20.00) and "4012.5" on 20 Jan
  (40.125) → vendor_reported 60.125.
* OpenAI (USD): no agreement, list price gpt-4o-2024-08-06 2.50 in / 10.00 out. Usage on 15 Jan: 2 M in +
  0.5 M out = 5.00 + 5.00 = 10.00 (T-IN). Cost feed (OpenAI costs) 10.50 → no invoice, so the
  variance is vendor_reported − expected = 0.50, 5 % (needs review).
* DeepSeek (CNY): agreement FA-DS in CNY, deepseek-chat input 2.00 and output 8.00 per 1M.
  Usage: deepseek-chat on 5 Jan, 10 M in + 1 M out = 20.00 + 8.00 = 28.00 CNY (T-IN);
  deepseek-reasoner (no rule: list price 0.55 USD per 1M in, which the pipeline converts into
  the agreement's CNY) on 6 Jan, 1 M in = 0.55 USD × 7.00 (EUR/CNY 7.70 ÷ EUR/USD 1.10) =
  3.85 CNY; and again on 25 Jan, when the latest rate (6 Jan) is stale: unpriced.
  Invoice DS-0001 (fapiao special, from the vendor's invoice type): subtotal 31.85, tax 1.91 →
  variance 0, but the unpriced record makes it "needs review".
* Qwen (CNY): no agreement, list price qwen-max 1.60 USD per 1M in, so its records cost USD and
  reconciliation converts them: 6 Jan, 2 M in = 3.20 USD × 7.00 = 22.40 CNY; 25 Jan, 1 M in =
  1.60 USD, whose rate is stale → left out with a warning. No invoice, no cost feed.
  Its accrual, 22.40 CNY, is converted at the closing rate of 30 Jan (EUR/USD 1.10, EUR/CNY
  7.92 → 7.20 CNY per USD): 3.111111111111 USD.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import SlaCredit
from billing.services.vendor_invoices import vendor_invoice_create
from contracts.models import Agreement
from core.models import FxRate
from core.roles import Role
from core.testing import token_client
from procurement.models import Vendor, VendorModel
from procurement.services import vendor_save
from usage.models import Source, VendorCostLine

JANUARY = date(2026, 1, 1)
D = Decimal


def vendor(slug: str, name: str, currency: str, **fields) -> Vendor:
    return Vendor.objects.filter(slug=slug).first() or vendor_save(
        actor=None,
        slug=slug,
        name=name,
        kind="producer",
        country=fields.pop("country", "US"),
        billing_currency=currency,
        aliases=[],
        **fields,
    )


def list_price(v: Vendor, model: str, currency: str, price_in: str, price_out: str) -> None:
    VendorModel.objects.get_or_create(
        vendor=v,
        model=model,
        effective_from=date(2025, 1, 1),
        defaults={"currency": currency, "input_price": D(price_in), "output_price": D(price_out)},
    )


def agreement(client, **body) -> dict:
    payload = {
        "start": "2026-01-01",
        "end": "2026-12-31",
        "status": "active",
        "commitments": [],
        "sla_clauses": [],
        **body,
    }
    response = client.post("/api/v1/agreements/", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def flat(pattern: str, token_class: str, price: str) -> dict:
    return {
        "model_pattern": pattern,
        "token_class": token_class,
        "schedule": "flat",
        "tiers": [{"from_tokens": 0, "price": price}],
    }


def usage(client, records: list[dict]) -> None:
    body = [
        {
            "source": "gw",
            "requests": 1,
            "cached_input_tokens": 0,
            "output_tokens": 0,
            **record,
        }
        for record in records
    ]
    response = client.post("/api/v1/usage/records", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.json()


def upload(client, content: str, fmt: str, capture) -> None:
    with capture(execute=True):
        response = client.post(
            "/api/v1/usage/files",
            {"file": SimpleUploadedFile("feed.json", content.encode()), "format": fmt, "source": "gw"},
            format="multipart",
        )
    assert response.status_code == 202, response.content
    run = client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()
    if run["rejected"]:
        rejected = client.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()
        raise AssertionError(rejected)
    assert run["status"] == "succeeded", run


def anthropic_costs(*days: tuple[int, str, str]) -> str:
    """A cost_report page: (day of January, amount in cents as text, model)."""
    buckets = [
        {
            "starting_at": f"2026-01-{day:02d}T00:00:00Z",
            "ending_at": f"2026-01-{day + 1:02d}T00:00:00Z",
            "results": [
                {
                    "currency": "USD",
                    "amount": cents,
                    "workspace_id": None,
                    "description": f"{model} usage",
                    "cost_type": "tokens",
                    "model": model,
                    "token_type": None,
                    "service_tier": "standard",
                    "context_window": None,
                    "inference_geo": None,
                }
            ],
        }
        for day, cents, model in days
    ]
    return json.dumps({"data": buckets, "has_more": False, "next_page": None})


def openai_costs(day: int, value: str, line_item: str) -> str:
    start = _epoch(date(2026, 1, day))
    page = {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": start,
                "end_time": start + 86400,
                "results": [
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": "__VALUE__", "currency": "usd"},
                        "line_item": line_item,
                        "project_id": None,
                        "api_key_id": None,
                        "quantity": None,
                        "quantity_unit": None,
                    }
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    return json.dumps(page).replace('"__VALUE__"', value)  # a JSON number, as OpenAI writes it


def cost_line(v: Vendor, day: date, amount: str, currency: str, **fields) -> VendorCostLine:
    """A vendor cost line as a FOCUS upload stores it (for cases the feeds' files make awkward)."""
    import os
    from datetime import UTC, datetime, timedelta

    source, _ = Source.objects.get_or_create(slug="focus", defaults={"name": "FOCUS", "format": "focus_csv"})
    begins = datetime(day.year, day.month, day.day, tzinfo=UTC)
    values = {
        "key": os.urandom(16),
        "content": os.urandom(16),
        "source": source,
        "vendor": v,
        "feed": "focus_csv",
        "period_start": begins,
        "period_end": begins + timedelta(days=1),
        "description": "Usage",
        "charge_category": "Usage",
        "amount": D(amount),
        "amount_as_given": amount,
        "currency": currency,
        "billed_cost": D(amount),
    }
    values.update(fields)
    return VendorCostLine.objects.create(**values)


def _epoch(day: date) -> int:
    from datetime import UTC, datetime

    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def build(role_world, capture) -> dict:
    """The month described above; answers the vendors and invoices by name."""
    procurement = token_client(role_world.user(Role.PROCUREMENT))
    finance = token_client(role_world.user(Role.FINANCE))
    Source.objects.get_or_create(slug="gw", defaults={"name": "Gateway"})

    anthropic = vendor("anthropic", "Anthropic", "USD", payment_terms_days=30)
    openai = vendor("openai", "OpenAI", "USD")
    deepseek = vendor("deepseek", "DeepSeek", "CNY", country="CN", invoice_type="fapiao_special")
    list_price(openai, "gpt-4o-2024-08-06", "USD", "2.5", "10")
    list_price(deepseek, "deepseek-reasoner", "USD", "0.55", "2.19")
    qwen = vendor("qwen", "Qwen", "CNY", country="CN")
    list_price(qwen, "qwen-max", "USD", "1.60", "6.40")
    for day, base, quote, rate in [
        (date(2026, 1, 5), "EUR", "USD", "1.10"),
        (date(2026, 1, 5), "EUR", "CNY", "7.70"),
        (date(2026, 1, 6), "EUR", "USD", "1.10"),
        (date(2026, 1, 6), "EUR", "CNY", "7.70"),
        (date(2026, 1, 30), "EUR", "USD", "1.10"),
        (date(2026, 1, 30), "EUR", "CNY", "7.92"),
    ]:
        FxRate.objects.create(date=day, base=base, quote=quote, rate=D(rate))

    agreement(
        procurement,
        reference="FA-ANTH",
        vendor="anthropic",
        currency="USD",
        payment_terms_days=45,
        po_number="PO-77",
        price_rules=[flat("claude-*", "input", "2.00"), flat("claude-*", "output", "10.00")],
        commitments=[
            {
                "unit": "tokens",
                "amount": "100000000",
                "period": "monthly",
                "token_classes": [],
                "treatment": "take_or_pay",
                "shortfall_price": "2.00",
                "shortfall_allocation": "central",
                "central_department": "T-IN",
            }
        ],
    )
    agreement(
        procurement,
        reference="FA-DS",
        vendor="deepseek",
        currency="CNY",
        price_rules=[flat("deepseek-chat", "input", "2.00"), flat("deepseek-chat", "output", "8.00")],
    )

    usage(
        finance,
        [
            {
                "external_id": "an-1",
                "vendor": "anthropic",
                "model": "claude-sonnet-4",
                "bucket_start": "2026-01-10T09:00:00Z",
                "input_tokens": 5_000_000,
                "output_tokens": 1_000_000,
                "department": "T-IN",
            },
            {
                "external_id": "an-2",
                "vendor": "anthropic",
                "model": "claude-haiku",
                "bucket_start": "2026-01-20T23:30:00Z",
                "input_tokens": 10_000_000,
                "output_tokens": 2_000_000,
                "department": "T-OUT",
            },
            {
                "external_id": "oa-1",
                "vendor": "openai",
                "model": "gpt-4o-2024-08-06",
                "bucket_start": "2026-01-15T00:00:00Z",
                "input_tokens": 2_000_000,
                "output_tokens": 500_000,
                "department": "T-IN",
            },
            {
                "external_id": "ds-1",
                "vendor": "deepseek",
                "model": "deepseek-chat",
                "bucket_start": "2026-01-05T12:00:00Z",
                "input_tokens": 10_000_000,
                "output_tokens": 1_000_000,
                "department": "T-IN",
            },
            {
                "external_id": "ds-2",
                "vendor": "deepseek",
                "model": "deepseek-reasoner",
                "bucket_start": "2026-01-06T12:00:00Z",
                "input_tokens": 1_000_000,
                "department": "T-IN",
            },
            {
                "external_id": "qw-1",
                "vendor": "qwen",
                "model": "qwen-max",
                "bucket_start": "2026-01-06T08:00:00Z",
                "input_tokens": 2_000_000,
                "department": "T-OUT",
            },
            {
                "external_id": "qw-2",
                "vendor": "qwen",
                "model": "qwen-max",
                "bucket_start": "2026-01-25T08:00:00Z",
                "input_tokens": 1_000_000,
                "department": "T-OUT",
            },
            {
                "external_id": "ds-3",
                "vendor": "deepseek",
                "model": "deepseek-reasoner",
                "bucket_start": "2026-01-25T12:00:00Z",
                "input_tokens": 1_000_000,
                "department": "T-IN",
            },
        ],
    )
    upload(
        finance,
        anthropic_costs((10, "2000", "claude-sonnet-4"), (20, "4012.5", "claude-haiku")),
        "anthropic_costs",
        capture,
    )
    upload(finance, openai_costs(15, "10.50", "gpt-4o-2024-08-06, input"), "openai_costs", capture)

    fa_anth = Agreement.objects.get(reference="FA-ANTH")
    SlaCredit.objects.create(
        agreement=fa_anth,
        period=JANUARY,
        metric="latency_p90",
        credit_percent=D("10"),
        in_scope_charges=D("60"),
        credit=D("6.00"),
        currency="USD",
        status=SlaCredit.Status.OWED,
    )
    SlaCredit.objects.create(  # waived: not expected
        agreement=fa_anth,
        period=JANUARY,
        metric="availability",
        credit=D("100.00"),
        currency="USD",
        status=SlaCredit.Status.WAIVED,
    )
    finance_user = role_world.user(Role.FINANCE)
    anthropic_invoice = vendor_invoice_create(
        actor=finance_user,
        vendor=anthropic,
        number="ANT-2026-01",
        invoice_date=date(2026, 2, 3),
        period=JANUARY,
        tax=D("21.90"),
        lines=[
            {"description": "Claude Sonnet 4 usage", "model": "claude-sonnet-4", "amount": D("20.00")},
            {"description": "Claude Haiku usage", "model": "claude-haiku", "amount": D("40.00")},
            {"description": "Commitment shortfall", "amount": D("164.00")},
            {"description": "SLA credit", "amount": D("-6.00")},
            {"description": "Support", "amount": D("1.00")},
        ],
    )
    deepseek_invoice = vendor_invoice_create(
        actor=finance_user,
        vendor=deepseek,
        number="DS-0001",
        invoice_date=date(2026, 2, 1),
        period=JANUARY,
        subtotal=D("31.85"),
        tax=D("1.91"),
    )
    return {
        "qwen": qwen,
        "anthropic": anthropic,
        "openai": openai,
        "deepseek": deepseek,
        "anthropic_invoice": anthropic_invoice,
        "deepseek_invoice": deepseek_invoice,
    }
