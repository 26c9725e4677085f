"""OpenAI usage and costs pages (`openai_usage`, `openai_costs`): the parsers on their own, then
uploads through POST usage/files with what lands in the database — token classes normalised
(OpenAI's input_tokens includes the cached tokens), costs exact, re-pulls restating, garbage
failing its run with a message and storing nothing, rejected rows corrected and replayed."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import Role
from core.testing import SHARED_DATA, token_client
from usage.models import IngestionRun, RejectedRow, UsageRecord, UsageRecordVersion, VendorCostLine
from usage.pipeline.feeds import FEEDS, FeedOptions
from usage.pipeline.feeds.base import dumps_raw
from usage.pipeline.formats import FeedError, Parsed, Unreadable

from .factories import world

DATA = SHARED_DATA / "openai-usage-costs-api" / "examples"
COMPLETIONS_EXAMPLE = DATA / "usage_completions.response.json"
COSTS_EXAMPLE = DATA / "costs.response.json"
needs_data = pytest.mark.skipif(not COMPLETIONS_EXAMPLE.exists(), reason="../shared/data is not on this machine")

OPTS = FeedOptions(source="gw", vendor="openai")
USAGE = FEEDS["openai_usage"]
COSTS = FEEDS["openai_costs"]
DAY = 1772323200  # 2026-03-01T00:00:00Z


def completion(**values) -> dict:
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": 1000,
        "input_cached_tokens": 400,
        "input_cache_write_tokens": 100,
        "output_tokens": 300,
        "num_model_requests": 7,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": "gpt-4o-2024-08-06",
        "batch": None,
        "service_tier": None,
    }
    result.update(values)
    return result


def cost(value=Decimal("0.06"), currency="usd", **values) -> dict:
    """A costs result; a Decimal value is written as a JSON number (as OpenAI does), a string as text."""
    result = {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": None,
        "project_id": None,
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }
    result.update(values)
    return result


def page(*buckets, has_more=False) -> dict:
    return {"object": "page", "data": list(buckets), "has_more": has_more, "next_page": "page_x" if has_more else None}


def bucket(*results, start=DAY, days=1) -> dict:
    return {"object": "bucket", "start_time": start, "end_time": start + 86400 * days, "results": list(results)}


def text(value) -> str:
    """JSON with every Decimal written as a JSON number with its exact digits (0.06, not "0.06")."""
    return json.dumps(value, default=lambda d: f"§{d:f}§", ensure_ascii=False).replace('"§', "").replace('§"', "")


def items(feed, content) -> list:
    return [item for _, item in feed.rows(content if isinstance(content, str) else text(content), OPTS)]


def one(result, feed=USAGE):
    (item,) = items(feed, page(bucket(result)))
    return item


# The parsers on their own ----------------------------------------------------------------------------------------


@needs_data
def test_the_official_completions_example_is_normalised():
    (item,) = items(USAGE, COMPLETIONS_EXAMPLE.read_text())
    assert type(item) is Parsed
    assert {k: v for k, v in item.items() if k != "external_id"} == {
        "vendor": "openai",
        "model": "(all models)",  # the example page is not grouped by model
        "bucket_start": "2024-11-01T00:00:00+00:00",
        "bucket_end": "2024-11-02T00:00:00+00:00",
        "input_tokens": 500,
        "cached_input_tokens": 400,
        "cache_write_tokens": 100,
        "output_tokens": 500,
        "requests": 5,
    }
    assert item["external_id"].startswith("openai_usage:")
    # the kept row reads back alone (a replay) as the same record
    assert USAGE.row(item.raw, OPTS, 1) == item


def test_input_tokens_include_cached_and_cache_write_tokens():
    item = one(completion(input_tokens=1000, input_cached_tokens=400, input_cache_write_tokens=100))
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (500, 400, 100)
    # absent cache counts are 0: all the input is uncached
    bare = completion()
    del bare["input_cached_tokens"], bare["input_cache_write_tokens"]
    item = one(bare)
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (1000, 0, 0)
    item = one(completion(input_cached_tokens=None, input_cache_write_tokens=None))
    assert item["input_tokens"] == 1000


def test_input_uncached_tokens_is_preferred_when_present():
    # OpenAI's own uncached count wins over the difference (here they disagree on purpose)
    item = one(
        completion(input_tokens=1000, input_cached_tokens=400, input_cache_write_tokens=100, input_uncached_tokens=450)
    )
    assert (item["input_tokens"], item["cached_input_tokens"], item["cache_write_tokens"]) == (450, 400, 100)
    # and then input_tokens is not needed
    result = completion(input_uncached_tokens=450)
    del result["input_tokens"]
    assert one(result)["input_tokens"] == 450


def test_modality_breakdowns_are_not_added_to_the_totals():
    """input_text/audio/image and their cached and output counterparts are parts of the totals;
    a parser adding them would double count (the example's parts add up to its totals)."""
    plain = completion(input_tokens=1000, input_cached_tokens=400, input_cache_write_tokens=100, output_tokens=500)
    broken_down = completion(
        input_tokens=1000,
        input_cached_tokens=400,
        input_cache_write_tokens=100,
        output_tokens=500,
        input_text_tokens=400,
        input_audio_tokens=50,
        input_image_tokens=50,
        input_cached_text_tokens=300,
        input_cached_audio_tokens=50,
        input_cached_image_tokens=50,
        output_text_tokens=400,
        output_audio_tokens=50,
        output_image_tokens=50,
    )
    item = one(broken_down)
    assert (item["input_tokens"], item["cached_input_tokens"], item["output_tokens"]) == (500, 400, 500)
    assert dict(item) == dict(one(plain))  # same numbers, same external id: the parts change nothing


def test_input_tokens_less_than_its_cached_parts_is_rejected_with_the_numbers():
    item = one(completion(input_tokens=100, input_cached_tokens=400, input_cache_write_tokens=100))
    assert type(item) is Unreadable
    assert "input_tokens 100 is less than input_cached_tokens 400 + input_cache_write_tokens 100" in item.reason
    assert json.loads(item.raw)["result"]["input_tokens"] == 100  # kept as the file had it, to correct


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"input_tokens": "1000"}, "input_tokens must be a whole number ≥ 0, not '1000'"),
        ({"output_tokens": -3}, "output_tokens must be a whole number ≥ 0, not -3"),
        ({"num_model_requests": 2.5}, "num_model_requests must be a whole number ≥ 0, not 2.5"),
        ({"input_cached_tokens": True}, "input_cached_tokens must be a whole number ≥ 0, not true"),
        ({"input_tokens": None}, "input_tokens is missing"),
        ({"output_tokens": None}, "output_tokens is missing"),
        ({"num_model_requests": None}, "num_model_requests is missing"),
        ({"project_id": 12}, "project_id must be a string or null, not 12"),
        ({"model": {"name": "gpt-4o"}}, "model must be a string or null, not a JSON object"),
        ({"batch": "yes"}, "batch must be true, false or null, not 'yes'"),
    ],
)
def test_values_of_the_wrong_type_reject_the_row_with_a_reason(values, reason):
    item = one(completion(**values))
    assert type(item) is Unreadable and reason in item.reason, item


