"""Ingestion runs: REST batches, uploaded files and replays of rejected rows."""

from __future__ import annotations

import hashlib
import time

import orjson
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import OperationalError, transaction
from django.utils import timezone

from core.exceptions import ApplicationError, Forbidden, PayloadTooLarge, UnsupportedFormat
from core.models import JobRun
from core.services import job_run_enqueue, send_task

from ..models import IngestionRun, RejectedRow, Source
from ..models.sources import Format
from ..pipeline import BatchResult, ingest_items
from ..pipeline.context import BatchContext
from ..pipeline.feeds import FEEDS, Feed, FeedOptions, feed_for
from ..pipeline.formats import FeedError, TraceOptions, Unreadable, decode, text_problem
from ..pipeline.run import RejectedRecord
from . import progress


class AtomicRejection(ApplicationError):
    """?atomic=true and some records were rejected: nothing was stored."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__(
            f"{len(result.rejected)} of {result.received} records were rejected; with atomic=true nothing was stored.",
            extra={
                **result.counts,
                "accepted": 0,
                "duplicates": 0,
                "restated": 0,
                "errors": [r.as_error() for r in result.rejected],
            },
        )
        self.result = result


def token_sources(token) -> tuple[frozenset[str] | None, str | None]:
    """(the sources a token may push to — None for any, the default source if exactly one)."""
    slugs = getattr(token, "source_slugs", None) or []
    if not slugs:
        return None, None
    return frozenset(slugs), slugs[0] if len(slugs) == 1 else None


def _raw_text(record) -> str:
    raw = getattr(record, "raw", None)  # Parsed, CostItem and Unreadable keep their text
    if isinstance(raw, str):
        return raw
    if isinstance(record, str):
        return record
    return orjson.dumps(record).decode()


def _keep_rejected(run: IngestionRun, rejected: list[RejectedRecord], *, raw_of=None) -> None:
    """One kept row per row of the feed: the items of one row (OpenRouter activity gives a usage
    record and a cost line) rejected together are one row with all their reasons, replayed once."""
    kept: dict[tuple[int, str], RejectedRow] = {}
    for r in rejected:
        raw = raw_of(r) if raw_of else _raw_text(r.record)
        row = kept.get((r.index, raw))
        if row is None:
            kept[(r.index, raw)] = RejectedRow(
                run=run, row=r.index, raw=raw, reasons=list(r.reasons), external_id=(r.external_id or "")[:255]
            )
        else:
            row.reasons.extend(reason for reason in r.reasons if reason not in row.reasons)
            row.external_id = row.external_id or (r.external_id or "")[:255]
    RejectedRow.objects.bulk_create(kept.values(), batch_size=2000)


def _retrying(fn, attempts: int = 5):
    """Run a whole transaction again when PostgreSQL aborted it for a deadlock or a serialisation
    conflict with a concurrent batch (it rolled back completely, so trying again is safe)."""
    for attempt in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
            if code not in ("40P01", "40001") or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (2**attempt))
    raise AssertionError("unreachable")


def records_ingest(
    *, records: list, actor, token=None, atomic: bool = False
) -> tuple[IngestionRun | None, BatchResult]:
    """`POST usage/records`: ingest a parsed batch (list of records or Unreadable lines).

    Returns the run (None when atomic and rejected: nothing is stored) and the counts."""
    allowed, default_source = token_sources(token)

    def work():
        with transaction.atomic():
            ctx = BatchContext.load(default_source=default_source, allowed_sources=allowed)
            source_slug = default_source or next(
                (r.get("source") for _, r in records if isinstance(r, dict) and r.get("source") in ctx.sources), None
            )
            run = IngestionRun.objects.create(
                kind="ingestion",
                status=JobRun.Status.RUNNING,
                created_by=actor,
                origin=IngestionRun.Origin.API,
                format=Format.NDJSON,
                source_id=ctx.sources.get(source_slug) if source_slug else None,
                started_at=timezone.now(),
            )
            result = ingest_items(records, ctx, run_id=run.pk, feed=Format.NDJSON)
            if atomic and result.rejected:
                raise AtomicRejection(result)
            _keep_rejected(run, result.rejected)
            _finish(run, result)
            return run, result

    return _retrying(work)


def _finish(run: IngestionRun, result: BatchResult, message: str = "") -> None:
    counts = result.counts
    IngestionRun.objects.filter(pk=run.pk).update(
        received=counts["received"],
        accepted=counts["accepted"],
        duplicates=counts["duplicates"],
        restated=counts["restated"],
        rejected=counts["rejected"],
        status=JobRun.Status.SUCCEEDED,
        progress=100,
        finished_at=timezone.now(),
        message=message or _summary(counts),
        result={**counts, "cost_lines": result.cost_lines},
    )
    for name, value in counts.items():
        setattr(run, name, value)
    # New usage may cross a budget threshold or look anomalous: insights evaluates its alerts once
    # this run commits (by task name: usage cannot import insights, which sits above it).
    transaction.on_commit(lambda: send_task("insights.alerts_evaluate", "ingestion"))


def _summary(counts: dict) -> str:
    return (
        f"{counts['received']} received: {counts['accepted']} accepted, {counts['duplicates']} duplicates, "
        f"{counts['restated']} restated, {counts['rejected']} rejected"
    )


# Files ---------------------------------------------------------------------------------------------------------


def file_upload(*, file, format: str, source: Source, actor, token=None, options: dict | None = None) -> IngestionRun:
    """`POST usage/files`: keep the file and ingest it in the background → the queued run."""
    if format not in Format.values or format not in FEEDS:
        raise UnsupportedFormat(f"Unknown format {format!r}; use one of {', '.join(sorted(FEEDS))}.")
    feed = FEEDS[format]
    feed_vendor(feed, source)  # a single-vendor feed needs its vendor: refuse now, not in the worker
    allowed, _ = token_sources(token)
    if allowed is not None and source.slug not in allowed:
        raise Forbidden(f"This token may not push usage to source {source.slug}.")
    options = dict(options or {})
    if format == Format.REQUEST_TRACE:
        if not options.get("vendor") or not options.get("model"):
            raise ApplicationError(
                "A request trace needs the vendor and model it belongs to.",
                extra={
                    "fields": {k: ["Required for request_trace."] for k in ("vendor", "model") if not options.get(k)}
                },
            )
        try:
            TraceOptions(
                vendor=options["vendor"], model=options["model"], timezone=options.get("timezone") or "UTC"
            ).zone()
        except FeedError as exc:
            raise ApplicationError(str(exc), extra={"fields": {"timezone": [str(exc)]}}) from exc
    data = upload_bytes(file)
    with transaction.atomic():
        run = IngestionRun(
            kind="ingestion",
            created_by=actor,
            origin=IngestionRun.Origin.FILE,
            format=format,
            source=source,
            options=options,
            params={"file_name": getattr(file, "name", "upload")},
        )
        run_file_attach(run, data, getattr(file, "name", "upload"))
        run.save()
        job_run_enqueue(run=run, task="usage.ingest_file")
    return run


def upload_limit() -> int:
    return int(settings.USAGE_UPLOAD_MAX_BYTES)


def upload_bytes(file) -> bytes:
    """An upload's content, refused before any run exists when it is too large (413), empty
    (400) or not UTF-8 text by its content whatever its name (415: an image, an archive, an
    XLSX, UTF-16, Latin-1, NUL bytes)."""
    limit = upload_limit()
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise PayloadTooLarge(
            f"The file is {size} bytes; uploads are limited to {limit} bytes (USAGE_UPLOAD_MAX_BYTES).",
            extra={"size": size, "limit": limit},
        )
    data = file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is larger than {limit} bytes, the upload limit (USAGE_UPLOAD_MAX_BYTES).",
            extra={"limit": limit},
        )
    if not data:
        raise ApplicationError("The file is empty.", extra={"fields": {"file": ["The submitted file is empty."]}})
    problem = text_problem(data)
    if problem:
        raise UnsupportedFormat(problem, extra={"fields": {"file": [problem]}})
    return data


def run_file_attach(run: IngestionRun, data: bytes, name: str) -> None:
    """Keep a run's file (an upload, a pull's pages, demo pages) under its digest; the caller saves the run."""
    if run.file:
        run.file.delete(save=False)  # a pull tried again after its worker died
    run.file_name = name[:300]
    run.file_sha256 = hashlib.sha256(data).hexdigest()
    run.file.save(f"{run.file_sha256[:12]}-{run.file_name.rsplit('/', 1)[-1]}", ContentFile(data), save=False)


def feed_vendor(feed: Feed, source: Source | None) -> str | None:
    """The vendor (slug) of a single-vendor feed: the source's, else the vendor the format
    belongs to (by slug or alias, e.g. OpenAI). Multi-vendor feeds (FOCUS) answer None."""
    if feed.multi_vendor or not feed.vendor_alias:
        return source.vendor.slug if source is not None and source.vendor_id else None
    if source is not None and source.vendor_id:
        return source.vendor.slug
    from procurement.selectors import vendor_by_alias

    vendor = vendor_by_alias(feed.vendor_alias)
    if vendor is None:
        raise ApplicationError(
            f"The {feed.format} format needs a vendor: give source {source.slug if source else ''} its vendor, "
            f"or add the alias {feed.vendor_alias!r} to a vendor.",
            extra={"fields": {"source": ["The source has no vendor."]}},
        )
    return vendor.slug


def feed_options(run: IngestionRun) -> FeedOptions:
    feed = feed_for(run.format)
    return FeedOptions(
        source=run.source.slug if run.source_id else None,
        vendor=feed_vendor(feed, run.source if run.source_id else None),
        file_sha256=run.file_sha256,
        options=run.options,
    )


def _file_rows(run: IngestionRun, text: str):
    """The file's items (the feed checks its structure first and says what a replay needs)."""
    feed = feed_for(run.format)
    opts = feed_options(run)
    kept = feed.prepare(text, opts)
    if kept:
        run.options = {**run.options, **kept}
        opts = FeedOptions(source=opts.source, vendor=opts.vendor, file_sha256=opts.file_sha256, options=run.options)
    return feed.rows(text, opts), feed.coerce_strings


