"""Opportunities: created for a customer in scope, with product lines whose sum is the
amount; the list's filters and pages; moving through the stages, won and lost with the
reason (the event once, the customer's last win, a profile made if missing), reopening;
the weighted forecast; the board's columns; data scopes and two workspaces."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import OutboxEvent
from core.parties import services as parties
from core.parties.schemas import PartyIn
from core.permissions import Actor
from core.products import services as catalogue
from core.records.timeline import timeline
from modules.crm.models import Customer, Opportunity, Stage
from modules.crm.schemas.sales import OpportunityChanges, OpportunityLineIn
from modules.crm.services import opportunities
from modules.crm.services.opportunities import NewOpportunity, OpportunityFilters
from tests.modules.crm.conftest import SalesFloor

# --- helpers the quote and pipeline tests use too --------------------------------------------


async def customer(floor: SalesFloor, actor: Actor, name: str = "Hangzhou Tea Co.") -> uuid.UUID:
    async with floor.session() as session:
        party = await parties.create_party(
            session,
            actor,
            PartyIn(kind="company", name=name, is_customer=True),
            allow_duplicates=True,
        )
        return party.id


async def product(
    floor: SalesFloor, sku: str, name: str, price: str, tax_rate_id: uuid.UUID | None = None
) -> uuid.UUID:
    async with floor.session() as session:
        unit = await catalogue.unit_by_code(session, "pcs")
        made = await catalogue.create_product(
            session,
            sku=sku,
            name=name,
            uom_id=unit.id,
            sale_price=Decimal(price),
            tax_rate_id=tax_rate_id,
        )
        return made.id


async def stages(floor: SalesFloor) -> dict[str, Stage]:
    """The default pipeline's stages by kind and name: "open" is the first open one."""
    async with floor.session() as session:
        found = list(await session.scalars(select(Stage).order_by(Stage.sequence)))
    by_name = {stage.name: stage for stage in found}
    by_name["open"] = next(s for s in found if s.kind == "open")
    by_name["won"] = next(s for s in found if s.kind == "won")
    by_name["lost"] = next(s for s in found if s.kind == "lost")
    return by_name


async def deal(
    floor: SalesFloor, actor: Actor, party_id: uuid.UUID, name: str = "Tea for the year", **fields
) -> Opportunity:
    async with floor.session() as session:
        return await opportunities.create_opportunity(
            session, actor, NewOpportunity(name=name, party_id=party_id, **fields)
        )


async def events(floor: SalesFloor, event_type: str) -> list[dict]:
    async with floor.session() as session:
        rows = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == event_type).order_by(OutboxEvent.id)
        )
        return [row.payload for row in rows]


# --- creating --------------------------------------------------------------------------------


