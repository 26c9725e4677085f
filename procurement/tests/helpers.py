"""Small helpers of the procurement page tests."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re

from django.test import Client


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def field_block(html: str, field: str) -> str:
    """The markup of one form field's group (label, input, its error messages, help): the errors
    a test finds here are shown beside that field, not somewhere else on the page."""
    blocks = re.split(r'(?=<div class="mb-3">|<fieldset class="mb-3")', html)
    matches = [b for b in blocks if re.search(rf'name="{re.escape(field)}(_\d+)?"', b)]
    assert matches, f"no form field {field!r} on the page"
    return matches[0]


def errors_beside(html: str, field: str) -> list[str]:
    found = re.findall(r'<div class="invalid-feedback d-block" role="alert">(.*?)</div>', field_block(html, field))
    return [html_lib.unescape(message) for message in found]


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv"), response["Content-Type"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))
