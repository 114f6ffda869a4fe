"""The organisation: a department tree, positions, and where each member sits.

Departments carry a materialised path (``/root/child/``): "a department and
everything below it" is a prefix match on an indexed column, and moving a
department rewrites its subtree's paths in one statement. Changes to the
tree take a per-tenant advisory lock, so two admins reorganising at once are
serialised while other tenants are not touched.

Every change is written to the audit log in the same transaction
(``core.department.*``, ``core.position.*``, ``core.member.placed``), with the
acting user when the caller names one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET, UnsetType
from sqlalchemy import ColumnElement, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.db import add_unique, assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Department, Membership, Position
from core.orm import uuid7

MAX_DEPTH = 12  # deeper than any SME's chart; keeps paths and manager chains bounded


def _depth(path: str) -> int:
    return path.count("/") - 1


def path_ids(path: str) -> list[uuid.UUID]:
    """The ids in a materialised path, from the top down: ``/a/b/`` → ``[a, b]``."""
    return [uuid.UUID(part) for part in path.strip("/").split("/")]


def _under(path: str) -> ColumnElement[bool]:
    """Departments at ``path`` and below (a prefix match on the indexed path)."""
    return Department.path.startswith(path, autoescape=True)


async def _lock_tree(session: AsyncSession) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('org:' || current_setting('app.tenant_id')))")
    )


async def _department(session: AsyncSession, department_id: uuid.UUID) -> Department:
    department = await session.scalar(select(Department).where(Department.id == department_id))
    if department is None:
        raise NotFound("No department {id}.", id=str(department_id))
    return department


async def _position(session: AsyncSession, position_id: uuid.UUID) -> Position:
    position = await session.scalar(select(Position).where(Position.id == position_id))
    if position is None:
        raise NotFound("No position {id}.", id=str(position_id))
    return position


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A name has 1 to 100 characters.")
    return name


def _ref(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


# --- departments --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepartmentNode:
    """A department as the tree shows it: where it sits and who is placed in it."""

    department: Department
    depth: int  # 0 at the top
    path: list[uuid.UUID]  # ids from the top down to this department, itself included
    member_count: int  # active members placed directly here
    deactivated_member_count: int  # deactivated members still placed here


async def departments(
    session: AsyncSession, *, department_id: uuid.UUID | None = None
) -> list[DepartmentNode]:
    """The whole tree depth first, siblings by name (or just ``department_id``'s node)."""
    counts = (
        select(
            Membership.department_id.label("department_id"),
            func.count().filter(Membership.active.is_(True)).label("active"),
            func.count().filter(Membership.active.is_(False)).label("deactivated"),
        )
        .where(Membership.department_id.is_not(None))
        .group_by(Membership.department_id)
        .subquery()
    )
    query = select(
        Department,
        func.coalesce(counts.c.active, 0),
        func.coalesce(counts.c.deactivated, 0),
    ).outerjoin(counts, counts.c.department_id == Department.id)
    if department_id is not None:
        query = query.where(Department.id == department_id)
    rows = (await session.execute(query)).all()
    if department_id is not None and not rows:
        raise NotFound("No department {id}.", id=str(department_id))
    names = {row[0].id: row[0].name.casefold() for row in rows}
    nodes = [
        DepartmentNode(
            department=department,
            depth=_depth(department.path) - 1,
            path=path_ids(department.path),
            member_count=active,
            deactivated_member_count=deactivated,
        )
        for department, active, deactivated in rows
    ]
    return sorted(nodes, key=lambda n: [(names.get(i, ""), i) for i in n.path])


async def create_department(
    session: AsyncSession,
    name: str,
    parent_id: uuid.UUID | None = None,
    *,
    actor_id: uuid.UUID | None = None,
) -> Department:
    await _lock_tree(session)
    parent_path = "/"
    if parent_id is not None:
        parent_path = (await _department(session, parent_id)).path
        if _depth(parent_path) >= MAX_DEPTH:
            raise ValidationFailed("Departments nest at most {depth} levels.", depth=MAX_DEPTH)
    department_id = uuid7()
    department = Department(
        id=department_id,
        name=_name(name),
        parent_id=parent_id,
        path=f"{parent_path}{department_id}/",
    )
    if not await add_unique(session, department):
        raise Conflict("There is already a department called {name} here.", name=department.name)
    await audit.record(
        session,
        "core.department.created",
        actor_id=actor_id,
        subject_type="core.department",
        subject_id=department.id,
        detail={"name": department.name, "parent_id": _ref(parent_id)},
    )
    return department


async def update_department(
    session: AsyncSession,
    department_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    parent_id: uuid.UUID | UnsetType | None = UNSET,
    actor_id: uuid.UUID | None = None,
) -> Department:
    """Rename a department, move it (with everything below it) under another department
    or to the top (``parent_id=None``), or both at once.

    Moving under itself or one of its own is refused, and so is a name its new
    siblings already have.
    """
    await _lock_tree(session)
    department = await _department(session, department_id)
    before = {"name": department.name, "parent_id": _ref(department.parent_id)}
    values: dict[str, Any] = {}
    if name is not UNSET:
        values["name"] = _name(name)
    old_path = new_path = department.path
    if parent_id is not UNSET and parent_id != department.parent_id:
        new_parent_path = "/"
        if parent_id is not None:
            new_parent_path = (await _department(session, parent_id)).path
            if new_parent_path.startswith(old_path):
                raise Conflict("A department cannot move under itself or one of its own.")
        new_path = f"{new_parent_path}{department.id}/"
        subtree = list(await session.scalars(select(Department.path).where(_under(old_path))))
        deepest = max(_depth(p) for p in subtree) + _depth(new_path) - _depth(old_path)
        if deepest > MAX_DEPTH:
            raise ValidationFailed("Departments nest at most {depth} levels.", depth=MAX_DEPTH)
        values["parent_id"] = parent_id
    # Name and parent in one savepoint: the unique key on (parent, name) refuses a clash
    # with the new siblings before any path is rewritten.
    if values and not await assign_unique(session, department, values):
        raise Conflict(
            "There is already a department called {name} here.",
            name=values.get("name", department.name),
        )
    if new_path != old_path:
        await session.execute(
            update(Department)
            .where(_under(old_path))
            .values(path=literal(new_path).concat(func.substr(Department.path, len(old_path) + 1)))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(department)
    after = {"name": department.name, "parent_id": _ref(department.parent_id)}
    if after != before:
        await audit.record(
            session,
            "core.department.changed",
            actor_id=actor_id,
            subject_type="core.department",
            subject_id=department.id,
            detail={"before": before, "after": after},
        )
    return department


async def move_department(
    session: AsyncSession,
    department_id: uuid.UUID,
    new_parent_id: uuid.UUID | None,
    *,
    actor_id: uuid.UUID | None = None,
) -> Department:
    """Put a department (with everything below it) under another, or at the top."""
    return await update_department(
        session, department_id, parent_id=new_parent_id, actor_id=actor_id
    )


async def subtree_ids(session: AsyncSession, department_id: uuid.UUID) -> list[uuid.UUID]:
    """The department and every department below it (for "own department and below")."""
    path = (await _department(session, department_id)).path
    return list(await session.scalars(select(Department.id).where(_under(path))))


async def delete_department(
    session: AsyncSession, department_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> None:
    """Delete an empty department: no departments below it, no members in it (deactivated
    members included: they keep their place, and their records stay with the department)."""
    await _lock_tree(session)
    department = await _department(session, department_id)
    children = await session.scalar(
        select(func.count()).select_from(Department).where(Department.parent_id == department.id)
    )
    members = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.department_id == department.id)
    )
    if children or members:
        raise Conflict(
            "Move the departments and members out of {name} first.", name=department.name
        )
    await session.delete(department)
    await session.flush()
    await audit.record(
        session,
        "core.department.deleted",
        actor_id=actor_id,
        subject_type="core.department",
        subject_id=department_id,
        detail={"name": department.name, "parent_id": _ref(department.parent_id)},
    )


# --- positions ----------------------------------------------------------------------------


async def positions(
    session: AsyncSession, *, position_id: uuid.UUID | None = None
) -> list[tuple[Position, int]]:
    """Every position by name (or just ``position_id``), with how many members hold it
    (deactivated ones too)."""
    query = (
        select(Position, func.count(Membership.id))
        .outerjoin(
            Membership,
            (Membership.tenant_id == Position.tenant_id) & (Membership.position_id == Position.id),
        )
        .group_by(Position.tenant_id, Position.id)
        .order_by(func.lower(Position.name), Position.id)
    )
    if position_id is not None:
        query = query.where(Position.id == position_id)
    rows = [(position, count) for position, count in await session.execute(query)]
    if position_id is not None and not rows:
        raise NotFound("No position {id}.", id=str(position_id))
    return rows


async def create_position(
    session: AsyncSession, name: str, *, actor_id: uuid.UUID | None = None
) -> Position:
    position = Position(name=_name(name))
    if not await add_unique(session, position):
        raise Conflict("There is already a position called {name}.", name=position.name)
    await audit.record(
        session,
        "core.position.created",
        actor_id=actor_id,
        subject_type="core.position",
        subject_id=position.id,
        detail={"name": position.name},
    )
    return position


async def rename_position(
    session: AsyncSession,
    position_id: uuid.UUID,
    name: str,
    *,
    actor_id: uuid.UUID | None = None,
) -> Position:
    position = await _position(session, position_id)
    before, name = position.name, _name(name)
    if not await assign_unique(session, position, {"name": name}):
        raise Conflict("There is already a position called {name}.", name=name)
    if name != before:
        await audit.record(
            session,
            "core.position.changed",
            actor_id=actor_id,
            subject_type="core.position",
            subject_id=position.id,
            detail={"before": {"name": before}, "after": {"name": name}},
        )
    return position


async def delete_position(
    session: AsyncSession, position_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> None:
    """Delete a position nobody holds (deactivated members included)."""
    position = await _position(session, position_id)
    held = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.position_id == position.id)
    )
    if held:
        raise Conflict(
            "Give the members who hold the position {name} another one first.",
            count=held,
            name=position.name,
        )
    await session.delete(position)
    await session.flush()
    await audit.record(
        session,
        "core.position.deleted",
        actor_id=actor_id,
        subject_type="core.position",
        subject_id=position_id,
        detail={"name": position.name},
    )


