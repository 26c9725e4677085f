"""FOCUS 1.0–1.2 CSV uploads (`focus_csv`) become vendor cost lines, exactly as the file states
them: the real FOCUS sample (1 000 rows, AWS / Microsoft / Oracle), the specification's examples,
and small inline files that run without ../shared/data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum

from core.roles import Role
from core.testing import SHARED_DATA, token_client
from procurement.models import Vendor
from procurement.services import vendor_save
from usage.models import IngestionRun, RejectedRow, Source, UsageRecord, VendorCostLine
from usage.pipeline.feeds import FeedOptions, feed_for
from usage.pipeline.feeds.focus import REQUIRED
from usage.pipeline.formats import Unreadable

pytestmark = pytest.mark.django_db
DATA = SHARED_DATA
SAMPLE = DATA / "focus-sample-1.0" / "focus_sample.csv"
EXAMPLES = DATA / "focus-spec-examples"
needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="../shared/data is not on this machine")
needs_examples = pytest.mark.skipif(not EXAMPLES.exists(), reason="../shared/data is not on this machine")


def cloud(slug: str, name: str, aliases: list[str]) -> Vendor:
    return vendor_save(
        actor=None, slug=slug, name=name, kind="cloud", country="US", billing_currency="USD", aliases=aliases
    )


@pytest.fixture
def focus(role_world, django_capture_on_commit_callbacks):
    """Upload a FOCUS file to a multi-vendor source as finance; replay a run's rejected rows."""
    Source.objects.create(slug="focus", name="FOCUS exports", format="focus_csv")
    client = token_client(role_world.user(Role.FINANCE))

    def upload(content: bytes | str, name: str = "focus.csv", source: str = "focus") -> dict:
        data = content.encode() if isinstance(content, str) else content
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/api/v1/usage/files",
                {"file": SimpleUploadedFile(name, data), "format": "focus_csv", "source": source},
                format="multipart",
            )
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    def replay(run_id: int, body: dict | None = None) -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/usage/runs/{run_id}/replay/", body or {}, format="json")
        assert response.status_code == 202, response.content
        return client.get(f"/api/v1/usage/runs/{response.json()['run']}/").json()

    def rejected(run_id: int) -> list[dict]:
        return client.get(f"/api/v1/usage/runs/{run_id}/rejected/", {"page_size": 1000}).json()["results"]

    upload.replay, upload.rejected, upload.client = replay, rejected, client
    return upload


HEADER = (
    "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,"
    "ChargeCategory,ChargeDescription,ProviderName,ServiceName,ConsumedQuantity,ConsumedUnit,SubAccountId,Tags"
)


def focus_csv(*rows: str, header: str = HEADER, bom: bool = False) -> str:
    return ("\ufeff" if bom else "") + "\n".join([header, *rows]) + "\n"


def data_rows(text: str) -> int:
    return sum(1 for values in list(csv.reader(io.StringIO(text)))[1:] if any(v.strip() for v in values))


# The real FOCUS 1.0 sample --------------------------------------------------------------------------------------


