"""Converting a lead (线索转化): into a customer, its contact and an opportunity, at once.

:func:`convert` runs in the caller's transaction and makes, or links, the customer (a core
company party, owner = the lead's owner), the contact (a person at that company), the CRM
profile, and optionally an opportunity; it marks the lead converted with its links,
comments on the customer's timeline that it came from this lead, and publishes
:class:`~modules.crm.events.LeadConverted`. Any refusal on the way leaves the caller to
roll everything back (a savepoint on the pages, the request on the API). The lead's row is
locked first, so two conversions at once make one customer and the second is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, ValidationFailed
from core.events import publish
from core.i18n import N_, gettext
from core.parties import services as parties
from core.parties.models import COMPANY
from core.parties.schemas import ContactPointIn, PartyChanges, PartyIn
from core.permissions import Actor
from core.records.timeline import add_comment, track_changes
from modules.crm.events import LeadConverted
from modules.crm.models import Lead
from modules.crm.schemas.leads import ConvertIn
from modules.crm.services import assignment, profiles
from modules.crm.services.leads import (
    CONVERTED,
    DISQUALIFIED,
    RECORD,
    TRACKED,
    changeable,
    tracked,
)
from modules.crm.services.opportunities import NewOpportunity, create_opportunity

CONVERTED_FROM = N_("Converted from lead {number} ({name}).")


@dataclass(frozen=True, slots=True)
class Conversion:
    lead: Lead
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None


def _points(lead: Lead) -> tuple[ContactPointIn, ...]:
    found = [
        ContactPointIn(kind=kind, value=value, is_primary=True)
        for kind, value in (("email", lead.email), ("phone", lead.phone))
        if value
    ]
    return tuple(found)


async def _customer(
    session: AsyncSession, actor: Actor, lead: Lead, data: ConvertIn, owner: uuid.UUID
) -> Any:
    """The customer's company: the one picked (made a customer if it was not), or a new
    one owned by the lead's owner."""
    if data.customer_id is not None:
        company = await parties.get_party(session, actor, data.customer_id)
        if company.kind != COMPANY or company.merged_into_id is not None or not company.active:
            raise ValidationFailed(
                "{name} is not a company a lead can become.", name=company.name, field="customer_id"
            )
        if not company.is_customer:
            await parties.update_party(
                session, actor, company.id, PartyChanges(is_customer=True), allow_duplicates=True
            )
        return company
    name = (data.company_name if data.company_name is not None else lead.company_name).strip()
    if not name:
        raise ValidationFailed(
            "Name the customer's company, or choose an existing customer.", field="company_name"
        )
    return await parties.create_party(
        session,
        actor,
        PartyIn(
            kind=COMPANY,
            name=name,
            is_customer=True,
            notes=lead.notes,
            # The lead's e-mail and phone are its person's, unless no contact is made.
            contact_points=() if data.create_contact else _points(lead),
            owner_id=owner,
            department_id=await assignment.owner_department(session, owner),
        ),
        allow_duplicates=data.allow_duplicates,
    )


async def convert(
    session: AsyncSession, actor: Actor, lead_id: uuid.UUID, data: ConvertIn
) -> Conversion:
    """Turn the lead into a customer, a contact and (if asked) an opportunity, in the
    caller's transaction: all of it or, on any refusal, nothing (the caller rolls back)."""
    lead = await changeable(session, actor, lead_id)
    if lead.status == DISQUALIFIED:
        raise Conflict(
            "Lead {number} is disqualified: move it back to an open status to convert it.",
            number=lead.number,
        )
    before = await tracked(session, lead)
    if lead.owner_id is None:  # an unassigned lead goes to whoever converts it
        lead.owner_id, lead.department_id = actor.user_id, actor.department_id
    owner = lead.owner_id
    company = await _customer(session, actor, lead, data, owner)
    contact_id = None
    if data.create_contact:
        contact = await parties.create_party(
            session,
            actor,
            PartyIn(
                kind="person",
                name=lead.name,
                company_id=company.id,
                contact_points=_points(lead),
                owner_id=owner,
                department_id=await assignment.owner_department(session, owner),
            ),
            allow_duplicates=data.allow_duplicates,
        )
        contact_id = contact.id
    await profiles.ensure_customer(
        session, company.id, source=lead.source, lifecycle_stage="customer"
    )
    opportunity_id = None
    if data.create_opportunity:
        opportunity = await create_opportunity(
            session,
            actor,
            NewOpportunity(
                name=data.opportunity_name.strip() or company.name,
                party_id=company.id,
                amount=data.amount,
                contact_id=contact_id,
                expected_close_on=data.expected_close_on,
                lead_id=lead.id,
            ),
        )
        opportunity_id = opportunity.id
    lead.status = CONVERTED
    lead.converted_at = func.now()
    lead.customer_party_id, lead.contact_party_id = company.id, contact_id
    await session.flush()
    await session.refresh(lead, ["converted_at"])
    await track_changes(
        session, RECORD, lead.id, actor.user_id, before, await tracked(session, lead), TRACKED
    )
    await add_comment(
        session,
        parties.RESOURCE,
        company.id,
        actor.user_id,
        gettext(CONVERTED_FROM).format(number=lead.number, name=lead.name),
    )
    await publish(
        session,
        LeadConverted(
            lead_id=lead.id,
            customer_id=company.id,
            contact_id=contact_id,
            opportunity_id=opportunity_id,
            owner_id=owner,
        ),
    )
    return Conversion(lead, company.id, contact_id, opportunity_id)
