"""The usage pages: the explorer (filters, groups, chart data, CSV/XLSX exports, department
scoping), uploading a file and following its run, correcting and replaying rejected rows,
attribution rules that re-attribute, and the source pages."""

import csv
import io
import json
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from core.models import JobRun
from core.navigation import navigation_for
from core.roles import Role
from core.testing import token_client
from usage import selectors, services
from usage.models import AttributionRule, IngestionRun, RejectedRow, Source, UsageRecord

from .factories import record, world

pytestmark = pytest.mark.django_db

MARCH = {"start": "2026-03-01", "end": "2026-04-01"}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def usage(role_world):
    """GIVEN records in March 2026 of two models in four departments (three by their own field,
    one unattributed), pushed through the API."""
    world()
    world(model="gpt-4o-mini", price_in="0.15", price_out="0.6", cached=None)
    departments = ["T-IN", "T-IN-SUB", "T-OUT", None]
    batch = []
    for i in range(24):
        overrides = {
            "external_id": f"v{i}",
            "model": "gpt-4o" if i % 2 else "gpt-4o-mini",
            "bucket_start": f"2026-03-0{1 + i % 3}T{i:02d}:00:00Z",
            "bucket_end": None,
            "input_tokens": 1_000_000 * (i + 1),
            "output_tokens": 250_000 * (i + 1),
        }
        if departments[i % 4]:
            overrides["department"] = departments[i % 4]
        batch.append(record(0, **overrides))
    response = token_client(role_world.user(Role.FINANCE)).post("/api/v1/usage/records", batch, format="json")
    assert response.json()["accepted"] == 24
    return batch


def chart_of(response) -> dict:
    match = re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "no chart data on the page"
    return json.loads(match.group(1))


def summary_rows(user, **query) -> list[dict]:
    return selectors.usage_summary(selectors.SummaryQuery(**query), user=user)["rows"]


# The explorer ------------------------------------------------------------------------------------------------


def test_explorer_shows_the_summary_rows_of_the_filters_and_groups(usage, role_world):
    from datetime import date

    finance = role_world.user(Role.FINANCE)
    client = signed_in(finance)
    response = client.get("/usage/", {**MARCH, "group_by": ["department", "model"], "metric": "cost"})
    assert response.status_code == 200
    expected = summary_rows(finance, start=date(2026, 3, 1), end=date(2026, 4, 1), group_by=("department", "model"))
    rows = response.context["rows"]
    assert {(r["department"], r["model"], r["cost"]) for r in rows} == {
        (r["department"], r["model"], r["cost"]) for r in expected
    }
    assert {r["department"] for r in rows} == {"T-IN", "T-IN-SUB", "T-OUT", "UNALLOCATED"}
    html = response.content.decode()
    assert "T-IN-SUB" in html and "UNALLOCATED" in html
    # cost in the reporting currency at its minor unit, the exact figure in the title
    some = rows[0]
    assert f'title="USD {some["cost"]}"' in html
    chart = chart_of(response)
    assert chart["kind"] == "bars" and chart["metric"] == "cost" and len(chart["labels"]) == len(rows)
    assert sum(Decimal(v) for v in chart["datasets"][0]["data"]) == sum(
        Decimal(r["cost"]).quantize(Decimal("0.000001")) for r in rows
    )

    only_mini = client.get("/usage/", {**MARCH, "group_by": "model", "model": "gpt-4o-mini"})
    assert [r["model"] for r in only_mini.context["rows"]] == ["gpt-4o-mini"]
    tree = client.get("/usage/", {**MARCH, "department": "T-IN"}).context["rows"]
    in_tree = [r for r in usage if r.get("department") in ("T-IN", "T-IN-SUB")]
    assert tree[0]["input_tokens"] == sum(r["input_tokens"] for r in in_tree)

    by_day = client.get("/usage/", {**MARCH, "group_by": ["day", "model"]})
    chart = chart_of(by_day)
    assert chart["kind"] == "time" and len(chart["labels"]) == 31 and chart["labels"][0] == "2026-03-01"
    assert {d["label"] for d in chart["datasets"]} == {"gpt-4o", "gpt-4o-mini"}
    march_first = sum(int(d["data"][0]) for d in chart["datasets"])
    assert march_first == sum(
        r["input_tokens"] + r["output_tokens"] + r["cached_input_tokens"]
        for r in usage
        if r["bucket_start"].startswith("2026-03-01")
    )