@needs_sample
def test_real_sample_becomes_1000_exact_cost_lines_and_a_reupload_changes_nothing(focus):
    """GIVEN vendors known as AWS, Microsoft and Oracle, WHEN the FOCUS sample is uploaded, THEN
    every row is a cost line whose costs are the file's text exactly, and they sum exactly."""
    aws = cloud("aws", "Amazon Web Services", ["AWS"])
    azure = cloud("azure", "Microsoft Azure", ["Microsoft"])
    oci = cloud("oci", "Oracle Cloud", ["Oracle"])
    text = SAMPLE.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1000

    run = focus(SAMPLE.read_bytes(), "focus_sample.csv")
    assert run["status"] == "succeeded", run["message"]
    assert (run["received"], run["accepted"], run["rejected"]) == (1000, 1000, 0)
    assert run["result"]["cost_lines"] == 1000
    lines = VendorCostLine.objects.filter(run_id=run["id"])
    assert {v: lines.filter(vendor=v).count() for v in (aws, azure, oci)} == {aws: 942, azure: 51, oci: 7}
    assert UsageRecord.objects.count() == 0  # a cost feed stores no usage

    by_id = {line.dimensions["Id"]: line for line in lines}
    assert len(by_id) == 1000
    for row in rows:
        line = by_id[row["Id"]]
        assert format(line.amount, "f") == row["BilledCost"] == line.amount_as_given
        assert format(line.billed_cost, "f") == row["BilledCost"]
        assert format(line.effective_cost, "f") == row["EffectiveCost"]
        assert format(line.list_cost, "f") == row["ListCost"]
        contracted = None if row["ContractedCost"] == "NULL" else row["ContractedCost"]
        assert (None if line.contracted_cost is None else format(line.contracted_cost, "f")) == contracted
        assert line.charge_category == row["ChargeCategory"] and line.currency == row["BillingCurrency"]
        assert line.period_start == datetime.fromisoformat(row["ChargePeriodStart"]).replace(tzinfo=UTC)

    for column, field in (("BilledCost", "amount"), ("EffectiveCost", "effective_cost"), ("ListCost", "list_cost")):
        expected = sum(Decimal(row[column]) for row in rows)
        assert lines.aggregate(total=Sum(field))["total"] == expected
    assert lines.aggregate(total=Sum("amount"))["total"] == Decimal("20.52022672899")

    first = by_id["11472"]  # the file's first row: $0.40 per million SQS requests, 2 requests
    assert format(first.amount, "f") == "0.00000080000" and format(first.quantity, "f") == "2.000000000000000"
    assert first.line_item == "Amazon Simple Queue Service" and first.quantity_unit == "Requests"
    assert "AvailabilityZone" not in first.dimensions  # NULL
    tagged = by_id["19384"]
    assert tagged.dimensions["Tags"] == {
        "application": "BrightLensMatrix",
        "environment": "dev",
        "business_unit": "ViennaAI",
    }
    credit = lines.get(charge_category="Credit")
    assert format(credit.amount, "f") == "-2.61370000000" and format(credit.effective_cost, "f") == "-3.00000000000"

    api = focus.client.get("/api/v1/vendor-cost-lines/", {"vendor": "oci", "page_size": 1000}).json()
    assert api["count"] == 7 and {r["amount"] for r in api["results"]} <= {r["BilledCost"] for r in rows}

    again = focus(SAMPLE.read_bytes(), "focus_sample.csv")
    assert (again["accepted"], again["duplicates"], again["restated"], again["rejected"]) == (0, 1000, 0, 0)
    assert VendorCostLine.objects.count() == 1000


@needs_sample
def test_sample_rows_of_unknown_providers_are_kept_then_replayed_after_an_alias(focus):
    """GIVEN no vendor known as AWS, WHEN the sample is uploaded, THEN its 942 AWS rows are rejected
    with the add-an-alias reason; after the alias, a replay without a body takes them all."""
    amazon = cloud("amazon", "Amazon Web Services", [])
    cloud("azure", "Microsoft Azure", ["Microsoft"])
    cloud("oci", "Oracle Cloud", ["Oracle"])
    run = focus(SAMPLE.read_bytes(), "focus_sample.csv")
    assert run["status"] == "succeeded", run["message"]
    assert (run["received"], run["accepted"], run["rejected"]) == (1000, 58, 942)
    kept = focus.rejected(run["id"])
    assert len(kept) == 942
    assert kept[0]["row"] == 2  # the file's line: the header is line 1
    assert kept[0]["reasons"] == ["no vendor is known as 'AWS': add it as an alias of a vendor, then replay this row"]

    vendor_save(vendor=amazon, actor=None, aliases=["AWS"])
    replay = focus.replay(run["id"])
    assert replay["status"] == "succeeded", replay["message"]
    assert (replay["received"], replay["accepted"], replay["rejected"]) == (942, 942, 0)
    assert focus.rejected(run["id"]) == []
    assert VendorCostLine.objects.filter(vendor=amazon).count() == 942
    assert VendorCostLine.objects.aggregate(total=Sum("amount"))["total"] == Decimal("20.52022672899")
    assert RejectedRow.objects.filter(run_id=run["id"], resolved_at__isnull=False).count() == 942


