"""The organisation: a department tree that moves as a whole, positions, reporting lines."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import organisation
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.identity import accounts
from core.models import Department, Membership


@pytest.fixture
async def acme(make_tenant):
    return await make_tenant("acme-org")


async def _paths(session) -> dict[str, str]:
    rows = await session.execute(select(Department.name, Department.path, Department.id))
    names = {str(r.id): r.name for r in rows}
    rows = await session.execute(select(Department.name, Department.path))
    return {r.name: "/".join(names[p] for p in r.path.strip("/").split("/")) for r in rows}


async def test_a_department_moves_with_everything_below_it(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        head = await organisation.create_department(session, "Head office")
        sales = await organisation.create_department(session, "Sales", head.id)
        east = await organisation.create_department(session, "East", sales.id)
        await organisation.create_department(session, "Shanghai", east.id)
        ops = await organisation.create_department(session, "Operations", head.id)
        assert (await _paths(session))["Shanghai"] == "Head office/Sales/East/Shanghai"

        await organisation.move_department(session, east.id, ops.id)
        paths = await _paths(session)
        assert paths["East"] == "Head office/Operations/East"
        assert paths["Shanghai"] == "Head office/Operations/East/Shanghai"
        assert paths["Sales"] == "Head office/Sales"
        assert set(await organisation.subtree_ids(session, ops.id)) == {
            ops.id,
            east.id,
            *(
                d.id
                for d in await session.scalars(
                    select(Department).where(Department.name == "Shanghai")
                )
            ),
        }

        await organisation.move_department(session, east.id, None)
        assert (await _paths(session))["Shanghai"] == "East/Shanghai"


async def test_a_department_cannot_move_under_itself(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        top = await organisation.create_department(session, "Top")
        below = await organisation.create_department(session, "Below", top.id)
        for target in (top.id, below.id):
            with pytest.raises(Conflict, match="under itself"):
                await organisation.move_department(session, top.id, target)


async def test_names_are_unique_among_siblings_and_depth_is_bounded(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        a = await organisation.create_department(session, "A")
        await organisation.create_department(session, "Team", a.id)
        with pytest.raises(Conflict, match="already a department called Team"):
            await organisation.create_department(session, "Team", a.id)
        b = await organisation.create_department(session, "B")
        assert (await organisation.create_department(session, "Team", b.id)).name == "Team"
        with pytest.raises(Conflict):
            await organisation.create_department(session, "A")  # two roots alike, too
        parent = b
        for level in range(organisation.MAX_DEPTH - 1):
            parent = await organisation.create_department(session, f"L{level}", parent.id)
        with pytest.raises(ValidationFailed, match="at most 12 levels"):
            await organisation.create_department(session, "Too deep", parent.id)
        with pytest.raises(ValidationFailed, match="at most 12 levels"):
            await organisation.move_department(session, a.id, parent.id)


async def test_only_empty_departments_are_deleted(db: Database, acme, make_tenant) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        top = await organisation.create_department(session, "Top")
        child = await organisation.create_department(session, "Child", top.id)
        with pytest.raises(Conflict, match="Move the departments and members out of Top"):
            await organisation.delete_department(session, top.id)
        await organisation.delete_department(session, child.id)
        await organisation.delete_department(session, top.id)
        assert (await session.scalars(select(Department))).all() == []


async def test_members_are_placed_and_reporting_lines_never_loop(db: Database, acme) -> None:
    async with db.global_transaction() as session:
        users = [
            await accounts.register(
                session,
                email=f"{n}@acme.test",
                password="correct horse battery staple",
                display_name=n,
            )
            for n in ("boss", "lead", "clerk")
        ]
    async with db.tenant_transaction(acme.tenant_id) as session:
        members = []
        for user in users:
            member = Membership(user_id=user.id, role="member")
            session.add(member)
            members.append(member)
        await session.flush()
        boss, lead, clerk = members
        sales = await organisation.create_department(session, "Sales")
        manager = await organisation.create_position(session, "Sales manager")
        with pytest.raises(Conflict, match="already a position"):
            await organisation.create_position(session, "Sales manager")

        await organisation.place_member(
            session, lead.id, department_id=sales.id, manager_id=boss.id, position_id=manager.id
        )
        await organisation.place_member(
            session, clerk.id, department_id=sales.id, manager_id=lead.id
        )
        assert await organisation.manager_chain(session, clerk.id, 5) == [lead.id, boss.id]
        assert await organisation.manager_chain(session, clerk.id, 1) == [lead.id]
        with pytest.raises(Conflict, match="to themselves"):
            await organisation.place_member(
                session, boss.id, department_id=None, manager_id=clerk.id
            )
        with pytest.raises(Conflict, match="to themselves"):
            await organisation.place_member(
                session, boss.id, department_id=None, manager_id=boss.id
            )
        with pytest.raises(Conflict, match="members out of Sales"):
            await organisation.delete_department(session, sales.id)


async def test_another_tenants_department_is_out_of_reach(db: Database, acme, make_tenant) -> None:
    other = await make_tenant("other-org")
    async with db.tenant_transaction(other.tenant_id) as session:
        theirs = await organisation.create_department(session, "Theirs")
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(NotFound):
            await organisation.create_department(session, "Ours", theirs.id)
        with pytest.raises(NotFound):
            await organisation.subtree_ids(session, theirs.id)
