"""Alert delivery: which rules take an alert, who receives it, and sending it on each channel.

A rule takes an alert when it is active, its `types` include the alert's type (empty: every
type), the alert's severity is at least its `min_severity`, and the alert's `data["level"]`
meets the rule's threshold for that type if it sets one (insights.alerts.evaluate.LEVELS).

Recipients: the active users of the rule's roles who may view alerts, and the rule's addresses
(email only). Department managers receive an alert only when its department lies in a subtree
they manage; an alert without a department is company-wide and never goes to managers.

Channels, each delivery recorded once per alert × channel × recipient (AlertDelivery's unique
constraint, so delivering again sends nothing twice):
- email: one message per address, text and HTML (templates/insights/alerts/email.{txt,html}),
  linking to the alert's page under SITE_URL; sent by the task `insights.deliver_email`.
- webhook: a JSON POST to the rule's URL by the task `insights.deliver_webhook` (see
  `webhook_body` and `webhook_headers`), retried with exponential back-off.
- inbox: an InboxItem per user, at once.

Retries (both tasks): a connection error, a timeout, HTTP 429 or 5xx (email: an SMTP or socket
error) is tried again after ALERT_DELIVERY_BACKOFF_SECONDS × 2^(attempt − 1) seconds, up to
ALERT_DELIVERY_MAX_ATTEMPTS attempts; other answers fail at once. Each attempt is counted on the
delivery, with the response code and the last error (and when the next try is due).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import time
from dataclasses import dataclass
from decimal import Decimal

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.crypto import decrypt
from core.policy import can
from core.roles import Role
from core.services import send_task
from procurement.models import Department

from ..models import Alert, AlertDelivery, AlertRule, InboxItem
from .evaluate import AT_MOST, LEVELS

logger = logging.getLogger(__name__)

SEVERITY_RANK = {Alert.Severity.INFO: 0, Alert.Severity.WARNING: 1, Alert.Severity.CRITICAL: 2}
SIGNATURE_HEADER = "X-TokenLedger-Signature"
TIMESTAMP_HEADER = "X-TokenLedger-Timestamp"
MAX_BACKOFF_SECONDS = 3600


# Which rules, which people ---------------------------------------------------------------------------


def rule_takes(rule: AlertRule, alert: Alert) -> bool:
    if not rule.is_active:
        return False
    if rule.types and alert.type not in rule.types:
        return False
    if SEVERITY_RANK.get(alert.severity, 0) < SEVERITY_RANK.get(rule.min_severity, 0):
        return False
    threshold = (rule.thresholds or {}).get(alert.type)
    level = (alert.data or {}).get("level")
    if threshold in (None, "") or level in (None, ""):
        return True
    try:
        threshold, level = Decimal(str(threshold)), Decimal(str(level))
    except ArithmeticError:
        return True
    direction = LEVELS.get(alert.type, ("at_least", ""))[0]
    return level <= threshold if direction == AT_MOST else level >= threshold


def department_chain(department_id: int) -> set[int]:
    """The department and every department above it (one query for the tree)."""
    parents = dict(Department.objects.values_list("id", "parent_id"))
    chain: set[int] = set()
    current: int | None = department_id
    while current is not None and current not in chain:
        chain.add(current)
        current = parents.get(current)
    return chain


def rule_users(rule: AlertRule, alert: Alert) -> list:
    """The active users of the rule's roles who may see the alert (managers: theirs only)."""
    roles = [role for role in rule.roles if role in Role.values and role != Role.SERVICE]
    if not roles:
        return []
    users = get_user_model().objects.filter(role__in=roles, is_active=True)
    if Role.DEPARTMENT_MANAGER in roles:
        managers: list[int] = []
        if alert.department_id is not None:
            managers = list(
                Department.managers.through.objects.filter(
                    department_id__in=department_chain(alert.department_id)
                ).values_list("user_id", flat=True)
            )
        users = users.filter(~Q(role=Role.DEPARTMENT_MANAGER) | Q(pk__in=managers))
    return [user for user in users.order_by("username") if can(user, "alert", "view")]


def alert_url(alert: Alert) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("insights:alert_detail", kwargs={"pk": alert.pk})


# Delivering one alert --------------------------------------------------------------------------------


