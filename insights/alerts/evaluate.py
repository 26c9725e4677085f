"""Alert evaluation: one function per alert type (DESIGN.md, "Alerts"), each answering the
candidate alerts today's data supports. Nothing here writes: insights.services.alerts raises the
candidates (a dedup key is raised once; a repeat only refreshes `last_seen_at`) and delivers the
new ones. Each candidate's dedup key is `type:subject:period`.

Per type: where the figures come from; the subject and period of the key; the severity.

* budget_threshold — billing.selectors.budget_status of the current fiscal year's budgets (action
  `ignore` skipped): each threshold crossed. Budget × threshold · FY. Info below 80 %, warning
  below 100 %, critical from 100 %. The message says warn or block (advisory: spend must stop).
* budget_overrun — the same status's `projected_overrun_date` (after 7 days of the year, or an
  overrun that happened). Budget · FY. Critical when it happened or is within 30 days.
* commitment_shortfall — billing.selectors.commitment_statuses: take-or-pay commitments with a
  projected_shortfall > 0 (after 7 days of the period). Commitment · period. Warning; critical
  on the period's last day.
* commitment_cap — the same statuses: a take-or-pay commitment met (info), a prepaid amount used
  up (warning); and tiers: the tokens a price rule has counted in the current pricing period
  (daily rollups, the rule contracts.rating chooses per model and day) past a tier boundary
  (info). Commitment, or price rule × tier · period.
* sla_breach — billing SlaCredit rows with credit_percent > 0 (months of the last 92 days).
  SLA clause · month. Warning.
* sla_claim_deadline — SlaCredit owed or claimed, credit > 0, claim_by within 7 days. Credit ·
  month. Critical within 2 days, else warning.
* contract_notice — active agreements whose notice deadline (end − notice_days) is 120, 90, 60
  or 30 days away or less (the smallest step reached). Agreement × step · deadline. Info;
  warning at 60; critical at 30.
* certification_expiring — certifications in force that end within 60 or 30 days, unless one
  of the same kind follows on. Certification × step · valid_until. Info; warning at 30.
* compliance — usage in the last ALERT_COMPLIANCE_LOOKBACK_DAYS at a vendor without a
  certification valid today (warning), without a DPA (critical), or in a `region` outside its
  data_residency (critical). Vendor × problem · month.
* usage_anomaly — robust z-score of yesterday's cost and tokens per department against the same
  kind of day (weekday or weekend) of the 28 days before (`robust_z`, `usage_anomaly`).
  Department × metric · day. Warning; critical when |z| ≥ 10.
* vendor_concentration — a vendor's share of the last 30 complete days' spend above
  ALERT_CONCENTRATION_PERCENT. Vendor · month. Warning.
* feed_stale — usage sources pulled on a schedule whose pull health is failing or stale.
  Source · the last good pull (one alert per outage). Critical after 3 failures, else warning.
* fx_missing — a currency in use (recent usage, active agreements) with no usable rate to the
  reporting currency today, or usage of the last ALERT_FX_LOOKBACK_DAYS flagged fx missing or
  stale. Currency pair · ISO week. Critical when usage is left unpriced, else warning.

`data["level"]` is the figure an alert rule's `thresholds` compare against (LEVELS says which way).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from statistics import median

from django.conf import settings
from django.db.models import Count, F, Max, Min, Sum
from django.urls import reverse

from billing.models import SlaCredit
from billing.selectors import BudgetStatus, CommitmentStatus, budget_status, commitment_statuses_many
from contracts.models import Agreement, Commitment, SlaClause
from contracts.rating import AgreementSpec, pricing_period
from core.currencies import is_currency, minor_units
from core.fx import MAX_AGE_DAYS, FxTable, FxUnavailable
from core.selectors import organization_settings
from procurement.models import Budget, Department, Vendor, VendorCertification
from procurement.selectors import current_fiscal_year
from usage.models import DailyRollup, Source, UsageRecord
from usage.models.sources import PullHealth

from ..models import Alert

logger = logging.getLogger(__name__)

T = Alert.Type
S = Alert.Severity

# A projection from fewer days than this is too noisy to alert on (a big first day projects a
# tenfold year).
MIN_PROJECTION_DAYS = 7
NOTICE_STEPS = (120, 90, 60, 30)
CERTIFICATION_STEPS = (60, 30)
SLA_LOOKBACK_DAYS = 92
CLAIM_WARNING_DAYS = 7
ANOMALY_HISTORY_DAYS = 28
ANOMALY_MIN_ACTIVE_DAYS = 14
CONCENTRATION_DAYS = 30
FEED_CRITICAL_FAILURES = 3

# Which way an alert's data["level"] is compared with a rule's threshold for its type: "at least"
# (a rule {"budget_threshold": 100} sends only 100 % crossings) or "at most" (a rule
# {"contract_notice": 30} sends only deadlines 30 days away or closer).
AT_LEAST, AT_MOST = "at_least", "at_most"
LEVELS: dict[str, tuple[str, str]] = {
    T.BUDGET_THRESHOLD: (AT_LEAST, "threshold percent"),
    T.BUDGET_OVERRUN: (AT_MOST, "days until the overrun"),
    T.COMMITMENT_SHORTFALL: (AT_LEAST, "projected shortfall, percent of the commitment"),
    T.COMMITMENT_CAP: (AT_LEAST, "percent of the commitment consumed, or the tier number reached"),
    T.SLA_BREACH: (AT_LEAST, "credit percent"),
    T.SLA_CLAIM_DEADLINE: (AT_MOST, "days until the claim deadline"),
    T.CONTRACT_NOTICE: (AT_MOST, "days until the notice deadline"),
    T.CERTIFICATION_EXPIRING: (AT_MOST, "days until expiry"),
    T.USAGE_ANOMALY: (AT_LEAST, "|robust z-score|"),
    T.VENDOR_CONCENTRATION: (AT_LEAST, "the vendor's share of spend, percent"),
    T.FEED_STALE: (AT_LEAST, "failed pulls in a row"),
    T.FX_MISSING: (AT_LEAST, "usage records without a usable rate"),
}


@dataclass(frozen=True)
class Candidate:
    """An alert the data supports; raised once per dedup key."""

    type: str
    severity: str
    subject: str
    period: str
    title: str
    message: str
    subject_url: str = ""
    department_id: int | None = None
    vendor_id: int | None = None
    data: dict = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return f"{self.type}:{self.subject}:{self.period}"[:300]


# Text ---------------------------------------------------------------------------------------------


def money_text(amount: Decimal, currency: str) -> str:
    """ "USD 1,234.57": at the currency's minor unit (for reading; the data keeps the exact figure)."""
    digits = minor_units(currency) if is_currency(currency or "") else 2
    return f"{currency} {Decimal(amount).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP):,f}"


