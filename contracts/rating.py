"""The rating engine: pure functions that price token counts under an agreement's price rules.

Nothing here touches the database. The usage app gathers records and rules, calls these functions
(or runs the same arithmetic set-based in SQL and checks itself against `rate_sequence`), and stores
the rule, tier, rate and cost on each record. DESIGN.md, "Money", "Time", "Token classes" and
"Framework agreements", is the specification; each rule below names the sentence it implements.

Arithmetic: integers only, no floats
------------------------------------
A price is per 1 000 000 tokens with up to 6 decimals, so it is held as an integer count of
micro-units (price × 10⁶): 0.27 → 270 000, 0.000001 → 1. Then

    cost in units of 10⁻¹² = tokens × price_micro

exactly (tokens × price ÷ 10⁶ has at most 12 decimals), and `to_decimal(units)` is the stored cost
with its 12 places. Python integers do not overflow: 10¹³ tokens at 0.000001 are 10¹³ units = 10.

Which rule, which counter
-------------------------
For a record (model, usage date = UTC date of `bucket_start`) and a token class with tokens, the
rule is the most specific price rule of the agreement in force whose token class is that class,
whose effective dates (inclusive, None = open) contain the date and whose pattern matches the model
(`select_rule`). No rule → the class is *off-contract* and the caller prices it at list price.

The tier counter belongs to (rule id, pricing period): the cumulative tokens of that rule in the
period, counted in order of (`bucket_start`, idempotency key). A record's *position* is the counter
before it. The pricing period is the agreement's commitment period, else each agreement year from
its start, clipped to the agreement's end (`pricing_period`). A rule that is replaced by another
(a new rule id, e.g. a new price from an effective date) starts its own counter: DESIGN.md counts
"the cumulative tokens of that rule".

Schedules (tiers start at 0 and ascend; tier i covers the tokens whose 0-based index in the
period lies in [from_i, from_i+1))
-----------------------------------------------------------------------------------------------
* flat: every token at the one price.
* graduated (marginal): each token at the price of the tier its index falls in, so a record that
  crosses a boundary is split into parts.
* volume: all the period's tokens at the price of the tier *reached* — the tier of the period's
  last token. Until the period ends this is provisional: each record is rated at the tier reached
  at its own end (position + tokens); when the period ends, `true_up` gives the adjustment
  (final price × all tokens − the provisional charges).

Worked example (graduated, the boundary inside one record)
---------------------------------------------------------
Tiers: from 0 at 0.27, from 100 000 000 000 at 0.20 (per 1 000 000 tokens). The rule has counted
99 999 000 000 tokens this period; a record brings 3 000 000 more:

    tokens 99 999 000 000 … 99 999 999 999 → tier 0:  1 000 000 × 270 000 = 270 000 000 000 units
    tokens 100 000 000 000 … 100 001 999 999 → tier 1: 2 000 000 × 200 000 = 400 000 000 000 units
                                              total 670 000 000 000 units = 0.670000000000

Worked example (volume, provisional then true-up)
-------------------------------------------------
Tiers: from 0 at 0.30, from 1 000 000 at 0.20. Records of one period, in order:

    A   600 000 tokens, counter ends at   600 000 → tier 0: 600 000 × 300 000 = 0.18
    B   300 000 tokens, counter ends at   900 000 → tier 0: 300 000 × 300 000 = 0.09
    C   400 000 tokens, counter ends at 1 300 000 → tier 1: 400 000 × 200 000 = 0.08
                                                       provisional total      0.35
    period end: 1 300 000 tokens reached tier 1 → 1 300 000 × 200 000 = 0.26
    true-up = 0.26 − 0.35 = −0.09  (A and B repriced from 0.30 to 0.20: 900 000 × 0.10 ÷ 10⁶)
"""

from __future__ import annotations

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal

from core.money import COST_PLACES, PRICE_PLACES

from .patterns import matches, specificity

MICRO = 10**PRICE_PLACES  # micro-units in one unit of a per-million price
TOKEN_CLASSES = ("input", "cached_input", "cache_write", "output")  # = contracts.models.TokenClass.values
SCHEDULE_KINDS = ("flat", "graduated", "volume")
PERIOD_MONTHS = {"annual": 12, "quarterly": 3, "monthly": 1}

ScheduleKind = Literal["flat", "graduated", "volume"]
CommitmentPeriod = Literal["annual", "quarterly", "monthly"]
CounterKey = tuple[int, date]  # (rule id, first day of the pricing period)


