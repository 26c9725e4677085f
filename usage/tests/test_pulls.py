"""Scheduled pulls of vendor usage APIs, against a local HTTP server that replays OpenAI's real
example payloads (and Anthropic pages built from its field notes) several pages deep.

GIVEN a source pulling a vendor API WHEN it pulls THEN every page is fetched (retrying what is
worth retrying), stored as the run's file and ingested like an upload; failures fail the run,
count, back off and never show the credential; open days come back as restatements."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from django.utils.html import strip_tags

from core import crypto
from core.models import JobRun
from core.roles import Role
from core.testing import SHARED_DATA, token_client
from usage import pulls
from usage.models import IngestionRun, Source, UsageRecord
from usage.models.sources import PullHealth
from usage.pipeline.feeds.endpoints import ENDPOINTS
from usage.services import pulls as pull_services
from usage.services import source_pull_now, source_save, sources_pull_due

from .factories import world

DATA = SHARED_DATA
OPENAI_EXAMPLES = DATA / "openai-usage-costs-api" / "examples"
needs_data = pytest.mark.skipif(not OPENAI_EXAMPLES.exists(), reason="../shared/data is not on this machine")

SECRET = "sk-admin-TEST-0123456789abcdefSECRET"
DAY = 86400


# The vendor: a local HTTP server replaying example payloads -------------------------------------------------------


def midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeVendor:
    """Answers the vendors' usage endpoints for any window, `per_page` daily buckets a page, two
    models a bucket; `script` holds special answers given first (429, 500, cut-off bodies, …)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.script: list[dict] = []
        self.per_page = 2
        self.output_bonus: dict[date, int] = {}  # a day whose gpt-4o output changed (restated)
        self.loop_pages = False
        example = json.loads((OPENAI_EXAMPLES / "usage_completions.response.json").read_text())
        self.openai_result = example["data"][0]["results"][0]
        self.openai_costs = json.loads((OPENAI_EXAMPLES / "costs.response.json").read_text())["data"][0]["results"][0]
        self.lock = threading.Lock()

    # what a day holds
    def openai_results(self, day: date) -> list[dict]:
        results = []
        for model, factor in (("gpt-4o", 1), ("gpt-4o-mini", 2)):
            result = copy.deepcopy(self.openai_result)
            for name, value in list(result.items()):
                if isinstance(value, int):
                    result[name] = value * factor
            result.update(model=model, project_id="proj_search", api_key_id="key_search", service_tier="default")
            if model == "gpt-4o":
                result["output_tokens"] += self.output_bonus.get(day, 0)
            results.append(result)
        return results

    def anthropic_results(self, day: date) -> list[dict]:
        # FIELD-NOTES.txt: uncached_input_tokens excludes cache reads and writes
        return [
            {
                "uncached_input_tokens": 1500,
                "cache_read_input_tokens": 600,
                "cache_creation": {"ephemeral_1h_input_tokens": 70, "ephemeral_5m_input_tokens": 30},
                "output_tokens": 900 + self.output_bonus.get(day, 0),
                "server_tool_use": {"web_search_requests": 2},
                "api_key_id": "apikey_01",
                "workspace_id": "wrkspc_01",
                "model": "claude-sonnet-4-5",
                "service_tier": "standard",
                "context_window": "0-200k",
                "inference_geo": None,
                "speed": None,
                "account_id": None,
                "service_account_id": None,
            }
        ]

    def page(self, path: str, query: dict) -> dict:
        if path.endswith("/organization/usage/completions") or path.endswith("/organization/costs"):
            start = datetime.fromtimestamp(int(query["start_time"][0]), tz=UTC)
            end = datetime.fromtimestamp(int(query["end_time"][0]), tz=UTC)
            costs = path.endswith("/costs")
            buckets = [
                {
                    "object": "bucket",
                    "start_time": int(day.timestamp()),
                    "end_time": int((day + timedelta(days=1)).timestamp()),
                    "results": [dict(self.openai_costs, line_item="gpt-4o, input", project_id="proj_search")]
                    if costs
                    else self.openai_results(day.date()),
                }
                for day in self.days(start, end)
            ]
            extra = {"object": "page"}
        else:
            start = datetime.fromisoformat(query["starting_at"][0].replace("Z", "+00:00"))
            end = datetime.fromisoformat(query["ending_at"][0].replace("Z", "+00:00"))
            buckets = [
                {
                    "starting_at": rfc3339(day),
                    "ending_at": rfc3339(day + timedelta(days=1)),
                    "results": self.anthropic_results(day.date()),
                }
                for day in self.days(start, end)
            ]
            extra = {}
        offset = int(query.get("page", ["page_0"])[0].removeprefix("page_"))
        chunk = buckets[offset : offset + self.per_page]
        more = offset + self.per_page < len(buckets)
        next_page = "page_0" if self.loop_pages else f"page_{offset + self.per_page}"
        return {**extra, "data": chunk, "has_more": more, "next_page": next_page if more else None}

    @staticmethod
    def days(start: datetime, end: datetime):
        day = start
        while day < end:
            yield day
            day += timedelta(days=1)