def test_every_reason_of_a_row_is_given_at_once():
    item = one(completion(input_tokens="x", output_tokens=-1, service_tier=5))
    assert type(item) is Unreadable
    assert item.reason.count(";") == 2 and "service_tier must be a string" in item.reason


@pytest.mark.parametrize(
    ("times", "reason"),
    [
        ({"start_time": "2026-03-01"}, "bucket start_time '2026-03-01' is not a Unix time in seconds"),
        ({"start_time": 1772323200.5}, "bucket start_time 1772323200.5 is not a whole number of seconds"),
        ({"end_time": None}, "bucket end_time None is not a Unix time in seconds"),
        ({"end_time": 10**20}, "is out of the range of dates"),
    ],
)
def test_bad_bucket_times_reject_the_row(times, reason):
    b = bucket(completion())
    b.update(times)
    (item,) = items(USAGE, page(b))
    assert type(item) is Unreadable and reason in item.reason, item


def test_dimensions_batch_and_service_tier():
    item = one(
        completion(project_id="proj_abc", user_id="user-abc", api_key_id="key_abc", batch=True, service_tier="flex")
    )
    assert (item["project_id"], item["user_id"], item["api_key_id"], item["service_tier"]) == (
        "proj_abc",
        "user-abc",
        "key_abc",
        "flex",
    )
    assert item["tags"] == {"batch": "true"}
    assert one(completion(batch=False))["tags"] == {"batch": "false"}
    plain = one(completion())  # null dimensions are left out, and no batch tag
    assert not {"project_id", "user_id", "api_key_id", "service_tier", "tags"} & set(plain)
    assert plain["model"] == "gpt-4o-2024-08-06"