def _count(value: object, name: str) -> int:
    """A token count or position: a non-negative int (not a bool, not a float)."""
    if type(value) is not int:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} cannot be negative ({value})")
    return value


# Prices and costs --------------------------------------------------------------------------------


def price_to_micro(price: Decimal | str | int) -> int:
    """A per-million price (at most 6 decimals) as an integer count of micro-units: 0.27 → 270000."""
    if isinstance(price, (float, bool)):
        raise TypeError(f"{price!r}: a price must be a Decimal, str or int, never a float")
    amount = Decimal(price)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{price!r} is not a price (finite, not negative)")
    micro = amount.scaleb(PRICE_PLACES)
    if micro != micro.to_integral_value():
        raise ValueError(f"{price!r} has more than {PRICE_PLACES} decimals")
    return int(micro)


def micro_to_price(price_micro: int) -> Decimal:
    """The per-million price of a micro-unit count, with its 6 places: 270000 → Decimal('0.270000')."""
    return Decimal((0 if price_micro >= 0 else 1, tuple(int(d) for d in str(abs(price_micro))), -PRICE_PLACES))


def to_decimal(units: int) -> Decimal:
    """A cost in units of 10⁻¹² as the stored Decimal with exactly 12 places (no context rounding)."""
    if type(units) is not int:
        raise TypeError(f"units must be an int, not {type(units).__name__}")
    return Decimal((0 if units >= 0 else 1, tuple(int(d) for d in str(abs(units))), -COST_PLACES))


def decimal_to_units(amount: Decimal) -> int:
    """A stored cost back to units of 10⁻¹²; refuses more than 12 places (it would not be exact)."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"{amount!r} is not a finite Decimal")
    units = amount.scaleb(COST_PLACES)
    if units != units.to_integral_value():
        raise ValueError(f"{amount} has more than {COST_PLACES} decimal places")
    return int(units)


def convert_units(units: int, rate_numerator: int, rate_denominator: int) -> int:
    """`units` × n ÷ d (an FX rate as an exact fraction), rounded half up once to whole units.

    The house rule of usage/pipeline/rate.py, div(2·u·n + d, 2·d), for u ≥ 0. A negative amount
    (a true-up credit) is rounded half away from zero, as Decimal's ROUND_HALF_UP and
    core.fx.FxQuote.convert do, so a credit converts to exactly minus the charge it reverses.
    (SQL's div() truncates towards zero, so the formula must not be applied to negative u there.)
    """
    for value, name in ((units, "units"), (rate_numerator, "rate_numerator"), (rate_denominator, "rate_denominator")):
        if type(value) is not int:
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if rate_numerator <= 0 or rate_denominator <= 0:
        raise ValueError("an FX rate is positive: numerator and denominator must be > 0")
    magnitude = (2 * abs(units) * rate_numerator + rate_denominator) // (2 * rate_denominator)
    return magnitude if units >= 0 else -magnitude


# Schedules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """From the `from_tokens`-th token (0-based, cumulative in the pricing period) the price
    `price_micro` ÷ 10⁶ per 1 000 000 tokens."""

    from_tokens: int
    price_micro: int

    def __post_init__(self) -> None:
        _count(self.from_tokens, "from_tokens")
        _count(self.price_micro, "price_micro")

    @classmethod
    def from_price(cls, from_tokens: int, price: Decimal | str | int) -> Tier:
        return cls(from_tokens, price_to_micro(price))

    @property
    def price(self) -> Decimal:
        return micro_to_price(self.price_micro)


@dataclass(frozen=True)
class Schedule:
    """A tier schedule: flat (exactly one tier), graduated or volume; tiers ascend from 0."""

    kind: ScheduleKind
    tiers: tuple[Tier, ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"{self.kind!r} is not a schedule ({', '.join(SCHEDULE_KINDS)})")
        tiers = tuple(self.tiers)
        object.__setattr__(self, "tiers", tiers)
        if not tiers or not all(isinstance(t, Tier) for t in tiers):
            raise ValueError("a schedule needs at least one Tier")
        if tiers[0].from_tokens != 0:
            raise ValueError("tiers must start at 0 tokens")
        if any(b.from_tokens <= a.from_tokens for a, b in pairwise(tiers)):
            raise ValueError("tiers must ascend strictly by from_tokens")
        if self.kind == "flat" and len(tiers) != 1:
            raise ValueError("a flat schedule has exactly one tier; use graduated or volume")
        object.__setattr__(self, "_starts", tuple(t.from_tokens for t in tiers))

    @classmethod
    def of(cls, kind: ScheduleKind, *tiers: tuple[int, Decimal | str | int]) -> Schedule:
        """Schedule.of("graduated", (0, "0.27"), (100_000_000_000, "0.20"))."""
        return cls(kind, tuple(Tier.from_price(start, price) for start, price in tiers))

    def tier_of_token(self, index: int) -> int:
        """The tier of the token with this 0-based index in the period."""
        return bisect_right(self._starts, index) - 1

    def tier_reached(self, count: int) -> int:
        """The tier reached once `count` tokens are counted: the tier of the last of them (the
        largest from_tokens strictly below `count`), tier 0 while nothing is counted. Exactly at a
        boundary (count = from_tokens of tier i) tier i is not yet reached: its first token is the
        next one. This keeps volume and graduated equal on the first tier, boundary included."""
        return max(0, bisect_left(self._starts, count) - 1)


@dataclass(frozen=True)
class ChargePart:
    """Tokens rated at one tier's price."""

    tier_index: int
    tokens: int
    price_micro: int

    @property
    def units(self) -> int:
        return self.tokens * self.price_micro


@dataclass(frozen=True)
class Charge:
    """What a record's tokens of one class cost under one rule.

    `units` is the cost in units of 10⁻¹² of the agreement currency. `parts` are the (tier, tokens,
    price) pieces that make it up — one for flat and volume, one per tier crossed for graduated.
    `tier_index` is the tier at the record's end (the counter after it). `rate_micro` is the one
    price applied, or None when several parts blend (their blended rate is rarely a whole
    micro-unit, so the parts are what is stored)."""

    units: int
    parts: tuple[ChargePart, ...]
    tier_index: int

    @property
    def rate_micro(self) -> int | None:
        return self.parts[0].price_micro if len(self.parts) == 1 else None

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.parts)

    @property
    def cost(self) -> Decimal:
        return to_decimal(self.units)


