"""A CRM workspace to act in: members made the real way (memberships, built-in and custom
roles, departments) and their actors resolved as a request would (``core.roles``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from core import organisation, roles
from core.context import TenantContext
from core.db import Database
from core.models import Department, MemberRole, Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.crm import permissions as codes

#: A sales manager: every CRM right, seeing their department and those below it.
MANAGER_SCOPES = {
    "crm.lead": "department_tree",
    "crm.customer": "department_tree",
    "crm.opportunity": "department_tree",
    "crm.quote": "department_tree",
    "crm.contract": "department_tree",
    "crm.payment": "department_tree",
    "crm.ticket": "department_tree",
    "crm.target": "department_tree",
    "crm.report": "department_tree",
    "core.party": "department_tree",
}


@dataclass
class SalesFloor:
    """A workspace with CRM on, and a way to add people to it."""

    db: Database
    registry: ModuleRegistry
    ctx: TenantContext

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.ctx.tenant_id

    def session(self):
        return self.db.tenant_transaction(self.ctx.tenant_id)

    async def department(self, name: str, parent: uuid.UUID | None = None) -> uuid.UUID:
        async with self.session() as session:
            made: Department = await organisation.create_department(
                session, name=name, parent_id=parent
            )
            return made.id

    async def member(
        self,
        name: str,
        *,
        role: str = roles.MEMBER,
        department: uuid.UUID | None = None,
        custom: Sequence[str] = (),
        custom_scopes: Mapping[str, str] | None = None,
    ) -> Actor:
        """A new member; ``custom`` codes go into a custom role with ``custom_scopes``."""
        async with self.db.global_transaction() as session:
            user = User(email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@crm.test", display_name=name)
            session.add(user)
        async with self.session() as session:
            membership = Membership(user_id=user.id, role=role, department_id=department)
            session.add(membership)
            await session.flush()
            if custom:
                made = await roles.create_role(
                    session,
                    self.registry,
                    name=f"{name} role {uuid.uuid4().hex[:4]}",
                    permissions=custom,
                    scopes=custom_scopes or {},
                )
                session.add(MemberRole(membership_id=membership.id, role_id=made.id))
        return await self.actor(membership.id)

    async def manager(self, name: str, department: uuid.UUID) -> Actor:
        """A member with the sales manager's role over ``department`` and below."""
        every = [p.code for p in codes.PERMISSIONS] + ["core.party.read", "core.party.write"]
        return await self.member(
            name, department=department, custom=every, custom_scopes=MANAGER_SCOPES
        )

    async def actor(self, membership_id: uuid.UUID) -> Actor:
        """The member's rights now, as a request would resolve them."""
        async with self.session() as session:
            membership = await session.get(Membership, (self.ctx.tenant_id, membership_id))
            assert membership is not None
            return await roles.member_actor(session, self.registry, membership)


@pytest.fixture
async def floor(db: Database, make_tenant, registry: ModuleRegistry) -> SalesFloor:
    """Workspace "acme" with CRM on, seeded (CNY/EUR, units, tax rates)."""
    return SalesFloor(db, registry, await make_tenant("acme", "crm", seed=True))


@pytest.fixture
async def other_floor(db: Database, make_tenant, registry: ModuleRegistry) -> SalesFloor:
    """A second CRM workspace, for the two-tenant tests."""
    return SalesFloor(db, registry, await make_tenant("bolt", "crm", seed=True))
