"""Contract rating applied to stored usage: hand-worked money, late data, amendments, true-ups."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.roles import Role
from core.testing import token_client
from usage.models import DailyRollup, TrueUp, UsageRecord

from .factories import record, world

pytestmark = pytest.mark.django_db(transaction=True)


def agreement(client, **overrides) -> dict:
    body = {
        "reference": "FA-ACME",
        "vendor": "acme",
        "start": "2026-01-01",
        "end": "2026-12-31",
        "currency": "USD",
        "status": "active",
        "price_rules": [
            {
                "model_pattern": "acme-*",
                "token_class": "input",
                "schedule": "graduated",
                "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 100_000_000_000, "price": "0.20"}],
            },
            {
                "model_pattern": "acme-*",
                "token_class": "output",
                "schedule": "flat",
                "tiers": [{"from_tokens": 0, "price": "1.10"}],
            },
        ],
        "commitments": [],
        "sla_clauses": [],
    }
    body.update(overrides)
    response = client.post("/api/v1/agreements/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def acme(role_world):
    world(vendor="acme", model="acme-large", price_in="0.50", price_out="2", cached="0.25")
    return role_world


def ingest(client, records):
    response = client.post("/api/v1/usage/records", records, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.json()
    return response.json()


def rec(i, day, tokens_in, tokens_out=0, model="acme-large", hour=0):
    return record(
        i,
        external_id=f"a{i}",
        vendor="acme",
        model=model,
        bucket_start=f"2026-03-{day:02d}T{hour:02d}:00:00Z",
        bucket_end=None,
        input_tokens=tokens_in,
        cached_input_tokens=0,
        output_tokens=tokens_out,
    )


def test_graduated_boundary_inside_one_record(acme):
    agreement(token_client(acme.user(Role.PROCUREMENT)))
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(1, 1, 99_999_000_000), rec(2, 2, 3_000_000, 1_000_000)])
    first = UsageRecord.objects.get(external_id="a1")
    second = UsageRecord.objects.get(external_id="a2")
    # 99 999 000 000 × 0.27 ÷ 10⁶
    assert first.cost == Decimal("26999.730000000000")
    # 1 000 000 × 0.27 + 2 000 000 × 0.20 = 0.67 input; 1 000 000 × 1.10 = 1.10 output
    assert second.cost == Decimal("1.770000000000")
    assert second.rating == "contract"
    assert not second.off_contract
    assert second.rating_detail["input"]["parts"] == [[0, 1000000, "0.270000"], [1, 2000000, "0.200000"]]
    assert second.rating_detail["output"]["rate"] == "1.100000"
    assert second.cost_reporting == second.cost
    # the list price for comparison: 3 000 000 × 0.50 + 1 000 000 × 2 = 3.5
    assert second.list_cost == Decimal("3.500000000000")


def summary_cost(client, start="2026-03-01", end="2026-04-01", **params) -> Decimal:
    response = client.get("/api/v1/usage/summary", {"start": start, "end": end, **params})
    assert response.status_code == 200, response.content
    rows = response.json()["rows"]
    return sum((Decimal(r["cost"]) for r in rows), Decimal(0))


VOLUME_OUTPUT = {
    "model_pattern": "acme-*",
    "token_class": "output",
    "schedule": "volume",
    "tiers": [{"from_tokens": 0, "price": "0.30"}, {"from_tokens": 1_000_000, "price": "0.20"}],
}
MONTHLY = {
    "unit": "tokens",
    "amount": "1000000",
    "period": "monthly",
    "token_classes": [],
    "treatment": "take_or_pay",
    "shortfall_price": "0.10",
    "shortfall_allocation": "central",
    "central_department": "T-IN",
}


def test_volume_provisional_then_trued_up_when_the_period_has_ended(acme):
    """GIVEN volume output tiers (0.30, from 1 000 000 tokens 0.20) and monthly pricing periods
    WHEN March's records of 600 000, 300 000 and 400 000 output tokens arrive (March has ended)
    THEN each is rated at the tier reached at its end (0.18 + 0.09 + 0.08 = 0.35 provisional) and
    the true-up books −0.09 on 31 March, so March costs 1 300 000 × 0.20 = 0.26 in all."""
    agreement(token_client(acme.user(Role.PROCUREMENT)), price_rules=[VOLUME_OUTPUT], commitments=[MONTHLY])
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(3, 12, 0, 400_000), rec(1, 10, 0, 600_000), rec(2, 11, 0, 300_000)])
    costs = {r.external_id: r.cost for r in UsageRecord.objects.all()}
    assert costs == {"a1": Decimal("0.18"), "a2": Decimal("0.09"), "a3": Decimal("0.08")}
    assert UsageRecord.objects.get(external_id="a3").rating_detail["output"]["provisional"] is True
    up = TrueUp.objects.get()
    assert (up.tokens, up.provisional_cost, up.final_cost, up.adjustment) == (
        1_300_000,
        Decimal("0.35"),
        Decimal("0.26"),
        Decimal("-0.09"),
    )
    assert up.period_end.isoformat() == "2026-03-31" and up.final_rate == Decimal("0.2")
    assert DailyRollup.objects.get(day="2026-03-31").true_up_cost == Decimal("-0.09")
    assert summary_cost(finance) == Decimal("0.26")

    # a late record in the ended month changes the true-up, keeping what it replaced
    ingest(finance, [rec(4, 5, 0, 100_000)])
    up.refresh_from_db()
    # 1 400 000 × 0.20 = 0.28; provisional now 0.03 + 0.21 (a1 at 700 000 → tier 0) ... recomputed
    assert up.tokens == 1_400_000 and up.final_cost == Decimal("0.28") and up.version == 2
    assert up.superseded[0]["adjustment"] == "-0.090000000000"
    assert summary_cost(finance) == Decimal("0.28")


def test_late_record_shifts_the_tier_positions_of_later_ones(acme):
    """Graduated input: 0.27 up to 1 000 000 tokens, then 0.20. Days 2 and 3 arrive first; a
    record for day 1 arrives later and pushes day 3's record across the boundary."""
    rule = {
        "model_pattern": "acme-*",
        "token_class": "input",
        "schedule": "graduated",
        "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 1_000_000, "price": "0.20"}],
    }
    agreement(token_client(acme.user(Role.PROCUREMENT)), price_rules=[rule])
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(2, 2, 400_000), rec(3, 3, 400_000)])
    assert UsageRecord.objects.get(external_id="a3").cost == Decimal("0.108")  # 400 000 × 0.27
    ingest(finance, [rec(1, 1, 400_000)])
    # day 3 now covers tokens 800 000 … 1 199 999: 200 000 × 0.27 + 200 000 × 0.20 = 0.094
    assert UsageRecord.objects.get(external_id="a3").cost == Decimal("0.094")
    assert UsageRecord.objects.get(external_id="a3").rating_detail["input"]["position"] == 800_000
    assert summary_cost(finance) == Decimal("0.108") * 2 + Decimal("0.094")
    # the re-rating is recorded as a run, and running it again changes nothing
    from core.models import JobRun
    from usage.services import usage_rerate

    run = JobRun.objects.filter(kind="rerate").latest("id")
    # only day 3's record changed (day 2 stayed in the first tier)
    assert run.status == "succeeded" and run.result["changed"] == 1
    vendor_id = UsageRecord.objects.first().vendor_id
    assert usage_rerate(vendor_ids=[vendor_id], since=run_day(1))["changed"] == 0


