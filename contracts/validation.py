"""The rules a procurement officer understands, checked on an agreement's whole resulting state.

Errors are shaped as DRF shapes nested errors — {"price_rules": [{}, {"tiers": ["…"]}]} — so
the API names the exact row and field, and the agreement form puts each message beside it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from core.currencies import is_currency
from core.exceptions import ValidationFailed
from core.money import PRICE_PLACES, places

from .models import Agreement, Commitment, PriceRule, SlaClause, TokenClass
from .patterns import patterns_intersect, specificity

PERCENT_METRICS = {SlaClause.Metric.AVAILABILITY, SlaClause.Metric.ERROR_RATE}


class _Errors:
    def __init__(self) -> None:
        self.top: dict[str, list[str]] = defaultdict(list)
        self.nested: dict[str, dict[int, dict[str, list[str]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )

    def add(self, field: str, message: str) -> None:
        self.top[field].append(message)

    def add_item(self, collection: str, index: int, field: str, message: str) -> None:
        self.nested[collection][index][field].append(message)

    def raise_if_any(self, sizes: dict[str, int]) -> None:
        if not self.top and not self.nested:
            return
        fields: dict = {k: list(v) for k, v in self.top.items()}
        for collection, items in self.nested.items():
            fields[collection] = [
                {k: list(v) for k, v in items.get(i, {}).items()} for i in range(sizes.get(collection, 0))
            ]
        raise ValidationFailed(fields)


@dataclass(frozen=True)
class RowProblem:
    """What is wrong in a nested table (tiers, bands): the message the API gives for the table,
    and the row and field at fault (None: the table as a whole), where the form marks it."""

    message: str
    row: int | None = None
    field: str | None = None


def tier_problems(tiers: list[dict]) -> list[RowProblem]:
    problems = []
    if not tiers:
        problems.append(RowProblem("A price rule needs at least one tier."))
    elif tiers[0]["from_tokens"] != 0:
        problems.append(RowProblem("Tiers must start at 0 tokens.", 0, "from_tokens"))
    for j, (a, b) in enumerate(pairwise(tiers), start=1):
        if b["from_tokens"] <= a["from_tokens"]:
            message = f"Tiers must ascend: {b['from_tokens']} does not come after {a['from_tokens']}."
            problems.append(RowProblem(message, j, "from_tokens"))
            break
    for j, tier in enumerate(tiers):
        if tier["price"] < 0:
            problems.append(RowProblem(f"Prices cannot be negative ({tier['price']}).", j, "price"))
        elif places(tier["price"]) > PRICE_PLACES:
            problems.append(RowProblem(f"Prices have at most {PRICE_PLACES} decimals ({tier['price']}).", j, "price"))
        if tier["from_tokens"] < 0:
            problems.append(RowProblem("Tier starts cannot be negative.", j, "from_tokens"))
    return problems


def band_problems(bands: list[dict], *, cap: Decimal | None) -> list[RowProblem]:
    problems = []
    if not bands:
        problems.append(RowProblem("Give at least one credit band."))
    for j, (a, b) in enumerate(pairwise(bands), start=1):
        if b["breach_over"] <= a["breach_over"]:
            problems.append(RowProblem("Bands must ascend by breach_over.", j, "breach_over"))
            break
        if b["credit_percent"] < a["credit_percent"]:
            problems.append(RowProblem("A bigger breach cannot earn a smaller credit.", j, "credit_percent"))
            break
    for j, band in enumerate(bands):
        if band["breach_over"] < 0:
            problems.append(RowProblem("breach_over cannot be negative.", j, "breach_over"))
        if not (Decimal(0) < band["credit_percent"] <= 100):
            problems.append(RowProblem("A credit is a percentage above 0 and at most 100.", j, "credit_percent"))
        elif cap is not None and band["credit_percent"] > cap:
            message = f"A band's credit ({band['credit_percent']} %) exceeds the cap ({cap} %)."
            problems.append(RowProblem(message, j, "credit_percent"))
    return problems


def _dates_overlap(a_from, a_to, b_from, b_to) -> bool:
    return (a_from is None or b_to is None or a_from <= b_to) and (b_from is None or a_to is None or b_from <= a_to)


def _check_rules(state: dict, errors: _Errors) -> None:
    rules = state.get("price_rules") or []
    start, end = state["start"], state["end"]
    for i, rule in enumerate(rules):
        pattern = (rule.get("model_pattern") or "").strip()
        if not pattern:
            errors.add_item("price_rules", i, "model_pattern", "Give a model name or pattern.")
        if rule.get("token_class") not in TokenClass.values:
            errors.add_item("price_rules", i, "token_class", f"Choose one of {', '.join(TokenClass.values)}.")
        tiers = rule.get("tiers") or []
        schedule = rule.get("schedule")
        for problem in tier_problems(tiers):
            errors.add_item("price_rules", i, "tiers", problem.message)
        if schedule == PriceRule.Schedule.FLAT and len(tiers) > 1:
            errors.add_item(
                "price_rules", i, "schedule", "A flat schedule has exactly one tier; use graduated or volume."
            )
        eff_from, eff_to = rule.get("effective_from"), rule.get("effective_to")
        if eff_from and eff_to and eff_to < eff_from:
            errors.add_item("price_rules", i, "effective_to", "The rule ends before it starts.")
        if eff_from and start and eff_from < start:
            errors.add_item("price_rules", i, "effective_from", f"Must lie inside the term ({start} to {end}).")
        if eff_to and end and eff_to > end:
            errors.add_item("price_rules", i, "effective_to", f"Must lie inside the term ({start} to {end}).")
    # equal specificity + a common model + same class + overlapping dates = ambiguous
    for (i, a), (j, b) in ((x, y) for x in enumerate(rules) for y in enumerate(rules) if x[0] < y[0]):
        pa, pb = a.get("model_pattern") or "", b.get("model_pattern") or ""
        if not pa or not pb or a.get("token_class") != b.get("token_class"):
            continue
        if specificity(pa) != specificity(pb) or not patterns_intersect(pa, pb):
            continue
        if _dates_overlap(
            a.get("effective_from"), a.get("effective_to"), b.get("effective_from"), b.get("effective_to")
        ):
            errors.add_item(
                "price_rules",
                j,
                "model_pattern",
                f"Overlaps rule {i + 1} ({pa} {a.get('token_class')}) with equal specificity for the same dates; "
                "make one pattern more specific or separate their dates.",
            )


def _check_commitments(state: dict, errors: _Errors) -> None:
    for i, c in enumerate(state.get("commitments") or []):
        unit = c.get("unit")
        is_tokens = unit == Commitment.TOKENS
        if not is_tokens and unit != state.get("currency"):
            errors.add_item(
                "commitments",
                i,
                "unit",
                f"Use 'tokens' or the agreement's currency ({state.get('currency')}) for a money commitment.",
            )
        amount = c.get("amount")
        if amount is None or amount <= 0:
            errors.add_item("commitments", i, "amount", "The committed amount must be positive.")
        elif is_tokens and amount != amount.to_integral_value():
            errors.add_item("commitments", i, "amount", "A token commitment is a whole number of tokens.")
        elif not is_tokens and is_currency(unit or "") and places(amount) > 6:
            errors.add_item("commitments", i, "amount", "At most 6 decimal places.")
        classes = c.get("token_classes") or []
        bad = [tc for tc in classes if tc not in TokenClass.values]
        if bad:
            errors.add_item("commitments", i, "token_classes", f"Unknown token class(es): {', '.join(bad)}.")
        if classes and not is_tokens:
            errors.add_item("commitments", i, "token_classes", "Token classes apply to token commitments only.")
        treatment = c.get("treatment")
        if treatment == Commitment.Treatment.TAKE_OR_PAY and is_tokens and c.get("shortfall_price") is None:
            errors.add_item(
                "commitments", i, "shortfall_price", "A take-or-pay token commitment needs a shortfall price."
            )
        if c.get("shortfall_price") is not None and (not is_tokens or treatment != Commitment.Treatment.TAKE_OR_PAY):
            errors.add_item(
                "commitments",
                i,
                "shortfall_price",
                "Only take-or-pay token commitments have a shortfall price (money shortfalls are charged as money).",
            )
        if c.get("shortfall_price") is not None and c["shortfall_price"] < 0:
            errors.add_item("commitments", i, "shortfall_price", "Cannot be negative.")
        if c.get("shortfall_allocation") == Commitment.Allocation.CENTRAL and not c.get("central_department"):
            errors.add_item("commitments", i, "central_department", "Name the department that carries the shortfall.")


def _check_sla(state: dict, errors: _Errors) -> None:
    for i, clause in enumerate(state.get("sla_clauses") or []):
        metric = clause.get("metric")
        target = clause.get("target")
        if target is None or target < 0:
            errors.add_item("sla_clauses", i, "target", "The target cannot be negative.")
        elif metric in PERCENT_METRICS and target > 100:
            errors.add_item("sla_clauses", i, "target", "A percentage target is at most 100.")
        elif metric == SlaClause.Metric.THROUGHPUT_FLUCTUATION and target < 1:
            errors.add_item("sla_clauses", i, "target", "Fluctuation is max ÷ min, so at least 1.")
        cap = clause.get("cap_percent")
        if cap is None or not (Decimal(0) <= cap <= 100):
            errors.add_item("sla_clauses", i, "cap_percent", "The cap is a percentage between 0 and 100.")
        for problem in band_problems(clause.get("bands") or [], cap=cap):
            errors.add_item("sla_clauses", i, "bands", problem.message)
        if (clause.get("claim_days") or 0) <= 0:
            errors.add_item("sla_clauses", i, "claim_days", "Days to claim after the month must be positive.")


def validate_agreement_state(state: dict, *, pk: int | None) -> None:
    """Raise ValidationFailed naming every problem of the agreement as it would be saved."""
    errors = _Errors()
    start, end = state.get("start"), state.get("end")
    if start and end and end < start:
        errors.add("end", "The term ends before it starts.")
    if not is_currency(state.get("currency") or ""):
        errors.add("currency", f"{state.get('currency')!r} is not an ISO 4217 currency code.")
    if state.get("status") not in Agreement.Status.values:
        errors.add("status", f"Choose one of {', '.join(Agreement.Status.values)}.")
    if state.get("status") == Agreement.Status.ACTIVE and start and end and end >= start:
        clash = (
            Agreement.objects.filter(
                vendor=state["vendor"], status=Agreement.Status.ACTIVE, start__lte=end, end__gte=start
            )
            .exclude(pk=pk)
            .first()
        )
        if clash:
            errors.add(
                "status",
                f"{clash.reference} is already active for {state['vendor']} from {clash.start} to {clash.end}; "
                "at most one agreement per vendor is active on a date.",
            )
    _check_rules(state, errors)
    _check_commitments(state, errors)
    _check_sla(state, errors)
    errors.raise_if_any({name: len(state.get(name) or []) for name in ("price_rules", "commitments", "sla_clauses")})
