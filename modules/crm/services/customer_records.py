"""What the customer page lists of a customer's other CRM records: its opportunities,
quotes, contracts, payments and tickets, newest first, each within its own resource's
data scope and only for a member with that resource's read right."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import N_, gettext
from core.permissions import Actor, visible
from modules.crm import permissions as codes
from modules.crm.models import Contract, Opportunity, Payment, Quote, Stage, Ticket
from modules.crm.services import contracts, payments, quotes, tickets
from modules.crm.services.pipelines import KIND_LABELS

SHOWN = 20

#: Each kind's status labels (msgids), as its own area names them; an open opportunity
#: shows its stage instead.
STATUSES = {
    "opportunity": KIND_LABELS,
    "quote": quotes.STATUS_LABELS,
    "contract": contracts.STATUS_LABELS,
    "ticket": tickets.STATUS_LABELS,
    "payment": payments.METHODS,  # a payment's "status" column says how it came in
}


@dataclass(frozen=True, slots=True)
class RelatedRecord:
    """One row: its page (under the workspace), number, title, status (in the reader's
    language), amount and the day the section shows."""

    href: str
    number: str
    title: str
    status: str
    amount: Decimal | None
    currency: str
    day: date | datetime | None


@dataclass(frozen=True, slots=True)
class RelatedSection:
    """A section of the page; ``title``, ``empty`` (what to do when there is nothing) and
    ``day_label`` are msgids; ``more`` when there are more than the rows shown."""

    key: str
    title: str
    empty: str
    day_label: str
    rows: list[RelatedRecord]
    more: bool


def _status(kind: str, code: str) -> str:
    label = STATUSES[kind].get(code)
    return gettext(label) if label else code


async def _rows(session: AsyncSession, query: Select[Any]) -> tuple[list[Any], bool]:
    rows = list((await session.execute(query.limit(SHOWN + 1))).all())
    return rows[:SHOWN], len(rows) > SHOWN


def _section(
    key: str, labels: tuple[str, str, str], shown: tuple[Sequence[RelatedRecord], bool]
) -> RelatedSection:
    title, empty, day_label = labels
    return RelatedSection(key, title, empty, day_label, list(shown[0]), shown[1])


async def _opportunities(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> RelatedSection:
    rows, more = await _rows(
        session,
        select(Opportunity, Stage.name)
        .join(
            Stage, (Stage.tenant_id == Opportunity.tenant_id) & (Stage.id == Opportunity.stage_id)
        )
        .where(Opportunity.party_id == party_id, visible(actor, "crm.opportunity", Opportunity))
        .order_by(Opportunity.id.desc()),
    )
    shown = [
        RelatedRecord(
            f"/t/{slug}/crm/opportunities/{o.id}",
            o.number,
            o.name,
            stage if o.status == "open" else _status("opportunity", o.status),
            o.amount,
            o.currency,
            o.expected_close_on if o.status == "open" else o.closed_at,
        )
        for o, stage in rows
    ]
    labels = (
        N_("Opportunities"),
        N_("No opportunity yet: start one from the opportunities page."),
        N_("Expected or closed"),
    )
    return _section("opportunities", labels, (shown, more))


async def _quotes(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> RelatedSection:
    rows, more = await _rows(
        session,
        select(Quote, Opportunity.name)
        .outerjoin(
            Opportunity,
            (Opportunity.tenant_id == Quote.tenant_id) & (Opportunity.id == Quote.opportunity_id),
        )
        .where(
            Quote.party_id == party_id,
            Quote.status != "superseded",  # a revision replaced it
            visible(actor, "crm.quote", Quote),
        )
        .order_by(Quote.id.desc()),
    )
    shown = [
        RelatedRecord(
            f"/t/{slug}/crm/quotes/{q.id}",
            f"{q.number} / {q.revision}" if q.revision > 1 else q.number,
            deal or "",  # the opportunity it quotes for
            _status("quote", q.status),
            q.total,
            q.currency,
            q.valid_until,
        )
        for q, deal in rows
    ]
    labels = (
        N_("Quotes"),
        N_("No quote yet: quote from one of the customer's opportunities."),
        N_("Valid until"),
    )
    return _section("quotes", labels, (shown, more))


async def _contracts(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> RelatedSection:
    rows, more = await _rows(
        session,
        select(Contract)
        .where(Contract.party_id == party_id, visible(actor, "crm.contract", Contract))
        .order_by(Contract.id.desc()),
    )
    shown = [
        RelatedRecord(
            f"/t/{slug}/crm/contracts/{c.id}",
            c.number,
            c.title,
            _status("contract", c.status),
            c.amount,
            c.currency,
            c.signed_on,
        )
        for (c,) in rows
    ]
    labels = (
        N_("Contracts"),
        N_("No contract yet: write one from an accepted quote or on the contracts page."),
        N_("Signed on"),
    )
    return _section("contracts", labels, (shown, more))


async def _payments(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> RelatedSection:
    """Payments are seen through their contract: its owner and department."""
    rows, more = await _rows(
        session,
        select(Payment, Contract)
        .join(
            Contract,
            (Contract.tenant_id == Payment.tenant_id) & (Contract.id == Payment.contract_id),
        )
        .where(Contract.party_id == party_id, visible(actor, "crm.payment", Contract))
        .order_by(Payment.received_on.desc(), Payment.id.desc()),
    )
    shown = [
        RelatedRecord(
            f"/t/{slug}/crm/contracts/{c.id}",
            c.number,
            p.reference or c.title,
            _status("payment", p.method),
            p.amount,
            c.currency,
            p.received_on,
        )
        for p, c in rows
    ]
    labels = (
        N_("Payments"),
        N_("No payment received yet: payments are recorded against a contract."),
        N_("Received on"),
    )
    return _section("payments", labels, (shown, more))


async def _tickets(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> RelatedSection:
    rows, more = await _rows(
        session,
        select(Ticket)
        .where(Ticket.party_id == party_id, visible(actor, "crm.ticket", Ticket))
        .order_by(Ticket.id.desc()),
    )
    shown = [
        RelatedRecord(
            f"/t/{slug}/crm/tickets/{t.id}",
            t.number,
            t.subject,
            _status("ticket", t.status),
            None,
            "",
            t.sla_due_at,
        )
        for (t,) in rows
    ]
    labels = (
        N_("Tickets"),
        N_("No ticket: open one on the tickets page when the customer needs help."),
        N_("Due by"),
    )
    return _section("tickets", labels, (shown, more))


SECTIONS = (
    (codes.OPPORTUNITY_READ, _opportunities),
    (codes.QUOTE_READ, _quotes),
    (codes.CONTRACT_READ, _contracts),
    (codes.PAYMENT_READ, _payments),
    (codes.TICKET_READ, _tickets),
)


async def related_sections(
    session: AsyncSession, actor: Actor, slug: str, party_id: uuid.UUID
) -> list[RelatedSection]:
    """The sections the actor has the read right for; the page has checked the customer."""
    return [
        await read(session, actor, slug, party_id) for right, read in SECTIONS if actor.can(right)
    ]
