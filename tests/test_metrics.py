"""GET /metrics (Prometheus text format) and `manage.py usage_partitions`."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from core.models import JobRun
from usage.models import IngestionRun
from usage.partitions import add_months, monthly_partitions_ensure, range_partition_key


def samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(found: dict, name: str, **labels) -> float:
    return sum(s.value for s in found.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture(autouse=True)
def _fresh_state_cache():
    cache.delete("tl:metrics:state")
    yield
    cache.delete("tl:metrics:state")


def test_metrics_refused_to_other_addresses_without_the_token(settings):
    """GIVEN the default allowed addresses (loopback) and no token
    WHEN a scraper elsewhere asks, THEN 403 with the API's error shape, and nothing is read."""
    settings.METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR="10.20.30.40").get("/metrics")
    assert response.status_code == 403
    assert "METRICS_ALLOWED_IPS" in response.json()["message"]
    # a forwarded header is anyone's to write: it opens nothing
    response = Client(REMOTE_ADDR="10.20.30.40").get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


@pytest.mark.django_db
def test_metrics_token_and_networks(settings):
    settings.METRICS_TOKEN = "scrape-secret-0123456789"
    settings.METRICS_ALLOWED_IPS = ["10.1.0.0/16"]
    outside = Client(REMOTE_ADDR="192.0.2.7")
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789").status_code == 200
    assert Client(REMOTE_ADDR="10.1.200.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 403  # no longer listed
    assert Client(REMOTE_ADDR="10.1.200.3").post("/metrics").status_code == 405


@pytest.mark.django_db
def test_metrics_report_requests_ingested_rows_job_runs_and_queue(settings):
    """GIVEN an API run with its counts, a queued job and a few answered requests
    WHEN loopback scrapes, THEN the text format carries them all."""
    settings.METRICS_CACHE_SECONDS = 0
    IngestionRun.objects.create(
        kind="ingestion",
        status=JobRun.Status.SUCCEEDED,
        origin=IngestionRun.Origin.API,
        format="ndjson",
        received=10,
        accepted=6,
        duplicates=2,
        restated=1,
        rejected=1,
    )
    JobRun.objects.create(kind="invoices.generate", status=JobRun.Status.QUEUED)
    client = Client(REMOTE_ADDR="127.0.0.1")
    before = value(
        samples(client.get("/metrics").content.decode()), "tokenledger_http_requests_total", status="404", area="page"
    )  # the counters are the process's: earlier tests in it counted too
    client.get("/no-such-page/")
    client.get("/healthz")

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    found = samples(response.content.decode())
    assert value(found, "tokenledger_http_requests_total", status="404", area="page") == before + 1
    assert value(found, "tokenledger_http_requests_total", method="GET", status="200", area="probe") >= 2
    assert value(found, "tokenledger_http_request_duration_seconds_count") >= 3
    for outcome, count in (("accepted", 6), ("duplicates", 2), ("restated", 1), ("rejected", 1)):
        assert value(found, "tokenledger_ingestion_rows_total", origin="api", outcome=outcome) == count
    assert value(found, "tokenledger_job_runs", kind="invoices.generate", status="queued") == 1
    assert value(found, "tokenledger_job_runs", kind="ingestion", status="succeeded") == 1
    assert value(found, "tokenledger_rejected_rows_open") == 0
    assert "tokenledger_queue_messages" in found or value(found, "tokenledger_broker_up") == 0
    assert "tokenledger_metrics_state_seconds" in found


@pytest.mark.django_db
def test_shared_state_is_read_once_per_cache_interval(settings, django_assert_num_queries):
    """GIVEN METRICS_CACHE_SECONDS, THEN a second scrape within it asks the database nothing."""
    settings.METRICS_CACHE_SECONDS = 60
    client = Client(REMOTE_ADDR="127.0.0.1")
    client.get("/metrics")
    JobRun.objects.create(kind="forecasts.refresh", status=JobRun.Status.RUNNING)
    with django_assert_num_queries(0):
        text = client.get("/metrics").content.decode()
    assert value(samples(text), "tokenledger_job_runs", kind="forecasts.refresh") == 0
    settings.METRICS_CACHE_SECONDS = 0
    text = client.get("/metrics").content.decode()
    assert value(samples(text), "tokenledger_job_runs", kind="forecasts.refresh", status="running") == 1


@pytest.mark.django_db
def test_usage_partitions_on_the_plain_table_changes_nothing():
    assert range_partition_key("usage_record") is None
    out = StringIO()
    call_command("usage_partitions", stdout=out)
    assert "not partitioned" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^usage_record_p[0-9]{4}_[0-9]{2}$'")
        assert cursor.fetchone()[0] == 0


@pytest.mark.django_db
def test_monthly_partitions_are_created_ahead_once():
    """GIVEN a table partitioned by range on bucket_start (as the README's conversion leaves
    usage_record), WHEN the partitions of three months are ensured twice, THEN they are created
    once, with UTC month bounds, and rows land in their month."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE scratch_usage (id bigint, bucket_start timestamptz NOT NULL, PRIMARY KEY (id, bucket_start)) "
            "PARTITION BY RANGE (bucket_start)"
        )
    assert range_partition_key("scratch_usage") == "bucket_start"
    first = monthly_partitions_ensure(table="scratch_usage", first=date(2026, 12, 15), months=3)
    assert [(p.name, p.start, p.end, p.created) for p in first] == [
        ("scratch_usage_p2026_12", date(2026, 12, 1), date(2027, 1, 1), True),
        ("scratch_usage_p2027_01", date(2027, 1, 1), date(2027, 2, 1), True),
        ("scratch_usage_p2027_02", date(2027, 2, 1), date(2027, 3, 1), True),
    ]
    again = monthly_partitions_ensure(table="scratch_usage", first=date(2027, 1, 3), months=3)
    assert [p.created for p in again] == [False, False, True]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO scratch_usage VALUES (1, '2026-12-31 23:59:59+00'), (2, '2027-01-01 00:00:00+00'), "
            "(3, '2027-03-31 12:00:00+00')"
        )
        cursor.execute("SELECT tableoid::regclass::text, id FROM scratch_usage ORDER BY id")
        assert cursor.fetchall() == [
            ("scratch_usage_p2026_12", 1),
            ("scratch_usage_p2027_01", 2),
            ("scratch_usage_p2027_03", 3),
        ]
    assert add_months(date(2026, 11, 1), 14) == date(2028, 1, 1)
