"""Rate a range of stored usage records under their agreements and store what changed.

The arithmetic is contracts.rating's — integer micro-unit prices, costs in integer units of
10⁻¹², FX as an exact fraction rounded half up once — run as one pass over the range's records
in the order the tier counters run:

1. The records of the range come out of PostgreSQL sorted by (`bucket_start`, key): id, vendor,
   model, usage date and the four token counts.
2. For each (vendor, model, day) a *plan* says, per token class, which rule prices it and in
   which pricing period its counter runs (usage/pipeline/contract.py), and the list prices and
   FX rates of the day; it is compiled once into a function that rates one record. Each class
   with tokens is priced at its counter's position — flat at its price, graduated split at the
   tier boundaries it crosses, volume (provisionally) all at the tier reached at position +
   tokens — and the counter advances. A class without a rule is priced at the vendor's list
   price and the record flagged off-contract.
3. Costs: in the agreement's currency (list-priced parts converted into it when the list price
   is in another currency) and in the reporting currency, each part converted from its own
   currency once at the usage day's rate; a stale or missing rate leaves the reporting cost
   empty, flagged — never 1.0.
4. How a record was rated (per class the rule, tier and rate) is a *rating basis*
   (usage.models.RatingBasis), shared by every record rated alike and named by the hash of its
   content; the record stores the basis id. The basis keeps a record's counter position only
   where the record crosses a tier boundary (its parts need it): a late record then rewrites
   just the later records whose tier or cost moved, not every later record of the period.
5. The results stream into a temporary table with COPY while the next are computed: per record
   its costs (as `<units>e-12`, which numeric reads exactly), its basis, and the number of its
   *variant* — the columns the records of a plan share but for their rating, off-contract flag
   and FX status (agreement, currencies, FX rate and date), written once in rate_variant rather
   than parsed a million times. The rollups take the difference (new − old) between the new
   ratings' sums and what the range's rollup rows hold now (ROLLUP_DELTA: no join with the
   records), and only the records whose stored rating differs are written. All in the caller's
   transaction.

Writing the records is most of the time (1M records on 2 cores: read 2.2 s, rating and COPY
1.9 s, rollups 0.4 s, update 5–6 s), and it is kept cheap three ways. The row barely grows (an
8-byte basis id, not ~300 bytes of JSON), so the new version of a record priced at list fits the
free half of its page (usage/0004): the update is HOT, no index touched. The update takes
rate_out in id order — the order rows lie in the table — so each page is read and written once,
not once per record on it (rating order is time order, scattered over the table: 3× slower with
shared_buffers smaller than the range). And `_LOCAL_SETTINGS` below.

The loop is the reference `contracts.rating.rate_sequence` written for speed (~2.5 µs a record:
one dict lookup, flat and list-priced classes as one sum of products, a tiered class one
comparison with its counter's next boundary); tests hold the two equal, and graduated records
that cross a tier boundary are priced by `contracts.rating.rate_tokens` itself.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from hashlib import md5
from time import perf_counter

from django.db import connection

from contracts.rating import micro_to_price, rate_tokens
from core.fx import FxTable, FxUnavailable

from .contract import ContractTables
from .rate import list_price_rows

logger = logging.getLogger(__name__)

CLASSES = ("input", "cached_input", "cache_write", "output")
FLAT, GRADUATED, VOLUME = "flat", "graduated", "volume"
N = "\\N"  # NULL in COPY's text format
OK = ("same", "ok")
NEVER = 1 << 126  # the next boundary of a counter in its last tier

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
    "rating_basis_id",
)
OUT_DDL = """
DROP TABLE IF EXISTS rate_out, rate_variant, rate_old;
CREATE TEMP TABLE rate_out (
    id bigint, variant integer, department_id bigint, off_contract_reporting numeric(34, 12), cost numeric(34, 12),
    list_cost numeric(34, 12), cost_reporting numeric(34, 12), list_cost_reporting numeric(34, 12),
    rating_basis_id bigint
) ON COMMIT DROP;
CREATE TEMP TABLE rate_variant (
    vendor_id bigint, model text, usage_date date, agreement_id bigint, cost_currency text, reporting_currency text,
    fx_rate numeric, fx_date date, rating text, off_contract boolean, fx_status text, variant integer
) ON COMMIT DROP;
CREATE TEMP TABLE rate_old (
    usage_date date, department_id bigint, vendor_id bigint, model text, cost numeric, list_cost numeric,
    unpriced bigint, off_contract numeric, agreement numeric
) ON COMMIT DROP
"""
# a record's new rating: its rate_out row with its variant's columns; and the same in id order
# (rate_out sorted before the join, where its rows are narrower)
RATED = "(SELECT * FROM rate_out JOIN rate_variant USING (variant)) o"
RATED_BY_ID = "(SELECT * FROM (SELECT * FROM rate_out ORDER BY id) s JOIN rate_variant USING (variant)) o"
# Set for this transaction while rating, and restored after:
# - jit: the statements here are costed far above jit_above_cost, and compiling them took
#   longer than running them (2.5 s of compiling for a 1 s read of 1M records).
# - work_mem: the read sorts the range by (bucket_start, key), and the rollup and update join
#   rate_out by hash, in memory rather than in batches on disk.
# - parallel_tuple_cost: lets the read scan and sort in parallel workers (Gather Merge), which
#   the default cost of passing its wide rows between processes ruled out: 1.5 s instead of 2 s.
_LOCAL_SETTINGS = {"jit": "off", "work_mem": "256MB", "parallel_tuple_cost": "0.001"}
_BATCH = 20_000  # lines per COPY write


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


def basis_id(detail: str) -> int:
    """A rating basis's id: the first 8 bytes of the MD5 of its JSON text, as a signed bigint."""
    return int.from_bytes(md5(detail.encode(), usedforsecurity=False).digest()[:8], "big", signed=True)


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
    if n == d:
        return units
    return (2 * units * n + d) // (2 * d)


