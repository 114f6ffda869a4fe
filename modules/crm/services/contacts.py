"""Contacts (联系人): person parties working at a company customer (``company_id``),
created and changed through core's party services.

They follow the customer's owner: made with the customer's owner and department, and
moved with it (transfer, pool, claim: :func:`.customers.change_owner`), so whoever sees a
customer sees its contacts, and a customer released to the pool takes its contacts'
phone numbers away from the person who let it go.
"""

from __future__ import annotations

import uuid
from typing import Any

from msgspec import UNSET
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.parties import services as parties
from core.parties.models import EMAIL, PERSON, PHONE, Party
from core.parties.schemas import ContactPointIn, PartyChanges, PartyIn
from core.permissions import Actor, visible
from modules.crm import permissions as codes
from modules.crm.schemas.customers import ContactChanges, ContactIn, ContactOut
from modules.crm.services.customers import (
    LIVE,
    RESOURCE,
    contact_points,
    get_customer,
    locked_customer,
    party_call,
)


async def _company_customer(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> Party:
    party = await locked_customer(session, actor, party_id)
    if party.kind == PERSON:
        raise ValidationFailed("{name} is a person: contacts belong to a company.", name=party.name)
    return party


def _contacts_of(actor: Actor, party_id: uuid.UUID) -> Select[Any]:
    return select(Party).where(
        Party.company_id == party_id,
        Party.kind == PERSON,
        LIVE,
        visible(actor, RESOURCE, Party),
    )


async def list_contacts(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID
) -> list[ContactOut]:
    """The people at a customer the actor may see, by name."""
    await get_customer(session, actor, party_id)
    people = (await session.scalars(_contacts_of(actor, party_id).order_by(Party.name))).all()
    points = await parties.PRIMARY_POINTS.rows(session, party_ids=[p.id for p in people])
    primary = {(p["party_id"], p["kind"]): p["value"] for p in points}
    return [
        ContactOut(
            id=person.id,
            name=person.name,
            email=primary.get((person.id, EMAIL)),
            phone=primary.get((person.id, PHONE)),
            notes=person.notes,
        )
        for person in people
    ]


async def get_contact(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, contact_id: uuid.UUID
) -> ContactOut:
    found = [c for c in await list_contacts(session, actor, party_id) if c.id == contact_id]
    if not found:
        raise NotFound("No contact {id}.", id=str(contact_id))
    return found[0]


async def create_contact(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, data: ContactIn
) -> ContactOut:
    """A person at a company customer, owned like the customer."""
    actor.require(codes.CUSTOMER_WRITE)
    customer = await _company_customer(session, actor, party_id)
    person = await party_call(
        parties.create_party(
            session,
            actor,
            PartyIn(
                kind=PERSON,
                name=data.name,
                company_id=customer.id,
                notes=data.notes,
                contact_points=contact_points(data.email, data.phone),
                owner_id=customer.owner_id,
                department_id=customer.department_id,
            ),
            allow_duplicates=data.allow_duplicates,
        )
    )
    return await get_contact(session, actor, party_id, person.id)


async def update_contact(
    session: AsyncSession,
    actor: Actor,
    party_id: uuid.UUID,
    contact_id: uuid.UUID,
    changes: ContactChanges,
) -> ContactOut:
    """Change a contact's name, notes, and primary e-mail address and phone (blank: none;
    their other addresses and numbers stay)."""
    actor.require(codes.CUSTOMER_WRITE)
    await _company_customer(session, actor, party_id)
    await get_contact(session, actor, party_id, contact_id)
    person = await parties.get_party(session, actor, contact_id)
    points: list[ContactPointIn] = []
    for kind, given in ((EMAIL, changes.email), (PHONE, changes.phone)):
        kept = [p for p in person.contact_points if p.kind == kind]
        if given is not UNSET:
            kept = [p for p in kept if not p.is_primary]
            if given.strip():
                points.append(ContactPointIn(kind=kind, value=given, is_primary=True))  # type: ignore[arg-type]
        points += [
            ContactPointIn(kind=p.kind, value=p.value, label=p.label, is_primary=p.is_primary)  # type: ignore[arg-type]
            for p in kept
        ]
    await party_call(
        parties.update_party(
            session,
            actor,
            contact_id,
            PartyChanges(name=changes.name, notes=changes.notes, contact_points=tuple(points)),
            allow_duplicates=changes.allow_duplicates,
        )
    )
    return await get_contact(session, actor, party_id, contact_id)