def test_external_id_names_the_bucket_and_every_grouping_value():
    base = one(completion())["external_id"]
    assert one(completion(input_tokens=2000, output_tokens=1))["external_id"] == base  # numbers: same line
    others = [
        one(completion(model="gpt-4o-mini"))["external_id"],
        one(completion(project_id="p"))["external_id"],
        one(completion(user_id="u"))["external_id"],
        one(completion(api_key_id="k"))["external_id"],
        one(completion(batch=True))["external_id"],
        one(completion(batch=False))["external_id"],
        one(completion(service_tier="default"))["external_id"],
        items(USAGE, page(bucket(completion(), start=DAY + 86400)))[0]["external_id"],
        items(USAGE, page(bucket(completion(), days=2)))[0]["external_id"],
    ]
    assert len({base, *others}) == len(others) + 1


def test_unknown_fields_are_ignored():
    extra = completion(input_tokens_details={"reasoning": 5}, future_field="x", another=[1, 2])
    assert dict(one(extra)) == dict(one(completion()))
    b = bucket(completion())
    b["granularity"] = "1d"
    p = page(b)
    p["organization_id"] = "org_1"
    assert dict(items(USAGE, p)[0]) == dict(one(completion()))


def test_embeddings_and_moderations_are_input_tokens_other_usage_is_not_tokens():
    embeddings = {
        "object": "organization.usage.embeddings.result",
        "input_tokens": 20,
        "num_model_requests": 2,
        "model": "text-embedding-3-small",
        "project_id": "proj_abc",
    }
    moderations = {**embeddings, "object": "organization.usage.moderations.result", "model": None}
    images = {"object": "organization.usage.images.result", "images": 2, "num_model_requests": 2}
    searches = {"object": "organization.usage.web_search_calls.result", "num_model_requests": 3}
    e, m, i, s = items(USAGE, page(bucket(embeddings, moderations, images, searches)))
    assert (e["input_tokens"], e["output_tokens"], e["cached_input_tokens"], e["requests"]) == (20, 0, 0, 2)
    assert e["tags"] == {"endpoint": "embeddings"} and e["project_id"] == "proj_abc"
    assert m["model"] == "(all models)" and m["tags"] == {"endpoint": "moderations"}
    assert i.reason == (
        "not token usage (organization.usage.images.result): "
        "TokenLedger ingests completions, embeddings and moderations"
    )
    assert "not token usage (organization.usage.web_search_calls.result)" in s.reason
    # a completion and an embedding of the same bucket, both "(all models)", are separate lines
    both = items(USAGE, page(bucket(completion(model=None), {**embeddings, "model": None})))
    assert both[0]["external_id"] != both[1]["external_id"]


def test_a_result_that_is_not_an_object_is_a_rejected_row():
    assert "a result must be a JSON object, not 5" in one(5).reason
    assert "not token usage (['x'])" in one(completion(object=["x"])).reason
    assert "not a costs result ({'a': 1})" in one(cost(object={"a": 1}), COSTS).reason


def test_rows_are_numbered_across_pages_in_order():
    first = page(bucket(completion(model="a"), completion(model="b")), has_more=True)
    second = page(bucket(), bucket(completion(model="c"), start=DAY + 86400))
    numbered = list(USAGE.rows(json.dumps([first, second]), OPTS))
    assert [(n, i["model"]) for n, i in numbered] == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "invalid JSON at line 1"),
        ('{"error": {"message": "Incorrect API key"}}', "Page 1 has no data list"),
        ("[1, 2]", "Page 1 is a JSON int, not an object with a data list"),
        ('{"data": [{"start_time": 1}]}', "Page 1, bucket 1 has no results list"),
        ('{"data": [5]}', "Page 1, bucket 1 has no results list"),
        (
            '{"data": [{"starting_at": "2026-03-01T00:00:00Z", "ending_at": "2026-03-02T00:00:00Z", "results": []}]}',
            "it is an Anthropic report",
        ),
        ('{"data": [], "has_more": fals', "the page was cut off"),
        ('{"data": [{"start_time": 1, "results": [{"model": "gpt-4', "the page was cut off"),
        ('{"data": [{"start_time": 1, "results": [{"input_tokens": 12', "the page was cut off"),
        ('{"data": [{"results": [{"input_tokens": NaN}]}]}', "not a number JSON allows"),
    ],
)
def test_structural_errors_raise_a_feed_error(content, message):
    with pytest.raises(FeedError, match=message):
        USAGE.rows(content, OPTS)