def _text(value) -> str:
    return N if value is None else str(value)


def _cost(units: int | None) -> str:
    """A cost in units of 10⁻¹² as COPY text: `<units>e-12` is read by numeric exactly."""
    return N if units is None else f"{units}e-12"


class TierCounter:
    """A tier counter (rule, pricing period) while a range is rated: the tokens counted so far and
    the tier that matters next — graduated: the tier of the next token; volume: the tier reached
    — with its price and the boundary that ends it, so a record that crosses no boundary costs
    one comparison."""

    __slots__ = ("boundary", "position", "price", "prices", "starts", "tier", "volume")

    def __init__(self, starts: tuple[int, ...], prices: tuple[int, ...], volume: bool, position: int) -> None:
        self.starts, self.prices, self.volume = starts, prices, volume
        self.seek(position)

    def seek(self, position: int) -> None:
        """Move to `position` (tokens counted) and find its tier (contracts.rating.Schedule:
        tier_reached for volume, tier_of_token of the next token for graduated)."""
        starts = self.starts
        tier = max(0, bisect_left(starts, position) - 1) if self.volume else bisect_right(starts, position) - 1
        self.position = position
        self.tier = tier
        self.price = self.prices[tier]
        self.boundary = starts[tier + 1] if tier + 1 < len(starts) else NEVER


@dataclass(frozen=True)
class ClassRule:
    """A token class's rule in one pricing period: what the loop needs, precomputed."""

    rule_id: int
    kind: str
    counter: TierCounter | None  # None for flat rules (no position)
    price: int  # a flat rule's price
    texts: tuple[str, ...]  # each tier's price as stored ("0.270000")
    schedule: object  # contracts.rating.Schedule, for boundary-crossing graduated records
    head: str  # the class's JSON detail up to its schedule

    def detail(self, tier: int) -> str:
        """The class's detail when its tokens are all at one tier."""
        provisional = ',"provisional":true' if self.kind == VOLUME else ""
        return f'{self.head},"tier":{tier},"rate":"{self.texts[tier]}"{provisional}}}'


