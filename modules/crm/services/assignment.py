"""Who a new lead goes to: sales teams, assignment rules, and the round-robin with daily caps.

:func:`assign` is asked for every lead the rules place (typed in without an owner,
imported, sent through a web form):

1. the team: a web form's own team if it names one (and it is active), else the first
   active rule by ``priority`` (then by age) whose source and region match the lead (a
   rule's blank source or region matches any; regions compare without case or
   surrounding spaces) and whose team is active;
2. the salesperson: among the team's active members who are active members of the
   workspace, the one idle longest (``last_assigned_at``, never first) whose count of
   leads the rules gave them today is below their ``daily_cap`` (no cap: no limit).
   "Today" is the UTC day: the workspace has no time zone of its own.

The team's member rows are locked (``FOR UPDATE``, in id order) while one is chosen
and their count and ``last_assigned_at`` are written on the chosen row, so leads
created at the same moment queue on the lock: two never go to the same person in a
row, and a cap is never exceeded. The time taken is the database's clock at that
moment (``clock_timestamp()``), so whoever waited for the lock is never "idle longer"
than the person chosen just before them.

A lead a member enters that no rule matches is that member's own
(:func:`~modules.crm.services.leads.create_lead`). With nobody under their cap, or a web
form's lead that no rule matches, the lead is **unassigned** (no owner). It still belongs
to a department, for the data scopes: the team's, else the creator's; one without either
is seen by those who see every lead (owners and admins). The lead's department is its
owner's department once it has one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date

from msgspec import UNSET
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique, assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Department, Membership, User
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.models import AssignmentRule, SalesTeam, SalesTeamMember
from modules.crm.models.leads import LEAD_SOURCES
from modules.crm.schemas.leads import (
    RuleChanges,
    RuleIn,
    RuleOut,
    TeamChanges,
    TeamIn,
    TeamMemberChanges,
    TeamMemberIn,
    TeamMemberOut,
    TeamOut,
)

NAME_MAX = 100  # a team's or a rule's name
REGION_MAX = 100
MAX_CAP = 10_000  # leads a day: more is a typo


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a lead goes: its team (None: no rule matched), its owner (None: unassigned)
    and the department its data scope is judged by."""

    team_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None


# --- placing a lead ------------------------------------------------------------------------


async def assign(
    session: AsyncSession,
    *,
    source: str,
    region: str,
    team_id: uuid.UUID | None = None,
    fallback_department: uuid.UUID | None = None,
) -> Assignment:
    """The team and salesperson for a new lead (see the module's docstring). ``team_id``
    is a team chosen beforehand (a web form's), in place of the rules."""
    team = await _chosen_team(session, team_id) if team_id else None
    if team is None:  # none chosen, or the chosen one was switched off
        team = await _ruled_team(session, source, region)
    if team is None:
        return Assignment(None, None, fallback_department)
    member = await _next_member(session, team.id)
    if member is None:
        return Assignment(team.id, None, team.department_id or fallback_department)
    return Assignment(team.id, member.user_id, await owner_department(session, member.user_id))


async def _chosen_team(session: AsyncSession, team_id: uuid.UUID) -> SalesTeam | None:
    return await session.scalar(select(SalesTeam).where(SalesTeam.id == team_id, SalesTeam.active))


async def _ruled_team(session: AsyncSession, source: str, region: str) -> SalesTeam | None:
    region_matches = func.lower(func.btrim(AssignmentRule.region)) == region.strip().lower()
    return await session.scalar(
        select(SalesTeam)
        .join(
            AssignmentRule,
            and_(
                AssignmentRule.tenant_id == SalesTeam.tenant_id,
                AssignmentRule.team_id == SalesTeam.id,
            ),
        )
        .where(
            AssignmentRule.active,
            SalesTeam.active,
            or_(AssignmentRule.source.is_(None), AssignmentRule.source == source),
            or_(AssignmentRule.region.is_(None), region_matches),
        )
        .order_by(AssignmentRule.priority, AssignmentRule.id)
        .limit(1)
    )


async def _next_member(session: AsyncSession, team_id: uuid.UUID) -> SalesTeamMember | None:
    """The member who gets the next lead, counted and stamped; None if all are at their cap."""
    members = list(
        await session.scalars(
            select(SalesTeamMember)
            .join(Membership, Membership.user_id == SalesTeamMember.user_id)
            .where(SalesTeamMember.team_id == team_id, SalesTeamMember.active, Membership.active)
            .order_by(SalesTeamMember.id)
            .with_for_update(of=SalesTeamMember)
            .execution_options(populate_existing=True)  # as the lock found them
        )
    )
    now = await session.scalar(select(func.clock_timestamp()))
    assert now is not None
    today = now.astimezone(UTC).date()  # the day caps count in

    def given_today(member: SalesTeamMember) -> int:
        return member.assigned_today if member.assigned_on == today else 0

    under_cap = [m for m in members if m.daily_cap is None or given_today(m) < m.daily_cap]
    if not under_cap:
        return None
    chosen = min(
        under_cap, key=lambda m: (m.last_assigned_at is not None, m.last_assigned_at or now, m.id)
    )
    chosen.assigned_today = given_today(chosen) + 1
    chosen.assigned_on = today
    chosen.last_assigned_at = now
    await session.flush()
    return chosen


