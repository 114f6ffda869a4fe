"""Service ticket pages under ``/t/{slug}/crm/tickets``: the list (with the overdue ones on
their own, soonest due first), the form for a new ticket (``?customer_id=`` picks the
customer and offers its contacts), and a ticket's page: its facts and SLA, the buttons that
move it (start, resolve, close, reopen), the form that changes it (subject, description,
priority, assignee), and the conversation: its timeline's comments, with attachments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import ValidationFailed
from core.models import User
from core.parties.models import Party
from core.permissions import Actor
from core.records import access
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.models import Ticket
from modules.crm.schemas.contracts import TicketIn, TicketPage
from modules.crm.services import tickets
from modules.crm.services.tickets import (
    MOVE_LABELS,
    MOVES,
    PRIORITY_LABELS,
    SLA_HOURS,
    STATUS_LABELS,
    TicketChanges,
)
from modules.crm.views.common import page
from modules.crm.views.contracts import listing
from modules.crm.views.opportunities import (
    choices_of_contacts,
    choices_of_customers,
    choices_of_members,
)
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, answer_form, maybe_id, read_id, typed_in
from web.tenancy import requires

TAB = "/crm/tickets"
NEW_FIELDS = ("party_id", "contact_id", "subject", "description", "priority", "assignee_id")
EDIT_FIELDS = ("subject", "description", "priority", "assignee_id")


@get(TAB, guards=[requires(codes.TICKET_READ)])
async def tickets_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    overdue: FromQuery[bool] = False,
    after: FromQuery[str | None] = None,
) -> Template:
    chosen = status if status in STATUS_LABELS else ""
    return page(
        "crm/tickets/index.html",
        tenant,
        actor,
        TAB,
        **await listing(
            lambda: tickets.list_tickets(
                session, actor, status=chosen or None, overdue=overdue, search=q, after=after
            ),
            TicketPage(items=[], next_cursor=None),
            f"/t/{tenant.slug}{TAB}",
            {"q": q, "status": chosen},
            after,
        ),
        filters={"q": q, "status": chosen, "overdue": overdue},
        statuses=STATUS_LABELS,
        priorities=PRIORITY_LABELS,
        can_write=actor.can(codes.TICKET_WRITE),
    )


# --- a new ticket ----------------------------------------------------------------------------


async def _new_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    party_id = maybe_id(form["party_id"])
    return page(
        "crm/tickets/new.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        refusal=refusal,
        customers=await choices_of_customers(session, actor),
        contacts=await choices_of_contacts(session, party_id) if party_id else [],
        members=await choices_of_members(session),
        priorities=PRIORITY_LABELS,
        sla_hours=SLA_HOURS,
    )


@get(f"{TAB}/new", guards=[requires(codes.TICKET_WRITE)])
async def new_ticket_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, customer_id: FromQuery[str] = ""
) -> Template:
    form = dict.fromkeys(NEW_FIELDS, "")
    party_id = maybe_id(customer_id)
    form.update(party_id=str(party_id or ""), priority="normal", assignee_id=str(actor.user_id))
    return await _new_page(session, tenant, actor, form)


@post(f"{TAB}/new", guards=[requires(codes.TICKET_WRITE)])
async def open_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, *NEW_FIELDS)
    made: list[Ticket] = []

    async def open_it() -> None:
        party_id = read_id("party_id", form["party_id"])
        if party_id is None:
            raise ValidationFailed("Choose the customer.", field="party_id")
        new = TicketIn(
            party_id=party_id,
            subject=form["subject"],
            description=form["description"],
            priority=form["priority"],
            contact_id=read_id("contact_id", form["contact_id"]),
            assignee_id=read_id("assignee_id", form["assignee_id"]),
        )
        made.append(await tickets.open_ticket(session, actor, new))

    async def again(refusal: Refusal) -> Template:
        return await _new_page(session, tenant, actor, form, refusal=refusal)

    return await answer_form(
        session,
        "ticket",
        form,
        open_it,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0].id}",
        refused=again,
    )


# --- a ticket's page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketView:
    ticket: Ticket
    customer: str
    contact: str | None
    assignee: str | None
    overdue: bool
    moves: list[tuple[str, str]]  # (action, label) the ticket's status allows


async def _view(session: AsyncSession, ticket: Ticket) -> TicketView:
    async def party_name(party_id: uuid.UUID | None) -> str | None:
        if party_id is None:
            return None
        return await session.scalar(select(Party.name).where(Party.id == party_id))

    assignee = None
    if ticket.owner_id is not None:
        assignee = await session.scalar(select(User.display_name).where(User.id == ticket.owner_id))
    return TicketView(
        ticket=ticket,
        customer=await party_name(ticket.party_id) or "",
        contact=await party_name(ticket.contact_id),
        assignee=assignee,
        overdue=tickets.is_overdue(ticket, datetime.now(UTC)),
        moves=[
            (action, MOVE_LABELS[action])
            for action, (starts, _) in MOVES.items()
            if ticket.status in starts
        ],
    )


async def ticket_detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    ticket_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    ticket = await tickets.get_ticket(session, actor, ticket_id)
    here = f"/t/{tenant.slug}{TAB}/{ticket.id}"
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, tickets.RECORD),
        ticket.id,
        back=here,
    )
    can_write = actor.can(codes.TICKET_WRITE)
    form = {
        "subject": ticket.subject,
        "description": ticket.description,
        "priority": ticket.priority,
        "assignee_id": str(ticket.owner_id or ""),
    }
    return page(
        "crm/tickets/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=await _view(session, ticket),
        here=here,
        form=form,
        refusal=refusal,
        statuses=STATUS_LABELS,
        priorities=PRIORITY_LABELS,
        members=await choices_of_members(session) if can_write else [],
        can_write=can_write,
        editable=can_write and ticket.status in tickets.WORKING,
        **sections,
    )


@get(f"{TAB}/{{ticket_id:uuid}}", guards=[requires(codes.TICKET_READ)])
async def ticket_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    ticket_id: FromPath[uuid.UUID],
) -> Template:
    return await ticket_detail(session, tenant, actor, registry, ticket_id)


@post(f"{TAB}/{{ticket_id:uuid}}/edit", guards=[requires(codes.TICKET_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    ticket_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *EDIT_FIELDS)

    async def update() -> None:
        assignee_id = read_id("assignee_id", form["assignee_id"])
        if assignee_id is None:
            raise ValidationFailed("Choose who works on the ticket.", field="assignee_id")
        changes = TicketChanges(
            subject=form["subject"],
            description=form["description"],
            priority=form["priority"],
            assignee_id=assignee_id,
        )
        await tickets.update_ticket(session, actor, ticket_id, changes)

    async def again(refusal: Refusal) -> Template:
        return await ticket_detail(session, tenant, actor, registry, ticket_id, refusal=refusal)

    done = f"/t/{tenant.slug}{TAB}/{ticket_id}"
    return await answer_form(session, "edit", form, update, back=done, refused=again)


@post(f"{TAB}/{{ticket_id:uuid}}/move", guards=[requires(codes.TICKET_WRITE)])
async def move_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    ticket_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    """One of the status buttons: ``action`` is start, resolve, close or reopen."""
    action = data.get("action", "")

    async def move() -> None:
        await tickets.move_ticket(session, actor, ticket_id, action)

    async def again(refusal: Refusal) -> Template:
        return await ticket_detail(session, tenant, actor, registry, ticket_id, refusal=refusal)

    done = f"/t/{tenant.slug}{TAB}/{ticket_id}"
    return await answer_form(session, "move", {}, move, back=done, refused=again)


PAGES = [
    tickets_page,
    new_ticket_page,
    open_from_page,
    ticket_page,
    update_from_page,
    move_from_page,
]
