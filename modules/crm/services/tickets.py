"""Service tickets (工单): a customer's problem, worked by an assignee against an SLA.

A ticket is due (``sla_due_at``) a number of hours after it was opened, by its priority;
changing the priority moves the due time (still counted from the opening). Statuses:
open → in_progress → resolved → closed, resolved straight from open too, and a resolved
ticket reopens (to open, keeping its due time: the customer has been waiting since). The
conversation is the ticket's core timeline (comments), where status changes are tracked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.errors import Conflict, ValidationFailed
from core.events import publish
from core.i18n import N_, gettext
from core.models import Membership, User
from core.parties.models import Party
from core.permissions import Actor, visible
from core.records.timeline import track_changes
from modules.crm import events
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer, scoped_get
from modules.crm.models import Ticket
from modules.crm.models.service import PRIORITIES
from modules.crm.schemas.contracts import TicketIn, TicketPage, TicketSummary
from modules.crm.services.contracts import PAGE_SIZE, check_contact, check_text, page_cursor
from modules.crm.services.profiles import ensure_customer

RECORD = "crm.ticket"  # the record type, and the data scope's resource
#: Hours from opening to the SLA's due time, by priority.
SLA_HOURS = {"urgent": 4, "high": 8, "normal": 24, "low": 72}
PRIORITY_LABELS = {
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
}
STATUS_LABELS = {
    "open": N_("Waiting"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
}
#: What each action does: the statuses it starts from and the one it leads to.
MOVES = {
    "start": (("open",), "in_progress"),
    "resolve": (("open", "in_progress"), "resolved"),
    "close": (("resolved",), "closed"),
    "reopen": (("resolved",), "open"),
}
MOVE_LABELS = {
    "start": N_("Start work"),
    "resolve": N_("Mark resolved"),
    "close": N_("Close"),
    "reopen": N_("Reopen"),
}
WORKING = ("open", "in_progress")
OVERDUE_MAX = 500
SUBJECT_MAX = 200
DESCRIPTION_MAX = 20_000
TRACKED = {
    "status": N_("Status"),
    "priority": N_("Priority"),
    "assignee": N_("Assigned to"),
    "subject": N_("Subject"),
    "description": N_("Description"),
}


def sla_due(opened_at: datetime, priority: str) -> datetime:
    return opened_at + timedelta(hours=SLA_HOURS[priority])


def is_overdue(ticket: Ticket, now: datetime | None = None) -> bool:
    return ticket.status in WORKING and ticket.sla_due_at < (now or datetime.now(UTC))


def _priority(value: str) -> str:
    if value not in PRIORITIES:
        raise ValidationFailed("Choose the priority.", field="priority")
    return value


async def _assignee_department(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    """The assignee's department (the ticket's, for data scopes); refused unless they are
    an active member of the workspace."""
    membership = await session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.active.is_(True))
    )
    if membership is None:
        raise ValidationFailed(
            "Assign the ticket to an active member of this workspace.", field="assignee_id"
        )
    return membership.department_id


async def get_ticket(
    session: AsyncSession, actor: Actor, ticket_id: uuid.UUID, *, for_update: bool = False
) -> Ticket:
    return await scoped_get(
        session, actor, Ticket, RECORD, ticket_id, N_("No ticket {id}."), for_update=for_update
    )


async def open_ticket(session: AsyncSession, actor: Actor, new: TicketIn) -> Ticket:
    """A new ticket for a customer the actor sees, numbered from ``crm.ticket``."""
    actor.require(codes.TICKET_WRITE)
    subject = check_text(new.subject, "subject", SUBJECT_MAX, required=True)
    description = check_text(new.description, "description", DESCRIPTION_MAX)
    priority = _priority(new.priority)
    party = await scoped_customer(session, actor, new.party_id)
    contact_id = await check_contact(session, party.id, new.contact_id)
    assignee_id = new.assignee_id or actor.user_id
    department_id = await _assignee_department(session, assignee_id)
    await ensure_customer(session, party.id)
    opened_at = datetime.now(UTC)
    ticket = Ticket(
        number=await numbering.next_number(session, RECORD),
        party_id=party.id,
        contact_id=contact_id,
        subject=subject,
        description=description,
        priority=priority,
        sla_due_at=sla_due(opened_at, priority),
        created_at=opened_at,
        owner_id=assignee_id,
        department_id=department_id,
    )
    session.add(ticket)
    await session.flush()
    await publish(
        session,
        events.TicketOpened(
            ticket_id=ticket.id,
            number=ticket.number,
            customer_id=party.id,
            priority=priority,
            assignee_id=assignee_id,
        ),
    )
    return ticket


async def _tracked(session: AsyncSession, ticket: Ticket) -> dict[str, object]:
    assignee = None
    if ticket.owner_id is not None:
        assignee = await session.scalar(select(User.display_name).where(User.id == ticket.owner_id))
    return {
        # Statuses and priorities in the writer's language, as leads' and contracts' are.
        "status": gettext(STATUS_LABELS[ticket.status]),
        "priority": gettext(PRIORITY_LABELS[ticket.priority]),
        "assignee": assignee,
        "subject": ticket.subject,
        "description": ticket.description,
    }


@dataclass(frozen=True, slots=True)
class TicketChanges:
    subject: str
    description: str
    priority: str
    assignee_id: uuid.UUID


async def update_ticket(
    session: AsyncSession, actor: Actor, ticket_id: uuid.UUID, changes: TicketChanges
) -> Ticket:
    """Change a ticket being worked: its text, priority (the due time follows) or assignee
    (the department follows them)."""
    actor.require(codes.TICKET_WRITE)
    ticket = await get_ticket(session, actor, ticket_id, for_update=True)
    if ticket.status not in WORKING:
        raise Conflict("Only an open or in-progress ticket can be changed; reopen it first.")
    subject = check_text(changes.subject, "subject", SUBJECT_MAX, required=True)
    description = check_text(changes.description, "description", DESCRIPTION_MAX)
    priority = _priority(changes.priority)
    department_id = ticket.department_id
    if changes.assignee_id != ticket.owner_id:
        department_id = await _assignee_department(session, changes.assignee_id)
    before = await _tracked(session, ticket)
    ticket.subject, ticket.description = subject, description
    if priority != ticket.priority:
        ticket.priority, ticket.sla_due_at = priority, sla_due(ticket.created_at, priority)
    ticket.owner_id, ticket.department_id = changes.assignee_id, department_id
    await session.flush()
    after = await _tracked(session, ticket)
    await track_changes(session, RECORD, ticket.id, actor.user_id, before, after, TRACKED)
    return ticket


async def move_ticket(
    session: AsyncSession, actor: Actor, ticket_id: uuid.UUID, action: str
) -> Ticket:
    """``start``, ``resolve``, ``close`` or ``reopen`` a ticket, as :data:`MOVES` allows."""
    actor.require(codes.TICKET_WRITE)
    if action not in MOVES:
        raise ValidationFailed("There is no ticket action {action}.", action=action)
    ticket = await get_ticket(session, actor, ticket_id, for_update=True)
    allowed_from, status = MOVES[action]
    if ticket.status not in allowed_from:
        raise Conflict("A ticket that is {status} cannot be moved that way.", status=ticket.status)
    before = ticket.status
    ticket.status = status
    if status == "resolved":
        ticket.resolved_at = datetime.now(UTC)
    elif status == "open":
        ticket.resolved_at = None
    await session.flush()
    await track_changes(
        session,
        RECORD,
        ticket.id,
        actor.user_id,
        {"status": gettext(STATUS_LABELS[before])},
        {"status": gettext(STATUS_LABELS[status])},
        {"status": TRACKED["status"]},
    )
    return ticket


async def list_tickets(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    overdue: bool = False,
    search: str | None = None,
    party_id: uuid.UUID | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> TicketPage:
    """Tickets the actor sees, newest first; ``overdue`` keeps those being worked past
    their due time (soonest due first); ``search`` matches number, subject or customer."""
    actor.require(codes.TICKET_READ)
    if status and status not in STATUS_LABELS:
        raise ValidationFailed("There is no ticket status {status}.", status=status)
    moment = now or datetime.now(UTC)
    query = (
        select(Ticket, Party.name, User.display_name)
        .join(Party, (Party.id == Ticket.party_id) & (Party.tenant_id == Ticket.tenant_id))
        .outerjoin(User, User.id == Ticket.owner_id)
        .where(visible(actor, RECORD, Ticket))
        .limit((OVERDUE_MAX if overdue else limit) + 1)
    )
    if status:
        query = query.where(Ticket.status == status)
    if party_id is not None:
        query = query.where(Ticket.party_id == party_id)
    if search and search.strip():
        like = f"%{search.strip()}%"
        query = query.where(
            or_(Ticket.number.ilike(like), Ticket.subject.ilike(like), Party.name.ilike(like))
        )
    if overdue:
        # Few and urgent: one list, soonest due first (no pages).
        query = query.where(Ticket.status.in_(WORKING), Ticket.sla_due_at < moment).order_by(
            Ticket.sla_due_at, Ticket.id
        )
    else:
        query = query.order_by(Ticket.id.desc())
        cursor = page_cursor(after)
        if cursor is not None:
            query = query.where(Ticket.id < cursor)
    rows = (await session.execute(query)).all()
    items = [
        TicketSummary(
            id=t.id,
            number=t.number,
            subject=t.subject,
            customer_id=t.party_id,
            customer_name=customer,
            priority=t.priority,  # type: ignore[arg-type]
            status=t.status,  # type: ignore[arg-type]
            sla_due_at=t.sla_due_at,
            assignee_id=t.owner_id,
            assignee_name=assignee,
            overdue=is_overdue(t, moment),
        )
        for t, customer, assignee in rows[: OVERDUE_MAX if overdue else limit]
    ]
    more = len(rows) > len(items) and not overdue
    return TicketPage(items=items, next_cursor=str(items[-1].id) if more else None)