def _class_rules(tables: ContractTables):
    cache: dict[tuple[int, date], ClassRule] = {}
    starting = {(rule_id, start): int(tokens) for rule_id, start, tokens in tables.bases}

    def rule_on(rule_id: int | None, period_start: date, token_class: str) -> ClassRule | None:
        if rule_id is None:
            return None
        key = (rule_id, period_start)
        found = cache.get(key)
        if found is None:
            rule = tables.rules[rule_id]
            tiers = rule.schedule.tiers
            kind = rule.schedule.kind
            prices = tuple(t.price_micro for t in tiers)
            counter = None
            if kind != FLAT:
                starts = tuple(t.from_tokens for t in tiers)
                counter = TierCounter(starts, prices, kind == VOLUME, starting.get(key, 0))
            found = cache[key] = ClassRule(
                rule_id=rule_id,
                kind=kind,
                counter=counter,
                price=prices[0],
                texts=tuple(str(micro_to_price(p)) for p in prices),
                schedule=rule.schedule,
                head=f'"{token_class}":{{"rule":{rule_id},"schedule":"{kind}"',
            )
        return found

    return rule_on


def _list_rater(variant, list_prices, fl):
    """A record without an agreement: at list price, as ingestion's persist step rates it.
    `variant(rating, off_contract, status)` numbers the plan's constant columns (_raters)."""
    status = fl[4] if fl else ""
    if list_prices is None:
        head = f"\t{variant('unpriced', True, status)}\t"
        line = f"\t{N}\t{N}\t{N}\t{N}\t{N}\t{N}\n"

        def rate_unpriced(record_id: int, department: int, t0: int, t1: int, t2: int, t3: int) -> str:
            return f"{record_id}{head}{department}{line}"

        return rate_unpriced

    l0, l1, l2, l3 = list_prices
    head = f"\t{variant('list', True, status)}\t"
    ok = status in OK

    def rate_list(record_id: int, department: int, t0: int, t1: int, t2: int, t3: int) -> str:
        units = t0 * l0 + t1 * l1 + t2 * l2 + t3 * l3
        reporting = _cost(convert(units, fl) if fl is not None else None)
        shown = reporting if ok else N
        return f"{record_id}{head}{department}\t{shown}\t{units}e-12\t{units}e-12\t{shown}\t{reporting}\t{N}\n"

    return rate_list


