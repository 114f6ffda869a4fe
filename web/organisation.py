"""The organisation as JSON: the department tree, positions, and where each member sits.

Mounted with ``workspace_routers``, so every route is behind the tenant guard.
Reading needs ``core.member.read`` (every member has it); changing anything
needs ``core.organisation.manage`` (owners and admins have it). The business
rules (no move under one's own subtree, no reporting loop, only empty
departments and unheld positions deleted) live in :mod:`core.organisation`,
which also writes every change to the audit log. The browser's tree editor
is issue #4's.
"""

from __future__ import annotations

import uuid

import msgspec
from litestar import delete, get, patch, post, put
from litestar.params import FromPath, JSONBody
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.models import Membership, Position
from core.organisation import DepartmentNode
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

READ, MANAGE = "core.member.read", "core.organisation.manage"


class DepartmentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    parent_id: uuid.UUID | None
    path: list[uuid.UUID]  # ids from the top down to this department, itself included
    depth: int  # 0 at the top
    member_count: int  # active members placed directly here
    # Deactivated members keep their department; a department with any is not deleted.
    deactivated_member_count: int


class DepartmentIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    parent_id: uuid.UUID | None = None  # None: at the top


class DepartmentChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change; a field left out stays. ``parent_id: null`` moves it to the top."""

    name: str | UnsetType = UNSET
    parent_id: uuid.UUID | UnsetType | None = UNSET


class PositionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    member_count: int  # members holding it, deactivated ones too


class PositionIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str


class PlacementIn(msgspec.Struct, frozen=True, kw_only=True):
    """Where a member sits; each field left out (or null) is cleared."""

    department_id: uuid.UUID | None = None
    manager_id: uuid.UUID | None = None  # a membership id
    position_id: uuid.UUID | None = None


class PlacementOut(msgspec.Struct, frozen=True, kw_only=True):
    membership_id: uuid.UUID
    department_id: uuid.UUID | None
    manager_id: uuid.UUID | None
    position_id: uuid.UUID | None


def _department_out(node: DepartmentNode) -> DepartmentOut:
    department = node.department
    return DepartmentOut(
        id=department.id,
        name=department.name,
        parent_id=department.parent_id,
        path=node.path,
        depth=node.depth,
        member_count=node.member_count,
        deactivated_member_count=node.deactivated_member_count,
    )


async def _one_department(session: AsyncSession, department_id: uuid.UUID) -> DepartmentOut:
    [node] = await organisation.departments(session, department_id=department_id)
    return _department_out(node)


def _position_out(position: Position, member_count: int) -> PositionOut:
    return PositionOut(id=position.id, name=position.name, member_count=member_count)


def _placement_out(member: Membership) -> PlacementOut:
    return PlacementOut(
        membership_id=member.id,
        department_id=member.department_id,
        manager_id=member.manager_id,
        position_id=member.position_id,
    )


# --- departments --------------------------------------------------------------------------


@get("/departments", guards=[requires(READ)], summary="The department tree, depth first")
async def list_departments(session: DbSession) -> list[DepartmentOut]:
    """Every department, each followed by those below it; siblings by name."""
    return [_department_out(node) for node in await organisation.departments(session)]


@post("/departments", guards=[requires(MANAGE)], summary="Create a department")
async def create_department(
    session: DbSession, actor: CurrentActor, data: JSONBody[DepartmentIn]
) -> DepartmentOut:
    department = await organisation.create_department(
        session, data.name, data.parent_id, actor_id=actor.user_id
    )
    return await _one_department(session, department.id)


@get(
    "/departments/{department_id:uuid}",
    guards=[requires(READ)],
    summary="A department",
)
async def get_department(session: DbSession, department_id: FromPath[uuid.UUID]) -> DepartmentOut:
    return await _one_department(session, department_id)


@patch(
    "/departments/{department_id:uuid}",
    guards=[requires(MANAGE)],
    summary="Rename a department, or move it with everything below it",
)
async def update_department(
    session: DbSession,
    actor: CurrentActor,
    department_id: FromPath[uuid.UUID],
    data: JSONBody[DepartmentChanges],
) -> DepartmentOut:
    """Moving it under itself or one of its own departments is refused (409)."""
    await organisation.update_department(
        session, department_id, name=data.name, parent_id=data.parent_id, actor_id=actor.user_id
    )
    return await _one_department(session, department_id)


@delete(
    "/departments/{department_id:uuid}",
    guards=[requires(MANAGE)],
    summary="Delete an empty department",
)
async def delete_department(
    session: DbSession, actor: CurrentActor, department_id: FromPath[uuid.UUID]
) -> None:
    """Refused (409) while departments or members (deactivated ones too) are in it."""
    await organisation.delete_department(session, department_id, actor_id=actor.user_id)


# --- positions ----------------------------------------------------------------------------


@get("/positions", guards=[requires(READ)], summary="Positions by name")
async def list_positions(session: DbSession) -> list[PositionOut]:
    return [_position_out(p, count) for p, count in await organisation.positions(session)]


@post("/positions", guards=[requires(MANAGE)], summary="Create a position")
async def create_position(
    session: DbSession, actor: CurrentActor, data: JSONBody[PositionIn]
) -> PositionOut:
    position = await organisation.create_position(session, data.name, actor_id=actor.user_id)
    return _position_out(position, 0)


@patch("/positions/{position_id:uuid}", guards=[requires(MANAGE)], summary="Rename a position")
async def rename_position(
    session: DbSession,
    actor: CurrentActor,
    position_id: FromPath[uuid.UUID],
    data: JSONBody[PositionIn],
) -> PositionOut:
    await organisation.rename_position(session, position_id, data.name, actor_id=actor.user_id)
    [(position, count)] = await organisation.positions(session, position_id=position_id)
    return _position_out(position, count)


@delete(
    "/positions/{position_id:uuid}",
    guards=[requires(MANAGE)],
    summary="Delete a position nobody holds",
)
async def delete_position(
    session: DbSession, actor: CurrentActor, position_id: FromPath[uuid.UUID]
) -> None:
    await organisation.delete_position(session, position_id, actor_id=actor.user_id)


# --- where a member sits ------------------------------------------------------------------


@get(
    "/members/{membership_id:uuid}/placement",
    guards=[requires(READ)],
    summary="A member's department, manager and position",
)
async def get_placement(session: DbSession, membership_id: FromPath[uuid.UUID]) -> PlacementOut:
    return _placement_out(await organisation.placement(session, membership_id))


@put(
    "/members/{membership_id:uuid}/placement",
    guards=[requires(MANAGE)],
    summary="Set a member's department, manager and position",
)
async def place_member(
    session: DbSession,
    actor: CurrentActor,
    membership_id: FromPath[uuid.UUID],
    data: JSONBody[PlacementIn],
) -> PlacementOut:
    """A manager who reports, directly or not, to this member is refused (409)."""
    member = await organisation.place_member(
        session,
        membership_id,
        department_id=data.department_id,
        manager_id=data.manager_id,
        position_id=data.position_id,
        actor_id=actor.user_id,
    )
    return _placement_out(member)


API = [
    list_departments,
    create_department,
    get_department,
    update_department,
    delete_department,
    list_positions,
    create_position,
    rename_position,
    delete_position,
    get_placement,
    place_member,
]
