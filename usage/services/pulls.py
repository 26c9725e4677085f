"""Scheduled pulls of vendor usage APIs: which sources are due, the window a pull asks for, the
run it makes, and what its outcome does to the source's schedule.

A pull is an ingestion run like an upload: the pages fetched become the run's file (one page per
line) and are ingested through the same path (`file_run_execute`), so the run page, the counts,
the rejected rows and their replays work the same. Every page is fetched before anything is
ingested, and the file is ingested in one transaction: nothing is half-applied.

The window starts where the last complete bucket ended (`pulled_until`) but goes back to cover the
`pull_open_days` days a vendor may still change; those buckets come back as restatements when
they changed and as duplicates when not. `pulled_until` only moves past buckets that ended before
those open days.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.crypto import decrypt
from core.exceptions import ApplicationError, Conflict
from core.models import JobRun
from core.services import job_run_enqueue, send_task

from .. import pulls
from ..models import IngestionRun, Source
from ..pipeline.feeds.endpoints import PULL_FORMATS, endpoint_for
from . import progress
from .ingest import file_run_execute, run_file_attach

logger = logging.getLogger(__name__)

# A source never pulled, without a first day, starts this many days back.
FIRST_PULL_DAYS = 7
# Failed pulls in a row stretch the interval to the next try: × 2, 4, 8, then 16 at most.
MAX_BACKOFF_FACTOR = 16
BUSY = (JobRun.Status.QUEUED, JobRun.Status.RUNNING)


def midnight(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime.combine(moment.date(), time(0), tzinfo=UTC)


def pull_window(source: Source, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the next pull: from the last complete bucket (else the first day, else a
    week back), back to midnight of the first day still open; up to now."""
    open_from = midnight(now) - timedelta(days=source.pull_open_days)
    if source.pulled_until:
        start = min(source.pulled_until, open_from)
    elif source.pull_start:
        start = datetime.combine(source.pull_start, time(0), tzinfo=UTC)
    else:
        start = midnight(now) - timedelta(days=FIRST_PULL_DAYS)
    return midnight(min(start, now)), now


def pulled_until_after(source: Source, now: datetime, bucket_ends: list[datetime]) -> datetime | None:
    """The end of the last bucket that ended before the open days began (never earlier than before)."""
    closed = midnight(now) - timedelta(days=source.pull_open_days)
    final = [end for end in bucket_ends if end <= closed]
    if not final:
        return source.pulled_until
    return max(final) if source.pulled_until is None else max(source.pulled_until, max(final))


def failure_backoff(source: Source, failures: int) -> timedelta:
    return timedelta(minutes=source.pull_interval_minutes) * min(2**failures, MAX_BACKOFF_FACTOR)


def source_credential(source: Source) -> str:
    """The API key: the named environment variable (as the worker sees it), else the stored one."""
    if source.credential_env:
        value = os.environ.get(source.credential_env, "").strip()
        if not value:
            raise ApplicationError(
                f"The environment variable {source.credential_env}, which holds the credential of source "
                f"{source.slug}, is not set where the pull runs (the Celery worker)."
            )
        return value
    if source.credential_encrypted:
        return decrypt(source.credential_encrypted)
    raise ApplicationError(
        f"Source {source.slug} has no credential: name the environment variable holding it, or store one."
    )


def _busy_runs():
    return IngestionRun.objects.filter(
        origin=IngestionRun.Origin.PULL,
        status__in=BUSY,
        # A run stuck longer than a task may live (its worker died unnoticed) no longer blocks.
        created_at__gte=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 600),
    )


def _pull_run_create(source: Source, actor, trigger: str) -> IngestionRun:
    run = IngestionRun.objects.create(
        kind="ingestion",
        created_by=actor,
        origin=IngestionRun.Origin.PULL,
        format=source.format,
        source=source,
        params={"trigger": trigger},
    )
    job_run_enqueue(run=run, task="usage.pull_source")
    return run


def source_pull_now(*, source: Source, actor) -> IngestionRun:
    """`POST usage/sources/{slug}/pull`: a pull now, whether or not pulls are scheduled."""
    with transaction.atomic():
        source = Source.objects.select_for_update().get(pk=source.pk)
        if not source.is_active:
            raise Conflict(f"Source {source.slug} is inactive; activate it to pull.")
        if source.format not in PULL_FORMATS:
            raise ApplicationError(
                f"Source {source.slug} has the format {source.format}, which cannot be pulled; "
                f"pullable formats: {', '.join(sorted(PULL_FORMATS))}."
            )
        if not source.credential_env and not source.credential_encrypted:
            raise ApplicationError(
                f"Source {source.slug} has no credential: name the environment variable holding it, or store one.",
                extra={"fields": {"credential": ["Required to pull."]}},
            )
        busy = _busy_runs().filter(source=source).order_by("-created_at").first()
        if busy is not None:
            raise Conflict(f"A pull of {source.slug} is already {busy.status}: run #{busy.pk}.", extra={"run": busy.pk})
        return _pull_run_create(source, actor, "manual")