def _agreement_rater(agreement_id: int, rules, list_prices, fa, fl, fla, variant, bases: dict):
    """A function rating one record of a (vendor, model, day) under an agreement: its COPY line
    for rate_out (costs as integer units of 10⁻¹²). `variant(rating, off_contract, status)`
    numbers the plan's constant columns (_raters); `bases` collects the rating bases used.

    Flat and list-priced classes cost a fixed linear combination of the token counts; only the
    tiered classes (graduated, volume) go through their counters. What a record's basis and
    flags depend on — which classes have tokens (a 4-bit mask) and the tier of each tiered class
    — makes an integer key, so the basis is found by one dict lookup."""
    flat = [0, 0, 0, 0]  # per class: the flat rule's price, else 0
    off_price = [0, 0, 0, 0]  # per class without a rule: its list price, else 0
    ruled = off_mask = missing_mask = 0
    tiered = []  # (index, bit, counter, rule) of graduated and volume classes
    base = 2
    for index, rule in enumerate(rules):
        bit = 1 << index
        if rule is None:
            off_mask |= bit
            if list_prices is None:
                missing_mask |= bit
            else:
                off_price[index] = list_prices[index]
            continue
        ruled |= bit
        if rule.kind == FLAT:
            flat[index] = rule.price
        else:
            tiered.append((index, bit, rule.counter, rule))
            base = max(base, len(rule.texts) + 1)
    tiered = tuple(tiered)
    f0, f1, f2, f3 = flat
    o0, o1, o2, o3 = off_price
    l0, l1, l2, l3 = list_prices or (0, 0, 0, 0)
    has_list = list_prices is not None
    list_json = [f'"{CLASSES[i]}":{{"list_rate":"{micro_to_price(p)}"}}' for i, p in enumerate(list_prices or ())]

    def status_for(contract: bool, off: bool) -> str:
        status = "same"
        for conversion, needed in ((fa, contract), (fl, off), (fla, off)):
            if needed:
                if conversion is None or conversion[4] not in OK:
                    return conversion[4] if conversion else "missing"
                if conversion[4] == "ok":
                    status = "ok"
        return status

    # status, by (contract cost > 0) * 2 + (off-contract cost > 0)
    statuses = (status_for(False, False), status_for(False, True), status_for(True, False), status_for(True, True))
    fa_same = fa[0] is not None and fa[0] == fa[1]
    fl_same = fl is not None and fl[0] is not None and fl[0] == fl[1]
    fla_same = fla is not None and fla[0] is not None and fla[0] == fla[1]
    # the usual case, by (contract cost > 0) * 2 + (off-contract cost > 0): every conversion it
    # needs is the identity (one currency throughout) and the record has a list price — then
    # the costs are the sums themselves and the line is written at once
    quick = tuple(
        has_list and fl_same and statuses[i] in OK and (fa_same or i < 2) and (fla_same or not i % 2) for i in range(4)
    )
    quick_variants: list[str | None] = [None] * 64  # by mask × 4 + index, numbered when first used
    known: dict[int, str] = {}  # key → basis id (text)

    def basis(key: int, crossed: dict | None) -> str:
        """The id (text) of the basis for `key` (the class mask, then per tiered class its tier
        + 1, in `base` digits); a class that crossed a graduated boundary brings its own detail."""
        mask, key = key & 15, key >> 4
        tiers = {}
        for index, _, _, _ in reversed(tiered):
            key, tiers[index] = divmod(key, base)
        parts = [f'{{"agreement":{agreement_id}']
        for index, rule in enumerate(rules):
            if not mask & (1 << index):
                continue
            if crossed and index in crossed:
                parts.append(crossed[index])
            elif rule is not None:
                parts.append(rule.detail(tiers[index] - 1 if rule.kind != FLAT else 0))
            elif has_list:
                parts.append(list_json[index])
        detail = ",".join(parts) + "}"
        number = basis_id(detail)
        bases[number] = detail
        return str(number)

    def rate(record_id: int, department: int, t0: int, t1: int, t2: int, t3: int) -> str:
        mask = (t0 and 1) | (t1 and 2) | (t2 and 4) | (t3 and 8)
        contract = t0 * f0 + t1 * f1 + t2 * f2 + t3 * f3
        off = t0 * o0 + t1 * o1 + t2 * o2 + t3 * o3
        key = 0
        crossed = None
        if tiered:
            counts = (t0, t1, t2, t3)
            for index, bit, counter, rule in tiered:
                key *= base
                if not mask & bit:
                    continue
                count = counts[index]
                position = counter.position
                end = position + count
                if counter.volume:
                    if end > counter.boundary:
                        counter.seek(end)
                    else:
                        counter.position = end
                    contract += count * counter.price
                    key += counter.tier + 1
                elif end <= counter.boundary:  # graduated, all at the tier of the next token
                    contract += count * counter.price
                    key += counter.tier + 1
                    if end == counter.boundary:
                        counter.seek(end)
                    else:
                        counter.position = end
                else:  # graduated across a tier boundary: the engine's own split
                    charge = rate_tokens(rule.schedule, position, count)
                    contract += charge.units
                    texts = rule.texts
                    pieces = ",".join(f'[{p.tier_index},{p.tokens},"{texts[p.tier_index]}"]' for p in charge.parts)
                    crossed = crossed or {}
                    crossed[index] = (
                        f'{rule.head},"tier":{charge.tier_index},"position":{position},"parts":[{pieces}]}}'
                    )
                    counter.seek(end)
        key = (key << 4) | mask
        if crossed:
            basis_text = basis(key, crossed)
        else:
            basis_text = known.get(key)
            if basis_text is None:
                basis_text = known[key] = basis(key, None)

        index = (2 if contract else 0) + (1 if off else 0)
        if quick[index] and not mask & missing_mask:
            cost = contract + off
            list_units = t0 * l0 + t1 * l1 + t2 * l2 + t3 * l3
            number = quick_variants[mask << 2 | index]
            if number is None:
                rating = "contract" if mask & ruled else "list"
                number = quick_variants[mask << 2 | index] = variant(rating, mask & off_mask, statuses[index])
            return (
                f"{record_id}\t{number}\t{department}\t{off}e-12\t{cost}e-12\t{list_units}e-12\t{cost}e-12\t"
                f"{list_units}e-12\t"
                f"{basis_text}\n"
            )
        if mask & missing_mask:  # tokens without a rule or a list price
            cost = cost_reporting = off_reporting = None
            status = fa[4]
        else:
            status = statuses[index]
            if off:
                off_in_agreement = convert(off, fla)
                off_reporting = convert(off, fl)
            else:
                off_in_agreement = off_reporting = 0
            cost = None if off_in_agreement is None else contract + off_in_agreement
            if cost is None or (status != "same" and status != "ok"):
                cost_reporting = off_reporting = None
            elif not contract:
                cost_reporting = off_reporting
            else:
                cost_reporting = (contract if fa_same else convert(contract, fa)) + off_reporting
        if has_list:
            list_units = t0 * l0 + t1 * l1 + t2 * l2 + t3 * l3
            list_reporting = list_units if fl_same else convert(list_units, fl)
        else:
            list_units = list_reporting = None
        rating = "unpriced" if cost is None else ("contract" if mask & ruled else "list")
        return (
            f"{record_id}\t{variant(rating, mask & off_mask, status)}\t{department}\t{_cost(off_reporting)}\t"
            f"{_cost(cost)}\t"
            f"{_cost(list_units)}\t{_cost(cost_reporting)}\t{_cost(list_reporting)}\t{basis_text}\n"
        )

    return rate