def test_a_pretty_printed_page_cut_off_or_broken_says_which():
    pretty = json.dumps(page(bucket(completion())), indent=2)
    with pytest.raises(FeedError, match="cut off"):
        USAGE.rows(pretty[: len(pretty) // 2], OPTS)
    broken = pretty.replace('"output_tokens": 300,', '"output_tokens": 300')  # a comma missing mid-file
    with pytest.raises(FeedError, match=r"invalid JSON at line \d+") as caught:
        USAGE.rows(broken, OPTS)
    assert "cut off" not in str(caught.value)


def test_an_interrupted_page_after_good_pages_is_a_feed_error():
    lines = [json.dumps(page(bucket(completion(), start=DAY + 86400 * i))) for i in range(3)]
    content = "\n".join([*lines[:2], lines[2][:40]])
    with pytest.raises(FeedError, match=r"Page 3 \(line 3\).*cut off"):
        USAGE.rows(content, OPTS)


def test_costs_pages_uploaded_as_usage_and_the_reverse_are_refused():
    with pytest.raises(FeedError, match="upload the file as openai_costs"):
        USAGE.rows(text(page(bucket(cost()))), OPTS)
    with pytest.raises(FeedError, match="upload the file as openai_usage"):
        COSTS.rows(json.dumps(page(bucket(completion()))), OPTS)


def test_empty_pages_have_no_rows():
    assert items(USAGE, page()) == []
    assert items(USAGE, page(bucket(), bucket(start=DAY + 86400))) == []
    assert items(COSTS, page()) == []


def test_a_kept_row_reads_back_and_a_corrected_one_is_read_anew():
    item = one(completion(input_tokens=100))
    assert type(item) is Unreadable
    fixed = json.loads(item.raw)
    fixed["result"]["input_tokens"] = 1000
    again = USAGE.row(json.dumps(fixed), OPTS, 4)
    assert type(again) is Parsed and again["input_tokens"] == 500
    assert "the row is not JSON" in USAGE.row("{oops", OPTS, 4).reason
    assert USAGE.row('{"result": {}}', OPTS, 4).reason.startswith('expected {"bucket"')


# Costs, parsed -------------------------------------------------------------------------------------------------


@needs_data
def test_the_official_costs_example_is_exact():
    (item,) = items(COSTS, COSTS_EXAMPLE.read_text())
    assert item["amount"] == Decimal("0.06") and str(item["amount"]) == "0.06"  # from the text, never a float
    assert (item["amount_as_given"], item["amount_unit"], item["currency"]) == ("0.06", "major", "USD")
    assert (item["period_start"], item["period_end"]) == (
        datetime(2024, 11, 1, tzinfo=UTC),
        datetime(2024, 11, 2, tzinfo=UTC),
    )
    assert item["description"] == "OpenAI costs" and item["charge_category"] == "Usage"
    # the kept row has the amount as a string; it reads back to the same line
    assert json.loads(item.raw)["result"]["amount"]["value"] == "0.06"
    assert COSTS.row(item.raw, OPTS, 1) == item


def test_a_line_item_names_the_model_and_the_quantity_is_exact():
    item = one(
        cost(
            "1.234567891234",
            line_item="gpt-4o-2024-08-06, input",
            project_id="proj_abc",
            api_key_id="key_abc",
            quantity="10000.5",
            quantity_unit="tokens",
        ),
        COSTS,
    )
    assert item["amount"] == Decimal("1.234567891234") and item["amount_as_given"] == "1.234567891234"
    assert (item["model"], item["line_item"], item["description"]) == (
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06, input",
        "gpt-4o-2024-08-06, input",
    )
    assert item["quantity"] == Decimal("10000.5") and item["quantity_unit"] == "tokens"
    assert (item["project_id"], item["api_key_id"]) == ("proj_abc", "key_abc")
    assert item["identity"][2:] == ("gpt-4o-2024-08-06, input", "proj_abc", "key_abc")
    # a line item without a model (web search calls, …) names none
    assert one(cost(line_item="web_search_tool_calls"), COSTS)["model"] is None


def test_amounts_read_exactly_from_the_json_text():
    values = ["0.1", "0.30000000000000004", "12", "1e-7", "0.060"]
    results = ", ".join(
        f'{{"object": "organization.costs.result", "amount": {{"value": {v}, "currency": "usd"}}}}' for v in values
    )
    content = f'{{"data": [{{"start_time": {DAY}, "end_time": {DAY + 86400}, "results": [{results}]}}]}}'
    read = items(COSTS, content)
    assert [item["amount"] for item in read] == [Decimal(v) for v in values]
    assert all(type(item["amount"]) is Decimal for item in read)
    # a float would have made this 0.30000000000000004 → 0.3 or worse; the text keeps its digits
    assert [item["amount_as_given"] for item in read] == ["0.1", "0.30000000000000004", "12", "0.0000001", "0.060"]


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (cost("abc"), "amount.value 'abc' is not a decimal number"),
        (cost(None), "amount.value is missing or not a number"),
        (cost(currency=None), "amount.currency must be a currency code"),
        ({**cost(), "amount": 5}, "amount must be an object with a value and a currency, not 5"),
        (cost(quantity="many"), "quantity 'many' is not a decimal number"),
        (cost(line_item=["a"]), "line_item must be a string or null, not a JSON array"),
        (completion(), "not a costs result (organization.usage.completions.result)"),
    ],
)
def test_bad_cost_results_are_rejected_rows(result, reason):
    # one good line beside it, so the file is not refused as a usage file
    bad, good = items(COSTS, page(bucket(result, cost())))
    assert type(bad) is Unreadable and reason in bad.reason, bad
    assert good["amount"] == Decimal("0.06")


