"""Alert webhooks against a local HTTP server that checks the HMAC signature.

GIVEN a webhook rule with a secret WHEN an alert is delivered THEN the body is JSON with the
Slack-compatible `text`, signed `sha256=<hex HMAC-SHA256 of the raw body>` with the timestamp
beside it; a 5xx answer is tried again after the back-off (recorded on the delivery), a 4xx is
not, and a delivery is never sent twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import override_settings

from insights.alerts.delivery import alert_deliver, backoff_seconds, webhook_attempt
from insights.models import AlertDelivery, AlertRule
from insights.services.alerts import alert_raise

from .alerts_world import candidate, webhook_rule

pytestmark = pytest.mark.django_db
SECRET = "s3cret-webhook-key"


class Receiver:
    """A webhook receiver: answers the scripted status codes in turn (then 200), verifying each
    request's signature with the shared secret."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "at": time.monotonic(),
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "signature_ok": hmac.compare_digest(
                                self.headers.get("X-TokenLedger-Signature", ""), expected
                            ),
                        }
                    )
                    code = receiver.script.pop(0) if receiver.script else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"busy, try later" if code >= 500 else b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/tokenledger"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make(script: list[int]) -> Receiver:
        receiver = Receiver(script)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def _only_the_webhook_rule(db):
    AlertRule.objects.all().delete()


@override_settings(ALERT_DELIVERY_BACKOFF_SECONDS=0.3, SITE_URL="https://tl.example.com")
def test_signed_body_and_a_retry_after_the_back_off(receiver_factory, role_world, django_capture_on_commit_callbacks):
    receiver = receiver_factory([500])
    webhook_rule(receiver.url, SECRET)
    alert, _ = alert_raise(candidate=candidate("hook", department_id=role_world.inside.pk))
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_deliver(alert=alert) == 1

    assert len(receiver.requests) == 2  # the 500, then the retry
    first, second = receiver.requests
    assert first["signature_ok"] and second["signature_ok"]
    assert second["at"] - first["at"] >= 0.3  # the back-off was waited
    payload = json.loads(second["body"])
    assert set(payload) == {"type", "severity", "title", "text", "url", "alert", "sent_at"}
    assert payload["type"] == "budget_threshold" and payload["severity"] == "warning"
    assert payload["url"] == f"https://tl.example.com/alerts/{alert.pk}/"
    assert payload["text"].startswith("*[WARNING] Budget 80 % reached: TEST-hook*\n")
    assert f"<https://tl.example.com/alerts/{alert.pk}/|Open in TokenLedger>" in payload["text"]
    assert payload["alert"]["department"] == "T-IN" and payload["alert"]["dedup_key"] == alert.dedup_key
    assert second["headers"]["X-TokenLedger-Timestamp"] == str(payload["sent_at"])
    assert second["headers"]["Content-Type"] == "application/json"

    delivery = AlertDelivery.objects.get(alert=alert, channel="webhook")
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 2, 200)
    assert delivery.recipient == receiver.url and delivery.sent_at is not None
    assert (
        delivery.last_error == "Attempt 1 of 5: HTTP 500 Internal Server Error: busy, try later; next attempt in 0.3 s."
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert alert_deliver(alert=alert) == 0  # recorded once: delivering again sends nothing
    assert len(receiver.requests) == 2


@override_settings(ALERT_DELIVERY_BACKOFF_SECONDS=2)
def test_back_off_doubles_and_is_recorded_per_attempt(receiver_factory, role_world):
    assert [backoff_seconds(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    receiver = receiver_factory([503, 502])
    webhook_rule(receiver.url, SECRET)
    alert, _ = alert_raise(candidate=candidate("steps"))
    alert_deliver(alert=alert)  # the task waits for the commit; attempts are made by hand below
    delivery = AlertDelivery.objects.get(alert=alert)
    assert webhook_attempt(delivery.pk).retry_in == 2
    assert AlertDelivery.objects.get(pk=delivery.pk).last_error.endswith(
        "HTTP 503 Service Unavailable: busy, try later; next attempt in 2 s."
    )
    assert webhook_attempt(delivery.pk).retry_in == 4
    assert "Attempt 2 of 5: HTTP 502" in AlertDelivery.objects.get(pk=delivery.pk).last_error
    outcome = webhook_attempt(delivery.pk)
    assert (outcome.status, outcome.retry_in) == ("sent", None)
    assert webhook_attempt(delivery.pk).status == "done"  # a task delivered twice sends nothing more
    assert len(receiver.requests) == 3


@override_settings(ALERT_DELIVERY_BACKOFF_SECONDS=0.01, ALERT_DELIVERY_MAX_ATTEMPTS=3)
def test_gives_up_after_the_last_attempt_and_never_retries_a_4xx(
    receiver_factory, role_world, django_capture_on_commit_callbacks
):
    failing = receiver_factory([500, 500, 500, 500])
    refusing = receiver_factory([404])
    webhook_rule(failing.url, SECRET, name="Always failing")
    webhook_rule(refusing.url, SECRET, name="Wrong address")
    alert, _ = alert_raise(candidate=candidate("fail"))
    with django_capture_on_commit_callbacks(execute=True):
        alert_deliver(alert=alert)
    gave_up = AlertDelivery.objects.get(recipient=failing.url)
    assert (gave_up.status, gave_up.attempts, gave_up.response_code) == ("failed", 3, 500)
    assert gave_up.last_error.startswith("Attempt 3 of 3: HTTP 500") and gave_up.last_error.endswith("gave up.")
    refused = AlertDelivery.objects.get(recipient=refusing.url)
    assert (refused.status, refused.attempts, refused.response_code) == ("failed", 1, 404)
    assert refused.last_error.endswith("not retried.")
    assert len(failing.requests) == 3 and len(refusing.requests) == 1


@override_settings(ALERT_DELIVERY_BACKOFF_SECONDS=0.01, ALERT_DELIVERY_MAX_ATTEMPTS=2)
def test_a_connection_refused_is_retried(role_world, django_capture_on_commit_callbacks):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhook_rule(f"http://127.0.0.1:{port}/nobody", SECRET)
    alert, _ = alert_raise(candidate=candidate("refused"))
    with django_capture_on_commit_callbacks(execute=True):
        alert_deliver(alert=alert)
    delivery = AlertDelivery.objects.get(alert=alert)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 2, None)
    assert "ConnectionError" in delivery.last_error


def test_a_rule_without_a_secret_sends_no_signature(receiver_factory, role_world, django_capture_on_commit_callbacks):
    receiver = receiver_factory([])
    webhook_rule(receiver.url, "")
    assert not AlertRule.objects.get().webhook_secret
    alert, _ = alert_raise(candidate=candidate("unsigned"))
    with django_capture_on_commit_callbacks(execute=True):
        alert_deliver(alert=alert)
    assert len(receiver.requests) == 1 and "X-TokenLedger-Signature" not in receiver.requests[0]["headers"]


def test_the_secret_is_stored_encrypted(role_world):
    rule = webhook_rule("https://hooks.example.com/x", SECRET)
    assert rule.webhook_secret and SECRET not in rule.webhook_secret