def rate_tokens(schedule: Schedule, position: int, tokens: int) -> Charge:
    """Price `tokens` that come after `position` tokens of the same rule in the pricing period.

    flat: tokens × the price. graduated: the tokens with indexes position … position+tokens−1 are
    split at the tier boundaries they cross, each part at its tier's price. volume (provisional):
    all the record's tokens at the price of the tier reached at the record's END (position +
    tokens) — DESIGN.md's "tier reached so far" once this record is counted. Rating at the end
    rather than the start means a period that consists of this one record needs no true-up, a
    record is never rated below a tier its own tokens reached, and the provisional price is the
    closest to the final one the record can know; `true_up` settles the rest at period end.
    """
    _count(position, "position")
    _count(tokens, "tokens")
    end = position + tokens
    reached = schedule.tier_reached(end)
    if tokens == 0:
        return Charge(units=0, parts=(), tier_index=reached)
    tiers = schedule.tiers
    if schedule.kind == "flat":
        parts = (ChargePart(0, tokens, tiers[0].price_micro),)
    elif schedule.kind == "volume":
        parts = (ChargePart(reached, tokens, tiers[reached].price_micro),)
    else:
        pieces = []
        index, cursor = schedule.tier_of_token(position), position
        while cursor < end:
            upper = tiers[index + 1].from_tokens if index + 1 < len(tiers) else end
            taken = min(end, upper) - cursor
            pieces.append(ChargePart(index, taken, tiers[index].price_micro))
            cursor += taken
            index += 1
        parts = tuple(pieces)
    return Charge(units=sum(p.units for p in parts), parts=parts, tier_index=reached)


def volume_final_units(schedule: Schedule, total_tokens: int) -> int:
    """A volume schedule's final cost of a period: all its tokens at the price of the tier reached."""
    _count(total_tokens, "total_tokens")
    return total_tokens * schedule.tiers[schedule.tier_reached(total_tokens)].price_micro


