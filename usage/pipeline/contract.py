"""What contract rating needs for a vendor's date range, gathered in Python from few queries.

The rating engine (contracts.rating) decides *which* rule prices a record's class and in which
pricing period its tier counter runs; those decisions depend only on (vendor, model, usage date,
token class), and a range holds few distinct (model, day) pairs, so they are made here once per
pair. The tier arithmetic over the records — positions in (`bucket_start`, key) order, tiers,
costs — then runs set-based in SQL (usage/pipeline/rerate.py).

* `RateMap`   (vendor, model, day) → agreement, currency, pricing period start, rule per class.
* `tiers`     every rule's tiers as integer micro-unit prices and [lo, hi) token bounds.
* `bases`     each tiered counter's tokens counted before the range starts, from the daily
              rollups of the earlier days of its period (whole days: ranges start at midnight).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db import connection
from django.db.models import Prefetch

from contracts.models import Agreement, PriceRule
from contracts.patterns import matches, specificity
from contracts.rating import TOKEN_CLASSES, AgreementSpec, RuleSpec, pricing_period

# Agreements that price usage of their term: active ones, and expired ones for their past term.
# Drafts are not in force yet; a terminated agreement no longer prices anything (see the README).
IN_FORCE = (Agreement.Status.ACTIVE, Agreement.Status.EXPIRED)


@dataclass
class VendorAgreements:
    """A vendor's agreements in force, and the decisions made for it, cached per range."""

    specs: list[tuple[AgreementSpec, str, str]]  # (spec, currency, status) by precedence
    _candidates: dict = field(default_factory=dict)
    _periods: dict = field(default_factory=dict)

    def agreement_on(self, day: date) -> tuple[AgreementSpec, str] | None:
        """The agreement in force on `day`: at most one is active per vendor and date (a database
        trigger); an active one wins over an expired one whose term overlaps it, and among
        equals the latest start."""
        for spec, currency, _ in self.specs:
            if spec.start <= day <= spec.end:
                return spec, currency
        return None

    def rule(self, spec: AgreementSpec, model: str, token_class: str, day: date) -> RuleSpec | None:
        """contracts.rating.select_rule, with the pattern matching done once per (model, class)."""
        key = (spec.id, model, token_class)
        candidates = self._candidates.get(key)
        if candidates is None:
            found = [r for r in spec.rules if r.token_class == token_class and matches(r.model_pattern, model)]
            found.sort(key=lambda r: (-specificity(r.model_pattern)[0], -specificity(r.model_pattern)[1], r.id))
            candidates = self._candidates[key] = found
        for rule in candidates:
            if rule.in_force(day):
                return rule
        return None

    def period_start(self, spec: AgreementSpec, day: date) -> tuple[date, date]:
        key = (spec.id, day)
        period = self._periods.get(key)
        if period is None:
            period = self._periods[key] = pricing_period(
                day, agreement_start=spec.start, agreement_end=spec.end, commitment_period=spec.commitment_period
            )
        return period


def vendor_agreements(vendor_ids, start: date | None = None, end: date | None = None) -> dict[int, VendorAgreements]:
    """The agreements in force of these vendors whose term meets [start, end] (None: open)."""
    agreements = Agreement.objects.filter(vendor_id__in=list(vendor_ids), status__in=IN_FORCE)
    if start is not None:
        agreements = agreements.filter(end__gte=start)
    if end is not None:
        agreements = agreements.filter(start__lte=end)
    agreements = agreements.prefetch_related(
        Prefetch("price_rules", queryset=PriceRule.objects.prefetch_related("tiers")), "commitments"
    )
    found: dict[int, list] = defaultdict(list)
    for agreement in agreements:
        found[agreement.vendor_id].append(
            (AgreementSpec.from_model(agreement), agreement.currency, agreement.status, agreement.start)
        )
    result = {}
    for vendor_id, items in found.items():
        items.sort(key=lambda i: (i[2] != Agreement.Status.ACTIVE, -i[3].toordinal(), i[0].id))
        result[vendor_id] = VendorAgreements([(spec, currency, status) for spec, currency, status, _ in items])
    return result


