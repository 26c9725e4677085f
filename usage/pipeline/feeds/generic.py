"""The generic formats of the ingestion core as feeds: generic CSV, NDJSON records, request traces."""

from __future__ import annotations

from ..formats import (
    FeedError,
    TraceOptions,
    Unreadable,
    csv_header,
    generic_csv,
    ndjson,
    request_trace,
    request_trace_row,
)
from .base import Feed, FeedOptions


class GenericCsvFeed(Feed):
    format = "generic_csv"
    coerce_strings = True

    def prepare(self, text, opts):
        return {"header": csv_header(text)}

    def rows(self, text, opts):
        return generic_csv(text)

    def row(self, raw, opts, number):
        parsed = list(generic_csv(raw, header=opts.options.get("header") or []))
        return parsed[0][1] if parsed else Unreadable(raw, "the row is empty")


class NdjsonFeed(Feed):
    format = "ndjson"

    def rows(self, text, opts):
        return ndjson(text)

    def row(self, raw, opts, number):
        parsed = list(ndjson(raw))
        return parsed[0][1] if parsed else Unreadable(raw, "the row is empty")


def trace_options(opts: FeedOptions) -> TraceOptions:
    return TraceOptions(
        vendor=opts.options.get("vendor", ""),
        model=opts.options.get("model", ""),
        timezone=opts.options.get("timezone") or "UTC",
        start=opts.options.get("start"),
        file_sha256=opts.file_sha256,
    )


class RequestTraceFeed(Feed):
    format = "request_trace"

    def rows(self, text, opts):
        return request_trace(text, trace_options(opts))

    def row(self, raw, opts, number):
        try:
            return request_trace_row(raw, trace_options(opts), number)
        except FeedError as exc:
            return Unreadable(raw, str(exc))