def true_up(schedule: Schedule, tokens_in_order: Iterable[int]) -> int:
    """The adjustment (units) recorded when a pricing period ends.

    `tokens_in_order` are the token counts of the rule's records of the whole period in (bucket_start,
    key) order. For volume: all the period's tokens at the final tier's price − the sum of the
    provisional charges (negative when prices fall with volume: a credit). Flat and graduated are
    final as rated: 0. The result depends only on the period's records, so after late data or a
    restatement the caller recomputes it and records the difference from what was recorded before.
    A caller holding the stored provisional costs can equally use
    `volume_final_units(schedule, total) − sum(stored units)`.
    """
    counts = [_count(n, "tokens") for n in tokens_in_order]
    if schedule.kind != "volume":
        return 0
    provisional, position = 0, 0
    for n in counts:
        provisional += rate_tokens(schedule, position, n).units
        position += n
    return volume_final_units(schedule, position) - provisional


# Pricing periods ---------------------------------------------------------------------------------


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or that month's last day when it is shorter (Jan 31 + 1 → Feb 28
    or 29). Always counted from the original date, so Jan 31 + 2 is Mar 31, not Mar 28."""
    year, month0 = divmod(start.month - 1 + months, 12)
    year += start.year
    return date(year, month0 + 1, min(start.day, calendar.monthrange(year, month0 + 1)[1]))


def _period_months(commitment_period: str | None) -> int:
    if commitment_period is None:
        return 12  # no commitment: each agreement year from its start
    try:
        return PERIOD_MONTHS[commitment_period]
    except KeyError:
        raise ValueError(f"{commitment_period!r} is not a commitment period ({', '.join(PERIOD_MONTHS)})") from None


def pricing_period(
    day: date, *, agreement_start: date, agreement_end: date, commitment_period: CommitmentPeriod | None = None
) -> tuple[date, date]:
    """The pricing period (first day, last day; inclusive) that contains `day`.

    The commitment's period if the agreement has a commitment, else each agreement year from its
    start (DESIGN.md). Periods are counted from the agreement's start: annual = agreement years,
    quarterly = 3-month steps, monthly = 1-month steps. Period k starts at `add_months(start, k ×
    step)` — the start's day of month, or the month's last day when the month is shorter — and ends
    the day before period k+1 starts. From Jan 31 (monthly) the periods start Jan 31, Feb 28 (29 in a
    leap year), Mar 31, Apr 30, …; from Feb 29 (annual) they start Feb 28 in common years and Feb 29
    again in leap years. The last period ends at the agreement's end (clipped).

    An agreement with several commitments of different periods is not decided by DESIGN.md; the
    caller passes one (`AgreementSpec.from_model` takes the first commitment's, by id).
    """
    if agreement_end < agreement_start:
        raise ValueError(f"the agreement ends ({agreement_end}) before it starts ({agreement_start})")
    if not agreement_start <= day <= agreement_end:
        raise ValueError(f"{day} is outside the agreement's term ({agreement_start} to {agreement_end})")
    step = _period_months(commitment_period)
    months = (day.year - agreement_start.year) * 12 + day.month - agreement_start.month
    k = max(0, months // step)
    while k > 0 and add_months(agreement_start, k * step) > day:
        k -= 1
    while add_months(agreement_start, (k + 1) * step) <= day:
        k += 1
    period_end = add_months(agreement_start, (k + 1) * step) - timedelta(days=1)
    return add_months(agreement_start, k * step), min(period_end, agreement_end)


def pricing_periods(
    *, agreement_start: date, agreement_end: date, commitment_period: CommitmentPeriod | None = None
) -> list[tuple[date, date]]:
    """All pricing periods of the term, in order; they tile it without gaps or overlaps."""
    periods, day = [], agreement_start
    while day <= agreement_end:
        period = pricing_period(
            day, agreement_start=agreement_start, agreement_end=agreement_end, commitment_period=commitment_period
        )
        periods.append(period)
        day = period[1] + timedelta(days=1)
    return periods


# Rules -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSpec:
    """A price rule as the engine needs it (no ORM): contracts.models.PriceRule and its tiers."""

    id: int
    model_pattern: str
    token_class: str
    schedule: Schedule
    effective_from: date | None = None
    effective_to: date | None = None

    @classmethod
    def from_model(cls, price_rule) -> RuleSpec:
        """From a contracts.models.PriceRule; prefetch its `tiers` to rate many rules in few queries."""
        tiers = sorted(price_rule.tiers.all(), key=lambda t: t.from_tokens)
        return cls(
            id=price_rule.id,
            model_pattern=price_rule.model_pattern,
            token_class=price_rule.token_class,
            schedule=Schedule(price_rule.schedule, tuple(Tier.from_price(t.from_tokens, t.price) for t in tiers)),
            effective_from=price_rule.effective_from,
            effective_to=price_rule.effective_to,
        )

    def in_force(self, day: date) -> bool:
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day <= self.effective_to
        )


def select_rule(rules: Iterable[RuleSpec], *, model: str, token_class: str, day: date) -> RuleSpec | None:
    """The rule that prices `model`'s `token_class` tokens on `day`, or None (off-contract).

    Candidates: the rules of that token class whose effective dates contain the day (both ends
    inclusive; None is open) and whose pattern matches the model name (shell-style,
    contracts.patterns.matches). The most specific wins (contracts.patterns.specificity: an exact
    name beats any pattern; a longer literal prefix beats a shorter). Agreement validation refuses
    two rules of equal specificity that overlap for one class and date; should such a pair reach
    the engine anyway, the lower rule id wins, so the choice is still deterministic.
    """
    best, best_key = None, None
    for rule in rules:
        if rule.token_class != token_class or not rule.in_force(day) or not matches(rule.model_pattern, model):
            continue
        exactness, prefix = specificity(rule.model_pattern)
        key = (-exactness, -prefix, rule.id)
        if best_key is None or key < best_key:
            best, best_key = rule, key
    return best


@dataclass(frozen=True)
class RuleInForce:
    """The rule that applies to a record's class and the pricing period its counter runs in."""

    rule: RuleSpec
    period: tuple[date, date]

    @property
    def counter(self) -> CounterKey:
        return (self.rule.id, self.period[0])


# Records -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageInput:
    """What rating needs of a usage record. `key` is its idempotency key (bytes, as stored; a str
    is taken as its UTF-8 bytes); `bucket_start` is timezone-aware."""

    key: bytes | str
    bucket_start: datetime
    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    vendor_id: int | None = None

    def __post_init__(self) -> None:
        if self.bucket_start.tzinfo is None or self.bucket_start.utcoffset() is None:
            raise ValueError("bucket_start must be timezone-aware (DESIGN.md: all timestamps are UTC)")
        for token_class, count in self.token_counts():
            _count(count, f"{token_class} tokens")

    @property
    def usage_date(self) -> date:
        """The UTC date of bucket_start (DESIGN.md, Time)."""
        return self.bucket_start.astimezone(UTC).date()

    @property
    def sort_key(self) -> tuple[datetime, bytes]:
        """(bucket_start, key): the order tier counters run in. Keys compare as bytes, which is how
        PostgreSQL orders `bytea` (and UTF-8 text under COLLATE "C")."""
        key = self.key.encode() if isinstance(self.key, str) else bytes(self.key)
        return (self.bucket_start.astimezone(UTC), key)

    def token_counts(self) -> tuple[tuple[str, int], ...]:
        return (
            ("input", self.input_tokens),
            ("cached_input", self.cached_input_tokens),
            ("cache_write", self.cache_write_tokens),
            ("output", self.output_tokens),
        )


RuleLookup = Callable[[UsageInput, str], RuleInForce | None]


@dataclass(frozen=True)
class AgreementSpec:
    """An agreement's term, pricing basis and rules: a `rule_lookup` for `rate_sequence`."""

    id: int
    start: date
    end: date
    rules: tuple[RuleSpec, ...]
    commitment_period: CommitmentPeriod | None = None

    @classmethod
    def from_model(cls, agreement) -> AgreementSpec:
        """From a contracts.models.Agreement; prefetch `price_rules__tiers` and `commitments`.
        With several commitments the first (lowest id) sets the pricing period (see
        `pricing_period`)."""
        commitments = sorted(agreement.commitments.all(), key=lambda c: c.id)
        return cls(
            id=agreement.id,
            start=agreement.start,
            end=agreement.end,
            rules=tuple(RuleSpec.from_model(rule) for rule in agreement.price_rules.all()),
            commitment_period=commitments[0].period if commitments else None,
        )

    def rule_in_force(self, model: str, token_class: str, day: date) -> RuleInForce | None:
        if not self.start <= day <= self.end:
            return None
        rule = select_rule(self.rules, model=model, token_class=token_class, day=day)
        if rule is None:
            return None
        period = pricing_period(
            day, agreement_start=self.start, agreement_end=self.end, commitment_period=self.commitment_period
        )
        return RuleInForce(rule, period)

    def lookup(self, record: UsageInput, token_class: str) -> RuleInForce | None:
        return self.rule_in_force(record.model, token_class, record.usage_date)


@dataclass(frozen=True)
class RatedLine:
    """One record's tokens of one class, rated. Off-contract lines carry no rule and no units:
    the caller prices them at the vendor's list price and flags them. Volume lines are provisional
    until their period's true-up is recorded."""

    key: bytes | str
    bucket_start: datetime
    token_class: str
    tokens: int
    off_contract: bool
    rule_id: int | None = None
    schedule_kind: ScheduleKind | None = None
    period: tuple[date, date] | None = None
    position: int | None = None  # the rule's counter in the period before this record
    tier_index: int | None = None  # the tier at the record's end
    parts: tuple[ChargePart, ...] = ()
    units: int | None = None

    @property
    def counter(self) -> CounterKey | None:
        return None if self.rule_id is None else (self.rule_id, self.period[0])

    @property
    def rate_micro(self) -> int | None:
        return self.parts[0].price_micro if len(self.parts) == 1 else None

    @property
    def provisional(self) -> bool:
        return self.schedule_kind == "volume"

    @property
    def cost(self) -> Decimal | None:
        return None if self.units is None else to_decimal(self.units)


def rate_sequence(
    records: Iterable[UsageInput],
    rule_lookup: RuleLookup,
    *,
    start_positions: Mapping[CounterKey, int] | None = None,
) -> list[RatedLine]:
    """Rate records in the order the tier counters run: the reference the database path is checked
    against.

    Records are sorted by (bucket_start, key); for each record and each token class with tokens,
    `rule_lookup(record, token_class)` gives the rule in force and its pricing period (None →
    off-contract); the record is rated at the counter of (rule id, period) and the counter advances
    by its tokens. The output is in that order, so the same records in any order, or gathered from
    several batches, rate identically, and rating again changes nothing.

    `start_positions` are counters already reached by records that all come before these (to rate
    only the newest records); by default every counter starts at 0, the start of its period.
    Keys must be unique: a restated record replaces its earlier version before rating.
    """
    ordered = sorted(records, key=lambda r: r.sort_key)
    seen: set[bytes] = set()
    for record in ordered:
        if record.sort_key[1] in seen:
            raise ValueError(f"duplicate idempotency key {record.key!r}: pass only the latest version")
        seen.add(record.sort_key[1])

    counters: dict[CounterKey, int] = dict(start_positions or {})
    lines: list[RatedLine] = []
    for record in ordered:
        for token_class, tokens in record.token_counts():
            if tokens == 0:
                continue
            found = rule_lookup(record, token_class)
            if found is None:
                lines.append(RatedLine(record.key, record.bucket_start, token_class, tokens, off_contract=True))
                continue
            position = counters.get(found.counter, 0)
            charge = rate_tokens(found.rule.schedule, position, tokens)
            counters[found.counter] = position + tokens
            lines.append(
                RatedLine(
                    record.key,
                    record.bucket_start,
                    token_class,
                    tokens,
                    off_contract=False,
                    rule_id=found.rule.id,
                    schedule_kind=found.rule.schedule.kind,
                    period=found.period,
                    position=position,
                    tier_index=charge.tier_index,
                    parts=charge.parts,
                    units=charge.units,
                )
            )
    return lines


def positions_after(
    lines: Iterable[RatedLine], start_positions: Mapping[CounterKey, int] | None = None
) -> dict[CounterKey, int]:
    """The counters after `lines` (to pass as `start_positions` when rating the records after them)."""
    counters = dict(start_positions or {})
    for line in lines:
        if line.counter is not None:
            counters[line.counter] = counters.get(line.counter, 0) + line.tokens
    return counters


def total_units(lines: Iterable[RatedLine]) -> int:
    """The on-contract cost of `lines` in units (off-contract lines are priced by the caller)."""
    return sum(line.units for line in lines if line.units is not None)


def period_true_ups(lines: Sequence[RatedLine], schedules: Mapping[int, Schedule]) -> dict[CounterKey, int]:
    """The true-up of every volume counter in `lines` (which must hold all of each period's lines,
    in rating order), from the provisional units they carry. The caller records those of periods
    that have ended."""
    totals: dict[CounterKey, list[int]] = {}
    for line in lines:
        if line.provisional:
            tokens_units = totals.setdefault(line.counter, [0, 0])
            tokens_units[0] += line.tokens
            tokens_units[1] += line.units
    return {
        counter: volume_final_units(schedules[counter[0]], tokens) - units
        for counter, (tokens, units) in totals.items()
    }
