"""Commitment status: how far an agreement's commitments are consumed in the current period.

Everything is read from the daily rollups (usage_daily_rollup), never from usage records, so the
answer costs three queries whatever the volume of usage — the commitments, one grouped rollup query
and the forecasts — and `commitment_statuses_many` answers for any number of agreements in the same
three (a list of agreements costs no query per agreement).

For each commitment, the period is the commitment period (annual, quarterly, monthly counted from
the agreement's start, month ends clamped: contracts.rating.pricing_period) that contains
`as_of`, clamped to the agreement's term. Days count inclusively; `as_of` is the last day counted.

* consumed — tokens: the sums of the commitment's token classes (empty: all four) of the
  agreement's vendor on the period's days up to `as_of`; money: the sum of the rollups'
  `agreement_cost` (rated spend in the agreement's currency, volume true-ups included) on them.
* expected_to_date = committed × elapsed days ÷ period days.
* utilisation = consumed ÷ committed × 100.
* projected_end (and low / high): billing.projections.commitment_projection — linear for now.
* projected_shortfall = max(0, committed − projected_end). Once the period has ended the
  projection is the consumption itself, so this is then max(0, committed − consumed).
* take-or-pay: shortfall_charge = projected_shortfall × shortfall_price ÷ 10⁶ for tokens, the
  projected shortfall itself for money, in the agreement's currency. `final` says whether the
  period has ended (the charge is due) or the figure is what the projection implies.
* prepaid: drawn = min(consumed, committed), remaining = committed − drawn, overage = consumed
  beyond the prepaid amount (charged by the price rules, so not here), expiring = what is left at
  the period's end (projected while the period runs) and is written off. No shortfall charge.

Rounding: token figures are whole tokens, money figures have 12 decimal places (exact sums of
the stored costs; divisions rounded half up), percentages 2 places.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from contracts.models import Agreement, Commitment
from contracts.rating import pricing_period
from core.money import COST_QUANTUM, cost_of
from usage.models import DailyRollup

from ..projections import commitment_projection, forecast_projection, latest_forecasts
from ._decimal import exact_decimal, percent, pro_rata, quantize

TOKEN_QUANTUM = Decimal(1)
# contracts.models.TokenClass → the rollup column that sums it
TOKEN_COLUMNS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
}


@dataclass(frozen=True)
class CommitmentPoint:
    """One day of the period for the chart: cumulative consumption (None after `as_of`) and the
    cumulative pro-rata commitment."""

    day: date
    consumed: Decimal | None
    expected: Decimal


@dataclass(frozen=True)
class CommitmentStatus:
    id: int
    unit: str  # "tokens" or the agreement's currency
    treatment: str
    period: str
    token_classes: tuple[str, ...]  # empty: all four
    currency: str  # the agreement's: of money figures and of the shortfall charge
    as_of: date
    period_start: date
    period_end: date
    period_days: int
    elapsed_days: int
    final: bool  # the period has ended: the charge, expiry and consumption are final
    committed: Decimal
    consumed: Decimal
    expected_to_date: Decimal
    utilisation: Decimal | None  # percent
    projection_method: str
    projected_end: Decimal
    projected_low: Decimal
    projected_high: Decimal
    projected_shortfall: Decimal
    shortfall_price: Decimal | None
    shortfall_charge: Decimal
    drawn: Decimal | None  # prepaid only, from here on
    remaining: Decimal | None
    overage: Decimal | None
    projected_overage: Decimal | None
    expiring: Decimal | None
    series: tuple[CommitmentPoint, ...]

    @property
    def is_tokens(self) -> bool:
        return self.unit == Commitment.TOKENS

    @property
    def is_prepaid(self) -> bool:
        return self.treatment == Commitment.Treatment.PREPAID


def commitment_period_for(commitment: Commitment, *, agreement: Agreement, as_of: date) -> tuple[date, date]:
    """The commitment period containing `as_of`, clamped to the agreement's term."""
    day = min(max(as_of, agreement.start), agreement.end)
    return pricing_period(
        day, agreement_start=agreement.start, agreement_end=agreement.end, commitment_period=commitment.period
    )