def run_day(day):
    from datetime import date

    return date(2026, 3, day)


def test_off_contract_usage_at_list_price_flagged(acme):
    agreement(token_client(acme.user(Role.PROCUREMENT)))
    world(vendor="acme", model="other-model", price_in="1", price_out="3", cached=None)
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(1, 1, 1_000_000, 1_000_000, model="other-model")])
    record_ = UsageRecord.objects.get()
    assert record_.off_contract and record_.rating == "list" and record_.agreement_id is not None
    assert record_.cost == Decimal("4") and record_.rating_detail["input"] == {"list_rate": "1.000000"}
    assert DailyRollup.objects.get().off_contract_cost == Decimal("4")


def fx(client, day, rate, base="USD", quote="CNY"):
    response = client.post(
        "/api/v1/fx-rates/", {"date": day, "base": base, "quote": quote, "rate": rate}, format="json"
    )
    assert response.status_code == 201, response.content


def test_cny_agreement_reported_in_usd_with_daily_rates_stale_and_missing(acme):
    """A CNY agreement (flat 2.00 CNY per 1 000 000 input tokens) in a USD company: each day's
    cost converts at that day's USD/CNY rate (1 USD buys `rate` CNY, so CNY → USD divides)."""
    rule = {
        "model_pattern": "acme-*",
        "token_class": "input",
        "schedule": "flat",
        "tiers": [{"from_tokens": 0, "price": "2"}],
    }
    agreement(token_client(acme.user(Role.PROCUREMENT)), currency="CNY", price_rules=[rule])
    finance = token_client(acme.user(Role.FINANCE))
    fx(finance, "2026-03-01", "7.100000")
    fx(finance, "2026-03-02", "7.200000")
    ingest(finance, [rec(1, 1, 3_000_000), rec(2, 2, 3_000_000), rec(3, 8, 1_000_000), rec(4, 20, 1_000_000)])
    by_id = {r.external_id: r for r in UsageRecord.objects.all()}
    assert by_id["a1"].cost == Decimal("6") and by_id["a1"].cost_currency == "CNY"
    # 6 ÷ 7.1 = 0.845070422535 2112… → 0.845070422535 (half up at 12 places)
    assert by_id["a1"].cost_reporting == Decimal("0.845070422535")
    assert by_id["a1"].fx_status == "ok" and by_id["a1"].fx_date.isoformat() == "2026-03-01"
    # 6 ÷ 7.2 = 0.8333… → 0.833333333333
    assert by_id["a2"].cost_reporting == Decimal("0.833333333333")
    # day 8 uses day 2's rate (6 days old): 2 ÷ 7.2 = 0.277777777777 7… → 0.277777777778
    assert by_id["a3"].cost_reporting == Decimal("0.277777777778") and by_id["a3"].fx_date.isoformat() == "2026-03-02"
    # day 20: the latest rate is 18 days old → stale, no reporting cost (never 1.0)
    assert by_id["a4"].fx_status == "stale" and by_id["a4"].cost_reporting is None
    assert by_id["a4"].cost == Decimal("2")
    body = finance.get("/api/v1/usage/summary", {"start": "2026-03-01", "end": "2026-04-01"}).json()
    assert body["rows"][0]["unpriced_records"] == 1
    assert Decimal(body["rows"][0]["cost"]) == Decimal("0.845070422535") + Decimal("0.833333333333") + Decimal(
        "0.277777777778"
    )
    # a rate for day 20 arrives: the stale record is re-rated (FX change → re-rating run)
    fx(finance, "2026-03-19", "7.000000")
    by_id["a4"].refresh_from_db()
    assert by_id["a4"].fx_status == "ok" and by_id["a4"].cost_reporting == Decimal("0.285714285714")


