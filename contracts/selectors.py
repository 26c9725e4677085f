"""Reads of the contracts app."""

from __future__ import annotations

from datetime import date

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from accounts.models import ApprovalRequest

from .models import Agreement, AgreementAmendment, Commitment, PriceRule, SlaClause


def agreement_list() -> QuerySet[Agreement]:
    pending = ApprovalRequest.objects.filter(
        resource="agreement", object_key=OuterRef("reference"), status=ApprovalRequest.Status.PENDING
    ).values("pk")[:1]
    return (
        Agreement.objects.select_related("vendor")
        .prefetch_related(
            Prefetch("price_rules", queryset=PriceRule.objects.prefetch_related("tiers")),
            Prefetch("commitments", queryset=Commitment.objects.select_related("central_department")),
            Prefetch("sla_clauses", queryset=SlaClause.objects.prefetch_related("bands")),
        )
        .annotate(pending_approval_id=Subquery(pending))
    )


def agreement_in_force(*, vendor_id: int, on: date) -> Agreement | None:
    """The active agreement of a vendor on a date (at most one, by constraint)."""
    return Agreement.objects.filter(
        vendor_id=vendor_id, status=Agreement.Status.ACTIVE, start__lte=on, end__gte=on
    ).first()


def agreement_amendments(*, agreement: Agreement) -> QuerySet[AgreementAmendment]:
    """Every change to an agreement, newest first, with who made and who approved it."""
    return agreement.amendments.select_related("changed_by", "approved_by")


def agreement_pending_approval(*, agreement: Agreement) -> ApprovalRequest | None:
    """The four-eyes request that waits for a second person, if any (at most one: the service
    refuses a second change while one waits)."""
    return (
        ApprovalRequest.objects.filter(
            resource="agreement", object_key=agreement.reference, status=ApprovalRequest.Status.PENDING
        )
        .select_related("requested_by")
        .order_by("requested_at")
        .first()
    )
