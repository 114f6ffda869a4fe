"""Quotes: lines with discount and tax in Decimal (rounded per line), drafts only changed,
copied from an opportunity, the customer's answer (the event once, the customer made a
customer), revisions (one live, also when revised twice at once), what a contract is
written from, data scopes and two workspaces."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from core import roles
from core.errors import Conflict, NotFound, ValidationFailed
from core.products import tax
from modules.crm.models import Customer, Opportunity, OpportunityLine, Quote, QuoteLine
from modules.crm.schemas.sales import OpportunityLineIn, QuoteChanges, QuoteIn, QuoteLineIn
from modules.crm.services import quotes
from modules.crm.services.quotes import QuoteFilters, line_amounts
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, deal, events, product


async def vat(floor: SalesFloor, percent: str = "0.13", default: bool = False) -> uuid.UUID:
    async with floor.session() as session:
        made = await tax.create_tax_rate(
            session, f"VAT {percent}", Decimal(percent), kind="sale", is_default=default
        )
        return made.id


async def quote(floor: SalesFloor, actor, party_id: uuid.UUID, *lines: QuoteLineIn, **fields):
    async with floor.session() as session:
        return await quotes.create_quote(
            session, actor, QuoteIn(party_id=party_id, lines=lines, **fields)
        )


async def sent(floor: SalesFloor, actor, quote_id: uuid.UUID) -> Quote:
    async with floor.session() as session:
        return await quotes.mark_sent(session, actor, quote_id)


def test_each_line_rounds_half_up_to_cents_on_its_own() -> None:
    # 3 × 33.335 = 100.005 → 100.01; less 12.5 %: 87.50875 → 87.51; 13 %: 11.3763 → 11.38
    assert line_amounts(Decimal(3), Decimal("33.335"), Decimal("12.5"), Decimal("0.13")) == (
        Decimal("100.01"),
        Decimal("87.51"),
        Decimal("11.38"),
    )
    assert line_amounts(Decimal("0.0001"), Decimal("0.01"), Decimal(0), Decimal(0)) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    )


async def test_a_draft_adds_up_its_lines_with_discount_and_tax(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    thirteen = await vat(floor, "0.13")
    six = await vat(floor, "0.06", default=True)
    tea = await product(floor, "TEA", "龙井茶", "33.34", tax_rate_id=thirteen)
    service = await product(floor, "SVC", "Tasting session", "200")  # no rate: the default
    made = await quote(
        floor,
        wei,
        party,
        # 3.3333 × 33.34 = 111.132222 → 111.13; less 12.5 %: 97.23875 → 97.24; 13 %: 12.64
        QuoteLineIn(product_id=tea, quantity=Decimal("3.3333"), discount_percent=Decimal("12.5")),
        QuoteLineIn(product_id=service, quantity=Decimal(1)),
        QuoteLineIn(product_id=service, quantity=Decimal(2), tax_rate_id=None, description="Free"),
    )
    assert made.number.startswith("QT-")
    assert (made.revision, made.status, made.currency) == (1, "draft", "USD")
    assert made.valid_until == date.today() + timedelta(days=30)
    async with floor.session() as session:
        lines = await quotes.lines_of(session, made.id)
    assert [
        (line.description, line.tax_rate_id, line.tax_rate, line.net_amount, line.tax_amount)
        for line in lines
    ] == [
        ("龙井茶", thirteen, Decimal("0.1300"), Decimal("97.24"), Decimal("12.64")),
        ("Tasting session", six, Decimal("0.0600"), Decimal("200.00"), Decimal("12.00")),
        ("Free", None, Decimal("0.0000"), Decimal("400.00"), Decimal("0.00")),
    ]
    assert (made.subtotal, made.discount_total, made.tax_total, made.total) == (
        Decimal("711.13"),
        Decimal("13.89"),
        Decimal("24.64"),
        Decimal("721.88"),  # 697.24 net + 24.64 tax
    )
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == party))
        assert profile.lifecycle_stage == "prospect"  # a quote makes the CRM profile


async def test_only_a_draft_changes_and_bad_lines_are_refused(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    tea = await product(floor, "TEA", "Tea", "10")
    made = await quote(floor, wei, party, QuoteLineIn(product_id=tea, quantity=Decimal(1)))
    bad = [
        (QuoteLineIn(product_id=tea, quantity=Decimal(0)), "quantity"),
        (QuoteLineIn(product_id=tea, quantity=Decimal("0.00001")), "quantity"),
        (
            QuoteLineIn(product_id=tea, quantity=Decimal(1), discount_percent=Decimal(101)),
            "discount_percent",
        ),
        (QuoteLineIn(product_id=tea, quantity=Decimal(1), unit_price=Decimal("-1")), "unit_price"),
        (QuoteLineIn(product_id=tea, quantity=Decimal(1), tax_rate_id=uuid.uuid4()), "tax_rate_id"),
        (QuoteLineIn(product_id=tea, quantity=Decimal(1), description=" "), "description"),
    ]
    for line, field in bad:
        async with floor.session() as session:
            with pytest.raises(ValidationFailed) as refused:
                await quotes.add_line(session, wei, made.id, line)
            assert refused.value.params["field"] == field, line
    async with floor.session() as session:
        with pytest.raises(ValidationFailed):
            await quotes.update_quote(
                session, wei, made.id, QuoteChanges(valid_until=date.today() - timedelta(days=1))
            )
        added = await quotes.add_line(
            session, wei, made.id, QuoteLineIn(product_id=tea, quantity=Decimal(2))
        )
        assert added.total == Decimal("30.00")
    await sent(floor, wei, made.id)
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await quotes.add_line(
                session, wei, made.id, QuoteLineIn(product_id=tea, quantity=Decimal(1))
            )
        with pytest.raises(Conflict):
            await quotes.update_quote(session, wei, made.id, QuoteChanges(notes="Later"))


async def test_a_quote_from_an_opportunity_starts_with_its_lines(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    other = await customer(floor, wei, "Another customer")
    tea = await product(floor, "TEA", "Tea", "10")
    opportunity = await deal(
        floor,
        wei,
        party,
        lines=(OpportunityLineIn(product_id=tea, quantity=Decimal(4), unit_price=Decimal(9)),),
    )
    async with floor.session() as session:
        made = await quotes.create_quote(
            session, wei, QuoteIn(party_id=party, opportunity_id=opportunity.id)
        )
        [line] = await quotes.lines_of(session, made.id)
        assert (line.quantity, line.unit_price, made.total) == (
            Decimal("4.0000"),
            Decimal("9.00"),
            Decimal("36.00"),
        )
        with pytest.raises(ValidationFailed) as refused:
            await quotes.create_quote(
                session, wei, QuoteIn(party_id=other, opportunity_id=opportunity.id)
            )
        assert refused.value.params["field"] == "opportunity_id"
        listed = await quotes.list_quotes(session, wei, QuoteFilters(opportunity_id=opportunity.id))
        assert [q.id for q in listed.items] == [made.id]


async def test_accepting_publishes_the_lines_once_and_makes_a_customer(
    floor: SalesFloor,
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Tea", "10")
    made = await quote(floor, admin, party, QuoteLineIn(product_id=tea, quantity=Decimal(3)))
    async with floor.session() as session:
        with pytest.raises(Conflict):  # a draft was never sent
            await quotes.accept_quote(session, admin, made.id)
        with pytest.raises(Conflict):  # only an accepted quote becomes a contract
            await quotes.quote_for_contract(session, admin, made.id)
    await sent(floor, admin, made.id)

    async def accept() -> str:
        async with floor.session() as session:
            try:
                await quotes.accept_quote(session, admin, made.id)
            except Conflict:  # the other one held the row lock and accepted it first
                return "refused"
            return "accepted"

    assert sorted(await asyncio.gather(accept(), accept())) == ["accepted", "refused"]
    [accepted] = await events(floor, "crm.quote_accepted.v1")
    assert (accepted["number"], accepted["revision"], accepted["total"]) == (
        made.number,
        1,
        "30.00",
    )
    assert [(line["quantity"], line["net_amount"]) for line in accepted["lines"]] == [
        ("3.0000", "30.00")
    ]
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == party))
        assert profile.lifecycle_stage == "customer"
        for_contract = await quotes.quote_for_contract(session, admin, made.id)
        assert [(line.product_id, line.net_amount) for line in for_contract.lines] == [
            (tea, Decimal("30.00"))
        ]


async def test_an_expired_quote_is_revised_not_accepted(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party = await customer(floor, wei)
    tea = await product(floor, "TEA", "Tea", "10")
    made = await quote(floor, wei, party, QuoteLineIn(product_id=tea, quantity=Decimal(1)))
    await sent(floor, wei, made.id)
    async with floor.session() as session:
        await session.execute(
            update(Quote).where(Quote.id == made.id).values(valid_until=date(2020, 1, 1))
        )
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await quotes.accept_quote(session, wei, made.id)
        revision = await quotes.revise_quote(session, wei, made.id)
        assert revision.valid_until >= date.today()


async def test_revising_supersedes_the_old_one_and_keeps_one_live_revision(
    floor: SalesFloor,
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Tea", "10")
    made = await quote(floor, admin, party, QuoteLineIn(product_id=tea, quantity=Decimal(2)))
    async with floor.session() as session:
        with pytest.raises(Conflict):  # a draft is edited, not revised
            await quotes.revise_quote(session, admin, made.id)
    await sent(floor, admin, made.id)
    async with floor.session() as session:
        await quotes.reject_quote(session, admin, made.id)

    async def revise() -> str:
        async with floor.session() as session:
            try:
                await quotes.revise_quote(session, admin, made.id)
            except Conflict:  # the first revision superseded it while this one waited
                return "refused"
            return "revised"

    assert sorted(await asyncio.gather(revise(), revise())) == ["refused", "revised"]
    async with floor.session() as session:
        revisions = await quotes.revisions_of(session, admin, made)
        assert [(q.revision, q.status, q.total) for q in revisions] == [
            (2, "draft", Decimal("20.00")),
            (1, "superseded", Decimal("20.00")),
        ]
        assert revisions[0].number == made.number
        listed = await quotes.list_quotes(session, admin, QuoteFilters())
        assert [q.revision for q in listed.items] == [2]  # superseded ones left out


async def test_scopes_and_another_workspace(floor: SalesFloor, other_floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    party = await customer(floor, wei)
    tea = await product(floor, "TEA", "Tea", "10")
    made = await quote(floor, wei, party, QuoteLineIn(product_id=tea, quantity=Decimal(1)))
    await deal(floor, wei, party, lines=(OpportunityLineIn(product_id=tea, quantity=Decimal(1)),))
    async with floor.session() as session:
        with pytest.raises(NotFound):
            await quotes.get_quote(session, li, made.id)
        with pytest.raises(NotFound):  # Wei's customer is not Li's
            await quotes.create_quote(session, li, QuoteIn(party_id=party))
        assert (await quotes.list_quotes(session, li, QuoteFilters())).items == []
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        with pytest.raises(NotFound):
            await quotes.get_quote(session, stranger, made.id)
        with pytest.raises(NotFound):
            await quotes.quote_for_contract(session, stranger, made.id)
        for table in (Quote, QuoteLine, Opportunity, OpportunityLine):  # RLS and the criterion
            assert await session.scalar(select(func.count()).select_from(table)) == 0