def _chunks(rows, size: int):
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def file_run_execute(run: IngestionRun) -> dict:
    """Ingest a kept file in one transaction (a structural error rolls everything back and
    fails the run with its message); progress is visible while it works."""
    with run.file.open("rb") as handle:
        data = handle.read()
    try:
        text = decode(data)
        rows, coerce = _file_rows(run, text)
        total_lines = max(1, text.count("\n"))
    except FeedError as exc:
        raise ApplicationError(str(exc)) from exc

    def work():
        result = BatchResult()
        with transaction.atomic():
            ctx = BatchContext.load(default_source=run.source.slug if run.source_id else None, coerce_strings=coerce)
            seen = 0
            try:
                for chunk in _chunks(rows, settings.USAGE_FILE_CHUNK_ROWS):
                    result.add(ingest_items(chunk, ctx, run_id=run.pk, feed=run.format))
                    seen = chunk[-1][0]
                    progress.report(run.pk, min(95, int(95 * seen / total_lines)), _summary(result.counts))
            except FeedError as exc:
                raise ApplicationError(str(exc)) from exc
            _keep_rejected(run, result.rejected)
            IngestionRun.objects.filter(pk=run.pk).update(options=run.options)
            _finish(run, result)
        return result

    result = _retrying(work)
    return {**result.counts, "cost_lines": result.cost_lines, "message": _summary(result.counts)}