async def test_a_new_opportunity_starts_in_the_first_open_stage_and_sums_its_lines(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    bolts = await product(floor, "BOLT", "Hex bolt", "1.25")
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    made = await deal(
        floor,
        wei,
        party,
        amount=Decimal("5"),  # the lines decide
        expected_close_on=date(2026, 3, 20),
        lines=(
            OpportunityLineIn(product_id=bolts, quantity=Decimal("3.3333")),  # 4.166625 → 4.17
            OpportunityLineIn(product_id=tea, quantity=Decimal(2), unit_price=Decimal("80")),
        ),
    )
    first = (await stages(floor))["open"]
    assert (made.stage_id, made.status, made.owner_id) == (first.id, "open", wei.user_id)
    assert made.number.startswith("OP-")
    assert made.amount == Decimal("164.17")
    async with floor.session() as session:
        view = await opportunities.view_of(session, made)
    assert [(s.sku, s.line.unit_price, s.amount) for s in view.lines] == [
        ("BOLT", Decimal("1.25"), Decimal("4.17")),  # the product's sale price by default
        ("TEA", Decimal("80.00"), Decimal("160.00")),
    ]


async def test_creating_refuses_what_it_cannot_store(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    party = await customer(floor, wei)
    lis_customer = await customer(floor, li, "Li's customer")
    archived = await product(floor, "OLD", "Old tea", "1")
    async with floor.session() as session:
        await catalogue.update_product(session, archived, active=False)
    cases = [
        (NewOpportunity(name=" ", party_id=party), "name"),
        (NewOpportunity(name="x" * 201, party_id=party), "name"),
        (NewOpportunity(name="Tea", party_id=party, amount=Decimal("-1")), "amount"),
        (NewOpportunity(name="Tea", party_id=party, amount=Decimal("1.005")), "amount"),
        (NewOpportunity(name="Tea", party_id=party, contact_id=lis_customer), "contact_id"),
        (
            NewOpportunity(
                name="Tea",
                party_id=party,
                lines=(OpportunityLineIn(product_id=archived, quantity=Decimal(1)),),
            ),
            "product_id",
        ),
        (
            NewOpportunity(
                name="Tea",
                party_id=party,
                lines=(OpportunityLineIn(product_id=archived, quantity=Decimal(0)),),
            ),
            "product_id",
        ),
    ]
    for new, field in cases:
        async with floor.session() as session:
            with pytest.raises(ValidationFailed) as refused:
                await opportunities.create_opportunity(session, wei, new)
        assert refused.value.params["field"] == field, new
    async with floor.session() as session:
        with pytest.raises(NotFound):  # a customer outside Wei's scope
            await opportunities.create_opportunity(
                session, wei, NewOpportunity(name="Tea", party_id=lis_customer)
            )
        assert await session.scalar(select(func.count()).select_from(Opportunity)) == 0


# --- the list and the scopes -----------------------------------------------------------------


async def test_the_list_filters_pages_and_keeps_to_the_members_scope(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    li = await floor.member("Li", department=sales)
    boss = await floor.manager("Boss", sales)
    party = await customer(floor, wei)
    lis_party = await customer(floor, li, "Li's customer")
    for index in range(5):
        await deal(floor, wei, party, f"Wei {index}", expected_close_on=date(2026, 3, 1 + index))
    await deal(floor, wei, party, "Wei in April", expected_close_on=date(2026, 4, 2))
    await deal(floor, li, lis_party, "Li's deal")

    async with floor.session() as session:
        mine = await opportunities.list_opportunities(session, wei, OpportunityFilters(), limit=4)
        assert [o.name for o in mine.items] == ["Wei in April", "Wei 4", "Wei 3", "Wei 2"]
        rest = await opportunities.list_opportunities(
            session, wei, OpportunityFilters(), cursor=mine.next_cursor, limit=4
        )
        assert [o.name for o in rest.items] == ["Wei 1", "Wei 0"]
        assert rest.next_cursor is None
        march = await opportunities.list_opportunities(
            session, wei, OpportunityFilters(close_month=opportunities.month_of("2026-03"))
        )
        assert len(march.items) == 5
        everyone = await opportunities.list_opportunities(session, boss, OpportunityFilters())
        assert len(everyone.items) == 7
        lis = await opportunities.list_opportunities(
            session, boss, OpportunityFilters(owner_id=li.user_id)
        )
        assert [(o.name, o.customer_name, o.owner_name) for o in lis.items] == [
            ("Li's deal", "Li's customer", "Li")
        ]
        found = await opportunities.list_opportunities(
            session, boss, OpportunityFilters(search="april")
        )
        assert [o.name for o in found.items] == ["Wei in April"]
        with pytest.raises(ValidationFailed):
            opportunities.month_of("2026-13")
        with pytest.raises(NotFound):  # Li's deal, not in Wei's scope
            await opportunities.get_opportunity(session, wei, lis.items[0].id)

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        assert (
            await opportunities.list_opportunities(session, stranger, OpportunityFilters())
        ).items == []
        with pytest.raises(NotFound):  # RLS and the tenant criterion
            await opportunities.get_opportunity(session, stranger, lis.items[0].id)


# --- moving and closing ----------------------------------------------------------------------


async def test_winning_closes_once_with_the_reason_and_stamps_the_customer(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)  # no CRM profile yet: winning makes one
    made = await deal(floor, wei, party, amount=Decimal("9000"))
    named = await stages(floor)
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await opportunities.move_opportunity(session, wei, made.id, named["won"].id, " ")
        assert refused.value.params["field"] == "reason"
    async with floor.session() as session:
        moved = await opportunities.move_opportunity(
            session, wei, made.id, named["won"].id, "Best price and fast delivery"
        )
        assert (moved.left, moved.entered) == (named["open"].id, named["won"].id)
        assert moved.opportunity.status == "won"
        assert moved.opportunity.closed_at is not None
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == party))
        assert profile is not None
        assert profile.last_won_at is not None
        with pytest.raises(Conflict):  # already closed
            await opportunities.close_opportunity(session, wei, made.id, won=True, reason="again")
        with pytest.raises(Conflict):  # read-only until reopened
            await opportunities.update_opportunity(
                session, wei, made.id, OpportunityChanges(name="Changed")
            )
    [closed] = await events(floor, "crm.opportunity_closed.v1")
    assert closed["won"] is True
    assert (closed["amount"], closed["reason"]) == ("9000.00", "Best price and fast delivery")
    assert closed["customer_id"] == str(party)

    async with floor.session() as session:
        reopened = await opportunities.reopen_opportunity(session, wei, made.id)
        negotiation = named["Negotiation"]  # the last open stage
        assert (reopened.opportunity.stage_id, reopened.opportunity.status) == (
            negotiation.id,
            "open",
        )
        assert (reopened.opportunity.closed_at, reopened.opportunity.close_reason) == (None, "")
        with pytest.raises(Conflict):
            await opportunities.reopen_opportunity(session, wei, made.id)
        lost = await opportunities.close_opportunity(
            session, wei, made.id, won=False, reason="Budget cut"
        )
        assert lost.opportunity.status == "lost"
        entries = await timeline(session, opportunities.RECORD, made.id)
        stage_changes = [
            (c["from"], c["to"]) for e in entries for c in e.changes or [] if c["field"] == "stage"
        ]
        assert stage_changes == [
            ("Negotiation", "Lost"),
            ("Won", "Negotiation"),
            ("Initial contact", "Won"),
        ]
    assert [e["won"] for e in await events(floor, "crm.opportunity_closed.v1")] == [True, False]


async def test_two_people_winning_the_same_deal_at_once_close_it_once(
    floor: SalesFloor,
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    made = await deal(floor, admin, party, amount=Decimal("100"))

    async def win(reason: str) -> str:
        async with floor.session() as session:
            try:
                await opportunities.close_opportunity(
                    session, admin, made.id, won=True, reason=reason
                )
            except Conflict:  # the other one held the row lock and won it first
                return "refused"
            return "won"

    outcomes = await asyncio.gather(win("first"), win("second"))
    assert sorted(outcomes) == ["refused", "won"]
    assert len(await events(floor, "crm.opportunity_closed.v1")) == 1


async def test_a_move_stays_in_the_pipeline_and_members_need_the_right(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    reader = dataclasses.replace(wei, permissions=frozenset({"crm.opportunity.read"}))
    party = await customer(floor, wei)
    made = await deal(floor, wei, party)
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await opportunities.move_opportunity(session, wei, made.id, uuid.uuid4())
        assert refused.value.params["field"] == "stage_id"
        with pytest.raises(PermissionDenied):
            await opportunities.move_opportunity(
                session, reader, made.id, (await stages(floor))["Negotiation"].id
            )


async def test_lines_decide_the_amount_until_the_last_is_removed(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    made = await deal(floor, wei, party, amount=Decimal("500"))
    async with floor.session() as session:
        changed = await opportunities.add_line(
            session, wei, made.id, OpportunityLineIn(product_id=tea, quantity=Decimal(3))
        )
        assert changed.amount == Decimal("264.00")
        with pytest.raises(ValidationFailed) as refused:
            await opportunities.update_opportunity(
                session, wei, made.id, OpportunityChanges(amount=Decimal("1"))
            )
        assert refused.value.params["field"] == "amount"
        [line] = await opportunities.lines_of(session, made.id)
        kept = await opportunities.remove_line(session, wei, made.id, line.id)
        assert kept.amount == Decimal("264.00")  # kept, typed again from now on
        again = await opportunities.update_opportunity(
            session, wei, made.id, OpportunityChanges(amount=Decimal("300"))
        )
        assert again.amount == Decimal("300")


# --- the forecast and the board --------------------------------------------------------------


async def test_the_forecast_weighs_open_deals_by_their_stage_per_month(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    party = await customer(floor, wei)
    lis_party = await customer(floor, li, "Li's customer")
    named = await stages(floor)
    march = date(2026, 3, 10)
    await deal(floor, wei, party, "A", amount=Decimal("1000.00"), expected_close_on=march)  # 10 %
    second = await deal(floor, wei, party, "B", amount=Decimal("333.33"), expected_close_on=march)
    await deal(floor, wei, party, "C", amount=Decimal("50"), expected_close_on=date(2026, 5, 31))
    await deal(floor, wei, party, "D", amount=Decimal("70"))  # no close date
    won = await deal(floor, wei, party, "Won", amount=Decimal("999"), expected_close_on=march)
    await deal(floor, li, lis_party, "Li's", amount=Decimal("5000"), expected_close_on=march)
    async with floor.session() as session:
        await opportunities.move_opportunity(session, wei, second.id, named["Negotiation"].id)
        await opportunities.close_opportunity(session, wei, won.id, won=True, reason="Signed")
        found = await opportunities.forecast(session, wei)
    assert found.currency == "USD"
    assert [(m.month, m.count, m.amount, m.weighted) for m in found.months] == [
        (date(2026, 3, 1), 2, Decimal("1333.33"), Decimal("366.66")),  # 100 + 266.664
        (date(2026, 5, 1), 1, Decimal("50.00"), Decimal("5.00")),
        (None, 1, Decimal("70.00"), Decimal("7.00")),
    ]
    assert (found.amount, found.weighted) == (Decimal("1453.33"), Decimal("378.66"))


async def test_the_board_has_a_column_per_stage_with_its_cards_and_totals(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    named = await stages(floor)
    first = await deal(floor, wei, party, "First", amount=Decimal("10"))
    await deal(floor, wei, party, "Second", amount=Decimal("20.50"))
    async with floor.session() as session:
        await opportunities.close_opportunity(session, wei, first.id, won=False, reason="Price")
        shown = await opportunities.board(session, wei, None)
    assert [c.stage.name for c in shown.columns] == [
        "Initial contact",
        "Needs confirmed",
        "Proposal and quote",
        "Negotiation",
        "Won",
        "Lost",
    ]
    by_name = {c.stage.name: c for c in shown.columns}
    assert [(c.name, c.customer_name, c.owner_name) for c in by_name["Initial contact"].cards] == [
        ("Second", "Hangzhou Tea Co.", "Wei")
    ]
    assert (by_name["Initial contact"].count, by_name["Initial contact"].total) == (
        1,
        Decimal("20.50"),
    )
    assert (by_name["Lost"].count, by_name["Lost"].total) == (1, Decimal("10.00"))
    assert (by_name["Won"].count, by_name["Won"].cards) == (0, [])
    async with floor.session() as session:
        two = await opportunities.board(
            session, wei, None, only_stages={named["open"].id, named["lost"].id}
        )
        assert [c.stage.name for c in two.columns] == ["Initial contact", "Lost"]
        assert len(two.all_stages) == 6
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        theirs = await opportunities.board(session, stranger, None)
        assert all(c.count == 0 for c in theirs.columns)
        with pytest.raises(NotFound):
            await opportunities.board(session, stranger, shown.pipeline.id)
