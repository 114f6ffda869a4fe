"""Monthly sales targets (业绩目标) per salesperson or per sales team, and attainment.

Attainment of a month is what was signed in it: the base-currency amounts of the
contracts signed that month (and not terminated since) owned by the salesperson, or by
the team's current members. Who sees which targets follows the ``crm.target`` scope: own
(one's own targets and one's teams'), department (the people and teams of one's
department, or below it), all.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, extract, false, func, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.models import Membership, User
from core.orm import uuid7
from core.permissions import Actor, Scope
from modules.crm import permissions as codes
from modules.crm.models import Contract, SalesTeam, SalesTeamMember, Target
from modules.crm.schemas.contracts import HolderYearOut, MonthOut
from modules.crm.services.assignment import get_team
from modules.crm.services.contracts import check_money

RESOURCE = "crm.target"
#: Signed contracts count towards targets unless terminated since.
COUNTED = ("signed", "completed")
FIRST_YEAR, LAST_YEAR = 2000, 2999


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def _year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed(
            "Choose a year from {first} to {last}.", first=FIRST_YEAR, last=LAST_YEAR, field="year"
        )
    return year


def _my_teams(actor: Actor) -> Any:
    return select(SalesTeamMember.team_id).where(SalesTeamMember.user_id == actor.user_id)


def _visible_targets(actor: Actor) -> ColumnElement[bool]:
    """The targets ``actor`` sees: by their ``crm.target`` scope, reading a person's target
    through the person's department and a team's through the team's."""
    scope = actor.scope(RESOURCE)
    if scope is None:
        return false()
    if scope is Scope.ALL:
        return true()
    mine = or_(Target.user_id == actor.user_id, Target.team_id.in_(_my_teams(actor)))
    if scope is Scope.OWN:
        return mine
    departments = (
        actor.department_tree
        if scope is Scope.DEPARTMENT_TREE
        else ((actor.department_id,) if actor.department_id else ())
    )
    if not departments:
        return mine
    people = select(Membership.user_id).where(Membership.department_id.in_(departments))
    teams = select(SalesTeam.id).where(SalesTeam.department_id.in_(departments))
    return or_(mine, Target.user_id.in_(people), Target.team_id.in_(teams))


async def team_choices(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(SalesTeam.id, SalesTeam.name).where(SalesTeam.active).order_by(SalesTeam.name)
    )
    return [(row.id, row.name) for row in rows]


async def set_target(
    session: AsyncSession,
    actor: Actor,
    *,
    month: date,
    amount: Decimal,
    user_id: uuid.UUID | None = None,
    team_id: uuid.UUID | None = None,
) -> Target:
    """Set (or change) the month's target of a salesperson or a team; ``month`` is any day
    of it. Setting an existing target again replaces its amount."""
    actor.require(codes.TARGET_MANAGE)
    if (user_id is None) == (team_id is None):
        raise ValidationFailed("Choose a salesperson or a team.", field="holder")
    amount = check_money(amount, "amount", zero_allowed=True)
    _year(month.year)
    if user_id is not None:
        member = await session.scalar(
            select(Membership.id).where(Membership.user_id == user_id, Membership.active.is_(True))
        )
        if member is None:
            raise ValidationFailed(
                "Targets are set for active members of this workspace.", field="holder"
            )
    else:
        await get_team(session, team_id)  # type: ignore[arg-type]
    holder = "user_id" if user_id is not None else "team_id"
    saved = await session.scalar(
        insert(Target)
        .values(
            tenant_id=session.info["tenant_id"],
            id=uuid7(),
            month=first_of_month(month),
            user_id=user_id,
            team_id=team_id,
            amount=amount,
        )
        .on_conflict_do_update(
            index_elements=["tenant_id", holder, "month"],
            index_where=Target.user_id.is_not(None)
            if user_id is not None
            else Target.team_id.is_not(None),
            set_={"amount": amount},
        )
        .returning(Target.id)
    )
    target = await session.scalar(
        select(Target).where(Target.id == saved).execution_options(populate_existing=True)
    )
    assert target is not None
    return target


def percent_of(attained: Decimal, target: Decimal | None) -> Decimal | None:
    if not target or target <= 0:
        return None
    return (attained * 100 / target).quantize(Decimal("0.1"))


async def _signed_by_owner(
    session: AsyncSession, year: int
) -> dict[tuple[uuid.UUID, int], Decimal]:
    """(owner, month number) → what they signed that month of ``year``, in base currency."""
    month = extract("month", Contract.signed_on)
    rows = await session.execute(
        select(Contract.owner_id, month, func.sum(Contract.base_amount))
        .where(
            Contract.status.in_(COUNTED),
            Contract.owner_id.is_not(None),
            Contract.signed_on >= date(year, 1, 1),
            Contract.signed_on < date(year + 1, 1, 1),
        )
        .group_by(Contract.owner_id, month)
    )
    return {(owner, int(number)): Decimal(total or 0) for owner, number, total in rows}


async def year_attainment(session: AsyncSession, actor: Actor, year: int) -> list[HolderYearOut]:
    """Every salesperson and team with a target in ``year`` that the actor sees: target,
    attained and percent for each month, people first, then teams, by name."""
    actor.require(codes.TARGET_READ)
    _year(year)
    targets = list(
        await session.scalars(
            select(Target).where(
                _visible_targets(actor),
                Target.month >= date(year, 1, 1),
                Target.month < date(year + 1, 1, 1),
            )
        )
    )
    if not targets:
        return []
    signed = await _signed_by_owner(session, year)
    members: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    team_ids = {t.team_id for t in targets if t.team_id is not None}
    if team_ids:
        for team_id, user_id in await session.execute(
            select(SalesTeamMember.team_id, SalesTeamMember.user_id).where(
                SalesTeamMember.team_id.in_(team_ids), SalesTeamMember.active
            )
        ):
            members[team_id].append(user_id)
    user_ids = {t.user_id for t in targets if t.user_id is not None}
    names: dict[uuid.UUID, str] = {}
    if user_ids:
        names.update(
            (row.id, row.display_name)
            for row in await session.execute(
                select(User.id, User.display_name).where(User.id.in_(user_ids))
            )
        )
    if team_ids:
        names.update(
            (row.id, row.name)
            for row in await session.execute(
                select(SalesTeam.id, SalesTeam.name).where(SalesTeam.id.in_(team_ids))
            )
        )
    by_holder: dict[tuple[str, uuid.UUID], dict[int, Decimal]] = defaultdict(dict)
    for target in targets:
        key = ("user", target.user_id) if target.user_id else ("team", target.team_id)
        by_holder[key][target.month.month] = target.amount  # type: ignore[index]
    years = []
    for (kind, holder_id), amounts in by_holder.items():
        owners = [holder_id] if kind == "user" else members[holder_id]
        months = []
        for number in range(1, 13):
            attained = sum(
                (signed.get((owner, number), Decimal(0)) for owner in owners), Decimal(0)
            )
            target = amounts.get(number)
            months.append(
                MonthOut(
                    month=date(year, number, 1),
                    target=target,
                    attained=attained,
                    percent=percent_of(attained, target),
                )
            )
        target_total = sum(amounts.values(), Decimal(0))
        attained_total = sum((m.attained for m in months), Decimal(0))
        years.append(
            HolderYearOut(
                kind=kind,  # type: ignore[arg-type]
                holder_id=holder_id,
                name=names.get(holder_id, ""),
                months=months,
                target_total=target_total,
                attained_total=attained_total,
                percent=percent_of(attained_total, target_total),
            )
        )
    return sorted(years, key=lambda y: (y.kind != "user", y.name.casefold(), y.holder_id))
