"""Rate a range of stored usage records under their agreements and store what changed.

The arithmetic is contracts.rating's — integer micro-unit prices, costs in integer units of
10⁻¹², FX as an exact fraction rounded half up once — run as one pass over the range's records
in the order the tier counters run:

1. The records of the range stream out of PostgreSQL sorted by (`bucket_start`, key) with one
   binary COPY (vendor, model, usage date and the four token counts).
2. For each (vendor, model, day) a *plan* says, per token class, which rule prices it and in
   which pricing period its counter runs (usage/pipeline/contract.py), and the list prices and
   FX rates of the day. Each class with tokens is priced at its counter's position — flat at its
   price, graduated split at the tier boundaries it crosses, volume (provisionally) all at the
   tier reached at position + tokens — and the counter advances. A class without a rule is
   priced at the vendor's list price and the record flagged off-contract.
3. Costs: in the agreement's currency (list-priced parts converted into it when the list price
   is in another currency) and in the reporting currency, each part converted from its own
   currency once at the usage day's rate; a stale or missing rate leaves the reporting cost
   empty, flagged — never 1.0.
4. The results COPY into a temporary table; only records whose stored rating differs are
   written, and the rollups take the difference (new − old) — all in the caller's transaction.
   The detail keeps a record's counter position only where the record crosses a tier boundary
   (its parts need it): a late record then rewrites just the later records whose tier or cost
   moved, not every later record of the period.

The loop is the reference `contracts.rating.rate_sequence` written for speed (one dict lookup
and a few integer operations per class); tests hold the two equal, and graduated records that
cross a tier boundary are priced by `contracts.rating.rate_tokens` itself.

rating_detail on a record, e.g.
    {"agreement": 7,
     "input": {"rule": 12, "schedule": "graduated", "tier": 1, "position": 99999000000,
               "parts": [[0, 1000000, "0.270000"], [1, 2000000, "0.200000"]]},
     "output": {"rule": 13, "schedule": "volume", "tier": 0, "rate": "0.300000", "provisional": true},
     "cache_write": {"list_rate": "3.750000"}}
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from time import perf_counter

from django.db import connection

from contracts.rating import micro_to_price, rate_tokens
from core.fx import FxTable, FxUnavailable

from .contract import ContractTables
from .rate import list_price_rows

logger = logging.getLogger(__name__)

CLASSES = ("input", "cached_input", "cache_write", "output")
FLAT, GRADUATED, VOLUME = "flat", "graduated", "volume"
UNIT = "0.000000000001"

STORED = (
    "rating",
    "agreement_id",
    "off_contract",
    "off_contract_reporting",
    "cost",
    "list_cost",
    "cost_currency",
    "cost_reporting",
    "list_cost_reporting",
    "reporting_currency",
    "fx_rate",
    "fx_date",
    "fx_status",
    "rating_detail",
)
UNITS = {"off_contract_reporting", "cost", "list_cost", "cost_reporting", "list_cost_reporting"}
OUT_DDL = """
DROP TABLE IF EXISTS rate_out;
CREATE TEMP TABLE rate_out (
    id bigint, rating text, agreement_id bigint, off_contract boolean, off_contract_reporting numeric,
    cost numeric, list_cost numeric, cost_currency text, cost_reporting numeric, list_cost_reporting numeric,
    reporting_currency text, fx_rate numeric, fx_date date, fx_status text, rating_detail jsonb
) ON COMMIT DROP
"""


@dataclass
class RateResult:
    records: int  # rated (read) in the range
    changed: int  # whose stored rating changed


def _clock():
    """A stopwatch whose laps go to the debug log (benchmarks/rate.py shows them with -v)."""
    state = {"t": perf_counter()}

    def lap(label: str) -> None:
        now = perf_counter()
        logger.debug("rating: %s %.2f s", label, now - state["t"])
        state["t"] = now

    return lap


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class Fx:
    """Conversions of one day: (currency, currency) → (numerator, denominator, rate, rate date,
    status), or (None, None, None, latest, 'missing'/'stale')."""

    def __init__(self, table: FxTable) -> None:
        self.table = table
        self.cache: dict[tuple[str, str, date], tuple] = {}

    def get(self, base: str, quote: str, day: date) -> tuple:
        key = (base, quote, day)
        found = self.cache.get(key)
        if found is None:
            try:
                q = self.table.quote(base, quote, day)
            except FxUnavailable as exc:
                found = (None, None, None, exc.latest, exc.reason)
            else:
                rate = Fraction(q.multiplier) / Fraction(q.divisor)
                status = "same" if q.method == "identity" else "ok"
                found = (rate.numerator, rate.denominator, q.rate, q.rate_date, status)
            self.cache[key] = found
        return found


def convert(units: int, fx: tuple) -> int | None:
    """units × n ÷ d, rounded half up once (units ≥ 0); None without a usable rate."""
    n, d = fx[0], fx[1]
    if n is None:
        return None
    return (2 * units * n + d) // (2 * d)


N = "\\N"  # NULL in COPY's text format


def _text(value) -> str:
    return N if value is None else str(value)


@dataclass(frozen=True)
class ClassRule:
    """A token class's rule in one pricing period: what the loop needs, precomputed."""

    rule_id: int
    counter: tuple[int, date]
    kind: str
    starts: tuple[int, ...]
    prices: tuple[int, ...]
    texts: tuple[str, ...]
    schedule: object  # contracts.rating.Schedule, for boundary-crossing graduated records
    head: str  # the class's JSON detail up to its schedule
    flat_json: str  # the whole detail of a flat rule (it never varies)