def test_explorer_exports_exactly_the_rows_shown(usage, role_world):
    client = signed_in(role_world.user(Role.AUDITOR))
    params = {**MARCH, "group_by": ["department", "model"]}
    shown = client.get("/usage/", params).context["rows"]

    exported = client.get("/usage/", {**params, "_export": "csv"})
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert 'filename="usage_2026-03-01_2026-04-01.csv"' in exported["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [(r["department"], r["model"]) for r in rows] == [(r["department"], r["model"]) for r in shown]
    for got, want in zip(rows, shown, strict=True):
        assert int(got["input_tokens"]) == want["input_tokens"]
        assert int(got["output_tokens"]) == want["output_tokens"]
        assert got["cost"] == want["cost"] and len(got["cost"].split(".")[1]) == 12
        assert got["currency"] == "USD"

    xlsx = client.get("/usage/", {**params, "_export": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    table = list(sheet.iter_rows(values_only=True))
    header, body = list(table[0]), table[1:]
    assert header[:3] == ["department", "model", "input_tokens"] and "cost" in header
    assert len(body) == len(shown)
    cost = header.index("cost")
    for got, want in zip(body, shown, strict=True):
        assert (got[0], got[1], int(got[2])) == (want["department"], want["model"], want["input_tokens"])
        assert got[cost] == want["cost"]


def test_a_department_manager_sees_only_their_departments(usage, role_world):
    manager = signed_in(role_world.user(Role.DEPARTMENT_MANAGER))
    response = manager.get("/usage/", {**MARCH, "group_by": "department"})
    assert response.status_code == 200
    assert {r["department"] for r in response.context["rows"]} == {"T-IN", "T-IN-SUB"}
    html = response.content.decode()
    assert "T-OUT" not in html and "UNALLOCATED" not in html  # neither in the table nor the filter
    exported = manager.get("/usage/", {**MARCH, "group_by": "department", "_export": "csv"})
    assert {r["department"] for r in csv.DictReader(io.StringIO(exported.content.decode()))} == {"T-IN", "T-IN-SUB"}
    # another department cannot be asked for
    other = manager.get("/usage/", {**MARCH, "department": "T-OUT"})
    assert other.status_code == 200 and "rows" not in other.context
    assert "T-OUT is not one of the available choices" in other.content.decode()


def test_explorer_defaults_and_empty_state(role_world):
    finance = signed_in(role_world.user(Role.FINANCE))
    response = finance.get("/usage/")
    assert response.status_code == 200
    values = response.context["values"]
    assert values["start"].day == 1 and values["group_by"] == ("day", "vendor")
    html = response.content.decode()
    assert "No usage for these filters" in html and "POST /api/v1/usage/records" in html
    assert 'href="/usage/upload/"' in html  # finance may ingest
    auditor = signed_in(role_world.user(Role.AUDITOR)).get("/usage/").content.decode()
    assert 'href="/usage/upload/"' not in auditor
    bad = finance.get("/usage/", {"start": "2026-03-05", "end": "2026-03-01"})
    assert "must come after the start" in bad.content.decode()


# Uploads, runs and replays ---------------------------------------------------------------------------------

CSV = (
    "vendor,model,bucket_start,bucket_end,input_tokens,output_tokens,cached_input_tokens,project_id,tags\n"
    "openai,gpt-4o,2026-03-01T00:00:00Z,2026-03-01T00:59:59Z,1000,200,10,p1,\n"
    "openai,gpt-4o,2026-03-01T01:00:00Z,,2000,300,,p2,\n"
    "openai,gpt-4o,2026-03-01T02:00:00+08:00,,-5,1,,p1,\n"
    "nobody,gpt-4o,2026-03-01T03:00:00Z,,5,1,,p1,\n"
)


def upload(client, capture, content=CSV, **fields):
    data = {"file": SimpleUploadedFile("usage.csv", content.encode()), "format": "generic_csv", "source": "gw"}
    data.update(fields)
    with capture(execute=True):
        return client.post("/usage/upload/", data)


@pytest.fixture
def uploaded(role_world, django_capture_on_commit_callbacks):
    """GIVEN finance uploaded a CSV of four rows, two of them bad."""
    world()
    client = signed_in(role_world.user(Role.FINANCE))
    response = upload(client, django_capture_on_commit_callbacks)
    run = IngestionRun.objects.get(origin="file")
    assert response.status_code == 302 and response["Location"] == f"/usage/runs/{run.pk}/"
    return client, run


def test_the_upload_page_starts_a_run_and_its_page_shows_counts_and_rejected_rows(uploaded):
    client, run = uploaded
    assert run.status == "succeeded" and (run.received, run.accepted, run.rejected) == (4, 2, 2)
    page = client.get(run.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert counts == {"received": "4", "accepted": "2", "duplicates": "0", "restated": "0", "rejected": "2"}
    assert "input_tokens must be a whole number ≥ 0" in html and "unknown vendor" in html
    assert "nobody,gpt-4o,2026-03-01T03:00:00Z" in html and "usage.csv" in html
    assert html.count("<textarea") == 2 and 'value="corrected"' in html  # finance corrects
    # the htmx poll answers the live part; a finished run reloads the page once
    poll = client.get(run.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true" and 'id="usage-run-live"' in poll.content.decode()
    assert "<html" not in poll.content.decode()


def test_a_running_run_polls_its_own_page(role_world):
    world()
    client = signed_in(role_world.user(Role.FINANCE))
    run = services.file_upload(
        file=SimpleUploadedFile("usage.csv", CSV.encode()),
        format="generic_csv",
        source=Source.objects.get(slug="gw"),
        actor=role_world.user(Role.FINANCE),
    )  # not committed in this test: the task never runs, the run stays queued
    page = client.get(run.get_absolute_url()).content.decode()
    assert f'hx-get="/usage/runs/{run.pk}/"' in page and "hx-disable" in page
    assert "Rejected rows appear here when the run has finished" in page
    poll = client.get(run.get_absolute_url(), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in poll and f'hx-get="/usage/runs/{run.pk}/"' in poll.content.decode()


def test_finance_corrects_a_row_and_replays_it(uploaded, django_capture_on_commit_callbacks):
    client, run = uploaded
    negative, unknown = run.rejected_rows.order_by("row")
    corrected = negative.raw.replace(",-5,", ",5,")
    data = {
        "mode": "corrected",
        "row": [negative.pk, unknown.pk],
        f"raw-{negative.pk}": corrected.replace("\n", "\r\n"),  # as a browser sends it
        f"raw-{unknown.pk}": unknown.raw,  # unchanged: not replayed
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/usage/runs/{run.pk}/replay/", data)
    replay = IngestionRun.objects.get(origin="replay")
    assert response.status_code == 302 and response["Location"] == replay.get_absolute_url()
    assert replay.replay_of == run and (replay.received, replay.accepted) == (1, 1)
    negative.refresh_from_db()
    assert negative.resolved_by == replay and negative.raw == corrected
    assert UsageRecord.objects.filter(input_tokens=5, model="gpt-4o").exists()

    replay_page = client.get(replay.get_absolute_url()).content.decode()
    assert "1 corrected row(s) sent to replay run" in replay_page and f'href="/usage/runs/{run.pk}/"' in replay_page
    page = client.get(run.get_absolute_url()).content.decode()
    assert f'id="raw-{negative.pk}"' not in page and f'id="raw-{unknown.pk}"' in page
    assert "1 row resolved by replays" in page and f"/usage/runs/{replay.pk}/" in page

    # nothing changed: nothing to replay
    response = client.post(
        f"/usage/runs/{run.pk}/replay/",
        {"mode": "corrected", "row": [unknown.pk], f"raw-{unknown.pk}": unknown.raw},
        follow=True,
    )
    assert "No row was changed" in response.content.decode()
    assert IngestionRun.objects.filter(origin="replay").count() == 1
    # every open row as it is: the unknown vendor still fails and stays open
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/usage/runs/{run.pk}/replay/", {"mode": "all"})
    again = IngestionRun.objects.filter(origin="replay").latest("created_at")
    assert (again.received, again.rejected) == (1, 1)
    assert RejectedRow.objects.get(pk=unknown.pk).resolved_at is None


def test_others_see_rejected_rows_read_only(uploaded, role_world):
    _, run = uploaded
    for role in (Role.AUDITOR, Role.ADMIN, Role.PROCUREMENT):
        client = signed_in(role_world.user(role))
        page = client.get(run.get_absolute_url())
        html = page.content.decode()
        assert page.status_code == 200 and "unknown vendor" in html
        assert "<textarea" not in html and "/replay/" not in html
        assert client.post(f"/usage/runs/{run.pk}/replay/", {"mode": "all"}).status_code == 403
    # people who read no runs see their own only: another's run is not found
    manager = signed_in(role_world.user(Role.DEPARTMENT_MANAGER))
    assert manager.get(run.get_absolute_url()).status_code == 404
    assert manager.get("/usage/runs/").status_code == 200
    assert f"/usage/runs/{run.pk}/" not in manager.get("/usage/runs/").content.decode()


def test_upload_errors_are_shown_beside_the_fields(role_world, django_capture_on_commit_callbacks):
    world()
    client = signed_in(role_world.user(Role.FINANCE))
    response = upload(client, django_capture_on_commit_callbacks, format="request_trace")
    html = response.content.decode()
    assert response.status_code == 200 and not IngestionRun.objects.exists()
    vendor_field = html.split('name="vendor"')[1].split('name="model"')[0]
    assert "Required for request_trace." in vendor_field
    response = upload(
        client,
        django_capture_on_commit_callbacks,
        format="request_trace",
        vendor="openai",
        model="gpt-4o",
        timezone="Mars/Olympus",
    )
    timezone_field = response.content.decode().split('name="timezone"')[1]
    assert "Unknown timezone" in timezone_field.split("</div>")[0] + timezone_field
    response = upload(client, django_capture_on_commit_callbacks, format="nonsense")
    assert "nonsense is not one of the available choices" in response.content.decode()
    response = upload(client, django_capture_on_commit_callbacks, content="")
    assert "The submitted file is empty." in response.content.decode()
    assert not IngestionRun.objects.exists()


def test_a_request_trace_upload_keeps_its_options(role_world, django_capture_on_commit_callbacks):
    world()
    client = signed_in(role_world.user(Role.ADMIN))
    trace = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,4808,10\n"
    response = upload(
        client,
        django_capture_on_commit_callbacks,
        content=trace,
        format="request_trace",
        vendor="openai",
        model="gpt-4o",
        timezone="America/Los_Angeles",
    )
    run = IngestionRun.objects.get()
    assert response.status_code == 302 and run.status == "succeeded" and run.accepted == 1
    assert run.options == {"vendor": "openai", "model": "gpt-4o", "timezone": "America/Los_Angeles"}
    page = client.get(run.get_absolute_url()).content.decode()
    assert "America/Los_Angeles" in page


def test_run_list_filters_sorts_and_exports(uploaded, role_world):
    _, run = uploaded
    client = signed_in(role_world.user(Role.AUDITOR))
    page = client.get("/usage/runs/", {"status": "succeeded", "sort": "-rejected"})
    assert page.status_code == 200 and f"/usage/runs/{run.pk}/" in page.content.decode()
    assert f"/usage/runs/{run.pk}/" not in client.get("/usage/runs/", {"status": "failed"}).content.decode()
    exported = client.get("/usage/runs/", {"_export": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows[0]["Run"] == str(run.pk) and rows[0]["Rejected"] == "2" and rows[0]["File name"] == "usage.csv"


def test_only_ingesting_roles_upload(role_world):
    for role, status in [
        (Role.FINANCE, 200),
        (Role.ADMIN, 200),
        (Role.AUDITOR, 403),
        (Role.PROCUREMENT, 403),
        (Role.DEPARTMENT_MANAGER, 403),
    ]:
        assert signed_in(role_world.user(role)).get("/usage/upload/").status_code == status, role
    assert Client().get("/usage/upload/").status_code == 302


# Attribution rules ------------------------------------------------------------------------------------------


def test_rule_create_edit_delete_reattribute(role_world, django_capture_on_commit_callbacks):
    world()
    token_client(role_world.user(Role.FINANCE)).post(
        "/api/v1/usage/records", [record(0, external_id="k", api_key_id="key-9", input_tokens=7)], format="json"
    )

    def department():
        return UsageRecord.objects.get(external_id="k").department.code

    client = signed_in(role_world.user(Role.FINANCE))
    form = {"priority": "50", "dimension": "api_key_id", "value": "key-9", "department": "T-OUT", "description": ""}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/usage/rules/new/", form, follow=True)
    rule = AttributionRule.objects.get()
    run = JobRun.objects.filter(kind="reattribution").latest("created_at")
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/usage/rules/"
    assert "Records are being re-attributed" in html and f'href="/runs/{run.pk}/"' in html
    assert department() == "T-OUT" and run.status == "succeeded"

    edit = client.get(f"/usage/rules/{rule.pk}/edit/").content.decode()
    assert '<option value="T-OUT" selected>' in edit  # the form starts from the rule's department
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/usage/rules/{rule.pk}/edit/", {**form, "department": "T-IN"}, follow=True)
    second = JobRun.objects.filter(kind="reattribution").latest("created_at")
    assert second != run and f'href="/runs/{second.pk}/"' in response.content.decode()
    assert department() == "T-IN"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/usage/rules/{rule.pk}/delete/", follow=True)
    assert not AttributionRule.objects.exists() and department() == "UNALLOCATED"
    assert "Records are being re-attributed" in response.content.decode()


def test_rule_errors_and_who_changes_rules(role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    response = client.post(
        "/usage/rules/new/", {"priority": "1", "dimension": "colour", "value": "x", "department": "T-IN"}
    )
    assert response.status_code == 200 and "colour is not a dimension" in response.content.decode()
    assert not AttributionRule.objects.exists()
    rule = services.attribution_rule_save(
        actor=None, priority=5, dimension="tag:team", value="search", department=role_world.inside
    )
    page = client.get("/usage/rules/").content.decode()
    assert f"/usage/rules/{rule.pk}/edit/" in page
    auditor = signed_in(role_world.user(Role.AUDITOR))
    listing = auditor.get("/usage/rules/")
    assert listing.status_code == 200 and "tag:team" in listing.content.decode()
    assert f"/usage/rules/{rule.pk}/edit/" not in listing.content.decode()
    assert auditor.get("/usage/rules/new/").status_code == 403
    assert auditor.post(f"/usage/rules/{rule.pk}/delete/").status_code == 403
    assert signed_in(role_world.user(Role.DEPARTMENT_MANAGER)).get("/usage/rules/").status_code == 403


# Sources ----------------------------------------------------------------------------------------------------


SOURCE = {"name": "OpenAI prod", "slug": "openai-prod", "vendor": "openai", "format": "ndjson", "is_active": "on"}


def test_source_create_edit_delete(role_world, uploaded):
    admin = signed_in(role_world.user(Role.ADMIN))
    response = admin.post("/usage/sources/new/", SOURCE)
    assert response.status_code == 302 and response["Location"] == "/usage/sources/openai-prod/"
    source = Source.objects.get(slug="openai-prod")
    assert source.vendor.slug == "openai"
    page = admin.get("/usage/sources/openai-prod/").content.decode()
    assert "OpenAI prod" in page and "Change history" in page and "No runs yet." in page
    edit = admin.get("/usage/sources/openai-prod/edit/").content.decode()
    assert '<option value="openai" selected>' in edit
    response = admin.post("/usage/sources/openai-prod/edit/", {**SOURCE, "name": "OpenAI production"})
    assert response.status_code == 302 and Source.objects.get(slug="openai-prod").name == "OpenAI production"
    duplicate = admin.post("/usage/sources/new/", {**SOURCE, "name": "Again"})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()

    response = admin.post("/usage/sources/openai-prod/delete/")
    assert response.status_code == 302 and not Source.objects.filter(slug="openai-prod").exists()
    # a source with runs stays, with the reason
    _, run = uploaded
    response = admin.post("/usage/sources/gw/delete/", follow=True)
    assert Source.objects.filter(slug="gw").exists() and "deactivate it instead" in response.content.decode()
    detail = admin.get("/usage/sources/gw/").content.decode()
    assert f"/usage/runs/{run.pk}/" in detail


def test_only_administrators_change_sources(role_world):
    world()
    for role in (Role.FINANCE, Role.AUDITOR, Role.PROCUREMENT):
        client = signed_in(role_world.user(role))
        assert client.get("/usage/sources/").status_code == 200
        assert client.get("/usage/sources/gw/").status_code == 200
        assert client.get("/usage/sources/new/").status_code == 403
        assert client.get("/usage/sources/gw/edit/").status_code == 403
        assert client.post("/usage/sources/gw/delete/").status_code == 403
    assert signed_in(role_world.user(Role.DEPARTMENT_MANAGER)).get("/usage/sources/").status_code == 403
    listing = signed_in(role_world.user(Role.FINANCE)).get("/usage/sources/", {"_export": "csv"})
    assert [r["Slug"] for r in csv.DictReader(io.StringIO(listing.content.decode()))] == ["gw"]


def test_menu_links_runs_and_rules(role_world):
    def labels(role):
        return {i["label"] for s in navigation_for(role_world.user(role), "/") for i in s["items"]}

    assert {"Usage", "Ingestion runs", "Attribution rules", "Sources"} <= labels(Role.FINANCE)
    manager = labels(Role.DEPARTMENT_MANAGER)
    assert "Usage" in manager and "Ingestion runs" not in manager and "Attribution rules" not in manager
