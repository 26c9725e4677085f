"""Alert tasks: evaluation (beat, after ingestion, on demand) and the email and webhook deliveries.
Each is a thin interface over insights.services.alerts and insights.alerts.delivery.
(Forecast tasks are in insights/tasks_forecasts.py.)"""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from .alerts import delivery
from .services import alerts as services

# Ingestion runs (usage) send `insights.alerts_evaluate` with this trigger after they commit.
AFTER_INGESTION = "ingestion"
_DEBOUNCE_KEY = "insights:alerts-evaluate:after-ingestion"


@shared_task(name="insights.alerts_evaluate", acks_late=True)
def alerts_evaluate(trigger: str = "schedule") -> dict:
    """Beat (every 15 minutes, CELERY_BEAT_SCHEDULE) and after each ingestion run. A burst of
    ingestion runs evaluates once per ALERTS_EVALUATE_DEBOUNCE_SECONDS (the shared cache decides);
    what a skipped run would have found, the next one finds (alerts are idempotent)."""
    if trigger == AFTER_INGESTION:
        if not settings.ALERTS_EVALUATE_AFTER_INGESTION:
            return {"skipped": "ALERTS_EVALUATE_AFTER_INGESTION is off"}
        if not cache.add(_DEBOUNCE_KEY, 1, timeout=settings.ALERTS_EVALUATE_DEBOUNCE_SECONDS):
            return {"skipped": "evaluated moments ago"}
    return services.alerts_evaluate()


def _deliver(task, attempt, delivery_id: int) -> str:
    """One attempt; when it asks to be tried again, Celery retries the task after the back-off the
    attempt computed (the attempts are counted on the delivery, which sets the limit, not Celery's
    retry count). Run eagerly (tests, CELERY_TASK_ALWAYS_EAGER) there is no worker to come back
    later, so the task waits the back-off in place and tries again."""
    outcome = attempt(delivery_id)
    if task.request.is_eager:
        while outcome.retry_in is not None:
            time.sleep(outcome.retry_in)
            outcome = attempt(delivery_id)
        return outcome.status
    if outcome.retry_in is not None:
        raise task.retry(countdown=outcome.retry_in, max_retries=None)
    return outcome.status


@shared_task(bind=True, name="insights.deliver_email", acks_late=True)
def deliver_email(self, delivery_id: int) -> str:
    return _deliver(self, delivery.email_attempt, delivery_id)


@shared_task(bind=True, name="insights.deliver_webhook", acks_late=True)
def deliver_webhook(self, delivery_id: int) -> str:
    return _deliver(self, delivery.webhook_attempt, delivery_id)