@dataclass(frozen=True)
class Plan:
    """How one (vendor, model, day)'s records are rated, with the constant parts of their rows."""

    agreement_id: int | None
    rules: tuple[ClassRule | None, ...]
    list_prices: tuple[int, ...] | None
    list_json: tuple[str, ...]  # an off-contract class's detail under an agreement
    fa: tuple | None  # agreement currency → reporting
    fl: tuple | None  # list currency → reporting
    fla: tuple | None  # list currency → agreement currency
    agreement_text: str
    currency_text: str  # cost_currency
    fx_text: str  # reporting currency, fx_rate, fx_date


def _class_rules(tables: ContractTables):
    cache: dict[tuple[int, date], ClassRule] = {}

    def rule_on(rule_id: int | None, period_start: date, token_class: str) -> ClassRule | None:
        if rule_id is None:
            return None
        key = (rule_id, period_start)
        found = cache.get(key)
        if found is None:
            rule = tables.rules[rule_id]
            tiers = rule.schedule.tiers
            texts = tuple(str(micro_to_price(t.price_micro)) for t in tiers)
            kind = rule.schedule.kind
            head = f'"{token_class}":{{"rule":{rule_id},"schedule":"{kind}"'
            found = cache[key] = ClassRule(
                rule_id=rule_id,
                counter=key,
                kind=kind,
                starts=tuple(t.from_tokens for t in tiers),
                prices=tuple(t.price_micro for t in tiers),
                texts=texts,
                schedule=rule.schedule,
                head=head,
                flat_json=f'{head},"tier":0,"rate":"{texts[0]}"}}',
            )
        return found

    return rule_on


def _plans(tables: ContractTables, prices: list[tuple], fx: Fx, reporting: str):
    """A function (vendor, model, day) → Plan, memoised."""
    by_model: dict[tuple[int, str], list[tuple]] = {}
    for p in prices:
        by_model.setdefault((p[0], p[1]), []).append(p)
    contract = {(m[0], m[1], m[2]): m for m in tables.rate_map}
    rule_on = _class_rules(tables)
    plans: dict[tuple[int, str, date], Plan] = {}

    def plan_for(vendor_id: int, model: str, day: date) -> Plan:
        key = (vendor_id, model, day)
        price = next(
            (p for p in by_model.get((vendor_id, model), ()) if p[2] <= day and (p[3] is None or day <= p[3])),
            None,
        )
        list_currency = price[4] if price else None
        list_prices = tuple(price[5:9]) if price else None
        mapped = contract.get(key)
        if mapped is None:
            agreement_id = agreement_currency = None
            rules: tuple = (None, None, None, None)
        else:
            agreement_id, agreement_currency = mapped[3], mapped[4]
            rules = tuple(rule_on(rule_id, mapped[5], CLASSES[i]) for i, rule_id in enumerate(mapped[7:11]))
        fa = fx.get(agreement_currency, reporting, day) if agreement_currency else None
        fl = fx.get(list_currency, reporting, day) if list_currency else None
        main = fa if agreement_id is not None else fl
        plan = plans[key] = Plan(
            agreement_id=agreement_id,
            rules=rules,
            list_prices=list_prices,
            list_json=tuple(
                f'"{CLASSES[i]}":{{"list_rate":"{micro_to_price(p)}"}}' for i, p in enumerate(list_prices or ())
            ),
            fa=fa,
            fl=fl,
            fla=fx.get(list_currency, agreement_currency, day) if list_currency and agreement_currency else None,
            agreement_text=_text(agreement_id),
            currency_text=(agreement_currency if agreement_id is not None else list_currency) or "",
            fx_text="\t".join((reporting, _text(main[2] if main else None), _text(main[3] if main else None))),
        )
        return plan

    return plans, plan_for


