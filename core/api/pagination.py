from functools import cached_property, partial

from django.core.paginator import Paginator
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` and `?page_size=` (up to 1 000); answers {"count", "next", "previous", "results"}."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class _KnownCountPaginator(Paginator):
    def __init__(self, object_list, per_page, *, known_count, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = known_count

    @cached_property
    def count(self) -> int:
        known = self._known_count()
        return super().count if known is None else known


class KnownCountPagination(PageNumberPagination):
    """The same pages, for lists of tables too large to count on every request: the view's
    `known_count()` gives the count from elsewhere (a rollup that is kept exact), or None to
    count the rows after all."""

    def paginate_queryset(self, queryset, request, view=None):
        known = getattr(view, "known_count", None) or (lambda: None)
        self.django_paginator_class = partial(_KnownCountPaginator, known_count=known)
        return super().paginate_queryset(queryset, request, view)
