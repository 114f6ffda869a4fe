"""One party at a time: create (with duplicate detection), change, read within data scope."""

from __future__ import annotations

import uuid

from msgspec import UNSET
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_
from core.models import Department, User
from core.parties.models import COMPANY, EMAIL, PERSON, PHONE, Party
from core.parties.normalise import normalise_name
from core.parties.schemas import PartyChanges, PartyIn
from core.parties.services.checks import (
    READ,
    RESOURCE,
    WRITE,
    _addresses,
    _company,
    _contact_points,
    _department,
    _locale,
    _name,
    _notes,
    _owner,
    _same_tenant,
    _taggings,
    _tax_id,
    _website,
)
from core.parties.services.duplicates import DuplicateSuspected, _duplicates
from core.permissions import Actor, visible
from core.records.timeline import referenced_name, track_changes

#: The fields a change is tracked for on the party's timeline, with their labels (msgids).
TRACKED = {
    "name": N_("Name"),
    "company": N_("Company"),
    "is_customer": N_("Customer"),
    "is_supplier": N_("Supplier"),
    "tax_id": N_("Tax number"),
    "website": N_("Website"),
    "contact_points": N_("E-mails and phones"),
    "addresses": N_("Addresses"),
    "tags": N_("Tags"),
    "owner": N_("Owner"),
    "department": N_("Department"),
    "notes": N_("Notes"),
    "active": N_("Active"),
}


async def create_party(
    session: AsyncSession, actor: Actor, data: PartyIn, *, allow_duplicates: bool = False
) -> Party:
    """Create a party, or raise :class:`DuplicateSuspected` unless duplicates are allowed."""
    actor.require(WRITE)
    _same_tenant(session, actor)
    if data.kind not in (COMPANY, PERSON):
        raise ValidationFailed("A party is a company or a person.")
    locale = await _locale(session)
    name = _name(data.name)
    points = _contact_points(data.contact_points, locale)
    party = Party(
        kind=data.kind,
        name=name,
        name_normalised=normalise_name(name),
        is_customer=data.is_customer,
        is_supplier=data.is_supplier,
        company_id=await _company(session, actor, data.kind, data.company_id),
        tax_id=_tax_id(data.tax_id),
        website=_website(data.website),
        notes=_notes(data.notes),
        active=True,
        owner_id=await _owner(session, actor.user_id if data.owner_id is UNSET else data.owner_id),
        department_id=await _department(
            session, actor.department_id if data.department_id is UNSET else data.department_id
        ),
        contact_points=points,
        addresses=_addresses(data.addresses),
    )
    if not allow_duplicates:
        candidates = await _duplicates(
            session,
            actor,
            kind=party.kind,
            name_normalised=party.name_normalised,
            emails={p.value_normalised for p in points if p.kind == EMAIL},
            phones={p.value_normalised for p in points if p.kind == PHONE},
            company_id=party.company_id,
            exclude_id=None,
        )
        if candidates:
            raise DuplicateSuspected(candidates)
    party.taggings = await _taggings(session, data.tags)
    session.add(party)
    await session.flush()
    await session.refresh(party, ["created_at"])
    return party


async def update_party(
    session: AsyncSession,
    actor: Actor,
    party_id: uuid.UUID,
    changes: PartyChanges,
    *,
    allow_duplicates: bool = False,
) -> Party:
    """Change a party the member can see. A new name, e-mail address or phone number is
    checked for duplicates like a new party (:class:`DuplicateSuspected`).

    A refused change is rolled back to a savepoint, which expires the party
    object: read it again (``get_party``) rather than reuse it.
    """
    actor.require(WRITE)
    _same_tenant(session, actor)
    party = await _load(session, actor, party_id, for_update=True)
    if party.merged_into_id is not None:
        raise Conflict("{name} was merged into another party; change that one.", name=party.name)
    old_name, old_company = party.name_normalised, party.company_id
    old_points = {(p.kind, p.value_normalised) for p in party.contact_points}
    before = await _tracked(session, party)
    # In a savepoint: a refusal half-way leaves neither rows nor pending changes behind.
    async with session.begin_nested():
        await _apply(session, actor, party, changes)
        await session.flush()
        renamed = (party.name_normalised, party.company_id) != (old_name, old_company)
        new_points = {(p.kind, p.value_normalised) for p in party.contact_points} - old_points
        if not allow_duplicates and (
            candidates := await _duplicates(
                session,
                actor,
                kind=party.kind,
                name_normalised=party.name_normalised if renamed else None,
                emails={value for kind, value in new_points if kind == EMAIL},
                phones={value for kind, value in new_points if kind == PHONE},
                company_id=party.company_id,
                exclude_id=party.id,
            )
        ):
            raise DuplicateSuspected(candidates)
    after = await _tracked(session, party)
    await track_changes(session, RESOURCE, party.id, actor.user_id, before, after, TRACKED)
    return party


async def _tracked(session: AsyncSession, party: Party) -> dict[str, object]:
    """The tracked fields as the timeline shows them: references by name, lists as text."""
    return {
        "name": party.name,
        "company": await referenced_name(session, Party.name, party.company_id),
        "is_customer": party.is_customer,
        "is_supplier": party.is_supplier,
        "tax_id": party.tax_id,
        "website": party.website,
        "contact_points": [point.value for point in party.contact_points],
        "addresses": [
            ", ".join(part for part in (a.line1, a.line2, a.city, a.region) if part)
            for a in party.addresses
        ],
        "tags": sorted(party.tag_names),
        "owner": await referenced_name(session, User.display_name, party.owner_id),
        "department": await referenced_name(session, Department.name, party.department_id),
        "notes": party.notes,
        "active": party.active,
    }


async def _apply(session: AsyncSession, actor: Actor, party: Party, changes: PartyChanges) -> None:
    if changes.name is not UNSET:
        party.name = _name(changes.name)
        party.name_normalised = normalise_name(party.name)
    if changes.company_id is not UNSET:
        party.company_id = await _company(session, actor, party.kind, changes.company_id)
    if changes.contact_points is not UNSET:
        party.contact_points = _contact_points(
            changes.contact_points, await _locale(session), party.contact_points
        )
    if changes.addresses is not UNSET:
        party.addresses = _addresses(changes.addresses, party.addresses)
    if changes.tags is not UNSET:
        party.taggings = await _taggings(session, changes.tags, party.taggings)
    if changes.owner_id is not UNSET:
        party.owner_id = await _owner(session, changes.owner_id)
    if changes.department_id is not UNSET:
        party.department_id = await _department(session, changes.department_id)
    for field, check in (("tax_id", _tax_id), ("website", _website), ("notes", _notes)):
        value = getattr(changes, field)
        if value is not UNSET:
            setattr(party, field, check(value))
    for field in ("is_customer", "is_supplier", "active"):
        value = getattr(changes, field)
        if value is not UNSET:
            setattr(party, field, value)


async def get_party(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> Party:
    """A party with its contact points, addresses and tags; NotFound outside the scope."""
    actor.require(READ)
    _same_tenant(session, actor)
    return await _load(session, actor, party_id)


async def _load(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, *, for_update: bool = False
) -> Party:
    query = (
        select(Party)
        .where(Party.id == party_id, visible(actor, RESOURCE, Party))
        .options(
            selectinload(Party.contact_points),
            selectinload(Party.addresses),
            selectinload(Party.taggings),
        )
        .execution_options(populate_existing=True)
    )
    if for_update:
        query = query.with_for_update(of=Party)
    party = await session.scalar(query)
    if party is None:
        raise NotFound("No party {id}.", id=str(party_id))
    return party
