"""One CRM record within a member's data scope: own, department tree, all; and never
another workspace's, even by id."""

from __future__ import annotations

import uuid

from core import roles
from core.errors import NotFound
from modules.crm.access import scoped_get
from modules.crm.models import Lead
from tests.modules.crm.conftest import SalesFloor


async def _lead(floor: SalesFloor, owner, name: str) -> uuid.UUID:
    async with floor.session() as session:
        lead = Lead(
            number=f"LD-{name}",
            name=name,
            owner_id=owner.user_id,
            department_id=owner.department_id,
        )
        session.add(lead)
        await session.flush()
        return lead.id


async def _sees(floor: SalesFloor, actor, lead_id: uuid.UUID) -> bool:
    async with floor.session() as session:
        try:
            await scoped_get(session, actor, Lead, "crm.lead", lead_id, "No lead {id}.")
        except NotFound:
            return False
        return True


async def test_scopes_decide_which_leads_a_member_sees(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    east = await floor.department("East", sales)
    wei = await floor.member("Wei", department=east)  # the Member role: own leads
    li = await floor.member("Li", department=sales)
    boss = await floor.manager("Boss", sales)  # the sales department and below
    admin = await floor.member("Admin", role=roles.ADMIN)
    weis, lis = await _lead(floor, wei, "weis"), await _lead(floor, li, "lis")

    assert [await _sees(floor, wei, lead) for lead in (weis, lis)] == [True, False]
    assert [await _sees(floor, li, lead) for lead in (weis, lis)] == [False, True]
    assert [await _sees(floor, boss, lead) for lead in (weis, lis)] == [True, True]
    assert [await _sees(floor, admin, lead) for lead in (weis, lis)] == [True, True]

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    assert not await _sees(other_floor, stranger, weis)  # RLS and the tenant criterion
