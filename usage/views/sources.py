"""Source pages: the list (with each source's pull health), a source with its pull settings,
recent runs and change history, the forms, and "Pull now"."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views import View

from core.exceptions import ApplicationError
from core.policy import can
from core.views.generic import ObjectDeleteView, ObjectDetailView, ObjectEditView, ObjectListView
from core.views.mixins import PolicyRequiredMixin

from .. import selectors, services
from ..filtersets import SourceFilterSet
from ..forms import SourceForm
from ..models import Source
from ..pipeline.feeds.endpoints import endpoint_for
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
        context["pull_endpoint"] = endpoint = endpoint_for(self.object.format)
        context["can_pull"] = can(user, "usage_source", "pull") and self.object.is_active and endpoint is not None
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


class SourcePullView(PolicyRequiredMixin, View):
    """The "Pull now" button of a source's page: a pull run, whose page follows it."""

    policy_resource = "usage_source"
    policy_action = "pull"
    http_method_names = ["post"]

    def post(self, request, slug):
        source = get_object_or_404(self.scope(Source.objects.all()), slug=slug)
        try:
            run = services.source_pull_now(source=source, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect(source.get_absolute_url())
        messages.success(request, f"Pull of {source.name} queued as run #{run.pk}.")
        return redirect(run.get_absolute_url())


class SourceDeleteView(ObjectDeleteView):
    policy_resource = "usage_source"
    model = Source
    lookup_field = "slug"
    success_url_name = "usage:source_list"

    def perform(self, obj):
        services.source_delete(source=obj, actor=self.request.user)
