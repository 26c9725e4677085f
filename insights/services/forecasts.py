"""Forecasts stored and versioned: which series, which data, which method, when.

A subject's daily series comes from the daily rollups (tokens: the four classes summed; cost: the
reporting-currency cost, true-ups included), zero-filled from its first day with usage to the
last complete day. Subjects:
- `company`; `department:<code>` (its subtree, as budgets count); `vendor:<slug>`;
- `agreement:<reference>` (the vendor's usage inside the term; cost in the agreement's currency);
- `budget:<id>` (exactly what the budget counts: the subtree, and the vendor when it names one);
- `commitment:<id>` (exactly what the commitment counts: its token classes, or the agreement-
  currency spend);
- `series:<department code>/<vendor slug>/<model>` (the finest series).
Each subject's forecast is fitted on its own series (the intervals of a total do not add up from
its parts: DESIGN.md). Horizon: the end of the fiscal year, or the end of the agreement's term /
the commitment's period when later.

Cost forecasts are made on the cost series itself for budgets, departments, vendors and the
company: the rating engine already priced every past day, tiers and true-ups included, so the
series carries the effective prices. For agreements and commitments the token forecast is priced
forward through the agreement's rules (`insights.services.pricing`) when that module is present.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from billing.selectors.commitments import commitment_period_for
from contracts.models import Agreement, Commitment
from core.exceptions import ApplicationError, NotFound
from core.models import JobRun
from core.selectors import organization_settings
from core.services import job_run_create
from procurement.directory import descendant_ids
from procurement.models import Budget, Department, Vendor
from procurement.selectors import fiscal_year_bounds
from usage.models import DailyRollup

from ..models import Forecast, ForecastScenario

logger = logging.getLogger(__name__)

TOKENS = F("input_tokens") + F("cached_input_tokens") + F("cache_write_tokens") + F("output_tokens")
TOKEN_COLUMNS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
}
BACKTEST_HORIZON = 14
BACKTEST_ORIGINS = 8


@dataclass(frozen=True)
class Series:
    subject: str
    metric: str
    start: date | None  # the first day of `values`
    values: list[Decimal]
    currency: str
    horizon_end: date
    label: str

    @property
    def end(self) -> date | None:
        return self.start + timedelta(days=len(self.values) - 1) if self.start and self.values else None

    def fingerprint(self) -> str:
        text = json.dumps([self.subject, self.metric, str(self.start), [str(v) for v in self.values]])
        return hashlib.sha256(text.encode()).hexdigest()


def _fiscal_year_end(today: date) -> date:
    start_month = organization_settings().fiscal_year_start_month
    year = today.year if today.month >= start_month else today.year - 1
    return fiscal_year_bounds(year, start_month)[1]


def _subject_filter(subject: str) -> tuple[Q, str, str, date | None]:
    """(the rollups' filter, the cost column, the currency, a horizon end the subject implies)."""
    reporting = organization_settings().reporting_currency
    kind, _, key = subject.partition(":")
    if subject == "company":
        return Q(), "cost", reporting, None
    if kind == "department":
        department = Department.objects.filter(code=key).first()
        if department is None:
            raise NotFound(f"No department {key!r}")
        return Q(department_id__in=descendant_ids([department.pk])), "cost", reporting, None
    if kind == "vendor":
        vendor = Vendor.objects.filter(slug=key).first()
        if vendor is None:
            raise NotFound(f"No vendor {key!r}")
        return Q(vendor_id=vendor.pk), "cost", reporting, None
    if kind == "agreement":
        agreement = Agreement.objects.filter(reference=key).first()
        if agreement is None:
            raise NotFound(f"No agreement {key!r}")
        condition = Q(vendor_id=agreement.vendor_id, day__gte=agreement.start, day__lte=agreement.end)
        return condition, "agreement_cost", agreement.currency, agreement.end
    if kind == "budget":
        budget = Budget.objects.select_related("department").filter(pk=key if key.isdigit() else None).first()
        if budget is None:
            raise NotFound(f"No budget {key!r}")
        condition = Q(department_id__in=descendant_ids([budget.department_id]))
        if budget.vendor_id:
            condition &= Q(vendor_id=budget.vendor_id)
        start_month = organization_settings().fiscal_year_start_month
        return condition, "cost", reporting, fiscal_year_bounds(budget.fiscal_year, start_month)[1]
    if kind == "commitment":
        commitment = Commitment.objects.select_related("agreement").filter(pk=key if key.isdigit() else None).first()
        if commitment is None:
            raise NotFound(f"No commitment {key!r}")
        agreement = commitment.agreement
        condition = Q(vendor_id=agreement.vendor_id, day__gte=agreement.start, day__lte=agreement.end)
        return condition, "agreement_cost", agreement.currency, agreement.end
    if kind == "series":
        try:
            code, slug, model = key.split("/", 2)
        except ValueError:
            raise ApplicationError(f"{subject!r}: a series is series:<department>/<vendor>/<model>") from None
        return Q(department__code=code, vendor__slug=slug, model=model), "cost", reporting, None
    raise ApplicationError(
        f"{subject!r} is not a forecast subject: company, department:CODE, vendor:SLUG, agreement:REF, "
        "budget:ID, commitment:ID or series:DEPT/VENDOR/MODEL"
    )


def _measure(metric: str, cost_column: str, commitment: Commitment | None = None):
    """What one day of the subject's series sums: a commitment's tokens are those of its classes."""
    if metric == Forecast.Metric.COST:
        return Sum(cost_column)
    if commitment is not None:
        expression = None
        for token_class in commitment.token_classes or list(TOKEN_COLUMNS):
            column = F(TOKEN_COLUMNS[token_class])
            expression = column if expression is None else expression + column
        return Sum(expression)
    return Sum(TOKENS)


def subject_series(subject: str, metric: str, *, today: date | None = None) -> Series:
    """The subject's daily series up to yesterday (zero-filled), and the horizon end."""
    today = today or timezone.now().date()
    last = today - timedelta(days=1)
    condition, cost_column, currency, implied_end = _subject_filter(subject)
    commitment = None
    if subject.startswith("commitment:"):
        commitment = Commitment.objects.select_related("agreement").get(pk=subject.partition(":")[2])
        if not commitment.is_tokens:
            metric = Forecast.Metric.COST  # a money commitment counts spend
    rows = dict(
        DailyRollup.objects.filter(condition, day__lte=last)
        .values("day")
        .annotate(value=_measure(metric, cost_column, commitment))
        .order_by("day")
        .values_list("day", "value")
    )
    horizon_end = max(_fiscal_year_end(today), implied_end or today)
    if commitment is not None:
        horizon_end = commitment_period_for(commitment, agreement=commitment.agreement, as_of=today)[1]
    if not rows:
        return Series(subject, metric, None, [], currency if metric == "cost" else "", horizon_end, subject)
    start = min(rows)
    values = [Decimal(rows.get(start + timedelta(days=offset)) or 0) for offset in range((last - start).days + 1)]
    return Series(subject, metric, start, values, currency if metric == "cost" else "", horizon_end, subject)


def _as_dict(point, day: date) -> dict:
    get = point.get if isinstance(point, dict) else lambda name, default=None: getattr(point, name, default)
    out = {"date": (get("date") or day).isoformat()}
    for name in ("value", "low80", "high80", "low95", "high95"):
        value = get(name)
        out[name] = None if value is None else str(Decimal(str(value)).quantize(Decimal("0.000001")))
    return out


def _engine():
    from insights import forecasting

    return forecasting


def forecast_subject(
    subject: str, metric: str, *, today: date | None = None, scenario: ForecastScenario | None = None, run=None
) -> Forecast:
    """Fit, backtest and store a new version of the subject's forecast (the newest is latest)."""
    today = today or timezone.now().date()
    series = subject_series(subject, metric, today=today)
    engine = _engine()
    horizon = max(1, (series.horizon_end - today).days + 1)
    values = [float(v) for v in series.values]
    scenario_arg = (scenario.starts_on, float(scenario.multiplier)) if scenario else None
    result = engine.forecast_series(values, horizon=horizon, start=today, scenario=scenario_arg)
    backtest = engine.backtest(values, horizon=BACKTEST_HORIZON, origins=BACKTEST_ORIGINS) if values else {}
    points = [_as_dict(p, today + timedelta(days=i)) for i, p in enumerate(result.points)]
    method = result.method
    agreement = _priced_agreement(subject) if series.metric == Forecast.Metric.COST else None
    if agreement is not None:
        # tokens forecast on the agreement's own token series, then priced through its rules
        from .pricing import price_token_forecast

        tokens = subject_series(f"agreement:{agreement.reference}", Forecast.Metric.TOKENS, today=today)
        token_result = engine.forecast_series(
            [float(v) for v in tokens.values], horizon=horizon, start=today, scenario=scenario_arg
        )
        token_points = [_as_dict(p, today + timedelta(days=i)) for i, p in enumerate(token_result.points)]
        priced = price_token_forecast(agreement, token_points, today=today) if tokens.values else None
        if priced is not None:
            points = priced
            method = f"{token_result.method}; tokens priced through {agreement.reference}'s rules"
    elif series.metric == Forecast.Metric.COST and not subject.startswith(("series:", "commitment:")):
        priced_mix = _price_through_agreements(subject, horizon=horizon, today=today, scenario_arg=scenario_arg)
        if priced_mix is not None:
            points, method = priced_mix
    actuals = [
        {"date": (series.start + timedelta(days=i)).isoformat(), "value": str(v)} for i, v in enumerate(series.values)
    ][-180:]
    with transaction.atomic():
        previous = (
            Forecast.objects.select_for_update()
            .filter(subject=subject, metric=series.metric, scenario=scenario)
            .order_by("-version")
            .first()
        )
        Forecast.objects.filter(subject=subject, metric=series.metric, scenario=scenario, is_latest=True).update(
            is_latest=False
        )
        return Forecast.objects.create(
            subject=subject,
            metric=series.metric,
            scenario=scenario,
            version=(previous.version + 1) if previous else 1,
            is_latest=True,
            method=method[:200],
            history_start=series.start,
            history_end=series.end,
            horizon_end=series.horizon_end,
            data_fingerprint=series.fingerprint(),
            currency=series.currency,
            points=points,
            actuals=actuals,
            backtest={
                k: (None if v is None else (float(v) if isinstance(v, (int, float, Decimal)) else v))
                for k, v in (backtest or {}).items()
            },
            run=run,
        )


_AGREEMENT_PATHS: dict[tuple, tuple[list[dict], Decimal] | None] = {}


def _agreement_path(agreement: Agreement, *, horizon: int, today: date, scenario_arg, reporting: str):
    """The agreement's per-day unit costs (its token forecast priced through its rules) and the
    FX rate into the reporting currency, the same for every subject of a refresh."""
    from core.fx import FxTable, FxUnavailable

    from .pricing import _unit_costs, price_token_forecast

    tokens = subject_series(f"agreement:{agreement.reference}", Forecast.Metric.TOKENS, today=today)
    # the same data, day, horizon and scenario give the same path: computed once per refresh
    key = (agreement.pk, tokens.fingerprint(), today, horizon, scenario_arg)
    if key not in _AGREEMENT_PATHS:
        if len(_AGREEMENT_PATHS) > 256:
            _AGREEMENT_PATHS.clear()
        path = None
        if tokens.values:
            result = _engine().forecast_series(
                [float(v) for v in tokens.values], horizon=horizon, start=today, scenario=scenario_arg
            )
            token_points = [_as_dict(p, today + timedelta(days=i)) for i, p in enumerate(result.points)]
            priced = price_token_forecast(agreement, token_points, today=today)
            try:
                rate = FxTable.load(today, today, reporting_currency=reporting).quote(
                    agreement.currency, reporting, today
                )
            except FxUnavailable:
                rate = None
            if priced is not None and rate is not None:
                path = (_unit_costs(priced, token_points), rate.multiplier / rate.divisor)
        _AGREEMENT_PATHS[key] = path
    return _AGREEMENT_PATHS[key]


def _price_through_agreements(subject: str, *, horizon: int, today: date, scenario_arg) -> tuple[list, str] | None:
    """A subject's token forecast priced through the agreements of the vendors it uses (by its last
    28 days' mix), each at its agreement's forecast unit cost — so tiers the whole company's
    usage will reach price every department's forecast alike, as the blended rate does."""
    condition, _, reporting, _ = _subject_filter(subject)
    since = today - timedelta(days=28)
    rows = (
        DailyRollup.objects.filter(condition, day__gte=since, day__lt=today)
        .values("vendor_id")
        .annotate(tokens=Sum(TOKENS), cost=Sum("cost"))
        .order_by("vendor_id")
    )
    mix = {r["vendor_id"]: (int(r["tokens"] or 0), Decimal(r["cost"] or 0)) for r in rows if r["tokens"]}
    if not mix:
        return None
    paths = {}
    for agreement in Agreement.objects.filter(
        vendor_id__in=mix, start__lte=today, end__gte=today, status=Agreement.Status.ACTIVE
    ):
        path = _agreement_path(agreement, horizon=horizon, today=today, scenario_arg=scenario_arg, reporting=reporting)
        if path is not None:
            paths[agreement.vendor_id] = path
    if not paths:
        return None
    from .pricing import price_by_vendor_mix

    tokens = subject_series(subject, Forecast.Metric.TOKENS, today=today)
    result = _engine().forecast_series(
        [float(v) for v in tokens.values], horizon=horizon, start=today, scenario=scenario_arg
    )
    token_points = [_as_dict(p, today + timedelta(days=i)) for i, p in enumerate(result.points)]
    priced = price_by_vendor_mix(mix=mix, token_points=token_points, agreement_paths=paths)
    return priced, f"{result.method}; tokens priced through the vendors' agreements"


def _priced_agreement(subject: str) -> Agreement | None:
    """The agreement whose rules price a cost forecast of this subject: an agreement's own, or a
    money commitment's (tokens committed are forecast as tokens)."""
    kind, _, key = subject.partition(":")
    if kind == "agreement":
        return Agreement.objects.filter(reference=key).first()
    if kind == "commitment" and key.isdigit():
        commitment = Commitment.objects.select_related("agreement").filter(pk=key).first()
        if commitment is not None and not commitment.is_tokens:
            return commitment.agreement
    return None


def forecast_subjects(*, today: date | None = None) -> list[tuple[str, str]]:
    """Every subject refreshed nightly, with its metrics."""
    today = today or timezone.now().date()
    since = today - timedelta(days=400)
    subjects: list[tuple[str, str]] = [("company", "tokens"), ("company", "cost")]
    for code in Department.objects.filter(is_system=False).values_list("code", flat=True):
        subjects += [(f"department:{code}", "tokens"), (f"department:{code}", "cost")]
    for slug in Vendor.objects.values_list("slug", flat=True):
        subjects += [(f"vendor:{slug}", "tokens"), (f"vendor:{slug}", "cost")]
    for reference in Agreement.objects.exclude(status=Agreement.Status.DRAFT).values_list("reference", flat=True):
        subjects += [(f"agreement:{reference}", "tokens"), (f"agreement:{reference}", "cost")]
    for budget_id in Budget.objects.values_list("pk", flat=True):
        subjects.append((f"budget:{budget_id}", "cost"))
    for commitment in Commitment.objects.exclude(agreement__status=Agreement.Status.DRAFT):
        subjects.append((f"commitment:{commitment.pk}", "tokens" if commitment.is_tokens else "cost"))
    for code, slug, model in (
        DailyRollup.objects.filter(day__gte=since)
        .values_list("department__code", "vendor__slug", "model")
        .distinct()
        .order_by("department__code", "vendor__slug", "model")
    ):
        subjects.append((f"series:{code}/{slug}/{model}", "tokens"))
    return subjects


def forecasts_refresh(
    *, subject: str | None = None, today: date | None = None, run=None, report: Callable | None = None
) -> dict:
    """Recompute the forecasts of one subject (both metrics) or of every subject."""
    wanted = [(subject, "tokens"), (subject, "cost")] if subject else forecast_subjects(today=today)
    written, failed = 0, []
    for index, (name, metric) in enumerate(wanted):
        try:
            forecast_subject(name, metric, today=today, run=run)
            written += 1
        except ApplicationError:
            raise
        except Exception as exc:  # one subject's failure must not stop the others
            logger.exception("forecast of %s %s failed", name, metric)
            failed.append({"subject": name, "metric": metric, "error": f"{type(exc).__name__}: {exc}"})
        if report is not None and index % 10 == 0:
            report(min(99, 100 * (index + 1) // max(1, len(wanted))), None)
    return {"forecasts": written, "failed": failed, "message": f"{written} forecasts computed"}


def forecasts_refresh_start(*, subject: str | None = None, actor=None, then_reports: date | None = None) -> JobRun:
    """A refresh run; with `then_reports`, once it has succeeded the month's reports are sent
    (the demo's first start: packs with their forecasts)."""
    params: dict = {"subject": subject} if subject else {}
    if then_reports is not None:
        params["then_reports"] = then_reports.isoformat()
    return job_run_create(kind="forecast_refresh", created_by=actor, params=params, task="insights.forecasts_refresh")


def latest_forecast(subject: str, metric: str, *, scenario: ForecastScenario | None = None) -> Forecast | None:
    return Forecast.objects.filter(subject=subject, metric=metric, scenario=scenario, is_latest=True).first()


def latest_points(requests: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """billing's forecast source (billing.projections): the latest baseline forecast of each
    (subject, metric), its method and points, in one query."""
    subjects = {subject for subject, _ in requests}
    wanted = set(requests)
    rows = Forecast.objects.filter(subject__in=subjects, is_latest=True, scenario=None).only(
        "subject", "metric", "method", "points"
    )
    return {
        (f.subject, f.metric): {"method": f.method, "points": f.points} for f in rows if (f.subject, f.metric) in wanted
    }


def forecast_scenario_create(
    *, name: str, subject: str, multiplier: Decimal, starts_on: date, actor
) -> ForecastScenario:
    """A scenario "traffic × multiplier from starts_on" for a subject (blank: every subject)."""
    name = (name or "").strip()
    if not name or not multiplier.is_finite() or multiplier < 0:
        raise ApplicationError("Give the scenario a name and a multiplier of 0 or more")
    return ForecastScenario.objects.create(
        name=name[:120], subject=subject, multiplier=multiplier, starts_on=starts_on, created_by=actor
    )