# Replays ------------------------------------------------------------------------------------------------------


def rejected_rows_replay(*, run: IngestionRun, corrections: list[dict] | None, actor, token=None) -> IngestionRun:
    """`POST usage/runs/{id}/replay`: try the run's rejected rows again, as they are or corrected."""
    allowed, _ = token_sources(token)
    if allowed is not None and run.source_id and run.source.slug not in allowed:
        raise Forbidden(f"This token may not push usage to source {run.source.slug}.")
    open_rows = {row.pk: row for row in run.rejected_rows.filter(resolved_at__isnull=True)}
    if corrections:
        unknown = [c.get("id") for c in corrections if c.get("id") not in open_rows]
        if unknown:
            raise ApplicationError(
                f"Row(s) {', '.join(map(str, unknown))} are not open rejected rows of run {run.pk}.",
                extra={"fields": {"rows": ["Unknown or already replayed row ids."]}},
            )
        for correction in corrections:
            row = open_rows[correction["id"]]
            if correction.get("raw") is not None and correction["raw"] != row.raw:
                row.raw = correction["raw"]
                row.save(update_fields=["raw"])
        chosen = [c["id"] for c in corrections]
    else:
        chosen = sorted(open_rows)
    if not chosen:
        raise ApplicationError(f"Run {run.pk} has no open rejected rows to replay.")
    with transaction.atomic():
        replay = IngestionRun.objects.create(
            kind="ingestion",
            created_by=actor,
            origin=IngestionRun.Origin.REPLAY,
            format=run.format,
            source=run.source,
            replay_of=run,
            options=run.options,
            file_sha256=run.file_sha256,
            params={"rows": chosen},
        )
        job_run_enqueue(run=replay, task="usage.replay")
    return replay


def replay_run_execute(replay: IngestionRun) -> dict:
    """Parse each chosen rejected row again (in its original format) and ingest what now passes;
    rows that pass leave the rejected list, the others keep their new reasons."""
    original = replay.replay_of
    rows = {r.pk: r for r in RejectedRow.objects.filter(pk__in=replay.params.get("rows", []), run=original)}

    feed = feed_for(replay.format)
    opts = feed_options(original)

    def parse(row: RejectedRow) -> list:
        """The row's items (a feed row may give more than one: OpenRouter activity gives a usage
        record and a cost line); all are tried, the row stays rejected if any fails."""
        try:
            items = feed.row(row.raw, opts, row.row)
        except FeedError as exc:
            items = Unreadable(row.raw, str(exc))
        return [(row.pk, item) for item in (items if isinstance(items, list) else [items])]

    def work():
        with transaction.atomic():
            ctx = BatchContext.load(
                default_source=original.source.slug if original.source_id else None,
                coerce_strings=feed.coerce_strings,
            )
            parsed = [item for _, row in sorted(rows.items()) for item in parse(row)]
            result = ingest_items(parsed, ctx, run_id=replay.pk, feed=replay.format)
            failed: dict[int, list[str]] = {}
            for r in result.rejected:
                failed.setdefault(r.index, []).extend(r.reasons)
            now = timezone.now()
            passed = [pk for pk in rows if pk not in failed]
            RejectedRow.objects.filter(pk__in=passed).update(resolved_at=now, resolved_by=replay)
            for pk, reasons in failed.items():
                RejectedRow.objects.filter(pk=pk).update(reasons=reasons)
            _finish(replay, result)
            return result

    result = _retrying(work)
    return {**result.counts, "cost_lines": result.cost_lines, "message": _summary(result.counts)}
