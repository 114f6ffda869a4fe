"""The approval port with core's default rule (no approval engine enabled)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from core import approvals
from core.db import Database
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.models import ApprovalRequest, Membership, OutboxEvent
from core.orm import uuid7
from core.plugins.registry import ModuleRegistry


@pytest.fixture
async def workspace(make_tenant):
    return await make_tenant("approvers", "sample", owner_email="boss@approvers.test")


async def _owner_id(db: Database, tenant_id) -> object:
    async with db.tenant_transaction(tenant_id) as session:
        return await session.scalar(select(Membership.user_id).where(Membership.role == "owner"))


async def _ask(db, registry, ctx, amount, kind="sample.note"):
    owner = await _owner_id(db, ctx.tenant_id)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        request = await approvals.request_approval(
            session,
            ctx,
            registry,
            kind=kind,
            subject_type="sample.note",
            subject_id=uuid7(),
            requester_id=owner,
            amount=amount,
        )
        return request.id, request.status, request.engine


async def test_without_a_policy_every_request_waits_for_an_admin(
    db: Database, registry: ModuleRegistry, workspace
) -> None:
    _id, status, engine = await _ask(db, registry, workspace, Decimal("5.00"))
    assert (status, engine) == ("pending", "core")


async def test_below_the_tenant_amount_is_auto_approved_and_published(
    db: Database, registry: ModuleRegistry, workspace
) -> None:
    async with db.tenant_transaction(workspace.tenant_id) as session:
        await approvals.set_policy(session, Decimal("1000.00"))
    request_id, status, _engine = await _ask(db, registry, workspace, Decimal("999.99"))
    assert status == "approved"
    _id, at_limit, _engine = await _ask(db, registry, workspace, Decimal("1000.00"))
    assert at_limit == "pending"
    async with db.tenant_transaction(workspace.tenant_id) as session:
        events = (await session.scalars(select(OutboxEvent))).all()
        decided = [e for e in events if e.event_type == "core.approval_decided.v1"]
        assert len(decided) == 1
        assert decided[0].payload["request_id"] == str(request_id)
        assert decided[0].payload["approved"] is True


async def test_a_kind_rule_overrides_the_tenant_rule(
    db: Database, registry: ModuleRegistry, workspace
) -> None:
    async with db.tenant_transaction(workspace.tenant_id) as session:
        await approvals.set_policy(session, Decimal("1000.00"))
        await approvals.set_policy(session, None, kind="sample.note")
    _id, status, _engine = await _ask(db, registry, workspace, Decimal("1.00"))
    assert status == "pending"


async def test_an_admin_decides_and_a_member_may_not(
    db: Database, registry: ModuleRegistry, workspace
) -> None:
    request_id, _status, _engine = await _ask(db, registry, workspace, Decimal("50000.00"))
    owner = await _owner_id(db, workspace.tenant_id)
    async with db.tenant_transaction(workspace.tenant_id) as session:
        with pytest.raises(PermissionDenied):
            await approvals.decide(session, request_id, approver_id=uuid7(), approve=True)
    async with db.tenant_transaction(workspace.tenant_id) as session:
        decided = await approvals.decide(
            session, request_id, approver_id=owner, approve=False, comment="too dear"
        )
        assert (decided.status, decided.comment) == ("rejected", "too dear")
    async with db.tenant_transaction(workspace.tenant_id) as session:
        with pytest.raises(Conflict, match="already decided"):
            await approvals.decide(session, request_id, approver_id=owner, approve=True)
        stored = await session.get(ApprovalRequest, (workspace.tenant_id, request_id))
        assert stored is not None
        assert stored.status == "rejected"


async def test_unknown_kinds_and_float_amounts_are_refused(
    db: Database, registry: ModuleRegistry, workspace
) -> None:
    with pytest.raises(ValidationFailed, match="Unknown approval kind"):
        await _ask(db, registry, workspace, Decimal("1"), kind="sample.nothing")
    with pytest.raises(ValidationFailed, match="Decimal"):
        await _ask(db, registry, workspace, 12.5)


async def test_negative_policy_amount_is_refused(db: Database, workspace) -> None:
    async with db.tenant_transaction(workspace.tenant_id) as session:
        with pytest.raises(ValidationFailed):
            await approvals.set_policy(session, Decimal("-1"))
