"""What every part of the party services shares: the permission codes, the tenant check,
and the checks that turn what a member typed into the values a party stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique
from core.errors import NotFound, TenantMismatchError, ValidationFailed
from core.i18n import N_
from core.models import Department, Membership, Tenant
from core.parties.models import (
    COMPANY,
    EMAIL,
    PERSON,
    PHONE,
    Party,
    PartyAddress,
    PartyContactPoint,
    PartyTag,
    PartyTagging,
)
from core.parties.normalise import email_domain, normalise_email, normalise_phone
from core.parties.schemas import AddressIn, ContactPointIn
from core.permissions import Actor, visible

RESOURCE = "core.party"
READ, WRITE, MERGE = f"{RESOURCE}.read", f"{RESOURCE}.write", f"{RESOURCE}.merge"
NAME_MAX, NOTES_MAX = 200, 10_000

# A party merged into another is history: lists, search and duplicate checks skip it.
_LIVE = Party.merged_into_id.is_(None)


def _same_tenant(session: AsyncSession, actor: Actor) -> None:
    if session.info.get("tenant_id") != actor.tenant_id:
        raise TenantMismatchError("The actor belongs to another tenant than this session's")


def _bounded(value: str, limit: int, message: str) -> str:
    value = value.strip()
    if len(value) > limit:
        raise ValidationFailed(message, max=limit)
    return value


def _optional(value: str | None, limit: int, message: str) -> str | None:
    """A stripped value, with a blank one stored as None."""
    if value is None:
        return None
    return _bounded(value, limit, message) or None


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed("A party's name has 1 to {max} characters.", max=NAME_MAX)
    return name


def _notes(notes: str) -> str:
    return _bounded(notes, NOTES_MAX, N_("Notes have at most {max} characters."))


def _tax_id(tax_id: str | None) -> str | None:
    checked = _optional(tax_id, 50, N_("A tax number has at most {max} characters."))
    return checked.upper() if checked else None


def _website(website: str | None) -> str | None:
    return _optional(website, 200, N_("A website address has at most {max} characters."))


async def _locale(session: AsyncSession) -> str:
    """The workspace's language, which says how phone numbers without a country are read."""
    locale = await session.scalar(
        select(Tenant.locale).where(Tenant.id == session.info["tenant_id"])
    )
    return locale or "en"


async def _company(
    session: AsyncSession, actor: Actor, kind: str, company_id: uuid.UUID | None
) -> uuid.UUID | None:
    """A person's employer: a company the member can see, not merged away."""
    if company_id is None:
        return None
    if kind != PERSON:
        raise ValidationFailed("Only a person works at a company.")
    company = await session.scalar(
        select(Party).where(Party.id == company_id, visible(actor, RESOURCE, Party))
    )
    if company is None:
        raise NotFound("No party {id}.", id=str(company_id))
    if company.kind != COMPANY or company.merged_into_id is not None:
        raise ValidationFailed("{name} is not a company one can work at.", name=company.name)
    return company.id


async def _owner(session: AsyncSession, owner_id: uuid.UUID | None) -> uuid.UUID | None:
    if owner_id is not None and (
        await session.scalar(select(Membership.id).where(Membership.user_id == owner_id)) is None
    ):
        raise ValidationFailed("The owner must be a member of this workspace.")
    return owner_id


async def _department(session: AsyncSession, department_id: uuid.UUID | None) -> uuid.UUID | None:
    if department_id is not None and (
        await session.scalar(select(Department.id).where(Department.id == department_id)) is None
    ):
        raise NotFound("No department {id}.", id=str(department_id))
    return department_id


def _contact_points(
    points: Iterable[ContactPointIn], locale: str, existing: Sequence[PartyContactPoint] = ()
) -> list[PartyContactPoint]:
    """Normalised contact points, the same one given twice kept once, one primary per kind.

    A point already on the party (same kind and normalised value) is kept as
    that row, so its id survives an edit.
    """
    by_value = {(p.kind, p.value_normalised): p for p in existing}
    rows: dict[tuple[str, str], PartyContactPoint] = {}
    for point in points:
        if point.kind == EMAIL:
            normalised = normalise_email(point.value)
            domain: str | None = email_domain(normalised)
        elif point.kind == PHONE:
            normalised, domain = normalise_phone(point.value, locale), None
        else:
            raise ValidationFailed("A contact point is an e-mail address or a phone number.")
        key = (point.kind, normalised)
        if key in rows:
            continue
        row = by_value.get(key) or PartyContactPoint(kind=point.kind, value_normalised=normalised)
        row.value = _bounded(point.value, 320, N_("A contact value has at most {max} characters."))
        row.domain = domain
        row.label = _bounded(point.label, 50, N_("A label has at most {max} characters."))
        row.is_primary = point.is_primary
        rows[key] = row
    for kind in (EMAIL, PHONE):
        of_kind = [row for row in rows.values() if row.kind == kind]
        primary = next((row for row in of_kind if row.is_primary), of_kind[0] if of_kind else None)
        for row in of_kind:
            row.is_primary = row is primary
    return list(rows.values())


def _addresses(
    addresses: Iterable[AddressIn], existing: Sequence[PartyAddress] = ()
) -> list[PartyAddress]:
    """Checked addresses; one that names an existing address's id updates that row."""
    by_id = {a.id: a for a in existing}
    rows = []
    for given in addresses:
        if given.id is not None and given.id not in by_id:
            raise NotFound("No address {id}.", id=str(given.id))
        row = by_id[given.id] if given.id is not None else PartyAddress()
        line1 = given.line1.strip()
        if not line1 or len(line1) > 200:
            raise ValidationFailed("An address needs a first line of at most 200 characters.")
        country = given.country.strip().upper()
        if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
            raise ValidationFailed("A country is a two-letter code such as CN or US.")
        too_long = N_("An address field has at most {max} characters.")
        row.line1, row.country = line1, country
        row.label = _bounded(given.label, 50, N_("A label has at most {max} characters."))
        row.line2 = _bounded(given.line2, 200, too_long)
        row.city = _bounded(given.city, 100, too_long)
        row.region = _bounded(given.region, 100, too_long)
        row.postcode = _bounded(given.postcode, 20, too_long)
        rows.append(row)
    return rows


async def _taggings(
    session: AsyncSession, names: Iterable[str], existing: Sequence[PartyTagging] = ()
) -> list[PartyTagging]:
    """Taggings for ``names``; a tag the workspace lacks is created, one already on is kept."""
    current = {t.tag.name: t for t in existing}
    wanted = list(dict.fromkeys(name.strip() for name in names))
    if any(not name or len(name) > 50 for name in wanted):
        raise ValidationFailed("A tag has 1 to 50 characters.")
    rows = []
    for name in wanted:
        if name in current:
            rows.append(current[name])
            continue
        tag = await session.scalar(select(PartyTag).where(PartyTag.name == name))
        if tag is None:
            tag = PartyTag(name=name)
            if not await add_unique(session, tag):  # created meanwhile by someone else
                tag = await session.scalar(select(PartyTag).where(PartyTag.name == name))
        rows.append(PartyTagging(tag=tag))
    return rows