def tokens_text(count: Decimal | int) -> str:
    return f"{int(count):,} tokens"


def number_text(value: Decimal, places: int = 2) -> str:
    """80.00 → "80", 82.50 → "82.5" (never an exponent)."""
    text = f"{Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent_text(value: Decimal) -> str:
    return f"{number_text(value)} %"


def _plain(value):
    """JSON-safe data: decimals as exact strings, dates as ISO."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _url(name: str, **kwargs) -> str:
    return reverse(name, kwargs=kwargs)


# The evaluation's shared reads ------------------------------------------------------------------------


class Context:
    """What several evaluators read, read once per evaluation."""

    def __init__(self, today: date) -> None:
        org = organization_settings()
        self.today = today
        self.reporting_currency = org.reporting_currency
        self.fiscal_year_start_month = org.fiscal_year_start_month

    @cached_property
    def fiscal_year(self) -> int:
        return current_fiscal_year(self.fiscal_year_start_month, today=self.today)

    @cached_property
    def budget_statuses(self) -> list[tuple[Budget, BudgetStatus]]:
        budgets = (
            Budget.objects.filter(fiscal_year=self.fiscal_year)
            .exclude(action=Budget.Action.IGNORE)
            .select_related("department", "vendor")
            .order_by("department__code", "vendor__slug", "id")
        )
        return [(budget, budget_status(budget=budget, as_of=self.today)) for budget in budgets]

    @cached_property
    def agreements_in_force(self) -> list[Agreement]:
        return list(
            Agreement.objects.filter(status=Agreement.Status.ACTIVE, start__lte=self.today, end__gte=self.today)
            .select_related("vendor")
            .prefetch_related("commitments", "price_rules__tiers")
            .order_by("reference")
        )

    @cached_property
    def commitment_statuses(self) -> list[tuple[Agreement, Commitment, CommitmentStatus]]:
        found = []
        agreements = self.agreements_in_force
        statuses = commitment_statuses_many([(agreement, self.today) for agreement in agreements])
        for agreement, of_agreement in zip(agreements, statuses, strict=True):
            by_id = {c.pk: c for c in agreement.commitments.all()}
            found.extend((agreement, by_id[status.id], status) for status in of_agreement)
        return found

    @cached_property
    def departments(self) -> dict[int, Department]:
        return {d.pk: d for d in Department.objects.all()}


def _budget_scope(budget: Budget) -> str:
    scope = budget.department.code
    return f"{scope} · {budget.vendor.name}" if budget.vendor_id else scope


def _budget_action_text(budget: Budget) -> str:
    if budget.action == Budget.Action.BLOCK:
        return (
            "The budget's action is block: spend must stop. (TokenLedger is advisory and not in the request "
            "path; stop the traffic at the gateway.)"
        )
    return "The budget's action is warn."


# Budgets ---------------------------------------------------------------------------------------------


def budget_threshold(ctx: Context) -> list[Candidate]:
    found = []
    for budget, status in ctx.budget_statuses:
        for threshold in status.thresholds:
            if not threshold.crossed:
                continue
            pct = threshold.percent
            severity = S.CRITICAL if pct >= 100 else S.WARNING if pct >= 80 else S.INFO
            fy = f"FY{budget.fiscal_year}"
            found.append(
                Candidate(
                    type=T.BUDGET_THRESHOLD,
                    severity=severity,
                    subject=f"budget:{budget.pk}:{number_text(pct)}%",
                    period=fy,
                    title=f"Budget {percent_text(pct)} reached: {_budget_scope(budget)} {fy}",
                    message=(
                        f"{budget.department.code} — {budget.department.name} has spent "
                        f"{money_text(status.actual, status.currency)} of its {fy} budget of "
                        f"{money_text(status.annual, status.currency)}"
                        f"{f' for {budget.vendor.name}' if budget.vendor_id else ''} "
                        f"({percent_text(status.percent_used or Decimal(0))}) by {status.as_of:%Y-%m-%d}; "
                        f"the {percent_text(pct)} threshold ({money_text(threshold.amount, status.currency)}) "
                        f"was reached on {threshold.crossed_on or status.as_of:%Y-%m-%d}. {_budget_action_text(budget)}"
                    ),
                    subject_url=budget.get_absolute_url(),
                    department_id=budget.department_id,
                    vendor_id=budget.vendor_id,
                    data=_plain(
                        {
                            "level": pct,
                            "budget": budget.pk,
                            "fiscal_year": budget.fiscal_year,
                            "threshold": pct,
                            "threshold_amount": threshold.amount,
                            "crossed_on": threshold.crossed_on,
                            "actual": status.actual,
                            "annual": status.annual,
                            "percent_used": status.percent_used,
                            "currency": status.currency,
                            "action": budget.action,
                        }
                    ),
                )
            )
    return found


def budget_overrun(ctx: Context) -> list[Candidate]:
    found = []
    for budget, status in ctx.budget_statuses:
        day = status.projected_overrun_date
        if day is None:
            continue
        overrun = status.actual > status.annual
        if not overrun and status.elapsed_days < MIN_PROJECTION_DAYS:
            continue
        days_left = (day - ctx.today).days
        fy = f"FY{budget.fiscal_year}"
        if overrun:
            title = f"Budget overrun on {day:%Y-%m-%d}: {_budget_scope(budget)} {fy}"
            how = f"Spend exceeded the annual amount on {day:%Y-%m-%d}."
        else:
            title = f"Budget projected to overrun on {day:%Y-%m-%d}: {_budget_scope(budget)} {fy}"
            how = (
                f"At the pace so far ({status.projection_method} projection) spend exceeds the annual amount on "
                f"{day:%Y-%m-%d}, {days_left} days from now, and reaches about "
                f"{money_text(status.projected_year_end, status.currency)} by {status.last_day:%Y-%m-%d}."
            )
        found.append(
            Candidate(
                type=T.BUDGET_OVERRUN,
                severity=S.CRITICAL if overrun or days_left <= 30 else S.WARNING,
                subject=f"budget:{budget.pk}",
                period=fy,
                title=title,
                message=(
                    f"{budget.department.code} — {budget.department.name}: "
                    f"{money_text(status.actual, status.currency)} spent of "
                    f"{money_text(status.annual, status.currency)} by {status.as_of:%Y-%m-%d}. {how} "
                    f"{_budget_action_text(budget)}"
                ),
                subject_url=budget.get_absolute_url(),
                department_id=budget.department_id,
                vendor_id=budget.vendor_id,
                data=_plain(
                    {
                        "level": days_left,
                        "budget": budget.pk,
                        "fiscal_year": budget.fiscal_year,
                        "overrun_date": day,
                        "already_overrun": overrun,
                        "actual": status.actual,
                        "annual": status.annual,
                        "projected_year_end": status.projected_year_end,
                        "projection_method": status.projection_method,
                        "currency": status.currency,
                        "action": budget.action,
                    }
                ),
            )
        )
    return found


# Commitments and tiers ----------------------------------------------------------------------------------


def _commitment_figure(value: Decimal, status: CommitmentStatus) -> str:
    return tokens_text(value) if status.is_tokens else money_text(value, status.currency)


def _period_text(status: CommitmentStatus) -> str:
    return f"{status.period} period {status.period_start:%Y-%m-%d} – {status.period_end:%Y-%m-%d}"


def commitment_shortfall(ctx: Context) -> list[Candidate]:
    found = []
    for agreement, commitment, status in ctx.commitment_statuses:
        if status.treatment != Commitment.Treatment.TAKE_OR_PAY or status.projected_shortfall <= 0:
            continue
        if not status.final and status.elapsed_days < MIN_PROJECTION_DAYS:
            continue
        share = status.projected_shortfall / status.committed * 100 if status.committed else Decimal(0)
        charge = money_text(status.shortfall_charge, status.currency)
        found.append(
            Candidate(
                type=T.COMMITMENT_SHORTFALL,
                severity=S.CRITICAL if status.final else S.WARNING,
                subject=f"commitment:{commitment.pk}",
                period=f"{status.period_start:%Y-%m-%d}..{status.period_end:%Y-%m-%d}",
                title=(
                    f"Commitment shortfall risk: {agreement.reference} ({agreement.vendor.name}) projected "
                    f"{_commitment_figure(status.projected_shortfall, status)} short"
                ),
                message=(
                    f"Take-or-pay commitment of {_commitment_figure(status.committed, status)} "
                    f"({_period_text(status)}): {_commitment_figure(status.consumed, status)} consumed by "
                    f"{status.as_of:%Y-%m-%d} ({percent_text(status.utilisation or Decimal(0))}); the "
                    f"{status.projection_method} projection ends the period at "
                    f"{_commitment_figure(status.projected_end, status)}, "
                    f"{_commitment_figure(status.projected_shortfall, status)} short "
                    f"({percent_text(share)} of the commitment). The shortfall would be charged: {charge}."
                ),
                subject_url=agreement.get_absolute_url(),
                vendor_id=agreement.vendor_id,
                data=_plain(
                    {
                        "level": share.quantize(Decimal("0.01")),
                        "agreement": agreement.reference,
                        "commitment": commitment.pk,
                        "unit": status.unit,
                        "period_start": status.period_start,
                        "period_end": status.period_end,
                        "committed": status.committed,
                        "consumed": status.consumed,
                        "projected_end": status.projected_end,
                        "projected_shortfall": status.projected_shortfall,
                        "shortfall_charge": status.shortfall_charge,
                        "currency": status.currency,
                        "final": status.final,
                    }
                ),
            )
        )
    return found


def _commitment_caps(ctx: Context) -> list[Candidate]:
    found = []
    for agreement, commitment, status in ctx.commitment_statuses:
        if status.committed <= 0 or status.consumed < status.committed:
            continue
        period = f"{status.period_start:%Y-%m-%d}..{status.period_end:%Y-%m-%d}"
        data = _plain(
            {
                "level": (status.utilisation or Decimal(0)),
                "agreement": agreement.reference,
                "commitment": commitment.pk,
                "unit": status.unit,
                "period_start": status.period_start,
                "period_end": status.period_end,
                "committed": status.committed,
                "consumed": status.consumed,
                "currency": status.currency,
            }
        )
        figures = (
            f"{_commitment_figure(status.consumed, status)} consumed of "
            f"{_commitment_figure(status.committed, status)} ({_period_text(status)})"
        )
        if status.is_prepaid:
            found.append(
                Candidate(
                    type=T.COMMITMENT_CAP,
                    severity=S.WARNING,
                    subject=f"commitment:{commitment.pk}:exhausted",
                    period=period,
                    title=f"Prepaid commitment used up: {agreement.reference} ({agreement.vendor.name})",
                    message=(
                        f"{figures}. Usage beyond the prepaid amount is now charged by the agreement's price rules "
                        f"and invoiced on top."
                    ),
                    subject_url=agreement.get_absolute_url(),
                    vendor_id=agreement.vendor_id,
                    data=data,
                )
            )
        else:
            found.append(
                Candidate(
                    type=T.COMMITMENT_CAP,
                    severity=S.INFO,
                    subject=f"commitment:{commitment.pk}:met",
                    period=period,
                    title=f"Commitment met: {agreement.reference} ({agreement.vendor.name})",
                    message=f"{figures}. The take-or-pay commitment is met: no shortfall will be charged this period.",
                    subject_url=agreement.get_absolute_url(),
                    vendor_id=agreement.vendor_id,
                    data=data,
                )
            )
    return found


TOKEN_COLUMNS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
}


def rule_counters(agreement: Agreement, today: date) -> tuple[AgreementSpec, tuple[date, date], dict[int, int]]:
    """The tokens each tiered price rule of the agreement has counted in the pricing period that
    contains `today`: the vendor's daily rollups of the period, each model's classes given to the
    rule contracts.rating would choose on that day (the same totals as the rating engine's
    counters, which count the same tokens record by record)."""
    spec = AgreementSpec.from_model(agreement)
    period = pricing_period(
        today, agreement_start=spec.start, agreement_end=spec.end, commitment_period=spec.commitment_period
    )
    tiered = {rule.id for rule in spec.rules if len(rule.schedule.tiers) > 1}
    counts: dict[int, int] = defaultdict(int)
    if not tiered:
        return spec, period, counts
    rows = (
        DailyRollup.objects.filter(vendor_id=agreement.vendor_id, day__gte=period[0], day__lte=min(today, period[1]))
        .values("day", "model")
        .annotate(**{cls: Sum(column) for cls, column in TOKEN_COLUMNS.items()})
    )
    for row in rows:
        for cls in TOKEN_COLUMNS:
            tokens = row[cls] or 0
            if not tokens:
                continue
            found = spec.rule_in_force(row["model"], cls, row["day"])
            if found is not None and found.rule.id in tiered:
                counts[found.rule.id] += tokens
    return spec, period, counts


def _tiers_reached(ctx: Context) -> list[Candidate]:
    found = []
    for agreement in ctx.agreements_in_force:
        if not any(rule.tiers.all()[1:] for rule in agreement.price_rules.all()):
            continue
        spec, period, counts = rule_counters(agreement, ctx.today)
        rules = {rule.id: rule for rule in spec.rules}
        for rule_id, count in sorted(counts.items()):
            rule = rules[rule_id]
            index = rule.schedule.tier_reached(count)
            if index < 1:
                continue
            tier = rule.schedule.tiers[index]
            how = (
                "all the period's tokens are priced at this tier once the period ends (a true-up)"
                if rule.schedule.kind == "volume"
                else "the tokens beyond the boundary are priced at this tier"
            )
            found.append(
                Candidate(
                    type=T.COMMITMENT_CAP,
                    severity=S.INFO,
                    subject=f"price-rule:{rule.id}:tier-{index + 1}",
                    period=f"{period[0]:%Y-%m-%d}..{period[1]:%Y-%m-%d}",
                    title=(
                        f"Tier {index + 1} reached: {agreement.reference} {rule.model_pattern} {rule.token_class} "
                        f"({agreement.vendor.name})"
                    ),
                    message=(
                        f"The price rule {rule.model_pattern} ({rule.token_class}, {rule.schedule.kind}) has counted "
                        f"{tokens_text(count)} in the pricing period {period[0]:%Y-%m-%d} – {period[1]:%Y-%m-%d}, "
                        f"past the boundary of tier {index + 1} at {tokens_text(tier.from_tokens)}: "
                        f"{agreement.currency} {number_text(tier.price, 6)} per 1M tokens; {how}."
                    ),
                    subject_url=agreement.get_absolute_url(),
                    vendor_id=agreement.vendor_id,
                    data=_plain(
                        {
                            "level": index + 1,
                            "agreement": agreement.reference,
                            "price_rule": rule.id,
                            "tier": index + 1,
                            "from_tokens": tier.from_tokens,
                            "price": tier.price,
                            "counted": count,
                            "period_start": period[0],
                            "period_end": period[1],
                        }
                    ),
                )
            )
    return found


def commitment_cap(ctx: Context) -> list[Candidate]:
    return _commitment_caps(ctx) + _tiers_reached(ctx)


# SLA ------------------------------------------------------------------------------------------------

METRIC_UNITS = {
    SlaClause.Metric.AVAILABILITY: ("%", "percentage points"),
    SlaClause.Metric.ERROR_RATE: ("%", "percentage points"),
    SlaClause.Metric.LATENCY_P50: ("ms", "ms"),
    SlaClause.Metric.LATENCY_P90: ("ms", "ms"),
    SlaClause.Metric.THROUGHPUT_FLUCTUATION: ("×", ""),
}


def _metric_label(metric: str) -> str:
    return SlaClause.Metric(metric).label.split(" (")[0] if metric in SlaClause.Metric.values else metric


def _measure(value: Decimal | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{number_text(value)} {unit}".rstrip() if unit != "×" else f"{number_text(value)}×"


def sla_breach(ctx: Context) -> list[Candidate]:
    since = (ctx.today - timedelta(days=SLA_LOOKBACK_DAYS)).replace(day=1)
    credits = SlaCredit.objects.filter(credit_percent__gt=0, period__gte=since).select_related("agreement__vendor")
    found = []
    for credit in credits.order_by("period", "id"):
        agreement = credit.agreement
        unit, breach_unit = METRIC_UNITS.get(credit.metric, ("", ""))
        scope = ", ".join(credit.models_in_scope or []) or "all models"
        claim = f" Claim by {credit.claim_by:%Y-%m-%d}." if credit.claim_by else ""
        breach = (
            f" (breach {number_text(credit.breach)} {breach_unit}".rstrip() + ")" if credit.breach is not None else ""
        )
        found.append(
            Candidate(
                type=T.SLA_BREACH,
                severity=S.WARNING,
                subject=f"sla-clause:{credit.clause_id}" if credit.clause_id else f"sla-credit:{credit.pk}",
                period=f"{credit.period:%Y-%m}",
                title=(
                    f"SLA breach: {agreement.vendor.name} {_metric_label(credit.metric)} in {credit.period:%Y-%m} "
                    f"({agreement.reference})"
                ),
                message=(
                    f"{_metric_label(credit.metric)} for {scope} measured {_measure(credit.measured, unit)} against a "
                    f"target of {_measure(credit.target, unit)}{breach}. "
                    f"Credit {percent_text(credit.credit_percent)} of the month's in-scope charges: "
                    f"{money_text(credit.credit, credit.currency)} ({credit.get_status_display().lower()}).{claim}"
                ),
                subject_url=agreement.get_absolute_url(),
                vendor_id=agreement.vendor_id,
                data=_plain(
                    {
                        "level": credit.credit_percent,
                        "agreement": agreement.reference,
                        "sla_credit": credit.pk,
                        "metric": credit.metric,
                        "models": credit.models_in_scope,
                        "target": credit.target,
                        "measured": credit.measured,
                        "breach": credit.breach,
                        "credit_percent": credit.credit_percent,
                        "credit": credit.credit,
                        "currency": credit.currency,
                        "claim_by": credit.claim_by,
                    }
                ),
            )
        )
    return found


def sla_claim_deadline(ctx: Context) -> list[Candidate]:
    credits = SlaCredit.objects.filter(
        status__in=[SlaCredit.Status.OWED, SlaCredit.Status.CLAIMED],
        credit__gt=0,
        claim_by__gte=ctx.today,
        claim_by__lte=ctx.today + timedelta(days=CLAIM_WARNING_DAYS),
    ).select_related("agreement__vendor")
    found = []
    for credit in credits.order_by("claim_by", "id"):
        agreement = credit.agreement
        days_left = (credit.claim_by - ctx.today).days
        when = "today" if days_left == 0 else "tomorrow" if days_left == 1 else f"in {days_left} days"
        next_step = (
            "It is claimed but not received yet: chase the vendor."
            if credit.status == SlaCredit.Status.CLAIMED
            else "Claim it from the vendor, then mark it claimed."
        )
        found.append(
            Candidate(
                type=T.SLA_CLAIM_DEADLINE,
                severity=S.CRITICAL if days_left <= 2 else S.WARNING,
                subject=f"sla-credit:{credit.pk}",
                period=f"{credit.period:%Y-%m}",
                title=(
                    f"SLA credit claim deadline {when}: {agreement.vendor.name} "
                    f"{money_text(credit.credit, credit.currency)} for {credit.period:%Y-%m}"
                ),
                message=(
                    f"The {_metric_label(credit.metric)} credit of {money_text(credit.credit, credit.currency)} "
                    f"({agreement.reference}, {credit.period:%Y-%m}) must be claimed by {credit.claim_by:%Y-%m-%d}. "
                    f"{next_step}"
                ),
                subject_url=agreement.get_absolute_url(),
                vendor_id=agreement.vendor_id,
                data=_plain(
                    {
                        "level": days_left,
                        "agreement": agreement.reference,
                        "sla_credit": credit.pk,
                        "claim_by": credit.claim_by,
                        "credit": credit.credit,
                        "currency": credit.currency,
                        "status": credit.status,
                    }
                ),
            )
        )
    return found


# Contracts and certifications -------------------------------------------------------------------------


def _step(days_left: int, steps: Iterable[int]) -> int | None:
    """The smallest step the days left have reached (50 days with steps 120/90/60/30 → 60)."""
    reached = [step for step in steps if days_left <= step]
    return min(reached) if reached else None


def contract_notice(ctx: Context) -> list[Candidate]:
    agreements = Agreement.objects.filter(status=Agreement.Status.ACTIVE, end__gte=ctx.today).select_related("vendor")
    found = []
    for agreement in agreements.order_by("reference"):
        deadline = agreement.end - timedelta(days=agreement.notice_days)
        days_left = (deadline - ctx.today).days
        step = _step(days_left, NOTICE_STEPS) if days_left >= 0 else None
        if step is None:
            continue
        if agreement.auto_renew:
            what = (
                f"It renews automatically after {agreement.end:%Y-%m-%d} unless notice is given by "
                f"{deadline:%Y-%m-%d} ({agreement.notice_days} days' notice)."
            )
        else:
            what = (
                f"It ends on {agreement.end:%Y-%m-%d}; to renew or renegotiate, give notice by {deadline:%Y-%m-%d} "
                f"({agreement.notice_days} days' notice)."
            )
        found.append(
            Candidate(
                type=T.CONTRACT_NOTICE,
                severity=S.CRITICAL if step <= 30 else S.WARNING if step <= 60 else S.INFO,
                subject=f"agreement:{agreement.reference}:{step}d",
                period=deadline.isoformat(),
                title=(
                    f"Notice deadline in {days_left} days: {agreement.reference} ({agreement.vendor.name})"
                    if days_left
                    else f"Notice deadline today: {agreement.reference} ({agreement.vendor.name})"
                ),
                message=what,
                subject_url=agreement.get_absolute_url(),
                vendor_id=agreement.vendor_id,
                data=_plain(
                    {
                        "level": days_left,
                        "agreement": agreement.reference,
                        "step": step,
                        "notice_deadline": deadline,
                        "end": agreement.end,
                        "auto_renew": agreement.auto_renew,
                        "notice_days": agreement.notice_days,
                    }
                ),
            )
        )
    return found


def certification_expiring(ctx: Context) -> list[Candidate]:
    horizon = ctx.today + timedelta(days=max(CERTIFICATION_STEPS))
    certifications = VendorCertification.objects.filter(
        valid_from__lte=ctx.today, valid_until__gte=ctx.today, valid_until__lte=horizon
    ).select_related("vendor")
    found = []
    for cert in certifications.order_by("valid_until", "id"):
        successor = VendorCertification.objects.filter(
            vendor_id=cert.vendor_id,
            kind=cert.kind,
            valid_until__gt=cert.valid_until,
            valid_from__lte=cert.valid_until + timedelta(days=1),
        ).exists()
        if successor:
            continue  # renewed: the next certificate follows on without a gap
        days_left = (cert.valid_until - ctx.today).days
        step = _step(days_left, CERTIFICATION_STEPS)
        found.append(
            Candidate(
                type=T.CERTIFICATION_EXPIRING,
                severity=S.WARNING if step <= 30 else S.INFO,
                subject=f"certification:{cert.pk}:{step}d",
                period=cert.valid_until.isoformat(),
                title=(
                    f"Certification expiring in {days_left} days: {cert.vendor.name} {cert.get_kind_display()}"
                    if days_left
                    else f"Certification expires today: {cert.vendor.name} {cert.get_kind_display()}"
                ),
                message=(
                    f"{cert.vendor.name}'s {cert.get_kind_display()}{f' ({cert.reference})' if cert.reference else ''} "
                    f"is valid until {cert.valid_until:%Y-%m-%d} and no renewal is recorded. Ask the vendor for the "
                    f"renewed certificate and record it."
                ),
                subject_url=cert.get_absolute_url(),
                vendor_id=cert.vendor_id,
                data=_plain(
                    {
                        "level": days_left,
                        "certification": cert.pk,
                        "kind": cert.kind,
                        "valid_until": cert.valid_until,
                        "step": step,
                    }
                ),
            )
        )
    return found


# Compliance -----------------------------------------------------------------------------------------


def region_approved(region: str, residency: Iterable[str]) -> bool:
    """A usage region is approved when it equals one of the vendor's data-residency codes or
    starts with one followed by '-' (US approves us-east-1; EU approves eu-west-1), ignoring case."""
    code = region.strip().upper()
    return any(code == allowed.upper() or code.startswith(allowed.upper() + "-") for allowed in residency)


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def compliance(ctx: Context) -> list[Candidate]:
    days = settings.ALERT_COMPLIANCE_LOOKBACK_DAYS
    first = ctx.today - timedelta(days=days)
    usage = {
        row["vendor_id"]: row
        for row in DailyRollup.objects.filter(day__gte=first, day__lte=ctx.today, records__gt=0)
        .values("vendor_id")
        .annotate(records=Sum("records"), first=Min("day"), last=Max("day"))
    }
    if not usage:
        return []
    vendors = {v.pk: v for v in Vendor.objects.filter(pk__in=usage)}
    certified = set(
        VendorCertification.objects.filter(
            vendor_id__in=usage, valid_from__lte=ctx.today, valid_until__gte=ctx.today
        ).values_list("vendor_id", flat=True)
    )
    month = f"{ctx.today:%Y-%m}"
    found = []

    def candidate(vendor: Vendor, problem: str, severity: str, title: str, message: str, extra: dict) -> Candidate:
        return Candidate(
            type=T.COMPLIANCE,
            severity=severity,
            subject=f"vendor:{vendor.slug}:{problem}",
            period=month,
            title=title,
            message=message,
            subject_url=vendor.get_absolute_url(),
            vendor_id=vendor.pk,
            data=_plain({"vendor": vendor.slug, "problem": problem, **extra}),
        )

    for vendor_id, row in sorted(usage.items(), key=lambda item: vendors[item[0]].slug):
        vendor = vendors[vendor_id]
        seen = f"{int(row['records']):,} usage records from {row['first']:%Y-%m-%d} to {row['last']:%Y-%m-%d}"
        extra = {
            "level": int(row["records"]),
            "records": int(row["records"]),
            "first": row["first"],
            "last": row["last"],
        }
        if not vendor.dpa_signed:
            found.append(
                candidate(
                    vendor,
                    "no-dpa",
                    S.CRITICAL,
                    f"Usage at {vendor.name} without a signed DPA",
                    f"{seen} went to {vendor.name}, which has no data processing agreement on record. Sign one, "
                    f"or stop routing personal data to this vendor.",
                    extra,
                )
            )
        if vendor_id not in certified:
            found.append(
                candidate(
                    vendor,
                    "no-certification",
                    S.WARNING,
                    f"Usage at {vendor.name} without a valid certification",
                    f"{seen} went to {vendor.name}, which has no certification valid on {ctx.today:%Y-%m-%d} "
                    f"(ISO 27001, SOC 2, MLPS level 3, …). Record a current certificate or review the vendor.",
                    extra,
                )
            )
    regions = (
        UsageRecord.objects.filter(vendor_id__in=list(usage), bucket_start__gte=_day_start(first))
        .exclude(region__isnull=True)
        .exclude(region="")
        .values("vendor_id", "region")
        .annotate(records=Count("id"), first=Min("usage_date"), last=Max("usage_date"))
        .order_by("vendor_id", "region")
    )
    for row in regions:
        vendor = vendors[row["vendor_id"]]
        if region_approved(row["region"], vendor.data_residency):
            continue
        code = row["region"].strip().upper()
        approved = ", ".join(vendor.data_residency) or "none"
        found.append(
            candidate(
                vendor,
                f"region:{code}",
                S.CRITICAL,
                f"Usage at {vendor.name} in a region not approved: {code}",
                f"{row['records']:,} usage records from {row['first']:%Y-%m-%d} to {row['last']:%Y-%m-%d} were "
                f"processed by {vendor.name} in region {row['region']}; its approved data-residency regions are "
                f"{approved}.",
                {
                    "level": row["records"],
                    "region": row["region"],
                    "approved": vendor.data_residency,
                    "records": row["records"],
                    "first": row["first"],
                    "last": row["last"],
                },
            )
        )
    return found


# Usage anomalies -------------------------------------------------------------------------------------

# Iglewicz and Hoaglin's modified z-score: 0.6745 × (x − median) ÷ MAD. 0.6745 is the 0.75
# quantile of the standard normal, so the score reads like a z-score for normal data while one
# wild day in the history moves neither the median nor the MAD. When over half the days are
# equal the MAD is 0; then the mean absolute deviation scaled by √(π/2) ≈ 1.2533 stands in.
MAD_SCALE = Decimal("0.6745")
MEAN_AD_SCALE = Decimal("1.253314")


def robust_z(history: list[Decimal], value: Decimal) -> Decimal | None:
    """The robust z-score of `value` against `history`; None when the history does not vary."""
    if not history:
        return None
    centre = median(history)
    deviations = [abs(x - centre) for x in history]
    mad = median(deviations)
    if mad > 0:
        z = MAD_SCALE * (value - centre) / mad
    else:
        mean_ad = sum(deviations, Decimal(0)) / len(deviations)
        if mean_ad == 0:
            return None
        z = (value - centre) / (MEAN_AD_SCALE * mean_ad)
    return z.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _weekend(day: date) -> bool:
    return day.weekday() >= 5


def usage_anomaly(ctx: Context) -> list[Candidate]:
    """Per department (its own usage, not its sub-departments'), yesterday's cost (reporting
    currency) and tokens (four classes) against the same kind of day — weekdays against weekdays,
    Saturdays and Sundays against weekends (UTC) — of the 28 days before: |robust z| >
    ALERT_ANOMALY_Z. Days without usage count as 0; a department needs usage on 14 of the 28 days
    to be judged. A drop is judged only once the department has usage today: until then
    yesterday may simply not be fully ingested yet."""
    yesterday = ctx.today - timedelta(days=1)
    first = yesterday - timedelta(days=ANOMALY_HISTORY_DAYS)
    limit = Decimal(str(settings.ALERT_ANOMALY_Z))
    rows = (
        DailyRollup.objects.filter(day__gte=first, day__lte=ctx.today)
        .values("department_id", "day")
        .annotate(
            cost=Sum("cost"),
            tokens=Sum(F("input_tokens") + F("cached_input_tokens") + F("cache_write_tokens") + F("output_tokens")),
        )
    )
    series: dict[int, dict[date, tuple[Decimal, Decimal]]] = defaultdict(dict)
    for row in rows:
        series[row["department_id"]][row["day"]] = (Decimal(row["cost"] or 0), Decimal(row["tokens"] or 0))
    history_days = [first + timedelta(days=i) for i in range(ANOMALY_HISTORY_DAYS)]
    alike = [day for day in history_days if _weekend(day) == _weekend(yesterday)]
    kind = "weekend days" if _weekend(yesterday) else "weekdays"
    found = []
    for department_id, days in series.items():
        active = sum(1 for day in history_days if day in days and (days[day][0] or days[day][1]))
        if active < ANOMALY_MIN_ACTIVE_DAYS:
            continue
        department = ctx.departments.get(department_id)
        if department is None:
            continue
        settled = any(days.get(ctx.today, (0, 0)))
        for index, metric in enumerate(("cost", "tokens")):
            history = [days.get(day, (Decimal(0), Decimal(0)))[index] for day in alike]
            value = days.get(yesterday, (Decimal(0), Decimal(0)))[index]
            z = robust_z(history, value)
            if z is None or abs(z) <= limit or (z < 0 and not settled):
                continue
            usual = median(history)
            if metric == "cost":
                shown, usual_shown, label = (
                    money_text(value, ctx.reporting_currency),
                    money_text(usual, ctx.reporting_currency),
                    "spend",
                )
            else:
                shown, usual_shown, label = tokens_text(value), tokens_text(usual), "token usage"
            direction = "above" if z > 0 else "below"
            found.append(
                Candidate(
                    type=T.USAGE_ANOMALY,
                    severity=S.CRITICAL if abs(z) >= 10 else S.WARNING,
                    subject=f"department:{department.code}:{metric}",
                    period=yesterday.isoformat(),
                    title=(
                        f"Unusual {label}: {department.code} on {yesterday:%Y-%m-%d} ({shown}, usually {usual_shown})"
                    ),
                    message=(
                        f"{department.code} — {department.name}: {label} on {yesterday:%Y-%m-%d} was {shown}, far "
                        f"{direction} the median of the {kind} in the 28 days before ({usual_shown}); robust "
                        f"z-score {z} (alerts beyond ±{number_text(limit)}). Check for a runaway job, a new "
                        f"workload or a feed that stopped."
                    ),
                    subject_url=f"{_url('usage:explorer')}?department={department.code}",
                    department_id=department.pk,
                    data=_plain(
                        {
                            "level": abs(z),
                            "metric": metric,
                            "day": yesterday,
                            "value": value,
                            "median": usual,
                            "z": z,
                            "currency": ctx.reporting_currency if metric == "cost" else None,
                        }
                    ),
                )
            )
    return sorted(found, key=lambda c: c.dedup_key)


# Vendor concentration ---------------------------------------------------------------------------------


def vendor_concentration(ctx: Context) -> list[Candidate]:
    last = ctx.today - timedelta(days=1)
    first = last - timedelta(days=CONCENTRATION_DAYS - 1)
    rows = list(
        DailyRollup.objects.filter(day__gte=first, day__lte=last)
        .values("vendor_id")
        .annotate(cost=Sum("cost"))
        .order_by("vendor_id")
    )
    total = sum((Decimal(row["cost"] or 0) for row in rows), Decimal(0))
    if total <= 0:
        return []
    limit = Decimal(str(settings.ALERT_CONCENTRATION_PERCENT))
    vendors = {v.pk: v for v in Vendor.objects.filter(pk__in=[row["vendor_id"] for row in rows])}
    found = []
    for row in rows:
        cost = Decimal(row["cost"] or 0)
        share = (cost / total * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if share <= limit:
            continue
        vendor = vendors[row["vendor_id"]]
        found.append(
            Candidate(
                type=T.VENDOR_CONCENTRATION,
                severity=S.WARNING,
                subject=f"vendor:{vendor.slug}",
                period=f"{ctx.today:%Y-%m}",
                title=(
                    f"Vendor concentration: {vendor.name} had {percent_text(share)} of spend "
                    f"(policy {percent_text(limit)})"
                ),
                message=(
                    f"{vendor.name} took {money_text(cost, ctx.reporting_currency)} of "
                    f"{money_text(total, ctx.reporting_currency)} spent from {first:%Y-%m-%d} to {last:%Y-%m-%d} "
                    f"({percent_text(share)}), above the policy of {percent_text(limit)} "
                    f"(ALERT_CONCENTRATION_PERCENT). Consider moving traffic to a backup vendor."
                ),
                subject_url=vendor.get_absolute_url(),
                vendor_id=vendor.pk,
                data=_plain(
                    {
                        "level": share,
                        "share": share,
                        "policy": limit,
                        "cost": cost,
                        "total": total,
                        "first": first,
                        "last": last,
                        "currency": ctx.reporting_currency,
                    }
                ),
            )
        )
    return found


# Feeds -----------------------------------------------------------------------------------------------


def feed_stale(ctx: Context) -> list[Candidate]:
    """Sources pulled on a schedule whose pull health (usage.models.Source.pull_health) is failing
    (the last pull failed) or stale (no good pull for two intervals + 15 minutes). One alert per
    outage: the period is the last good pull."""
    found = []
    for source in Source.objects.filter(is_active=True, pull_enabled=True).select_related("vendor").order_by("slug"):
        health = source.pull_health
        if health not in (PullHealth.FAILING, PullHealth.STALE):
            continue
        last_ok = source.last_pull_ok_at
        last_ok_text = f"{last_ok:%Y-%m-%d %H:%M} UTC" if last_ok else "never"
        if health == PullHealth.FAILING:
            failures = source.pull_failures
            title = f"Feed failing: {source.name} ({failures} failed pull{'s' if failures != 1 else ''} in a row)"
            message = (
                f"The scheduled pull of {source.name} ({source.slug}) failed {failures} time"
                f"{'s' if failures != 1 else ''} in a row; the last good pull was {last_ok_text}. "
                f"Last error: {source.last_pull_error or '—'}"
            )
        else:
            failures = 0
            title = f"Feed stale: {source.name} (last good pull {last_ok_text})"
            message = (
                f"{source.name} ({source.slug}) is pulled every {source.pull_interval_minutes} minutes, but its last "
                f"good pull was {last_ok_text}. Check that the Celery worker and beat are running."
            )
        found.append(
            Candidate(
                type=T.FEED_STALE,
                severity=S.CRITICAL if failures >= FEED_CRITICAL_FAILURES else S.WARNING,
                subject=f"source:{source.slug}",
                period=f"ok-{last_ok:%Y-%m-%dT%H:%M:%S}" if last_ok else "never-ok",
                title=title,
                message=message,
                subject_url=source.get_absolute_url(),
                vendor_id=source.vendor_id,
                data=_plain(
                    {
                        "level": failures,
                        "source": source.slug,
                        "health": str(health),
                        "failures": failures,
                        "last_pull_ok_at": last_ok,
                        "last_pull_at": source.last_pull_at,
                        "interval_minutes": source.pull_interval_minutes,
                    }
                ),
            )
        )
    return found


# FX -------------------------------------------------------------------------------------------------


def fx_missing(ctx: Context) -> list[Candidate]:
    """Currencies in use — the cost currencies of recent usage and the active agreements' — with no
    usable rate to the reporting currency today (core.fx: the direct, inverse or cross rate at most
    7 days old), and recent usage rated without one (fx_status missing or stale). One alert per
    currency pair and ISO week while it lasts."""
    rep = ctx.reporting_currency
    first = ctx.today - timedelta(days=settings.ALERT_FX_LOOKBACK_DAYS)
    flagged: dict[str, dict] = {}
    unpriced_vendors = list(
        DailyRollup.objects.filter(day__gte=first, unpriced_records__gt=0)
        .values_list("vendor_id", flat=True)
        .distinct()
    )
    if unpriced_vendors:
        for row in (
            UsageRecord.objects.filter(
                vendor_id__in=unpriced_vendors,
                bucket_start__gte=_day_start(first),
                fx_status__in=[UsageRecord.FxStatus.MISSING, UsageRecord.FxStatus.STALE],
            )
            .values("cost_currency", "reporting_currency")
            .annotate(records=Count("id"), first=Min("usage_date"), last=Max("usage_date"))
        ):
            if row["reporting_currency"] and row["reporting_currency"] != rep:
                continue  # rated under another reporting currency: a re-rate settles it
            flagged[row["cost_currency"]] = row
    in_use = set(flagged)
    in_use |= {a.currency for a in ctx.agreements_in_force}
    recent_vendors = DailyRollup.objects.filter(day__gte=first).values_list("vendor_id", flat=True).distinct()
    in_use |= set(Vendor.objects.filter(pk__in=recent_vendors).values_list("billing_currency", flat=True))
    in_use = {code for code in in_use if code and code != rep}
    if not in_use:
        return []
    table = FxTable.load(ctx.today, ctx.today, reporting_currency=rep, lookback_days=366)
    year, week, _ = ctx.today.isocalendar()
    found = []
    for code in sorted(in_use):
        latest: date | None = None
        usable = True
        try:
            table.quote(code, rep, ctx.today)
        except FxUnavailable as exc:
            usable, latest = False, exc.latest
        row = flagged.get(code)
        if usable and row is None:
            continue
        records = int(row["records"]) if row else 0
        if usable:
            problem = f"{code}→{rep} rates were missing or stale for some recent usage days"
        elif latest:
            problem = (
                f"the latest {code}→{rep} rate (direct, inverse or cross) is from {latest:%Y-%m-%d}, "
                f"{(ctx.today - latest).days} days old (at most {MAX_AGE_DAYS} days are used)"
            )
        else:
            problem = f"there is no {code}→{rep} rate at all (direct, inverse or cross)"
        affected = (
            f" {records:,} usage records from {row['first']:%Y-%m-%d} to {row['last']:%Y-%m-%d} have no cost in "
            f"{rep}, so reports and budgets leave them out."
            if row
            else ""
        )
        if not usable and latest:
            title = f"FX rate stale: {code}→{rep} (latest {latest:%Y-%m-%d})"
        elif not usable:
            title = f"FX rate missing: {code}→{rep}"
        else:
            title = f"FX rates missing for recent usage: {code}→{rep}"
        if records:
            title += f", {records:,} usage records unpriced"
        found.append(
            Candidate(
                type=T.FX_MISSING,
                severity=S.CRITICAL if records else S.WARNING,
                subject=f"pair:{code}-{rep}",
                period=f"{year}-W{week:02d}",
                title=title,
                message=(
                    f"{problem[0].upper()}{problem[1:]}.{affected} Import the ECB table or add the rate on the FX "
                    f"rates page; the usage is re-rated automatically."
                ),
                subject_url=_url("core:fxrate_list"),
                data=_plain(
                    {
                        "level": records,
                        "base": code,
                        "quote": rep,
                        "usable_today": usable,
                        "latest_rate": latest,
                        "records": records,
                        "first": row["first"] if row else None,
                        "last": row["last"] if row else None,
                    }
                ),
            )
        )
    return found


# The registry ---------------------------------------------------------------------------------------

EVALUATORS: list[tuple[str, Callable[[Context], list[Candidate]]]] = [
    (T.BUDGET_THRESHOLD, budget_threshold),
    (T.BUDGET_OVERRUN, budget_overrun),
    (T.COMMITMENT_SHORTFALL, commitment_shortfall),
    (T.COMMITMENT_CAP, commitment_cap),
    (T.SLA_BREACH, sla_breach),
    (T.SLA_CLAIM_DEADLINE, sla_claim_deadline),
    (T.CONTRACT_NOTICE, contract_notice),
    (T.CERTIFICATION_EXPIRING, certification_expiring),
    (T.COMPLIANCE, compliance),
    (T.USAGE_ANOMALY, usage_anomaly),
    (T.VENDOR_CONCENTRATION, vendor_concentration),
    (T.FEED_STALE, feed_stale),
    (T.FX_MISSING, fx_missing),
]