def _raters(tables: ContractTables, prices: list[tuple], fx: Fx, reporting: str):
    """(raters, rater_for, bases, variants): (vendor, model, day) → a function rating one record
    of it, memoised; the rating bases the raters used (id → JSON text); and the *variants*, the
    columns a plan's records share but for their rating, flag and FX status (row → number):
    rate_out carries a variant's number, rate_variant its columns."""
    by_model: dict[tuple[int, str], list[tuple]] = {}
    for p in prices:
        by_model.setdefault((p[0], p[1]), []).append(p)
    contract = {(m[0], m[1], m[2]): m for m in tables.rate_map}
    rule_on = _class_rules(tables)
    raters: dict[tuple[int, str, date], object] = {}
    bases: dict[int, str] = {}
    variants: dict[tuple, int] = {}

    def variants_of(key: tuple[int, str, date], agreement_id, currency: str, main):
        """The variant numbering of a plan: (rating, off-contract, status) → number (text)."""
        plan = (*key, agreement_id, currency, reporting, main[2] if main else None, main[3] if main else None)

        def variant(rating: str, off_contract, status: str) -> str:
            row = (*plan, rating, bool(off_contract), status)
            number = variants.get(row)
            if number is None:
                number = variants[row] = len(variants)
            return str(number)

        return variant

    def rater_for(vendor_id: int, model: str, day: date):
        key = (vendor_id, model, day)
        price = next(
            (p for p in by_model.get((vendor_id, model), ()) if p[2] <= day and (p[3] is None or day <= p[3])),
            None,
        )
        list_currency = price[4] if price else None
        list_prices = tuple(price[5:9]) if price else None
        fl = fx.get(list_currency, reporting, day) if list_currency else None
        mapped = contract.get(key)
        if mapped is None:
            rater = _list_rater(variants_of(key, None, list_currency or "", fl), list_prices, fl)
        else:
            agreement_id, agreement_currency = mapped[3], mapped[4]
            rules = tuple(rule_on(rule_id, mapped[5], CLASSES[i]) for i, rule_id in enumerate(mapped[7:11]))
            fa = fx.get(agreement_currency, reporting, day)
            fla = fx.get(list_currency, agreement_currency, day) if list_currency else None
            variant = variants_of(key, agreement_id, agreement_currency or "", fa)
            rater = _agreement_rater(agreement_id, rules, list_prices, fa, fl, fla, variant, bases)
        raters[key] = rater
        return rater

    return raters, rater_for, bases, variants


