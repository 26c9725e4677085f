"""Ingestion runs: uploading a feed file, the list of runs, a run's live progress, counts and
open rejected rows, and replaying those rows (corrected or as they are)."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.views import View
from django.views.generic import TemplateView

from core.exceptions import ApplicationError
from core.policy import CHANGE, can
from core.views.generic import ObjectListView, ServiceFormView
from core.views.mixins import PolicyRequiredMixin

from .. import selectors, services
from ..filtersets import IngestionRunFilterSet
from ..forms import UploadForm
from ..tables import IngestionRunTable

COUNTS = [
    ("received", "Received", "rows read from the feed"),
    ("accepted", "Accepted", "new records stored"),
    ("duplicates", "Duplicates", "already stored with the same values: ignored"),
    ("restated", "Restated", "replaced an earlier version of the record"),
    ("rejected", "Rejected", "kept with their reasons, to correct and replay"),
]

COUNT_NAMES = frozenset(name for name, _, _ in COUNTS)


def add_application_error(form, exc: ApplicationError) -> None:
    """An ApplicationError's field messages (`extra["fields"]`) beside those fields, the message
    itself above the form when it names none of them."""
    fields = exc.extra.get("fields") or {}
    shown = False
    for name, errors in fields.items():
        if name in form.fields:
            form.add_error(name, errors)
            shown = True
    if not shown:
        form.add_error(None, exc.message)


class UploadView(ServiceFormView):
    """A feed file → a queued ingestion run; the run's page follows its progress."""

    policy_resource = "usage"
    policy_action = "ingest"
    form_class = UploadForm
    template_name = "usage/upload.html"
    title = "Upload usage"
    success_message = "File received. It is being ingested; this page follows the run."

    def get_initial(self):
        initial = super().get_initial()
        if self.request.GET.get("source"):
            initial["source"] = self.request.GET["source"]
        return initial

    def form_valid(self, form):
        try:
            return super().form_valid(form)
        except ApplicationError as exc:  # UnsupportedFormat, Forbidden, a trace without vendor, …
            add_application_error(form, exc)
            return self.form_invalid(form)

    def perform(self, form):
        return services.file_upload(
            file=form.cleaned_data["file"],
            format=form.cleaned_data["format"],
            source=form.cleaned_data["source"],
            actor=self.request.user,
            options=form.service_options(),
        )

    def get_success_url(self, result=None):
        return result.get_absolute_url()


class IngestionRunListView(ObjectListView):
    """Everyone sees the runs they started; company-wide readers see every run."""

    policy_resource = "ingestion_run"
    owner_field = "created_by"
    table_class = IngestionRunTable
    filterset_class = IngestionRunFilterSet
    template_name = "usage/run_list.html"
    title = "Ingestion runs"
    empty_message = "No ingestion runs match. Every REST batch, uploaded file and replay makes one."

    def get_queryset(self):
        return self.scope(selectors.ingestion_runs())

    def get_export_filename(self, export_format):
        return f"ingestion_runs.{export_format}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["can_ingest"] = can(self.request.user, "usage", "ingest")
        return context


class IngestionRunDetailView(PolicyRequiredMixin, TemplateView):
    """A run's page. While the run works, an htmx poll of this same URL swaps in its status
    and counts every second; when the poll finds it finished, the page reloads once to show
    the rejected rows."""

    policy_resource = "ingestion_run"
    owner_field = "created_by"
    template_name = "usage/run_detail.html"
    rows_per_page = 25

    def get(self, request, *args, **kwargs):
        self.run = get_object_or_404(self.scope(selectors.ingestion_runs()), pk=kwargs["pk"])
        if request.htmx:
            response = render(request, "usage/_run_live.html", self.live_context())
            if self.run.is_finished:
                response["HX-Refresh"] = "true"
            return response
        return super().get(request, *args, **kwargs)

    def live_context(self) -> dict:
        run = self.run
        # core/_run_status.html lists a run's result; the counts have their own cards here.
        status_run = copy(run)
        # A pull's record (window, pages, requests) has its own card too.
        status_run.result = {k: v for k, v in (run.result or {}).items() if k not in COUNT_NAMES and k != "pull"}
        return {
            "run": run,
            "status_run": status_run,
            "counts": [
                {"name": name, "label": label, "help": help_text, "value": getattr(run, name)}
                for name, label, help_text in COUNTS
            ],
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run, user = self.run, self.request.user
        open_rows = run.rejected_rows.filter(resolved_at__isnull=True).order_by("row", "id")
        page = Paginator(open_rows, self.rows_per_page).get_page(self.request.GET.get("page"))
        visible = self.scope(selectors.ingestion_runs())
        context.update(
            title=f"Ingestion run #{run.pk}",
            **self.live_context(),
            options=sorted(run.options.items()),
            rows_page=page,
            resolved_count=run.rejected_rows.filter(resolved_at__isnull=False).count(),
            replay_of=visible.filter(pk=run.replay_of_id).first() if run.replay_of_id else None,
            replays=list(visible.filter(replay_of=run).order_by("-created_at")),
            can_correct=can(user, "ingestion_run", CHANGE) and run.is_finished,
            # the vendor cost lines this run stored or last restated (cost feeds), for those who read them
            cost_lines=run.cost_lines.count() if can(user, "vendor_cost_line", "view") else 0,
            pull=pull_record(run),
        )
        return context


def pull_record(run) -> dict | None:
    """What a pull run asked for and fetched: its window, pages, requests and their attempts."""
    if run.origin != run.Origin.PULL:
        return None
    record = {**(run.params or {}), **((run.result or {}).get("pull") or {})}
    window = record.get("window") or {}
    return {
        "trigger": (run.params or {}).get("trigger", ""),
        "start": parse_datetime(window["start"]) if window.get("start") else None,
        "end": parse_datetime(window["end"]) if window.get("end") else None,
        "base_url": record.get("base_url", ""),
        "pages": record.get("pages"),
        "attempts": record.get("attempts"),
        "requests": record.get("requests") or [],
    }


def _normalised(text: str) -> str:
    """Browsers send a textarea's line breaks as CRLF; the rows were kept with LF."""
    return text.replace("\r\n", "\n")


class RejectedRowsReplayView(PolicyRequiredMixin, View):
    """Finance tries a run's open rejected rows again: `mode=corrected` sends the rows whose
    text they changed on the page, `mode=all` every open row as it is."""

    policy_resource = "ingestion_run"
    policy_action = CHANGE
    http_method_names = ["post"]

    def post(self, request, pk):
        run = get_object_or_404(self.scope(selectors.ingestion_runs()), pk=pk)
        back = HttpResponseRedirect(run.get_absolute_url())
        corrections = None
        if request.POST.get("mode") == "corrected":
            ids = [int(v) for v in request.POST.getlist("row") if v.isdigit()]
            corrections = []
            for row in run.rejected_rows.filter(pk__in=ids, resolved_at__isnull=True).order_by("row", "id"):
                text = request.POST.get(f"raw-{row.pk}")
                if text is not None and _normalised(text) != row.raw:
                    corrections.append({"id": row.pk, "raw": _normalised(text)})
            if not corrections:
                messages.error(
                    request, "No row was changed. Correct a row's text first, or replay every open row as it is."
                )
                return back
        try:
            replay = services.rejected_rows_replay(run=run, corrections=corrections, actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return back
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return back
        sent = f"{len(corrections)} corrected row(s) sent" if corrections else "Every open rejected row sent"
        messages.success(request, f"{sent} to replay run #{replay.pk}.")
        return redirect(replay.get_absolute_url())
