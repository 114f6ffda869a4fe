"""CRM reports over real records made through the CRM services: the funnel, win rate,
sales by person and month, the forecast, collection against the plan, follow-up activity,
customers by stage and source and ticket SLA, with exact figures; the filters (period,
team with the departments below it, person, pipeline) and their refusals; data scopes
(a salesperson's own records, a manager's department, an admin's all; the report scope
narrows too) and two workspaces."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core import roles
from core.errors import PermissionDenied, ValidationFailed
from core.parties.models import Party
from core.permissions import Actor, Scope
from modules.crm import permissions as codes
from modules.crm.models import Contract, Opportunity, Stage, Ticket
from modules.crm.schemas.contracts import PaymentIn
from modules.crm.schemas.customers import CustomerIn, FollowUpIn
from modules.crm.services import (
    contracts,
    customers,
    followups,
    opportunities,
    payments,
    reports,
    tickets,
)
from modules.crm.services.reports import ReportFilters
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts import customer, signed_contract
from tests.modules.crm.test_opportunities import deal
from tests.modules.crm.test_tickets import opened

FIRST_HALF = {"start": "2026-01", "end": "2026-06"}


@dataclass
class Team:
    """Sales with East below it, and North beside them: Wei sells in East, Li in North,
    Boss manages Sales (and so East), Admin sees everything."""

    sales: uuid.UUID
    east: uuid.UUID
    north: uuid.UUID
    wei: Actor
    li: Actor
    boss: Actor
    admin: Actor


async def team(floor: SalesFloor) -> Team:
    sales = await floor.department("Sales")
    east = await floor.department("East", parent=sales)
    north = await floor.department("North")
    return Team(
        sales,
        east,
        north,
        wei=await floor.member("Wei", department=east),
        li=await floor.member("Li", department=north),
        boss=await floor.manager("Boss", sales),
        admin=await floor.member("Admin", role=roles.ADMIN),
    )


async def filters(floor: SalesFloor, **typed: str) -> ReportFilters:
    async with floor.session() as session:
        return await reports.read_filters(session, today=contracts.today(), **typed)


async def figures(floor: SalesFloor, report: str, actor: Actor, **typed: str):
    chosen = await filters(floor, **typed)
    async with floor.session() as session:
        return await reports.REPORTS[report].figures(session, actor, chosen)


async def open_stages(floor: SalesFloor) -> list[Stage]:
    async with floor.session() as session:
        found = await session.scalars(select(Stage).where(Stage.kind == "open"))
        return sorted(found, key=lambda stage: stage.sequence)


async def move(floor: SalesFloor, actor: Actor, made: Opportunity, stage_id: uuid.UUID) -> None:
    async with floor.session() as session:
        await opportunities.move_opportunity(session, actor, made.id, stage_id)


async def close(floor: SalesFloor, actor: Actor, made: Opportunity, *, won: bool) -> None:
    async with floor.session() as session:
        await opportunities.close_opportunity(session, actor, made.id, won=won, reason="Price")


async def deals(floor: SalesFloor, people: Team) -> dict[str, Opportunity]:
    """Wei: 1000 in the first stage, 2000 in the third, 3000 won, 500 lost; Li: 4000 won,
    100 in the second stage."""
    stages = await open_stages(floor)
    wei_customer = await customer(floor, people.wei, "Wei's tea house")
    li_customer = await customer(floor, people.li, "Li's noodle bar")
    made = {
        "first": await deal(floor, people.wei, wei_customer, "First", amount=Decimal(1000)),
        "third": await deal(floor, people.wei, wei_customer, "Third", amount=Decimal(2000)),
        "won": await deal(floor, people.wei, wei_customer, "Won", amount=Decimal(3000)),
        "lost": await deal(floor, people.wei, wei_customer, "Lost", amount=Decimal(500)),
        "li won": await deal(floor, people.li, li_customer, "Li won", amount=Decimal(4000)),
        "li second": await deal(floor, people.li, li_customer, "Li 2nd", amount=Decimal(100)),
    }
    await move(floor, people.wei, made["third"], stages[2].id)
    await move(floor, people.li, made["li second"], stages[1].id)
    await close(floor, people.wei, made["won"], won=True)
    await close(floor, people.wei, made["lost"], won=False)
    await close(floor, people.li, made["li won"], won=True)
    return made


# --- the funnel and the win rate -------------------------------------------------------------


async def test_the_funnel_counts_how_far_the_periods_deals_got(floor: SalesFloor) -> None:
    people = await team(floor)
    await deals(floor, people)
    found = await figures(floor, "funnel", people.admin)
    assert found.pipeline_name == "Sales"
    assert (found.total, found.lost, found.lost_amount) == (6, 1, Decimal("500.00"))
    assert [(s.kind, s.count, s.amount, s.reached, s.conversion) for s in found.steps] == [
        ("open", 1, Decimal("1000.00"), 6, None),
        ("open", 1, Decimal("100.00"), 4, Decimal("66.7")),
        ("open", 1, Decimal("2000.00"), 3, Decimal("75.0")),
        ("open", 0, Decimal(0), 2, Decimal("66.7")),
        ("won", 2, Decimal("7000.00"), 2, Decimal("100.0")),
    ]
    assert found.steps[-1].name == "Won"
    own = await figures(floor, "funnel", people.wei)
    assert [(s.count, s.reached, s.conversion) for s in own.steps] == [
        (1, 4, None),
        (0, 2, Decimal("50.0")),
        (1, 2, Decimal("100.0")),
        (0, 1, Decimal("50.0")),
        (1, 1, Decimal("100.0")),
    ]


async def test_the_win_rate_is_won_over_closed_per_salesperson(floor: SalesFloor) -> None:
    people = await team(floor)
    await deals(floor, people)
    found = await figures(floor, "win-rate", people.admin)
    assert [(r.name, r.won, r.lost, r.won_amount, r.rate) for r in found.rows] == [
        ("Li", 1, 0, Decimal("4000.00"), Decimal("100.0")),
        ("Wei", 1, 1, Decimal("3000.00"), Decimal("50.0")),
    ]
    total = found.total
    assert (total.won, total.lost, total.won_amount, total.rate) == (
        2,
        1,
        Decimal("7000.00"),
        Decimal("66.7"),
    )
    assert found.currency == "USD"  # the en workspace's base currency


async def test_the_period_counts_deals_by_when_they_were_made_and_closed(
    floor: SalesFloor,
) -> None:
    people = await team(floor)
    made = await deals(floor, people)
    last_june = datetime(2025, 6, 10, 9, tzinfo=UTC)
    async with floor.session() as session:
        await session.execute(
            update(Opportunity)
            .where(Opportunity.id == made["li won"].id)
            .values(created_at=last_june, closed_at=last_june)
        )
    june = {"start": "2025-06", "end": "2025-06"}
    then = await figures(floor, "win-rate", people.admin, **june)
    assert [(r.name, r.won, r.lost) for r in then.rows] == [("Li", 1, 0)]
    funnel = await figures(floor, "funnel", people.admin, **june)
    assert funnel.total == 1
    assert [s.reached for s in funnel.steps] == [1, 1, 1, 1, 1]
    this_year = await figures(floor, "win-rate", people.admin)
    assert [(r.name, r.won, r.lost) for r in this_year.rows] == [("Wei", 1, 1)]


# --- sales, collection and the forecast ------------------------------------------------------


async def pay(floor: SalesFloor, contract: Contract, amount: str, received_on: date) -> None:
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    async with floor.session() as session:
        first = (await contracts.installments_of(session, contract.id))[0]
        await payments.record_payment(
            session,
            floor.ctx,
            cashier,
            PaymentIn(installment_id=first.id, amount=Decimal(amount), received_on=received_on),
        )


async def signed_book(floor: SalesFloor, people: Team) -> None:
    """Wei signs 12,000 on 5 March and 3,000 on 10 April, and 1,000 on 25 March that is
    terminated after 200 came in; Li signs 5,000 on 20 March. Each plan is two halves due
    15 January and 15 February."""
    wei_customer = await customer(floor, people.wei, "Wei's tea house")
    li_customer = await customer(floor, people.li, "Li's noodle bar")
    big = await signed_contract(
        floor, people.wei, wei_customer, "12000.00", signed_on=date(2026, 3, 5)
    )
    await signed_contract(floor, people.wei, wei_customer, "3000.00", signed_on=date(2026, 4, 10))
    ended = await signed_contract(
        floor, people.wei, wei_customer, "1000.00", signed_on=date(2026, 3, 25)
    )
    li_signed = await signed_contract(
        floor, people.li, li_customer, "5000.00", signed_on=date(2026, 3, 20)
    )
    await pay(floor, big, "6000.00", date(2026, 2, 1))
    await pay(floor, li_signed, "1000.00", date(2026, 3, 3))
    await pay(floor, ended, "200.00", date(2026, 3, 26))
    async with floor.session() as session:
        await contracts.terminate_contract(session, people.wei, ended.id, "Closed down")


async def test_sales_sum_signed_contracts_per_person_and_month(floor: SalesFloor) -> None:
    people = await team(floor)
    await signed_book(floor, people)
    found = await figures(floor, "sales", people.admin, **FIRST_HALF)
    assert found.months == tuple(date(2026, m, 1) for m in range(1, 7))
    zero = Decimal(0)
    assert [(r.name, r.months, r.count, r.total) for r in found.rows] == [
        ("Li", (zero, zero, Decimal("5000.00"), zero, zero, zero), 1, Decimal("5000.00")),
        (
            "Wei",
            (zero, zero, Decimal("12000.00"), Decimal("3000.00"), zero, zero),
            2,
            Decimal("15000.00"),
        ),
    ]
    assert found.month_totals[2:4] == (Decimal("17000.00"), Decimal("3000.00"))
    assert (found.count, found.total) == (3, Decimal("20000.00"))
    march = await figures(floor, "sales", people.admin, start="2026-03", end="2026-03")
    assert [(r.name, r.total) for r in march.rows] == [
        ("Li", Decimal("5000.00")),
        ("Wei", Decimal("12000.00")),
    ]


async def test_collection_sets_payments_received_against_installments_due(
    floor: SalesFloor,
) -> None:
    people = await team(floor)
    await signed_book(floor, people)
    found = await figures(floor, "collection", people.admin, **FIRST_HALF)
    assert [(m.month.month, m.planned, m.received, m.rate) for m in found.months[:4]] == [
        (1, Decimal("10000.00"), Decimal("0.00"), Decimal("0.0")),
        (2, Decimal("10000.00"), Decimal("6000.00"), Decimal("60.0")),
        (3, Decimal("0.00"), Decimal("1200.00"), None),
        (4, Decimal("0.00"), Decimal("0.00"), None),
    ]
    assert (found.planned, found.received, found.rate) == (
        Decimal("20000.00"),
        Decimal("7200.00"),
        Decimal("36.0"),
    )
    own = await figures(floor, "collection", people.wei, **FIRST_HALF)
    assert [(m.planned, m.received) for m in own.months[:3]] == [
        (Decimal("7500.00"), Decimal("0.00")),
        (Decimal("7500.00"), Decimal("6000.00")),
        (Decimal("0.00"), Decimal("200.00")),
    ]


async def test_the_forecast_weighs_open_deals_for_the_team_and_person(floor: SalesFloor) -> None:
    people = await team(floor)
    wei_customer = await customer(floor, people.wei, "Wei's tea house")
    li_customer = await customer(floor, people.li, "Li's noodle bar")
    await deal(
        floor, people.wei, wei_customer, amount=Decimal(1000), expected_close_on=date(2027, 3, 9)
    )
    await deal(
        floor, people.li, li_customer, amount=Decimal(505), expected_close_on=date(2027, 3, 1)
    )
    every = await figures(floor, "forecast", people.admin)
    assert [(m.month, m.count, m.amount, m.weighted) for m in every.months] == [
        (date(2027, 3, 1), 2, Decimal("1505.00"), Decimal("150.50"))
    ]
    east = await figures(floor, "forecast", people.admin, team=str(people.sales))
    assert [(m.count, m.amount, m.weighted) for m in east.months] == [
        (1, Decimal("1000.00"), Decimal("100.00"))
    ]
    li = await figures(floor, "forecast", people.admin, person=str(people.li.user_id))
    assert [(m.count, m.weighted) for m in li.months] == [(1, Decimal("50.50"))]


# --- follow-ups, customers, tickets ----------------------------------------------------------


async def follow_up(floor: SalesFloor, actor: Actor, party_id, kind: str, day: int) -> None:
    async with floor.session() as session:
        await followups.record_follow_up(
            session,
            actor,
            party_id,
            FollowUpIn(kind=kind, content="Talked", happened_at=datetime(2026, 3, day, tzinfo=UTC)),
        )


async def test_activity_counts_follow_ups_per_person_and_kind(floor: SalesFloor) -> None:
    people = await team(floor)
    wei_customer = await customer(floor, people.wei, "Wei's tea house")
    li_customer = await customer(floor, people.li, "Li's noodle bar")
    for kind, day in (("call", 2), ("call", 3), ("visit", 4)):
        await follow_up(floor, people.wei, wei_customer, kind, day)
    await follow_up(floor, people.li, li_customer, "meeting", 5)
    found = await figures(floor, "activity", people.admin, **FIRST_HALF)
    assert found.kinds == ("call", "visit", "meeting", "message", "email")
    assert [(r.name, r.counts, r.total) for r in found.rows] == [
        ("Li", (0, 0, 1, 0, 0), 1),
        ("Wei", (2, 1, 0, 0, 0), 3),
    ]
    assert (found.kind_totals, found.total) == ((2, 1, 1, 0, 0), 4)
    managed = await figures(floor, "activity", people.boss, **FIRST_HALF)
    assert [(r.name, r.total) for r in managed.rows] == [("Wei", 3)]
    april = await figures(floor, "activity", people.admin, start="2026-04", end="2026-06")
    assert (april.rows, april.total) == ((), 0)


async def new_customer(floor: SalesFloor, actor: Actor, name: str, stage: str, source: str):
    async with floor.session() as session:
        return await customers.create_customer(
            session, actor, CustomerIn(name=name, lifecycle_stage=stage, source=source)
        )


async def test_customers_are_counted_by_stage_and_source(floor: SalesFloor) -> None:
    people = await team(floor)
    await new_customer(floor, people.wei, "Tea one", "customer", "referral")
    await new_customer(floor, people.wei, "Tea two", "prospect", "referral")
    await new_customer(floor, people.li, "Noodle", "customer", "exhibition")
    old = await new_customer(floor, people.li, "Old noodle", "churned", "manual")
    async with floor.session() as session:
        await session.execute(
            update(Party)
            .where(Party.id == old.id)
            .values(created_at=datetime(2024, 5, 1, tzinfo=UTC))
        )
    found = await figures(floor, "customers", people.admin)
    assert [(c.key, c.customers, c.new) for c in found.stages] == [
        ("prospect", 1, 1),
        ("customer", 2, 2),
        ("repeat", 0, 0),
        ("churned", 1, 0),
    ]
    by_source = {c.key: (c.customers, c.new) for c in found.sources}
    assert by_source["referral"] == (2, 2)
    assert by_source["exhibition"] == (1, 1)
    assert by_source["manual"] == (1, 0)
    assert by_source["cold_call"] == (0, 0)
    assert (found.total, found.new) == (4, 3)
    own = await figures(floor, "customers", people.wei)
    assert (own.total, [c.customers for c in own.stages]) == (2, [1, 1, 0, 0])


async def test_ticket_sla_tells_met_late_and_overdue_by_priority(floor: SalesFloor) -> None:
    people = await team(floor)
    party_id = await customer(floor, people.wei)
    met = await opened(floor, people.wei, party_id, priority="urgent")
    late = await opened(floor, people.wei, party_id, priority="urgent")
    await opened(floor, people.wei, party_id, priority="high")
    await opened(floor, people.wei, party_id, priority="low")
    async with floor.session() as session:
        for ticket in (met, late):
            await tickets.move_ticket(session, people.wei, ticket.id, "resolve")
        await session.execute(
            update(Ticket)
            .where(Ticket.id == late.id)
            .values(resolved_at=Ticket.sla_due_at + timedelta(hours=1))
        )
    chosen = await filters(floor)
    async with floor.session() as session:
        now = await reports.ticket_sla(session, people.admin, chosen)
        later = await reports.ticket_sla(
            session, people.admin, chosen, now=datetime.now(UTC) + timedelta(hours=10)
        )
    rows = {
        r.priority: (r.opened, r.met, r.resolved_late, r.overdue, r.waiting, r.rate)
        for r in now.rows
    }
    assert rows == {
        "urgent": (2, 1, 1, 0, 0, Decimal("50.0")),
        "high": (1, 0, 0, 0, 1, None),
        "normal": (0, 0, 0, 0, 0, None),
        "low": (1, 0, 0, 0, 1, None),
    }
    assert [r.priority for r in later.rows] == ["urgent", "high", "normal", "low"]
    high = later.rows[1]
    assert (high.overdue, high.waiting, high.rate) == (1, 0, Decimal("0.0"))
    total = later.total
    assert (total.opened, total.met, total.resolved_late, total.overdue, total.waiting) == (
        4,
        1,
        1,
        1,
        1,
    )
    assert total.rate == Decimal("33.3")


# --- scopes, filters, refusals, two workspaces -----------------------------------------------


async def test_each_member_sees_the_figures_of_their_scope(floor: SalesFloor) -> None:
    people = await team(floor)
    await deals(floor, people)
    await signed_book(floor, people)

    async def shown(actor: Actor) -> tuple[list, list]:
        rate = await figures(floor, "win-rate", actor)
        sold = await figures(floor, "sales", actor, **FIRST_HALF)
        return [(r.name, r.won) for r in rate.rows], [(r.name, r.total) for r in sold.rows]

    assert await shown(people.wei) == ([("Wei", 1)], [("Wei", Decimal("15000.00"))])
    assert await shown(people.li) == ([("Li", 1)], [("Li", Decimal("5000.00"))])
    assert await shown(people.boss) == ([("Wei", 1)], [("Wei", Decimal("15000.00"))])
    assert await shown(people.admin) == (
        [("Li", 1), ("Wei", 1)],
        [("Li", Decimal("5000.00")), ("Wei", Decimal("15000.00"))],
    )
    # Filters narrow within the scope and never widen it.
    assert (await figures(floor, "win-rate", people.wei, person=str(people.li.user_id))).rows == ()
    assert (await figures(floor, "win-rate", people.boss, team=str(people.north))).rows == ()
    by_team = await figures(floor, "win-rate", people.admin, team=str(people.sales))
    assert [r.name for r in by_team.rows] == ["Wei"]
    assert (await figures(floor, "win-rate", people.admin, team=str(people.east))).total.won == 1


async def test_the_report_scope_narrows_too_and_rights_are_needed(floor: SalesFloor) -> None:
    people = await team(floor)
    await deals(floor, people)
    analyst = await floor.member(
        "Analyst",
        department=people.north,
        custom=[codes.REPORT_READ, codes.OPPORTUNITY_READ],
        custom_scopes={"crm.report": "department", "crm.opportunity": "all"},
    )
    found = await figures(floor, "win-rate", analyst)
    assert [r.name for r in found.rows] == ["Li"]  # the report scope: North only
    # Rights as a role without them would give (every member's base role has them all).
    reader = dataclasses.replace(
        analyst,
        permissions=frozenset({codes.OPPORTUNITY_READ}),
        scopes={"crm.opportunity": Scope.ALL},
    )
    assert reports.reports_for(reader) == []
    with pytest.raises(PermissionDenied):
        await figures(floor, "win-rate", reader)
    deals_only = dataclasses.replace(
        reader, permissions=frozenset({codes.REPORT_READ, codes.OPPORTUNITY_READ})
    )
    assert [r.key for r in reports.reports_for(deals_only)] == ["funnel", "win-rate", "forecast"]
    with pytest.raises(PermissionDenied):
        await figures(floor, "tickets", deals_only)
    # No crm.report scope at all: nothing is counted, whatever the other scope says.
    assert (await figures(floor, "win-rate", deals_only)).rows == ()


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"start": "2026-13"}, "from"),
        ({"end": "March"}, "to"),
        ({"start": "2026-05", "end": "2026-04"}, "to"),
        ({"start": "2020-01", "end": "2026-12"}, "to"),
        ({"start": "1999-12"}, "from"),
        ({"team": "sales"}, "team"),
        ({"team": str(uuid.uuid4())}, "team"),
        ({"person": str(uuid.uuid4())}, "person"),
        ({"pipeline": str(uuid.uuid4())}, "pipeline"),
    ],
)
async def test_bad_filters_are_refused_by_their_input(
    floor: SalesFloor, typed: dict, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await filters(floor, **typed)
    assert refused.value.params["field"] == field


async def test_the_period_defaults_to_the_year_to_date(floor: SalesFloor) -> None:
    async with floor.session() as session:
        chosen = await reports.read_filters(session, today=date(2026, 8, 19))
    assert (chosen.first, chosen.last, chosen.end) == (
        date(2026, 1, 1),
        date(2026, 8, 1),
        date(2026, 9, 1),
    )
    assert chosen.query() == {"from": "2026-01", "to": "2026-08"}
    assert len(chosen.months) == 8


async def test_another_workspace_never_shows(floor: SalesFloor, other_floor: SalesFloor) -> None:
    people = await team(floor)
    await deals(floor, people)
    stranger = await other_floor.member("Stranger", role=roles.ADMIN)
    far_away = await other_floor.department("Far away")
    party_id = await customer(other_floor, stranger, "Bolt nuts")
    async with other_floor.session() as session:
        made = await opportunities.create_opportunity(
            session,
            stranger,
            opportunities.NewOpportunity(name="Bolts", party_id=party_id, amount=Decimal(9)),
        )
        await opportunities.close_opportunity(session, stranger, made.id, won=True, reason="Ok")
    await signed_contract(other_floor, stranger, party_id, "900.00", signed_on=date(2026, 3, 1))
    found = await figures(floor, "win-rate", people.admin)
    assert (found.total.won, found.total.lost) == (2, 1)
    sold = await figures(floor, "sales", people.admin, **FIRST_HALF)
    assert sold.rows == ()
    theirs = await figures(other_floor, "win-rate", stranger)
    assert [(r.name, r.won) for r in theirs.rows] == [("Stranger", 1)]
    with pytest.raises(ValidationFailed):  # their department is not one of ours
        await filters(floor, team=str(far_away))
    with pytest.raises(ValidationFailed):
        await filters(floor, person=str(stranger.user_id))