# What the range's records add to their rollups, grouped as the rollups are: the columns rating
# sets. Summed over the new ratings (rate_out) and over the stored ones (rate_old, read from the
# rollups themselves: a rollup row holds exactly its records' sums plus the true-ups booked on
# it), the rollups take the difference, new − old — which is the change of just the records
# whose rating changed, those that did not adding as much before as after. The range is whole
# days of its vendors, so its rollup rows hold no other records.
ROLLUP_SUMS = """
    coalesce(sum({t}.cost_reporting), 0) AS cost, coalesce(sum({t}.list_cost_reporting), 0) AS list_cost,
    count(*) FILTER (WHERE {t}.cost_reporting IS NULL) AS unpriced,
    coalesce(sum({t}.off_contract_reporting), 0) AS off_contract,
    coalesce(sum({t}.cost) FILTER (WHERE {t}.agreement_id IS NOT NULL), 0) AS agreement
"""
OLD_SUMS = """
SELECT u.day, u.department_id, u.vendor_id, u.model, u.cost - u.true_up_cost, u.list_cost, u.unpriced_records,
    u.off_contract_cost, u.agreement_cost - coalesce(t.adjustment, 0)
FROM usage_daily_rollup u
LEFT JOIN (
    SELECT period_end, department_id, vendor_id, model, sum(adjustment) AS adjustment FROM usage_true_up
    WHERE vendor_id = ANY(%(vendors)s) AND period_end >= %(since)s AND period_end <= %(until)s
    GROUP BY period_end, department_id, vendor_id, model
) t ON t.period_end = u.day AND t.department_id = u.department_id AND t.vendor_id = u.vendor_id AND t.model = u.model
WHERE u.vendor_id = ANY(%(vendors)s) AND u.day >= %(since)s AND u.day <= %(until)s
"""
ROLLUP_DELTA = f"""
WITH fresh AS (
    SELECT o.usage_date, o.department_id, o.vendor_id, o.model, {ROLLUP_SUMS.format(t="o")}
    FROM {{rated}} GROUP BY o.usage_date, o.department_id, o.vendor_id, o.model
), delta AS (
    SELECT usage_date, department_id, vendor_id, model,
        coalesce(n.cost, 0) - coalesce(p.cost, 0) AS cost,
        coalesce(n.list_cost, 0) - coalesce(p.list_cost, 0) AS list_cost,
        coalesce(n.unpriced, 0) - coalesce(p.unpriced, 0) AS unpriced,
        coalesce(n.off_contract, 0) - coalesce(p.off_contract, 0) AS off_contract,
        coalesce(n.agreement, 0) - coalesce(p.agreement, 0) AS agreement
    FROM fresh n FULL JOIN rate_old p USING (usage_date, department_id, vendor_id, model)
)
INSERT INTO usage_daily_rollup AS u (day, department_id, vendor_id, model, records, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, requests, failed_requests, cost, list_cost, unpriced_records,
    off_contract_cost, agreement_cost)
SELECT usage_date, department_id, vendor_id, model, 0, 0, 0, 0, 0, 0, 0, cost, list_cost, unpriced, off_contract,
    agreement
FROM delta WHERE (cost, list_cost, unpriced, off_contract, agreement) <> (0, 0, 0, 0, 0)
ORDER BY usage_date, department_id, vendor_id, model
ON CONFLICT (day, department_id, vendor_id, model) DO UPDATE SET
    cost = u.cost + excluded.cost, list_cost = u.list_cost + excluded.list_cost,
    unpriced_records = u.unpriced_records + excluded.unpriced_records,
    off_contract_cost = u.off_contract_cost + excluded.off_contract_cost,
    agreement_cost = u.agreement_cost + excluded.agreement_cost
"""

