"""Where new leads go: the first matching rule's team, round-robin to whoever waited longest
under their daily cap, unassigned (and still in a department) when nobody can take it;
held under concurrent creation by the team's row locks; never across workspaces."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import select, update

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import Membership
from core.permissions import Actor
from modules.crm.models import Lead, SalesTeamMember
from modules.crm.schemas.leads import (
    LeadIn,
    RuleChanges,
    RuleIn,
    TeamChanges,
    TeamIn,
    TeamMemberChanges,
    TeamMemberIn,
)
from modules.crm.services import assignment, leads
from tests.modules.crm.conftest import SalesFloor


async def make_team(
    floor: SalesFloor,
    admin: Actor,
    name: str,
    members: list[Actor],
    *,
    cap: int | None = None,
    department: uuid.UUID | None = None,
) -> uuid.UUID:
    async with floor.session() as session:
        team = await assignment.create_team(
            session, admin, TeamIn(name=name, department_id=department)
        )
        for member in members:
            await assignment.add_member(
                session, admin, team.id, TeamMemberIn(user_id=member.user_id, daily_cap=cap)
            )
        return team.id


async def make_rule(floor: SalesFloor, admin: Actor, team_id: uuid.UUID, **fields) -> uuid.UUID:
    async with floor.session() as session:
        rule = await assignment.create_rule(
            session, admin, RuleIn(name=fields.pop("name", "Rule"), team_id=team_id, **fields)
        )
        return rule.id


async def new_lead(floor: SalesFloor, actor: Actor, number: int = 0, **fields) -> Lead:
    async with floor.session() as session:
        return await leads.create_lead(
            session, actor, LeadIn(name=f"Lead {number}", allow_duplicates=True, **fields)
        )


@pytest.fixture
async def admin(floor: SalesFloor) -> Actor:
    return await floor.member("Admin", role=roles.ADMIN)


async def test_the_first_matching_rule_by_priority_chooses_the_team(
    floor: SalesFloor, admin: Actor
) -> None:
    east_dept = await floor.department("East")
    wei = await floor.member("Wei", department=east_dept)
    li = await floor.member("Li")
    zhao = await floor.member("Zhao")
    east = await make_team(floor, admin, "East", [wei])
    fairs = await make_team(floor, admin, "Fairs", [li])
    rest = await make_team(floor, admin, "Everyone else", [zhao])
    await make_rule(floor, admin, rest, name="Catch-all", priority=900)
    await make_rule(floor, admin, fairs, name="Fairs", priority=10, source="exhibition")
    await make_rule(floor, admin, east, name="East", priority=20, region="East China")

    from_fair = await new_lead(floor, admin, 1, source="exhibition", region="East China")
    from_east = await new_lead(floor, admin, 2, region="  east china ")
    other = await new_lead(floor, admin, 3, region="North")
    assert (from_fair.team_id, from_fair.owner_id) == (fairs, li.user_id)
    assert (from_east.team_id, from_east.owner_id) == (east, wei.user_id)
    assert from_east.department_id == east_dept  # the owner's department
    assert from_east.assigned_at is not None
    assert (other.team_id, other.owner_id) == (rest, zhao.user_id)

    # A switched-off rule or team no longer matches.
    async with floor.session() as session:
        fairs_rule = next(r for r in await assignment.rules(session) if r.name == "Fairs")
        await assignment.update_rule(session, admin, fairs_rule.id, RuleChanges(active=False))
        await assignment.update_team(session, admin, east, TeamChanges(active=False))
    again = await new_lead(floor, admin, 4, source="exhibition", region="East China")
    assert again.team_id == rest


async def test_round_robin_goes_to_the_longest_idle_under_the_daily_cap(
    floor: SalesFloor, admin: Actor
) -> None:
    a, b, c = [await floor.member(name) for name in ("Ann", "Bo", "Cai")]
    team = await make_team(floor, admin, "Inside sales", [a, b, c])
    await make_rule(floor, admin, team)
    owners = [(await new_lead(floor, admin, n)).owner_id for n in range(4)]
    assert owners == [a.user_id, b.user_id, c.user_id, a.user_id]

    async with floor.session() as session:
        members = {m.user_id: m for m in await session.scalars(select(SalesTeamMember))}
        await assignment.update_member(
            session, admin, team, members[b.user_id].id, TeamMemberChanges(daily_cap=1)
        )
        await assignment.update_member(
            session, admin, team, members[c.user_id].id, TeamMemberChanges(active=False)
        )
    # Bo had one today (cap 1) and Cai is paused: Ann gets the rest.
    assert [(await new_lead(floor, admin, n)).owner_id for n in range(4, 6)] == [a.user_id] * 2
    async with floor.session() as session:
        shown = {
            m.display_name: m.assigned_today
            for t in await assignment.teams(session)
            for m in t.members
        }
    assert shown == {"Ann": 4, "Bo": 1, "Cai": 1}

    # A member who left the workspace gets nothing either.
    async with floor.session() as session:
        await session.execute(
            update(Membership).where(Membership.user_id == a.user_id).values(active=False)
        )
    left = await new_lead(floor, admin, 6)
    assert (left.owner_id, left.team_id) == (None, team)


async def test_a_lead_nobody_can_take_is_unassigned_and_one_no_rule_takes_is_its_creators(
    floor: SalesFloor, admin: Actor
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    boss = await floor.manager("Boss", sales)
    team = await make_team(floor, admin, "Sales", [wei], cap=0, department=sales)
    await make_rule(floor, admin, team, source="web_form")

    capped = await new_lead(floor, admin, 1, source="web_form")
    assert (capped.owner_id, capped.team_id, capped.department_id) == (None, team, sales)
    no_rule = await new_lead(floor, wei, 2, source="referral")  # no rule: the creator's own
    assert (no_rule.owner_id, no_rule.team_id, no_rule.department_id) == (
        wei.user_id,
        None,
        sales,
    )

    async with floor.session() as session:
        mine = await leads.list_leads(session, wei)
        assert [i.name for i in mine.items] == ["Lead 2"]
        managed = await leads.list_leads(session, boss, owner="none")
        assert [i.name for i in managed.items] == ["Lead 1"]
        everything = await leads.list_leads(session, admin)
        assert [i.name for i in everything.items] == ["Lead 2", "Lead 1"]
        given = await leads.assign_lead(session, boss, capped.id, wei.user_id)
    assert given.owner_id == wei.user_id


async def test_leads_created_at_once_share_the_team_evenly_and_never_pass_a_cap(
    floor: SalesFloor, admin: Actor
) -> None:
    a, b, c = [await floor.member(name) for name in ("Ann", "Bo", "Cai")]
    even = await make_team(floor, admin, "Even", [a, b, c])
    await make_rule(floor, admin, even, source="referral")

    made = await asyncio.gather(*(new_lead(floor, admin, n, source="referral") for n in range(6)))
    assert Counter(lead.owner_id for lead in made) == {a.user_id: 2, b.user_id: 2, c.user_id: 2}

    d, e = await floor.member("Dai"), await floor.member("Fei")
    capped = await make_team(floor, admin, "Capped", [d, e], cap=2)
    await make_rule(floor, admin, capped, source="advertising")
    made = await asyncio.gather(
        *(new_lead(floor, admin, n, source="advertising") for n in range(5))
    )
    assert Counter(lead.owner_id for lead in made) == {d.user_id: 2, e.user_id: 2, None: 1}


async def test_teams_and_rules_are_checked_and_stay_in_their_workspace(
    floor: SalesFloor, other_floor: SalesFloor, admin: Actor
) -> None:
    wei = await floor.member("Wei")
    team = await make_team(floor, admin, "Sales", [wei])
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await assignment.create_team(session, admin, TeamIn(name="Sales"))
        with pytest.raises(Conflict):
            await assignment.add_member(session, admin, team, TeamMemberIn(user_id=wei.user_id))
        with pytest.raises(ValidationFailed) as refused:
            await assignment.add_member(session, admin, team, TeamMemberIn(user_id=uuid.uuid4()))
        assert refused.value.params["field"] == "user_id"
        with pytest.raises(ValidationFailed):
            await assignment.create_rule(
                session, admin, RuleIn(name="R", team_id=team, source="telepathy")
            )
        with pytest.raises(ValidationFailed):
            await assignment.add_member(
                session, admin, team, TeamMemberIn(user_id=admin.user_id, daily_cap=-1)
            )
        with pytest.raises(PermissionDenied):
            await assignment.create_team(session, wei, TeamIn(name="Mine"))

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        assert await assignment.teams(session) == []
        with pytest.raises(NotFound):
            await assignment.create_rule(session, stranger, RuleIn(name="R", team_id=team))
        with pytest.raises(NotFound):
            await assignment.update_team(session, stranger, team, TeamChanges(name="Taken"))
