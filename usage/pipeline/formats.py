"""Step 1, parse: feed text → raw records (dicts in the generic record schema of API.md).

Each parser yields (row number, record) pairs; a row that cannot be read becomes an Unreadable
with its raw text and reason (kept as a rejected row). A file whose structure is wrong — not
UTF-8, no header, missing columns — raises FeedError and fails its run with that message.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson


class FeedError(ValueError):
    """The feed as a whole cannot be read."""


@dataclass(frozen=True)
class Unreadable:
    raw: str
    reason: str


class Parsed(dict):
    """A record parsed from a line of text, which it keeps: a rejected row is kept (and
    corrected, and replayed) as the line the file had, not as our reading of it."""

    __slots__ = ("raw",)

    def __init__(self, values: dict, raw: str) -> None:
        super().__init__(values)
        self.raw = raw


# Uploads are text (CSV, JSON, NDJSON): what they are is read from their first bytes, not their name.
BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "UTF-32 text"),
    (b"\xff\xfe\x00\x00", "UTF-32 text"),
    (b"\xfe\xff", "UTF-16 text"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an XLSX or other Office file is one)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office document (XLS, DOC)"),
    (b"\x7fELF", "a program"),
)


def text_problem(data: bytes) -> str | None:
    """Why an upload is not UTF-8 text, or None when it is (a UTF-8 byte-order mark is fine).
    Judged by its content: a PNG named usage.csv is a PNG."""
    for signature, kind in BINARY_SIGNATURES:
        if data.startswith(signature):
            if kind.startswith("UTF-"):
                return f"The file is {kind}; save it as UTF-8 and upload it again."
            return f"The file is {kind}, not text; upload the feed as UTF-8 text (CSV, JSON or NDJSON)."
    if data[:3] == b"BZh" and data[4:10] == b"1AY&SY":
        return "The file is a bzip2 archive, not text; upload the feed as UTF-8 text (CSV, JSON or NDJSON)."
    nul = data.find(b"\x00")
    if nul >= 0:
        return (
            f"The file holds a NUL byte (at byte {nul}): it is binary, or UTF-16/32 text without a byte-order "
            "mark; upload the feed as UTF-8 text."
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8 "
            "(e.g. from Latin-1 or Windows-1252) and upload it again."
        )
    return None


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError(f"The file is not UTF-8 text (byte {exc.start} cannot be decoded).") from exc


# JSON array and NDJSON (the generic record schema) --------------------------------------------------


def json_array(data: bytes) -> list:
    """A request body that must be a JSON array of records."""
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark, as some tools write: not part of the JSON
        data = data[3:]
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"The body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, list):
        raise FeedError(f"The body must be a JSON array of records, not a JSON {type(parsed).__name__}.")
    return parsed


def ndjson(text: str, *, first_row: int = 0) -> Iterator[tuple[int, object]]:
    """One JSON object per line; blank lines are skipped; a line that is not JSON is unreadable.
    Rows are numbered like a JSON array's indexes (from 0) among the non-blank lines."""
    index = first_row
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield index, Unreadable(line, f"the line is not JSON: {exc}")
        else:
            yield index, Parsed(value, line) if isinstance(value, dict) else value
        index += 1


# Generic CSV -------------------------------------------------------------------------------------------

CSV_REQUIRED = ("vendor", "model", "bucket_start", "input_tokens")
CSV_COLUMNS = (
    "external_id",
    "source",
    "vendor",
    "model",
    "bucket_start",
    "bucket_end",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "failed_requests",
    "latency_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "project_id",
    "api_key_id",
    "workspace_id",
    "user_id",
    "service_tier",
    "region",
    "tags",
    "department",
)


def csv_rows(reader) -> Iterator[list[str]]:
    """A csv reader's rows; a file it cannot read (a cell over the csv module's 128 KiB limit, a
    NUL character) fails the whole run with the line, so nothing is applied."""
    try:
        yield from reader
    except csv.Error as exc:
        raise FeedError(f"Line {reader.line_num}: the CSV cannot be read ({exc}); nothing was stored.") from exc


def csv_header(text: str) -> list[str]:
    reader = csv.reader(io.StringIO(text))
    header = next(csv_rows(reader), None)
    if not header or not any(h.strip() for h in header):
        raise FeedError("The CSV file is empty or has no header row.")
    header = [h.strip() for h in header]
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        raise FeedError(
            f"The CSV header lacks the required column(s) {', '.join(missing)}; it has {', '.join(header)}."
        )
    return header


