"""Service tickets: opened for a customer with a priority and its SLA, assigned (the
department follows), moved through their statuses, listed when overdue; scopes and two
workspaces."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core import roles
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import OutboxEvent
from core.permissions import Actor
from core.records.timeline import timeline
from modules.crm.models import Ticket
from modules.crm.schemas.contracts import TicketIn
from modules.crm.services import tickets
from modules.crm.services.tickets import SLA_HOURS, TicketChanges
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts import contact, customer


async def opened(floor: SalesFloor, actor: Actor, party_id, **fields) -> Ticket:
    async with floor.session() as session:
        return await tickets.open_ticket(
            session, actor, TicketIn(party_id=party_id, subject="Kettle leaks", **fields)
        )


async def test_a_ticket_is_numbered_due_by_its_priority_and_announced(floor: SalesFloor) -> None:
    support = await floor.department("Support")
    wei = await floor.member("Wei")
    mei = await floor.member("Mei", department=support)
    party_id = await customer(floor, wei)
    person = await contact(floor, wei, party_id, "Zhang San")
    before = datetime.now(UTC)
    made = await opened(
        floor, wei, party_id, priority="urgent", contact_id=person, assignee_id=mei.user_id
    )
    assert made.number.startswith("TK-")
    assert (made.status, made.owner_id, made.department_id) == ("open", mei.user_id, support)
    assert before + timedelta(hours=4) <= made.sla_due_at <= datetime.now(UTC) + timedelta(hours=4)
    assert SLA_HOURS == {"urgent": 4, "high": 8, "normal": 24, "low": 72}
    async with floor.session() as session:
        [event] = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.event_type == "crm.ticket_opened.v1")
        )
    assert (event["number"], event["priority"], event["assignee_id"]) == (
        made.number,
        "urgent",
        str(mei.user_id),
    )
    mine = await opened(floor, wei, party_id)
    assert (mine.owner_id, mine.priority) == (wei.user_id, "normal")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": " "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"priority": "whenever"}, "priority"),
        ({"description": "x" * 20_001}, "description"),
    ],
)
async def test_a_ticket_with_bad_input_is_refused_by_its_input(
    floor: SalesFloor, fields: dict, field: str
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await tickets.open_ticket(
                session, wei, TicketIn(**{"party_id": party_id, "subject": "S", **fields})
            )
    assert refused.value.params["field"] == field


async def test_a_ticket_moves_through_its_statuses_with_each_move_on_its_timeline(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    made = await opened(floor, wei, await customer(floor, wei))
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await tickets.move_ticket(session, wei, made.id, "close")
        for action in ("start", "resolve"):
            moved = await tickets.move_ticket(session, wei, made.id, action)
        assert moved.resolved_at is not None
        reopened = await tickets.move_ticket(session, wei, made.id, "reopen")
        assert (reopened.status, reopened.resolved_at) == ("open", None)
        await tickets.move_ticket(session, wei, made.id, "resolve")
        await tickets.move_ticket(session, wei, made.id, "close")
        with pytest.raises(Conflict):
            await tickets.update_ticket(
                session,
                wei,
                made.id,
                TicketChanges(subject="S", description="", priority="low", assignee_id=wei.user_id),
            )
        with pytest.raises(ValidationFailed):
            await tickets.move_ticket(session, wei, made.id, "explode")
        entries = await timeline(session, "crm.ticket", made.id)
    # In the writer's language: the member's is English here.
    assert [(c["from"], c["to"]) for e in reversed(entries) for c in e.changes] == [
        ("Waiting", "In progress"),
        ("In progress", "Resolved"),
        ("Resolved", "Waiting"),
        ("Waiting", "Resolved"),
        ("Resolved", "Closed"),
    ]


async def test_changing_priority_moves_the_due_time_and_reassigning_moves_the_department(
    floor: SalesFloor,
) -> None:
    support = await floor.department("Support")
    wei = await floor.member("Wei")
    mei = await floor.member("Mei", department=support)
    made = await opened(floor, wei, await customer(floor, wei), priority="low")
    async with floor.session() as session:
        changed = await tickets.update_ticket(
            session,
            wei,
            made.id,
            TicketChanges(
                subject="Kettle leaks badly",
                description="Since Monday.",
                priority="high",
                assignee_id=mei.user_id,
            ),
        )
        assert changed.sla_due_at == made.created_at + timedelta(hours=8)
        assert (changed.owner_id, changed.department_id) == (mei.user_id, support)
        [entry] = await timeline(session, "crm.ticket", made.id)
        assert [(c["field"], c["from"], c["to"]) for c in entry.changes] == [
            ("priority", "Low", "High"),
            ("assignee", "Wei", "Mei"),
            ("subject", "Kettle leaks", "Kettle leaks badly"),
            ("description", "", "Since Monday."),
        ]
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await tickets.open_ticket(
                session,
                wei,
                TicketIn(party_id=made.party_id, subject="S", assignee_id=uuid.uuid4()),
            )
        assert refused.value.params["field"] == "assignee_id"


async def test_overdue_tickets_are_those_being_worked_past_their_due_time(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    urgent = await opened(floor, wei, party_id, priority="urgent")
    low = await opened(floor, wei, party_id, priority="low")
    done = await opened(floor, wei, party_id, priority="urgent")
    async with floor.session() as session:
        await tickets.move_ticket(session, wei, done.id, "resolve")
        in_five_hours = datetime.now(UTC) + timedelta(hours=5)
        late = await tickets.list_tickets(session, wei, overdue=True, now=in_five_hours)
        assert [t.id for t in late.items] == [urgent.id]
        assert late.items[0].overdue
        everything = await tickets.list_tickets(session, wei, now=in_five_hours)
        assert [(t.id, t.overdue) for t in everything.items] == [
            (done.id, False),
            (low.id, False),
            (urgent.id, True),
        ]
        found = await tickets.list_tickets(session, wei, search="leaks", status="resolved")
        assert [t.id for t in found.items] == [done.id]


async def test_scopes_and_workspaces_decide_who_sees_and_works_a_ticket(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    made = await opened(floor, wei, await customer(floor, wei))
    async with floor.session() as session:
        assert (await tickets.list_tickets(session, li)).items == []
        with pytest.raises(NotFound):
            await tickets.move_ticket(session, li, made.id, "start")
        with pytest.raises(NotFound):  # li may not see wei's customer either
            await tickets.open_ticket(session, li, TicketIn(party_id=made.party_id, subject="S"))
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        assert (await tickets.list_tickets(session, stranger)).items == []
        with pytest.raises(NotFound):
            await tickets.get_ticket(session, stranger, made.id)
        assert (await session.scalars(select(Ticket))).all() == []
