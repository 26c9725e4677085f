import pytest
from django.test import Client


def test_healthz_needs_nothing():
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_cache_and_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"
    body = Client().get("/readyz").json()
    assert body["status"] == "ok"
    assert {c["name"] for c in body["checks"]} == {"database", "cache", "broker"}


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_broker():
    from celery import current_app

    original = current_app.conf.broker_url
    current_app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = Client().get("/readyz")
    finally:
        current_app.conf.broker_url = original
    assert response.status_code == 503
    failed = [c for c in response.json()["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["broker"]
