"""CRM customers over the services: a customer is a core party with a CRM profile, listed
within the member's scope with search, filters and keyset pages; its profile changes are
tracked on the party's timeline; a transfer moves it (and its contacts) to another owner
and department; contacts are people at the customer; and CRM's panel on core's party
page appears only for those who may read CRM customers."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import roles
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.parties import services as parties
from core.parties.models import Party
from core.parties.schemas import PartyIn
from core.permissions import Actor
from core.records import timeline
from core.records.models import Notification
from modules.crm.models import Contract, Customer, Opportunity, Payment, Quote, Ticket
from modules.crm.schemas.customers import (
    ContactChanges,
    ContactIn,
    CustomerChanges,
    CustomerIn,
)
from modules.crm.services import contacts, customers
from modules.crm.services.customer_records import related_sections
from modules.crm.services.customers import CustomerFilters
from modules.crm.services.opportunities import NewOpportunity, create_opportunity
from tests.modules.crm.conftest import SalesFloor


async def new_customer(floor: SalesFloor, actor: Actor, name: str, **fields) -> uuid.UUID:
    async with floor.session() as session:
        made = await customers.create_customer(session, actor, CustomerIn(name=name, **fields))
        return made.id


async def names(floor: SalesFloor, actor: Actor, **filters) -> list[str]:
    async with floor.session() as session:
        page = await customers.list_customers(session, actor, CustomerFilters(**filters))
        return [item.name for item in page.items]


async def test_a_new_customer_is_a_core_party_with_a_profile_owned_by_its_creator(
    floor: SalesFloor,
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    made = await new_customer(
        floor,
        wei,
        "Hangzhou Tea Ltd",
        email="buy@tea.example",
        phone="+86 571 8888 1234",
        tags=("VIP",),
        level="A",
        source="referral",
        industry="Food and drink",
    )
    async with floor.session() as session:
        party = await session.get(Party, (floor.tenant_id, made))
        assert party is not None
        assert (party.is_customer, party.owner_id, party.department_id) == (
            True,
            wei.user_id,
            sales,
        )
        shown = await customers.get_customer(session, wei, made)
    assert (shown.name, shown.level, shown.source, shown.industry, shown.tags) == (
        "Hangzhou Tea Ltd",
        "A",
        "referral",
        "Food and drink",
        ["VIP"],
    )
    assert (shown.lifecycle_stage, shown.owner_name, shown.in_pool) == ("prospect", "Wei", False)


async def test_the_list_filters_searches_and_pages_by_name(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    await new_customer(floor, wei, "Anhui Steel", level="A", industry="Steel", tags=("North",))
    await new_customer(floor, wei, "Beijing Paper", lifecycle_stage="customer", source="lead")
    await new_customer(floor, wei, "Chengdu Spice", phone="028 8765 4321", industry="Food")
    await new_customer(floor, li, "Dalian Ships")
    admin = await floor.member("Admin", role=roles.ADMIN)

    assert await names(floor, wei) == ["Anhui Steel", "Beijing Paper", "Chengdu Spice"]
    assert await names(floor, wei, level="A") == ["Anhui Steel"]
    assert await names(floor, wei, stage="customer") == ["Beijing Paper"]
    assert await names(floor, wei, source="lead") == ["Beijing Paper"]
    assert await names(floor, wei, industry="foo") == ["Chengdu Spice"]
    assert await names(floor, wei, tag="North") == ["Anhui Steel"]
    assert await names(floor, wei, search="paper") == ["Beijing Paper"]
    assert await names(floor, wei, search="87654321") == ["Chengdu Spice"]  # by phone
    assert await names(floor, admin, owner_id=li.user_id) == ["Dalian Ships"]

    async with floor.session() as session:
        first = await customers.list_customers(session, admin, limit=3)
        assert [c.name for c in first.items] == ["Anhui Steel", "Beijing Paper", "Chengdu Spice"]
        assert first.next_cursor is not None
        rest = await customers.list_customers(session, admin, cursor=first.next_cursor, limit=3)
        assert ([c.name for c in rest.items], rest.next_cursor) == (["Dalian Ships"], None)
        with pytest.raises(ValidationFailed):
            await customers.list_customers(session, admin, cursor="not a cursor")


async def test_salespeople_see_their_own_managers_their_department_admins_all(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    east = await floor.department("East", sales)
    north = await floor.department("North")
    wei = await floor.member("Wei", department=east)
    li = await floor.member("Li", department=north)
    boss = await floor.manager("Boss", sales)
    admin = await floor.member("Admin", role=roles.ADMIN)
    weis = await new_customer(floor, wei, "Wei's customer")
    await new_customer(floor, li, "Li's customer")

    assert await names(floor, wei) == ["Wei's customer"]
    assert await names(floor, li) == ["Li's customer"]
    assert await names(floor, boss) == ["Wei's customer"]  # East is under Sales
    assert await names(floor, admin) == ["Li's customer", "Wei's customer"]
    async with floor.session() as session:
        with pytest.raises(NotFound):
            await customers.get_customer(session, li, weis)

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    assert await names(other_floor, stranger) == []
    async with other_floor.session() as session:
        with pytest.raises(NotFound):
            await customers.get_customer(session, stranger, weis)
        with pytest.raises(NotFound):
            await customers.update_customer(session, stranger, weis, CustomerChanges(level="B"))


async def test_a_party_marked_customer_in_core_is_listed_with_the_profile_defaults(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    async with floor.session() as session:
        core_made = await parties.create_party(
            session, wei, PartyIn(kind="company", name="Made in core", is_customer=True)
        )
        await parties.create_party(session, wei, PartyIn(kind="company", name="A supplier"))
    async with floor.session() as session:
        listed = (await customers.list_customers(session, wei)).items
        assert [(c.name, c.lifecycle_stage, c.source) for c in listed] == [
            ("Made in core", "prospect", "manual")
        ]
        assert await session.scalar(select(Customer.id)) is None  # reading wrote nothing
        changed = await customers.update_customer(
            session, wei, core_made.id, CustomerChanges(level="B")
        )
        assert changed.level == "B"


async def test_profile_changes_are_checked_and_tracked_on_the_partys_timeline(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Suzhou Silk")
    async with floor.session() as session:
        changed = await customers.update_customer(
            session,
            wei,
            made,
            CustomerChanges(
                name="Suzhou Silk Co", lifecycle_stage="customer", level="A", tags=("East",)
            ),
        )
        assert (changed.name, changed.lifecycle_stage, changed.level, changed.tags) == (
            "Suzhou Silk Co",
            "customer",
            "A",
            ["East"],
        )
        entries = await timeline.timeline(session, "core.party", made)
        tracked = {c["field"]: (c["from"], c["to"]) for e in entries for c in e.changes or []}
        assert tracked["lifecycle_stage"] == ("Prospect", "Customer")
        assert tracked["level"] == (None, "A")
        assert tracked["name"] == ("Suzhou Silk", "Suzhou Silk Co")
    for changes, field in (
        (CustomerChanges(lifecycle_stage="famous"), "lifecycle_stage"),
        (CustomerChanges(level="D"), "level"),
        (CustomerChanges(source="rumour"), "source"),
        (CustomerChanges(industry="x" * 101), "industry"),
        (CustomerChanges(name=""), "name"),
        (CustomerChanges(tags=("x" * 51,)), "tags"),
    ):
        async with floor.session() as session:
            with pytest.raises(ValidationFailed) as refused:
                await customers.update_customer(session, wei, made, changes)
            assert refused.value.params["field"] == field
    with pytest.raises(ValidationFailed) as refused:
        await new_customer(floor, wei, "Bad phone", phone="12")
    assert refused.value.params["field"] == "phone"


async def test_a_member_without_the_right_cannot_write(floor: SalesFloor) -> None:
    reader = await floor.member(
        "Reader", custom=["crm.customer.read"], custom_scopes={"crm.customer": "all"}
    )
    reader = Actor(
        tenant_id=reader.tenant_id,
        user_id=reader.user_id,
        membership_id=reader.membership_id,
        permissions=frozenset({"crm.customer.read"}),
        scopes=reader.scopes,
    )
    with pytest.raises(PermissionDenied):
        await new_customer(floor, reader, "Nope")


async def test_a_transfer_moves_the_customer_and_its_contacts_to_the_new_owner(
    floor: SalesFloor,
) -> None:
    east, north = await floor.department("East"), await floor.department("North")
    wei = await floor.member("Wei", department=east)
    li = await floor.member("Li", department=north)
    made = await new_customer(floor, wei, "Qingdao Beer")
    async with floor.session() as session:
        contact = await contacts.create_contact(session, wei, made, ContactIn(name="Zhang San"))
    async with floor.session() as session:
        moved = await customers.transfer_customer(session, wei, made, li.user_id)
        assert (moved.owner_id, moved.department_id) == (li.user_id, north)
        person = await session.get(Party, (floor.tenant_id, contact.id))
        assert person is not None
        assert (person.owner_id, person.department_id) == (li.user_id, north)
        told = (await session.scalars(select(Notification))).all()
        assert [(n.user_id, n.kind, n.params["customer"]) for n in told] == [
            (li.user_id, "crm.customer_given", "Qingdao Beer")
        ]
        entries = await timeline.timeline(session, "core.party", made)
        owner = next(c for e in entries for c in e.changes or [] if c["field"] == "owner")
        assert (owner["from"], owner["to"]) == ("Wei", "Li")
    assert await names(floor, wei) == []
    assert await names(floor, li) == ["Qingdao Beer"]
    async with floor.session() as session:
        assert [c.name for c in await contacts.list_contacts(session, li, made)] == ["Zhang San"]
        with pytest.raises(ValidationFailed) as refused:
            await customers.transfer_customer(session, li, made, li.user_id)
        assert refused.value.params["field"] == "owner_id"
        with pytest.raises(ValidationFailed):
            await customers.transfer_customer(session, li, made, uuid.uuid4())


async def test_contacts_are_people_at_a_company_customer(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Xiamen Ports")
    person = await new_customer(floor, wei, "Liu Yang", kind="person")
    async with floor.session() as session:
        contact = await contacts.create_contact(
            session,
            wei,
            made,
            ContactIn(name="Chen Jing", email="chen@ports.example", phone="+86 592 555 0101"),
        )
        assert (contact.email, contact.phone) == ("chen@ports.example", "+86 592 555 0101")
        with pytest.raises(ValidationFailed):
            await contacts.create_contact(session, wei, person, ContactIn(name="Nobody"))
    async with floor.session() as session:
        changed = await contacts.update_contact(
            session,
            wei,
            made,
            contact.id,
            ContactChanges(name="Chen Jing (buyer)", email="", phone="+86 592 555 0199"),
        )
        assert (changed.name, changed.email, changed.phone) == (
            "Chen Jing (buyer)",
            None,
            "+86 592 555 0199",
        )
        with pytest.raises(ValidationFailed) as refused:
            await contacts.update_contact(
                session, wei, made, contact.id, ContactChanges(email="not-an-address")
            )
        assert refused.value.params["field"] == "email"
    other = await new_customer(floor, wei, "Fuzhou Tea")
    async with floor.session() as session:
        # A contact is its customer's own: through another customer it is not found.
        with pytest.raises(NotFound):
            await contacts.update_contact(session, wei, other, contact.id, ContactChanges())
        with pytest.raises(NotFound):
            await contacts.get_contact(session, wei, made, person)

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        with pytest.raises(NotFound):
            await contacts.list_contacts(session, stranger, made)
        with pytest.raises(NotFound):
            await contacts.create_contact(session, stranger, made, ContactIn(name="Spy"))


async def test_the_customer_page_lists_its_records_each_within_its_own_scope(
    floor: SalesFloor,
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    made = await new_customer(floor, wei, "Record Co")
    async with floor.session() as session:
        mine = await create_opportunity(session, wei, NewOpportunity(name="Mine", party_id=made))
        admin = await floor.member("Admin", role=roles.ADMIN)
        theirs = Opportunity(
            number="OP-THEIRS",
            name="Li's deal",
            party_id=made,
            pipeline_id=mine.pipeline_id,
            stage_id=mine.stage_id,
            currency="CNY",
            owner_id=li.user_id,
        )
        quote = Quote(
            number="QT-1",
            revision=2,
            party_id=made,
            status="sent",
            currency="CNY",
            total=Decimal("1130.00"),
            owner_id=wei.user_id,
            opportunity_id=mine.id,
        )
        contract = Contract(
            number="CT-1",
            title="Supply",
            party_id=made,
            amount=Decimal("5000"),
            currency="CNY",
            status="signed",
            owner_id=wei.user_id,
        )
        ticket = Ticket(
            number="TK-1",
            party_id=made,
            subject="Broken box",
            status="in_progress",
            sla_due_at=datetime(2026, 5, 1, tzinfo=UTC),
            owner_id=wei.user_id,
        )
        session.add_all([theirs, quote, contract, ticket])
        await session.flush()
        session.add(
            Payment(
                contract_id=contract.id,
                amount=Decimal("2000"),
                received_on=date(2026, 4, 2),
                method="bank_transfer",  # shown as its label
            )
        )
        await session.flush()
        shown = {
            s.key: [(r.number, r.title, r.status, r.amount) for r in s.rows]
            for s in await related_sections(session, wei, "acme", made)
        }
        assert shown == {
            "opportunities": [(mine.number, "Mine", "Initial contact", Decimal("0.00"))],
            "quotes": [("QT-1 / 2", "Mine", "Sent", Decimal("1130.00"))],
            "contracts": [("CT-1", "Supply", "Signed", Decimal("5000.00"))],
            "payments": [("CT-1", "Supply", "Bank transfer", Decimal("2000.00"))],
            "tickets": [("TK-1", "Broken box", "In progress", None)],
        }
        everything = await related_sections(session, admin, "acme", made)
        assert [r.number for r in everything[0].rows] == ["OP-THEIRS", mine.number]
        assert everything[0].rows[0].href == f"/t/acme/crm/opportunities/{theirs.id}"
        reader = Actor(
            tenant_id=wei.tenant_id,
            user_id=wei.user_id,
            membership_id=wei.membership_id,
            permissions=frozenset({"crm.customer.read", "crm.ticket.read"}),
            scopes=wei.scopes,
        )
        assert [s.key for s in await related_sections(session, reader, "acme", made)] == ["tickets"]
