"""The list pages' shell: the filter card says how many filters are set and opens itself then, and
a rejected row's editor is as tall as the row it shows."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from core.templatetags.tl import active_filters, textarea_rows


@pytest.mark.parametrize(
    ("query", "ignored", "expected"),
    [
        ("", (), 0),
        ("page=2&sort=-amount&per_page=50&_export=csv", (), 0),  # paging, sorting, exporting
        ("status=open&vendor=&department=T-IN", (), 2),  # blank values set nothing
        ("severity=warning&severity=critical", (), 1),  # one filter, two values
        ("period=2026-03&vendor=acme", ("period",), 1),  # the board's month is not a filter
        ("q=%20%20", (), 0),
    ],
)
def test_active_filters_counts_what_the_query_string_filters(query, ignored, expected):
    request = RequestFactory().get(f"/alerts/?{query}")
    assert active_filters({"request": request}, *ignored) == expected


def test_active_filters_without_a_request():
    assert active_filters({}) == 0


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("", 3),
        ("openai,gpt-4o,2026-03-01T00:00:00Z,-1,0", 3),
        ("x" * 450, 6),  # one long FOCUS line: 5 wrapped lines + 1
        ("a\nb\nc\nd\ne", 5),
        ("y" * 5000, 14),  # capped: the box scrolls
    ],
)
def test_textarea_rows_fit_the_row(text, rows):
    assert textarea_rows(text) == rows
