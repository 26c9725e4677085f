"""Agreements as API.md shows them. The serializers parse and present; contracts.services
validates the whole agreement and applies changes (nested lists replace, objects keep ids)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from core.currencies import CURRENCY_CHOICES
from procurement.models import Department, Vendor

from ..models import Agreement, AgreementAmendment, Commitment, PriceRule, SlaClause, TokenClass
from ..specs import NESTED, state_of, to_payload


class TierSerializer(serializers.Serializer):
    from_tokens = serializers.IntegerField(min_value=0, max_value=2**63 - 1)
    price = serializers.DecimalField(max_digits=18, decimal_places=6, help_text="Per 1 000 000 tokens.")


class PriceRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, help_text="Keep to update this rule; omit for a new one.")
    model_pattern = serializers.CharField(max_length=200)
    token_class = serializers.ChoiceField(choices=TokenClass.choices)
    schedule = serializers.ChoiceField(choices=PriceRule.Schedule.choices, default=PriceRule.Schedule.FLAT)
    tiers = TierSerializer(many=True, allow_empty=True)
    effective_from = serializers.DateField(required=False, allow_null=True, default=None)
    effective_to = serializers.DateField(required=False, allow_null=True, default=None)


class CommitmentSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False)
    unit = serializers.CharField(max_length=8, help_text="'tokens' or the agreement's currency code.")
    amount = serializers.DecimalField(max_digits=26, decimal_places=6)
    period = serializers.ChoiceField(choices=Commitment.Period.choices, default=Commitment.Period.ANNUAL)
    token_classes = serializers.ListField(child=serializers.ChoiceField(choices=TokenClass.choices), default=list)
    treatment = serializers.ChoiceField(choices=Commitment.Treatment.choices, default=Commitment.Treatment.TAKE_OR_PAY)
    shortfall_price = serializers.DecimalField(
        max_digits=18, decimal_places=6, required=False, allow_null=True, default=None
    )
    shortfall_allocation = serializers.ChoiceField(
        choices=Commitment.Allocation.choices, default=Commitment.Allocation.CENTRAL
    )
    central_department = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.all(), required=False, allow_null=True, default=None
    )


class SlaBandSerializer(serializers.Serializer):
    breach_over = serializers.DecimalField(max_digits=14, decimal_places=4)
    credit_percent = serializers.DecimalField(max_digits=5, decimal_places=2)


class SlaClauseSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False)
    metric = serializers.ChoiceField(choices=SlaClause.Metric.choices)
    models = serializers.ListField(child=serializers.CharField(max_length=200), default=list)
    target = serializers.DecimalField(max_digits=14, decimal_places=4)
    bands = SlaBandSerializer(many=True, allow_empty=True)
    cap_percent = serializers.DecimalField(max_digits=5, decimal_places=2, default=100)
    claim_days = serializers.IntegerField(min_value=1, max_value=3650, default=30)


class AgreementSerializer(serializers.ModelSerializer):
    vendor = serializers.SlugRelatedField(slug_field="slug", queryset=Vendor.objects.all())
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)
    payment_terms_days = serializers.IntegerField(
        min_value=0, max_value=365, required=False, help_text="Default: the vendor's payment terms."
    )
    price_rules = PriceRuleSerializer(many=True, required=False)
    commitments = CommitmentSerializer(many=True, required=False)
    sla_clauses = SlaClauseSerializer(many=True, required=False)
    signed_document = serializers.SerializerMethodField()
    pending_approval = serializers.SerializerMethodField()

    class Meta:
        model = Agreement
        fields = [
            "reference",
            "vendor",
            "start",
            "end",
            "currency",
            "status",
            "payment_terms_days",
            "auto_renew",
            "notice_days",
            "po_number",
            "notes",
            "price_rules",
            "commitments",
            "sla_clauses",
            "signed_document",
            "pending_approval",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"reference": {"validators": []}}

    def get_signed_document(self, agreement) -> str | None:
        if not agreement.signed_document:
            return None
        return reverse("api:agreement-document", kwargs={"reference": agreement.reference})

    def get_pending_approval(self, agreement) -> int | None:
        """The four-eyes request waiting for a second person, if any."""
        return getattr(agreement, "pending_approval_id", None)

    def to_representation(self, agreement):
        data = super().to_representation(agreement)
        state = to_payload(state_of(agreement))  # nested lists as API.md shows them, ids kept
        for name in NESTED:
            data[name] = state[name]
        return data


class AgreementAmendmentSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = AgreementAmendment
        fields = ["number", "created_at", "changed_by", "approved_by", "approval", "summary", "changes", "rerate_from"]
        read_only_fields = fields


class PendingApprovalSerializer(serializers.Serializer):
    message = serializers.CharField()
    approval = serializers.IntegerField()
    agreement = AgreementSerializer()


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
