"""Source pages: the list, a source with its recent runs and change history, the forms."""

from __future__ import annotations

from core.policy import can
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView

from .. import selectors, services
from ..filtersets import SourceFilterSet
from ..forms import SourceForm
from ..models import Source
from ..tables import SourceTable

RECENT_RUNS = 10


class SourceListView(ObjectListView):
    policy_resource = "usage_source"
    table_class = SourceTable
    filterset_class = SourceFilterSet
    title = "Sources"
    create_url_name = "usage:source_create"
    empty_message = "No sources yet. A source names a feed: a gateway pushing records, a vendor's API, files."

    def get_queryset(self):
        return self.scope(Source.objects.select_related("vendor"))


class SourceDetailView(ObjectDetailView):
    policy_resource = "usage_source"
    model = Source
    slug_field = slug_url_kwarg = "slug"
    template_name = "usage/source_detail.html"

    def get_queryset(self):
        return self.scope(Source.objects.select_related("vendor"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if can(user, "ingestion_run", "view"):
            context["runs"] = list(selectors.ingestion_runs().filter(source=self.object)[:RECENT_RUNS])
        context["can_ingest"] = can(user, "usage", "ingest") and self.object.is_active
        context["title"] = self.object.name
        return context


class SourceEditView(ObjectEditView):
    policy_resource = "usage_source"
    model = Source
    form_class = SourceForm
    lookup_field = "slug"

    @property
    def title(self):
        return f"Edit source {self.object}" if self.object else "New source"

    def perform(self, form):
        return services.source_save(source=self.object, actor=self.request.user, **form.service_data())


class SourceDeleteView(ObjectDeleteView):
    policy_resource = "usage_source"
    model = Source
    lookup_field = "slug"
    success_url_name = "usage:source_list"

    def perform(self, obj):
        services.source_delete(source=obj, actor=self.request.user)
