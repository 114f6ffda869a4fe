"""Monthly targets per salesperson and per team, and attainment from signed contracts in the
base currency; who sees which targets (own, department, all); two workspaces."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import roles
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.permissions import Actor
from core.products import currency
from modules.crm.models import SalesTeam, SalesTeamMember, Target
from modules.crm.schemas.contracts import ContractIn, HolderYearOut
from modules.crm.services import contracts, targets
from modules.crm.services.contracts import PlannedInstallment
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts import auto_approve_below, customer, signed_contract

MARCH = date(2026, 3, 1)


async def team(floor: SalesFloor, name: str, *people: Actor, department=None) -> uuid.UUID:
    async with floor.session() as session:
        made = SalesTeam(name=name, department_id=department)
        session.add(made)
        await session.flush()
        session.add_all(SalesTeamMember(team_id=made.id, user_id=p.user_id) for p in people)
        return made.id


async def set_target(floor: SalesFloor, actor: Actor, month: date, amount: str, **holder):
    async with floor.session() as session:
        return await targets.set_target(
            session, actor, month=month, amount=Decimal(amount), **holder
        )


async def year(floor: SalesFloor, actor: Actor, number: int = 2026) -> list[HolderYearOut]:
    async with floor.session() as session:
        return await targets.year_attainment(session, actor, number)


async def test_attainment_adds_up_what_each_person_and_team_signed_in_the_month(
    floor: SalesFloor,
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    boss = await floor.member("Boss", role=roles.ADMIN)
    east = await team(floor, "East", wei, li)
    party_id = await customer(floor, wei)
    await set_target(floor, boss, date(2026, 3, 17), "10000", user_id=wei.user_id)
    await set_target(floor, boss, MARCH, "20000", user_id=wei.user_id)  # replaces it
    await set_target(floor, boss, MARCH, "50000", team_id=east)
    await set_target(floor, boss, date(2026, 4, 1), "0", team_id=east)
    await signed_contract(floor, wei, party_id, "8000.00", signed_on=date(2026, 3, 5))
    await signed_contract(floor, wei, party_id, "4000.00", signed_on=date(2026, 3, 20))
    await signed_contract(floor, wei, party_id, "1000.00", signed_on=date(2026, 4, 2))
    lis = await customer(floor, li, "Li's client")
    await signed_contract(floor, li, lis, "3000.00", signed_on=date(2026, 3, 9))
    ended = await signed_contract(floor, li, lis, "9000.00", signed_on=date(2026, 3, 9))
    async with floor.session() as session:
        await contracts.terminate_contract(session, li, ended.id, "Cancelled")  # not counted
    # A contract in euros counts at the signing day's rate.
    async with floor.session() as session:
        await currency.enable_currency(session, "EUR")
        await currency.set_rate(session, "EUR", date(2026, 1, 1), Decimal("1.10"))
    euro = await euro_contract(floor, wei, party_id)
    assert euro.base_amount == Decimal("1100.00")

    shown = await year(floor, boss)
    assert [(h.kind, h.name) for h in shown] == [("user", "Wei"), ("team", "East")]
    person, whole_team = shown
    march, april = person.months[2], person.months[3]
    assert (march.target, march.attained, march.percent) == (
        Decimal("20000.00"),
        Decimal("13100.00"),
        Decimal("65.5"),
    )
    assert (april.target, april.attained, april.percent) == (None, Decimal("1000.00"), None)
    assert (whole_team.months[2].attained, whole_team.months[2].percent) == (
        Decimal("16100.00"),
        Decimal("32.2"),
    )
    assert whole_team.months[3].percent is None  # a target of zero has no percent
    assert (person.target_total, person.attained_total) == (
        Decimal("20000.00"),
        Decimal("14100.00"),
    )
    assert await year(floor, boss, 2025) == []


async def euro_contract(floor: SalesFloor, actor: Actor, party_id: uuid.UUID):
    await auto_approve_below(floor, "1000000")
    async with floor.session() as session:
        made = await contracts.create_contract(
            session, actor, ContractIn(title="EUR deal", party_id=party_id, amount=Decimal(1000))
        )
        made.currency = "EUR"  # as a quote in euros would make it
    async with floor.session() as session:
        await contracts.set_payment_plan(
            session, actor, made.id, [PlannedInstallment(date(2026, 4, 1), Decimal(1000))]
        )
        await contracts.submit_for_approval(session, floor.ctx, floor.registry, actor, made.id)
        return await contracts.sign_contract(session, actor, made.id, date(2026, 3, 30))


async def test_setting_targets_needs_the_right_and_a_real_holder(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    boss = await floor.member("Boss", role=roles.ADMIN)
    with pytest.raises(PermissionDenied):
        await set_target(floor, wei, MARCH, "1", user_id=wei.user_id)
    with pytest.raises(ValidationFailed) as refused:
        await set_target(floor, boss, MARCH, "1")
    assert refused.value.params["field"] == "holder"
    with pytest.raises(ValidationFailed) as refused:
        await set_target(floor, boss, MARCH, "1", user_id=uuid.uuid4())
    assert refused.value.params["field"] == "holder"
    with pytest.raises(NotFound):
        await set_target(floor, boss, MARCH, "1", team_id=uuid.uuid4())
    with pytest.raises(ValidationFailed) as refused:
        await set_target(floor, boss, MARCH, "-5", user_id=wei.user_id)
    assert refused.value.params["field"] == "amount"
    with pytest.raises(ValidationFailed) as refused:
        await set_target(floor, boss, date(1999, 1, 1), "5", user_id=wei.user_id)
    assert refused.value.params["field"] == "year"


async def test_scopes_decide_whose_targets_a_member_sees(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    east = await floor.department("East", sales)
    wei = await floor.member("Wei", department=east)
    li = await floor.member("Li", department=sales)
    zhao = await floor.member("Zhao")
    boss = await floor.manager("Boss", sales)
    admin = await floor.member("Admin", role=roles.ADMIN)
    east_team = await team(floor, "East team", wei, department=east)
    for person in (wei, li, zhao):
        await set_target(floor, admin, MARCH, "100", user_id=person.user_id)
    await set_target(floor, admin, MARCH, "300", team_id=east_team)

    def names(shown: list[HolderYearOut]) -> list[str]:
        return [h.name for h in shown]

    assert names(await year(floor, wei)) == ["Wei", "East team"]  # own, and own team's
    assert names(await year(floor, li)) == ["Li"]
    assert names(await year(floor, boss)) == ["Li", "Wei", "East team"]  # sales and below
    assert names(await year(floor, admin)) == ["Li", "Wei", "Zhao", "East team"]
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    assert await year(other_floor, stranger) == []
    async with other_floor.session() as session:
        assert (await session.scalars(select(Target))).all() == []
        with pytest.raises(NotFound):
            await targets.set_target(
                session, stranger, month=MARCH, amount=Decimal(1), team_id=east_team
            )