# Uploads through the API ------------------------------------------------------------------------------------------


@pytest.fixture
def uploader(role_world, django_capture_on_commit_callbacks):
    world()
    client = token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"])

    def upload(content, fmt="openai_usage", name="page.json"):
        data = content if isinstance(content, bytes) else content.encode()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, data), "format": fmt, "source": "gw"},
                format="multipart",
            )
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    upload.client = client
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
@needs_data
def test_upload_the_official_completions_example(uploader):
    run = uploader(COMPLETIONS_EXAMPLE.read_bytes(), name=COMPLETIONS_EXAMPLE.name)
    assert counts(run) == ("succeeded", 1, 1, 0, 0, 0), run["message"]
    record = UsageRecord.objects.get()
    assert tokens(record) == (500, 400, 100, 500, 5)
    assert (record.vendor.slug, record.model, record.source.slug) == ("openai", "(all models)", "gw")
    assert record.bucket_start == datetime(2024, 11, 1, tzinfo=UTC)
    assert record.bucket_end == datetime(2024, 11, 2, tzinfo=UTC)
    assert record.project_id is None and record.api_key_id is None and record.tags == {}
    assert record.external_id.startswith("openai_usage:")


@pytest.mark.django_db
def test_pages_as_an_array_and_one_per_line_store_every_row(uploader):
    pages = [
        page(
            bucket(completion(model="gpt-4o", project_id="p1"), completion(model="gpt-4o-mini", project_id="p1")),
            has_more=True,
        ),
        page(bucket(completion(model="gpt-4o", project_id="p1"), start=DAY + 86400), has_more=True),
        page(bucket(completion(model="gpt-4o", project_id="p2", input_tokens=10), start=DAY + 86400)),
    ]
    run = uploader(json.dumps(pages))
    assert counts(run) == ("succeeded", 4, 3, 0, 0, 1), run["message"]
    assert UsageRecord.objects.count() == 3
    # the rejected row (page 3) is numbered across the file and keeps its bucket
    (rejected,) = RejectedRow.objects.filter(run_id=run["id"])
    assert rejected.row == 4 and "input_tokens 10 is less than" in rejected.reasons[0]
    assert json.loads(rejected.raw)["bucket"] == {"start_time": DAY + 86400, "end_time": DAY + 2 * 86400}

    # the same pages one per line (as a pull saves them) are the same rows: duplicates
    again = uploader("\n".join(json.dumps(p) for p in pages) + "\n", name="pages.ndjson")
    assert counts(again) == ("succeeded", 4, 0, 3, 0, 1), again["message"]
    assert sum(UsageRecord.objects.values_list("input_tokens", flat=True)) == 3 * 500