# The specification's examples -----------------------------------------------------------------------------------


@needs_examples
def test_every_spec_example_is_accounted_for(focus):
    """Each example either loads with every data row accepted or rejected, or — when it lacks a
    column every cost line needs (the commitment-discount fragments have no ProviderName or
    BillingCurrency) — fails its run with a message naming the columns."""
    cloud("acme", "ACMECORP", ["Acme Co"])
    files = sorted(EXAMPLES.rglob("*.csv"))
    assert len(files) == 26  # SOURCE.txt and the licence besides
    loaded = failed = 0
    for path in files:
        text = path.read_bytes().decode("utf-8-sig")
        header = [h.strip() for h in next(csv.reader(io.StringIO(text)))]
        missing = [c for c in REQUIRED if c not in header] + (["ProviderName"] if "ProviderName" not in header else [])
        # each example on its own source: some describe the same charge at other prices (a1 / b1),
        # which on one source would be restatements of each other
        source = Source.objects.create(slug=f"ex-{len(files)}-{loaded + failed}", name=path.stem, format="focus_csv")
        run = focus(path.read_bytes(), path.name, source.slug)
        if missing:
            failed += 1
            assert run["status"] == "failed", path.name
            assert all(column in run["message"] for column in missing), (path.name, run["message"])
            continue
        loaded += 1
        assert run["status"] == "succeeded", (path.name, run["message"])
        rows = data_rows(text)
        assert run["received"] == rows and run["accepted"] + run["duplicates"] + run["rejected"] == rows, path.name
    assert (loaded, failed) == (15, 11)

    # Spreadsheet-formatted money is not guessed at; plain decimals keep their scale.
    dollar = IngestionRun.objects.get(file_name="simple_saas_agreements_a1.csv")
    reasons = RejectedRow.objects.get(run=dollar).reasons
    assert any("BilledCost '$10,000.00' is not a decimal number" in r for r in reasons)
    tokens = VendorCostLine.objects.get(
        description="Token Purchase For Period 1", run__file_name__startswith="virtual_currency_pricing_model_a1"
    )
    assert format(tokens.amount, "f") == "200000.00" and tokens.charge_category == "Purchase"
    assert tokens.period_start == datetime(2025, 4, 1, tzinfo=UTC) and tokens.period_end == datetime(
        2026, 4, 1, tzinfo=UTC
    )
    assert tokens.dimensions["PricingCurrency"] == "USD"


# Inline files (no shared data needed) ----------------------------------------------------------------------------


def test_nulls_bom_us_dates_iso_offsets_and_tags(focus):
    cloud("acme-cloud", "Acme Cloud", ["ACME"])
    text = focus_csv(
        "0.00000080000,NULL,0.00000080000,NULL,USD,2024-09-18 22:00:00,2024-09-18 23:00:00,Usage,SQS,ACME,Queue,"
        '2.000000000000000,Requests,NULL,"{""team"": ""search""}"',
        "48,48,60,,USD,5/1/25,6/1/25,Usage,Monthly,ACME,DB,4,Server Hours,,",
        "1.5,1.5,1.5,null,usd,2023-01-01T08:00:00+08:00,2023-01-01T01:00:00Z,Tax,VAT,ACME,,,,acct-1,not json",
        bom=True,
    )
    run = focus(text)
    assert run["status"] == "succeeded", run["message"]
    assert (run["received"], run["accepted"], run["rejected"]) == (3, 3, 0)
    sqs, monthly, tax = (VendorCostLine.objects.get(description=d) for d in ("SQS", "Monthly", "VAT"))
    assert format(sqs.amount, "f") == "0.00000080000" and sqs.effective_cost is None and sqs.contracted_cost is None
    assert sqs.period_start == datetime(2024, 9, 18, 22, tzinfo=UTC)  # no offset: UTC
    assert sqs.dimensions == {"ProviderName": "ACME", "Tags": {"team": "search"}}
    assert monthly.period_start == datetime(2025, 5, 1, tzinfo=UTC) and monthly.period_end == datetime(
        2025, 6, 1, tzinfo=UTC
    )
    assert format(monthly.list_cost, "f") == "60" and format(monthly.quantity, "f") == "4"
    assert tax.period_start == datetime(2023, 1, 1, 0, tzinfo=UTC) and tax.currency == "USD"
    assert tax.charge_category == "Tax" and tax.line_item == "" and tax.dimensions["Tags"] == "not json"
    assert tax.dimensions["SubAccountId"] == "acct-1"