# --- members ------------------------------------------------------------------------------


async def placement(session: AsyncSession, membership_id: uuid.UUID) -> Membership:
    """The member, for where they sit (department, manager, position)."""
    member = await session.scalar(select(Membership).where(Membership.id == membership_id))
    if member is None:
        raise NotFound("No member {id}.", id=str(membership_id))
    return member


async def place_member(
    session: AsyncSession,
    membership_id: uuid.UUID,
    *,
    department_id: uuid.UUID | None,
    manager_id: uuid.UUID | None = None,
    position_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
) -> Membership:
    """Set a member's department, manager and position; a manager chain never loops."""
    member = await placement(session, membership_id)
    if department_id is not None:
        await _department(session, department_id)
    if position_id is not None:
        await _position(session, position_id)
    await _check_manager_chain(session, member.id, manager_id)
    before = _placed(member)
    member.department_id = department_id
    member.manager_id = manager_id
    member.position_id = position_id
    await session.flush()
    after = _placed(member)
    if after != before:
        await audit.record(
            session,
            "core.member.placed",
            actor_id=actor_id,
            subject_type="core.membership",
            subject_id=member.id,
            detail={"before": before, "after": after},
        )
    return member


def _placed(member: Membership) -> dict[str, str | None]:
    return {
        "department_id": _ref(member.department_id),
        "manager_id": _ref(member.manager_id),
        "position_id": _ref(member.position_id),
    }


async def _check_manager_chain(
    session: AsyncSession, member_id: uuid.UUID, manager_id: uuid.UUID | None
) -> None:
    seen: set[uuid.UUID] = set()
    current = manager_id
    while current is not None:
        if current == member_id:
            raise Conflict("A member cannot report, directly or not, to themselves.")
        if current in seen or len(seen) > 10 * MAX_DEPTH:
            raise Conflict("The reporting lines already loop; fix them first.")
        seen.add(current)
        manager = await session.scalar(select(Membership).where(Membership.id == current))
        if manager is None:
            raise NotFound("No member {id}.", id=str(current))
        current = manager.manager_id


async def manager_chain(
    session: AsyncSession, membership_id: uuid.UUID, levels: int
) -> list[uuid.UUID]:
    """The member's managers, nearest first, up to ``levels`` (for approvals N levels up)."""
    chain: list[uuid.UUID] = []
    current = await session.scalar(
        select(Membership.manager_id).where(Membership.id == membership_id)
    )
    while current is not None and len(chain) < levels:
        chain.append(current)
        current = await session.scalar(
            select(Membership.manager_id).where(Membership.id == current)
        )
    return chain
