"""Forecasts (API.md, "Money views and actions"): the latest forecast of a subject, the refresh,
and scenarios."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from contracts.models import Commitment
from core.api.base import APIView, ModelViewSet
from core.api.pagination import PageNumberPagination
from core.api.serializers import RunCreatedSerializer
from core.exceptions import NotFound
from core.policy import is_department_scoped
from core.scoping import visible_department_ids
from procurement.models import Budget, Department

from ..models import Forecast, ForecastScenario
from ..services import forecasts as services


class ForecastPointSerializer(serializers.Serializer):
    date = serializers.DateField()
    value = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    low80 = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    high80 = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    low95 = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)
    high95 = serializers.DecimalField(max_digits=30, decimal_places=6, allow_null=True)


class BacktestSerializer(serializers.Serializer):
    mape = serializers.FloatField(allow_null=True, required=False)
    smape = serializers.FloatField(allow_null=True, required=False)
    mase = serializers.FloatField(allow_null=True, required=False)
    baseline_mape = serializers.FloatField(allow_null=True, required=False)
    baseline_smape = serializers.FloatField(allow_null=True, required=False)
    baseline_mase = serializers.FloatField(allow_null=True, required=False)


class ForecastSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at", read_only=True)
    points = ForecastPointSerializer(many=True, read_only=True)
    backtest = serializers.SerializerMethodField()
    scenario = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Forecast
        fields = [
            "subject",
            "metric",
            "scenario",
            "version",
            "created",
            "method",
            "currency",
            "history_start",
            "history_end",
            "horizon_end",
            "data_fingerprint",
            "points",
            "backtest",
            "actuals",
        ]
        read_only_fields = fields

    @extend_schema(exclude=True)
    def get_backtest(self, forecast) -> dict:
        return dict(forecast.backtest or {})


def check_subject_visible(user, subject: str) -> None:
    """Department managers see forecasts of their departments only (404 for anything else)."""
    if not is_department_scoped(user, "forecast"):
        return
    visible = visible_department_ids(user)
    kind, _, key = subject.partition(":")
    department_id = None
    if kind == "department":
        department_id = Department.objects.filter(code=key).values_list("pk", flat=True).first()
    elif kind == "budget" and key.isdigit():
        department_id = Budget.objects.filter(pk=key).values_list("department_id", flat=True).first()
    elif kind == "series":
        code = key.split("/", 1)[0]
        department_id = Department.objects.filter(code=code).values_list("pk", flat=True).first()
    if department_id is None or department_id not in visible:
        raise NotFound(f"No forecast for {subject!r}")


def scenario_list(user) -> QuerySet[ForecastScenario]:
    """The scenarios `user` may see: a department manager, those of every subject (blank) and of
    their departments' subjects only; another department's scenario (whose name may say what it
    plans) is never listed."""
    scenarios = ForecastScenario.objects.select_related("created_by").order_by("name", "id")
    if not is_department_scoped(user, "forecast"):
        return scenarios
    codes = list(Department.objects.filter(pk__in=visible_department_ids(user)).values_list("code", flat=True))
    visible = Q(subject="") | Q(subject__in=[f"department:{code}" for code in codes])
    for code in codes:
        visible |= Q(subject__startswith=f"series:{code}/")
    return scenarios.filter(visible)


SUBJECT = OpenApiParameter(
    "subject",
    str,
    description="company, department:CODE, vendor:SLUG, agreement:REF, budget:ID, commitment:ID or "
    "series:DEPT/VENDOR/MODEL; without it, a page of the latest forecasts (no points)",
)
METRIC = OpenApiParameter("metric", str, enum=["tokens", "cost"], description="default tokens")
SCENARIO = OpenApiParameter("scenario", int, description="a scenario's id: its forecast instead of the baseline")


class ForecastLatestApi(APIView):
    """The latest forecast of one subject and metric: one object, not a page."""

    policy_resource = "forecast"

    class ForecastQuerySerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=300)
        metric = serializers.ChoiceField(choices=Forecast.Metric.choices, default=Forecast.Metric.TOKENS)
        scenario = serializers.IntegerField(required=False)

    @extend_schema(parameters=[SUBJECT, METRIC, SCENARIO], responses=ForecastSerializer)
    def get(self, request):
        if "subject" not in request.query_params:
            return self.index(request)
        query = self.ForecastQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        subject, metric = query.validated_data["subject"], query.validated_data["metric"]
        check_subject_visible(request.user, subject)
        scenario = None
        if "scenario" in query.validated_data:
            scenario = ForecastScenario.objects.filter(pk=query.validated_data["scenario"]).first()
            if scenario is None:
                raise NotFound("No such scenario")
        if subject.startswith("commitment:") and subject.partition(":")[2].isdigit():
            commitment = Commitment.objects.filter(pk=subject.partition(":")[2]).first()
            if commitment is not None and not commitment.is_tokens:
                metric = Forecast.Metric.COST
        forecast = services.latest_forecast(subject, metric, scenario=scenario)
        if forecast is None:
            raise NotFound(
                f"No {metric} forecast for {subject!r} yet: POST forecasts/refresh with this subject to make one",
                extra={"subject": subject, "metric": metric},
            )
        return Response(ForecastSerializer(forecast).data)

    def index(self, request):
        """Without `subject`: a page of the latest forecasts one may read (no points), to find the
        subjects there are."""
        queryset = Forecast.objects.filter(is_latest=True, scenario=None).order_by("subject", "metric")
        if is_department_scoped(request.user, "forecast"):
            visible = visible_department_ids(request.user)
            codes = list(Department.objects.filter(pk__in=visible).values_list("code", flat=True))
            mine = [f"department:{code}" for code in codes]
            queryset = queryset.filter(subject__in=mine)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset.defer("points", "actuals"), request, view=self)
        return paginator.get_paginated_response(ForecastIndexSerializer(page, many=True).data)


class ForecastIndexSerializer(serializers.ModelSerializer):
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Forecast
        fields = ["subject", "metric", "version", "created", "method", "currency", "history_end", "horizon_end"]
        read_only_fields = fields


class ForecastRefreshApi(APIView):
    """Recompute forecasts: one subject now (200 with its two forecasts), or every subject as a
    run (202)."""

    policy_resource = "forecast"
    policy_actions = {"post": "change"}

    class ForecastRefreshInputSerializer(serializers.Serializer):
        subject = serializers.CharField(max_length=300, required=False, allow_blank=True)
        scenario = serializers.IntegerField(required=False)

    @extend_schema(
        request=ForecastRefreshInputSerializer,
        responses={200: ForecastSerializer(many=True), 202: RunCreatedSerializer},
    )
    def post(self, request):
        data = self.ForecastRefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subject = data.validated_data.get("subject") or None
        if subject is None:
            run = services.forecasts_refresh_start(actor=request.user)
            return Response({"run": run.pk}, status=status.HTTP_202_ACCEPTED)
        check_subject_visible(request.user, subject)
        scenario = None
        if "scenario" in data.validated_data:
            scenario = ForecastScenario.objects.filter(pk=data.validated_data["scenario"]).first()
            if scenario is None:
                raise NotFound("No such scenario")
        made = [
            services.forecast_subject(subject, metric, scenario=scenario)
            for metric in (Forecast.Metric.TOKENS, Forecast.Metric.COST)
        ]
        return Response(ForecastSerializer(made, many=True).data)


class ForecastScenarioSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ForecastScenario
        fields = ["id", "name", "subject", "multiplier", "starts_on", "created_by", "created_at"]
        read_only_fields = ["id", "created_by", "created_at"]

    def validate_multiplier(self, value):
        if value < 0:
            raise serializers.ValidationError("A multiplier cannot be negative.")
        return value


class ForecastScenarioViewSet(ModelViewSet):
    """Scenarios ("traffic × k from date d") people add and compare with the baseline."""

    policy_resource = "forecast"
    department_field = None
    serializer_class = ForecastScenarioSerializer
    queryset = ForecastScenario.objects.select_related("created_by").order_by("name", "id")
    filterset_fields = ["subject"]

    def get_queryset(self):
        return scenario_list(self.request.user)

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)


class CashItemSerializer(serializers.Serializer):
    due = serializers.DateField()
    vendor = serializers.CharField()
    what = serializers.CharField()
    source = serializers.CharField()
    amount = serializers.DecimalField(max_digits=24, decimal_places=2)
    low = serializers.DecimalField(max_digits=24, decimal_places=2)
    high = serializers.DecimalField(max_digits=24, decimal_places=2)


class CashMonthSerializer(serializers.Serializer):
    month = serializers.DateField(format="%Y-%m")
    amount = serializers.DecimalField(max_digits=24, decimal_places=2)
    low = serializers.DecimalField(max_digits=24, decimal_places=2)
    high = serializers.DecimalField(max_digits=24, decimal_places=2)


class CashViewSerializer(serializers.Serializer):
    currency = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    total = serializers.DecimalField(max_digits=24, decimal_places=2)
    by_month = CashMonthSerializer(many=True)
    items = CashItemSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class CashApi(APIView):
    """What falls due to vendors when (from `start`, default today, to `end`, default a year on),
    by their payment terms: invoices entered, rated usage, forecasts, shortfalls and prepayments."""

    policy_resource = "cash"

    class CashQuerySerializer(serializers.Serializer):
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)

    @extend_schema(
        parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str)], responses=CashViewSerializer
    )
    def get(self, request):
        from ..selectors.cash import cash_view

        query = self.CashQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        view = cash_view(start=query.validated_data.get("start"), end=query.validated_data.get("end"))
        return Response(CashViewSerializer(view).data)
