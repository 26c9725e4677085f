"""Vendor scorecards: performance, cost share against the policy, families side by side; and the
performance samples upload."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.models import PerformanceSample
from billing.selectors.scorecard import model_family, vendor_scorecard
from billing.tests.factories import DailyRollupFactory
from core.roles import Role
from core.testing import token_client

from .reconciliation_world import vendor
from .test_sla import rec

pytestmark = pytest.mark.django_db
D = Decimal


def test_model_families_meet_across_routers():
    assert model_family("deepseek/deepseek-chat") == "deepseek-chat" == model_family("deepseek-chat")
    assert model_family("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"


def test_scorecard_figures_and_peers(role_world):
    acme, router = vendor("acme", "Acme AI", "USD"), vendor("router", "Router", "USD")
    # acme: 10 requests with latencies 100…1000 ms, 1 failed request of 10 more
    for i in range(10):
        rec(acme, 2, requests=1, latency_ms=100.0 * (i + 1), output_tokens=100)
    rec(acme, 3, requests=10, failed_requests=1)
    rec(router, 2, model="acme/acme-large", requests=1, latency_ms=50.0, output_tokens=100)
    for v, model, cost, tokens in ((acme, "acme-large", "90", 9_000_000), (router, "acme/acme-large", "10", 500_000)):
        DailyRollupFactory(
            day=date(2026, 3, 2), department=role_world.inside, vendor=v, model=model, cost=D(cost), input_tokens=tokens
        )
    card = vendor_scorecard(vendor=acme, start=date(2026, 3, 1), end=date(2026, 3, 31))
    assert card.performance.requests == 20 and card.availability == D("95.000000")
    assert card.latency_p50_ms == D("500.000000") and card.latency_p90_ms == D("900.000000")  # nearest rank
    assert card.cost == D("90") and card.cost_share == D("90.00")
    assert [(s["vendor"], s["role"], s["over_policy"]) for s in card.shares] == [
        ("acme", "primary", True),
        ("router", "backup", False),
    ]
    peers = card.families["acme-large"]
    assert [(p.vendor, p.cost_per_million) for p in peers] == [("acme", D("10.000000")), ("router", D("20.000000"))]

    body = (
        token_client(role_world.user(Role.PROCUREMENT))
        .get("/api/v1/vendors/acme/scorecard", {"start": "2026-03-01", "end": "2026-03-31"})
        .json()
    )
    assert (body["availability"], body["latency_p90_ms"], body["cost_share"]) == ("95.000000", "900.000000", "90.00")
    assert (
        token_client(role_world.user(Role.DEPARTMENT_MANAGER)).get("/api/v1/vendors/acme/scorecard").status_code == 403
    )


def test_samples_upload_is_all_or_nothing(role_world):
    vendor("acme", "Acme AI", "USD")
    client = token_client(role_world.user(Role.PROCUREMENT))
    bad = (
        "day,model,latency_ms,output_tokens,failed\n"
        "2026-03-02,acme-large,120,50,false\n"
        "2026-03-02,acme-large,oops,1,no\n"
    )
    refused = client.post(
        "/api/v1/vendors/acme/performance-samples",
        {"layout": "request", "file": SimpleUploadedFile("s.csv", bad.encode())},
        format="multipart",
    )
    assert refused.status_code == 400 and refused.json()["extra"]["rejected"][0]["line"] == 3
    assert not PerformanceSample.objects.exists()
    good = bad.replace("oops", "80")
    stored = client.post(
        "/api/v1/vendors/acme/performance-samples",
        {"layout": "request", "file": SimpleUploadedFile("s.csv", good.encode())},
        format="multipart",
    )
    assert stored.status_code == 201 and stored.json()["imported"] == 2
    assert (
        token_client(role_world.user(Role.AUDITOR))
        .post("/api/v1/vendors/acme/performance-samples", {"layout": "request"}, format="multipart")
        .status_code
        == 403
    )


def test_the_scorecard_page(role_world, client):
    from core.testing import PASSWORD

    acme = vendor("acme", "Acme AI", "USD")
    for i in range(4):
        rec(acme, 2, requests=1, latency_ms=100.0 * (i + 1), output_tokens=100)
    client.login(username=role_world.user(Role.PROCUREMENT).username, password=PASSWORD)
    page = client.get("/vendors/acme/scorecard/", {"start": "2026-03-01", "end": "2026-03-31"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "200 / 400 ms" in html and 'data-figure="availability">100.000 %' in html
    assert 'href="/vendors/acme/scorecard/"' in client.get("/vendors/acme/").content.decode()
    client.login(username=role_world.user(Role.DEPARTMENT_MANAGER).username, password=PASSWORD)
    assert client.get("/vendors/acme/scorecard/").status_code == 403
    assert "/scorecard/" not in client.get("/vendors/acme/").content.decode()