class Handler(BaseHTTPRequestHandler):
    vendor: FakeVendor

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        vendor = self.server.vendor
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with vendor.lock:
            vendor.received.append(
                {"path": parts.path, "query": query, "raw_query": parts.query, "headers": dict(self.headers)}
            )
            special = vendor.script.pop(0) if vendor.script else None
        if special and special.get("sleep"):
            time.sleep(special["sleep"])
        if special and "status" in special:
            body = special.get("body", "").encode()
            self.send_response(special["status"])
            for name, value in special.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps(vendor.page(parts.path, query), indent=2).encode()
        cut = special.get("cut") if special else None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if cut == "short":  # the body ends early but says so: the JSON is cut off
            body = body[: len(body) // 2]
            self.send_header("Content-Length", str(len(body)))
        elif cut == "broken":  # the connection drops before the promised length
            self.send_header("Content-Length", str(len(body)))
            body = body[: len(body) // 2]
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def vendor_api():
    if not OPENAI_EXAMPLES.exists():  # the server replays OpenAI's real example payloads
        pytest.skip("the shared data set is not on this machine")
    vendor = FakeVendor()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.vendor = vendor
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    vendor.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield vendor
    server.shutdown()
    server.server_close()


@pytest.fixture
def waits(monkeypatch, settings):
    """Back-off waits are recorded, not slept."""
    recorded: list[float] = []
    monkeypatch.setattr(pulls, "sleep", recorded.append)
    settings.USAGE_PULL_BACKOFF_SECONDS = 0.001
    return recorded


def make_source(vendor_api, *, slug="openai-admin", format="openai_usage", vendor="openai", **fields):
    world(vendor=vendor)
    from procurement.models import Vendor

    values = {
        "slug": slug,
        "name": f"{vendor} admin API",
        "vendor": Vendor.objects.get(slug=vendor),
        "format": format,
        "pull_enabled": True,
        "base_url": vendor_api.url,
        **fields,
    }
    credential = values.pop("credential", SECRET)
    return source_save(actor=None, credential=credential, **values)


def pull(source, django_capture_on_commit_callbacks, actor=None) -> IngestionRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = source_pull_now(source=source, actor=actor)
    return IngestionRun.objects.get(pk=run.pk)


# End to end ---------------------------------------------------------------------------------------------------------


@needs_data
@pytest.mark.django_db
def test_a_pull_pages_through_every_page_and_stores_every_row(vendor_api, waits, django_capture_on_commit_callbacks):
    source = make_source(vendor_api)
    before = timezone.now()
    run = pull(source, django_capture_on_commit_callbacks)

    assert run.status == JobRun.Status.SUCCEEDED, run.message
    # a week back from midnight, up to now: 8 daily buckets (today's still open), 2 a page
    assert len(vendor_api.received) == 4 and run.result["pull"]["pages"] == 4
    assert (run.received, run.accepted, run.rejected) == (16, 16, 0)
    assert run.origin == IngestionRun.Origin.PULL and run.file_name.endswith(".ndjson")
    with run.file.open("rb") as handle:
        assert len(handle.read().decode().splitlines()) == 4  # one page per line, as an upload takes

    first = vendor_api.received[0]
    assert first["path"] == "/v1/organization/usage/completions"
    assert first["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert int(first["query"]["start_time"][0]) == int((midnight(before) - timedelta(days=7)).timestamp())
    assert before.timestamp() - 1 <= int(first["query"]["end_time"][0]) <= timezone.now().timestamp()
    assert first["query"]["bucket_width"] == ["1d"] and first["query"]["limit"] == ["31"]
    assert first["query"]["group_by"] == ["model", "project_id", "api_key_id", "user_id", "batch", "service_tier"]
    assert "page" not in first["query"]
    assert [r["query"].get("page") for r in vendor_api.received[1:]] == [["page_2"], ["page_4"], ["page_6"]]
    for received in vendor_api.received[1:]:  # the window is sent again with every page
        assert received["query"]["start_time"] == first["query"]["start_time"]

    records = UsageRecord.objects.filter(run_id=run.pk)
    assert records.count() == 16 and records.values("usage_date").distinct().count() == 8
    gpt4o = records.filter(model="gpt-4o").first()
    # OpenAI's input_tokens (1000) includes cached (400) and cache writes (100): uncached 500
    assert (gpt4o.input_tokens, gpt4o.cached_input_tokens, gpt4o.cache_write_tokens, gpt4o.output_tokens) == (
        500,
        400,
        100,
        500,
    )
    assert gpt4o.requests == 5 and gpt4o.project_id == "proj_search" and gpt4o.source_id == source.pk
    mini = records.filter(model="gpt-4o-mini").first()
    assert (mini.input_tokens, mini.cached_input_tokens, mini.cache_write_tokens, mini.output_tokens) == (
        1000,
        800,
        200,
        1000,
    )

    source.refresh_from_db()
    assert source.pull_failures == 0 and source.last_pull_error == ""
    assert source.last_pull_ok_at == source.last_pull_at and source.last_pull_at >= before
    assert source.next_pull_at == source.last_pull_at + timedelta(minutes=60)
    # buckets ending before the 2 open days are final
    assert source.pulled_until == midnight(before) - timedelta(days=2)
    assert source.pull_health == PullHealth.OK
    requests = run.result["pull"]["requests"]
    assert [r["attempts"] for r in requests] == [1, 1, 1, 1] and all(r["status"] == 200 for r in requests)
    assert SECRET not in json.dumps(run.result) + json.dumps(run.params) + run.message


@needs_data
@pytest.mark.django_db
def test_a_second_pull_fetches_the_open_days_again_and_restates_what_changed(
    vendor_api, waits, django_capture_on_commit_callbacks
):
    source = make_source(vendor_api)
    first = pull(source, django_capture_on_commit_callbacks)
    assert first.accepted == 16
    source.refresh_from_db()
    pulled_until = source.pulled_until
    yesterday = (timezone.now() - timedelta(days=1)).date()
    vendor_api.output_bonus[yesterday] = 123  # the vendor's figure for a day still open changed
    vendor_api.received.clear()

    second = pull(source, django_capture_on_commit_callbacks)

    assert second.status == JobRun.Status.SUCCEEDED, second.message
    # only the open days: the day before yesterday, yesterday and today
    assert int(vendor_api.received[0]["query"]["start_time"][0]) == int(pulled_until.timestamp())
    assert (second.received, second.accepted, second.duplicates, second.restated) == (6, 0, 5, 1)
    restated = UsageRecord.objects.get(model="gpt-4o", usage_date=yesterday)
    assert restated.output_tokens == 500 + 123 and restated.version == 2
    assert UsageRecord.objects.filter(source=source).count() == 16  # nothing added twice


@needs_data
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("script", "waited"),
    [
        ([{"status": 429, "headers": {"Retry-After": "7"}, "body": '{"error": {"message": "Rate limit"}}'}], [7.0]),
        ([{"status": 500, "body": "oops"}, {"status": 503, "body": ""}], None),
        ([{"cut": "short"}], None),
        ([{"cut": "broken"}], None),
    ],
    ids=["429-retry-after", "500-twice", "cut-off-json", "connection-dropped"],
)
def test_transient_failures_are_tried_again(vendor_api, waits, django_capture_on_commit_callbacks, script, waited):
    source = make_source(vendor_api)
    vendor_api.script = list(script)
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert run.accepted == 16 and UsageRecord.objects.filter(source=source).count() == 16
    first = run.result["pull"]["requests"][0]
    assert first["attempts"] == len(script) + 1 and len(first["problems"]) == len(script)
    assert len(vendor_api.received) == 4 + len(script)
    if waited is not None:
        assert waits == waited  # Retry-After honoured
    else:
        assert len(waits) == len(script) and all(0 < w < 0.01 for w in waits)  # tiny back-off in tests


@needs_data
@pytest.mark.django_db
def test_a_timeout_is_tried_again(vendor_api, waits, settings, django_capture_on_commit_callbacks):
    settings.USAGE_PULL_TIMEOUT_SECONDS = 0.3
    source = make_source(vendor_api)
    vendor_api.script = [{"sleep": 1.0}]
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert "no answer within 0.3 s" in run.result["pull"]["requests"][0]["problems"][0]


@needs_data
@pytest.mark.django_db
def test_giving_up_after_the_last_attempt_applies_nothing(
    vendor_api, waits, settings, django_capture_on_commit_callbacks
):
    settings.USAGE_PULL_MAX_ATTEMPTS = 3
    source = make_source(vendor_api)
    vendor_api.script = [{}, {"status": 502}, {"status": 502}, {"status": 502}]  # page 2 never comes
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.FAILED
    assert "Gave up on OpenAI after 3 attempts" in run.message and "502 Bad Gateway" in run.message
    assert UsageRecord.objects.count() == 0 and run.received == 0
    assert [r["attempts"] for r in run.result["pull"]["requests"]] == [1, 3]


@needs_data
@pytest.mark.django_db
def test_a_refused_credential_fails_at_once_counts_and_backs_off(
    vendor_api, waits, role_world, django_capture_on_commit_callbacks
):
    source = make_source(vendor_api)
    echo = {"error": {"message": f"Incorrect API key provided: {SECRET}.", "type": "invalid_request_error"}}
    vendor_api.script = [{"status": 401, "body": json.dumps(echo)}]
    before = timezone.now()
    run = pull(source, django_capture_on_commit_callbacks)

    assert run.status == JobRun.Status.FAILED
    assert "OpenAI refused the request (401 Unauthorized): Incorrect API key provided" in run.message
    assert "Check the source's credential" in run.message
    assert len(vendor_api.received) == 1 and waits == []  # no retry
    source.refresh_from_db()
    assert source.pull_failures == 1 and source.pulled_until is None and source.last_pull_ok_at is None
    assert source.last_pull_error == run.message and source.pull_health == PullHealth.FAILING
    # the next try waits interval × 2^failures
    assert before + timedelta(minutes=120) <= source.next_pull_at <= timezone.now() + timedelta(minutes=120)

    client = token_client(role_world.user(Role.ADMIN), scope="read")
    answers = [
        client.get(f"/api/v1/usage/sources/{source.slug}/").content.decode(),
        client.get(f"/api/v1/usage/runs/{run.pk}/").content.decode(),
        client.get(f"/api/v1/runs/{run.pk}/").content.decode(),
    ]
    for text in (run.message, source.last_pull_error, json.dumps(run.result), *answers):
        assert SECRET not in text
    assert "Incorrect API key provided: ••••" in run.message
    body = json.loads(answers[0])
    assert body["pull_failures"] == 1 and body["health"] == "failing" and "credential" not in body

    # a second failure doubles the wait again
    vendor_api.script = [{"status": 401, "body": "{}"}]
    pull(source, django_capture_on_commit_callbacks)
    source.refresh_from_db()
    assert source.pull_failures == 2 and source.next_pull_at >= timezone.now() + timedelta(minutes=239)


@needs_data
@pytest.mark.django_db
def test_a_missing_environment_credential_fails_the_run_clearly(
    vendor_api, waits, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("TL_TEST_OPENAI_KEY", raising=False)
    source = make_source(vendor_api, credential=None, credential_env="TL_TEST_OPENAI_KEY")
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.FAILED
    assert "environment variable TL_TEST_OPENAI_KEY" in run.message and "is not set" in run.message
    assert vendor_api.received == []

    monkeypatch.setenv("TL_TEST_OPENAI_KEY", "sk-from-the-environment")
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert vendor_api.received[0]["headers"]["Authorization"] == "Bearer sk-from-the-environment"
    source.refresh_from_db()
    assert source.pull_failures == 0 and source.last_pull_error == ""


@needs_data
@pytest.mark.django_db
def test_paging_that_loops_fails_the_pull(vendor_api, waits, django_capture_on_commit_callbacks):
    source = make_source(vendor_api)
    vendor_api.loop_pages = True  # every page points to page_0 again
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.FAILED
    assert "points back to a page already fetched" in run.message and UsageRecord.objects.count() == 0


@needs_data
@pytest.mark.django_db
def test_the_page_cap_stops_a_pull(vendor_api, waits, settings, django_capture_on_commit_callbacks):
    settings.USAGE_PULL_MAX_PAGES = 3
    source = make_source(vendor_api)
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.FAILED and "Stopped after 3 pages" in run.message
    assert UsageRecord.objects.count() == 0


@pytest.mark.django_db
def test_anthropic_usage_pull_sends_its_headers_and_maps_token_classes(
    vendor_api, waits, django_capture_on_commit_callbacks
):
    source = make_source(vendor_api, slug="claude-admin", format="anthropic_usage", vendor="anthropic")
    vendor_api.per_page = 3
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert len(vendor_api.received) == 3 and run.accepted == 8
    first = vendor_api.received[0]
    assert first["path"] == "/v1/organizations/usage_report/messages"
    assert first["headers"]["x-api-key"] == SECRET and first["headers"]["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in first["headers"]
    assert first["query"]["group_by[]"] == ["model", "workspace_id", "api_key_id", "service_tier"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", first["query"]["starting_at"][0])
    assert vendor_api.received[1]["query"]["page"] == ["page_3"]
    record = UsageRecord.objects.filter(source=source).first()
    assert (record.input_tokens, record.cached_input_tokens, record.cache_write_tokens, record.output_tokens) == (
        1500,
        600,
        100,
        900,
    )
    assert record.workspace_id == "wrkspc_01" and record.model == "claude-sonnet-4-5"


@needs_data
@pytest.mark.django_db
def test_openai_costs_pull_keeps_cost_lines(vendor_api, waits, django_capture_on_commit_callbacks):
    from usage.models import VendorCostLine

    source = make_source(vendor_api, slug="openai-costs", format="openai_costs")
    run = pull(source, django_capture_on_commit_callbacks)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert vendor_api.received[0]["path"] == "/v1/organization/costs"
    assert vendor_api.received[0]["query"]["group_by"] == ["line_item", "project_id"]
    assert vendor_api.received[0]["query"]["limit"] == ["180"]
    lines = VendorCostLine.objects.filter(source=source)
    assert lines.count() == 8 and run.received == 8
    # the example's 0.06 kept exactly as the vendor wrote it (never through a float)
    assert {(line.amount_as_given, line.currency, line.model) for line in lines} == {("0.06", "USD", "gpt-4o")}


# Scheduling ---------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_due_sources_get_exactly_one_run_each(vendor_api, django_capture_on_commit_callbacks):
    now = timezone.now()
    due = make_source(vendor_api, slug="due")
    Source.objects.filter(pk=due.pk).update(next_pull_at=now - timedelta(minutes=1))
    busy = make_source(vendor_api, slug="busy")
    Source.objects.filter(pk=busy.pk).update(next_pull_at=now - timedelta(minutes=5))
    IngestionRun.objects.create(kind="ingestion", origin="pull", format="openai_usage", source=busy)
    later = make_source(vendor_api, slug="later")
    Source.objects.filter(pk=later.pk).update(next_pull_at=now + timedelta(minutes=5))
    off = make_source(vendor_api, slug="off", pull_enabled=False)
    Source.objects.filter(pk=off.pk).update(next_pull_at=now - timedelta(minutes=5))
    inactive = make_source(vendor_api, slug="inactive")
    Source.objects.filter(pk=inactive.pk).update(next_pull_at=now - timedelta(minutes=5), is_active=False)

    with django_capture_on_commit_callbacks() as callbacks:
        runs = sources_pull_due(now=now)
    assert [r.source.slug for r in runs] == ["due"] and len(callbacks) == 1
    assert IngestionRun.objects.filter(origin="pull", source=due, status="queued").count() == 1
    due.refresh_from_db()
    assert due.next_pull_at == now + timedelta(minutes=60)
    # the next beat finds nothing due: the queued run and the moved schedule both say so
    assert sources_pull_due(now=now) == []
    # two hours on, "later" is due; "due" and "busy" still have a pull queued
    assert [r.source.slug for r in sources_pull_due(now=now + timedelta(hours=2))] == ["later"]
    assert IngestionRun.objects.filter(origin="pull").values_list("source__slug", flat=True).count() == 3


@pytest.mark.django_db
def test_the_beat_task_is_scheduled_every_minute_and_pulls(vendor_api, waits, django_capture_on_commit_callbacks):
    from config.celery_app import app
    from usage.tasks import pull_due_sources

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "usage.pull_due_sources")
    assert entry["schedule"] == 60.0 and "usage.pull_due_sources" in app.tasks and "usage.pull_source" in app.tasks
    source = make_source(vendor_api, slug="beat")  # turning pulls on makes it due at once
    assert source.next_pull_at <= timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert pull_due_sources.apply().get() == 1
    run = IngestionRun.objects.get(source=source)
    assert run.status == JobRun.Status.SUCCEEDED and run.params["trigger"] == "schedule" and run.created_by is None


@pytest.mark.django_db(transaction=True)
def test_a_source_another_beat_holds_is_skipped():
    """Two beats at once: the rows one holds (FOR UPDATE) are skipped by the other, not waited for."""
    world()
    source = source_save(
        actor=None, credential=SECRET, slug="held", name="Held", format="openai_usage", pull_enabled=True
    )
    Source.objects.filter(pk=source.pk).update(next_pull_at=timezone.now() - timedelta(minutes=1))
    holding, release = threading.Event(), threading.Event()

    def other_beat():
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT id FROM usage_source WHERE id = %s FOR UPDATE", [source.pk])
                holding.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            connections["default"].close()

    thread = threading.Thread(target=other_beat)
    thread.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        assert sources_pull_due() == []
        assert time.monotonic() - started < 5  # skipped, not waited for
    finally:
        release.set()
        thread.join()
    assert len(sources_pull_due()) == 1
    connection.close()


# Pull now: API and policy --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pull_now_api(vendor_api, waits, role_world, django_capture_on_commit_callbacks):
    source = make_source(vendor_api)
    url = f"/api/v1/usage/sources/{source.slug}/pull"
    for role in (Role.AUDITOR, Role.PROCUREMENT, Role.DEPARTMENT_MANAGER, Role.SERVICE):
        response = token_client(role_world.user(role), scope="write").post(url)
        assert response.status_code == 403, role
    assert token_client(role_world.user(Role.FINANCE), scope="read").post(url).status_code == 403
    assert (
        token_client(role_world.user(Role.FINANCE), scope="write").post("/api/v1/usage/sources/nope/pull").status_code
        == 404
    )

    finance = token_client(role_world.user(Role.FINANCE), scope="write")
    response = finance.post(url)
    assert response.status_code == 202
    run_id = response.json()["run"]
    again = finance.post(url)  # the first is still queued (its task runs after commit)
    assert again.status_code == 409 and f"run #{run_id}" in again.json()["message"]

    admin = token_client(role_world.user(Role.ADMIN), scope="write")
    with django_capture_on_commit_callbacks(execute=True):
        IngestionRun.objects.filter(pk=run_id).update(status="failed")
        response = admin.post(url)
    assert response.status_code == 202
    run = admin.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()
    assert run["status"] == "succeeded" and run["origin"] == "pull" and run["accepted"] == 16
    assert run["result"]["pull"]["pages"] == 4 and run["result"]["pull"]["trigger"] == "manual"


# Credentials and settings ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_stored_credential_is_encrypted_and_never_shown(role_world, settings):
    world()
    admin = token_client(role_world.user(Role.ADMIN), scope="write")
    payload = {
        "slug": "openai-admin",
        "name": "OpenAI admin API",
        "vendor": "openai",
        "format": "openai_usage",
        "pull_enabled": True,
        "credential": SECRET,
        "pull_interval_minutes": 30,
    }
    response = admin.post("/api/v1/usage/sources/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert SECRET not in response.content.decode() and "credential" not in body
    assert body["credential_set"] is True and body["credential_env"] == "" and body["health"] == "never_pulled"
    assert body["next_pull_at"] is not None  # due at once

    with connection.cursor() as cursor:
        cursor.execute("SELECT credential_encrypted FROM usage_source WHERE slug = 'openai-admin'")
        stored = cursor.fetchone()[0]
    assert stored and SECRET not in stored and crypto.decrypt(stored) == SECRET
    source = Source.objects.get(slug="openai-admin")
    assert pull_services.source_credential(source) == SECRET
    assert not hasattr(source.history.first(), "credential_encrypted")

    # empty keeps it, a new one replaces it, null forgets it
    assert admin.patch("/api/v1/usage/sources/openai-admin/", {"credential": ""}, format="json").status_code == 200
    assert Source.objects.get(slug="openai-admin").credential_encrypted == stored
    listing = admin.get("/api/v1/usage/sources/").content.decode()
    assert SECRET not in listing and '"credential_set":true' in listing.replace(" ", "")
    response = admin.patch(
        "/api/v1/usage/sources/openai-admin/", {"credential": None, "credential_env": "OPENAI_ADMIN_KEY"}, format="json"
    )
    assert response.status_code == 200 and response.json()["credential_set"] is False
    assert Source.objects.get(slug="openai-admin").credential_encrypted == ""

    # rotation: a new key first, the old one after it, still decrypts
    new_key = crypto.Fernet.generate_key().decode()
    old_key = crypto.derived_key(settings.SECRET_KEY).decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt(stored) == SECRET
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(stored)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"format": "generic_csv"}, "format"),
        ({"credential": None}, "credential"),
        ({"base_url": "http://api.example.com/v1"}, "base_url"),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "base_url"),
        ({"credential_env": "DJANGO_SECRET_KEY"}, "credential_env"),
        ({"credential_env": "not a name"}, "credential_env"),
        ({"pull_interval_minutes": 0}, "pull_interval_minutes"),
        ({"pull_start": str(date.today() + timedelta(days=3))}, "pull_start"),
    ],
)
def test_pull_settings_are_validated(role_world, changes, field):
    world()
    admin = token_client(role_world.user(Role.ADMIN), scope="write")
    payload = {
        "slug": "s",
        "name": "S",
        "vendor": "openai",
        "format": "openai_usage",
        "pull_enabled": True,
        "credential": SECRET,
        "base_url": "http://127.0.0.1:9/v1",
        **changes,
    }
    response = admin.post("/api/v1/usage/sources/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["extra"]["fields"], response.json()
    assert SECRET not in response.content.decode()


# Pages ----------------------------------------------------------------------------------------------------------------


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@needs_data
@pytest.mark.django_db
def test_pages_show_pulls_last_next_and_health(vendor_api, waits, role_world, django_capture_on_commit_callbacks):
    ok = make_source(vendor_api, slug="openai-ok")
    failing = make_source(vendor_api, slug="openai-failing")
    make_source(vendor_api, slug="never", pull_enabled=False, credential=None)
    Source.objects.filter(slug="never").update(pull_enabled=True, credential_env="X_KEY")
    make_source(vendor_api, slug="off-source", pull_enabled=False)
    pull(ok, django_capture_on_commit_callbacks)
    vendor_api.script = [{"status": 403, "body": '{"error": {"message": "Missing scope: api.usage.read"}}'}]
    failed_run = pull(failing, django_capture_on_commit_callbacks)
    ok.refresh_from_db()

    admin = signed_in(role_world.user(Role.ADMIN))
    listing = admin.get("/usage/sources/").content.decode()
    assert "Last pull (UTC)" in listing and "Next pull (UTC)" in listing and "Pull health" in listing
    text = strip_tags(listing)  # a time's date and hour are each kept on one line (spans)
    assert f"{ok.last_pull_at:%Y-%m-%d %H:%M}" in text and f"{ok.next_pull_at:%Y-%m-%d %H:%M}" in text
    for badge in ('bg-green-lt" title="">ok<', ">failing<", ">never pulled<", ">off<"):
        assert badge in listing, badge

    detail = admin.get("/usage/sources/openai-failing/").content.decode()
    assert "Scheduled pull" in detail and "Missing scope: api.usage.read" in detail and "Pull now" in detail
    assert 'data-health="failing"' in detail and "stored, encrypted" in detail and SECRET not in detail
    auditor = signed_in(role_world.user(Role.AUDITOR))
    assert "Pull now" not in auditor.get("/usage/sources/openai-failing/").content.decode()
    assert auditor.post("/usage/sources/openai-failing/pull/").status_code == 403

    run_page = admin.get(f"/usage/runs/{failed_run.pk}/").content.decode()
    assert 'data-field="window"' in run_page and "Scheduled pull" in run_page and "403" in run_page
    ok_run = IngestionRun.objects.filter(source=ok).get()
    page = admin.get(f"/usage/runs/{ok_run.pk}/").content.decode()
    assert 'data-field="pages">4<' in page and "4 attempts" in page and "/organization/usage/completions" in page

    # the edit form: a password field never filled back; empty keeps the stored credential
    edit = admin.get("/usage/sources/openai-ok/edit/").content.decode()
    assert 'type="password"' in edit and "Leave empty to keep it" in edit and SECRET not in edit
    stored = Source.objects.get(slug="openai-ok").credential_encrypted
    form = {
        "name": ok.name,
        "slug": ok.slug,
        "vendor": "openai",
        "format": "openai_usage",
        "is_active": "on",
        "pull_enabled": "on",
        "base_url": vendor_api.url,
        "credential": "",
        "pull_interval_minutes": "15",
        "pull_open_days": "3",
    }
    response = admin.post("/usage/sources/openai-ok/edit/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    saved = Source.objects.get(slug="openai-ok")
    assert saved.credential_encrypted == stored and saved.pull_interval_minutes == 15 and saved.pull_open_days == 3

    # "Pull now" from the page: finance may, and lands on the run's page
    finance = signed_in(role_world.user(Role.FINANCE))
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post("/usage/sources/openai-ok/pull/")
    newest = IngestionRun.objects.filter(source=ok).order_by("-pk").first()
    assert response.status_code == 302 and response["Location"] == f"/usage/runs/{newest.pk}/"
    assert newest.status == JobRun.Status.SUCCEEDED and newest.created_by == role_world.user(Role.FINANCE)


# The client, window and back-off on their own ----------------------------------------------------------------------


def test_pull_window_and_pulled_until():
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    source = Source(pull_open_days=2, pull_interval_minutes=60)
    assert pull_services.pull_window(source, now) == (datetime(2026, 3, 3, tzinfo=UTC), now)
    source.pull_start = date(2026, 1, 1)
    assert pull_services.pull_window(source, now)[0] == datetime(2026, 1, 1, tzinfo=UTC)
    source.pulled_until = datetime(2026, 3, 9, tzinfo=UTC)  # later than the open days' start: go back
    assert pull_services.pull_window(source, now)[0] == datetime(2026, 3, 8, tzinfo=UTC)
    source.pulled_until = datetime(2026, 3, 5, tzinfo=UTC)
    assert pull_services.pull_window(source, now)[0] == datetime(2026, 3, 5, tzinfo=UTC)

    ends = [datetime(2026, 3, d, tzinfo=UTC) for d in range(6, 12)]
    assert pull_services.pulled_until_after(source, now, ends) == datetime(2026, 3, 8, tzinfo=UTC)
    assert pull_services.pulled_until_after(source, now, []) == source.pulled_until  # never backwards
    assert [pull_services.failure_backoff(source, n) for n in (1, 2, 3, 4, 5, 9)] == [
        timedelta(hours=h) for h in (2, 4, 8, 16, 16, 16)
    ]


def test_backoff_retry_after_and_masking(monkeypatch):
    policy = pulls.RetryPolicy(max_attempts=5, backoff_seconds=2, timeout_seconds=30, max_pages=10)
    monkeypatch.setattr(pulls, "jitter", lambda: 0.5)  # the middle of [0.5, 1.5)
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 7)] == [2, 4, 8, 16, 60]
    assert pulls._retry_after("5") == 5 and pulls._retry_after("3600") == 60 and pulls._retry_after(None) is None
    assert pulls._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date already past
    assert pulls.mask(f"key {SECRET} and its end {SECRET[-14:]}", SECRET) == "key •••• and its end ••••"
    with pytest.raises(pulls.PullFailed, match="line breaks") as refused:
        pulls.check_credential("sk-abc\r\nX-Evil: 1")
    assert "sk-abc" not in refused.value.message


