"""Anthropic usage_report/messages and cost_report pages (`anthropic_usage`, `anthropic_costs`):
the parsers on their own, then uploads through POST usage/files with what lands in the database.

There are no recorded Anthropic payloads in ../shared/data (only FIELD-NOTES.txt): the pages here
are built from those notes and the documentation example's values (1500 uncached, 200 cache
reads, 500 + 1000 cache writes, 500 output; a cost of "123.78912" cents)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import Role
from core.testing import token_client
from usage.models import IngestionRun, RejectedRow, UsageRecord, UsageRecordVersion, VendorCostLine
from usage.pipeline.feeds import FEEDS, FeedOptions
from usage.pipeline.feeds.anthropic import cents_to_major
from usage.pipeline.formats import FeedError, Parsed, Unreadable

from .factories import world

OPTS = FeedOptions(source="gw", vendor="anthropic")
USAGE = FEEDS["anthropic_usage"]
COSTS = FEEDS["anthropic_costs"]
DAY = "2026-03-01T00:00:00Z"
NEXT_DAY = "2026-03-02T00:00:00Z"


def messages(**values) -> dict:
    """A usage_report/messages result grouped by api_key_id, workspace_id, model, service_tier and
    context_window (as requests.json asks), the other grouping values null."""
    result = {
        "uncached_input_tokens": 1500,
        "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
        "cache_read_input_tokens": 200,
        "output_tokens": 500,
        "server_tool_use": {"web_search_requests": 10},
        "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "context_window": "0-200k",
        "inference_geo": None,
        "speed": None,
        "account_id": None,
        "service_account_id": None,
    }
    result.update(values)
    return result


def cost(amount="123.78912", **values) -> dict:
    """A cost_report result grouped by workspace_id and description."""
    result = {
        "currency": "USD",
        "amount": amount,
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "description": "Claude Sonnet 4 Usage - Input Tokens",
        "cost_type": "tokens",
        "context_window": "0-200k",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "token_type": "uncached_input_tokens",
        "inference_geo": None,
    }
    result.update(values)
    return result


def page(*buckets, has_more=False) -> dict:
    return {
        "data": list(buckets),
        "has_more": has_more,
        "next_page": "page_MjAyNS0wOC0wMVQwMDowMDowMFo=" if has_more else None,
    }


def bucket(*results, start=DAY, end=NEXT_DAY) -> dict:
    return {"starting_at": start, "ending_at": end, "results": list(results)}


def day(n: int) -> str:
    return f"2026-03-{n:02d}T00:00:00Z"


def items(feed, content) -> list:
    return [item for _, item in feed.rows(content if isinstance(content, str) else json.dumps(content), OPTS)]


def one(result, feed=USAGE):
    (item,) = items(feed, page(bucket(result)))
    return item


# Usage, parsed ---------------------------------------------------------------------------------------------------


def test_a_documented_usage_result_is_normalised():
    item = one(messages())
    assert type(item) is Parsed
    assert {k: v for k, v in item.items() if k != "external_id"} == {
        "vendor": "anthropic",
        "model": "claude-sonnet-4-20250514",
        "bucket_start": "2026-03-01T00:00:00+00:00",
        "bucket_end": "2026-03-02T00:00:00+00:00",
        "input_tokens": 1500,
        "cached_input_tokens": 200,
        "cache_write_tokens": 1500,  # 500 (5 minutes) + 1000 (1 hour)
        "output_tokens": 500,
        "requests": 0,  # the report counts no requests
        "api_key_id": "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "service_tier": "standard",
        "tags": {
            "context_window": "0-200k",
            "cache_write_5m": "500",
            "cache_write_1h": "1000",
            "web_search_requests": "10",
        },
    }
    assert item["external_id"].startswith("anthropic_usage:")
    assert USAGE.row(item.raw, OPTS, 1) == item  # the kept row reads back alone


def test_uncached_input_excludes_cache_reads_and_writes():
    """Unlike OpenAI's input_tokens, uncached_input_tokens is the uncached input as it is: nothing
    is subtracted from it, and the cache reads and writes are not added to it."""
    item = one(messages(uncached_input_tokens=100, cache_read_input_tokens=4000))
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (100, 4000, 1500)
    item = one(messages(uncached_input_tokens=0, cache_read_input_tokens=0, cache_creation=None))
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (0, 0, 0)


def test_cache_writes_add_their_durations_and_keep_the_split():
    item = one(messages(cache_creation={"ephemeral_5m_input_tokens": 7, "ephemeral_1h_input_tokens": 0}))
    assert item["cache_write_tokens"] == 7
    assert (item["tags"]["cache_write_5m"], item["tags"]["cache_write_1h"]) == ("7", "0")
    item = one(messages(cache_creation={"ephemeral_1h_input_tokens": 3}))  # a duration absent is 0
    assert item["cache_write_tokens"] == 3 and item["tags"]["cache_write_5m"] == "0"
    item = one(messages(cache_creation=None, server_tool_use=None))  # no object: no writes, no tags
    assert item["cache_write_tokens"] == 0 and item["tags"] == {"context_window": "0-200k"}


def test_grouping_values_as_fields_and_tags():
    item = one(
        messages(
            inference_geo="us",
            account_id="user_01ABC",
            service_account_id="svcacct_01XYZ",
            speed="fast",
            service_tier="priority",
        )
    )
    assert (item["region"], item["user_id"], item["service_tier"]) == ("us", "user_01ABC", "priority")
    assert item["tags"]["service_account_id"] == "svcacct_01XYZ" and item["tags"]["speed"] == "fast"


def test_null_dimensions():
    item = one(
        messages(
            api_key_id=None,
            workspace_id=None,
            model=None,
            service_tier=None,
            context_window=None,
            server_tool_use={"web_search_requests": None},
        )
    )
    assert item["model"] == "(all models)"
    assert not {"api_key_id", "workspace_id", "service_tier", "region", "user_id"} & set(item)
    assert item["tags"] == {"cache_write_5m": "500", "cache_write_1h": "1000"}


def test_external_id_names_the_bucket_and_every_grouping_value():
    base = one(messages())["external_id"]
    assert one(messages(output_tokens=9, uncached_input_tokens=1))["external_id"] == base
    others = [
        one(messages(**{name: "x"}))["external_id"]
        for name in (
            "api_key_id",
            "workspace_id",
            "model",
            "service_tier",
            "context_window",
            "inference_geo",
            "speed",
            "account_id",
            "service_account_id",
        )
    ]
    others.append(items(USAGE, page(bucket(messages(), start=NEXT_DAY, end=day(3))))[0]["external_id"])
    others.append(items(USAGE, page(bucket(messages(), end="2026-03-01T01:00:00Z")))[0]["external_id"])
    assert len({base, *others}) == len(others) + 1
    # the same instant written with another offset is the same bucket
    same = items(USAGE, page(bucket(messages(), start="2026-03-01T08:00:00+08:00", end="2026-03-02T08:00:00+08:00")))
    assert same[0]["external_id"] == base


def test_unknown_fields_are_ignored():
    extra = messages(new_dimension="x", server_tool_use={"web_search_requests": 10, "code_execution_requests": 3})
    assert dict(one(extra)) == dict(one(messages()))


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"uncached_input_tokens": "1500"}, "uncached_input_tokens must be a whole number ≥ 0, not '1500'"),
        ({"uncached_input_tokens": None}, "uncached_input_tokens is missing"),
        ({"output_tokens": -1}, "output_tokens must be a whole number ≥ 0, not -1"),
        ({"cache_read_input_tokens": 1.5}, "cache_read_input_tokens must be a whole number ≥ 0, not 1.5"),
        (
            {"cache_creation": {"ephemeral_5m_input_tokens": "5"}},
            "cache_creation.ephemeral_5m_input_tokens must be a whole number ≥ 0, not '5'",
        ),
        ({"cache_creation": 1500}, "cache_creation must be an object, not 1500"),
        (
            {"server_tool_use": {"web_search_requests": -2}},
            "server_tool_use.web_search_requests must be a whole number ≥ 0, not -2",
        ),
        ({"model": 4}, "model must be a string or null, not 4"),
        ({"inference_geo": ["us"]}, "inference_geo must be a string or null, not a JSON array"),
    ],
)
def test_values_of_the_wrong_type_reject_the_row_with_a_reason(values, reason):
    item = one(messages(**values))
    assert type(item) is Unreadable and reason in item.reason, item


@pytest.mark.parametrize(
    ("times", "reason"),
    [
        ({"start": "2026-03-01T00:00:00"}, "bucket starting_at '2026-03-01T00:00:00' has no UTC offset"),
        ({"start": 1772323200}, "bucket starting_at 1772323200 is not an RFC 3339 timestamp"),
        ({"end": "tomorrow"}, "bucket ending_at 'tomorrow' is not an RFC 3339 timestamp"),
    ],
)
def test_bad_bucket_times_reject_the_row(times, reason):
    (item,) = items(USAGE, page(bucket(messages(), **times)))
    assert type(item) is Unreadable and reason in item.reason, item


def test_rows_are_numbered_across_pages_and_empty_pages_have_none():
    pages = [
        page(bucket(messages(model="a"), messages(model="b")), has_more=True),
        page(),
        page(bucket(), bucket(messages(model="c"), start=NEXT_DAY, end=day(3))),
    ]
    assert [(n, i["model"]) for n, i in USAGE.rows(json.dumps(pages), OPTS)] == [(1, "a"), (2, "b"), (3, "c")]
    assert items(USAGE, page()) == [] and items(COSTS, page(bucket())) == []


@pytest.mark.parametrize(
    ("feed", "content", "message"),
    [
        (USAGE, "<!DOCTYPE html><html>Service Unavailable</html>", "invalid JSON at line 1"),
        (USAGE, '{"type": "error", "error": {"type": "authentication_error"}}', "Page 1 has no data list"),
        (USAGE, '{"data": [{"starting_at": "2026-03-01T00:00:00Z"}]}', "Page 1, bucket 1 has no results list"),
        (USAGE, '{"data": [{"start_time": 1, "end_time": 2, "results": []}]}', "it is an OpenAI page"),
        (COSTS, '{"data": [{"start_time": 1, "end_time": 2, "results": []}]}', "upload it as openai_usage"),
        (USAGE, '{"data": [{"starting_at": "2026-03-01T0', "the page was cut off"),
        (USAGE, json.dumps(page(bucket(cost()))), "upload the file as anthropic_costs"),
        (COSTS, json.dumps(page(bucket(messages()))), "upload the file as anthropic_usage"),
    ],
)
def test_structural_errors_raise_a_feed_error(feed, content, message):
    with pytest.raises(FeedError, match=message):
        feed.rows(content, OPTS)


def test_a_corrected_row_is_read_anew():
    item = one(messages(output_tokens="500"))
    assert type(item) is Unreadable
    raw = json.loads(item.raw)
    assert raw["bucket"] == {"starting_at": DAY, "ending_at": NEXT_DAY}
    raw["result"]["output_tokens"] = 500
    assert USAGE.row(json.dumps(raw), OPTS, 1) == one(messages())
    assert USAGE.row("[1]", OPTS, 1).reason.startswith('expected {"bucket"')


# Costs, parsed -------------------------------------------------------------------------------------------------


def test_a_cost_in_cents_is_exact_in_dollars():
    item = one(cost("123.78912"), COSTS)
    assert item["amount"] == Decimal("1.2378912") and str(item["amount"]) == "1.2378912"
    assert (item["amount_as_given"], item["amount_unit"], item["currency"]) == ("123.78912", "cents", "USD")
    assert (item["period_start"], item["period_end"]) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert (item["description"], item["line_item"], item["model"]) == (
        "Claude Sonnet 4 Usage - Input Tokens",
        "Claude Sonnet 4 Usage - Input Tokens",
        "claude-sonnet-4-20250514",
    )
    assert item["workspace_id"] == "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ" and item["charge_category"] == "Usage"
    assert item["dimensions"] == {
        "cost_type": "tokens",
        "token_type": "uncached_input_tokens",
        "service_tier": "standard",
        "context_window": "0-200k",
    }
    assert COSTS.row(item.raw, OPTS, 1) == item


@pytest.mark.parametrize(
    ("given", "dollars"),
    [
        ("123.45", "1.2345"),  # the notes' example: "123.45" USD is $1.2345
        ("0", "0"),
        ("7", "0.07"),
        ("0.00001", "0.0000001"),
        ("-250.5", "-2.505"),  # a credit
        ("1e3", "10"),
        # more digits than a default decimal context keeps (28): shifted, never rounded
        ("12345678901234567890123456789.123456789", "123456789012345678901234567.89123456789"),
    ],
)
def test_cents_to_dollars_is_exact(given, dollars):
    item = one(cost(given), COSTS)
    assert item["amount"] == Decimal(dollars) and item["amount_as_given"] == given
    assert cents_to_major(Decimal(given)) == Decimal(dollars)


def test_an_amount_given_as_a_json_number_is_read_exactly():
    content = json.dumps(page(bucket(cost("AMOUNT")))).replace('"AMOUNT"', "123.78912")
    (item,) = items(COSTS, content)
    assert item["amount"] == Decimal("1.2378912") and item["amount_as_given"] == "123.78912"
    content = json.dumps(page(bucket(cost("AMOUNT")))).replace('"AMOUNT"', "0.30000000000000004")
    assert items(COSTS, content)[0]["amount"] == Decimal("0.0030000000000000004")


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"amount": "12,50"}, "amount '12,50' is not a decimal number"),
        ({"amount": "USD 1.00"}, "amount 'USD 1.00' is not a decimal number"),
        ({"amount": None}, "amount is missing or not a number"),
        ({"amount": "NaN"}, "amount 'NaN' is not a finite number"),
        ({"amount": {"value": 1}}, "amount must be a number"),
        ({"currency": None}, "currency must be a currency code such as USD, not null"),
        ({"description": 5}, "description must be a string or null, not 5"),
    ],
)
def test_bad_cost_results_are_rejected_rows(values, reason):
    bad, good = items(COSTS, page(bucket(cost(**values), cost(workspace_id="other"))))
    assert type(bad) is Unreadable and reason in bad.reason, bad
    assert good["amount"] == Decimal("1.2378912")


def test_a_line_item_without_a_description_and_the_identity():
    item = one(cost(description=None, model=None, token_type=None, cost_type="web_search"), COSTS)
    assert (item["line_item"], item["description"], item["model"]) == ("web_search", "web_search", None)
    item = one(cost(description=None), COSTS)
    assert item["line_item"] == "tokens/uncached_input_tokens"
    ungrouped = dict.fromkeys(("workspace_id", "description", "cost_type", "token_type", "model"))
    item = one(cost(**ungrouped, service_tier=None, context_window=None), COSTS)
    assert (item["line_item"], item["description"], item["dimensions"]) == ("", "Anthropic costs", {})
    base = one(cost(), COSTS)["identity"]
    assert one(cost("999"), COSTS)["identity"] == base  # another amount: the same line, restated
    names = ("workspace_id", "description", "cost_type", "token_type", "model", "service_tier", "context_window")
    identities = [one(cost(**{name: "x"}), COSTS)["identity"] for name in (*names, "inference_geo")]
    assert len({base, *identities}) == len(identities) + 1


# Uploads through the API ------------------------------------------------------------------------------------------


@pytest.fixture
def uploader(role_world, django_capture_on_commit_callbacks):
    world(vendor="anthropic", model="claude-sonnet-4-20250514", price_in="3", price_out="15", cached="0.3")
    client = token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"])

    def upload(content, fmt="anthropic_usage", name="report.json"):
        data = content if isinstance(content, bytes) else content.encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, data), "format": fmt, "source": "gw"},
                format="multipart",
            )
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    return upload


@pytest.fixture
def finance(role_world):
    return token_client(role_world.user(Role.FINANCE))


def replay(client, run_id, rows, capture):
    with capture(execute=True):
        response = client.post(f"/api/v1/usage/runs/{run_id}/replay/", {"rows": rows}, format="json")
    assert response.status_code == 202, response.content
    return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()


def counts(run) -> tuple:
    return run["status"], run["received"], run["accepted"], run["duplicates"], run["restated"], run["rejected"]


def tokens(record: UsageRecord) -> tuple:
    return (
        record.input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.output_tokens,
        record.requests,
    )


@pytest.mark.django_db
def test_upload_a_usage_report(uploader):
    run = uploader(json.dumps(page(bucket(messages()), has_more=True)))
    assert counts(run) == ("succeeded", 1, 1, 0, 0, 0), run["message"]
    record = UsageRecord.objects.get()
    assert tokens(record) == (1500, 200, 1500, 500, 0)
    assert (record.vendor.slug, record.model, record.source.slug) == ("anthropic", "claude-sonnet-4-20250514", "gw")
    assert (record.bucket_start, record.bucket_end) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert (record.api_key_id, record.workspace_id, record.service_tier) == (
        "apikey_01Rj2N8SVvo6BePZj99NhmiT",
        "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
        "standard",
    )
    assert record.tags == {
        "context_window": "0-200k",
        "cache_write_5m": "500",
        "cache_write_1h": "1000",
        "web_search_requests": "10",
    }
    assert record.rating == "list" and record.cost is not None  # priced at the list price of the model


@pytest.mark.django_db
def test_pages_as_an_array_and_one_per_line_store_every_row(uploader):
    pages = [
        page(bucket(messages(model="claude-sonnet-4-20250514"), messages(model="claude-opus-4-1")), has_more=True),
        page(bucket(messages(model=None, workspace_id=None), start=NEXT_DAY, end=day(3)), has_more=True),
        page(bucket(messages(output_tokens=None), start=day(3), end=day(4))),
    ]
    run = uploader(json.dumps(pages))
    assert counts(run) == ("succeeded", 4, 3, 0, 0, 1), run["message"]
    assert sorted(UsageRecord.objects.values_list("model", flat=True)) == [
        "(all models)",
        "claude-opus-4-1",
        "claude-sonnet-4-20250514",
    ]
    (rejected,) = RejectedRow.objects.filter(run_id=run["id"])
    assert rejected.row == 4 and rejected.reasons == ["output_tokens is missing"]
    again = uploader("\n".join(json.dumps(p) for p in pages), name="pull.ndjson")
    assert counts(again) == ("succeeded", 4, 0, 3, 0, 1), again["message"]
    assert UsageRecord.objects.count() == 3


@pytest.mark.django_db
def test_ndjson_pages_of_a_pull(uploader):
    lines = [json.dumps(page(bucket(messages(), start=day(d), end=day(d + 1)))) for d in range(1, 8)]
    run = uploader("\n".join(lines) + "\n", name="pull.ndjson")
    assert counts(run) == ("succeeded", 7, 7, 0, 0, 0), run["message"]
    assert sum(UsageRecord.objects.values_list("cache_write_tokens", flat=True)) == 7 * 1500


@pytest.mark.django_db
def test_an_empty_page_is_a_successful_run_with_no_rows(uploader):
    for fmt in ("anthropic_usage", "anthropic_costs"):
        run = uploader(json.dumps(page()), fmt=fmt)
        assert counts(run) == ("succeeded", 0, 0, 0, 0, 0), run["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["anthropic_usage", "anthropic_costs"])
def test_an_interrupted_page_fails_the_run_and_stores_nothing(uploader, fmt):
    result = messages if fmt == "anthropic_usage" else cost
    lines = [json.dumps(page(bucket(result(), start=day(d), end=day(d + 1)))) for d in range(1, 4)]
    for cut in (30, 75, len(lines[2]) - 3):
        run = uploader("\n".join([*lines[:2], lines[2][:cut]]), fmt=fmt)
        assert run["status"] == "failed" and "Page 3 (line 3)" in run["message"], run["message"]
        assert "cut off" in run["message"], run["message"]
    pretty = json.dumps(page(bucket(result(), result(workspace_id="w2"))), indent=2)
    run = uploader(pretty[: len(pretty) // 2], fmt=fmt)
    assert run["status"] == "failed" and "cut off" in run["message"], run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0
    assert not RejectedRow.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["anthropic_usage", "anthropic_costs"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><head><title>429 Too Many Requests</title></head></html>", "invalid JSON at line 1"),
        (b'{"type": "error", "error": {"type": "permission_error", "message": "no admin key"}}', "no data list"),
        (b'"just a string"', "not an object with a data list"),
        (b'{"data": [{"starting_at": "2026-03-01T00:00:00Z", "results": {}}]}', "has no results list"),
    ],
)
def test_garbage_fails_the_run_with_a_message(uploader, fmt, content, message):
    run = uploader(content, fmt=fmt)
    assert run["status"] == "failed" and message in run["message"], run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0
    with IngestionRun.objects.get(pk=run["id"]).file.open("rb") as handle:
        assert handle.read() == content


@pytest.mark.django_db
def test_re_uploading_the_same_page_changes_nothing(uploader):
    content = json.dumps(page(bucket(messages(), messages(workspace_id="wrkspc_other"))))
    assert counts(uploader(content)) == ("succeeded", 2, 2, 0, 0, 0)
    before = list(UsageRecord.objects.order_by("id").values())
    assert counts(uploader(content)) == ("succeeded", 2, 0, 2, 0, 0)
    assert list(UsageRecord.objects.order_by("id").values()) == before


@pytest.mark.django_db
def test_the_same_bucket_pulled_again_with_new_numbers_is_restated(uploader):
    uploader(json.dumps(page(bucket(messages()))))
    record = UsageRecord.objects.get()
    later = messages(
        uncached_input_tokens=9000,
        cache_read_input_tokens=300,
        cache_creation={"ephemeral_5m_input_tokens": 600, "ephemeral_1h_input_tokens": 1000},
        output_tokens=2000,
    )
    run = uploader(json.dumps(page(bucket(later))))
    assert counts(run) == ("succeeded", 1, 0, 0, 1, 0), run["message"]
    record.refresh_from_db()
    assert record.version == 2 and tokens(record) == (9000, 300, 1600, 2000, 0)
    assert record.tags["cache_write_5m"] == "600" and UsageRecord.objects.count() == 1
    (earlier,) = UsageRecordVersion.objects.filter(record_id=record.pk)
    assert (earlier.version, earlier.data["input_tokens"], earlier.data["cache_write_tokens"]) == (1, 1500, 1500)


@pytest.mark.django_db
def test_a_rejected_row_corrected_and_replayed(uploader, finance, django_capture_on_commit_callbacks):
    run = uploader(json.dumps(page(bucket(messages(), messages(workspace_id="w2", uncached_input_tokens="1,500")))))
    assert counts(run) == ("succeeded", 2, 1, 0, 0, 1), run["message"]
    (row,) = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert row["row"] == 2 and "uncached_input_tokens must be a whole number ≥ 0, not '1,500'" in row["reasons"][0]
    fixed = row["raw"].replace('"1,500"', "1500")
    result = replay(finance, run["id"], [{"id": row["id"], "raw": fixed}], django_capture_on_commit_callbacks)
    assert counts(result) == ("succeeded", 1, 1, 0, 0, 0), result["message"]
    assert tokens(UsageRecord.objects.get(workspace_id="w2")) == (1500, 200, 1500, 500, 0)
    assert not finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]


# Costs through the API ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_upload_a_cost_report_in_cents(uploader):
    content = json.dumps(
        page(
            bucket(
                cost("123.78912"),
                cost("45.5", description="Claude Sonnet 4 Usage - Output Tokens", token_type="output_tokens"),
                cost("1000", description=None, cost_type="web_search", token_type=None, model=None),
            ),
            has_more=True,
        )
    )
    run = uploader(content, fmt="anthropic_costs")
    assert counts(run) == ("succeeded", 3, 3, 0, 0, 0), run["message"]
    lines = {line.line_item: line for line in VendorCostLine.objects.all()}
    line = lines["Claude Sonnet 4 Usage - Input Tokens"]
    assert line.amount == Decimal("1.2378912") and str(line.amount) == "1.2378912"
    assert (line.amount_as_given, line.amount_unit, line.currency, line.feed) == (
        "123.78912",
        "cents",
        "USD",
        "anthropic_costs",
    )
    assert (line.vendor.slug, line.model, line.workspace_id) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
    )
    assert line.dimensions["token_type"] == "uncached_input_tokens"
    assert lines["Claude Sonnet 4 Usage - Output Tokens"].amount == Decimal("0.455")
    assert lines["web_search"].amount == Decimal("10") and lines["web_search"].model == ""
    assert sum(line.amount for line in lines.values()) == Decimal("11.6928912")
    assert UsageRecord.objects.count() == 0


@pytest.mark.django_db
def test_cost_lines_re_uploaded_are_duplicates_and_restated_when_changed(uploader):
    content = json.dumps(page(bucket(cost("123.78912"), cost("10", workspace_id="w2"))))
    assert counts(uploader(content, fmt="anthropic_costs")) == ("succeeded", 2, 2, 0, 0, 0)
    assert counts(uploader(content, fmt="anthropic_costs")) == ("succeeded", 2, 0, 2, 0, 0)
    run = uploader(content.replace("123.78912", "130.00001"), fmt="anthropic_costs")
    assert counts(run) == ("succeeded", 2, 0, 1, 1, 0), run["message"]
    line = VendorCostLine.objects.exclude(workspace_id="w2").get()
    assert (line.amount, line.amount_as_given, line.version) == (Decimal("1.3000001"), "130.00001", 2)
    assert [(s["version"], s["amount"]) for s in line.superseded] == [(1, "1.2378912")]
    assert VendorCostLine.objects.count() == 2


@pytest.mark.django_db
def test_a_rejected_cost_row_corrected_and_replayed(uploader, finance, django_capture_on_commit_callbacks):
    run = uploader(json.dumps(page(bucket(cost("12,34")))), fmt="anthropic_costs")
    assert counts(run) == ("succeeded", 1, 0, 0, 0, 1), run["message"]
    (row,) = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert "amount '12,34' is not a decimal number" in row["reasons"][0]
    result = replay(
        finance,
        run["id"],
        [{"id": row["id"], "raw": row["raw"].replace("12,34", "12.34")}],
        django_capture_on_commit_callbacks,
    )
    assert counts(result) == ("succeeded", 1, 1, 0, 0, 0), result["message"]
    line = VendorCostLine.objects.get()
    assert (line.amount, line.amount_as_given) == (Decimal("0.1234"), "12.34")
