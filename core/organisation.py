"""The organisation: a department tree, positions, and where each member sits.

Departments carry a materialised path (``/root/child/``): "a department and
everything below it" is a prefix match on an indexed column, and moving a
department rewrites its subtree's paths in one statement. Changes to the
tree take a per-tenant advisory lock, so two admins reorganising at once are
serialised while other tenants are not touched.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Department, Membership, Position
from core.orm import uuid7

MAX_DEPTH = 12  # deeper than any SME's chart; keeps paths and manager chains bounded


def _depth(path: str) -> int:
    return path.count("/") - 1


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


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A name has 1 to 100 characters.")
    return name


async def create_department(
    session: AsyncSession, name: str, parent_id: uuid.UUID | None = None
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
        raise Conflict("There is already a department called {name} here.", name=name)
    return department


async def move_department(
    session: AsyncSession, department_id: uuid.UUID, new_parent_id: uuid.UUID | None
) -> Department:
    """Put a department (with everything below it) under another, or at the top."""
    await _lock_tree(session)
    department = await _department(session, department_id)
    old_path = department.path
    new_parent_path = "/"
    if new_parent_id is not None:
        new_parent_path = (await _department(session, new_parent_id)).path
        if new_parent_path.startswith(old_path):
            raise Conflict("A department cannot move under itself or one of its own.")
    new_path = f"{new_parent_path}{department.id}/"
    subtree = list(await session.scalars(select(Department.path).where(_under(old_path))))
    deepest = max(_depth(p) for p in subtree) + _depth(new_path) - _depth(old_path)
    if deepest > MAX_DEPTH:
        raise ValidationFailed("Departments nest at most {depth} levels.", depth=MAX_DEPTH)
    await session.execute(
        update(Department)
        .where(_under(old_path))
        .values(path=literal(new_path).concat(func.substr(Department.path, len(old_path) + 1)))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Department).where(Department.id == department.id).values(parent_id=new_parent_id)
    )
    await session.refresh(department)
    return department


async def subtree_ids(session: AsyncSession, department_id: uuid.UUID) -> list[uuid.UUID]:
    """The department and every department below it (for "own department and below")."""
    path = (await _department(session, department_id)).path
    return list(await session.scalars(select(Department.id).where(_under(path))))


async def delete_department(session: AsyncSession, department_id: uuid.UUID) -> None:
    """Delete an empty department: no departments below it, no members in it."""
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


async def create_position(session: AsyncSession, name: str) -> Position:
    position = Position(name=_name(name))
    if not await add_unique(session, position):
        raise Conflict("There is already a position called {name}.", name=name)
    return position


async def place_member(
    session: AsyncSession,
    membership_id: uuid.UUID,
    *,
    department_id: uuid.UUID | None,
    manager_id: uuid.UUID | None = None,
    position_id: uuid.UUID | None = None,
) -> Membership:
    """Set a member's department, manager and position; a manager chain never loops."""
    member = await session.scalar(select(Membership).where(Membership.id == membership_id))
    if member is None:
        raise NotFound("No member {id}.", id=str(membership_id))
    if department_id is not None:
        await _department(session, department_id)
    if (
        position_id is not None
        and await session.get(Position, (member.tenant_id, position_id)) is None
    ):
        raise NotFound("No position {id}.", id=str(position_id))
    await _check_manager_chain(session, member.id, manager_id)
    member.department_id = department_id
    member.manager_id = manager_id
    member.position_id = position_id
    await session.flush()
    return member


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
