"""Leads through their services: numbers, duplicates against leads and parties, the scoped
list and search, status, disqualifying, assigning by hand, and conversion (all or nothing,
once, with its event and its trace on the customer's timeline); never across workspaces."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import OutboxEvent
from core.parties import services as parties
from core.parties.models import Party
from core.parties.schemas import ContactPointIn, PartyIn
from core.permissions import Actor
from core.plugins.results import SearchResult
from core.records.models import TimelineEntry
from modules.crm import plugin
from modules.crm.models import Customer, Lead, Opportunity
from modules.crm.schemas.leads import ConvertIn, LeadChanges, LeadIn
from modules.crm.services import lead_conversion, leads
from tests.modules.crm.conftest import SalesFloor


async def make_lead(floor: SalesFloor, actor: Actor, name: str = "Wang Fang", **fields) -> Lead:
    async with floor.session() as session:
        return await leads.create_lead(
            session,
            actor,
            LeadIn(name=name, owner_id=fields.pop("owner_id", actor.user_id), **fields),
        )


async def test_a_lead_is_numbered_checked_and_normalised(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    first = await make_lead(
        floor, wei, email=" Fang@Acme.TEST ", phone="138 1234 5678", company_name="ACME Co., Ltd."
    )
    second = await make_lead(floor, wei, "Li Lei", phone="+86 139 0000 0000")
    assert first.number.startswith("LD-")
    assert second.number != first.number
    assert (first.email, first.email_normalised) == ("Fang@Acme.TEST", "fang@acme.test")
    assert first.phone_normalised == "13812345678"  # an en workspace: no country assumed
    assert first.company_normalised == "acme"
    assert (first.status, first.owner_id, first.source) == ("new", wei.user_id, "manual")

    async with floor.session() as session:
        for data, field in (
            (LeadIn(name=" "), "name"),
            (LeadIn(name="X", email="not-an-address"), "email"),
            (LeadIn(name="X", phone="12"), "phone"),
            (LeadIn(name="X", source="telepathy"), "source"),
            (LeadIn(name="X", region="r" * 101), "region"),
        ):
            with pytest.raises(ValidationFailed) as refused:
                await leads.create_lead(session, wei, data)
            assert refused.value.params["field"] == field


async def test_a_lead_like_another_lead_or_a_party_is_refused_until_confirmed(
    floor: SalesFloor,
) -> None:
    owner = await floor.member("Olivia", role=roles.OWNER)
    wei = await floor.member("Wei")
    theirs = await make_lead(floor, owner, "Zhang Wei", email="zhang@bolt.test")
    async with floor.session() as session:
        party = await parties.create_party(
            session,
            owner,
            PartyIn(
                kind="company",
                name="Bolt Motors Ltd",
                contact_points=(ContactPointIn(kind="phone", value="021 5555 0101"),),
            ),
        )

    async with floor.session() as session:
        with pytest.raises(leads.LeadDuplicateSuspected) as refused:
            await leads.create_lead(
                session,
                owner,
                LeadIn(name="Z. Wei", email="ZHANG@bolt.test", company_name="Bolt Motors"),
            )
    found = {(c.kind, c.id): c for c in refused.value.candidates}
    assert found["lead", theirs.id].reasons == ("email",)
    assert found["lead", theirs.id].number == theirs.number
    assert found["party", party.id].reasons == ("name",)
    assert refused.value.params["candidates"][0]["kind"] == "lead"  # for the JSON body

    # Wei (own scope) learns that they exist, not whose they are.
    async with floor.session() as session:
        with pytest.raises(leads.LeadDuplicateSuspected) as hidden:
            await leads.create_lead(session, wei, LeadIn(name="Zhang", email="zhang@bolt.test"))
    assert [(c.kind, c.name, c.number) for c in hidden.value.candidates] == [("lead", None, None)]

    async with floor.session() as session:
        confirmed = await leads.create_lead(
            session,
            owner,
            LeadIn(name="Z. Wei", email="zhang@bolt.test", allow_duplicates=True),
        )
    assert confirmed.email_normalised == theirs.email_normalised


async def test_the_list_shows_what_the_scope_shows_and_pages_by_keyset(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    li = await floor.member("Li", department=sales)
    boss = await floor.manager("Boss", sales)
    for number in range(3):
        await make_lead(floor, wei, f"Wei's {number}", email=f"w{number}@x.test")
    await make_lead(floor, li, "Li's", phone="13900000000")
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    await make_lead(other_floor, stranger, "Elsewhere")

    async with floor.session() as session:
        mine = await leads.list_leads(session, wei)
        assert [i.name for i in mine.items] == ["Wei's 2", "Wei's 1", "Wei's 0"]
        everyone = await leads.list_leads(session, boss, limit=2)
        assert [i.name for i in everyone.items] == ["Li's", "Wei's 2"]
        assert everyone.next_cursor is not None
        rest = await leads.list_leads(session, boss, limit=2, after=everyone.next_cursor)
        assert [i.name for i in rest.items] == ["Wei's 1", "Wei's 0"]
        assert rest.next_cursor is None
        by_phone = await leads.list_leads(session, boss, search="1390000")
        assert [i.name for i in by_phone.items] == ["Li's"]
        assert [
            i.owner_name for i in (await leads.list_leads(session, boss, owner="me")).items
        ] == []
        with pytest.raises(ValidationFailed):
            await leads.list_leads(session, boss, after="not-a-cursor")
    async with other_floor.session() as session:
        assert [i.name for i in (await leads.list_leads(session, stranger)).items] == ["Elsewhere"]
        elsewhere = (await leads.list_leads(session, stranger)).items[0].id
    async with floor.session() as session:
        with pytest.raises(NotFound):
            await leads.get_lead(session, boss, elsewhere)


async def test_status_disqualify_reopen_and_assign_are_tracked_on_the_timeline(
    floor: SalesFloor,
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei")
    li = await floor.member("Li", department=sales)
    lead = await make_lead(floor, wei, company_name="Acme")
    async with floor.session() as session:
        await leads.update_lead(session, wei, lead.id, LeadChanges(status="contacted", title="CTO"))
        with pytest.raises(ValidationFailed):
            await leads.update_lead(session, wei, lead.id, LeadChanges(status="converted"))
        with pytest.raises(ValidationFailed) as blank:
            await leads.disqualify(session, wei, lead.id, " ")
        assert blank.value.params["field"] == "reason"
        await leads.disqualify(session, wei, lead.id, "No budget this year")
        reopened = await leads.update_lead(session, wei, lead.id, LeadChanges(status="qualified"))
        assert (reopened.status, reopened.disqualified_reason) == ("qualified", "")
        given = await leads.assign_lead(session, wei, lead.id, li.user_id)
        assert (given.owner_id, given.department_id) == (li.user_id, sales)
        assert given.assigned_at is not None
        changes = [
            {c["field"]: (c["from"], c["to"]) for c in entry.changes}
            for entry in await session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.record_id == lead.id)
                .order_by(TimelineEntry.id)
            )
        ]
    reason = "No budget this year"
    assert changes == [
        {"title": ("", "CTO"), "status": ("New", "Contacted")},
        {"status": ("Contacted", "Disqualified"), "disqualified_reason": ("", reason)},
        {"status": ("Disqualified", "Qualified"), "disqualified_reason": (reason, "")},
        {"owner": ("Wei", "Li")},
    ]
    async with floor.session() as session:  # now Li's: Wei no longer sees it
        with pytest.raises(NotFound):
            await leads.get_lead(session, wei, lead.id)
        with pytest.raises(ValidationFailed):
            await leads.assign_lead(session, li, lead.id, uuid.uuid4())


async def test_conversion_makes_customer_contact_profile_and_opportunity_in_one_go(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    lead = await make_lead(
        floor,
        wei,
        "Chen Jie",
        company_name="Delta Tools",
        email="chen@delta.test",
        phone="13812345678",
        source="exhibition",
        notes="Met at the Canton fair.",
    )
    async with floor.session() as session:
        done = await lead_conversion.convert(
            session,
            wei,
            lead.id,
            ConvertIn(create_opportunity=True, amount=Decimal("12000.50")),
        )
    async with floor.session() as session:
        company = await session.get(Party, (floor.tenant_id, done.customer_id))
        contact = await session.get(Party, (floor.tenant_id, done.contact_id))
        assert (company.name, company.kind, company.is_customer, company.owner_id) == (
            "Delta Tools",
            "company",
            True,
            wei.user_id,
        )
        assert company.notes == "Met at the Canton fair."
        assert (contact.kind, contact.company_id, contact.name) == (
            "person",
            company.id,
            "Chen Jie",
        )
        profile = await session.scalar(select(Customer).where(Customer.party_id == company.id))
        assert (profile.source, profile.lifecycle_stage) == ("exhibition", "customer")
        opportunity = await session.get(Opportunity, (floor.tenant_id, done.opportunity_id))
        assert (opportunity.lead_id, opportunity.amount, opportunity.name) == (
            lead.id,
            Decimal("12000.50"),
            "Delta Tools",
        )
        converted = await session.get(Lead, (floor.tenant_id, lead.id))
        assert converted.status == "converted"
        assert converted.converted_at is not None
        assert (converted.customer_party_id, converted.contact_party_id) == (company.id, contact.id)
        trace = await session.scalar(
            select(TimelineEntry.body).where(
                TimelineEntry.record_type == "core.party", TimelineEntry.record_id == company.id
            )
        )
        assert trace == f"Converted from lead {lead.number} (Chen Jie)."
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.event_type == "crm.lead_converted.v1")
        )
        assert event.payload["lead_id"] == str(lead.id)
        assert event.payload["customer_id"] == str(company.id)
        assert event.payload["opportunity_id"] == str(opportunity.id)

        with pytest.raises(Conflict):  # converting twice is refused
            await lead_conversion.convert(session, wei, lead.id, ConvertIn())
        with pytest.raises(Conflict):  # and a converted lead is history
            await leads.update_lead(session, wei, lead.id, LeadChanges(name="Other"))


async def test_a_refused_conversion_leaves_nothing_behind(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    lead = await make_lead(floor, wei, "Chen Jie", company_name="Delta Tools")
    async with floor.session() as session:
        await parties.create_party(session, wei, PartyIn(kind="company", name="Delta Tools Co."))
    async with floor.session() as session:
        with pytest.raises(parties.DuplicateSuspected):
            async with session.begin_nested():
                await lead_conversion.convert(session, wei, lead.id, ConvertIn())
        with pytest.raises(ValidationFailed):  # a negative amount, after the parties were made
            async with session.begin_nested():
                await lead_conversion.convert(
                    session,
                    wei,
                    lead.id,
                    ConvertIn(allow_duplicates=True, create_opportunity=True, amount=Decimal("-1")),
                )
        assert (await session.get(Lead, (floor.tenant_id, lead.id))).status == "new"
        assert [p.name for p in await session.scalars(select(Party))] == ["Delta Tools Co."]
        assert (
            await session.scalar(
                select(OutboxEvent.id).where(OutboxEvent.event_type == "crm.lead_converted.v1")
            )
            is None
        )
    # Linking the existing company instead: no second company, the lead converts.
    async with floor.session() as session:
        existing = await session.scalar(select(Party.id))
        done = await lead_conversion.convert(session, wei, lead.id, ConvertIn(customer_id=existing))
        assert done.customer_id == existing
        assert (await session.get(Party, (floor.tenant_id, existing))).is_customer


async def test_a_disqualified_or_unseen_lead_is_not_converted(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    lead = await make_lead(floor, wei, company_name="Acme")
    async with floor.session() as session:
        await leads.disqualify(session, wei, lead.id, "A competitor")
        with pytest.raises(Conflict):
            await lead_conversion.convert(session, wei, lead.id, ConvertIn())
        with pytest.raises(NotFound):
            await lead_conversion.convert(session, li, lead.id, ConvertIn())
    reader = Actor(
        tenant_id=floor.tenant_id,
        user_id=wei.user_id,
        membership_id=wei.membership_id,
        permissions=frozenset({"crm.lead.read"}),
        scopes=wei.scopes,
    )
    async with floor.session() as session:
        with pytest.raises(PermissionDenied):
            await lead_conversion.convert(session, reader, lead.id, ConvertIn())


async def test_two_conversions_at_once_make_one_customer(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    lead = await make_lead(floor, wei, "Chen Jie", company_name="Delta Tools")

    async def convert() -> str:
        async with floor.session() as session:
            try:
                await lead_conversion.convert(
                    session, wei, lead.id, ConvertIn(allow_duplicates=True)
                )
            except Conflict:
                return "refused"
            return "converted"

    assert sorted(await asyncio.gather(convert(), convert())) == ["converted", "refused"]
    async with floor.session() as session:
        assert [
            p.name for p in await session.scalars(select(Party).where(Party.kind == "company"))
        ] == ["Delta Tools"]


async def test_the_global_search_finds_only_leads_the_member_may_see(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    lead = await make_lead(floor, wei, "Chen Jie", company_name="Delta Tools")
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    await make_lead(other_floor, stranger, "Chen Elsewhere")
    async with floor.session() as session:
        found = await plugin.atrium_global_search(
            ctx=floor.ctx, session=session, actor=wei, query="chen"
        )
        assert found == [
            SearchResult(
                f"{lead.number} Chen Jie", f"/t/acme/crm/leads/{lead.id}", "crm", "Leads", 2.0
            )
        ]
        assert (
            await plugin.atrium_global_search(
                ctx=floor.ctx, session=session, actor=wei, query=lead.number
            )
        )[0].score == 3.0
        assert (
            await plugin.atrium_global_search(
                ctx=floor.ctx, session=session, actor=li, query="chen"
            )
            == []
        )
