"""POST usage/files: generic CSV, NDJSON and request traces (the real Azure and Mooncake files)
become runs; garbage fails its run with a message and keeps the file; nothing half-applied."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from core.roles import Role
from core.testing import SHARED_DATA, assert_error_shape, token_client
from usage.models import DailyRollup, IngestionRun, RejectedRow, UsageRecord

from .factories import world

pytestmark = pytest.mark.django_db
DATA = SHARED_DATA
AZURE = DATA / "azure-llm-trace-2023" / "AzureLLMInferenceTrace_code.csv"
MOONCAKE = DATA / "mooncake-traces" / "conversation_trace.jsonl"
needs_data = pytest.mark.skipif(not AZURE.exists(), reason="../shared/data is not on this machine")


@pytest.fixture
def uploader(role_world, django_capture_on_commit_callbacks):
    world()
    world(vendor="moonshot", currency="CNY", model="kimi-k2.5", price_in="4", price_out="16", cached=None)
    client = token_client(role_world.user(Role.SERVICE), scope="ingest", sources=["gw"])

    def upload(name, content, fmt, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, content), "format": fmt, "source": "gw", **fields},
                format="multipart",
            )
        return response

    upload.client = client
    return upload


def run_of(uploader, response) -> dict:
    assert response.status_code == 202, response.content
    return uploader.client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()


CSV = (
    "vendor,model,bucket_start,bucket_end,input_tokens,output_tokens,cached_input_tokens,project_id,tags\n"
    "openai,gpt-4o,2026-03-01T00:00:00Z,2026-03-01T00:59:59Z,1000,200,10,p1,\n"
    'openai,gpt-4o,2026-03-01T01:00:00Z,,2000,300,,p2,"{""team"": ""search""}"\n'
    "openai,gpt-4o,2026-03-01T02:00:00+08:00,,-5,1,,p1,\n"
    "nobody,gpt-4o,2026-03-01T03:00:00Z,,5,1,,p1,\n"
    "openai,gpt-4o,2026-03-01T03:00:00Z,,5\n"
)


def test_generic_csv(uploader):
    run = run_of(uploader, uploader("usage.csv", CSV.encode(), "generic_csv"))
    assert run["status"] == "succeeded", run["message"]
    assert (run["received"], run["accepted"], run["rejected"]) == (5, 2, 3)
    rows = uploader.client.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert [r["row"] for r in rows] == [4, 5, 6]  # lines in the file (the header is line 1)
    assert "input_tokens must be a whole number ≥ 0" in rows[0]["reasons"][0] and rows[0]["raw"].startswith(
        "openai,gpt-4o,2026-03-01T02"
    )
    assert "5 columns" in rows[2]["reasons"][0]
    tagged = UsageRecord.objects.get(input_tokens=2000)
    assert tagged.tags == {"team": "search"} and tagged.cached_input_tokens == 0
    again = run_of(uploader, uploader("usage.csv", CSV.encode(), "generic_csv"))
    assert (again["accepted"], again["duplicates"]) == (0, 2)


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"hello,world\n1,2\n", "generic_csv", "lacks the required column"),
        (b"a;b;c\n", "request_trace", "Unknown trace layout"),
    ],
)
def test_garbage_fails_the_run_with_a_message_and_keeps_the_file(uploader, content, fmt, message):
    extra = {"vendor": "openai", "model": "gpt-4o"} if fmt == "request_trace" else {}
    run = run_of(uploader, uploader("bad.csv", content, fmt, **extra))
    assert run["status"] == "failed" and message in run["message"]
    stored = IngestionRun.objects.get(pk=run["id"])
    with stored.file.open("rb") as handle:
        assert handle.read() == content
    assert UsageRecord.objects.count() == 0


def test_bytes_that_are_not_utf8_after_good_rows_refuse_the_whole_upload(uploader):
    """Checked by content at upload (415, no run); tests/test_hostile_inputs.py has the rest."""
    lines = "\n".join(
        f'{{"vendor": "openai", "model": "gpt-4o", "bucket_start": "2026-03-01T0{i}:00:00Z", "input_tokens": 1}}'
        for i in range(5)
    )
    response = uploader("x.ndjson", lines.encode() + b"\n\xff\xfe", "ndjson")
    assert response.status_code == 415 and "not UTF-8" in response.json()["message"]
    assert not IngestionRun.objects.exists()
    assert UsageRecord.objects.count() == 0 and DailyRollup.objects.count() == 0


def test_empty_file_refused_at_upload(uploader):
    response = uploader("empty.csv", b"", "generic_csv")
    assert response.status_code == 400 and "empty" in response.json()["message"]


def test_unknown_format_and_a_file_that_is_not_the_format(uploader):
    response = uploader("x.json", b"{}", "nonsense")
    assert response.status_code == 400
    assert_error_shape(response)
    assert "format" in response.json()["extra"]["fields"]
    # a known format whose file is something else: the run fails with the reason, nothing stored
    run = run_of(uploader, uploader("x.json", b"{}", "openai_costs"))
    assert run["status"] == "failed" and "data list" in run["message"], run
    assert UsageRecord.objects.count() == 0


def test_trace_needs_vendor_and_model(uploader):
    response = uploader("t.csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n", "request_trace")
    assert response.status_code == 400 and "vendor" in response.json()["extra"]["fields"]


@needs_data
def test_azure_trace_with_the_uploads_timezone(uploader):
    run = run_of(
        uploader,
        uploader(
            AZURE.name,
            AZURE.read_bytes(),
            "request_trace",
            vendor="openai",
            model="gpt-4o",
            timezone="America/Los_Angeles",
        ),
    )
    assert run["status"] == "succeeded", run["message"]
    lines = AZURE.read_text().strip().splitlines()[1:]
    assert run["accepted"] == len(lines) == UsageRecord.objects.count()
    first = UsageRecord.objects.order_by("bucket_start").first()
    # 2023-11-16 18:15 in Los Angeles (PST, UTC-8) is 02:15 UTC the next day
    assert first.bucket_start.isoformat().startswith("2023-11-17T02:1")
    assert sum(UsageRecord.objects.values_list("input_tokens", flat=True)) == sum(
        int(line.split(",")[1]) for line in lines
    )
    assert sum(UsageRecord.objects.values_list("output_tokens", flat=True)) == sum(
        int(line.split(",")[2]) for line in lines
    )
    again = run_of(
        uploader,
        uploader(
            AZURE.name,
            AZURE.read_bytes(),
            "request_trace",
            vendor="openai",
            model="gpt-4o",
            timezone="America/Los_Angeles",
        ),
    )
    assert again["duplicates"] == len(lines) and again["accepted"] == 0


@needs_data
def test_mooncake_trace_from_a_start(uploader):
    import orjson

    content = MOONCAKE.read_bytes()
    items = [orjson.loads(line) for line in content.splitlines() if line.strip()]
    run = run_of(
        uploader,
        uploader(
            MOONCAKE.name,
            content,
            "request_trace",
            vendor="moonshot",
            model="kimi-k2.5",
            timezone="Asia/Shanghai",
            start="2026-03-02T09:00:00",
        ),
    )
    assert run["status"] == "succeeded", run["message"]
    assert run["accepted"] == len(items)  # requests in the same millisecond stay separate requests
    first = UsageRecord.objects.order_by("bucket_start").first()
    assert first.bucket_start.isoformat() == "2026-03-02T01:00:00+00:00"  # 09:00 in Shanghai
    assert sum(UsageRecord.objects.values_list("input_tokens", flat=True)) == sum(i["input_length"] for i in items)
    # priced at Kimi's list price in CNY, converted to the reporting currency only with a rate
    record = UsageRecord.objects.first()
    assert record.cost_currency == "CNY" and record.fx_status == "missing" and record.cost_reporting is None


@needs_data
def test_mooncake_without_start_fails_clearly(uploader):
    run = run_of(
        uploader, uploader(MOONCAKE.name, MOONCAKE.read_bytes(), "request_trace", vendor="moonshot", model="kimi-k2.5")
    )
    assert run["status"] == "failed" and "give the upload a start" in run["message"]


def test_rejected_rows_corrected_and_replayed(uploader, role_world, django_capture_on_commit_callbacks):
    run = run_of(uploader, uploader("usage.csv", CSV.encode(), "generic_csv"))
    finance = token_client(role_world.user(Role.FINANCE))
    rows = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    fix = rows[0]["raw"].replace(",-5,", ",5,")
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(
            f"/api/v1/usage/runs/{run['id']}/replay/", {"rows": [{"id": rows[0]["id"], "raw": fix}]}, format="json"
        )
    assert response.status_code == 202
    replay = finance.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()
    assert (replay["status"], replay["accepted"], replay["rejected"]) == ("succeeded", 1, 0), (
        RejectedRow.objects.values_list("reasons", "raw")
    )
    left = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert [r["row"] for r in left] == [5, 6]
    # replaying as they are: the unknown vendor now exists
    from procurement.services import vendor_save

    vendor_save(
        actor=None, slug="nobody", name="Nobody", kind="producer", country="US", billing_currency="USD", aliases=[]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(f"/api/v1/usage/runs/{run['id']}/replay/", {}, format="json")
    replay = finance.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()
    assert (replay["accepted"], replay["rejected"]) == (1, 1)
    left = finance.get(f"/api/v1/usage/runs/{run['id']}/rejected/").json()["results"]
    assert [r["row"] for r in left] == [6]
    assert RejectedRow.objects.filter(resolved_at__isnull=False).count() == 2
    # replaying again changes nothing for the rows already in
    assert UsageRecord.objects.count() == 4
