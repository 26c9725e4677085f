"""Alerts' write side: evaluating and raising them once, acknowledging and resolving them, the
alert rules, and each user's inbox.

Raising is `INSERT … ON CONFLICT (dedup_key)`: the unique key decides, in the database, which
of two evaluations running at once raises an alert; the other (and every later repeat) only
moves `last_seen_at`. Only the evaluation that inserted an alert delivers it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from core.crypto import encrypt
from core.exceptions import Conflict
from core.roles import Role

from ..alerts.delivery import alert_deliver
from ..alerts.evaluate import EVALUATORS, Candidate, Context
from ..models import Alert, AlertRule, InboxItem

logger = logging.getLogger(__name__)

_RAISE_SQL = """
    INSERT INTO insights_alert (
        type, severity, status, dedup_key, title, message, subject_url, department_id, vendor_id,
        period, data, raised_at, last_seen_at, note
    )
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, '')
    ON CONFLICT (dedup_key) DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at
    RETURNING id, (xmax = 0) AS inserted
"""


def alert_raise(*, candidate: Candidate) -> tuple[Alert, bool]:
    """The alert of the candidate's dedup key and whether this call created it. A repeat changes
    nothing but `last_seen_at`: not the title, not the status people gave it."""
    now = timezone.now()
    params = [
        candidate.type,
        candidate.severity,
        Alert.Status.OPEN,
        candidate.dedup_key,
        candidate.title[:300],
        candidate.message,
        candidate.subject_url[:500],
        candidate.department_id,
        candidate.vendor_id,
        candidate.period[:32],
        json.dumps(candidate.data, cls=DjangoJSONEncoder),
        now,
        now,
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RAISE_SQL, params)
        alert_id, inserted = cursor.fetchone()
        alert = Alert.objects.select_related("department", "vendor").get(pk=alert_id)
        if inserted:
            Alert.history.bulk_history_create([alert], default_change_reason="Raised by the alert evaluation")
    return alert, bool(inserted)


def alerts_evaluate(*, today: date | None = None, types: Iterable[str] | None = None) -> dict[str, Any]:
    """Run every evaluator (or those of `types`), raise what they find and deliver the new alerts.

    An evaluator that fails is reported in `errors` and the others still run. Answers the summary:
    per type the candidates found, the alerts raised and the repeats, and the deliveries made."""
    today = today or timezone.now().date()
    wanted = set(types or [])
    ctx = Context(today)
    by_type: dict[str, dict[str, int]] = {}
    errors: list[dict[str, str]] = []
    raised: list[Alert] = []
    for alert_type, evaluator in EVALUATORS:
        if wanted and alert_type not in wanted:
            continue
        try:
            with transaction.atomic():  # a failing read rolls back to here, not the caller's transaction
                candidates = evaluator(ctx)
        except Exception as exc:
            logger.exception("alert evaluation of %s failed", alert_type)
            errors.append({"type": alert_type, "message": f"{type(exc).__name__}: {exc}"})
            continue
        counts = {"candidates": len(candidates), "raised": 0, "repeated": 0}
        for candidate in candidates:
            alert, created = alert_raise(candidate=candidate)
            if created:
                counts["raised"] += 1
                raised.append(alert)
            else:
                counts["repeated"] += 1
        by_type[alert_type] = counts
    deliveries = 0
    for alert in raised:
        try:
            deliveries += alert_deliver(alert=alert)
        except Exception as exc:
            logger.exception("delivering alert %s failed", alert.pk)
            errors.append({"type": alert.type, "message": f"delivering alert {alert.pk}: {type(exc).__name__}: {exc}"})
    return {
        "today": today.isoformat(),
        "candidates": sum(c["candidates"] for c in by_type.values()),
        "raised": len(raised),
        "repeated": sum(c["repeated"] for c in by_type.values()),
        "deliveries": deliveries,
        "alerts": [alert.pk for alert in raised],
        "by_type": by_type,
        "errors": errors,
        "message": (
            f"{len(raised)} new alert{'s' if len(raised) != 1 else ''}, "
            f"{sum(c['repeated'] for c in by_type.values())} still open from before"
            + (f"; {len(errors)} evaluator{'s' if len(errors) != 1 else ''} failed" if errors else "")
        ),
    }


# People's changes ----------------------------------------------------------------------------------


def _who(user) -> str:
    return getattr(user, "username", None) or "someone"


def _with_note(alert: Alert, actor, note: str, action: str) -> str:
    """Notes accumulate, each line saying when, who and on which action."""
    note = (note or "").strip()
    if not note:
        return alert.note
    line = f"{timezone.now():%Y-%m-%d %H:%M} UTC {_who(actor)} ({action}): {note}"
    return f"{alert.note}\n{line}" if alert.note else line


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor, note: str = "") -> Alert:
    """Open → acknowledged. 409 when it is already acknowledged or resolved."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise Conflict(
            f"This alert was resolved on {alert.resolved_at:%Y-%m-%d %H:%M} UTC by {_who(alert.resolved_by)}; "
            "a resolved alert cannot be acknowledged.",
            extra={"status": alert.status},
        )
    if alert.status == Alert.Status.ACKNOWLEDGED:
        raise Conflict(
            f"This alert was already acknowledged on {alert.acknowledged_at:%Y-%m-%d %H:%M} UTC by "
            f"{_who(alert.acknowledged_by)}.",
            extra={"status": alert.status},
        )
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor
    alert.note = _with_note(alert, actor, note, "acknowledged")
    alert._history_user = actor
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by", "note"])
    inbox_alert_read(alert=alert, user=actor)
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, actor, note: str = "") -> Alert:
    """Open or acknowledged → resolved. 409 when it is resolved already."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise Conflict(
            f"This alert was already resolved on {alert.resolved_at:%Y-%m-%d %H:%M} UTC by {_who(alert.resolved_by)}.",
            extra={"status": alert.status},
        )
    alert.status = Alert.Status.RESOLVED
    alert.resolved_at = timezone.now()
    alert.resolved_by = actor
    alert.note = _with_note(alert, actor, note, "resolved")
    alert._history_user = actor
    alert.save(update_fields=["status", "resolved_at", "resolved_by", "note"])
    inbox_alert_read(alert=alert, user=actor)
    return alert


# Rules ------------------------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "types",
    "roles",
    "addresses",
    "channels",
    "webhook_url",
    "min_severity",
    "thresholds",
    "is_active",
)
RECIPIENT_ROLES = [role for role in Role.values if role != Role.SERVICE]


def alert_rule_errors(rule: AlertRule) -> dict[str, list[str]]:
    """What makes a rule unusable, by field (beyond the model's own field validation)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    channels = list(rule.channels or [])
    if not channels:
        add("channels", "Choose at least one channel: email, webhook or inbox.")
    for channel in channels:
        if channel not in AlertRule.Channel.values:
            add("channels", f"{channel!r} is not a channel; use email, webhook or inbox.")
    if len(set(channels)) != len(channels):
        add("channels", "Name each channel once.")
    for alert_type in rule.types or []:
        if alert_type not in Alert.Type.values:
            add("types", f"{alert_type!r} is not an alert type.")
    for role in rule.roles or []:
        if role not in RECIPIENT_ROLES:
            add("roles", f"{role!r} cannot receive alerts; use one of {', '.join(RECIPIENT_ROLES)}.")
    if AlertRule.Channel.WEBHOOK in channels and not rule.webhook_url:
        add("webhook_url", "A webhook rule needs the URL to post to.")
    if AlertRule.Channel.EMAIL in channels and not (rule.roles or rule.addresses):
        add("roles", "An email rule needs roles or addresses to send to.")
    if AlertRule.Channel.INBOX in channels and not rule.roles:
        add("roles", "The inbox belongs to users: an inbox rule needs roles.")
    thresholds = rule.thresholds if rule.thresholds is not None else {}
    if not isinstance(thresholds, dict):
        add("thresholds", 'Give thresholds as an object of alert type → number, e.g. {"budget_threshold": 100}.')
    else:
        for key, value in thresholds.items():
            if key not in Alert.Type.values:
                add("thresholds", f"{key!r} is not an alert type.")
                continue
            try:
                number = Decimal(str(value))
            except (InvalidOperation, ValueError):
                number = None
            if isinstance(value, bool) or number is None or not number.is_finite():
                add("thresholds", f"The threshold for {key} must be a number, not {value!r}.")
    if rule.min_severity not in Alert.Severity.values:
        add("min_severity", f"{rule.min_severity!r} is not a severity; use info, warning or critical.")
    return errors


@transaction.atomic
def alert_rule_save(*, rule: AlertRule | None = None, actor, webhook_secret: str | None = None, **fields) -> AlertRule:
    """Create or change a rule. `webhook_secret` None keeps the stored one, "" removes it; it is
    stored encrypted and never shown back."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown alert rule fields: {', '.join(sorted(unknown))}")
    rule = rule or AlertRule()
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.addresses = [address.strip().lower() for address in rule.addresses or [] if address.strip()]
    if webhook_secret is not None:
        rule.webhook_secret = encrypt(webhook_secret) if webhook_secret else ""
    errors = alert_rule_errors(rule)
    if errors:
        raise ValidationError(errors)
    rule.full_clean()
    rule._history_user = actor
    rule.save()
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule, actor) -> None:
    rule._history_user = actor
    rule.delete()


# The inbox ----------------------------------------------------------------------------------------------


def inbox_item_read(*, item: InboxItem) -> InboxItem:
    if item.read_at is None:
        item.read_at = timezone.now()
        InboxItem.objects.filter(pk=item.pk, read_at__isnull=True).update(read_at=item.read_at)
    return item


def inbox_read_all(*, user) -> int:
    """Mark every unread item of the user read; answers how many."""
    return InboxItem.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def inbox_alert_read(*, alert: Alert, user) -> None:
    """Opening an alert (or acting on it) reads it in the user's inbox."""
    InboxItem.objects.filter(user=user, alert=alert, read_at__isnull=True).update(read_at=timezone.now())