def _record(alert: Alert, rule: AlertRule, channel: str, recipient: str, **defaults) -> tuple[AlertDelivery, bool]:
    return AlertDelivery.objects.get_or_create(
        alert=alert, channel=channel, recipient=recipient[:500], defaults={"rule": rule, **defaults}
    )


def alert_deliver(*, alert: Alert) -> int:
    """Deliver the alert by every rule that takes it; answers the deliveries created. Email and
    webhook deliveries are sent by tasks once the surrounding transaction commits."""
    created_count = 0
    to_send: list[tuple[str, int]] = []
    for rule in AlertRule.objects.filter(is_active=True).order_by("id"):
        if not rule_takes(rule, alert):
            continue
        people = {AlertRule.Channel.EMAIL, AlertRule.Channel.INBOX} & set(rule.channels)
        users = rule_users(rule, alert) if people else []
        for channel in rule.channels:
            if channel == AlertRule.Channel.EMAIL:
                addresses = {user.email.strip().lower() for user in users if user.email}
                addresses |= {address.strip().lower() for address in rule.addresses if address.strip()}
                for address in sorted(addresses):
                    delivery, created = _record(alert, rule, channel, address)
                    if created:
                        created_count += 1
                        to_send.append(("insights.deliver_email", delivery.pk))
            elif channel == AlertRule.Channel.INBOX:
                now = timezone.now()
                for user in users:
                    InboxItem.objects.get_or_create(user=user, alert=alert)
                    _, created = _record(
                        alert, rule, channel, user.username, status=AlertDelivery.Status.SENT, attempts=1, sent_at=now
                    )
                    created_count += created
            elif channel == AlertRule.Channel.WEBHOOK and rule.webhook_url:
                delivery, created = _record(alert, rule, channel, rule.webhook_url)
                if created:
                    created_count += 1
                    to_send.append(("insights.deliver_webhook", delivery.pk))
    for task, delivery_id in to_send:
        transaction.on_commit(lambda task=task, delivery_id=delivery_id: send_task(task, delivery_id))
    return created_count


# Attempts ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: done (sent, or failed for good), or try again after `retry_in` s."""

    status: str
    retry_in: float | None = None


def backoff_seconds(attempt: int) -> float:
    """The wait after the `attempt`-th failed attempt: base × 2^(attempt − 1), capped at an hour."""
    base = float(settings.ALERT_DELIVERY_BACKOFF_SECONDS)
    return round(min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempt - 1)), 3)


def _begin(delivery_id: int) -> AlertDelivery | None:
    """Count an attempt; None when the delivery is already done (a task delivered twice)."""
    with transaction.atomic():
        delivery = (
            AlertDelivery.objects.select_for_update(of=("self",))
            .select_related("alert__department", "alert__vendor", "rule")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != AlertDelivery.Status.PENDING:
            return None
        AlertDelivery.objects.filter(pk=delivery_id).update(attempts=F("attempts") + 1)
    delivery.attempts += 1
    return delivery


def _succeeded(delivery: AlertDelivery, response_code: int | None = None) -> Outcome:
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status=AlertDelivery.Status.SENT, response_code=response_code, sent_at=timezone.now()
    )
    return Outcome(AlertDelivery.Status.SENT)


def _failed(delivery: AlertDelivery, problem: str, *, retryable: bool, response_code: int | None = None) -> Outcome:
    attempts, limit = delivery.attempts, settings.ALERT_DELIVERY_MAX_ATTEMPTS
    if retryable and attempts < limit:
        wait = backoff_seconds(attempts)
        error = f"Attempt {attempts} of {limit}: {problem}; next attempt in {wait:g} s."
        AlertDelivery.objects.filter(pk=delivery.pk).update(last_error=error[:2000], response_code=response_code)
        logger.info("alert delivery %s: %s", delivery.pk, error)
        return Outcome(AlertDelivery.Status.PENDING, retry_in=wait)
    error = f"Attempt {attempts} of {limit}: {problem}; " + ("gave up." if retryable else "not retried.")
    AlertDelivery.objects.filter(pk=delivery.pk).update(
        status=AlertDelivery.Status.FAILED, last_error=error[:2000], response_code=response_code
    )
    logger.warning("alert delivery %s failed: %s", delivery.pk, error)
    return Outcome(AlertDelivery.Status.FAILED)


# Email ------------------------------------------------------------------------------------------------