def test_endpoints_table():
    assert set(ENDPOINTS) == {
        "openai_usage",
        "openai_costs",
        "anthropic_usage",
        "anthropic_costs",
        "openrouter_activity",
    }
    assert ENDPOINTS["openai_usage"].url("") == "https://api.openai.com/v1/organization/usage/completions"
    assert ENDPOINTS["anthropic_costs"].url("") == "https://api.anthropic.com/v1/organizations/cost_report"
    assert (
        ENDPOINTS["openrouter_activity"].url("https://openrouter.ai/api/v1/") == "https://openrouter.ai/api/v1/activity"
    )
    assert ENDPOINTS["openrouter_activity"].headers("k") == {"Authorization": "Bearer k"}
    assert not ENDPOINTS["openrouter_activity"].paged
    start, end = datetime(2025, 8, 1, tzinfo=UTC), datetime(2025, 8, 2, 12, tzinfo=UTC)
    assert ("starting_at", "2025-08-01T00:00:00Z") in ENDPOINTS["anthropic_costs"].query(start, end)
    assert ("start_time", "1754006400") in ENDPOINTS["openai_costs"].query(start, end)
    assert ENDPOINTS["openrouter_activity"].bucket_ends({"data": [{"date": "2025-08-01"}]}) == [
        datetime(2025, 8, 2, tzinfo=UTC)
    ]