@pytest.mark.django_db
def test_ndjson_pages_store_the_rows_of_all_pages(uploader):
    lines = [json.dumps(page(bucket(completion(), start=DAY + 86400 * i))) for i in range(5)]
    run = uploader("\n".join(lines), name="pull.ndjson")
    assert counts(run) == ("succeeded", 5, 5, 0, 0, 0), run["message"]
    days = sorted(r.bucket_start.day for r in UsageRecord.objects.all())
    assert days == [1, 2, 3, 4, 5]


@pytest.mark.django_db
def test_null_dimensions_and_unknown_fields(uploader):
    result = completion(model=None, project_id=None, batch=None, surprise={"new": "field"})
    run = uploader(json.dumps(page(bucket(result))))
    assert counts(run) == ("succeeded", 1, 1, 0, 0, 0), run["message"]
    record = UsageRecord.objects.get()
    assert record.model == "(all models)" and record.project_id is None and record.tags == {}
    assert tokens(record) == (500, 400, 100, 300, 7)


@pytest.mark.django_db
def test_dimensions_are_stored(uploader):
    result = completion(project_id="proj_a", user_id="user_a", api_key_id="key_a", batch=True, service_tier="scale")
    run = uploader(json.dumps(page(bucket(result))))
    assert run["accepted"] == 1, run["message"]
    record = UsageRecord.objects.get()
    assert (record.project_id, record.user_id, record.api_key_id, record.service_tier, record.tags) == (
        "proj_a",
        "user_a",
        "key_a",
        "scale",
        {"batch": "true"},
    )


@pytest.mark.django_db
def test_cached_token_traps_in_the_database(uploader):
    b = bucket(
        completion(model="difference"),  # 1000 − 400 − 100
        completion(model="own-count", input_uncached_tokens=480),
        completion(model="parts", input_text_tokens=9999, input_audio_tokens=9999, output_text_tokens=9999),
    )
    run = uploader(json.dumps(page(b)))
    assert run["accepted"] == 3, run["message"]
    by_model = {r.model: tokens(r) for r in UsageRecord.objects.all()}
    assert by_model == {
        "difference": (500, 400, 100, 300, 7),
        "own-count": (480, 400, 100, 300, 7),
        "parts": (500, 400, 100, 300, 7),
    }


@pytest.mark.django_db
def test_a_count_beyond_64_bits_is_a_rejected_row_kept_as_given(uploader):
    run = uploader(json.dumps(page(bucket(completion(input_tokens=10**20), completion(model="fine")))))
    assert counts(run) == ("succeeded", 2, 1, 0, 0, 1), run["message"]
    (rejected,) = RejectedRow.objects.filter(run_id=run["id"])
    assert "larger than a 64-bit count" in rejected.reasons[0]
    assert json.loads(rejected.raw)["result"]["input_tokens"] == 10**20


@pytest.mark.django_db
def test_an_empty_page_is_a_successful_run_with_no_rows(uploader):
    run = uploader(json.dumps(page()))
    assert counts(run) == ("succeeded", 0, 0, 0, 0, 0), run["message"]
    run = uploader(json.dumps(page(bucket(), bucket(start=DAY + 86400))), fmt="openai_costs")
    assert counts(run) == ("succeeded", 0, 0, 0, 0, 0), run["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["openai_usage", "openai_costs"])
def test_an_interrupted_page_fails_the_run_and_stores_nothing(uploader, fmt):
    result = completion if fmt == "openai_usage" else cost
    lines = [text(page(bucket(result(), start=DAY + 86400 * i))) for i in range(3)]
    run = uploader("\n".join([*lines[:2], lines[2][:60]]), fmt=fmt)
    assert run["status"] == "failed" and "cut off" in run["message"] and "Page 3" in run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0
    assert not RejectedRow.objects.exists()
    # one pretty-printed page cut off in the middle
    pretty = json.dumps(json.loads(text(page(bucket(result())))), indent=2)
    run = uploader(pretty[: len(pretty) - 30], fmt=fmt)
    assert run["status"] == "failed" and "cut off" in run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["openai_usage", "openai_costs"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "invalid JSON at line 1"),
        (b'{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}', "no data list"),
        (b"[1, 2, 3]", "not an object with a data list"),
        (b'{"data": {"results": []}}', "no data list"),
        (b'{"data": ["bucket"]}', "has no results list"),
    ],
)
def test_garbage_fails_the_run_with_a_message(uploader, fmt, content, message):
    run = uploader(content, fmt=fmt)
    assert run["status"] == "failed" and message in run["message"], run["message"]
    assert UsageRecord.objects.count() == 0 and VendorCostLine.objects.count() == 0
    with IngestionRun.objects.get(pk=run["id"]).file.open("rb") as handle:
        assert handle.read() == content  # the file is kept


