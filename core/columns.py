"""Table columns that render without compiling a template for every cell.

django-tables2's DateColumn and DateTimeColumn are TemplateColumns: every cell compiles
`{{ value|date:"…"|default:default }}` into a new Template and renders it in the page's context,
about 1 ms a cell — a list of 50 rows with two date columns spent 100 ms on them. These keep the
same arguments, output (local time, the `date` filter's formats, HTML-escaped, the column's default
when the text is empty) and exports (ISO 8601), and call the filter directly.

They are registered in django-tables2's column library, so a table's date and datetime model
fields (listed in `Meta.fields` without a column of their own) get them too; tables import them
from here for the columns they declare.

TemplateColumn: the same compilation, once per column instead of once per cell, for columns given
`template_code` (a `template_name` is already compiled once, by the template loaders' cache).

install_signature_cache: django-tables2 calls every cell's render and value methods through
`call_with_appropriate`, which asks `inspect.signature` which arguments they take — a fifth of the
time a list page spends on its table. A function's parameters never change, so they are worked
out once per function (CoreConfig.ready installs it).
"""

from __future__ import annotations

import inspect
from functools import lru_cache

import django_tables2 as tables
from django.template import Context, Template
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html_join
from django.utils.timezone import template_localtime
from django_tables2 import utils as tables_utils
from django_tables2.columns import library


class _FormattedMixin:
    def render(self, value, bound_column, **kwargs):
        """On the page: a narrow column wraps between the date and the time, never inside them."""
        text = date_filter(template_localtime(value), self.date_format)
        if not text:
            return bound_column.default
        return format_html_join(" ", '<span class="text-nowrap">{}</span>', ((part,) for part in text.split()))


@library.register
class DateColumn(_FormattedMixin, tables.DateColumn):
    def __init__(self, format=None, short=True, *args, **kwargs):
        super().__init__(format, short, *args, **kwargs)
        self.date_format = format or ("SHORT_DATE_FORMAT" if short else "DATE_FORMAT")


@library.register
class DateTimeColumn(_FormattedMixin, tables.DateTimeColumn):
    def __init__(self, format=None, short=True, *args, **kwargs):
        super().__init__(format, short, *args, **kwargs)
        self.date_format = format or ("SHORT_DATETIME_FORMAT" if short else "DATETIME_FORMAT")


@lru_cache(maxsize=256)
def _compiled(template_code: str) -> Template:
    return Template(template_code)


class TemplateColumn(tables.TemplateColumn):
    def render(self, record, table, value, bound_column, **kwargs):
        if not self.template_code:
            return super().render(record=record, table=table, value=value, bound_column=bound_column, **kwargs)
        # As django-tables2 does: the page's context (attached to the table by {% render_table %})
        # with the cell's variables pushed on top, and the request.
        parent_context = getattr(table, "context", Context())
        context = self.get_context_data(record=record, table=table, value=value, bound_column=bound_column, **kwargs)
        with parent_context.update(context):
            parent_context["request"] = getattr(table, "request", None)
            return _compiled(self.template_code).render(parent_context)


# django-tables2's own, for what the cache does not take (partials, callable objects, …)
_library_signature = tables_utils.signature
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@lru_cache(maxsize=4096)
def _function_signature(func) -> tuple[tuple[str, ...], str | None, bool]:
    """The library's (arguments, **kwargs name) of a plain function, and whether its first
    parameter is positional (the one a bound method's instance fills)."""
    parameters = list(inspect.signature(func).parameters.values())
    first_positional = bool(parameters) and parameters[0].kind in _POSITIONAL
    return (*_library_signature(func), first_positional)


def cached_signature(fn):
    """django_tables2.utils.signature, worked out once per function: a bound method's is its
    function's without the first argument, as inspect.signature gives it."""
    func = getattr(fn, "__func__", None)
    if inspect.ismethod(fn) and inspect.isfunction(func):
        args, keywords, first_positional = _function_signature(func)
        if first_positional:
            return args[1:], keywords
    elif inspect.isfunction(fn):
        args, keywords, _ = _function_signature(fn)
        return args, keywords
    return _library_signature(fn)


def install_signature_cache() -> None:
    tables_utils.signature = cached_signature
