"""Follow-ups over the services: recording one keeps the customer's last follow-up, its
next date becomes a core activity for the customer's owner that core's reminder job turns
into a notification on the day, a new follow-up settles the earlier reminder, bad input
names its field, and another owner's or workspace's customer is not found."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core import roles
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.records import timeline
from core.records.models import Activity, Notification
from modules.crm.models import Customer, FollowUp
from modules.crm.schemas.customers import ContactIn, FollowUpIn
from modules.crm.services import contacts, followups
from modules.crm.services.opportunities import NewOpportunity, create_opportunity
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_customers import new_customer

NOW = datetime(2026, 4, 10, 8, 30, tzinfo=UTC)


async def record(floor: SalesFloor, actor, party_id: uuid.UUID, **fields):
    async with floor.session() as session:
        return await followups.record_follow_up(
            session, actor, party_id, FollowUpIn(**{"kind": "call", **fields}), now=NOW
        )


async def test_a_follow_up_keeps_the_last_date_and_plans_a_reminder_for_the_owner(
    floor: SalesFloor,
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    boss = await floor.manager("Boss", sales)
    made = await new_customer(floor, wei, "Tianjin Glass")
    async with floor.session() as session:
        contact = await contacts.create_contact(session, wei, made, ContactIn(name="Wang Fang"))
        deal = await create_opportunity(session, wei, NewOpportunity(name="Windows", party_id=made))
    visited = NOW - timedelta(days=2)
    shown = await record(
        floor,
        boss,  # the manager visited; the reminder is the owner's
        made,
        kind="visit",
        content="Showed the samples; they want a quote.",
        happened_at=visited,
        contact_id=contact.id,
        opportunity_id=deal.id,
        next_on=date(2026, 4, 15),
    )
    assert (shown.kind, shown.contact_name, shown.owner_name, shown.opportunity_id) == (
        "visit",
        "Wang Fang",
        "Boss",
        deal.id,
    )
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == made))
        assert profile is not None
        assert profile.last_follow_up_at == visited
        planned = await timeline.list_activities(session, "core.party", made)
        assert [(a.assignee_id, a.due_on, a.summary, a.id) for a in planned] == [
            (wei.user_id, date(2026, 4, 15), "Follow up with Tianjin Glass", shown.next_activity_id)
        ]
        told = (await session.scalars(select(Notification.kind))).all()
        assert told == ["activity_assigned"]  # Boss planned it for Wei

    async with floor.session() as session:  # core's reminder job, on the day
        assert await timeline.remind_due_activities(session, NOW + timedelta(days=4)) == []
        due = await timeline.remind_due_activities(session, datetime(2026, 4, 15, 9, tzinfo=UTC))
        assert [(n.user_id, n.kind) for n in due] == [(wei.user_id, "activity_due")]

    # An older follow-up entered later does not move the last date back.
    await record(floor, wei, made, content="An old call", happened_at=NOW - timedelta(days=9))
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == made))
        assert profile is not None
        assert profile.last_follow_up_at == visited


async def test_a_new_follow_up_settles_the_reminder_the_last_one_planned(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Harbin Ice")
    first = await record(floor, wei, made, content="Call back Friday", next_on=date(2026, 4, 17))
    second = await record(floor, wei, made, kind="email", content="Sent the price list")
    async with floor.session() as session:
        reminder = await session.get(Activity, (floor.tenant_id, first.next_activity_id))
        assert reminder is not None
        assert reminder.done_at is not None
        assert await timeline.list_activities(session, "core.party", made) == []
        listed = await followups.list_follow_ups(session, wei, made)
        assert [f.id for f in listed] == [second.id, first.id]
        older = await followups.list_follow_ups(session, wei, made, before=second.id)
        assert [f.id for f in older] == [first.id]


async def test_bad_input_names_its_field_and_writes_nothing(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    made = await new_customer(floor, wei, "Lanzhou Noodles")
    other = await new_customer(floor, wei, "Other Co")
    async with floor.session() as session:
        others_contact = await contacts.create_contact(session, wei, other, ContactIn(name="X"))
        others_deal = await create_opportunity(
            session, wei, NewOpportunity(name="Elsewhere", party_id=other)
        )
    for fields, field in (
        ({"kind": "fax"}, "kind"),
        ({"content": "  "}, "content"),
        ({"content": "x" * 10_001}, "content"),
        ({"happened_at": NOW + timedelta(hours=1)}, "happened_at"),
        ({"happened_at": datetime(2026, 4, 1, 9, 0)}, "happened_at"),  # no UTC offset
        ({"contact_id": others_contact.id}, "contact_id"),
        ({"opportunity_id": others_deal.id}, "opportunity_id"),
        ({"next_on": date(2026, 4, 9)}, "next_on"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            await record(floor, wei, made, **{"content": "Called", **fields})
        assert refused.value.params["field"] == field, fields
    async with floor.session() as session:
        assert (await session.scalars(select(FollowUp))).all() == []


async def test_only_those_who_may_change_the_customer_record_follow_ups(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    made = await new_customer(floor, wei, "Kunming Flowers")
    await record(floor, wei, made, content="First call")
    with pytest.raises(NotFound):
        await record(floor, li, made, content="Not my customer")
    async with floor.session() as session:
        with pytest.raises(NotFound):
            await followups.list_follow_ups(session, li, made)
    admin = await floor.member("Admin", role=roles.ADMIN)
    reader = await floor.member(
        "Reader", custom=["crm.customer.read"], custom_scopes={"crm.customer": "all"}
    )
    assert len(await _listed(floor, admin, made)) == 1
    limited = type(reader)(
        tenant_id=reader.tenant_id,
        user_id=reader.user_id,
        membership_id=reader.membership_id,
        permissions=frozenset({"crm.customer.read"}),
        scopes=reader.scopes,
    )
    assert len(await _listed(floor, limited, made)) == 1
    with pytest.raises(PermissionDenied):
        await record(floor, limited, made, content="Reading only")

    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        with pytest.raises(NotFound):
            await followups.record_follow_up(
                session, stranger, made, FollowUpIn(kind="call", content="Spy"), now=NOW
            )
        assert (await session.scalars(select(FollowUp))).all() == []  # RLS: none of acme's


async def _listed(floor: SalesFloor, actor, party_id: uuid.UUID) -> list:
    async with floor.session() as session:
        return await followups.list_follow_ups(session, actor, party_id)
