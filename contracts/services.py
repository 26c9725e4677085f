"""Writes of the contracts app: creating and amending framework agreements.

Every change goes through `agreement_change`: the whole resulting state is validated, nested
lists are replaced (objects matched by id, else by their natural key, keep their ids), an
amendment row records what changed, who changed it, who approved it and from which date usage
must be re-rated. With four-eyes on, activating or changing an active agreement waits for a
second person's approval (accounts.approvals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts import approvals
from accounts.models import ApprovalRequest
from core.exceptions import Conflict, ValidationFailed
from core.services import rerate_request
from procurement.models import Vendor

from .models import Agreement, AgreementAmendment, Commitment, PriceRule, PriceTier, SlaBand, SlaClause
from .specs import NESTED, TOP_FIELDS, from_payload, state_of, to_payload
from .validation import validate_agreement_state

APPROVAL_ACTION = "agreement.change"


@dataclass
class AgreementResult:
    agreement: Agreement
    approval: ApprovalRequest | None = None
    amendment: AgreementAmendment | None = None

    @property
    def pending(self) -> bool:
        return self.approval is not None


def _needs_approval(current: dict | None, proposed: dict) -> bool:
    if not approvals.four_eyes_enabled():
        return False
    was_active = current is not None and current["status"] == Agreement.Status.ACTIVE
    return was_active or proposed.get("status") == Agreement.Status.ACTIVE


def _merge(current: dict | None, changes: dict) -> dict:
    state = dict(current or {"price_rules": [], "commitments": [], "sla_clauses": []})
    for name in TOP_FIELDS:
        if name in changes:
            state[name] = changes[name]
    state.setdefault("status", Agreement.Status.DRAFT)
    for name in ("auto_renew",):
        state.setdefault(name, False)
    for name, default in (("po_number", ""), ("notes", ""), ("payment_terms_days", None), ("notice_days", 90)):
        state.setdefault(name, default)
    if state.get("payment_terms_days") is None and state.get("vendor") is not None:
        state["payment_terms_days"] = state["vendor"].payment_terms_days
    for name in NESTED:
        if changes.get(name) is not None:
            state[name] = changes[name]
    return state


# Applying nested lists ---------------------------------------------------------------------------

NATURAL_KEYS = {
    "price_rules": lambda r: (r["model_pattern"], r["token_class"], r.get("effective_from")),
    "commitments": lambda c: (c["unit"], c["period"], c["treatment"]),
    "sla_clauses": lambda s: (s["metric"], tuple(s.get("models") or ())),
}
MODELS = {"price_rules": PriceRule, "commitments": Commitment, "sla_clauses": SlaClause}
FIELDS = {
    "price_rules": ("model_pattern", "token_class", "schedule", "effective_from", "effective_to"),
    "commitments": (
        "unit",
        "amount",
        "period",
        "token_classes",
        "treatment",
        "shortfall_price",
        "shortfall_allocation",
        "central_department",
    ),
    "sla_clauses": ("metric", "models", "target", "cap_percent", "claim_days"),
}


def _match(name: str, agreement: Agreement, items: list[dict]) -> list[tuple[dict, object | None]]:
    """Pair each incoming item with the existing object it updates (by id, else natural key)."""
    existing = {obj.pk: obj for obj in MODELS[name].objects.filter(agreement=agreement)}
    unclaimed = dict(existing)
    pairs: list[tuple[dict, object | None]] = []
    errors: list[dict] = [{} for _ in items]
    for index, item in enumerate(items):
        item_id = item.get("id")
        if item_id is not None and item_id not in existing:
            errors[index] = {"id": [f"No {name[:-1].replace('_', ' ')} {item_id} in this agreement."]}
        pairs.append((item, unclaimed.pop(item_id, None) if item_id is not None else None))
    if any(errors):
        raise ValidationFailed({name: errors})
    key_of = NATURAL_KEYS[name]
    by_key = {}
    for obj in unclaimed.values():
        by_key.setdefault(key_of(_as_item(name, obj)), obj)
    matched = []
    for item, obj in pairs:
        if obj is None:
            obj = by_key.pop(key_of(item), None)
            if obj is not None:
                unclaimed.pop(obj.pk, None)
        matched.append((item, obj))
    for obj in unclaimed.values():
        obj.delete()
    return matched


def _as_item(name: str, obj) -> dict:
    return {field: getattr(obj, field) for field in FIELDS[name]}


def _apply_nested(name: str, agreement: Agreement, items: list[dict], actor) -> None:
    for item, obj in _match(name, agreement, items):
        obj = obj or MODELS[name](agreement=agreement)
        for field in FIELDS[name]:
            default = [] if field in ("token_classes", "models") else None
            setattr(obj, field, item.get(field, default))
        obj._history_user = actor
        obj.save()
        if name == "price_rules":
            obj.tiers.all().delete()
            PriceTier.objects.bulk_create(
                PriceTier(rule=obj, from_tokens=t["from_tokens"], price=t["price"]) for t in item["tiers"]
            )
        elif name == "sla_clauses":
            obj.bands.all().delete()
            SlaBand.objects.bulk_create(
                SlaBand(clause=obj, breach_over=b["breach_over"], credit_percent=b["credit_percent"])
                for b in item["bands"]
            )


# What changed, and from when usage must be re-rated ------------------------------------------------


def _comparable(name: str, item: dict) -> tuple:
    clean = {k: v for k, v in item.items() if k != "id"}
    return tuple(sorted((k, repr(v)) for k, v in clean.items()))


def _diff(before: dict | None, after: dict) -> tuple[dict, date | None]:
    changes: dict = {}
    rerate: list[date] = []
    start = after["start"]
    for name in TOP_FIELDS:
        old = before.get(name) if before else None
        if before is None or old != after.get(name):
            changes[name] = [to_payload(old), to_payload(after.get(name))]
    if before is None:
        return changes, None
    if any(n in changes for n in ("vendor", "start", "end", "currency", "status")):
        rerate.append(min(before["start"], start))
    for name in NESTED:
        old_set = {_comparable(name, i) for i in before[name]}
        new_set = {_comparable(name, i) for i in after[name]}
        if old_set == new_set:
            continue
        added = [i for i in after[name] if _comparable(name, i) not in old_set]
        removed = [i for i in before[name] if _comparable(name, i) not in new_set]
        changes[name] = {"added": to_payload(added), "removed": to_payload(removed)}
        if name == "price_rules":
            rerate.extend(_rules_rerate_from(added, removed, min(before["start"], start)))
        elif name == "commitments":
            rerate.append(min(before["start"], start))  # the pricing period of tiers may change
    return changes, (min(rerate) if rerate else None)


def _rules_rerate_from(added: list[dict], removed: list[dict], term_start: date) -> list[date]:
    """The earliest day each changed price rule prices differently. A rule kept by id whose only
    change is its end date differs from the day after the earlier end; any other change differs
    from the earlier start (an open start is the term's start)."""
    old_by_id = {r["id"]: r for r in removed if r.get("id")}
    days = []
    for rule in added:
        old = old_by_id.pop(rule.get("id"), None) if rule.get("id") else None
        start = rule.get("effective_from") or term_start
        if old is None:
            days.append(start)
            continue
        old_start = old.get("effective_from") or term_start
        same_terms = _comparable("", {**old, "effective_to": None}) == _comparable("", {**rule, "effective_to": None})
        if same_terms and old_start == start:
            ends = [e for e in (old.get("effective_to"), rule.get("effective_to")) if e is not None]
            days.append(min(ends) + timedelta(days=1) if ends else start)
        else:
            days.append(min(start, old_start))
    days.extend((r.get("effective_from") or term_start) for r in old_by_id.values())
    return days


def _summary(changes: dict, *, created: bool) -> str:
    if created:
        return "Agreement created"
    parts = []
    for name, change in changes.items():
        if name in NESTED:
            label = name.replace("_", " ")
            parts.append(f"{label}: {len(change['added'])} added/changed, {len(change['removed'])} removed/changed")
        else:
            parts.append(f"{name}: {change[0]} → {change[1]}")
    return "; ".join(parts) or "No change"


# The services -----------------------------------------------------------------------------------------


@transaction.atomic
def _apply(agreement: Agreement | None, changes: dict, *, actor, approver=None, approval=None) -> AgreementResult:
    current = state_of(agreement) if agreement is not None else None
    state = _merge(current, changes)
    validate_agreement_state(state, pk=agreement.pk if agreement else None)
    created = agreement is None
    agreement = agreement or Agreement()
    for name in TOP_FIELDS:
        setattr(agreement, name, state[name])
    agreement._history_user = actor
    if approver is not None:
        agreement._change_reason = f"approved by {approver.username} (approval #{approval.pk})"
    try:
        with transaction.atomic():
            agreement.full_clean(exclude=["signed_document"])
            agreement.save()
            for name in NESTED:
                if created or changes.get(name) is not None:
                    _apply_nested(name, agreement, state[name], actor)
    except IntegrityError as exc:  # a concurrent activation for the same vendor and dates
        raise Conflict("Another agreement of this vendor became active for these dates at the same time.") from exc
    after = state_of(agreement)
    changed, rerate_from = _diff(current, after)
    number = (agreement.amendments.aggregate(n=Max("number"))["n"] or 0) + 1
    amendment = AgreementAmendment.objects.create(
        agreement=agreement,
        number=number,
        changed_by=actor,
        approved_by=approver,
        approval=approval,
        summary=_summary(changed, created=created),
        changes=changed,
        rerate_from=rerate_from,
    )
    _rerate_after(agreement, current, rerate_from, amendment, actor)
    return AgreementResult(agreement=agreement, amendment=amendment)


def _rerate_after(agreement: Agreement, before: dict | None, rerate_from, amendment, actor) -> None:
    """Usage re-rates from the earliest date the change affects (a new agreement in force: its
    start), by task name after commit (DESIGN.md: contracts never imports usage)."""
    if before is None:
        if agreement.status not in (Agreement.Status.ACTIVE, Agreement.Status.EXPIRED):
            return
        rerate_from = agreement.start
    if rerate_from is None:
        return
    vendor_ids = {agreement.vendor_id}
    if before and before.get("vendor") is not None:
        old = before["vendor"]
        vendor_ids.add(old.pk if hasattr(old, "pk") else Vendor.objects.get(slug=old).pk)
    rerate_request(
        since=rerate_from,
        vendor_ids=vendor_ids,
        reason=f"{agreement.reference} amendment {amendment.number}: {amendment.summary}"[:500],
        actor=actor,
    )


@transaction.atomic
def agreement_change(*, agreement: Agreement | None, changes: dict, actor) -> AgreementResult:
    """Create (agreement=None) or amend an agreement. `changes` holds the top-level fields given
    and, when given, whole nested lists that replace the current ones."""
    if agreement is not None:
        agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
        # While a change waits for approval the agreement is frozen, so the approver approves
        # exactly the terms that were asked for.
        waiting = approvals.pending_for(resource="agreement", object_key=agreement.reference).first()
        if waiting:
            raise Conflict(f"A change to {agreement.reference} awaits approval (#{waiting.pk}); decide on it first.")
    elif Agreement.objects.filter(reference=changes.get("reference")).exists():
        raise ValidationFailed({"reference": ["An agreement with this reference exists."]})
    current = state_of(agreement) if agreement is not None else None
    if not _needs_approval(current, changes):
        return _apply(agreement, changes, actor=actor)

    # Four-eyes: validate now so mistakes show at once, apply when a second person approves.
    validate_agreement_state(_merge(current, changes), pk=agreement.pk if agreement else None)
    if agreement is None:
        agreement = _apply(None, {**changes, "status": Agreement.Status.DRAFT}, actor=actor).agreement
        changes = {"status": Agreement.Status.ACTIVE}
        summary = f"Activate {agreement.reference}"
    else:
        summary = f"Change {agreement.reference}: {', '.join(sorted(k for k in changes if changes[k] is not None))}"
    approval = approvals.approval_request_create(
        action=APPROVAL_ACTION,
        resource="agreement",
        object_key=agreement.reference,
        summary=summary,
        payload=to_payload(changes),
        requested_by=actor,
    )
    return AgreementResult(agreement=agreement, approval=approval)


def _approve_change(request: ApprovalRequest, approver) -> Agreement:
    agreement = Agreement.objects.select_for_update().filter(reference=request.object_key).first()
    if agreement is None:
        raise Conflict(f"Agreement {request.object_key} no longer exists; reject this request.")
    return _apply(
        agreement, from_payload(request.payload), actor=request.requested_by, approver=approver, approval=request
    ).agreement


approvals.register(APPROVAL_ACTION, _approve_change)


@transaction.atomic
def agreement_attach_document(*, agreement: Agreement, file, actor) -> Agreement:
    agreement.signed_document.save(f"{agreement.reference}/{file.name}", file, save=False)
    agreement._history_user = actor
    agreement._change_reason = f"signed document {file.name} attached"
    agreement.save(update_fields=["signed_document", "updated_at"])
    return agreement


def agreement_delete(*, agreement: Agreement, actor) -> None:
    waiting = approvals.pending_for(resource="agreement", object_key=agreement.reference).first()
    if waiting:
        raise Conflict(f"{agreement.reference} has a change awaiting approval (#{waiting.pk}); decide on it first.")
    if agreement.status != Agreement.Status.DRAFT:
        raise Conflict(
            f"{agreement.reference} is {agreement.status}; only drafts can be deleted. Terminate it instead."
        )
    agreement._history_user = actor
    agreement.delete()
