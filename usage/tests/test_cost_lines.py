"""Vendor cost lines: `GET vendor-cost-lines/` (exact amounts, filters, ordering, the role
matrix) and the cost lines page (list, filters, CSV / XLSX export, menu, the run page's link)."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.test import Client

from core.models import JobRun
from core.navigation import navigation_for
from core.roles import Role
from core.testing import APIResourceContract, assert_error_shape, token_client
from procurement.models import Vendor
from procurement.services import vendor_save
from usage.models import IngestionRun, Source, VendorCostLine

pytestmark = pytest.mark.django_db
URL = "/api/v1/vendor-cost-lines/"
PAGE = "/usage/cost-lines/"


def vendor(slug: str) -> Vendor:
    return Vendor.objects.filter(slug=slug).first() or vendor_save(
        actor=None, slug=slug, name=slug.upper(), kind="cloud", country="US", billing_currency="USD", aliases=[]
    )


def source(slug: str = "focus") -> Source:
    return Source.objects.get_or_create(slug=slug, defaults={"name": slug.title(), "format": "focus_csv"})[0]


def run_for(src: Source) -> IngestionRun:
    return IngestionRun.objects.create(
        kind="ingestion", status=JobRun.Status.SUCCEEDED, format=src.format, source=src, origin="file"
    )


def line(*, vendor_slug="aws", src=None, run=None, start="2024-09-18T22:00:00", amount="0.00000080000", **values):
    src = src or source()
    begins = datetime.fromisoformat(start).replace(tzinfo=UTC)
    fields = {
        "key": os.urandom(16),
        "content": os.urandom(16),
        "source": src,
        "run": run,
        "vendor": vendor(vendor_slug),
        "feed": src.format,
        "period_start": begins,
        "period_end": begins.replace(hour=23) if begins.hour < 23 else begins,
        "description": "SQS requests",
        "line_item": "Amazon Simple Queue Service",
        "charge_category": "Usage",
        "amount": Decimal(amount),
        "amount_as_given": amount,
        "currency": "USD",
        "billed_cost": Decimal(amount),
        "effective_cost": None,
        "list_cost": Decimal(amount),
    }
    fields.update(values)
    return VendorCostLine.objects.create(**fields)


@pytest.fixture
def lines(role_world):
    """GIVEN lines of two vendors, two sources and two runs over September and October 2024."""
    focus, openai = source("focus"), source("openai-costs")
    openai.format = "openai_costs"
    openai.save()
    focus_run, openai_run = run_for(focus), run_for(openai)
    return {
        "sqs": line(run=focus_run),
        "credit": line(
            run=focus_run,
            start="2024-09-30T23:00:00",
            amount="-2.61370000000",
            charge_category="Credit",
            description="Promotional credit",
            effective_cost=Decimal("-3.00000000000"),
        ),
        "october": line(run=focus_run, start="2024-10-01T00:00:00", amount="12.5", line_item="EC2"),
        "gpt": line(
            vendor_slug="openai",
            src=openai,
            run=openai_run,
            start="2024-09-15T00:00:00",
            amount="0.06",
            currency="EUR",
            feed="openai_costs",
            model="gpt-4o",
            line_item="gpt-4o, input",
            description="gpt-4o, input",
            list_cost=None,
            billed_cost=None,
        ),
        "runs": (focus_run, openai_run),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# The API -------------------------------------------------------------------------------------------------------


def test_fields_are_exact_strings_never_exponents(lines, role_world):
    client = token_client(role_world.user(Role.AUDITOR), scope="read")
    body = client.get(f"{URL}{lines['sqs'].pk}/").json()
    assert body["amount"] == "0.00000080000" and body["billed_cost"] == "0.00000080000"
    assert body["effective_cost"] is None and body["contracted_cost"] is None and body["quantity"] is None
    assert body["vendor"] == "aws" and body["source"] == "focus" and body["run"] == lines["runs"][0].pk
    assert body["period_start"] == "2024-09-18T22:00:00Z" and body["feed"] == "focus_csv"
    assert set(body) == {
        "id", "vendor", "period_start", "period_end", "description", "model", "line_item", "charge_category",
        "amount", "amount_as_given", "amount_unit", "currency", "billed_cost", "effective_cost", "list_cost",
        "contracted_cost", "quantity", "quantity_unit", "project_id", "api_key_id", "workspace_id", "dimensions",
        "source", "run", "feed", "version", "superseded", "created_at", "updated_at",
    }  # fmt: skip
    credit = client.get(f"{URL}{lines['credit'].pk}/").json()
    assert (credit["amount"], credit["effective_cost"]) == ("-2.61370000000", "-3.00000000000")
    listed = client.get(URL, {"page_size": 1000}).json()
    assert listed["count"] == 4 and {r["amount"] for r in listed["results"]} == {
        "0.00000080000",
        "-2.61370000000",
        "12.5",
        "0.06",
    }


def test_filters(lines, role_world):
    client = token_client(role_world.user(Role.FINANCE), scope="read")
    sqs, credit, october, gpt = (lines[k].pk for k in ("sqs", "credit", "october", "gpt"))
    focus_run, openai_run = lines["runs"]
    assert ids(client.get(URL, {"vendor": "aws"})) == {sqs, credit, october}
    # start inclusive, end exclusive, by the period's start (UTC dates)
    assert ids(client.get(URL, {"start": "2024-09-01", "end": "2024-10-01"})) == {sqs, credit, gpt}
    assert ids(client.get(URL, {"start": "2024-10-01"})) == {october}
    assert ids(client.get(URL, {"start": "2024-09-18", "end": "2024-09-19"})) == {sqs}
    assert ids(client.get(URL, {"vendor": "aws", "end": "2024-09-30"})) == {sqs}
    assert ids(client.get(URL, {"source": "openai-costs"})) == {gpt}
    assert ids(client.get(URL, {"run": focus_run.pk})) == {sqs, credit, october}
    assert ids(client.get(URL, {"run": openai_run.pk})) == {gpt}
    assert ids(client.get(URL, {"charge_category": "Credit"})) == {credit}
    assert ids(client.get(URL, {"charge_category": "Tax"})) == set()
    assert ids(client.get(URL, {"currency": "eur"})) == {gpt}
    assert ids(client.get(URL, {"model": "gpt-4o"})) == {gpt}
    assert ids(client.get(URL, {"feed": "openai_costs"})) == {gpt}
    ordered = client.get(URL, {"ordering": "amount"}).json()["results"]
    assert [r["id"] for r in ordered] == [credit, sqs, gpt, october]
    newest_first = client.get(URL).json()["results"]
    assert [r["id"] for r in newest_first] == [october, credit, sqs, gpt]
    for bad in ({"start": "yesterday"}, {"vendor": "nobody"}, {"feed": "csv"}, {"run": "x"}):
        response = client.get(URL, bad)
        assert response.status_code == 400, bad
        assert_error_shape(response)


def test_list_query_count_does_not_grow_with_lines(lines, role_world, django_assert_max_num_queries):
    for i in range(30):
        line(start=f"2024-09-{1 + i % 28:02d}T01:00:00")
    client = token_client(role_world.user(Role.FINANCE), scope="read")
    with django_assert_max_num_queries(6):  # the token, its user, count, page (vendor and source joined)
        assert client.get(URL, {"page_size": 100}).json()["count"] == 34


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_roles(lines, role_world, role):
    response = token_client(role_world.user(role), scope="read").get(URL)
    allowed = role in (Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR)
    assert response.status_code == (200 if allowed else 403)
    if not allowed:
        assert_error_shape(response)
    writer = token_client(role_world.user(role))  # read-only for everyone
    assert writer.post(URL, {}, format="json").status_code == 405
    assert writer.delete(f"{URL}{lines['sqs'].pk}/").status_code == 405


class TestVendorCostLineAPI(APIResourceContract):
    """Read-only: list and retrieve per role (managers and service accounts get 403)."""

    resource = "vendor_cost_line"
    basename = "vendorcostline"
    supports_create = supports_update = supports_delete = False

    def make_object(self, world, department):
        return line()


# The page ------------------------------------------------------------------------------------------------------


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_page_lists_filters_and_shows_exact_amounts(lines, role_world):
    client = signed_in(role_world.user(Role.PROCUREMENT))
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Vendor cost lines" in page
    assert "0.00000080000</span> USD" in page and "-2.61370000000</span> USD" in page and "0.06</span> EUR" in page
    assert "8.0000E-7" not in page
    assert f'href="/usage/runs/{lines["runs"][0].pk}/"' in page and 'href="/usage/sources/focus/"' in page
    for name in ("vendor", "start", "end", "charge_category", "source"):
        assert f'name="{name}"' in page

    filtered = client.get(PAGE, {"vendor": "openai"}).content.decode()
    assert "0.06</span> EUR" in filtered and "0.00000080000" not in filtered
    dated = client.get(PAGE, {"start": "2024-10-01", "end": "2024-11-01"}).content.decode()
    assert "12.5</span> USD" in dated and "0.06" not in dated
    credit = client.get(PAGE, {"charge_category": "Credit", "source": "focus"}).content.decode()
    assert "-2.61370000000" in credit and "0.00000080000" not in credit
    assert client.get(PAGE, {"sort": "-amount"}).status_code == 200


def test_export_csv_and_xlsx_hold_the_exact_text(lines, role_world):
    client = signed_in(role_world.user(Role.FINANCE))
    response = client.get(PAGE, {"vendor": "aws", "sort": "amount", "_export": "csv"})
    assert response.status_code == 200 and "vendor_cost_lines.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["Amount"] for r in rows] == ["-2.61370000000", "0.00000080000", "12.5"]
    assert {r["Vendor"] for r in rows} == {"aws"} and {r["Currency"] for r in rows} == {"USD"}
    credit = rows[0]
    assert credit["Effective"] == "-3.00000000000" and credit["Billed"] == "-2.61370000000"
    assert credit["Period (UTC)"] == "2024-09-30T23:00:00+00:00" and credit["Description"] == "Promotional credit"
    assert rows[1]["Effective"] == "" and rows[1]["Run"] == str(lines["runs"][0].pk)
    assert rows[1]["Line item"] == "Amazon Simple Queue Service" and rows[1]["Source"] == "focus"

    xlsx = client.get(PAGE, {"vendor": "openai", "_export": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    header, *values = list(sheet.values)
    assert values[0][header.index("Amount")] == "0.06" and values[0][header.index("Currency")] == "EUR"


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_page_and_menu_follow_the_policy(lines, role_world, role):
    user = role_world.user(role)
    allowed = role in (Role.ADMIN, Role.PROCUREMENT, Role.FINANCE, Role.AUDITOR)
    assert signed_in(user).get(PAGE).status_code == (200 if allowed else 403)
    labels = [item["label"] for section in navigation_for(user, PAGE) for item in section["items"]]
    assert ("Vendor cost lines" in labels) == allowed
    if allowed:
        active = [item for section in navigation_for(user, PAGE) for item in section["items"] if item["active"]]
        assert [item["label"] for item in active] == ["Vendor cost lines"]


def test_run_page_links_its_cost_lines(lines, role_world):
    focus_run = lines["runs"][0]
    page = signed_in(role_world.user(Role.FINANCE)).get(f"/usage/runs/{focus_run.pk}/").content.decode()
    assert f'href="/usage/cost-lines/?run={focus_run.pk}">3 cost lines</a>' in page
    listed = signed_in(role_world.user(Role.FINANCE)).get(PAGE, {"run": focus_run.pk}).content.decode()
    assert "12.5</span>" in listed and "0.06</span>" not in listed