def _daily_consumption(ranges: dict[int, tuple[date, date]]) -> dict[int, dict[date, dict[str, Decimal]]]:
    """Per vendor and day: the four token sums and the agreement-currency cost of the vendor's
    rollups on the days of its range (first, last), for every vendor in one grouped query."""
    wanted = Q()
    for vendor_id, (first, last) in ranges.items():
        if first <= last:
            wanted |= Q(vendor_id=vendor_id, day__gte=first, day__lte=last)
    if not wanted:
        return {}
    sums = {f"sum_{column}": Sum(column) for column in TOKEN_COLUMNS.values()}
    rows = (
        DailyRollup.objects.filter(wanted)
        .values("vendor_id", "day")
        .annotate(**sums, sum_agreement_cost=Sum("agreement_cost"))
        .order_by("vendor_id", "day")
    )
    daily: dict[int, dict[date, dict[str, Decimal]]] = {}
    for row in rows:
        daily.setdefault(row["vendor_id"], {})[row["day"]] = {
            name.removeprefix("sum_"): Decimal(value or 0) for name, value in row.items() if name.startswith("sum_")
        }
    return daily


def _consumed_on(day_sums: dict[str, Decimal], commitment: Commitment) -> Decimal:
    if not commitment.is_tokens:
        return day_sums["agreement_cost"]
    classes = commitment.token_classes or list(TOKEN_COLUMNS)
    return sum((day_sums[TOKEN_COLUMNS[c]] for c in classes if c in TOKEN_COLUMNS), Decimal(0))


@exact_decimal
def commitment_status(
    commitment: Commitment,
    *,
    agreement: Agreement,
    as_of: date,
    daily: dict[date, dict[str, Decimal]],
    forecasts: dict | None = None,
) -> CommitmentStatus:
    """One commitment's status from the vendor's daily sums (`daily` must cover its period up to
    `as_of`; days without usage may be missing)."""
    period_start, period_end = commitment_period_for(commitment, agreement=agreement, as_of=as_of)
    period_days = (period_end - period_start).days + 1
    elapsed_days = max(0, min((as_of - period_start).days + 1, period_days))
    quantum = TOKEN_QUANTUM if commitment.is_tokens else COST_QUANTUM
    committed = quantize(commitment.amount, quantum)

    series: list[CommitmentPoint] = []
    consumed = Decimal(0)
    for offset in range(period_days):
        day = period_start + timedelta(days=offset)
        if offset < elapsed_days and day in daily:
            consumed += _consumed_on(daily[day], commitment)
        series.append(
            CommitmentPoint(
                day=day,
                consumed=quantize(consumed, quantum) if offset < elapsed_days else None,
                expected=pro_rata(committed, offset + 1, period_days, quantum),
            )
        )
    consumed = quantize(consumed, quantum)

    projection = forecast_projection(
        subject=f"commitment:{commitment.pk}",
        metric="tokens" if commitment.is_tokens else "cost",
        to_date=consumed,
        as_of=as_of,
        period_end=period_end,
        quantum=quantum,
        forecasts=forecasts,
    ) or commitment_projection(consumed=consumed, elapsed_days=elapsed_days, period_days=period_days, quantum=quantum)
    projected_shortfall = quantize(max(Decimal(0), committed - projection.end), quantum)
    prepaid = commitment.treatment == Commitment.Treatment.PREPAID
    if prepaid:
        shortfall_charge = Decimal(0)
    elif commitment.is_tokens:
        # A token shortfall is charged at the shortfall price per 1 000 000 tokens (exact, 12 places).
        shortfall_charge = cost_of(int(projected_shortfall), commitment.shortfall_price or Decimal(0))
    else:
        shortfall_charge = projected_shortfall
    shortfall_charge = quantize(shortfall_charge, COST_QUANTUM)

    drawn = remaining = overage = projected_overage = expiring = None
    if prepaid:
        drawn = min(consumed, committed)
        remaining = committed - drawn
        overage = quantize(max(Decimal(0), consumed - committed), quantum)
        projected_overage = quantize(max(Decimal(0), projection.end - committed), quantum)
        # What the prepaid amount will not cover by the period's end expires (a write-off).
        expiring = projected_shortfall

    return CommitmentStatus(
        id=commitment.pk,
        unit=commitment.unit,
        treatment=commitment.treatment,
        period=commitment.period,
        token_classes=tuple(commitment.token_classes or ()),
        currency=agreement.currency,
        as_of=as_of,
        period_start=period_start,
        period_end=period_end,
        period_days=period_days,
        elapsed_days=elapsed_days,
        final=as_of >= period_end,
        committed=committed,
        consumed=consumed,
        expected_to_date=pro_rata(committed, elapsed_days, period_days, quantum),
        utilisation=percent(consumed, committed),
        projection_method=projection.method,
        projected_end=projection.end,
        projected_low=projection.low,
        projected_high=projection.high,
        projected_shortfall=projected_shortfall,
        shortfall_price=commitment.shortfall_price,
        shortfall_charge=shortfall_charge,
        drawn=drawn,
        remaining=remaining,
        overage=overage,
        projected_overage=projected_overage,
        expiring=expiring,
        series=tuple(series),
    )