# new bases go in; of those already there (the join sees the table as it was before the
# statement), any whose content differs is an id clash
BASES_SAVE = """
WITH new (id, detail) AS (SELECT * FROM unnest(%s::bigint[], %s::jsonb[])),
saved AS (
    INSERT INTO usage_rating_basis (id, detail) SELECT id, detail FROM new ORDER BY id ON CONFLICT (id) DO NOTHING
)
SELECT n.id FROM new n JOIN usage_rating_basis b ON b.id = n.id WHERE b.detail <> n.detail
"""


def _read(cursor, range_params: list) -> list[tuple]:
    """The range's records (vendors, first and last instant) in the order tier counters run:
    (`bucket_start`, key)."""
    cursor.execute(
        "SELECT id, vendor_id, model, usage_date, department_id, input_tokens, cached_input_tokens, "
        "cache_write_tokens, output_tokens FROM usage_record "
        "WHERE vendor_id = ANY(%s) AND bucket_start >= %s AND bucket_start < %s ORDER BY bucket_start, key",
        range_params,
    )
    return cursor.fetchall()


def set_local(cursor, settings: dict[str, str]) -> dict[str, str]:
    """Set `settings` for the rest of the transaction; returns the values they replace."""
    names = list(settings)
    cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
    before = dict(zip(names, cursor.fetchone(), strict=True))
    for name, value in settings.items():
        cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    return before


def _save_bases(cursor, bases: dict[int, str]) -> None:
    """Store the rating bases the records will point to (new ones; known ids are left alone),
    refusing an id that another content already has."""
    if not bases:
        return
    ids = sorted(bases)
    cursor.execute(BASES_SAVE, [ids, [bases[i] for i in ids]])
    clashes = [row[0] for row in cursor.fetchall()]
    if clashes:
        raise RuntimeError(f"rating basis id {clashes[0]} already names another content (an MD5 prefix collision)")


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
        raters, rater_for, bases, variants = _raters(tables, prices, fx, reporting_currency)
        restore = set_local(cursor, _LOCAL_SETTINGS)

        _t = _clock()
        range_params = [vendor_ids, midnight(since), midnight(until + timedelta(days=1))]
        records = _read(cursor, range_params)
        count = len(records)
        _t("read")
        # what the records add to their rollups now, read right after them (see ROLLUP_DELTA)
        cursor.execute(OLD_SUMS, {"vendors": vendor_ids, "since": since, "until": until})
        old_sums = cursor.fetchall()
        _t("rollup sums")
        # lines go to PostgreSQL while the next are computed: the server parses them meanwhile
        cursor.execute(OUT_DDL)
        with cursor.copy("COPY rate_out FROM STDIN") as copy:
            get = raters.get
            lines: list[str] = []
            for record_id, vendor_id, model, day, department, t0, t1, t2, t3 in records:
                rate = get((vendor_id, model, day)) or rater_for(vendor_id, model, day)
                lines.append(rate(record_id, department, t0, t1, t2, t3))
                if len(lines) == _BATCH:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        del records
        with cursor.copy("COPY rate_variant FROM STDIN") as copy:
            for row, number in variants.items():
                copy.write_row((*row, number))
        with cursor.copy("COPY rate_old FROM STDIN") as copy:
            for row in old_sums:
                copy.write_row(row)
        cursor.execute("ANALYZE rate_variant, rate_old")  # small: joined by hash, not looped over
        _save_bases(cursor, bases)
        _t("compute+copy")

        cursor.execute(ROLLUP_DELTA.format(rated=RATED))
        _t("rollups")
        # the records whose rating changed take it, in id order (see the module docstring)
        stored = ", ".join(f"r.{c}" for c in STORED)
        fresh = ", ".join(f"o.{c}" for c in STORED)
        assignments = ", ".join(f"{c} = o.{c}" for c in STORED)
        cursor.execute(
            f"UPDATE usage_record r SET {assignments} FROM {RATED_BY_ID} "
            f"WHERE r.id = o.id AND ({stored}) IS DISTINCT FROM ({fresh})"
        )
        changed = cursor.rowcount
        _t("update")
        cursor.execute("DROP TABLE rate_out, rate_variant, rate_old")
        set_local(cursor, restore)
    return RateResult(records=count, changed=changed)
