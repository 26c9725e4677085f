"""fx-rates through the API: the role matrix, CSV import as a run, conversion."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.models import FxRate
from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client

pytestmark = pytest.mark.django_db
SAMPLES = Path(__file__).parent / "samples"


class TestFxRateAPI(APIResourceContract):
    resource = "fx_rate"
    basename = "fxrate"

    def make_object(self, world, department):
        return FxRate.objects.get_or_create(
            date=date(2026, 1, 2), base="EUR", quote="USD", defaults={"rate": Decimal("1.1")}
        )[0]

    def create_payload(self, world):
        return {"date": "2026-01-05", "base": "EUR", "quote": "CNY", "rate": "7.81"}

    def update_payload(self, world, obj):
        return {"rate": "1.12"}


def test_fields_and_duplicate_refused(role_world):
    finance = token_client(role_world.user(Role.FINANCE))
    response = finance.post(
        "/api/v1/fx-rates/", {"date": "2026-01-05", "base": "EUR", "quote": "USD", "rate": "1.0843"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["date"], body["base"], body["quote"], body["rate"]) == ("2026-01-05", "EUR", "USD", "1.0843000000")
    again = finance.post(
        "/api/v1/fx-rates/", {"date": "2026-01-05", "base": "EUR", "quote": "USD", "rate": "1.2"}, format="json"
    )
    assert again.status_code == 400 and "exists" in again.json()["extra"]["fields"]["date"][0]
    same = finance.post(
        "/api/v1/fx-rates/", {"date": "2026-01-05", "base": "EUR", "quote": "EUR", "rate": "1"}, format="json"
    )
    assert same.status_code == 400 and "quote" in same.json()["extra"]["fields"]


def test_ecb_import_runs_in_the_background(role_world, django_capture_on_commit_callbacks):
    finance = token_client(role_world.user(Role.FINANCE))
    upload = SimpleUploadedFile("eurofxref-hist.csv", (SAMPLES / "eurofxref-hist-excerpt.csv").read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post("/api/v1/fx-rates/import/", {"file": upload}, format="multipart")
    assert response.status_code == 202
    run = finance.get(f"/api/v1/runs/{response.json()['run']}/").json()
    assert run["status"] == "succeeded", run
    assert run["result"]["created"] == 87 and run["result"]["layout"] == "ecb"
    assert run["result"]["skipped_currencies"] == ["BGN"]
    assert FxRate.objects.count() == 87
    latest = FxRate.objects.get(date="2026-03-06", quote="USD").history.first()
    assert latest.history_user == role_world.user(Role.FINANCE)


def test_garbage_import_fails_its_run_with_a_message(role_world, django_capture_on_commit_callbacks):
    finance = token_client(role_world.user(Role.FINANCE))
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(
            "/api/v1/fx-rates/import/", {"file": SimpleUploadedFile("x.csv", b"hello,world\n")}, format="multipart"
        )
    run = finance.get(f"/api/v1/runs/{response.json()['run']}/").json()
    assert run["status"] == "failed" and "Unknown layout" in run["message"]


def test_convert(role_world):
    FxRate.objects.create(date=date(2026, 3, 6), base="EUR", quote="USD", rate=Decimal("1.08"))
    FxRate.objects.create(date=date(2026, 3, 6), base="EUR", quote="CNY", rate=Decimal("7.80"))
    client = token_client(role_world.user(Role.DEPARTMENT_MANAGER))
    body = client.get(
        "/api/v1/fx-rates/convert/", {"amount": "780", "from": "CNY", "to": "USD", "date": "2026-03-09"}
    ).json()
    assert body["converted"] == "108.000000000000" and body["method"] == "cross" and body["rate_date"] == "2026-03-06"
    stale = client.get("/api/v1/fx-rates/convert/", {"amount": "1", "from": "CNY", "to": "USD", "date": "2026-03-20"})
    assert stale.status_code == 404 and stale.json()["extra"]["reason"] == "stale"
    bad = client.get("/api/v1/fx-rates/convert/", {"amount": "x", "from": "CNY", "date": "2026-03-06"})
    assert bad.status_code == 400
    assert_error_shape(bad)
