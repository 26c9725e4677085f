"""What a batch needs to know, loaded once: vendors, sources, departments, the caller's token
scope, attribution rules, list prices and FX rates. Lookups in the hot loop are dict reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.selectors import organization_settings
from procurement.models import Department, Vendor
from procurement.selectors import unallocated_department

from ..models import Source


@dataclass
class BatchContext:
    vendors: dict[str, int]  # slug → id
    sources: dict[str, int]  # slug → id (active sources)
    departments: dict[str, int]  # code → id
    unallocated_id: int
    reporting_currency: str
    now: datetime
    future_tolerance: timedelta
    default_source: str | None = None
    allowed_sources: frozenset[str] | None = None  # None: any source
    coerce_strings: bool = False  # CSV and other text formats give numbers as text
    # filled by the attribute and rate steps
    caches: dict = field(default_factory=dict)

    latest_start: datetime = field(init=False)
    forbidden_sources: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.latest_start = self.now + self.future_tolerance

    @classmethod
    def load(
        cls,
        *,
        default_source: str | None = None,
        allowed_sources: frozenset[str] | None = None,
        coerce_strings: bool = False,
    ) -> BatchContext:
        unallocated = unallocated_department()
        departments = dict(Department.objects.values_list("code", "id"))
        return cls(
            vendors=dict(Vendor.objects.values_list("slug", "id")),
            sources=dict(Source.objects.filter(is_active=True).values_list("slug", "id")),
            departments=departments,
            unallocated_id=unallocated.pk,
            reporting_currency=organization_settings().reporting_currency,
            now=timezone.now(),
            future_tolerance=timedelta(minutes=settings.USAGE_FUTURE_TOLERANCE_MINUTES),
            default_source=default_source,
            allowed_sources=allowed_sources,
            coerce_strings=coerce_strings,
        )

    def dates(self, rows) -> tuple[date, date]:
        days = [row.usage_date for row in rows]
        return min(days), max(days)
