"""Alert evaluation: each alert type raised from planted data with its dedup key (type + subject
+ period), never twice for one key — also when two evaluations run at once.

GIVEN data that meets an alert's condition WHEN alerts are evaluated THEN the alert is raised
once with the right key, severity and department; evaluating again only refreshes last_seen_at."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from billing.models import SlaCredit
from billing.tests.factories import agreement, commitment
from contracts.models import Agreement, Commitment
from core.models import FxRate
from core.roles import Role
from core.testing import token_client
from insights.alerts.evaluate import region_approved, robust_z
from insights.models import Alert, AlertRule, InboxItem
from insights.services.alerts import alert_raise, alerts_evaluate
from procurement.models import Vendor
from procurement.tests.factories import BudgetFactory, VendorCertificationFactory, VendorFactory
from usage.models import Source
from usage.tests.factories import record, world

from .alerts_world import budget_world, candidate, sla_credit, spend, tiered_agreement

pytestmark = pytest.mark.django_db
D = Decimal


def keys(alert_type: str) -> set[str]:
    return set(Alert.objects.filter(type=alert_type).values_list("dedup_key", flat=True))


def evaluate(today: date, *types: str) -> dict:
    summary = alerts_evaluate(today=today, types=types or None)
    assert summary["errors"] == [], summary["errors"]
    return summary


# Budgets ---------------------------------------------------------------------------------------------


def test_budget_thresholds_crossed_raise_one_alert_each(role_world):
    budget, _ = budget_world(role_world)
    summary = evaluate(date(2026, 5, 1), Alert.Type.BUDGET_THRESHOLD)

    assert keys(Alert.Type.BUDGET_THRESHOLD) == {
        f"budget_threshold:budget:{budget.pk}:50%:FY2026",
        f"budget_threshold:budget:{budget.pk}:80%:FY2026",
    }  # 850 of 1 000: not 100 %; T-OUT's budget says ignore
    assert summary["raised"] == 2
    fifty = Alert.objects.get(dedup_key__endswith=":50%:FY2026")
    eighty = Alert.objects.get(dedup_key__endswith=":80%:FY2026")
    assert (fifty.severity, eighty.severity) == ("info", "warning")
    assert eighty.department == role_world.inside and eighty.status == "open"
    assert eighty.title == "Budget 80 % reached: T-IN FY2026"
    assert "USD 850.00 of its FY2026 budget of USD 1,000.00 (85 %)" in eighty.message
    assert "reached on 2026-04-02" in eighty.message and "spend must stop" in eighty.message
    assert fifty.data["crossed_on"] == "2026-03-10" and eighty.data["actual"].startswith("850")
    assert eighty.subject_url == budget.get_absolute_url()


def test_budget_projected_overrun_names_the_day(role_world):
    budget, _ = budget_world(role_world)
    evaluate(date(2026, 5, 1), Alert.Type.BUDGET_OVERRUN)
    alert = Alert.objects.get(type=Alert.Type.BUDGET_OVERRUN)
    # 850 in 121 days: the year's 1 000 is exceeded on day ⌊1 000 × 121 ÷ 850⌋ + 1 = 143 = May 23
    assert alert.dedup_key == f"budget_overrun:budget:{budget.pk}:FY2026"
    assert alert.title == "Budget projected to overrun on 2026-05-23: T-IN FY2026"
    assert alert.severity == "critical"  # 22 days away
    assert alert.data["overrun_date"] == "2026-05-23" and alert.data["level"] == 22


def test_a_budget_overrun_that_happened_is_raised_as_such(role_world):
    vendor = VendorFactory(slug="over-vendor")
    budget = BudgetFactory(department=role_world.outside, fiscal_year=2026, amount=D("100.00"))
    spend(role_world.outside, vendor, date(2026, 1, 5), "60")
    spend(role_world.outside, vendor, date(2026, 1, 9), "60")
    evaluate(date(2026, 1, 20), Alert.Type.BUDGET_OVERRUN, Alert.Type.BUDGET_THRESHOLD)
    overrun = Alert.objects.get(type=Alert.Type.BUDGET_OVERRUN)
    assert overrun.title == "Budget overrun on 2026-01-09: T-OUT FY2026" and overrun.severity == "critical"
    assert keys(Alert.Type.BUDGET_THRESHOLD) == {
        f"budget_threshold:budget:{budget.pk}:{p}%:FY2026" for p in (50, 80, 100)
    }
    assert Alert.objects.get(dedup_key__endswith=":100%:FY2026").severity == "critical"


# Commitments and tiers ----------------------------------------------------------------------------------


def test_commitment_shortfall_risk(role_world):
    deal = agreement("FA-SHORT")
    promise = commitment(deal, amount="1000000000")
    spend(role_world.inside, deal.vendor, date(2026, 2, 1), "10", input_tokens=10_000_000)
    evaluate(date(2026, 3, 1), Alert.Type.COMMITMENT_SHORTFALL)
    alert = Alert.objects.get(type=Alert.Type.COMMITMENT_SHORTFALL)
    assert alert.dedup_key == f"commitment_shortfall:commitment:{promise.pk}:2026-01-01..2026-12-31"
    # 10M in 60 days → 60 833 333 by the year's end, 939 166 667 short
    assert alert.title == "Commitment shortfall risk: FA-SHORT (Vend Commit) projected 939,166,667 tokens short"
    assert alert.severity == "warning" and alert.vendor == deal.vendor and alert.department is None
    assert alert.data["shortfall_charge"] == "469.583333500000"  # × 0.50 per 1M


def test_commitment_met_prepaid_used_up_and_tier_reached(role_world):
    met = agreement("FA-MET", vendor=VendorFactory(slug="vend-met", name="Met Co", billing_currency="USD"))
    take = commitment(met, amount="5000")
    spend(role_world.inside, met.vendor, date(2026, 2, 1), "1", input_tokens=6000)
    prepaid_deal = agreement("FA-PRE", vendor=VendorFactory(slug="vend-pre", name="Pre Co", billing_currency="USD"))
    prepaid = commitment(prepaid_deal, unit="USD", amount="100", treatment=Commitment.Treatment.PREPAID)
    spend(role_world.inside, prepaid_deal.vendor, date(2026, 2, 1), "150", agreement_cost=D("150"))
    tiered, rule = tiered_agreement("FA-TIER", "vend-tier", tiers=[(0, "0.30"), (1_000_000, "0.20")])
    spend(role_world.inside, tiered.vendor, date(2026, 2, 1), "1", model="model-a", input_tokens=700_000)
    spend(role_world.outside, tiered.vendor, date(2026, 2, 2), "1", model="model-a", input_tokens=800_000)
    spend(role_world.outside, tiered.vendor, date(2026, 2, 2), "1", model="model-b", input_tokens=9_000_000)

    evaluate(date(2026, 3, 1), Alert.Type.COMMITMENT_CAP)
    period = "2026-01-01..2026-12-31"
    assert keys(Alert.Type.COMMITMENT_CAP) == {
        f"commitment_cap:commitment:{take.pk}:met:{period}",
        f"commitment_cap:commitment:{prepaid.pk}:exhausted:{period}",
        f"commitment_cap:price-rule:{rule.pk}:tier-2:{period}",  # 1.5M of model-a input (model-b has no rule)
    }
    exhausted = Alert.objects.get(dedup_key__contains=":exhausted:")
    assert exhausted.severity == "warning" and exhausted.title == "Prepaid commitment used up: FA-PRE (Pre Co)"
    tier = Alert.objects.get(dedup_key__contains="price-rule")
    assert tier.title == "Tier 2 reached: FA-TIER model-a input (Vend Tier)"
    assert tier.data["counted"] == 1_500_000 and tier.severity == "info"


# SLA ------------------------------------------------------------------------------------------------


def test_sla_breach_and_claim_deadline(role_world):
    deal = agreement("FA-SLA", vendor=VendorFactory(slug="vend-sla", name="Slow Co", billing_currency="USD"))
    owed = sla_credit(deal, period=date(2026, 5, 1), claim_by=date(2026, 6, 5))
    sla_credit(deal, period=date(2026, 5, 1), credit_percent=D(0), credit=D(0))  # met: no breach
    sla_credit(deal, period=date(2026, 5, 1), status=SlaCredit.Status.WAIVED, claim_by=date(2026, 6, 3))
    sla_credit(deal, period=date(2026, 4, 1), claim_by=date(2026, 6, 30))  # a breach; its deadline is far

    evaluate(date(2026, 6, 1), Alert.Type.SLA_BREACH, Alert.Type.SLA_CLAIM_DEADLINE)
    breaches = Alert.objects.filter(type=Alert.Type.SLA_BREACH)
    assert f"sla_breach:sla-clause:{owed.clause_id}:2026-05" in keys(Alert.Type.SLA_BREACH)
    assert breaches.count() == 3  # every clause with a credit: owed, waived (breached all the same), April
    breach = breaches.get(dedup_key=f"sla_breach:sla-clause:{owed.clause_id}:2026-05")
    assert breach.title == "SLA breach: Slow Co Latency P90 in 2026-05 (FA-SLA)"
    assert "measured 2100 ms against a target of 1500 ms (breach 600 ms)" in breach.message
    assert "Credit 5 % of the month's in-scope charges: USD 12.34" in breach.message

    assert keys(Alert.Type.SLA_CLAIM_DEADLINE) == {f"sla_claim_deadline:sla-credit:{owed.pk}:2026-05"}
    deadline = Alert.objects.get(type=Alert.Type.SLA_CLAIM_DEADLINE)
    assert deadline.title == "SLA credit claim deadline in 4 days: Slow Co USD 12.34 for 2026-05"
    assert deadline.severity == "warning" and deadline.data["level"] == 4


# Contracts and certifications ----------------------------------------------------------------------------


def test_contract_notice_steps_each_once(role_world):
    deal = agreement("FA-NOTE", vendor=VendorFactory(slug="vend-note", name="Note Co", billing_currency="USD"))
    Agreement.objects.filter(pk=deal.pk).update(notice_days=90, auto_renew=True)  # deadline 2026-10-02
    draft = agreement("FA-DRAFT", vendor=VendorFactory(slug="vend-draft", billing_currency="USD"))
    Agreement.objects.filter(pk=draft.pk).update(status=Agreement.Status.DRAFT)

    evaluate(date(2026, 5, 1), Alert.Type.CONTRACT_NOTICE)  # 154 days: no step yet
    assert keys(Alert.Type.CONTRACT_NOTICE) == set()
    evaluate(date(2026, 6, 10), Alert.Type.CONTRACT_NOTICE)  # 114 days
    evaluate(date(2026, 6, 11), Alert.Type.CONTRACT_NOTICE)  # still the 120-day step
    evaluate(date(2026, 8, 10), Alert.Type.CONTRACT_NOTICE)  # 53 days: the 90-day step was missed, 60 now
    assert keys(Alert.Type.CONTRACT_NOTICE) == {
        "contract_notice:agreement:FA-NOTE:120d:2026-10-02",
        "contract_notice:agreement:FA-NOTE:60d:2026-10-02",
    }
    sixty = Alert.objects.get(dedup_key__contains=":60d:")
    assert sixty.title == "Notice deadline in 53 days: FA-NOTE (Note Co)" and sixty.severity == "warning"
    assert "renews automatically after 2026-12-31 unless notice is given by 2026-10-02" in sixty.message
    assert Alert.objects.get(dedup_key__contains=":120d:").severity == "info"


def test_certification_expiring_unless_renewed(role_world):
    today = date(2026, 6, 1)
    lapsing = VendorCertificationFactory(
        vendor=VendorFactory(slug="cert-a", name="Cert A"), valid_until=date(2026, 7, 16)
    )
    soon = VendorCertificationFactory(
        vendor=VendorFactory(slug="cert-b", name="Cert B"), kind="soc2_type2", valid_until=date(2026, 6, 20)
    )
    renewed = VendorCertificationFactory(vendor=VendorFactory(slug="cert-c"), valid_until=date(2026, 6, 30))
    VendorCertificationFactory(vendor=renewed.vendor, valid_from=date(2026, 7, 1), valid_until=date(2029, 6, 30))
    evaluate(today, Alert.Type.CERTIFICATION_EXPIRING)
    assert keys(Alert.Type.CERTIFICATION_EXPIRING) == {
        f"certification_expiring:certification:{lapsing.pk}:60d:2026-07-16",
        f"certification_expiring:certification:{soon.pk}:30d:2026-06-20",
    }
    alert = Alert.objects.get(dedup_key__contains=f":{soon.pk}:30d")
    assert alert.title == "Certification expiring in 19 days: Cert B SOC 2 Type II" and alert.severity == "warning"


# Compliance (records ingested through the API, at yesterday's date) -------------------------------------


def ingest(user, records):
    response = token_client(user).post("/api/v1/usage/records", records, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.json()
    return response.json()


def test_compliance_no_dpa_no_certification_and_a_region_not_approved(role_world):
    yesterday = timezone.now().date() - timedelta(days=1)
    vendor, _ = world()  # openai: no DPA, no certification
    Vendor.objects.filter(pk=vendor.pk).update(data_residency=["US"])
    good, _ = world(vendor="goodco")
    Vendor.objects.filter(pk=good.pk).update(data_residency=["EU"], dpa_signed=True)
    VendorCertificationFactory(vendor=good, valid_from=date(2020, 1, 1), valid_until=date(2099, 1, 1))
    at = f"{yesterday.isoformat()}T10:00:00Z"
    ingest(
        role_world.user(Role.FINANCE),
        [
            record(1, bucket_start=at, bucket_end=None, region="us-east-1", department="T-IN"),
            record(2, bucket_start=at, bucket_end=None, region="eu-west-1", department="T-IN"),
            record(3, bucket_start=at, bucket_end=None, region="EU", vendor="goodco", department="T-IN"),
        ],
    )
    evaluate(timezone.now().date(), Alert.Type.COMPLIANCE)
    month = f"{timezone.now():%Y-%m}"
    assert keys(Alert.Type.COMPLIANCE) == {
        f"compliance:vendor:openai:no-dpa:{month}",
        f"compliance:vendor:openai:no-certification:{month}",
        f"compliance:vendor:openai:region:EU-WEST-1:{month}",
    }
    region = Alert.objects.get(dedup_key__contains=":region:")
    assert region.title == "Usage at Openai in a region not approved: EU-WEST-1" and region.severity == "critical"
    assert "its approved data-residency regions are US" in region.message
    assert Alert.objects.get(dedup_key__contains=":no-certification:").severity == "warning"


def test_region_approval_rule():
    assert region_approved("us-east-1", ["US"]) and region_approved("EU", ["eu"])
    assert not region_approved("eu-west-1", ["US"]) and not region_approved("USA", ["US"])
    assert not region_approved("cn-north-1", [])


# Usage anomaly ----------------------------------------------------------------------------------------


def test_robust_z_by_hand():
    history = [D(x) for x in range(1, 10)]  # median 5, MAD 2
    assert robust_z(history, D(20)) == D("5.06")  # 0.6745 × 15 ÷ 2 = 5.05875
    # MAD 0 (most days equal): (9 − 5) ÷ (1.253314 × mean AD 8/28) = 11.17
    assert robust_z([D(5)] * 20 + [D(6)] * 8, D(9)) == D("11.17")
    assert robust_z([D(7)] * 28, D(70)) is None  # a history that never varies judges nothing


def test_usage_anomaly_on_yesterday_against_28_days(role_world):
    """Tuesday 2026-06-02 against the 20 weekdays of the 28 days before (weekends run at a tenth
    and are not compared with weekdays)."""
    vendor = VendorFactory(slug="anomaly-vendor")
    today = date(2026, 6, 3)
    for offset in range(1, 29):
        day = today - timedelta(days=offset + 1)
        scale = 10 if day.weekday() >= 5 else 1
        spend(role_world.inside, vendor, day, str((100 + offset % 5) // scale), input_tokens=1_000_000 // scale)
        spend(role_world.outside, vendor, day, str(50 + offset % 3), input_tokens=500_000)
    yesterday = today - timedelta(days=1)
    spend(role_world.inside, vendor, yesterday, "1000", input_tokens=1_000_000)  # cost jumps, tokens as usual
    spend(role_world.outside, vendor, yesterday, "51", input_tokens=500_000)  # as usual
    spend(role_world.inside_child, vendor, yesterday, "9999", input_tokens=1)  # no history: not judged

    evaluate(today, Alert.Type.USAGE_ANOMALY)
    assert keys(Alert.Type.USAGE_ANOMALY) == {"usage_anomaly:department:T-IN:cost:2026-06-02"}
    alert = Alert.objects.get(type=Alert.Type.USAGE_ANOMALY)
    assert alert.department == role_world.inside and alert.severity == "critical"
    assert alert.title == "Unusual spend: T-IN on 2026-06-02 (USD 1,000.00, usually USD 102.00)"
    assert "far above the median of the weekdays in the 28 days before" in alert.message
    assert D(alert.data["z"]) > D("3.5")


def test_a_drop_is_judged_once_today_has_usage(role_world):
    vendor = VendorFactory(slug="drop-vendor")
    today = date(2026, 6, 3)
    for offset in range(1, 29):
        spend(role_world.inside, vendor, today - timedelta(days=offset + 1), str(100 + offset % 5))
    spend(role_world.inside, vendor, today - timedelta(days=1), "3")  # yesterday, as ingested so far
    evaluate(today, Alert.Type.USAGE_ANOMALY)
    assert keys(Alert.Type.USAGE_ANOMALY) == set()  # yesterday may not be complete yet
    spend(role_world.inside, vendor, today, "40")
    evaluate(today, Alert.Type.USAGE_ANOMALY)
    assert keys(Alert.Type.USAGE_ANOMALY) == {"usage_anomaly:department:T-IN:cost:2026-06-02"}
    assert "far below" in Alert.objects.get().message


# Vendor concentration ----------------------------------------------------------------------------------


def test_vendor_concentration_beyond_policy(role_world):
    primary, backup = VendorFactory(slug="primary", name="Primary AI"), VendorFactory(slug="backup")
    spend(role_world.inside, primary, date(2026, 5, 20), "850")
    spend(role_world.inside, backup, date(2026, 5, 21), "150")
    spend(role_world.inside, backup, date(2026, 4, 1), "5000")  # before the 30 days
    evaluate(date(2026, 6, 1), Alert.Type.VENDOR_CONCENTRATION)
    assert keys(Alert.Type.VENDOR_CONCENTRATION) == {"vendor_concentration:vendor:primary:2026-06"}
    alert = Alert.objects.get(type=Alert.Type.VENDOR_CONCENTRATION)
    assert alert.title == "Vendor concentration: Primary AI had 85 % of spend (policy 80 %)"
    Alert.objects.all().delete()
    with override_settings(ALERT_CONCENTRATION_PERCENT="90"):
        evaluate(date(2026, 6, 1), Alert.Type.VENDOR_CONCENTRATION)
    assert keys(Alert.Type.VENDOR_CONCENTRATION) == set()


# Feeds and FX -----------------------------------------------------------------------------------------


def test_feed_stale_or_failing(role_world):
    now = timezone.now()
    last_ok = (now - timedelta(hours=5)).replace(microsecond=0)
    Source.objects.create(slug="stale-feed", name="Stale feed", pull_enabled=True, last_pull_ok_at=last_ok)
    Source.objects.create(
        slug="failing-feed", name="Failing feed", pull_enabled=True, pull_failures=3, last_pull_error="HTTP 401"
    )
    Source.objects.create(slug="fresh-feed", name="Fresh", pull_enabled=True, last_pull_ok_at=now)
    Source.objects.create(slug="push-only", name="Gateway push")  # not pulled: never stale
    evaluate(now.date(), Alert.Type.FEED_STALE)
    assert keys(Alert.Type.FEED_STALE) == {
        f"feed_stale:source:stale-feed:ok-{last_ok:%Y-%m-%dT%H:%M:%S}",
        "feed_stale:source:failing-feed:never-ok",
    }
    failing = Alert.objects.get(dedup_key__contains="failing-feed")
    assert failing.severity == "critical" and failing.title == "Feed failing: Failing feed (3 failed pulls in a row)"
    assert "Last error: HTTP 401" in failing.message


def test_fx_missing_for_usage_and_stale_for_an_agreement_currency(role_world):
    today = timezone.now().date()
    year, week, _ = today.isocalendar()
    world(vendor="deepseek", currency="CNY", model="deepseek-chat")  # list prices in CNY, no CNY rate at all
    ingest(
        role_world.user(Role.FINANCE),
        [
            record(
                1,
                vendor="deepseek",
                model="deepseek-chat",
                bucket_start=f"{today - timedelta(days=1)}T08:00:00Z",
                bucket_end=None,
                department="T-IN",
            )
        ],
    )
    euro = agreement("FA-EUR", vendor=VendorFactory(slug="euro-ai", billing_currency="EUR"), currency="EUR")
    assert euro.currency == "EUR"
    FxRate.objects.create(date=today - timedelta(days=20), base="EUR", quote="USD", rate=D("1.08"))

    evaluate(today, Alert.Type.FX_MISSING)
    assert keys(Alert.Type.FX_MISSING) == {
        f"fx_missing:pair:CNY-USD:{year}-W{week:02d}",
        f"fx_missing:pair:EUR-USD:{year}-W{week:02d}",
    }
    cny = Alert.objects.get(dedup_key__contains="CNY-USD")
    assert cny.title == "FX rate missing: CNY→USD, 1 usage records unpriced" and cny.severity == "critical"
    eur = Alert.objects.get(dedup_key__contains="EUR-USD")
    assert eur.title == f"FX rate stale: EUR→USD (latest {today - timedelta(days=20)})" and eur.severity == "warning"


# Never twice ---------------------------------------------------------------------------------------------


def test_evaluating_again_refreshes_last_seen_only(role_world):
    budget_world(role_world)
    evaluate(date(2026, 5, 1), Alert.Type.BUDGET_THRESHOLD)
    alert = Alert.objects.get(dedup_key__endswith=":80%:FY2026")
    Alert.objects.filter(pk=alert.pk).update(status="acknowledged", title="edited by hand")
    before = Alert.objects.get(pk=alert.pk).last_seen_at
    summary = evaluate(date(2026, 5, 2), Alert.Type.BUDGET_THRESHOLD)
    assert summary["raised"] == 0 and summary["repeated"] == 2
    again = Alert.objects.get(pk=alert.pk)
    assert Alert.objects.filter(type=Alert.Type.BUDGET_THRESHOLD).count() == 2
    assert (again.status, again.title) == ("acknowledged", "edited by hand") and again.last_seen_at > before
    assert again.history.count() == 1  # raised once; a repeat writes no history


def test_ingestion_triggers_an_evaluation(role_world, django_capture_on_commit_callbacks):
    """GIVEN a tiny FY budget WHEN usage is ingested (with the trigger on) THEN the thresholds it
    crosses are raised once the ingestion run commits."""
    world()
    today = timezone.now().date()
    budget = BudgetFactory(department=role_world.inside, fiscal_year=today.year, amount=D("1.00"))
    cache.clear()
    at = f"{today - timedelta(days=1)}T09:00:00Z" if today.month > 1 or today.day > 1 else f"{today}T00:00:00Z"
    with override_settings(ALERTS_EVALUATE_AFTER_INGESTION=True), django_capture_on_commit_callbacks(execute=True):
        ingest(
            role_world.user(Role.FINANCE),
            [record(1, bucket_start=at, bucket_end=None, input_tokens=1_000_000, department="T-IN")],
        )
    assert f"budget_threshold:budget:{budget.pk}:100%:FY{today.year}" in keys(Alert.Type.BUDGET_THRESHOLD)


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_raise_each_alert_once(role_world):
    """GIVEN budgets over their thresholds WHEN two evaluations run in parallel threads THEN each
    dedup key is raised by exactly one of them, and delivered once."""
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="Finance inbox", roles=["finance"], channels=["inbox"])
    budget_world(role_world)
    barrier = threading.Barrier(2)
    summaries: list[dict] = []
    failures: list[BaseException] = []

    def run():
        try:
            barrier.wait(timeout=10)
            summaries.append(alerts_evaluate(today=date(2026, 5, 1), types=[Alert.Type.BUDGET_THRESHOLD]))
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert Alert.objects.filter(type=Alert.Type.BUDGET_THRESHOLD).count() == 2
    assert sum(s["raised"] for s in summaries) == 2 and sum(s["repeated"] for s in summaries) == 2
    assert InboxItem.objects.filter(user=role_world.user(Role.FINANCE)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_eight_threads_raising_one_key_create_it_once(role_world):
    barrier = threading.Barrier(8)
    created: list[bool] = []
    failures: list[BaseException] = []

    def run():
        try:
            barrier.wait(timeout=10)
            created.append(alert_raise(candidate=candidate("race"))[1])
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert sorted(created) == [False] * 7 + [True]
    assert Alert.objects.filter(dedup_key="budget_threshold:budget:test-race:FY2026").count() == 1


def test_a_company_wide_alert_names_no_department(role_world):
    """Company-wide alerts carry no department; candidates may name neither."""
    alert, created = alert_raise(candidate=candidate("plain"))
    assert created and alert.department is None and alert.vendor is None
    assert alert.raised_at <= timezone.now() and alert.raised_at.tzinfo is not None
    assert alert.raised_at > datetime(2020, 1, 1, tzinfo=UTC)
