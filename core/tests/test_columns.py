"""core.columns: the template-free date columns, the compiled-once TemplateColumn and the cached
signatures give what django-tables2's own give."""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime

import django_tables2 as tables
import pytest
from django.test import RequestFactory, override_settings
from django_tables2 import utils as tables_utils

from core.columns import DateColumn, DateTimeColumn, TemplateColumn, _library_signature, cached_signature


class Callables:
    def plain(self, value, record):
        pass

    def catch_all(self, **kwargs):
        pass

    def star_args(self, *args, record=None):
        pass

    def keyword_only(self, record, *, table):
        pass

    @classmethod
    def of_class(cls, value):
        pass

    @staticmethod
    def static(value, record):
        pass

    def __call__(self, value):
        pass


def function(value, **kwargs):
    pass


def _callables():
    obj = Callables()
    return [
        obj.plain,
        obj.catch_all,
        obj.star_args,
        obj.keyword_only,
        Callables.of_class,
        obj.of_class,
        obj.static,
        Callables.static,
        Callables.plain,
        function,
        lambda record: record,
        functools.partial(function, 1),
        obj,
    ]


@pytest.mark.parametrize("fn", _callables(), ids=lambda fn: getattr(fn, "__name__", type(fn).__name__))
def test_cached_signatures_are_the_librarys(fn):
    assert cached_signature(fn) == _library_signature(fn)
    assert cached_signature(fn) == _library_signature(fn)  # again, from the cache


def test_the_cache_is_installed():
    assert tables_utils.signature is cached_signature


class Row:
    def __init__(self, pk, day, moment, status):
        self.pk, self.day, self.moment, self.status = pk, day, moment, status


def _tables(date_column, datetime_column, template_column):
    class Table(tables.Table):
        day = date_column(format="Y-m-d")
        day_default = date_column(accessor="day")
        moment = datetime_column(format="Y-m-d H:i", default="never")
        moment_default = datetime_column(accessor="moment")
        status = template_column(template_code="<b>{{ record.status }}</b> {{ value|upper }} {{ default }}")

    return Table


NOWRAP = re.compile(r'<span class="text-nowrap">(.*?)</span>')
ROWS = [
    Row(1, date(2026, 3, 1), datetime(2026, 3, 1, 23, 30, tzinfo=UTC), "open & <new>"),
    Row(2, None, None, ""),
]


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Paris"])
def test_cells_and_exports_are_the_same_as_django_tables2s(time_zone):
    ours = _tables(DateColumn, DateTimeColumn, TemplateColumn)
    theirs = _tables(tables.DateColumn, tables.DateTimeColumn, tables.TemplateColumn)
    request = RequestFactory().get("/")
    with override_settings(TIME_ZONE=time_zone):
        for mine, library in zip(ours(ROWS, request=request).rows, theirs(ROWS, request=request).rows, strict=True):
            # the same text; ours keeps a date and a time each on one line (wrapping only between them)
            assert [NOWRAP.sub(r"\1", str(cell)) for cell in mine] == [str(cell) for cell in library]
        assert list(ours(ROWS).as_values()) == list(theirs(ROWS).as_values())
        first = list(ours(ROWS, request=request).rows[0])
        moment = "00:30" if time_zone == "Europe/Paris" else "23:30"
        day = "2026-03-02" if time_zone == "Europe/Paris" else "2026-03-01"
        assert str(first[2]) == f'<span class="text-nowrap">{day}</span> <span class="text-nowrap">{moment}</span>'
        assert str(first[0]) == '<span class="text-nowrap">2026-03-01</span>'  # a date alone: one piece
