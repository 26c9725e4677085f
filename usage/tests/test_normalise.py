"""The fast path of normalise and the full check agree on every record (property-based)."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage.pipeline.context import BatchContext
from usage.pipeline.normalise import _checked, _fast, normalise


def context(**overrides) -> BatchContext:
    return BatchContext(
        vendors={"openai": 1, "deepseek": 2},
        sources={"gw": 1},
        departments={"FIN": 10, "ENG": 11, "UNALLOCATED": 99},
        unallocated_id=99,
        reporting_currency="USD",
        now=datetime(2026, 6, 1, tzinfo=UTC),
        future_tolerance=timedelta(minutes=10),
        **overrides,
    )


timestamps = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 7, 1), timezones=st.sampled_from([UTC, None])
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
counts = st.one_of(
    st.integers(min_value=-2, max_value=2**63), st.floats(allow_nan=True), st.none(), st.text(max_size=3)
)
text_or_none = st.one_of(st.none(), st.just(""), st.text(max_size=70), st.integers())

records = st.fixed_dictionaries(
    {
        "vendor": st.sampled_from(["openai", "deepseek", "nope", "", None]),
        "model": st.one_of(st.sampled_from(["gpt-4o", " gpt-4o ", ""]), st.text(max_size=5)),
        "bucket_start": st.one_of(timestamps, st.just("2026-03-01T10:00:00+08:00"), st.text(max_size=5)),
        "input_tokens": counts,
    },
    optional={
        "source": st.sampled_from(["gw", "other", ""]),
        "bucket_end": st.one_of(timestamps, st.none()),
        "output_tokens": counts,
        "cached_input_tokens": counts,
        "requests": counts,
        "failed_requests": counts,
        "latency_ms": st.one_of(st.none(), st.floats(), st.integers(min_value=-1, max_value=10**6)),
        "project_id": text_or_none,
        "region": text_or_none,
        "tags": st.one_of(
            st.none(), st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=3)
        ),
        "department": st.sampled_from(["FIN", "ENG", "", None, "NOPE"]),
        "external_id": st.one_of(st.none(), st.text(max_size=10), st.integers()),
    },
)


@settings(max_examples=600, deadline=None)
@given(records)
def test_fast_path_agrees_with_the_full_check(record):
    ctx = context(default_source="gw")
    fast = _fast(record, 0, ctx)
    full = _checked(record, 0, ctx)
    if fast is not None:
        assert fast == full  # same Row, field by field (keys and content hashes included)
    assert normalise(record, 0, ctx) == full


def test_the_fast_path_takes_ordinary_records():
    record = {
        "source": "gw",
        "vendor": "openai",
        "model": "gpt-4o",
        "bucket_start": "2026-03-01T00:00:00Z",
        "input_tokens": 5,
        "tags": {"team": "x"},
        "department": "FIN",
    }
    assert _fast(record, 0, context()) is not None


@pytest.mark.parametrize("offset", ["Z", "+00:00", "+08:00", "-05:30"])
def test_same_instant_same_key(offset):
    ctx = context(default_source="gw")
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    shifted = {"Z": base, "+00:00": base}.get(offset)
    if shifted is None:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        shifted = base + sign * timedelta(hours=hours, minutes=minutes)
    text = shifted.replace(tzinfo=None).isoformat() + offset
    a = normalise({"vendor": "openai", "model": "m", "bucket_start": "2026-03-01T12:00:00Z", "input_tokens": 1}, 0, ctx)
    b = normalise({"vendor": "openai", "model": "m", "bucket_start": text, "input_tokens": 1}, 0, ctx)
    assert a.key == b.key and a.content == b.content
