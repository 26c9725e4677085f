"""OpenRouter activity uploads (`openrouter_activity`): each row is a usage record for the
OpenRouter vendor and a vendor cost line, both numbered as the row."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import Role
from core.testing import token_client
from usage.models import RejectedRow, Source, UsageRecord, VendorCostLine
from usage.pipeline.feeds import FeedOptions, feed_for
from usage.pipeline.formats import Unreadable

from .factories import world

pytestmark = pytest.mark.django_db

ROW = {
    "date": "2025-08-24",
    "model": "openai/gpt-4.1",
    "model_permaslug": "openai/gpt-4.1-2025-04-14",
    "endpoint_id": "550e8400-e29b-41d4-a716-446655440000",
    "provider_name": "OpenAI",
    "usage": 0.015,
    "byok_usage_inference": 0.012,
    "requests": 5,
    "prompt_tokens": 50,
    "completion_tokens": 125,
    "reasoning_tokens": 25,
}


def row(**changes) -> dict:
    values = {**ROW, **changes}
    return {k: v for k, v in values.items() if v is not ...}


def page(*rows: dict) -> str:
    return json.dumps({"data": list(rows)})


@pytest.fixture
def openrouter(role_world, django_capture_on_commit_callbacks):
    """The OpenRouter vendor with a list price for openai/gpt-4.1, a source without a vendor (the
    format names it), and an uploader acting as finance."""
    world(vendor="openrouter", model="openai/gpt-4.1", price_in="2", price_out="8", cached="0.5")
    Source.objects.create(slug="or", name="OpenRouter activity", format="openrouter_activity")
    client = token_client(role_world.user(Role.FINANCE))

    def upload(text: str, name: str = "activity.json") -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, text.encode()), "format": "openrouter_activity", "source": "or"},
                format="multipart",
            )
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    def replay(run_id: int, body: dict | None = None) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/usage/runs/{run_id}/replay/", body or {}, format="json")
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    upload.replay, upload.client = replay, client
    return upload


def test_a_row_is_a_usage_record_and_a_cost_line(openrouter):
    run = openrouter(page(ROW))
    assert run["status"] == "succeeded", run["message"]
    assert (run["received"], run["accepted"], run["rejected"]) == (2, 2, 0)
    assert run["result"]["cost_lines"] == 1

    record = UsageRecord.objects.select_related("vendor").get()
    assert record.vendor.slug == "openrouter" and record.model == "openai/gpt-4.1"
    assert record.bucket_start == datetime(2025, 8, 24, tzinfo=UTC)
    assert record.bucket_end == datetime(2025, 8, 25, tzinfo=UTC)
    # prompt tokens are input; completion tokens are output and already hold the reasoning tokens
    assert (record.input_tokens, record.cached_input_tokens, record.cache_write_tokens, record.output_tokens) == (
        50,
        0,
        0,
        125,
    )
    assert record.requests == 5
    assert record.tags == {
        "provider": "OpenAI",
        "endpoint_id": "550e8400-e29b-41d4-a716-446655440000",
        "model_permaslug": "openai/gpt-4.1-2025-04-14",
        "reasoning_tokens": "25",
    }

    line = VendorCostLine.objects.select_related("vendor").get()
    assert line.vendor.slug == "openrouter" and line.feed == "openrouter_activity" and line.run_id == run["id"]
    assert format(line.amount, "f") == "0.015" and line.amount_as_given == "0.015" and line.currency == "USD"
    assert (line.description, line.model, line.charge_category) == ("OpenRouter usage", "openai/gpt-4.1", "Usage")
    assert line.period_start == record.bucket_start and line.period_end == record.bucket_end
    assert line.dimensions["byok_usage_inference"] == "0.012" and line.dimensions["provider"] == "OpenAI"

    api = openrouter.client.get("/api/v1/vendor-cost-lines/", {"vendor": "openrouter"}).json()["results"]
    assert [(r["amount"], r["currency"], r["source"], r["run"]) for r in api] == [("0.015", "USD", "or", run["id"])]


def test_every_file_shape_and_idempotent_pulls(openrouter):
    """One answer, an array of answers, one answer per line and a bare array of rows read alike;
    pulling the same days again changes nothing, and a day whose figures moved is restated."""
    second = row(date="2025-08-25", usage="0.00000123456789", prompt_tokens=7, completion_tokens=3)
    shapes = [
        page(ROW, second),
        json.dumps([{"data": [ROW]}, {"data": [second]}]),
        page(ROW) + "\n" + page(second) + "\n",
        json.dumps([ROW, second]),
    ]
    first = openrouter(shapes[0])
    assert (first["accepted"], first["rejected"]) == (4, 0)
    for shape in shapes[1:]:
        again = openrouter(shape)
        assert again["status"] == "succeeded", again["message"]
        assert (again["received"], again["accepted"], again["duplicates"], again["restated"]) == (4, 0, 4, 0)
    assert format(VendorCostLine.objects.get(period_start__day=25).amount, "f") == "0.00000123456789"

    moved = openrouter(page(ROW, row(date="2025-08-25", usage="0.0000013", prompt_tokens=9, completion_tokens=3)))
    assert (moved["accepted"], moved["duplicates"], moved["restated"]) == (0, 2, 2)
    assert UsageRecord.objects.get(bucket_start__day=25).input_tokens == 9
    line = VendorCostLine.objects.get(period_start__day=25)
    assert format(line.amount, "f") == "0.0000013" and line.superseded[0]["amount"] == "0.00000123456789"


def test_same_model_on_two_endpoints_is_two_records(openrouter):
    other = row(endpoint_id="other-endpoint", provider_name="Azure", usage=0.01)
    run = openrouter(page(ROW, other))
    assert run["accepted"] == 4
    assert sorted(UsageRecord.objects.values_list("tags__provider", flat=True)) == ["Azure", "OpenAI"]
    assert VendorCostLine.objects.count() == 2


def test_bad_rows_are_kept_once_with_every_reason_and_replayed(openrouter):
    bad = row(prompt_tokens=-1, usage="lots", date="24/08/2025", model=...)
    long_model = row(model="m" * 201, date="2025-08-23")
    run = openrouter(page(ROW, bad, long_model))
    assert run["status"] == "succeeded", run["message"]
    kept = {r.row: r for r in RejectedRow.objects.filter(run_id=run["id"])}
    assert sorted(kept) == [2, 3]  # one kept row per activity row, though a row gives two items
    assert kept[2].reasons == [
        "date '24/08/2025' is not a YYYY-MM-DD date; model is missing; usage 'lots' is not a decimal number; "
        "prompt_tokens must be a whole number ≥ 0, not -1"
    ]
    assert kept[3].reasons == ["model is longer than 200 characters"]  # the record's and the line's reason, once
    assert UsageRecord.objects.count() == 1 and VendorCostLine.objects.count() == 1

    fixed = json.loads(kept[3].raw)
    fixed["model"] = "anthropic/claude-sonnet-4"
    replay = openrouter.replay(run["id"], {"rows": [{"id": kept[3].pk, "raw": json.dumps(fixed)}]})
    assert (replay["received"], replay["accepted"], replay["rejected"]) == (2, 2, 0)
    assert VendorCostLine.objects.filter(model="anthropic/claude-sonnet-4").count() == 1
    assert UsageRecord.objects.filter(model="anthropic/claude-sonnet-4").count() == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json at all", "invalid JSON"),
        ('{"data": [', "ends unexpectedly"),
        ('{"rows": []}', "no data list"),
        ("[1, 2]", "not an object"),
    ],
)
def test_garbage_fails_the_run(openrouter, text, message):
    run = openrouter(text)
    assert run["status"] == "failed" and message in run["message"], run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0


def test_parser_keeps_money_exact_and_ignores_unknown_fields():
    feed = feed_for("openrouter_activity")
    opts = FeedOptions(source="or", vendor="openrouter")
    text = (
        '{"data": [{"date": "2025-08-24", "model": "x/y", "usage": 0.1000, "requests": 1, "prompt_tokens": 1, '
        '"completion_tokens": 2, "new_field": {"a": 1}}]}'
    )
    items = list(feed.rows(text, opts))
    assert [number for number, _ in items] == [1, 1]
    usage, cost = items[0][1], items[1][1]
    assert cost["amount"] == Decimal("0.1000") and cost["amount_as_given"] == "0.1000"
    assert usage["tags"] == {} and cost["identity"] == ["openrouter_activity", "2025-08-24", None, None, None]
    again = feed.row(usage.raw, opts, 1)  # the kept text has the amount as a decimal string
    assert [dict(item) for item in again] == [dict(usage), dict(cost)]
    assert isinstance(feed.row("[", opts, 1), Unreadable)
    assert date.fromisoformat(usage["bucket_start"][:10]) == date(2025, 8, 24)
