"""An OA workspace to act in: people placed in departments with managers (the real way:
memberships and ``core.organisation``), approval flows saved through the service, and
approvals requested through core's port (``core.approvals.request_approval``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import organisation, roles
from core.approvals import request_approval
from core.db import Database
from core.models import ApprovalRequest
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa.models import ApprovalAction, ApprovalInstance, ApprovalTask
from modules.oa.services import engine, flows
from modules.oa.services.flows import FlowIn, StepIn
from tests.modules.crm.conftest import SalesFloor

#: The approval kind the tests ask for: CRM's contract approval (fields amount, discount).
KIND = "crm.contract"


@dataclass
class Office(SalesFloor):
    """A workspace with OA on, and a way to add people to it and ask for approvals."""

    async def person(
        self,
        name: str,
        *,
        role: str = roles.MEMBER,
        department: uuid.UUID | None = None,
        manager: Actor | None = None,
    ) -> Actor:
        """A member placed in ``department``, reporting to ``manager``."""
        made = await self.member(name, role=role, department=department)
        if manager is not None:
            async with self.session() as session:
                await organisation.place_member(
                    session,
                    made.membership_id,
                    department_id=department,
                    manager_id=manager.membership_id,
                )
        return made

    async def flow(self, *steps: StepIn, kind: str = KIND, **options: Any) -> int:
        """Save a flow for ``kind``; returns its version."""
        async with self.session() as session:
            saved = await flows.save_flow(
                session, self.registry, kind, FlowIn(steps=tuple(steps), **options)
            )
            return saved.version

    async def ask(
        self, requester: Actor, amount: str | None = "5000", **fields: Any
    ) -> ApprovalRequest:
        """Ask for approval of a (made-up) contract through core's port."""
        given: dict[str, Any] = dict(fields)
        if amount is not None:
            given["amount"] = Decimal(amount)
        async with self.session() as session:
            return await request_approval(
                session,
                self.ctx,
                self.registry,
                kind=KIND,
                subject_type="crm.contract",
                subject_id=uuid.uuid4(),
                requester_id=requester.user_id,
                amount=None if amount is None else Decimal(amount),
                fields=given,
            )


@pytest.fixture
async def office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    """Workspace "acme" with OA on."""
    return Office(db, registry, await make_tenant("acme", "oa"))


@pytest.fixture
async def other_office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    """A second OA workspace, for the two-tenant tests."""
    return Office(db, registry, await make_tenant("bolt", "oa"))


async def instance_of(office: Office, request: ApprovalRequest) -> ApprovalInstance:
    async with office.session() as session:
        found = await session.scalar(
            select(ApprovalInstance).where(ApprovalInstance.request_id == request.id)
        )
        assert found is not None
        return found


async def waiting(office: Office, request: ApprovalRequest) -> set[uuid.UUID]:
    """Who the approval waits for now (user ids)."""
    instance = await instance_of(office, request)
    async with office.session() as session:
        rows = await session.scalars(
            select(ApprovalTask.assignee_id).where(
                ApprovalTask.instance_id == instance.id,
                ApprovalTask.step == instance.current_step,
                ApprovalTask.role == "approve",
                ApprovalTask.status == "pending",
            )
        )
        return set(rows) if instance.status == "pending" else set()


async def decide(
    office: Office, who: Actor, request: ApprovalRequest, approve: bool = True, comment: str = ""
) -> None:
    instance = await instance_of(office, request)
    async with office.session() as session:
        await engine.decide(session, instance.id, who.user_id, approve=approve, comment=comment)


async def request_status(office: Office, request: ApprovalRequest) -> str:
    async with office.session() as session:
        found = await session.get(ApprovalRequest, (office.tenant_id, request.id))
        assert found is not None
        return found.status


async def timeline(office: Office, request: ApprovalRequest) -> list[str]:
    """The instance's actions, oldest first."""
    instance = await instance_of(office, request)
    async with office.session() as session:
        rows = await session.scalars(
            select(ApprovalAction.action)
            .where(ApprovalAction.instance_id == instance.id)
            .order_by(ApprovalAction.id)
        )
        return list(rows)


def step(name: str = "Step", approvers: str = "member", **options: Any) -> StepIn:
    return StepIn(name=name, approvers=approvers, **options)
