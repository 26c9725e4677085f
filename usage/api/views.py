from __future__ import annotations

from datetime import date

from django.conf import settings
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from core.api.base import APIView, GenericAPIView, ModelViewSet, ReadOnlyModelViewSet
from core.api.pagination import KnownCountPagination
from core.api.serializers import RunCreatedSerializer
from core.exceptions import ApplicationError, PayloadTooLarge, UnsupportedFormat

from .. import selectors, services
from ..filtersets import (
    AttributionRuleFilterSet,
    IngestionRunFilterSet,
    SourceFilterSet,
    UsageRecordFilterSet,
    VendorCostLineFilterSet,
)
from ..models import AttributionRule, Source
from ..pipeline.formats import FeedError, decode, json_array, ndjson
from .serializers import (
    AttributionRuleSerializer,
    FileUploadSerializer,
    IngestAnswerSerializer,
    IngestionRunSerializer,
    RejectedRowSerializer,
    ReplaySerializer,
    SourceSerializer,
    SummarySerializer,
    UsageRecordSerializer,
    VendorCostLineSerializer,
)

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq")


# A multipart body holds the file and a few short fields: this much more than the file limit is allowed.
MULTIPART_ALLOWANCE = 64 * 1024


def content_length(request) -> int:
    """The declared body length; a header that is not a number counts as none (as Django reads it)."""
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except (TypeError, ValueError):
        return 0


class _KeptFilterSetBackend(DjangoFilterBackend):
    """Leaves the filterset it used on the view (view.filterset), for the count."""

    def get_filterset(self, request, queryset, view):
        view.filterset = super().get_filterset(request, queryset, view)
        return view.filterset


class _TimeOrdering(OrderingFilter):
    """`?ordering=bucket_start` or `-bucket_start` (the default), ties by id the same way, so
    pages never overlap."""

    def get_ordering(self, request, queryset, view):
        first = (super().get_ordering(request, queryset, view) or ["-bucket_start"])[0]
        return [first, "-id" if first.startswith("-") else "id"]


class UsageRecordsApi(mixins.ListModelMixin, GenericAPIView):
    """`GET`: usage records with their rating, newest `bucket_start` first (a department manager
    sees their departments' only). `POST`: push usage — a JSON array of records, or NDJSON
    (`Content-Type: application/x-ndjson`), at most 50 000 records; `?atomic=true` makes the
    batch all-or-nothing."""

    policy_resource = "usage"
    policy_actions = {"post": "ingest"}
    department_field = "department_id"
    parser_classes: list = []  # the body is read here, fast, without DRF's parsers
    serializer_class = UsageRecordSerializer
    filterset_class = UsageRecordFilterSet
    filter_backends = [_KeptFilterSetBackend, _TimeOrdering]
    ordering_fields = ["bucket_start"]
    ordering = ["-bucket_start"]
    pagination_class = KnownCountPagination
    filterset: UsageRecordFilterSet | None = None

    def get_queryset(self):
        return self.scope_queryset(selectors.usage_records())

    def known_count(self) -> int | None:
        """The count from the daily rollups when the filters are ones they keep (a list of ten
        million records is not counted row by row); else None, and the rows are counted."""
        filters = self.filterset.rollup_count_filters() if self.filterset is not None else None
        if filters is None:
            return None
        return selectors.usage_record_count(user=self.request.user, **filters)

    def get(self, request):
        """Usage records with their rating, newest `bucket_start` first; filters `vendor`,
        `model`, `department` (with its sub-departments), `source`, `start` / `end` (usage dates,
        `end` exclusive), `rating`, `off_contract`, `fx_status`, `agreement`, `run`, `external_id`."""
        records = self.filter_queryset(self.get_queryset())
        if self.filterset.form.cleaned_data.get("vendor") is None:
            # one vendor's records are read along the index by the plain query; several, merged
            records = selectors.RecordsByVendor(records)
        page = self.paginate_queryset(records)
        references = selectors.agreement_references(record.agreement_id for record in page)
        context = {**self.get_serializer_context(), "agreement_references": references}
        return self.get_paginated_response(self.get_serializer(page, many=True, context=context).data)

    def _records(self, request) -> list:
        length = content_length(request)
        if length > settings.USAGE_MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The body is {length} bytes; the limit is {settings.USAGE_MAX_BODY_BYTES}.")
        body = request.body
        content_type = (request.content_type or "application/json").split(";")[0].strip().lower()
        try:
            if content_type in NDJSON_TYPES:
                records = list(ndjson(decode(body)))
            elif content_type in ("application/json", "text/json", ""):
                records = list(enumerate(json_array(body)))
            else:
                raise UnsupportedFormat(
                    f"Send a JSON array (application/json) or NDJSON (application/x-ndjson), not {content_type}."
                )
        except FeedError as exc:
            raise ApplicationError(str(exc)) from exc
        if len(records) > settings.USAGE_MAX_RECORDS_PER_REQUEST:
            raise PayloadTooLarge(
                f"{len(records)} records in one request; the limit is {settings.USAGE_MAX_RECORDS_PER_REQUEST}."
            )
        return records

    @extend_schema(
        request={"application/json": OpenApiTypes.OBJECT, "application/x-ndjson": OpenApiTypes.STR},
        parameters=[OpenApiParameter("atomic", bool, description="All or nothing")],
        responses=IngestAnswerSerializer,
    )
    def post(self, request):
        """Push usage records (a JSON array or NDJSON) → the counts of what was accepted,
        duplicated, restated and rejected."""
        records = self._records(request)
        atomic = request.query_params.get("atomic", "").lower() in ("1", "true", "yes")
        try:
            run, result = services.records_ingest(
                records=records, actor=request.user, token=request.auth, atomic=atomic
            )
        except services.AtomicRejection as exc:
            return Response({"message": exc.message, "extra": exc.extra}, status=status.HTTP_400_BAD_REQUEST)
        counts = result.counts
        return Response(
            {
                "run": run.pk if run else None,
                "accepted": counts["accepted"],
                "duplicates": counts["duplicates"],
                "restated": counts["restated"],
                "rejected": counts["rejected"],
                "errors": [r.as_error() for r in result.rejected],
            }
        )


