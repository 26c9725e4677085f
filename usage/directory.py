"""usage's answers to core.directory."""

from __future__ import annotations

from collections.abc import Sequence

from .models import Source


class SourceDirectory:
    def unknown_source_slugs(self, slugs: Sequence[str]) -> list[str]:
        known = set(Source.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        return [slug for slug in slugs if slug not in known]
