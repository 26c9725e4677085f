"""Cost forecasts priced through the rating engine: an agreement's token forecast, split by the
recent mix of models and token classes, rated day by day under the agreement's rules — tier
counters continuing from where the current pricing period stands and restarting with each new
period, volume tiers at the tier reached (provisional, as the rating does), classes without a rule
at the list price. Each bound of the interval (low/high 80 and 95 %) is priced as its own path of
tokens, so tiers bend the bounds as they bend the point forecast."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from contracts.models import Agreement
from contracts.rating import AgreementSpec, price_to_micro, rate_tokens, to_decimal
from core.fx import FxTable, FxUnavailable
from procurement.models import VendorModel
from usage.models import DailyRollup

CLASSES = ("input", "cached_input", "cache_write", "output")
COLUMNS = {
    "input": "input_tokens",
    "cached_input": "cached_input_tokens",
    "cache_write": "cache_write_tokens",
    "output": "output_tokens",
}
PRICE_FIELDS = {
    "input": "input_price",
    "cached_input": "cached_input_price",
    "cache_write": "cache_write_price",
    "output": "output_price",
}
BOUNDS = ("value", "low80", "high80", "low95", "high95")
MIX_DAYS = 28


def _mix(agreement: Agreement, today: date) -> dict[tuple[str, str], Decimal]:
    """Each (model, class)'s share of the agreement's tokens over the last MIX_DAYS days."""
    since = max(agreement.start, today - timedelta(days=MIX_DAYS))
    rows = (
        DailyRollup.objects.filter(vendor_id=agreement.vendor_id, day__gte=since, day__lt=today)
        .values("model")
        .annotate(**{c: Sum(COLUMNS[c]) for c in CLASSES})
        .order_by("model")
    )
    counts = {(row["model"], c): int(row[c] or 0) for row in rows for c in CLASSES if row[c]}
    total = sum(counts.values())
    return {key: Decimal(count) / total for key, count in counts.items()} if total else {}


def _positions(spec: AgreementSpec, agreement: Agreement, today: date) -> dict[tuple[int, date], int]:
    """The counters of the pricing periods in force today, from the rollups up to yesterday."""
    found = {}
    rows = (
        DailyRollup.objects.filter(vendor_id=agreement.vendor_id, day__gte=agreement.start, day__lt=today)
        .values("model", "day")
        .annotate(**{c: Sum(COLUMNS[c]) for c in CLASSES})
    )
    current = spec.rule_in_force  # (model, class, day) → RuleInForce | None
    positions: dict[tuple[int, date], int] = defaultdict(int)
    for row in rows:
        for token_class in CLASSES:
            tokens = int(row[token_class] or 0)
            if not tokens:
                continue
            key = (row["model"], token_class)
            if key not in found:
                found[key] = current(row["model"], token_class, today)
            in_force = found[key]
            if in_force is not None and in_force.period[0] <= row["day"] <= in_force.period[1]:
                positions[in_force.counter] += tokens
    return positions


def price_token_forecast(agreement: Agreement, points: list[dict], *, today: date) -> list[dict] | None:
    """The cost (in the agreement's currency) of a token forecast's points, or None when the
    agreement has no recent usage to take the mix from."""
    agreement = Agreement.objects.prefetch_related("price_rules__tiers", "commitments").get(pk=agreement.pk)
    spec = AgreementSpec.from_model(agreement)
    mix = _mix(agreement, today)
    if not mix:
        return None
    start_positions = _positions(spec, agreement, today)
    counters = {bound: dict(start_positions) for bound in BOUNDS}
    fx = FxTable.load(today, today, reporting_currency=agreement.currency)
    latest_price = {}  # model → its newest list price (one query for the mix's models)
    for price in VendorModel.objects.filter(
        vendor_id=agreement.vendor_id, model__in={model for model, _ in mix}
    ).order_by("effective_from"):
        latest_price[price.model] = price
    list_prices: dict[tuple[str, str], int | None] = {}
    for model, token_class in mix:
        price = latest_price.get(model)
        value = getattr(price, PRICE_FIELDS[token_class], None) if price else None
        if value is not None and price.currency != agreement.currency:
            try:
                value = fx.quote(price.currency, agreement.currency, today).convert(Decimal(value))
            except FxUnavailable:
                value = None
        list_prices[(model, token_class)] = (
            price_to_micro(Decimal(value).quantize(Decimal("0.000001"))) if value is not None else None
        )
    priced = []
    for point in points:
        day = date.fromisoformat(point["date"])
        out = {"date": point["date"]}
        for bound in BOUNDS:
            total = point.get(bound)
            if total is None:
                out[bound] = None
                continue
            units = 0
            for (model, token_class), share in mix.items():
                tokens = int(Decimal(str(total)) * share)
                if not tokens:
                    continue
                in_force = spec.rule_in_force(model, token_class, day)
                if in_force is None:
                    micro = list_prices.get((model, token_class))
                    units += tokens * (micro or 0)
                    continue
                position = counters[bound].get(in_force.counter, 0)
                units += rate_tokens(in_force.rule.schedule, position, tokens).units
                counters[bound][in_force.counter] = position + tokens
            out[bound] = str(to_decimal(units).quantize(Decimal("0.000001")))
        priced.append(out)
    return priced


def _unit_costs(priced: list[dict], tokens: list[dict]) -> list[dict]:
    """Per day and bound: the agreement path's cost per token (0 where no tokens are forecast)."""
    units = []
    for cost_point, token_point in zip(priced, tokens, strict=True):
        day = {}
        for bound in BOUNDS:
            count = Decimal(str(token_point.get(bound) or 0))
            cost = Decimal(cost_point.get(bound) or 0)
            day[bound] = cost / count if count else None
        units.append(day)
    return units


def price_by_vendor_mix(
    *,
    mix: dict[int, tuple[int, Decimal]],
    token_points: list[dict],
    agreement_paths: dict[int, tuple[list[dict], Decimal]],
) -> list[dict]:
    """A subject's token forecast priced vendor by vendor: `mix` maps a vendor to its recent
    (tokens, reporting cost) in the subject; `agreement_paths` maps a vendor with an agreement in
    force to its per-day unit costs (from the agreement's priced forecast) and the FX rate into
    the reporting currency. A vendor without an agreement is priced at the subject's recent unit
    cost there (its list prices, as rated)."""
    total_tokens = sum(tokens for tokens, _ in mix.values())
    priced = []
    for index, point in enumerate(token_points):
        out = {"date": point["date"]}
        for bound in BOUNDS:
            if point.get(bound) is None:
                out[bound] = None
                continue
            forecast_tokens = Decimal(str(point[bound]))
            cost = Decimal(0)
            for vendor_id, (tokens, recent_cost) in mix.items():
                share = forecast_tokens * tokens / total_tokens
                path = agreement_paths.get(vendor_id)
                unit = None
                if path is not None:
                    unit = path[0][index][bound] if index < len(path[0]) else None
                    unit = None if unit is None else unit * path[1]
                if unit is None:
                    unit = recent_cost / tokens if tokens else Decimal(0)
                cost += share * unit
            out[bound] = str(cost.quantize(Decimal("0.000001")))
        priced.append(out)
    return priced