class UsageFileUploadApi(APIView):
    """Upload a feed file → 202 {"run": id}; a worker ingests it (`GET usage/runs/{id}`). A file
    over USAGE_UPLOAD_MAX_BYTES answers 413; one that is not UTF-8 text by its content (an image,
    an archive, UTF-16, Latin-1) 415; no run is made for either."""

    policy_resource = "usage"
    policy_actions = {"post": "ingest"}
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": FileUploadSerializer}, responses={202: RunCreatedSerializer})
    def post(self, request):
        limit = settings.USAGE_UPLOAD_MAX_BYTES
        length = content_length(request)
        if length > limit + MULTIPART_ALLOWANCE:  # refused before the body is read
            raise PayloadTooLarge(
                f"The upload is {length} bytes; files are limited to {limit} bytes (USAGE_UPLOAD_MAX_BYTES).",
                extra={"size": length, "limit": limit},
            )
        form = FileUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        options = {k: data[k] for k in ("vendor", "model", "timezone", "start") if data.get(k)}
        run = services.file_upload(
            file=data["file"],
            format=data["format"],
            source=data["source"],
            actor=request.user,
            token=request.auth,
            options=options,
        )
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


class IngestionRunViewSet(ReadOnlyModelViewSet):
    """Ingestion runs with their counts; `rejected` lists the rows kept; `replay` tries them again."""

    policy_resource = "ingestion_run"
    policy_actions = {"rejected": "view"}
    owner_field = "created_by"
    serializer_class = IngestionRunSerializer
    filterset_class = IngestionRunFilterSet
    ordering_fields = ["created_at", "finished_at", "status", "received", "rejected"]

    def get_queryset(self):
        return self.scope_queryset(selectors.ingestion_runs())

    @extend_schema(responses=RejectedRowSerializer(many=True))
    @action(detail=True, methods=["get"])
    def rejected(self, request, pk=None):
        run = self.get_object()
        rows = run.rejected_rows.filter(resolved_at__isnull=True).order_by("row", "id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RejectedRowSerializer(page, many=True).data)

    @extend_schema(request=ReplaySerializer, responses={202: RunCreatedSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        run = self.get_object()
        body = ReplaySerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        replay = services.rejected_rows_replay(
            run=run, corrections=body.validated_data.get("rows"), actor=request.user, token=request.auth
        )
        return Response({"run": replay.pk}, status=status.HTTP_202_ACCEPTED)


class SourceViewSet(ModelViewSet):
    """Usage sources, addressed by slug (`usage/sources/openai-prod/`)."""

    policy_resource = "usage_source"
    serializer_class = SourceSerializer
    filterset_class = SourceFilterSet
    lookup_field = "slug"
    ordering_fields = ["slug", "name", "format", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(Source.objects.select_related("vendor"))

    def _save(self, serializer, source=None):
        data = dict(serializer.validated_data)
        # absent or "": keep the stored credential; null: forget it; text: store it encrypted
        credential = data.pop("credential", "")
        serializer.instance = services.source_save(
            source=source,
            actor=self.request.user,
            credential=services.KEEP_CREDENTIAL if credential == "" else credential,
            **data,
        )

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        services.source_delete(source=instance, actor=self.request.user)


class SourcePullApi(APIView):
    """Pull a source's vendor API now → 202 {"run": id}; `GET usage/runs/{id}` follows it.
    409 when a pull of the source is already queued or running."""

    policy_resource = "usage_source"
    policy_actions = {"post": "pull"}

    @extend_schema(request=None, responses={202: RunCreatedSerializer})
    def post(self, request, slug):
        source = get_object_or_404(Source.objects.all(), slug=slug)
        run = services.source_pull_now(source=source, actor=request.user)
        return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)


class AttributionRuleViewSet(ModelViewSet):
    """Rules from a vendor dimension's value to a department; changing one re-attributes the
    records it concerns in the background."""

    policy_resource = "attribution_rule"
    serializer_class = AttributionRuleSerializer
    filterset_class = AttributionRuleFilterSet
    ordering_fields = ["priority", "dimension", "value", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(AttributionRule.objects.select_related("department"))

    def perform_create(self, serializer):
        serializer.instance = services.attribution_rule_save(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.attribution_rule_save(
            rule=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.attribution_rule_delete(rule=instance, actor=self.request.user)


class UsageSummaryApi(APIView):
    """Totals from the daily rollups: `start`, `end` (exclusive), `group_by` (vendor, model,
    department, day, month), filters `vendor`, `department` (with its sub-departments), `model`."""

    policy_resource = "usage"

    @extend_schema(
        parameters=[
            OpenApiParameter("start", date, required=True),
            OpenApiParameter("end", date, required=True, description="Exclusive"),
            OpenApiParameter("group_by", str, description="Comma-separated: vendor,model,department,day,month"),
            OpenApiParameter("vendor", str),
            OpenApiParameter("department", str),
            OpenApiParameter("model", str),
        ],
        responses=SummarySerializer,
    )
    def get(self, request):
        params = request.query_params
        errors: dict[str, list[str]] = {}
        dates = {}
        for name in ("start", "end"):
            try:
                dates[name] = date.fromisoformat(params.get(name, ""))
            except ValueError:
                errors[name] = ["Give a date as YYYY-MM-DD."]
        groups = tuple(g.strip() for g in params.get("group_by", "").split(",") if g.strip())
        unknown = [g for g in groups if g not in selectors.GROUPS]
        if unknown:
            errors["group_by"] = [f"Unknown grouping {', '.join(unknown)}; use vendor, model, department, day, month."]
        if not errors and dates["end"] <= dates["start"]:
            errors["end"] = ["end is exclusive and must come after start."]
        if errors:
            from django.core.exceptions import ValidationError

            raise ValidationError(errors)

        def values(name):
            return tuple(v for raw in params.getlist(name) for v in raw.split(",") if v)

        query = selectors.SummaryQuery(
            start=dates["start"],
            end=dates["end"],
            group_by=tuple(dict.fromkeys(groups)),
            vendors=values("vendor"),
            departments=values("department"),
            models=values("model"),
        )
        return Response(selectors.usage_summary(query, user=request.user))


class VendorCostLineViewSet(ReadOnlyModelViewSet):
    """What vendors' cost feeds (OpenAI costs, Anthropic cost_report, FOCUS, OpenRouter activity)
    say they charged, exactly as stated. `start` / `end` (dates, UTC): lines whose period starts
    on or after `start` and before `end`."""

    policy_resource = "vendor_cost_line"
    serializer_class = VendorCostLineSerializer
    filterset_class = VendorCostLineFilterSet
    ordering_fields = ["id", "period_start", "period_end", "amount", "vendor__slug", "charge_category", "created_at"]

    def get_queryset(self):
        return self.scope_queryset(selectors.vendor_cost_lines())