def test_missing_rate_is_flagged(acme):
    rule = {
        "model_pattern": "acme-*",
        "token_class": "input",
        "schedule": "flat",
        "tiers": [{"from_tokens": 0, "price": "2"}],
    }
    agreement(token_client(acme.user(Role.PROCUREMENT)), currency="CNY", price_rules=[rule])
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(1, 1, 3_000_000)])
    only = UsageRecord.objects.get()
    assert only.fx_status == "missing" and only.cost_reporting is None and only.cost == Decimal("6")


def test_amendment_re_rates_from_its_effective_date(acme):
    procurement = token_client(acme.user(Role.PROCUREMENT))
    agreement(procurement)
    finance = token_client(acme.user(Role.FINANCE))
    ingest(finance, [rec(1, 1, 0, 1_000_000), rec(2, 20, 0, 1_000_000)])
    assert UsageRecord.objects.get(external_id="a2").cost == Decimal("1.1")
    rules = agreement_rules()
    rules[1]["effective_to"] = "2026-03-14"
    rules.append(
        {
            **rules[1],
            "effective_from": "2026-03-15",
            "effective_to": None,
            "tiers": [{"from_tokens": 0, "price": "0.90"}],
        }
    )
    response = procurement.patch("/api/v1/agreements/FA-ACME/", {"price_rules": rules}, format="json")
    assert response.status_code == 200, response.content
    assert UsageRecord.objects.get(external_id="a1").cost == Decimal("1.1")
    assert UsageRecord.objects.get(external_id="a2").cost == Decimal("0.9")
    from core.models import JobRun

    run = JobRun.objects.filter(kind="rerate").latest("id")
    # the output rule now ends on 14 March and a new one starts on the 15th: usage re-rates from then
    assert "FA-ACME amendment" in run.params["reason"] and run.params["since"] == "2026-03-15"