def sources_pull_due(*, now: datetime | None = None) -> list[IngestionRun]:
    """Beat, every minute: one pull run per active, pull-enabled source that is due and not
    already pulling. Rows another beat holds are skipped (SKIP LOCKED); a source taken moves its
    next pull on, so a beat that raced for it finds it no longer due."""
    now = now or timezone.now()
    busy = _busy_runs().filter(source=OuterRef("pk"))
    runs = []
    with transaction.atomic():
        due = (
            Source.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(is_active=True, pull_enabled=True, format__in=PULL_FORMATS)
            .filter(Q(next_pull_at__isnull=True) | Q(next_pull_at__lte=now))
            .exclude(Exists(busy))
            .order_by("next_pull_at", "pk")
        )
        for source in due:
            runs.append(_pull_run_create(source, None, "schedule"))
            Source.objects.filter(pk=source.pk).update(
                next_pull_at=now + timedelta(minutes=source.pull_interval_minutes)
            )
    return runs


# Running a pull ------------------------------------------------------------------------------------------------


def pull_run_execute(run: IngestionRun) -> dict:
    """Fetch the window's pages into the run's file and ingest it; book the outcome on the source."""
    source = Source.objects.select_related("vendor").get(pk=run.source_id)
    endpoint = endpoint_for(run.format)
    now = timezone.now()
    start, end = pull_window(source, now)
    base_url = source.base_url or (endpoint.default_base_url if endpoint else "")
    record = {
        "trigger": run.params.get("trigger", ""),
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "base_url": base_url,
        "pages": 0,
        "attempts": 0,
        "requests": [],
    }
    IngestionRun.objects.filter(pk=run.pk).update(
        params={**run.params, "window": record["window"], "base_url": base_url}
    )
    secret = None
    try:
        if endpoint is None:
            raise ApplicationError(f"The {run.format} format cannot be pulled.")
        secret = source_credential(source)
        fetched = pulls.fetch_pages(
            endpoint,
            base_url=base_url,
            credential=secret,
            start=start,
            end=end,
            on_page=lambda n: progress.report(run.pk, 0, f"Fetched page {n} from {endpoint.vendor}…"),
        )
        record.update(pages=len(fetched.pages), attempts=fetched.attempts, requests=fetched.requests)
        _keep_pages(run, source, fetched.pages, start, end)
        result = file_run_execute(run)
    except Exception as exc:
        if isinstance(exc, pulls.PullFailed):
            record.update(requests=exc.requests, attempts=sum(r["attempts"] for r in exc.requests))
        message = pulls.mask(getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}", secret)
        _pull_failed(source, run, message, record)
        if isinstance(exc, (ApplicationError, pulls.PullFailed)):
            raise ApplicationError(message) from None
        raise
    _pull_succeeded(source, now, pulled_until_after(source, now, fetched.bucket_ends))
    summary = f"{record['pages']} page{'s' if record['pages'] != 1 else ''} pulled; {result['message']}"
    return {**result, "message": summary, "pull": record}


def _keep_pages(run: IngestionRun, source: Source, pages: list[str], start: datetime, end: datetime) -> None:
    name = f"pull-{source.slug}-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.ndjson"
    run_file_attach(run, ("\n".join(pages) + "\n").encode(), name)
    IngestionRun.objects.filter(pk=run.pk).update(
        file=run.file.name, file_name=run.file_name, file_sha256=run.file_sha256
    )


def _pull_failed(source: Source, run: IngestionRun, message: str, record: dict) -> None:
    now = timezone.now()
    failures = source.pull_failures + 1
    IngestionRun.objects.filter(pk=run.pk).update(result={"pull": record})
    Source.objects.filter(pk=source.pk).update(
        pull_failures=failures,
        last_pull_error=message,
        last_pull_at=now,
        next_pull_at=now + failure_backoff(source, failures),
    )
    logger.warning("pull of source %s failed (run %s, %s in a row): %s", source.slug, run.pk, failures, message)
    # a failing feed is an alert (insights, by task name: usage cannot import it)
    transaction.on_commit(lambda: send_task("insights.alerts_evaluate", "ingestion"))


def _pull_succeeded(source: Source, now: datetime, pulled_until: datetime | None) -> None:
    finished = timezone.now()
    Source.objects.filter(pk=source.pk).update(
        pull_failures=0,
        last_pull_error="",
        last_pull_at=finished,
        last_pull_ok_at=finished,
        next_pull_at=finished + timedelta(minutes=source.pull_interval_minutes),
        pulled_until=pulled_until,
    )
