"""Vendor pages made of time buckets, each with a results list (OpenAI usage and costs, Anthropic's
usage and cost reports): reading the pages, keeping one result as a row, reading it back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..formats import FeedError, Unreadable
from .base import dumps_raw, json_pages, loads_exact


@dataclass(frozen=True)
class BucketLayout:
    """How one vendor writes its buckets: the names of the bucket's start and end, how to read a
    time, and the start key of the other vendor's layout (to say what a misfiled page is)."""

    start: str
    end: str
    read_time: Callable[[object, str], datetime]
    other_start: str
    other: str  # what a page with `other_start` is, and the formats to upload it as

    @property
    def raw_shape(self) -> str:
        return f'expected {{"bucket": {{"{self.start}": …, "{self.end}": …}}, "result": {{…}}}}'

    def results(self, text: str, feed: str) -> list[tuple[dict, object]]:
        """Every (bucket, result) of the file's pages, in order. What is not this vendor's pages —
        not JSON, cut off, a bucket without a results list, the other vendor's — raises FeedError."""
        pairs: list[tuple[dict, object]] = []
        for p, page in enumerate(json_pages(text), start=1):
            for b, bucket in enumerate(page["data"], start=1):
                if not isinstance(bucket, dict) or not isinstance(bucket.get("results"), list):
                    raise FeedError(f"Page {p}, bucket {b} has no results list: it is not a page of {feed}.")
                if self.start not in bucket and self.other_start in bucket:
                    raise FeedError(f"Page {p}, bucket {b} has {self.other_start}: {self.other} (not {feed}).")
                pairs.extend((bucket, result) for result in bucket["results"])
        return pairs

    def raw_row(self, bucket: dict, result) -> str:
        times = {self.start: bucket.get(self.start), self.end: bucket.get(self.end)}
        return dumps_raw({"bucket": times, "result": result})

    def read_raw_row(self, raw: str) -> tuple[dict, object] | Unreadable:
        """A kept row (possibly corrected by a person) back into its bucket and result."""
        try:
            value = loads_exact(raw)
        except ValueError as exc:
            return Unreadable(raw, f"the row is not JSON ({exc}): {self.raw_shape}")
        if not isinstance(value, dict) or not isinstance(value.get("bucket"), dict) or "result" not in value:
            return Unreadable(raw, self.raw_shape)
        return value["bucket"], value["result"]

    def times(self, bucket: dict, reasons: list[str]) -> tuple[datetime | None, datetime | None]:
        times = []
        for name in (self.start, self.end):
            try:
                times.append(self.read_time(bucket.get(name), name))
            except ValueError as exc:
                reasons.append(f"bucket {exc}")
                times.append(None)
        return times[0], times[1]