def email_message(alert: Alert, address: str) -> EmailMultiAlternatives:
    user = get_user_model().objects.filter(email__iexact=address, is_active=True).first()
    context = {
        "alert": alert,
        "url": alert_url(alert),
        "subject_url": settings.SITE_URL.rstrip("/") + alert.subject_url if alert.subject_url.startswith("/") else "",
        "rules_url": settings.SITE_URL.rstrip("/") + reverse("insights:alert_rule_list"),
        "name": (user.get_full_name() or user.username) if user else "",
    }
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}[{alert.get_severity_display()}] {alert.title}"
    message = EmailMultiAlternatives(
        subject=subject.replace("\n", " ")[:250],
        body=render_to_string("insights/alerts/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        headers={"X-TokenLedger-Alert": str(alert.pk)},
    )
    message.attach_alternative(render_to_string("insights/alerts/email.html", context), "text/html")
    return message


def email_attempt(delivery_id: int) -> Outcome:
    delivery = _begin(delivery_id)
    if delivery is None:
        return Outcome("done")
    try:
        email_message(delivery.alert, delivery.recipient).send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        return _failed(delivery, f"the server refused the address: {exc}", retryable=False)
    except (smtplib.SMTPException, OSError) as exc:
        return _failed(delivery, f"{type(exc).__name__}: {exc}", retryable=True)
    return _succeeded(delivery)


# Webhooks ---------------------------------------------------------------------------------------------


def alert_json(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "type": alert.type,
        "type_label": alert.get_type_display(),
        "severity": alert.severity,
        "status": alert.status,
        "dedup_key": alert.dedup_key,
        "title": alert.title,
        "message": alert.message,
        "department": alert.department.code if alert.department_id else None,
        "vendor": alert.vendor.slug if alert.vendor_id else None,
        "period": alert.period,
        "data": alert.data,
        "raised_at": alert.raised_at.isoformat(),
        "subject_url": (settings.SITE_URL.rstrip("/") + alert.subject_url) if alert.subject_url else "",
    }


def webhook_body(alert: Alert, *, sent_at: int) -> bytes:
    """{"type", "severity", "title", "text" (Slack-compatible mrkdwn), "url", "alert": {…},
    "sent_at"} as compact UTF-8 JSON; `sent_at` (Unix seconds, also the timestamp header) puts the
    time under the signature, so a receiver can refuse replays."""
    url = alert_url(alert)
    text = f"*[{alert.get_severity_display().upper()}] {alert.title}*\n{alert.message}\n<{url}|Open in TokenLedger>"
    payload = {
        "type": alert.type,
        "severity": alert.severity,
        "title": alert.title,
        "text": text,
        "url": url,
        "alert": alert_json(alert),
        "sent_at": sent_at,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def webhook_signature(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body, keyed with the rule's secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(body: bytes, secret: str, *, sent_at: int, delivery_id: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "TokenLedger-Alerts/1",
        TIMESTAMP_HEADER: str(sent_at),
        "X-TokenLedger-Delivery": str(delivery_id),
    }
    if secret:
        headers[SIGNATURE_HEADER] = webhook_signature(body, secret)
    return headers


def webhook_attempt(delivery_id: int) -> Outcome:
    delivery = _begin(delivery_id)
    if delivery is None:
        return Outcome("done")
    rule = delivery.rule
    secret = decrypt(rule.webhook_secret) if rule is not None and rule.webhook_secret else ""
    sent_at = int(time.time())
    body = webhook_body(delivery.alert, sent_at=sent_at)
    try:
        response = requests.post(
            delivery.recipient,
            data=body,
            headers=webhook_headers(body, secret, sent_at=sent_at, delivery_id=delivery.pk),
            timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return _failed(delivery, f"{type(exc).__name__}: {exc}", retryable=True)
    except requests.RequestException as exc:
        return _failed(delivery, f"{type(exc).__name__}: {exc}", retryable=False)
    code = response.status_code
    if 200 <= code < 300:
        return _succeeded(delivery, code)
    answer = " ".join(response.text.split())[:300] if response.text else ""
    problem = f"HTTP {code} {response.reason or ''}".strip() + (f": {answer}" if answer else "")
    return _failed(delivery, problem, retryable=code == 429 or code >= 500, response_code=code)