def commitment_statuses(*, agreement: Agreement, as_of: date) -> list[CommitmentStatus]:
    """Every commitment of the agreement, for its period containing `as_of` (see the module).
    One rollup query for all of them: the vendor's daily sums over the union of their periods."""
    return commitment_statuses_many([(agreement, as_of)])[0]


def _commitments_by_agreement(agreements: list[Agreement]) -> dict[int, list[Commitment]]:
    """Each agreement's commitments in id order: from `prefetch_related("commitments")` where the
    caller prefetched them, else one query for all the agreements that were not."""
    found: dict[int, list[Commitment]] = {}
    for agreement in agreements:
        prefetched = getattr(agreement, "_prefetched_objects_cache", {}).get("commitments")
        if prefetched is not None:
            found[agreement.pk] = sorted(prefetched, key=lambda c: c.pk)
    missing = {agreement.pk for agreement in agreements} - set(found)
    if missing:
        found.update((agreement_id, []) for agreement_id in missing)
        for commitment in Commitment.objects.filter(agreement_id__in=missing).order_by("agreement_id", "id"):
            found[commitment.agreement_id].append(commitment)
    return found


def commitment_statuses_many(requests: Sequence[tuple[Agreement, date]]) -> list[list[CommitmentStatus]]:
    """`commitment_statuses` of each (agreement, as_of), in the order asked, in three queries
    whatever their number: the commitments (none when prefetched), every vendor's daily sums over
    the union of its agreements' periods, and the forecasts of the periods still running."""
    requests = list(requests)
    commitments_of = _commitments_by_agreement([agreement for agreement, _ in requests])
    ranges: dict[int, tuple[date, date]] = {}
    wanted_forecasts: list[tuple[str, str]] = []
    for agreement, as_of in requests:
        commitments = commitments_of[agreement.pk]
        periods = [commitment_period_for(c, agreement=agreement, as_of=as_of) for c in commitments]
        if not commitments:
            continue
        first = min(start for start, _ in periods)
        last = min(as_of, max(end for _, end in periods))
        if first <= last:
            held = ranges.get(agreement.vendor_id)
            ranges[agreement.vendor_id] = (min(held[0], first), max(held[1], last)) if held else (first, last)
        wanted_forecasts.extend(
            (f"commitment:{c.pk}", "tokens" if c.is_tokens else "cost")
            for c, (_, end) in zip(commitments, periods, strict=True)
            if as_of < end
        )
    if not any(commitments_of[agreement.pk] for agreement, _ in requests):
        return [[] for _ in requests]
    daily = _daily_consumption(ranges)
    forecasts = latest_forecasts(list(dict.fromkeys(wanted_forecasts)))
    return [
        [
            commitment_status(
                c, agreement=agreement, as_of=as_of, daily=daily.get(agreement.vendor_id, {}), forecasts=forecasts
            )
            for c in commitments_of[agreement.pk]
        ]
        for agreement, as_of in requests
    ]
