"""Demo usage sources (run by `manage.py load_demo`)."""

from __future__ import annotations

from .models import Source

SOURCES = [
    ("demo-gateway", "Internal LLM gateway (demo)", "ndjson"),
]


def load_sources() -> list[Source]:
    return [
        Source.objects.update_or_create(slug=slug, defaults={"name": name, "format": fmt})[0]
        for slug, name, fmt in SOURCES
    ]