def test_unreadable_rows_are_kept_with_reasons_naming_the_column(focus):
    cloud("acme-cloud", "Acme Cloud", ["ACME"])
    text = focus_csv(
        "1.00,1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,ok,ACME,Svc,,,,",
        '"$10,000.00 ",1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,dollar,ACME,Svc,,,,',
        "1.00,abc,1.00,,USD,2025-01-01,2025-01-02,Usage,effective,ACME,Svc,,,,",
        "NULL,1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,no billed cost,ACME,Svc,,,,",
        "1.00,1.00,1.00,,USD,2023-02-01T30:00:00Z,2025-01-02,Usage,hour 30,ACME,Svc,,,,",
        "1.00,1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,short row",
        "1.00,1.00,1.00,,XYZ,2025-01-01,2025-01-02,Usage,currency,ACME,Svc,,,,",
        "1.00,1.00,1.00,,USD,2025-01-02,2025-01-01,Usage,backwards,ACME,Svc,,,,",
    )
    run = focus(text)
    assert (run["received"], run["accepted"], run["rejected"]) == (8, 1, 7)
    reasons = {row["row"]: " ".join(row["reasons"]) for row in focus.rejected(run["id"])}
    assert "BilledCost '$10,000.00' is not a decimal number" in reasons[3]
    assert "EffectiveCost 'abc' is not a decimal number" in reasons[4]
    assert "BilledCost is empty" in reasons[5]
    assert "ChargePeriodStart '2023-02-01T30:00:00Z' is not a date and time" in reasons[6]
    assert "9 columns where the header has 15" in reasons[7]
    assert "currency 'XYZ' is not an ISO 4217 code" in reasons[8]
    assert "period_end is before period_start" in reasons[9]

    # corrected text replays: the kept row is the CSV line, read with the run's header
    row = next(r for r in focus.rejected(run["id"]) if r["row"] == 3)
    fixed = row["raw"].replace('"$10,000.00 "', "10000.00")
    replay = focus.replay(run["id"], {"rows": [{"id": row["id"], "raw": fixed}]})
    assert (replay["accepted"], replay["rejected"]) == (1, 0)
    assert format(VendorCostLine.objects.get(description="dollar").amount, "f") == "10000.00"


def test_identical_rows_are_two_lines_a_reupload_duplicates_both_and_a_reexport_restates(focus):
    cloud("acme-cloud", "Acme Cloud", ["ACME"])
    same = "0.50,0.50,0.50,,USD,2025-01-01,2025-01-02,Usage,twin,ACME,Svc,1,Hour,,"
    other = "2.00,2.00,2.00,,USD,2025-01-01,2025-01-02,Usage,single,ACME,Svc,1,Hour,,"
    first = focus(focus_csv(same, same, other))
    assert (first["accepted"], first["duplicates"]) == (3, 0)
    assert VendorCostLine.objects.filter(description="twin").count() == 2

    again = focus(focus_csv(same, same, other), "again.csv")
    assert (again["accepted"], again["duplicates"], again["restated"]) == (0, 3, 0)

    # the provider re-exports the month: the second twin and the single line cost more now
    changed = focus(
        focus_csv(same, same.replace("0.50,0.50", "0.75,0.50"), other.replace("2.00,", "2.10,", 1)), "re.csv"
    )
    assert (changed["accepted"], changed["duplicates"], changed["restated"]) == (0, 1, 2)
    single = VendorCostLine.objects.get(description="single")
    assert format(single.amount, "f") == "2.10" and single.version == 2 and single.run_id == changed["id"]
    assert single.superseded[0]["amount"] == "2.00" and single.superseded[0]["run"] == first["id"]
    assert sorted(format(line.amount, "f") for line in VendorCostLine.objects.filter(description="twin")) == [
        "0.50",
        "0.75",
    ]
    listed = focus.client.get("/api/v1/vendor-cost-lines/", {"ordering": "-amount"}).json()["results"]
    assert (
        listed[0]["amount"] == "2.10" and listed[0]["version"] == 2 and listed[0]["superseded"][0]["amount"] == "2.00"
    )