def _graduated(rule: ClassRule, position: int, tokens: int) -> tuple[int, str]:
    end = position + tokens
    first = bisect_right(rule.starts, position) - 1
    last = max(bisect_left(rule.starts, end) - 1, 0)
    if first == last:  # no boundary crossed
        return tokens * rule.prices[first], f'{rule.head},"tier":{first},"rate":"{rule.texts[first]}"}}'
    charge = rate_tokens(rule.schedule, position, tokens)
    parts = ",".join(f'[{p.tier_index},{p.tokens},"{rule.texts[p.tier_index]}"]' for p in charge.parts)
    return charge.units, f'{rule.head},"tier":{charge.tier_index},"position":{position},"parts":[{parts}]}}'


def _volume(rule: ClassRule, position: int, tokens: int) -> tuple[int, str]:
    tier = max(bisect_left(rule.starts, position + tokens) - 1, 0)
    detail = f'{rule.head},"tier":{tier},"rate":"{rule.texts[tier]}","provisional":true}}'
    return tokens * rule.prices[tier], detail


OK = ("same", "ok")


def rate_line(record_id: int, plan: Plan, tokens: tuple, counters: dict) -> str:
    """One record's row of rate_out in COPY text format (costs as integer units of 10⁻¹²)."""
    list_prices = plan.list_prices
    list_units = None
    if list_prices is not None:
        list_units = (
            tokens[0] * list_prices[0]
            + tokens[1] * list_prices[1]
            + tokens[2] * list_prices[2]
            + tokens[3] * list_prices[3]
        )
    fl = plan.fl
    list_reporting = convert(list_units, fl) if list_units is not None and fl is not None else None
    if plan.agreement_id is None:  # list price: as ingestion's persist step rates it
        status = fl[4] if fl else ""
        ok = list_units is not None and status in OK
        cost_reporting = list_reporting if ok else None
        return (
            f"{record_id}\t{'unpriced' if list_units is None else 'list'}\t{N}\tt\t{_text(cost_reporting)}\t"
            f"{_text(list_units)}\t{_text(list_units)}\t{plan.currency_text}\t{_text(cost_reporting)}\t"
            f"{_text(list_reporting)}\t{plan.fx_text}\t{status}\t{N}\n"
        )

    details = [f'"agreement":{plan.agreement_id}']
    contract_units = off_units = 0
    off_missing = has_off = rule_used = False
    rules = plan.rules
    for index in range(4):
        count = tokens[index]
        if not count:
            continue
        rule = rules[index]
        if rule is None:
            has_off = True
            if list_prices is None:
                off_missing = True
            else:
                off_units += count * list_prices[index]
                details.append(plan.list_json[index])
            continue
        rule_used = True
        kind = rule.kind
        if kind == FLAT:
            contract_units += count * rule.prices[0]
            details.append(rule.flat_json)
            continue
        counter = rule.counter
        position = counters.get(counter, 0)
        counters[counter] = position + count
        units, detail = (_volume if kind == VOLUME else _graduated)(rule, position, count)
        contract_units += units
        details.append(detail)

    fa = plan.fa
    if off_missing:
        cost = cost_reporting = off_reporting = None
        status = fa[4]
    else:
        status = "same"
        for conversion, needed in ((fa, contract_units), (fl, off_units), (plan.fla, off_units)):
            if needed:
                if conversion[4] not in OK:
                    status = conversion[4]
                    break
                if conversion[4] == "ok":
                    status = "ok"
        if off_units:
            off_in_agreement = convert(off_units, plan.fla)
            off_reporting = convert(off_units, fl)
        else:
            off_in_agreement = off_reporting = 0
        cost = None if off_in_agreement is None else contract_units + off_in_agreement
        if cost is None or status not in OK:
            cost_reporting = off_reporting = None
        else:
            cost_reporting = (convert(contract_units, fa) if contract_units else 0) + off_reporting
    rating = "unpriced" if cost is None else ("contract" if rule_used else "list")
    return (
        f"{record_id}\t{rating}\t{plan.agreement_text}\t{'t' if has_off else 'f'}\t{_text(off_reporting)}\t"
        f"{_text(cost)}\t{_text(list_units)}\t{plan.currency_text}\t{_text(cost_reporting)}\t"
        f"{_text(list_reporting)}\t{plan.fx_text}\t{status}\t{{{','.join(details)}}}\n"
    )