@pytest.mark.django_db
def test_re_uploading_the_same_page_changes_nothing(uploader):
    content = json.dumps(page(bucket(completion(model="gpt-4o"), completion(model="gpt-4o-mini"))))
    first = uploader(content)
    assert counts(first) == ("succeeded", 2, 2, 0, 0, 0)
    before = list(UsageRecord.objects.order_by("id").values())
    again = uploader(content)
    assert counts(again) == ("succeeded", 2, 0, 2, 0, 0)
    assert list(UsageRecord.objects.order_by("id").values()) == before


@pytest.mark.django_db
def test_the_same_bucket_pulled_again_with_new_numbers_is_restated(uploader):
    uploader(json.dumps(page(bucket(completion(model="gpt-4o", project_id="p1")))))
    record = UsageRecord.objects.get()
    later = completion(model="gpt-4o", project_id="p1", input_tokens=3000, output_tokens=900, num_model_requests=20)
    run = uploader(json.dumps(page(bucket(later))))
    assert counts(run) == ("succeeded", 1, 0, 0, 1, 0), run["message"]
    record.refresh_from_db()
    assert record.version == 2 and tokens(record) == (2500, 400, 100, 900, 20)
    assert UsageRecord.objects.count() == 1
    (earlier,) = UsageRecordVersion.objects.filter(record_id=record.pk)
    assert earlier.version == 1 and earlier.data["input_tokens"] == 500


@pytest.mark.django_db
def test_a_rejected_row_corrected_and_replayed(uploader, finance, django_capture_on_commit_callbacks):
    b = bucket(
        completion(model="good"),
        completion(model="bad", input_tokens=100),
        completion(model="worse", output_tokens="x"),
    )
    run = uploader(json.dumps(page(b)))
    assert counts(run) == ("succeeded", 3, 1, 0, 0, 2), run["message"]
    rows = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert [r["row"] for r in rows] == [2, 3]
    fixed = json.loads(rows[0]["raw"])
    fixed["result"]["input_tokens"] = 1000
    result = replay(
        finance, run["id"], [{"id": rows[0]["id"], "raw": json.dumps(fixed)}], django_capture_on_commit_callbacks
    )
    assert counts(result) == ("succeeded", 1, 1, 0, 0, 0), result["message"]
    assert tokens(UsageRecord.objects.get(model="bad")) == (500, 400, 100, 300, 7)
    left = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert [r["row"] for r in left] == [3]
    # replayed as it is, the other row is still wrong and says why
    result = replay(finance, run["id"], [{"id": rows[1]["id"]}], django_capture_on_commit_callbacks)
    assert counts(result) == ("succeeded", 1, 0, 0, 0, 1)
    assert RejectedRow.objects.get(pk=rows[1]["id"]).reasons == ["output_tokens must be a whole number ≥ 0, not 'x'"]


# Costs through the API ------------------------------------------------------------------------------------------


@pytest.mark.django_db
@needs_data
def test_upload_the_official_costs_example(uploader):
    run = uploader(COSTS_EXAMPLE.read_bytes(), fmt="openai_costs", name=COSTS_EXAMPLE.name)
    assert counts(run) == ("succeeded", 1, 1, 0, 0, 0), run["message"]
    line = VendorCostLine.objects.get()
    assert line.amount == Decimal("0.06") and str(line.amount) == "0.06"
    assert (line.amount_as_given, line.amount_unit, line.currency, line.feed) == (
        "0.06",
        "major",
        "USD",
        "openai_costs",
    )
    assert (line.vendor.slug, line.source.slug, line.charge_category) == ("openai", "gw", "Usage")
    assert (line.period_start, line.period_end) == (
        datetime(2024, 11, 1, tzinfo=UTC),
        datetime(2024, 11, 2, tzinfo=UTC),
    )
    assert line.version == 1 and line.superseded == []
    assert UsageRecord.objects.count() == 0  # a cost line is not usage