def test_a_replayed_twin_keeps_its_identity(focus):
    """GIVEN two identical rows of an unknown provider, WHEN they are replayed after the alias,
    THEN both become lines (the second is not taken for a duplicate of the first)."""
    vendor = cloud("acme-cloud", "Acme Cloud", [])
    same = "0.50,0.50,0.50,,USD,2025-01-01,2025-01-02,Usage,twin,ACME,Svc,,,,"
    run = focus(focus_csv(same, same))
    assert run["rejected"] == 2
    assert IngestionRun.objects.get(pk=run["id"]).options["repeats"] == {"3": 1}
    vendor_save(vendor=vendor, actor=None, aliases=["ACME"])
    replay = focus.replay(run["id"])
    assert (replay["accepted"], replay["duplicates"], replay["rejected"]) == (2, 0, 0)
    assert VendorCostLine.objects.filter(description="twin").count() == 2
    assert focus(focus_csv(same, same), "again.csv")["duplicates"] == 2


def test_focus_1_3_service_provider_name(focus):
    cloud("acme-cloud", "Acme Cloud", ["ACME"])
    header = HEADER.replace("ProviderName", "ServiceProviderName")
    run = focus(focus_csv("1.00,1.00,1.00,,EUR,2025-01-01,2025-01-02,Usage,x,ACME,Svc,,,,", header=header))
    assert run["accepted"] == 1 and VendorCostLine.objects.get().currency == "EUR"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"data": [{"date": "2025-08-24"}]}', "lacks the FOCUS column(s) ProviderName, BilledCost"),
        (b"1.00,USD,2025-01-01,2025-01-02,Usage,AWS\n2.00,USD,2025-01-01,2025-01-02,Usage,AWS\n", "lacks the FOCUS"),
        (HEADER.replace(",BillingCurrency", "").encode() + b"\n", "lacks the FOCUS column(s) BillingCurrency"),
        (HEADER.encode() + b'\n1.00,"' + b"x" * 200_000 + b'"\n', "cannot be read"),
        (b"\n\n", "empty or has no header"),
    ],
    ids=["json", "no-header", "missing-column", "huge-cell", "blank"],
)
def test_garbage_fails_the_run_with_a_message(focus, content, message):
    cloud("aws", "Amazon Web Services", ["AWS"])
    run = focus(content, "garbage.csv")
    assert run["status"] == "failed" and message in run["message"], run["message"]
    assert VendorCostLine.objects.count() == 0


def test_parser_numbers_rows_by_file_line_and_accounts_for_every_row():
    """Rows are numbered by the line they start on (a quoted cell may span lines; blank lines are
    skipped but counted), and each non-blank row gives exactly one item."""
    feed = feed_for("focus_csv")
    text = focus_csv(
        '1.00,1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,"two\nlines",ACME,Svc,,,,',
        "",
        "bad,1.00,1.00,,USD,2025-01-01,2025-01-02,Usage,x,ACME,Svc,,,,",
    )
    kept = feed.prepare(text, FeedOptions())
    items = list(feed.rows(text, FeedOptions(options=kept)))
    assert [number for number, _ in items] == [2, 5]
    assert items[0][1]["description"] == "two\nlines" and isinstance(items[1][1], Unreadable)
    again = feed.row(items[0][1].raw, FeedOptions(options=kept), 2)
    assert dict(again) == dict(items[0][1])
