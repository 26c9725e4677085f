"""A worker killed in the middle of sending a month's reports: after a new worker starts, every
recipient has received their pack exactly once, counted at a real SMTP server.

The SMTP server (aiosmtpd on loopback, run by the test) holds the Nth message: it has read the
whole message and does not answer the end of DATA until the test has SIGKILLed the worker's
process group. So the killed message was never accepted, and the worker died in the middle of
`report_deliver` (its delivery row locked, "sent" not committed). The redelivered task finds the
packs the dead worker wrote and the deliveries it marked sent, and sends the rest.

The window this cannot close: a worker killed after the server's 250 and before its commit of
"sent" leaves a message delivered and its delivery unsent; the redelivery sends it again (the
same pack and Message-ID, chosen when the delivery was created, so mail systems can tell). Email
has no transaction to join: a report send is at-least-once for that one message and exactly once
for everything else; the window is the server's reply plus one commit wide."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections import Counter

import pytest
import redis
from aiosmtpd.controller import Controller

from tests.celery_worker import wait_for

from .servers import free_port
from .test_worker_killed import REDELIVERY

pytestmark = [pytest.mark.worker, pytest.mark.slow]

COMPANY_READERS = 4  # finance and procurement: the company's pack
DEPARTMENTS = 3
MANAGERS = 2  # per department: one pack per department, to its two managers
HOLD_AT = 6  # of 4 + 3 × 2 = 10 messages


class HoldingSMTP:
    """An SMTP server that accepts every message but the `hold_at`-th, which it holds at the end
    of DATA (the message read, no reply) until `release` is set; it then refuses it (the client
    is gone by then). `accepted` holds what it answered 250 to."""

    def __init__(self, hold_at: int) -> None:
        self.hold_at = hold_at
        self.seen = 0
        self.accepted: list[tuple[list[str], email.message.Message]] = []
        self.held_to: list[str] = []
        self.held_message_id = ""
        self.holding = threading.Event()
        self.release = threading.Event()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen == self.hold_at:
            self.held_to = list(envelope.rcpt_tos)
            self.held_message_id = email.message_from_bytes(envelope.content)["Message-ID"]
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 Not accepted: the sender went away"
        self.accepted.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def per_address(self) -> Counter:
        return Counter(address for recipients, _ in self.accepted for address in recipients)

    def __enter__(self) -> HoldingSMTP:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.controller.stop()


@pytest.mark.parametrize("broker", ["kept", "restarted"])
def test_report_send_completes_exactly_once_after_its_worker_is_killed(stack, broker):
    """GIVEN finance's "send now" of March's reports: 4 packs (the company's and 3 departments'),
    10 deliveries, sent by a real worker through a real SMTP server
    WHEN the worker is SIGKILLed while the server holds the 6th message unanswered
    (and, `restarted`, Redis is restarted without persistence: the run's message is lost)
    THEN a new worker finishes the run (`kept`: Redis hands the message out again after the
    visibility timeout; `restarted`: beat's sweep finds the run `running` with its lock free and
    sends its task again): succeeded, 4 packs, every address received exactly one message at the
    server, every delivery is marked sent once (one attempt, its stored Message-ID the one the
    server received, and the held message's the same when it was sent again)."""
    with HoldingSMTP(hold_at=HOLD_AT) as smtp:
        mail = {"EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}", **REDELIVERY}
        first = stack.worker("first", **mail)  # starts during the set-up
        try:
            setup = stack.scenario(
                "report_send_run",
                departments=DEPARTMENTS,
                company_readers=COMPANY_READERS,
                managers_per_department=MANAGERS,
            )
            run_id, addresses = setup["run"], setup["addresses"]
            assert len(addresses) == COMPANY_READERS + DEPARTMENTS * MANAGERS
            wait_for(
                smtp.holding.is_set, timeout=90, what="the worker never reached the held message", log=first.log_tail
            )
            first.kill()
            killed = time.monotonic()
        finally:
            first.stop()
        smtp.release.set()

        assert stack.run_status(run_id) == "running"
        sent_at_kill = stack.scalar("select count(*) from insights_reportdelivery where status = 'sent'")
        assert sent_at_kill == HOLD_AT - 1 == len(smtp.accepted)
        held = smtp.held_to
        assert len(held) == 1 and smtp.per_address()[held[0]] == 0

        if broker == "restarted":
            stack.redis.stop()
            stack.redis.start()
            assert redis.Redis.from_url(stack.redis.url(0)).dbsize() == 0  # the message is gone
            second = stack.worker(
                "second",
                beat=True,
                JOB_REQUEUE_INTERVAL_SECONDS="1",
                JOB_REQUEUE_RUNNING_AFTER_SECONDS="1",
                **mail,
            )
        else:
            second = stack.worker("second", **mail)
        try:
            stack.wait_for_run(
                run_id, timeout=90, what="the send run did not finish after the restart", log=second.log_tail
            )
            recovered = time.monotonic() - killed
        finally:
            second.stop()

    status, attempts, message, result = stack.query(
        "select status, attempts, message, result from core_jobrun where id = %s", (run_id,)
    )[0]
    assert status == "succeeded", message
    assert attempts == 2  # the killed delivery and the redelivered one
    assert result["sent"] == len(addresses) and result["failed"] == []
    assert stack.scalar("select count(*) from insights_monthlyreport where run_id = %s", (run_id,)) == 1 + DEPARTMENTS

    received = smtp.per_address()
    assert received == Counter(addresses), received  # each address exactly once, no one else
    deliveries = stack.query(
        "select email, status, attempts, sent_at is not null, message_id from insights_reportdelivery order by email"
    )
    assert sorted(email for email, *_ in deliveries) == sorted(addresses)
    assert all(state == "sent" and tries == 1 and has_sent_at for _, state, tries, has_sent_at, _ in deliveries)
    stored_ids = {address: message_id for address, *_, message_id in deliveries}
    for recipients, received_message in smtp.accepted:
        assert received_message["Message-ID"] == stored_ids[recipients[0]]
    # the message sent again is the held one: same Message-ID (chosen before the first attempt)
    assert stored_ids[held[0]] == smtp.held_message_id
    print(
        f"report send ({broker} broker): killed holding message {HOLD_AT} of {len(addresses)} "
        f"({sent_at_kill} sent); finished {recovered:.1f}s after the kill; {len(smtp.accepted)} messages, "
        "one per address"
    )
