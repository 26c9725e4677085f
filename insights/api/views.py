"""Alerts, alert rules and the inbox (API.md: `alerts/`, `alert-rules/`). Department managers see
the alerts of their departments and sub-departments only: an alert without a department is
company-wide and hidden from them (another department's alert answers 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.base import APIView, ModelViewSet, PolicyMixin, ReadOnlyModelViewSet

from ..models import Alert, AlertRule, InboxItem
from ..services import alerts as services
from .serializers import (
    AlertActionSerializer,
    AlertDetailSerializer,
    AlertEvaluateResultSerializer,
    AlertEvaluateSerializer,
    AlertFilterSet,
    AlertRuleSerializer,
    AlertSerializer,
    InboxItemSerializer,
)

RULE_FIELDS = (
    "name",
    "types",
    "roles",
    "addresses",
    "channels",
    "webhook_url",
    "min_severity",
    "thresholds",
    "is_active",
)


def alert_queryset():
    return Alert.objects.select_related("department", "vendor", "acknowledged_by", "resolved_by")


class AlertViewSet(ReadOnlyModelViewSet):
    """Alerts, newest first; `POST alerts/{id}/acknowledge` and `…/resolve` with an optional `note`
    (409 on a transition that does not exist: a resolved alert cannot be acknowledged)."""

    policy_resource = "alert"
    department_field = "department_id"
    policy_actions = {"acknowledge": "change", "resolve": "change"}
    queryset = alert_queryset()
    filterset_class = AlertFilterSet
    ordering_fields = ["raised_at", "last_seen_at", "severity", "type", "status", "id"]
    ordering = ["-raised_at", "-id"]
    lookup_value_regex = r"\d+"

    def get_serializer_class(self):
        return AlertDetailSerializer if self.action in ("retrieve", "acknowledge", "resolve") else AlertSerializer

    def _act(self, request, service):
        data = AlertActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = service(alert=self.get_object(), actor=request.user, note=data.validated_data["note"])
        return Response(AlertDetailSerializer(alert_queryset().get(pk=alert.pk), context={"request": request}).data)

    @extend_schema(request=AlertActionSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        return self._act(request, services.alert_acknowledge)

    @extend_schema(request=AlertActionSerializer, responses=AlertDetailSerializer)
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        return self._act(request, services.alert_resolve)


class AlertEvaluateApi(APIView):
    """Evaluate every alert type now (as the 15-minute schedule does) → 200 with the summary."""

    policy_resource = "alert"
    policy_actions = {"post": "change"}

    @extend_schema(request=AlertEvaluateSerializer, responses=AlertEvaluateResultSerializer)
    def post(self, request):
        data = AlertEvaluateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        summary = services.alerts_evaluate(
            today=data.validated_data.get("as_of"), types=data.validated_data.get("types")
        )
        return Response(summary, status=status.HTTP_200_OK)


class AlertRuleViewSet(ModelViewSet):
    """Who receives which alerts, how. Administrators and finance change them; readers read them."""

    policy_resource = "alert_rule"
    queryset = AlertRule.objects.all().order_by("name")
    serializer_class = AlertRuleSerializer
    filterset_fields = ["is_active", "min_severity", "name"]
    ordering_fields = ["name", "created_at", "id"]
    lookup_value_regex = r"\d+"

    def _save(self, serializer, rule=None):
        data = dict(serializer.validated_data)
        secret = data.pop("webhook_secret", None)
        fields = {name: data[name] for name in RULE_FIELDS if name in data}
        serializer.instance = services.alert_rule_save(
            rule=rule, actor=self.request.user, webhook_secret=secret, **fields
        )

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        services.alert_rule_delete(rule=instance, actor=self.request.user)


class InboxViewSet(PolicyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The caller's inbox: the alerts delivered to them, newest first, with the unread count
    (`unread` beside `count`). `?unread=true` lists the unread ones only."""

    policy_resource = "alert"
    department_field = "alert__department_id"
    # Reading one's inbox is one's own business: the auditor may mark items read too.
    policy_actions = {"read": "view", "read_all": "view"}
    serializer_class = InboxItemSerializer
    lookup_value_regex = r"\d+"
    filter_backends: list = []

    def get_queryset(self):
        items = InboxItem.objects.filter(user=self.request.user).select_related(
            "alert__department", "alert__vendor", "alert__acknowledged_by", "alert__resolved_by"
        )
        if self.request.query_params.get("unread", "").lower() in ("1", "true", "yes"):
            items = items.filter(read_at__isnull=True)
        return self.scope_queryset(items.order_by("-created_at", "-id"))

    def unread_count(self) -> int:
        return self.scope_queryset(InboxItem.objects.filter(user=self.request.user, read_at__isnull=True)).count()

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        response.data["unread"] = self.unread_count()
        return response

    @extend_schema(request=None, responses=InboxItemSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        item = self.get_object()
        services.inbox_item_read(item=item)
        return Response(InboxItemSerializer(item, context={"request": request}).data)

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "InboxReadAll", {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()}
        ),
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        marked = services.inbox_read_all(user=request.user)
        return Response({"marked": marked, "unread": self.unread_count()})


# API.md writes the actions without a trailing slash; the router's forms (with one) work too. The
# bare forms are their own operations in the schema (operation ids must be unique).


@extend_schema_view(
    acknowledge=extend_schema(operation_id="alerts_acknowledge"),
    resolve=extend_schema(operation_id="alerts_resolve"),
)
class AlertActionApi(AlertViewSet):
    """`POST alerts/{id}/acknowledge` and `POST alerts/{id}/resolve`."""


@extend_schema_view(
    read=extend_schema(operation_id="inbox_read"),
    read_all=extend_schema(operation_id="inbox_read_all"),
)
class InboxActionApi(InboxViewSet):
    """`POST inbox/{id}/read` and `POST inbox/read-all`."""


class AlertEvaluateSlashApi(AlertEvaluateApi):
    """`alerts/evaluate/`, the same as `alerts/evaluate` (documented once)."""

    schema = None