# What re-rating changes in the rollups (new − old, in one pass; the rows exist: records are there)
ROLLUP_DELTA = """
INSERT INTO usage_daily_rollup AS u (day, department_id, vendor_id, model, records, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, requests, failed_requests, cost, list_cost, unpriced_records,
    off_contract_cost, agreement_cost)
SELECT r.usage_date, r.department_id, r.vendor_id, r.model, 0, 0, 0, 0, 0, 0, 0,
    coalesce(sum(o.cost_reporting), 0) * {unit} - coalesce(sum(r.cost_reporting), 0),
    coalesce(sum(o.list_cost_reporting), 0) * {unit} - coalesce(sum(r.list_cost_reporting), 0),
    count(*) FILTER (WHERE o.cost_reporting IS NULL) - count(*) FILTER (WHERE r.cost_reporting IS NULL),
    coalesce(sum(o.off_contract_reporting), 0) * {unit} - coalesce(sum(r.off_contract_reporting), 0),
    coalesce(sum(o.cost) FILTER (WHERE o.agreement_id IS NOT NULL), 0) * {unit}
        - coalesce(sum(r.cost) FILTER (WHERE r.agreement_id IS NOT NULL), 0)
FROM rate_out o JOIN usage_record r ON {differs}
GROUP BY r.usage_date, r.department_id, r.vendor_id, r.model
ORDER BY r.usage_date, r.department_id, r.vendor_id, r.model
ON CONFLICT (day, department_id, vendor_id, model) DO UPDATE SET
    cost = u.cost + excluded.cost, list_cost = u.list_cost + excluded.list_cost,
    unpriced_records = u.unpriced_records + excluded.unpriced_records,
    off_contract_cost = u.off_contract_cost + excluded.off_contract_cost,
    agreement_cost = u.agreement_cost + excluded.agreement_cost
""".replace("{unit}", UNIT)


def _value(column: str) -> str:
    """rate_out's column as the stored value: units of 10⁻¹² to decimals."""
    return f"o.{column} * {UNIT}" if column in UNITS else f"o.{column}"


def _read(cursor, vendor_ids: list[int], since: date, until: date) -> list[tuple]:
    """The range's records in the order tier counters run: (`bucket_start`, key)."""
    cursor.execute(
        "SELECT id, vendor_id, model, usage_date, input_tokens, cached_input_tokens, cache_write_tokens, "
        "output_tokens FROM usage_record WHERE vendor_id = ANY(%s) AND bucket_start >= %s AND bucket_start < %s "
        "ORDER BY bucket_start, key",
        [vendor_ids, midnight(since), midnight(until + timedelta(days=1))],
    )
    return cursor.fetchall()


def rate_records(
    *, vendor_ids: list[int], since: date, until: date, tables: ContractTables, reporting_currency: str
) -> RateResult:
    """Rate the vendors' records with usage dates in [since, until] and store what changed.
    Call inside a transaction holding the vendors' rating locks (usage/pipeline/rating.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT vendor_id, model FROM usage_daily_rollup "
            "WHERE vendor_id = ANY(%s) AND day >= %s AND day <= %s",
            [vendor_ids, since, until],
        )
        prices = list_price_rows(set(cursor.fetchall()))
        fx = Fx(FxTable.load(since, until, reporting_currency=reporting_currency))
        plans, plan_for = _plans(tables, prices, fx, reporting_currency)
        counters = {(rule_id, start): int(tokens) for rule_id, start, tokens in tables.bases}

        _t = _clock()
        records = _read(cursor, vendor_ids, since, until)
        _t("read")
        cursor.execute(OUT_DDL)
        with cursor.copy("COPY rate_out FROM STDIN") as copy:
            lines: list[str] = []
            for record_id, vendor_id, model, day, t0, t1, t2, t3 in records:
                plan = plans.get((vendor_id, model, day)) or plan_for(vendor_id, model, day)
                lines.append(rate_line(record_id, plan, (t0, t1, t2, t3), counters))
                if len(lines) == 20_000:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        count = len(records)
        del records
        _t("compute+copy")

        # the rollups take the difference (new − old) of the records whose rating changed, then
        # those records take their new rating: two passes over the range, nothing else written
        stored = ", ".join(f"r.{c}" for c in STORED)
        fresh = ", ".join(_value(c) for c in STORED)
        differs = f"r.id = o.id AND ({stored}) IS DISTINCT FROM ({fresh})"
        cursor.execute(ROLLUP_DELTA.format(differs=differs))
        _t("rollups")
        assignments = ", ".join(f"{c} = {_value(c)}" for c in STORED)
        cursor.execute(f"UPDATE usage_record r SET {assignments} FROM rate_out o WHERE {differs}")
        changed = cursor.rowcount
        _t("update")
        cursor.execute("DROP TABLE rate_out")
    return RateResult(records=count, changed=changed)
