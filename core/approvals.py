"""The approval port: a module asks, an engine (or the default rule) decides.

``request_approval`` records a pending request for a declared approval kind.
If an enabled module offers an engine (``atrium_approval_engine``, the OA
module's workflow), the engine takes it; otherwise core's default rule
applies: auto-approve below the tenant's amount, else any owner or admin
decides with :func:`decide`. Every decision is published as
``core.approval_decided.v1`` in the deciding transaction, so the requesting
module learns it through the outbox like any other event. :func:`waiting` lists
what waits for core's rule, for the approvers' page (``/t/{slug}/approvals``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import Event, publish
from core.i18n import gettext
from core.models import ApprovalPolicy, ApprovalRequest, Membership, User
from core.plugins.registry import ModuleRegistry
from core.reads import write_now

APPROVER_ROLES = ("owner", "admin")
CORE_ENGINE = "core"


class ApprovalDecided(Event, frozen=True, kw_only=True):
    type_name = "core.approval_decided.v1"

    request_id: uuid.UUID
    kind: str
    subject_type: str
    subject_id: uuid.UUID
    approved: bool
    decided_by: uuid.UUID | None = None  # None: decided by a rule, not a person
    comment: str | None = None


class ApprovalEngine(Protocol):
    """What the OA module plugs in: it receives pending requests and later finishes them."""

    key: str

    async def submit(
        self, session: AsyncSession, ctx: TenantContext, request: ApprovalRequest
    ) -> None: ...


async def request_approval(
    session: AsyncSession,
    ctx: TenantContext,
    registry: ModuleRegistry,
    *,
    kind: str,
    subject_type: str,
    subject_id: uuid.UUID,
    requester_id: uuid.UUID,
    amount: Decimal | None = None,
    fields: dict[str, Any] | None = None,
) -> ApprovalRequest:
    """Ask for approval of ``kind`` on a record; returns the request (maybe already decided)."""
    declared = registry.approval_kind(kind)
    if declared is None:
        raise ValidationFailed("Unknown approval kind {kind}.", kind=kind)
    if amount is not None and not isinstance(amount, Decimal):
        raise ValidationFailed("An approval amount must be a Decimal.")
    engine = registry.hooks_for(ctx.enabled).atrium_approval_engine(ctx=ctx)
    request = ApprovalRequest(
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        requester_id=requester_id,
        amount=amount,
        fields=_jsonable(fields or {}),
        engine=engine.key if engine else CORE_ENGINE,
    )
    session.add(request)
    await session.flush()
    if engine is not None:
        await engine.submit(session, ctx, request)
    elif await _below_auto_approval(session, kind, amount):
        # Stored text, like a person's comment: written in the requester's language.
        comment = gettext("Approved automatically: the amount is below the workspace's limit.")
        await finish_request(session, request, approved=True, comment=comment)
    return request


async def decide(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    approver_id: uuid.UUID,
    approve: bool,
    comment: str | None = None,
) -> ApprovalRequest:
    """An owner or admin decides a pending request under core's default rule."""
    request = await session.scalar(
        select(ApprovalRequest).where(ApprovalRequest.id == request_id).with_for_update()
    )
    if request is None:
        raise NotFound("No approval request {id}.", id=str(request_id))
    if request.engine != CORE_ENGINE:
        raise Conflict(
            "This request is handled by the {engine} approval flow.", engine=request.engine
        )
    if not await is_approver(session, approver_id):
        raise PermissionDenied("Only an owner or admin of this workspace can decide approvals.")
    return await finish_request(
        session, request, approved=approve, decided_by=approver_id, comment=comment
    )


async def finish_request(
    session: AsyncSession,
    request: ApprovalRequest,
    *,
    approved: bool,
    decided_by: uuid.UUID | None = None,
    comment: str | None = None,
) -> ApprovalRequest:
    """Record the decision and publish it; for engines and the default rule alike."""
    if request.status != "pending":
        raise Conflict("This request was already decided: {status}.", status=request.status)
    await write_now(
        session,
        request,
        status="approved" if approved else "rejected",
        decided_by=decided_by,
        decided_at=datetime.now(UTC),
        comment=comment,
    )
    await publish(
        session,
        ApprovalDecided(
            request_id=request.id,
            kind=request.kind,
            subject_type=request.subject_type,
            subject_id=request.subject_id,
            approved=approved,
            decided_by=decided_by,
            comment=comment,
        ),
    )
    return request


async def set_policy(
    session: AsyncSession, auto_approve_below: Decimal | None, kind: str | None = None
) -> ApprovalPolicy:
    """Set the tenant's auto-approval amount, for every kind or for one."""
    if auto_approve_below is not None and auto_approve_below < 0:
        raise ValidationFailed("The auto-approval amount cannot be negative.")
    policy = await session.scalar(select(ApprovalPolicy).where(_kind_is(kind)).with_for_update())
    if policy is None:
        policy = ApprovalPolicy(kind=kind)
        session.add(policy)
    policy.auto_approve_below = auto_approve_below
    await session.flush()
    return policy


async def _below_auto_approval(session: AsyncSession, kind: str, amount: Decimal | None) -> bool:
    if amount is None:
        return False
    rows = (
        await session.execute(
            select(ApprovalPolicy.kind, ApprovalPolicy.auto_approve_below).where(
                (ApprovalPolicy.kind == kind) | ApprovalPolicy.kind.is_(None)
            )
        )
    ).all()
    # A kind's own rule overrides the tenant-wide one.
    limits = {row.kind: row.auto_approve_below for row in rows}
    limit = limits.get(kind, limits.get(None))
    return limit is not None and amount < limit


def _kind_is(kind: str | None) -> Any:
    return ApprovalPolicy.kind.is_(None) if kind is None else ApprovalPolicy.kind == kind


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Decimal | uuid.UUID) else v for k, v in fields.items()}


@dataclass(frozen=True, slots=True)
class Waiting:
    """A request waiting for core's rule, as its approvers' list shows it."""

    request: ApprovalRequest
    requester_name: str


#: The waiting requests one page lists, oldest first (the count in the menu says if more).
WAITING_SHOWN = 200


async def is_approver(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether the member decides requests under core's rule: an owner or admin."""
    role = await session.scalar(
        select(Membership.role).where(Membership.user_id == user_id, Membership.active.is_(True))
    )
    return role in APPROVER_ROLES


async def waiting(session: AsyncSession, user_id: uuid.UUID) -> list[Waiting]:
    """The pending requests core's rule holds, oldest first, for an owner or admin; nothing
    for anyone else (an approval flow module's requests wait in its own inbox)."""
    if not await is_approver(session, user_id):
        return []
    rows = await session.execute(
        select(ApprovalRequest, func.coalesce(User.display_name, ""))
        .join(User, User.id == ApprovalRequest.requester_id)
        .where(ApprovalRequest.status == "pending", ApprovalRequest.engine == CORE_ENGINE)
        .order_by(ApprovalRequest.created_at, ApprovalRequest.id)
        .limit(WAITING_SHOWN)
    )
    return [Waiting(request, name) for request, name in rows]
