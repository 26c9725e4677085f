"""Four-eyes approvals: a second person of the right role approves what the first one asked for.

A higher layer registers a handler per action (contracts registers "agreement.change"); this
module never imports it. The requester can never approve their own request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from core.exceptions import Conflict, Forbidden
from core.policy import can
from core.selectors import organization_settings

from .models import ApprovalRequest


@dataclass(frozen=True)
class Handler:
    apply: Callable[[ApprovalRequest, object], object]  # (request, approver) -> the changed object


_handlers: dict[str, Handler] = {}


def register(action: str, apply: Callable[[ApprovalRequest, object], object]) -> None:
    _handlers[action] = Handler(apply=apply)


def four_eyes_enabled() -> bool:
    return organization_settings().four_eyes_enabled


def approval_request_create(
    *, action: str, resource: str, object_key: str, summary: str, payload: dict, requested_by
) -> ApprovalRequest:
    if action not in _handlers:
        raise LookupError(f"No approval handler registered for {action!r}")
    request = ApprovalRequest(
        action=action,
        resource=resource,
        object_key=object_key,
        summary=summary,
        payload=payload,
        requested_by=requested_by,
    )
    request._history_user = requested_by
    request.save()
    return request


def _decide(request: ApprovalRequest, *, by, status: str, note: str) -> None:
    request.status = status
    request.decided_by = by
    request.decided_at = timezone.now()
    request.note = note
    request._history_user = by
    request.save()


@transaction.atomic
def approval_approve(*, request: ApprovalRequest, approver, note: str = ""):
    """Apply the change as the second person. Returns what the handler returns."""
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != ApprovalRequest.Status.PENDING:
        raise Conflict(f"Approval #{request.pk} is already {request.status}.")
    if approver.pk == request.requested_by_id:
        raise Forbidden("Four-eyes: a second person must approve; you asked for this change.")
    if not can(approver, request.resource, "approve"):
        raise Forbidden(f"Your role may not approve changes to {request.resource.replace('_', ' ')}s.")
    result = _handlers[request.action].apply(request, approver)
    _decide(request, by=approver, status=ApprovalRequest.Status.APPROVED, note=note)
    return result


@transaction.atomic
def approval_reject(*, request: ApprovalRequest, approver, note: str = "") -> ApprovalRequest:
    request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != ApprovalRequest.Status.PENDING:
        raise Conflict(f"Approval #{request.pk} is already {request.status}.")
    if approver.pk == request.requested_by_id:
        _decide(request, by=approver, status=ApprovalRequest.Status.CANCELLED, note=note or "withdrawn")
    elif not can(approver, request.resource, "approve"):
        raise Forbidden(f"Your role may not decide on changes to {request.resource.replace('_', ' ')}s.")
    else:
        _decide(request, by=approver, status=ApprovalRequest.Status.REJECTED, note=note)
    return request


def pending_for(*, resource: str, object_key: str):
    return ApprovalRequest.objects.filter(
        resource=resource, object_key=object_key, status=ApprovalRequest.Status.PENDING
    )