@dataclass
class ContractTables:
    """The small tables the SQL step joins (usage/pipeline/rerate.py copies them to temp tables)."""

    # (vendor_id, model, day, agreement_id, currency, period_start, period_end, rule per class ×4)
    rate_map: list[tuple] = field(default_factory=list)
    # (rule_id, kind, tier index, lo, hi or None, price_micro)
    tiers: list[tuple] = field(default_factory=list)
    # (rule_id, period_start, tokens counted before the range)
    bases: list[tuple] = field(default_factory=list)
    # rule_id → (agreement_id, kind, period basis) for true-ups
    rules: dict[int, RuleSpec] = field(default_factory=dict)
    currencies: set[str] = field(default_factory=set)
    # (vendor_id, agreement_id, rule_id, period_start, period_end) of the volume counters touched
    volume_counters: set[tuple] = field(default_factory=set)
    tiered_period_ends: dict[int, date] = field(default_factory=dict)  # vendor → last tiered period end


def _pairs(vendor_ids, since: date, until: date) -> list[tuple[int, str, date]]:
    """The (vendor, model, day) pairs with usage in the range, from the daily rollups."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT vendor_id, model, day FROM usage_daily_rollup "
            "WHERE vendor_id = ANY(%s) AND day >= %s AND day <= %s AND records > 0",
            [list(vendor_ids), since, until],
        )
        return cursor.fetchall()


def _base_tokens(vendor_id: int, first: date, before: date) -> list[tuple[str, date, list[int]]]:
    """(model, day, tokens per class) of a vendor's days [first, before), from the rollups."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT model, day, sum(input_tokens), sum(cached_input_tokens), sum(cache_write_tokens), "
            "sum(output_tokens) FROM usage_daily_rollup WHERE vendor_id = %s AND day >= %s AND day < %s "
            "GROUP BY model, day",
            [vendor_id, first, before],
        )
        return [(model, day, [int(v) for v in counts]) for model, day, *counts in cursor.fetchall()]


def contract_tables(vendors: dict[int, VendorAgreements], since: date, until: date) -> ContractTables:
    """Decide rule and period for every (vendor, model, day) with usage in [since, until]."""
    tables = ContractTables()
    for vendor_id, model, day in _pairs(vendors, since, until):
        found = vendors[vendor_id].agreement_on(day)
        if found is None:
            continue
        spec, currency = found
        agreements = vendors[vendor_id]
        period = agreements.period_start(spec, day)
        rules = [agreements.rule(spec, model, cls, day) for cls in TOKEN_CLASSES]
        tables.rate_map.append(
            (vendor_id, model, day, spec.id, currency, period[0], period[1], *(r.id if r else None for r in rules))
        )
        tables.currencies.add(currency)
        for rule in rules:
            if rule is None:
                continue
            tables.rules[rule.id] = rule
            if rule.schedule.kind != "flat":
                ends = tables.tiered_period_ends
                ends[vendor_id] = max(ends.get(vendor_id, period[1]), period[1])
            if rule.schedule.kind == "volume":
                tables.volume_counters.add((vendor_id, spec.id, rule.id, period[0], period[1]))
    for rule in tables.rules.values():
        tiers = rule.schedule.tiers
        for index, tier in enumerate(tiers):
            upper = tiers[index + 1].from_tokens if index + 1 < len(tiers) else None
            tables.tiers.append((rule.id, rule.schedule.kind, index, tier.from_tokens, upper, tier.price_micro))
    tables.bases = _bases(vendors, since)
    return tables


def _bases(vendors: dict[int, VendorAgreements], since: date) -> list[tuple]:
    """Tokens each tiered counter has counted before `since` in the pricing period holding it."""
    bases: dict[tuple[int, date], int] = defaultdict(int)
    for vendor_id, agreements in vendors.items():
        found = agreements.agreement_on(since)
        if found is None:
            continue
        spec, _ = found
        period = agreements.period_start(spec, since)
        if period[0] >= since or not any(r.schedule.kind != "flat" for r in spec.rules):
            continue
        for model, day, counts in _base_tokens(vendor_id, period[0], since):
            for token_class, tokens in zip(TOKEN_CLASSES, counts, strict=True):
                rule = agreements.rule(spec, model, token_class, day) if tokens else None
                if rule is not None and rule.schedule.kind != "flat":
                    bases[(rule.id, period[0])] += tokens
    return [(rule_id, start, tokens) for (rule_id, start), tokens in bases.items()]


def day_after(day: date) -> date:
    return day + timedelta(days=1)