def agreement_rules():
    return [
        {
            "model_pattern": "acme-*",
            "token_class": "input",
            "schedule": "graduated",
            "tiers": [{"from_tokens": 0, "price": "0.27"}, {"from_tokens": 100_000_000_000, "price": "0.20"}],
        },
        {
            "model_pattern": "acme-*",
            "token_class": "output",
            "schedule": "flat",
            "tiers": [{"from_tokens": 0, "price": "1.10"}],
        },
    ]


# Arrival order and batch split do not change the money (hypothesis) -------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROPERTY_RULES = [
    {
        "model_pattern": "acme-*",
        "token_class": "input",
        "schedule": "graduated",
        "tiers": [
            {"from_tokens": 0, "price": "0.27"},
            {"from_tokens": 1_000_000, "price": "0.20"},
            {"from_tokens": 3_000_000, "price": "0.15"},
        ],
    },
    VOLUME_OUTPUT,
]
RECORDS = st.lists(
    st.tuples(
        st.integers(1, 4),  # day of March (ended: true-ups)
        st.integers(0, 3),  # hour
        st.integers(0, 900_000),
        st.integers(0, 600_000),
        st.sampled_from(["acme-large", "acme-small", "other-model"]),
    ),
    min_size=1,
    max_size=14,
)


def _engine_totals():
    from contracts.models import Agreement
    from contracts.rating import AgreementSpec, UsageInput, period_true_ups, rate_sequence, to_decimal

    spec = AgreementSpec.from_model(Agreement.objects.prefetch_related("price_rules__tiers", "commitments").get())
    inputs = [
        UsageInput(
            key=bytes(r.key),
            bucket_start=r.bucket_start,
            model=r.model,
            input_tokens=r.input_tokens,
            output_tokens=r.output_tokens,
        )
        for r in UsageRecord.objects.all()
    ]
    lines = rate_sequence(inputs, spec.lookup)
    list_micro = {"input": 500_000, "output": 2_000_000}  # other-model: list price, same currency
    units = sum(line.units if not line.off_contract else line.tokens * list_micro[line.token_class] for line in lines)
    ups = period_true_ups(lines, {r.id: r.schedule for r in spec.rules})
    return to_decimal(units), to_decimal(sum(ups.values()))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=RECORDS, data=st.data())
def test_total_is_the_same_whatever_the_arrival_order_and_batch_split(acme, records, data):
    from core.models import JobRun
    from usage.models import IngestionRun, UsageKey

    world(vendor="acme", model="other-model", price_in="0.5", price_out="2", cached=None)
    if not UsageRecord.objects.exists() and not TrueUp.objects.exists():
        from contracts.models import Agreement

        if not Agreement.objects.exists():
            agreement(token_client(acme.user(Role.PROCUREMENT)), price_rules=PROPERTY_RULES, commitments=[MONTHLY])
    batch = [rec(i, day, tin, tout, model=model, hour=hour) for i, (day, hour, tin, tout, model) in enumerate(records)]
    order = data.draw(st.permutations(batch))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=3)))
    finance = token_client(acme.user(Role.FINANCE))
    try:
        start = 0
        for cut in [*cuts, len(order)]:
            if order[start:cut]:
                ingest(finance, order[start:cut])
            start = cut
        expected, expected_ups = _engine_totals()
        stored = sum((r.cost for r in UsageRecord.objects.all()), Decimal(0))
        assert stored == expected
        assert sum((t.adjustment for t in TrueUp.objects.all()), Decimal(0)) == expected_ups
        # the summary (rollups) holds the final figures: provisional costs plus the true-ups
        assert summary_cost(finance) == expected + expected_ups
    finally:
        UsageRecord.objects.all().delete()
        UsageKey.objects.all().delete()
        DailyRollup.objects.all().delete()
        TrueUp.objects.all().delete()
        IngestionRun.objects.all().delete()
        JobRun.objects.filter(kind="rerate").delete()
