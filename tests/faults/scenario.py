"""Set-up steps of the fault tests, run in a subprocess against the private database:
`python -m tests.faults.scenario <step> '<json arguments>'` prints the step's JSON answer on its
last line. The tests themselves only read the database (plain SQL) and talk to real processes."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta


def ingestion_upload(rows: int) -> dict:
    """A generic CSV of `rows` distinct minute buckets, uploaded as finance would: a queued run
    whose task is sent to the broker when the upload commits."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.models import User
    from core.roles import Role
    from usage.services import file_upload
    from usage.tests.factories import world

    _, source = world()
    finance = User.objects.create(username="fin", role=Role.FINANCE)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    lines = ["vendor,model,bucket_start,input_tokens,output_tokens"]
    for i in range(rows):
        at = start + timedelta(minutes=i)
        lines.append(f"openai,gpt-4o,{at:%Y-%m-%dT%H:%M:00Z},{1000 + i},{i % 500}")
    upload = SimpleUploadedFile("minutes.csv", "\n".join(lines).encode())
    run = file_upload(file=upload, format="generic_csv", source=source, actor=finance)
    expected_input = sum(1000 + i for i in range(rows))
    expected_output = sum(i % 500 for i in range(rows))
    return {"run": run.pk, "input_tokens": expected_input, "output_tokens": expected_output}


def api_client(username: str = "feeder") -> dict:
    """A finance user with a write token, the vendor and the source the API tests push to."""
    from accounts.models import User
    from accounts.services import api_token_create
    from core.roles import Role
    from usage.tests.factories import world

    world()
    user = User.objects.create(username=username, role=Role.FINANCE)
    _, secret = api_token_create(user=user, name="faults", scope="write", expires_days=1)
    return {"token": secret}


def invoices_issue_run(departments: int) -> dict:
    """March 2026's usage for `departments` departments, the month closed and its invoices drafted;
    then a bulk issue run queued (its task sent when it commits). Returns the run and each
    department's draft total (what its issued invoice must say)."""
    from datetime import date

    from accounts.models import User
    from billing.models import Invoice
    from billing.services.invoices import invoices_generate, invoices_issue_start
    from billing.services.periods import period_close
    from core.roles import Role
    from procurement.models import Department
    from usage.services import records_ingest
    from usage.tests.factories import world

    world()
    finance = User.objects.create(username="fin", role=Role.FINANCE)
    records = []
    for d in range(departments):
        code = f"D{d:02d}"
        Department.objects.create(code=code, name=f"Department {d}")
        for day in range(1, 4):
            records.append(
                {
                    "external_id": f"{code}-{day}",
                    "source": "gw",
                    "vendor": "openai",
                    "model": "gpt-4o",
                    "bucket_start": f"2026-03-{day:02d}T10:00:00Z",
                    "input_tokens": 1_000_000 * (d + 1) + day,
                    "output_tokens": 50_000 * (day + d),
                    "department": code,
                }
            )
    _, result = records_ingest(records=list(enumerate(records)), actor=finance)
    assert result.counts["accepted"] == len(records), result.counts
    month = date(2026, 3, 1)
    period_close(month=month, actor=finance, acknowledge_unrated=True, acknowledge_unallocated=True)
    invoices_generate(month=month, actor=finance)
    totals = {
        code: str(total)
        for code, total in Invoice.objects.filter(period=month, kind="invoice").values_list("department__code", "total")
    }
    run = invoices_issue_start(month=month, actor=finance)
    return {"run": run.pk, "totals": totals}


def report_send_run(departments: int, company_readers: int, managers_per_department: int) -> dict:
    """`company_readers` finance and procurement users (the company's pack) and `departments`
    departments with `managers_per_department` managers each (one pack per department), all with
    an email address; then finance's "send now" of March 2026 (its task sent when it commits).
    Returns the run and every address a pack is due to."""
    from datetime import date

    from accounts.models import User
    from accounts.services import user_create_or_update
    from core.roles import Role
    from insights.services.reports import reports_send_start
    from procurement.models import Department

    readers = []
    for i in range(company_readers):
        role = Role.FINANCE if i % 2 == 0 else Role.PROCUREMENT
        readers.append(User.objects.create(username=f"reader{i}", role=role, email=f"reader{i}@example.com"))
    addresses = [user.email for user in readers]
    for d in range(departments):
        code = f"D{d:02d}"
        Department.objects.create(code=code, name=f"Department {d}")
        for m in range(managers_per_department):
            manager, _ = user_create_or_update(
                username=f"manager{d}-{m}",
                role=Role.DEPARTMENT_MANAGER,
                email=f"manager{d}-{m}@example.com",
                departments=[code],
                password="fault-tests-only-Password-1",
                validate_new_password=False,
            )
            addresses.append(manager.email)
    run = reports_send_start(period=date(2026, 3, 1), actor=readers[0], today=date(2026, 11, 1))
    return {"run": run.pk, "addresses": addresses}


STEPS = {
    "ingestion_upload": ingestion_upload,
    "api_client": api_client,
    "invoices_issue_run": invoices_issue_run,
    "report_send_run": report_send_run,
}


def main() -> None:
    import django

    django.setup()
    step = STEPS[sys.argv[1]]
    kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(step(**kwargs)))


if __name__ == "__main__":
    main()
