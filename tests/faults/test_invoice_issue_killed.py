"""A worker killed in the middle of issuing a month's invoices in bulk: after a new worker starts,
every department's invoice is issued exactly once, with its total, under gapless numbers."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.celery_worker import wait_for

from .test_worker_killed import REDELIVERY

pytestmark = [pytest.mark.worker, pytest.mark.slow]

DEPARTMENTS = 12


def test_bulk_invoice_issue_completes_exactly_once_after_its_worker_is_killed(stack):
    """GIVEN 12 departments' drafted March invoices and a bulk issue run (chunks of 8 invoices,
    each invoice issued in its own transaction and its PDF rendered)
    WHEN the worker is killed after some invoices are issued and before all are
    THEN a new worker finishes the run: each department has exactly one invoice, issued once,
    its total unchanged, and the numbers are CB-2026-000001 … 000012 without gaps or repeats."""
    issued = "select count(*) from billing_invoice where status = 'issued'"
    first = stack.worker("first", **REDELIVERY)  # starts during the set-up
    try:
        setup = stack.scenario("invoices_issue_run", departments=DEPARTMENTS)
        run_id, totals = setup["run"], setup["totals"]
        assert len(totals) == DEPARTMENTS
        at_kill = wait_for(
            lambda: 1 <= stack.scalar(issued) < DEPARTMENTS and stack.scalar(issued),
            timeout=90,
            interval=0.02,
            what="the first worker never issued part of the month",
            log=first.log_tail,
        )
        first.kill()
        killed = time.monotonic()
    finally:
        first.stop()
    after_kill = stack.scalar(issued)
    assert after_kill < DEPARTMENTS, "the worker finished before it was killed"

    second = stack.worker("second", **REDELIVERY)
    try:
        stack.wait_for_run(
            run_id, timeout=90, what="the issue run did not finish after the restart", log=second.log_tail
        )
        recovered = time.monotonic() - killed
    finally:
        second.stop()

    status, message = stack.query("select status, message from core_jobrun where id = %s", (run_id,))[0]
    assert status == "succeeded", message
    rows = stack.query(
        "select d.code, i.number, i.status, i.total, i.pdf is not null from billing_invoice i "
        "join procurement_department d on d.id = i.department_id where i.kind = 'invoice' order by i.number"
    )
    assert len(rows) == DEPARTMENTS
    assert {code for code, *_ in rows} == set(totals)
    assert [number for _, number, *_ in rows] == [f"CB-2026-{n:06d}" for n in range(1, DEPARTMENTS + 1)]
    for code, _, state, total, _ in rows:
        assert state == "issued" and total == Decimal(totals[code]), (code, state, total)
    assert stack.scalar("select last_number from billing_invoicecounter where series = 'CB' and year = 2026") == (
        DEPARTMENTS
    )
    with_pdf = sum(1 for *_, has_pdf in rows if has_pdf)
    # an invoice issued by the killed worker before it stored its PDF gets it from the redelivery
    assert with_pdf == DEPARTMENTS
    print(
        f"invoice issue: killed with {at_kill}-{after_kill} of {DEPARTMENTS} issued; finished "
        f"{recovered:.1f}s after the kill; numbers gapless; {with_pdf} PDFs stored"
    )
