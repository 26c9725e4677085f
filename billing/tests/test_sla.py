"""SLA evaluation: each metric worked by hand from usage records planted through the ORM, the
bands (strictly greater), the cap, in-scope models, claim_by, statuses kept through
re-evaluation, performance-sample uploads, the API and its roles, and the nearest-rank
percentiles against numpy on real llmperf latencies.

The world: vendor `acme` with agreement FA-ACME (USD, active, 2026) and March 2026 usage."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing.models import PerformanceSample, SlaCredit
from billing.selectors.performance import vendor_performance, worst_window
from billing.services.sla import performance_samples_import, sla_credit_status_set, sla_evaluate
from contracts.models import Agreement, SlaBand, SlaClause
from core.roles import Role
from core.testing import SHARED_DATA, needs_shared_data, token_client
from procurement.models import Department
from usage.models import Source, UsageRecord

from .reconciliation_world import vendor

pytestmark = pytest.mark.django_db
D = Decimal
MARCH = date(2026, 3, 1)
URL = "/api/v1/sla-evaluations/"
_n = 0


@pytest.fixture
def acme():
    return vendor("acme", "Acme AI", "USD")


@pytest.fixture
def fa(acme):
    return Agreement.objects.create(
        reference="FA-ACME",
        vendor=acme,
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        currency="USD",
        status="active",
    )


def clause(agreement, metric, target, bands=(), cap="100", models=(), claim_days=30) -> SlaClause:
    c = SlaClause.objects.create(
        agreement=agreement,
        metric=metric,
        target=D(target),
        cap_percent=D(cap),
        claim_days=claim_days,
        models=list(models),
    )
    for over, percent in bands:
        SlaBand.objects.create(clause=c, breach_over=D(over), credit_percent=D(percent))
    return c


def rec(v, day: int, *, model="acme-large", agreement=None, cost=None, month=3, **fields) -> UsageRecord:
    """One usage record on 2026-{month}-{day}, attributed to T-SLA."""
    global _n
    _n += 1
    start = datetime(2026, month, day, 12, 0, tzinfo=UTC)
    source, _ = Source.objects.get_or_create(slug="gw", defaults={"name": "Gateway"})
    department, _ = Department.objects.get_or_create(code="T-SLA", defaults={"name": "SLA tests"})
    return UsageRecord.objects.create(
        key=hashlib.blake2b(str(_n).encode(), digest_size=16).digest(),
        source=source,
        vendor=v,
        model=model,
        bucket_start=start,
        usage_date=start.date(),
        department=department,
        agreement_id=agreement.pk if agreement else None,
        cost=None if cost is None else D(cost),
        cost_currency="USD" if cost is not None else "",
        rating="contract" if cost is not None else "unpriced",
        created_at=start,
        updated_at=start,
        **fields,
    )


# Metrics, worked by hand ------------------------------------------------------------------------


def test_availability_and_error_rate(acme, fa):
    """1 000 requests, 3 failed (vendor's fault) → availability 99.7 %, error rate 0.3 %.
    Target 99.9: breach 0.2 pp; bands over 0.1 → 10 %, over 0.2 → 25 % (0.2 is not > 0.2) → 10 %
    of the in-scope charges 400.00 = 40.00; error rate target 0.1: breach 0.2 → 10 % too."""
    rec(acme, 2, agreement=fa, cost="300", requests=600, failed_requests=3)
    rec(acme, 20, agreement=fa, cost="100", requests=400, failed_requests=0)
    perf = vendor_performance(vendor_id=acme.pk, start=MARCH, end=date(2026, 3, 31))
    assert (perf.requests, perf.failed_requests) == (1000, 3)
    assert perf.availability == D("99.7") and perf.error_rate == D("0.3")
    avail = clause(fa, "availability", "99.9", bands=[("0.1", "10"), ("0.2", "25")])
    errors = clause(fa, "error_rate", "0.1", bands=[("0.1", "10"), ("0.2", "25")])
    rows = {row.clause_id: row for row in sla_evaluate(month=MARCH)}
    a, e = rows[avail.pk], rows[errors.pk]
    assert (a.measured, a.breach, a.credit_percent) == (D("99.7"), D("0.2"), D("10"))
    assert (a.in_scope_charges, a.credit, a.currency, a.status) == (D("400"), D("40"), "USD", "owed")
    assert (e.measured, e.breach, e.credit_percent, e.credit) == (D("0.3"), D("0.2"), D("10"), D("40"))


def test_latency_percentiles_nearest_rank(acme, fa):
    """Ten successful requests of 100, 200, …, 1000 ms and a failed one of 9 000 ms (left out).
    Nearest rank: p50 = the ⌈0.5·10⌉ = 5th = 500 ms, p90 = the 9th = 900 ms. Target p90 800 →
    breach 100 ms; band over 50 → 5 %, over 100 → 15 % (not strictly greater) → 5 %."""
    for i in range(1, 11):
        rec(acme, i, agreement=fa, cost="10", latency_ms=100.0 * i, output_tokens=100)
    rec(acme, 11, agreement=fa, cost="10", latency_ms=9000.0, failed_requests=1)
    perf = vendor_performance(vendor_id=acme.pk, start=MARCH, end=date(2026, 3, 31))
    assert perf.latency_method == "per_request" and not perf.latency_approximate
    assert (perf.latency_p50_ms, perf.latency_p90_ms, perf.latency_observations) == (D(500), D(900), 10)
    c = clause(fa, "latency_p90", "800", bands=[("50", "5"), ("100", "15")])
    (row,) = sla_evaluate(month=MARCH)
    assert (row.clause_id, row.measured, row.breach, row.credit_percent) == (c.pk, D(900), D(100), D(5))
    assert row.in_scope_charges == D(110) and row.credit == D("5.5")


def test_latency_from_daily_summaries_is_a_request_weighted_mean(acme, fa):
    """Only bucket summaries: p50 (300 ms × 100 requests + 600 ms × 300) ÷ 400 = 525 ms; p90
    (1 000 × 100 + 2 000 × 300) ÷ 400 = 1 750 ms; flagged as an approximation."""
    rec(acme, 3, requests=100, latency_p50_ms=300.0, latency_p90_ms=1000.0)
    rec(acme, 4, requests=300, latency_p50_ms=600.0, latency_p90_ms=2000.0)
    perf = vendor_performance(vendor_id=acme.pk, start=MARCH, end=date(2026, 3, 31))
    assert perf.latency_method == "weighted_summary" and perf.latency_approximate
    assert (perf.latency_p50_ms, perf.latency_p90_ms, perf.latency_summary_requests) == (D(525), D(1750), 400)


def test_throughput_fluctuation_worst_seven_day_window(acme, fa):
    """Per request tokens/s = output ÷ (latency/1000). Day medians: 1 Mar 100 (100 and 100 t/s),
    2 Mar median of 50, 100, 200 = 100; 5 Mar 40; 12 Mar 100; 20 Mar 370 and 21 Mar 100.
    Windows inside March: 1–7 → 100 ÷ 40 = 2.5; 6–12 → one day only; 15–21 / 14–20 … → 370 ÷
    100 = 3.7 (the worst, first reached by the window 15–21 Mar)."""
    for day, pairs in {
        1: [(100, 1000), (200, 2000)],
        2: [(50, 1000), (100, 1000), (200, 1000)],
        5: [(40, 1000)],
        12: [(100, 1000)],
        20: [(370, 1000)],
        21: [(100, 1000)],
    }.items():
        for tokens, latency in pairs:
            rec(acme, day, output_tokens=tokens, latency_ms=float(latency))
    perf = vendor_performance(vendor_id=acme.pk, start=MARCH, end=date(2026, 3, 31))
    assert perf.daily_throughput[date(2026, 3, 2)] == 100.0
    assert perf.throughput_fluctuation == D("3.7") and perf.throughput_window_start == date(2026, 3, 15)
    assert worst_window(perf.daily_throughput, start=MARCH, end=date(2026, 3, 7)) == (D("2.5"), MARCH)
    c = clause(fa, "throughput_fluctuation", "2.0", bands=[("1", "20"), ("1.5", "30")], cap="25")
    (row,) = sla_evaluate(month=MARCH)
    # breach 1.7 → band over 1.5 (30 %) → capped at 25 %
    assert (row.clause_id, row.breach, row.credit_percent) == (c.pk, D("1.7"), D("25"))


# Bands, cap, scope, claim_by ---------------------------------------------------------------------


def test_bands_strictly_greater_cap_scope_and_claim_by(acme, fa):
    """Clause on `acme-large*` only: availability of acme-large-2 = 90 % (10 of 100 failed), the
    other model's failures do not count and its charges are out of scope. Target 99: breach 9 pp
    → bands over 5 → 30 %, over 9 → 60 % (9 is not > 9) → 30 %, capped at 20 %. Charges in scope
    250.00 → credit 50.00. March ends on the 31st; claim_days 45 → 15 May."""
    rec(acme, 5, model="acme-large-2", agreement=fa, cost="250", requests=100, failed_requests=10)
    rec(acme, 5, model="acme-small", agreement=fa, cost="1000", requests=100, failed_requests=100)
    rec(acme, 5, model="acme-large-2", agreement=fa, cost="999", requests=1, month=4)  # April: not March
    c = clause(
        fa, "availability", "99", bands=[("5", "30"), ("9", "60")], cap="20", models=["acme-large*"], claim_days=45
    )
    (row,) = sla_evaluate(month=MARCH)
    assert (row.measured, row.breach, row.credit_percent) == (D(90), D(9), D(20))
    assert (row.in_scope_charges, row.credit, row.claim_by) == (D(250), D(50), date(2026, 5, 15))
    assert row.models_in_scope == ["acme-large*"] and row.clause_id == c.pk and row.period == MARCH


def test_no_breach_no_data_and_other_agreements(acme, fa):
    """Measured better than the target: breach 0, no credit; nothing measured: measured None, no
    breach. Draft agreements are not evaluated."""
    rec(acme, 5, agreement=fa, cost="10", requests=100, failed_requests=0)
    clause(fa, "availability", "99", bands=[("0", "50")])
    clause(fa, "latency_p50", "500", bands=[("0", "50")])
    other = vendor("beta", "Beta", "USD")
    draft = Agreement.objects.create(
        reference="FA-BETA", vendor=other, start=MARCH, end=date(2026, 12, 31), currency="USD", status="draft"
    )
    clause(draft, "availability", "99", bands=[("0", "50")])
    rows = sla_evaluate(month=MARCH)
    assert sorted((r.metric, r.measured, r.breach, r.credit) for r in rows) == [
        ("availability", D(100), D(0), D(0)),
        ("latency_p50", None, D(0), D(0)),
    ]


def test_status_kept_through_re_evaluation(acme, fa, role_world):
    """An owed row is recomputed; claimed, received and waived ones keep their figures."""
    rec(acme, 5, agreement=fa, cost="100", requests=100, failed_requests=5)
    c = clause(fa, "availability", "99", bands=[("1", "10")])
    (row,) = sla_evaluate(month=MARCH)
    assert row.credit == D(10)
    rec(acme, 6, agreement=fa, cost="100", requests=100, failed_requests=0)  # late usage
    (row,) = sla_evaluate(month=MARCH)
    assert (row.measured, row.credit, row.status) == (D("97.5"), D(20), "owed")
    actor = role_world.user(Role.PROCUREMENT)
    sla_credit_status_set(credit=row, status="claimed", note="ticket 42", actor=actor)
    rec(acme, 7, agreement=fa, cost="100", requests=100, failed_requests=0)
    (row,) = sla_evaluate(month=MARCH)
    assert (row.status, row.credit, row.note) == ("claimed", D(20), "ticket 42")
    sla_credit_status_set(credit=row, status="received", received_on=date(2026, 5, 3), actor=actor)
    (row,) = sla_evaluate(month=MARCH)
    assert (row.status, row.received_on, row.credit) == ("received", date(2026, 5, 3), D(20))
    assert SlaCredit.objects.filter(clause=c).count() == 1
    assert row.history.first().history_user == actor
    sla_credit_status_set(credit=row, status="owed", actor=actor)  # back to the figures
    (row,) = sla_evaluate(month=MARCH)
    # 5 of 300 failed: 98.333333 %, breach 0.666667 → no band
    assert (row.status, row.received_on, row.measured, row.credit) == ("owed", None, D("98.333333"), D(0))


# Performance samples -----------------------------------------------------------------------------


def test_sample_upload_all_or_nothing_and_combined(acme, fa):
    bad = (
        "day,model,latency_ms,output_tokens,failed\n2026-03-02,acme-large,120,50,no\n2026-03-40,acme-large,x,1,maybe\n"
    )
    result = performance_samples_import(vendor=acme, layout="request", content=bad)
    assert result.imported == 0 and PerformanceSample.objects.count() == 0
    assert result.rejected[0]["line"] == 3
    assert set(result.rejected[0]["reasons"]) == {
        "day is not a date (YYYY-MM-DD)",
        "latency_ms is not a number ≥ 0",
        "failed is not true/false",
    }
    good = "day,model,latency_ms,output_tokens,failed\n" + "".join(
        f"2026-03-02,acme-large,{ms},100,false\n" for ms in (100, 300, 200, 400)
    )
    good += "2026-03-02,acme-large,,0,true\n"
    assert performance_samples_import(vendor=acme, layout="request", content=good).imported == 5
    again = performance_samples_import(vendor=acme, layout="request", content=good.encode())
    assert (again.imported, again.replaced, PerformanceSample.objects.count()) == (5, 5, 5)
    daily = "day,model,requests,failed_requests,latency_p50_ms,latency_p90_ms,throughput_median\n"
    daily += "2026-03-03,acme-large,995,5,250,800,50\n"
    assert performance_samples_import(vendor=acme, layout="daily", content=daily).imported == 1
    rec(acme, 4, requests=10, latency_ms=500.0)  # one per-request latency from the usage feed
    perf = vendor_performance(vendor_id=acme.pk, models=["acme-*"], start=MARCH, end=date(2026, 3, 31))
    # requests: 5 samples + 995 daily + 10 = 1 010, failed 1 + 5 = 6
    assert (perf.requests, perf.failed_requests) == (1010, 6)
    # latencies 100, 200, 300, 400, 500 (the daily summary is left aside): p50 300, p90 500
    assert (perf.latency_p50_ms, perf.latency_p90_ms, perf.latency_method) == (D(300), D(500), "per_request")
    assert perf.daily_throughput[date(2026, 3, 3)] == 50.0  # from the daily sample


def test_sample_upload_daily_rejections(acme):
    csv_text = "day,model,requests,failed_requests\n2026-03-01,m,5,6\n2026-03-01,,5,0\n"
    result = performance_samples_import(vendor=acme, layout="daily", content=csv_text)
    assert [r["reasons"] for r in result.rejected] == [["failed_requests exceeds requests"], ["model is required"]]
    assert PerformanceSample.objects.count() == 0


# API -------------------------------------------------------------------------------------------


def test_api_list_evaluates_an_ended_month_and_status_roles(acme, fa, role_world):
    rec(acme, 5, agreement=fa, cost="100", requests=100, failed_requests=5)
    clause(fa, "availability", "99", bands=[("1", "10")])
    auditor = token_client(role_world.user(Role.AUDITOR))
    body = auditor.get(URL, {"period": "2026-03"}).json()
    assert body["count"] == 1
    (row,) = body["results"]
    assert row["agreement"] == "FA-ACME" and row["metric"] == "availability" and row["models"] == []
    assert D(row["measured"]) == 95 and D(row["breach"]) == 4 and D(row["credit_percent"]) == 10
    assert D(row["credit"]) == 10 and row["currency"] == "USD" and row["claim_by"] == "2026-04-30"
    assert row["status"] == "owed" and row["period"] == "2026-03"
    assert auditor.get(URL + "?period=2026-13").status_code == 400
    status_url = f"{URL}{row['id']}/status"
    for role, expected in [
        (Role.AUDITOR, 403),
        (Role.DEPARTMENT_MANAGER, 403),
        (Role.SERVICE, 403),
        (Role.ADMIN, 403),
        (Role.FINANCE, 200),
        (Role.PROCUREMENT, 200),
    ]:
        client = token_client(role_world.user(role))
        answer = client.post(status_url, {"status": "claimed", "note": role.value}, format="json")
        assert answer.status_code == expected, (role, answer.content)
    finance = token_client(role_world.user(Role.FINANCE))
    answer = finance.post(status_url + "/", {"status": "received", "received_on": "2026-05-02"}, format="json")
    assert answer.status_code == 200 and answer.json()["received_on"] == "2026-05-02"
    assert finance.post(status_url, {"status": "lost"}, format="json").status_code == 400
    # re-evaluating keeps the received row
    answer = finance.post(URL + "evaluate", {"period": "2026-03"}, format="json")
    assert answer.status_code == 200 and answer.json()["results"][0]["status"] == "received"
    assert token_client(role_world.user(Role.AUDITOR)).post(URL + "evaluate/", {"period": "2026-03"}).status_code == 403


def test_api_reads_by_role(acme, fa, role_world):
    for role, expected in [(Role.AUDITOR, 200), (Role.FINANCE, 200), (Role.SERVICE, 403), (None, 401)]:
        client = token_client(role_world.user(role)) if role else APIClient()
        assert client.get(URL).status_code == expected, role


def test_task_evaluates_a_given_month(acme, fa):
    from billing.tasks import sla_evaluate as task

    clause(fa, "availability", "99")
    assert task.apply(args=["2026-03"]).get() == 1
    assert SlaCredit.objects.get().period == MARCH


# Real latencies (llmperf leaderboard) ----------------------------------------------------------


@needs_shared_data
def test_percentiles_match_numpy_on_llmperf_latencies(acme):
    """The llmperf per-request end-to-end latencies of every provider, as request samples:
    percentile_disc must equal numpy's nearest-rank (`inverted_cdf`) percentile exactly, and the
    error rate the share of records with an error code."""
    np = pytest.importorskip("numpy")
    folder = SHARED_DATA / "llm-latency-llmperf-leaderboard" / "raw_data" / "individual"
    if not folder.is_dir():
        pytest.skip("llmperf data not present")
    lines = ["day,model,latency_ms,output_tokens,failed"]
    ok_latencies, total, errors = [], 0, 0
    for path in sorted(folder.glob("*.json")):
        for i, item in enumerate(json.loads(path.read_text())):
            failed = item.get("error_code") is not None
            latency = item.get("end_to_end_latency_s")
            total += 1
            errors += failed
            ms = "" if latency is None else repr(float(latency) * 1000)
            if not failed:
                ok_latencies.append(float(ms))
            day = f"2026-03-{1 + i % 28:02d}"
            lines.append(f"{day},{path.stem},{ms},{item.get('number_output_tokens') or 0},{str(failed).lower()}")
    result = performance_samples_import(vendor=acme, layout="request", content="\n".join(lines) + "\n")
    assert result.rejected == [] and result.imported == total
    perf = vendor_performance(vendor_id=acme.pk, start=MARCH, end=date(2026, 3, 31))
    values = np.array(ok_latencies)
    assert perf.latency_observations == len(values)
    for got, q in [(perf.latency_p50_ms, 50), (perf.latency_p90_ms, 90)]:
        expected = np.percentile(values, q, method="inverted_cdf")
        assert abs(float(got) - float(expected)) < 1e-6, (q, got, expected)
    assert perf.error_rate == (D(errors) * 100 / D(total)).quantize(D("0.000001"))