@pytest.mark.django_db
def test_cost_lines_by_line_item_stored_exactly(uploader):
    content = text(
        page(
            bucket(
                cost(
                    Decimal("0.000000000005"),
                    line_item="gpt-4o-2024-08-06, input",
                    project_id="proj_a",
                    quantity=2,
                    quantity_unit="tokens",
                ),
                cost(Decimal("123456789.123456789"), line_item="gpt-4o-2024-08-06, output", project_id="proj_a"),
                cost(Decimal("0.06"), currency="eur", line_item="gpt-4o-2024-08-06, input", project_id="proj_b"),
            )
        )
    )
    run = uploader(content, fmt="openai_costs")
    assert counts(run) == ("succeeded", 3, 3, 0, 0, 0), run["message"]
    lines = {(line.line_item, line.project_id): line for line in VendorCostLine.objects.all()}
    tiny = lines[("gpt-4o-2024-08-06, input", "proj_a")]
    assert tiny.amount == Decimal("0.000000000005") and format(tiny.amount, "f") == "0.000000000005"
    assert tiny.amount_as_given == "0.000000000005" and tiny.quantity == 2 and tiny.quantity_unit == "tokens"
    assert tiny.model == "gpt-4o-2024-08-06"
    assert lines[("gpt-4o-2024-08-06, output", "proj_a")].amount == Decimal("123456789.123456789")
    assert lines[("gpt-4o-2024-08-06, input", "proj_b")].currency == "EUR"


@pytest.mark.django_db
def test_cost_lines_re_uploaded_are_duplicates_and_restated_when_changed(uploader):
    content = text(
        page(
            bucket(cost(Decimal("0.06"), line_item="gpt-4o, input"), cost(Decimal("1.50"), line_item="gpt-4o, output"))
        )
    )
    assert counts(uploader(content, fmt="openai_costs")) == ("succeeded", 2, 2, 0, 0, 0)
    assert counts(uploader(content, fmt="openai_costs")) == ("succeeded", 2, 0, 2, 0, 0)
    changed = content.replace("0.06", "0.08")
    run = uploader(changed, fmt="openai_costs")
    assert counts(run) == ("succeeded", 2, 0, 1, 1, 0), run["message"]
    line = VendorCostLine.objects.get(line_item="gpt-4o, input")
    assert line.amount == Decimal("0.08") and line.version == 2 and line.run_id == run["id"]
    assert [(s["version"], s["amount"]) for s in line.superseded] == [(1, "0.06")]
    assert VendorCostLine.objects.count() == 2


@pytest.mark.django_db
def test_a_rejected_cost_row_corrected_and_replayed(uploader, finance, django_capture_on_commit_callbacks):
    content = text(page(bucket(cost(currency="dollars"), cost("abc", line_item="x, input"))))
    run = uploader(content, fmt="openai_costs")
    assert counts(run) == ("succeeded", 2, 0, 0, 0, 2), run["message"]
    rows = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert "currency 'DOLLARS' is not an ISO 4217 code" in rows[0]["reasons"]
    assert "amount.value 'abc' is not a decimal number" in rows[1]["reasons"][0]
    corrections = [
        {"id": rows[0]["id"], "raw": rows[0]["raw"].replace('"dollars"', '"usd"')},
        {"id": rows[1]["id"], "raw": rows[1]["raw"].replace('"abc"', '"0.25"')},
    ]
    result = replay(finance, run["id"], corrections, django_capture_on_commit_callbacks)
    assert counts(result) == ("succeeded", 2, 2, 0, 0, 0), result["message"]
    assert sorted(VendorCostLine.objects.values_list("amount", flat=True)) == [Decimal("0.06"), Decimal("0.25")]
    assert VendorCostLine.objects.get(line_item="x, input").model == "x"


def test_raw_rows_keep_amounts_as_exact_text():
    """dumps_raw writes a Decimal as its text, so a kept cost row never goes through a float."""
    raw = dumps_raw(
        {"bucket": {"start_time": DAY, "end_time": DAY + 1}, "result": cost(Decimal("0.30000000000000004"))}
    )
    assert COSTS.row(raw, OPTS, 1)["amount"] == Decimal("0.30000000000000004")
    assert copy.deepcopy(COSTS.row(raw, OPTS, 1))["currency"] == "USD"