def csv_line(values: list[str]) -> str:
    """A row as CSV text without a line end. Cells holding a line break are quoted (the writer
    quotes the characters of its line terminator, so it must have one): the text reads back as
    one row."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()[:-2]


def generic_csv(text: str, header: list[str] | None = None) -> Iterator[tuple[int, object]]:
    """Rows numbered by their line in the file (the header is line 1). Values stay text; the
    normalise step reads numbers from text for this format. Empty cells are absent values."""
    reader = csv.reader(io.StringIO(text))
    rows = csv_rows(reader)
    if header is None:
        header = csv_header(text)
        next(rows)
        first_line = 2
    else:
        first_line = 1
    for offset, values in enumerate(rows):
        line = first_line + offset
        if not values or not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield line, Unreadable(csv_line(values), f"{len(values)} columns where the header has {len(header)}")
            continue
        yield (
            line,
            Parsed(
                {
                    name: value
                    for name, value in zip(header, values, strict=True)
                    if value != "" and name in CSV_COLUMNS
                },
                csv_line(values),
            ),
        )


# Request traces (one request per row) --------------------------------------------------------------------


@dataclass(frozen=True)
class TraceOptions:
    vendor: str
    model: str
    timezone: str = "UTC"
    start: str | None = None  # for relative timestamps (Mooncake: milliseconds from the trace start)
    file_sha256: str = ""

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise FeedError(f"Unknown timezone {self.timezone!r}; use an IANA name such as Asia/Shanghai.") from exc

    def start_at(self) -> datetime:
        if not self.start:
            raise FeedError("This trace has relative timestamps; give the upload a start (e.g. 2026-03-02T09:00:00).")
        try:
            start = datetime.fromisoformat(self.start)
        except ValueError as exc:
            raise FeedError(f"start {self.start!r} is not an ISO 8601 date and time.") from exc
        return start if start.tzinfo else start.replace(tzinfo=self.zone())


def _trace_record(opts: TraceOptions, line: int, at: datetime, tokens_in, tokens_out) -> dict:
    return {
        # the file and line identify the request, so uploading the file again changes nothing
        "external_id": f"trace:{opts.file_sha256[:16]}:{line}",
        "vendor": opts.vendor,
        "model": opts.model,
        "bucket_start": at.isoformat(),
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "requests": 1,
    }


def _azure_row(values: list[str], opts: TraceOptions, line: int, zone):
    raw = csv_line(values)
    if len(values) < 3:
        return Unreadable(raw, "fewer than 3 columns")
    try:
        at = datetime.fromisoformat(values[0].strip())
    except ValueError:
        return Unreadable(raw, f"TIMESTAMP {values[0]!r} is not a date and time")
    at = at if at.tzinfo else at.replace(tzinfo=zone)
    return Parsed(_trace_record(opts, line, at, _int_text(values[1]), _int_text(values[2])), raw)


def _mooncake_row(line_text: str, opts: TraceOptions, line: int, start: datetime):
    try:
        item = orjson.loads(line_text)
    except orjson.JSONDecodeError as exc:
        return Unreadable(line_text, f"the line is not JSON: {exc}")
    if not isinstance(item, dict) or not {"timestamp", "input_length", "output_length"} <= set(item):
        return Unreadable(line_text, "expected timestamp, input_length and output_length")
    ms = item["timestamp"]
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms < 0:
        return Unreadable(line_text, f"timestamp {ms!r} is not a number of milliseconds")
    record = _trace_record(opts, line, start + timedelta(milliseconds=ms), item["input_length"], item["output_length"])
    return Parsed(record, line_text)


def _int_text(value: str):
    value = value.strip()
    return int(value) if value.isdigit() else value  # non-digits are rejected by normalise with a reason


def request_trace(text: str, opts: TraceOptions) -> Iterator[tuple[int, object]]:
    """Azure layout (CSV: TIMESTAMP in the upload's timezone, ContextTokens, GeneratedTokens) or
    Mooncake layout (JSON lines: timestamp in ms from `start`, input_length, output_length)."""
    if text.lstrip().startswith("{"):
        start = opts.start_at()
        for offset, line_text in enumerate(text.splitlines()):
            if line_text.strip():
                yield offset + 1, _mooncake_row(line_text, opts, offset + 1, start)
        return
    rows = csv_rows(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in next(rows, [])]
    if header[:3] != ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]:
        raise FeedError(
            "Unknown trace layout: expected a CSV with TIMESTAMP,ContextTokens,GeneratedTokens (Azure) "
            "or JSON lines with timestamp, input_length, output_length (Mooncake)."
        )
    zone = opts.zone()
    for offset, values in enumerate(rows):
        if values and any(v.strip() for v in values):
            yield offset + 2, _azure_row(values, opts, offset + 2, zone)


def request_trace_row(raw: str, opts: TraceOptions, line: int):
    """One trace row again (a replay), keeping its original line so its key does not change."""
    if raw.lstrip().startswith("{"):
        return _mooncake_row(raw, opts, line, opts.start_at())
    values = next(csv_rows(csv.reader(io.StringIO(raw))), [])
    return _azure_row(values, opts, line, opts.zone())