async def utc_today(session: AsyncSession) -> date:
    """The UTC day on the database's clock: the day daily caps are counted in."""
    now = await session.scalar(select(func.now()))
    assert now is not None
    return now.astimezone(UTC).date()


async def owner_department(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """The department the member sits in (what a lead they own is scoped by)."""
    return await session.scalar(
        select(Membership.department_id).where(Membership.user_id == user_id)
    )


async def active_member(session: AsyncSession, user_id: uuid.UUID, field: str) -> str:
    """The display name of an active member of the workspace, else a refusal naming
    ``field``."""
    name = await session.scalar(
        select(User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(User.id == user_id, Membership.active)
    )
    if name is None:
        raise ValidationFailed("Choose an active member of this workspace.", field=field)
    return name


# --- sales teams ---------------------------------------------------------------------------


def checked_name(name: str) -> str:
    """A team's, a rule's or a web form's name: 1 to NAME_MAX characters."""
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed("A name has 1 to {max} characters.", max=NAME_MAX, field="name")
    return name


def _cap(cap: int | None) -> int | None:
    if cap is not None and not 0 <= cap <= MAX_CAP:
        raise ValidationFailed(
            "A daily cap is a whole number from 0 to {max}, or blank for none.",
            max=MAX_CAP,
            field="daily_cap",
        )
    return cap


async def _department(session: AsyncSession, department_id: uuid.UUID | None) -> uuid.UUID | None:
    if department_id is not None and (
        await session.scalar(select(Department.id).where(Department.id == department_id)) is None
    ):
        raise NotFound("No department {id}.", id=str(department_id), field="department_id")
    return department_id


async def get_team(session: AsyncSession, team_id: uuid.UUID) -> SalesTeam:
    team = await session.scalar(select(SalesTeam).where(SalesTeam.id == team_id))
    if team is None:
        raise NotFound("No sales team {id}.", id=str(team_id), field="team_id")
    return team


async def teams(session: AsyncSession) -> list[TeamOut]:
    """Every team by name, with its members by name and what the rules gave them today."""
    found = list(await session.scalars(select(SalesTeam).order_by(SalesTeam.name)))
    rows = await session.execute(
        select(SalesTeamMember, User.display_name)
        .join(User, User.id == SalesTeamMember.user_id)
        .order_by(User.display_name, SalesTeamMember.id)
    )
    today = await utc_today(session)
    members: dict[uuid.UUID, list[TeamMemberOut]] = {}
    for member, display_name in rows:
        members.setdefault(member.team_id, []).append(
            TeamMemberOut(
                id=member.id,
                user_id=member.user_id,
                display_name=display_name,
                daily_cap=member.daily_cap,
                active=member.active,
                assigned_today=member.assigned_today if member.assigned_on == today else 0,
                last_assigned_at=member.last_assigned_at,
            )
        )
    return [
        TeamOut(
            id=t.id,
            name=t.name,
            department_id=t.department_id,
            active=t.active,
            members=members.get(t.id, []),
        )
        for t in found
    ]


async def create_team(session: AsyncSession, actor: Actor, data: TeamIn) -> SalesTeam:
    actor.require(codes.SETTINGS_MANAGE)
    team = SalesTeam(
        name=checked_name(data.name), department_id=await _department(session, data.department_id)
    )
    if not await add_unique(session, team):
        raise Conflict("A team named {name} exists.", name=team.name, field="name")
    return team


async def update_team(
    session: AsyncSession, actor: Actor, team_id: uuid.UUID, changes: TeamChanges
) -> SalesTeam:
    """Rename a team, move it to another department, or switch it off (its rules stop
    matching, its members keep their leads)."""
    actor.require(codes.SETTINGS_MANAGE)
    team = await get_team(session, team_id)
    values: dict[str, object] = {}
    if changes.name is not UNSET:
        values["name"] = checked_name(changes.name)
    if changes.department_id is not UNSET:
        values["department_id"] = await _department(session, changes.department_id)
    if changes.active is not UNSET:
        values["active"] = changes.active
    if not await assign_unique(session, team, values):
        raise Conflict("A team named {name} exists.", name=values["name"], field="name")
    return team


async def _team_member(
    session: AsyncSession, team_id: uuid.UUID, member_id: uuid.UUID
) -> SalesTeamMember:
    member = await session.scalar(
        select(SalesTeamMember).where(
            SalesTeamMember.id == member_id, SalesTeamMember.team_id == team_id
        )
    )
    if member is None:
        raise NotFound("No one {id} in this team.", id=str(member_id))
    return member


async def add_member(
    session: AsyncSession, actor: Actor, team_id: uuid.UUID, data: TeamMemberIn
) -> SalesTeamMember:
    """Put a member of the workspace in the team; the round-robin reaches them next, as
    someone never given a lead."""
    actor.require(codes.SETTINGS_MANAGE)
    await get_team(session, team_id)
    display_name = await active_member(session, data.user_id, "user_id")
    member = SalesTeamMember(team_id=team_id, user_id=data.user_id, daily_cap=_cap(data.daily_cap))
    if not await add_unique(session, member):
        raise Conflict("{name} is in this team already.", name=display_name, field="user_id")
    return member


async def update_member(
    session: AsyncSession,
    actor: Actor,
    team_id: uuid.UUID,
    member_id: uuid.UUID,
    changes: TeamMemberChanges,
) -> SalesTeamMember:
    """Change a member's daily cap, or pause them (an inactive member gets no new leads)."""
    actor.require(codes.SETTINGS_MANAGE)
    member = await _team_member(session, team_id, member_id)
    if changes.daily_cap is not UNSET:
        member.daily_cap = _cap(changes.daily_cap)
    if changes.active is not UNSET:
        member.active = changes.active
    await session.flush()
    return member


async def remove_member(
    session: AsyncSession, actor: Actor, team_id: uuid.UUID, member_id: uuid.UUID
) -> None:
    """Take someone out of the team; the leads they have stay theirs."""
    actor.require(codes.SETTINGS_MANAGE)
    await session.delete(await _team_member(session, team_id, member_id))
    await session.flush()


# --- assignment rules ----------------------------------------------------------------------


def _source(source: str | None) -> str | None:
    """A rule's source: one of the lead sources, or None (blank) for any."""
    if source is None or not source.strip():
        return None
    if source.strip() not in LEAD_SOURCES:
        raise ValidationFailed("Choose a source from the list.", field="source")
    return source.strip()


def _region(region: str | None) -> str | None:
    if region is None or not region.strip():
        return None
    if len(region.strip()) > REGION_MAX:
        raise ValidationFailed(
            "A region has at most {max} characters.", max=REGION_MAX, field="region"
        )
    return region.strip()


def _priority(priority: int) -> int:
    if not 0 <= priority <= MAX_CAP:
        raise ValidationFailed(
            "A priority is a whole number from 0 to {max}.", max=MAX_CAP, field="priority"
        )
    return priority


def rule_out(rule: AssignmentRule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        priority=rule.priority,
        source=rule.source,
        region=rule.region,
        team_id=rule.team_id,
        active=rule.active,
    )


async def rules(session: AsyncSession) -> list[AssignmentRule]:
    """Every rule in the order they are tried."""
    return list(
        await session.scalars(
            select(AssignmentRule).order_by(AssignmentRule.priority, AssignmentRule.id)
        )
    )


async def _rule(session: AsyncSession, rule_id: uuid.UUID) -> AssignmentRule:
    rule = await session.scalar(select(AssignmentRule).where(AssignmentRule.id == rule_id))
    if rule is None:
        raise NotFound("No assignment rule {id}.", id=str(rule_id))
    return rule


async def create_rule(session: AsyncSession, actor: Actor, data: RuleIn) -> AssignmentRule:
    actor.require(codes.SETTINGS_MANAGE)
    rule = AssignmentRule(
        name=checked_name(data.name),
        priority=_priority(data.priority),
        source=_source(data.source),
        region=_region(data.region),
        team_id=(await get_team(session, data.team_id)).id,
    )
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(
    session: AsyncSession, actor: Actor, rule_id: uuid.UUID, changes: RuleChanges
) -> AssignmentRule:
    actor.require(codes.SETTINGS_MANAGE)
    rule = await _rule(session, rule_id)
    if changes.name is not UNSET:
        rule.name = checked_name(changes.name)
    if changes.priority is not UNSET:
        rule.priority = _priority(changes.priority)
    if changes.source is not UNSET:
        rule.source = _source(changes.source)
    if changes.region is not UNSET:
        rule.region = _region(changes.region)
    if changes.team_id is not UNSET:
        rule.team_id = (await get_team(session, changes.team_id)).id
    if changes.active is not UNSET:
        rule.active = changes.active
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, actor: Actor, rule_id: uuid.UUID) -> None:
    actor.require(codes.SETTINGS_MANAGE)
    await session.delete(await _rule(session, rule_id))
    await session.flush()
