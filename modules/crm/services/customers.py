"""CRM customers (客户).

A customer is a core party: one marked a customer (``is_customer``), or one CRM holds a
profile for (``crm_customer``: lifecycle stage, level, source, industry, the pool's
dates). A party marked customer elsewhere (in core, by ERP) is listed with the profile's
defaults and gets its row the first time CRM writes about it. Its owner is the party's
(``core_party.owner_id``): one salesperson per customer across the product, and the data
scope ``crm.customer`` applies to the party's owner and department. A change of owner
(transfer, release, claim) moves the customer's contacts too (:mod:`.contacts`).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET
from sqlalchemy import ColumnElement, Select, exists, false, func, literal, or_, select, tuple_
from sqlalchemy import update as update_rows
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.i18n import N_, gettext
from core.models import Department, Membership, User
from core.parties import services as parties
from core.parties.models import EMAIL, PERSON, PHONE, Party, PartyTag, PartyTagging
from core.parties.schemas import ContactPointIn, PartyChanges, PartyIn
from core.parties.services.lists import search_clause
from core.permissions import Actor, visible
from core.records.models import Notification
from core.records.timeline import referenced_name, track_changes
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer
from modules.crm.models import Customer
from modules.crm.models.customers import LEVELS, LIFECYCLE_STAGES
from modules.crm.schemas.customers import (
    CustomerChanges,
    CustomerIn,
    CustomerOut,
    CustomerPage,
)
from modules.crm.services.profiles import ensure_customer

RESOURCE = "crm.customer"
POOL_RESOURCE = "crm.pool"
PARTY_RECORD = "core.party"
PAGE_SIZE, MAX_PAGE = 50, 200
INDUSTRY_MAX = 100
MISSING = N_("No customer {id}.")

#: Lifecycle stages, levels and sources with their labels (msgids, translated where shown).
STAGES = {
    "prospect": N_("Prospect"),
    "customer": N_("Customer"),
    "repeat": N_("Repeat customer"),
    "churned": N_("Churned"),
}
assert tuple(STAGES) == LIFECYCLE_STAGES
LEVEL_LABELS = {"A": N_("A: key account"), "B": N_("B: regular"), "C": N_("C: small")}
assert tuple(LEVEL_LABELS) == LEVELS
SOURCES = {
    "manual": N_("Entered by hand"),
    "lead": N_("Converted lead"),
    "web_form": N_("Web form"),
    "referral": N_("Referral"),
    "exhibition": N_("Trade show"),
    "advertising": N_("Advertising"),
    "cold_call": N_("Cold call"),
    "other": N_("Other"),
}
#: The profile fields a change is tracked for on the party's timeline (labels: msgids).
TRACKED = {
    "lifecycle_stage": N_("Lifecycle stage"),
    "level": N_("Level"),
    "source": N_("Source"),
    "industry": N_("Industry"),
}
OWNER_TRACKED = {"owner": N_("Owner"), "department": N_("Department")}
GIVEN = N_("{author} gave you the customer {customer}.")

#: Which input a refusal of core's party checks is about: core's messages name none.
_PARTY_FIELDS = {
    "A party's name has 1 to {max} characters.": "name",
    "{email} is not an e-mail address.": "email",
    "{phone} is not a phone number.": "phone",
    "A tag has 1 to 50 characters.": "tags",
    "Notes have at most {max} characters.": "notes",
}

_PROFILE = (Customer.tenant_id == Party.tenant_id) & (Customer.party_id == Party.id)
LIVE = Party.merged_into_id.is_(None) & Party.active.is_(True)
#: A party CRM counts as a customer (with the outer join on its profile).
IS_CUSTOMER = or_(Party.is_customer.is_(True), Customer.id.is_not(None))

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CustomerFilters:
    """What a list is narrowed to; an empty value does not narrow it."""

    search: str = ""
    stage: str = ""
    level: str = ""
    source: str = ""
    industry: str = ""
    tag: str = ""
    owner_id: uuid.UUID | None = None


# --- reading ---------------------------------------------------------------------------------


def _columns() -> Select[Any]:
    """Every customer with its profile (defaults where it has none) and its owner's name."""
    return (
        select(
            Party.id,
            Party.kind,
            Party.name,
            Party.owner_id,
            User.display_name.label("owner_name"),
            Party.department_id,
            func.coalesce(Customer.lifecycle_stage, "prospect").label("lifecycle_stage"),
            Customer.level,
            func.coalesce(Customer.source, "manual").label("source"),
            func.coalesce(Customer.industry, "").label("industry"),
            func.coalesce(Customer.in_pool, false()).label("in_pool"),
            Customer.pooled_at,
            func.coalesce(Customer.pool_reason, "").label("pool_reason"),
            func.coalesce(Customer.pool_note, "").label("pool_note"),
            Customer.last_follow_up_at,
            Party.created_at,
        )
        .select_from(Party)
        .outerjoin(Customer, _PROFILE)
        .outerjoin(User, User.id == Party.owner_id)
        .where(LIVE, IS_CUSTOMER)
    )


async def _tags_of(session: AsyncSession, party_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    if not party_ids:
        return {}
    rows = await session.execute(
        select(PartyTagging.party_id, PartyTag.name)
        .join(
            PartyTag,
            (PartyTag.tenant_id == PartyTagging.tenant_id) & (PartyTag.id == PartyTagging.tag_id),
        )
        .where(PartyTagging.party_id.in_(party_ids))
        .order_by(PartyTag.name)
    )
    tags: dict[uuid.UUID, list[str]] = {}
    for party_id, name in rows:
        tags.setdefault(party_id, []).append(name)
    return tags


async def _outs(session: AsyncSession, query: Select[Any]) -> list[CustomerOut]:
    rows = (await session.execute(query)).all()
    tags = await _tags_of(session, [row.id for row in rows])
    return [CustomerOut(**row._asdict(), tags=tags.get(row.id, [])) for row in rows]


def _encode_cursor(name: str, party_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([name, str(party_id)])).decode()


def _after(cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor's (name, id): the keyset of a name-ordered list."""
    try:
        name, party_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()))
        after = (str(name), uuid.UUID(party_id))
    except (ValueError, TypeError, msgspec.DecodeError):
        raise ValidationFailed("This page link is no longer valid.") from None
    return tuple_(Party.name, Party.id) > tuple_(literal(after[0]), literal(after[1]))


def _narrowed(query: Select[Any], filters: CustomerFilters) -> Select[Any]:
    if filters.search.strip():
        query = query.where(search_clause(filters.search))
    if filters.stage:
        query = query.where(func.coalesce(Customer.lifecycle_stage, "prospect") == filters.stage)
    if filters.level:
        query = query.where(Customer.level == filters.level)
    if filters.source:
        query = query.where(func.coalesce(Customer.source, "manual") == filters.source)
    if filters.industry.strip():
        query = query.where(Customer.industry.icontains(filters.industry.strip(), autoescape=True))
    if filters.tag.strip():
        query = query.where(
            exists().where(
                PartyTagging.tenant_id == Party.tenant_id,
                PartyTagging.party_id == Party.id,
                PartyTag.tenant_id == PartyTagging.tenant_id,
                PartyTag.id == PartyTagging.tag_id,
                PartyTag.name == filters.tag.strip(),
            )
        )
    if filters.owner_id is not None:
        query = query.where(Party.owner_id == filters.owner_id)
    return query


async def list_customers(
    session: AsyncSession,
    actor: Actor,
    filters: CustomerFilters = CustomerFilters(),
    *,
    pool: bool = False,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> CustomerPage:
    """A page of customers by name: those the actor's ``crm.customer`` scope shows, or with
    ``pool`` the public pool's (nobody owns them) that their ``crm.pool`` scope shows."""
    if pool:
        actor.require(codes.POOL_READ)
        scope = visible(actor, POOL_RESOURCE, Party) & Party.owner_id.is_(None)
    else:
        actor.require(codes.CUSTOMER_READ)
        scope = visible(actor, RESOURCE, Party)
    limit = min(max(limit, 1), MAX_PAGE)
    query = _narrowed(_columns().where(scope), filters)
    if cursor:
        query = query.where(_after(cursor))
    items = await _outs(session, query.order_by(Party.name, Party.id).limit(limit + 1))
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more else None
    return CustomerPage(
        items=items, next_cursor=_encode_cursor(last.name, last.id) if last else None
    )


async def read_customer(session: AsyncSession, party_id: uuid.UUID) -> CustomerOut:
    """The customer as it is now, whoever may see it: for a service that just changed it
    (after a transfer or a release the actor may no longer)."""
    found = await _outs(session, _columns().where(Party.id == party_id))
    if not found:
        raise NotFound(MISSING, id=str(party_id))
    return found[0]


async def get_customer(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> CustomerOut:
    """A customer within the actor's scope; NotFound for anything else (a supplier, a
    contact, another owner's customer, another workspace's party)."""
    actor.require(codes.CUSTOMER_READ)
    found = await _outs(
        session, _columns().where(Party.id == party_id, visible(actor, RESOURCE, Party))
    )
    if not found:
        raise NotFound(MISSING, id=str(party_id))
    return found[0]


async def locked_customer(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> Party:
    """The customer's party, locked for a change (every change of an owner or a profile
    locks it first: one order of locks), within the actor's scope."""
    party = await scoped_customer(session, actor, party_id, for_update=True)
    if not await is_customer(session, party):
        raise NotFound(MISSING, id=str(party_id))
    return party


async def is_customer(session: AsyncSession, party: Party) -> bool:
    if party.merged_into_id is not None or not party.active:
        return False
    if party.is_customer:
        return True
    profile = await session.scalar(select(Customer.id).where(Customer.party_id == party.id))
    return profile is not None


async def owned_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    """How many customers the member owns (what the pool's claim limit counts)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Party)
        .outerjoin(Customer, _PROFILE)
        .where(Party.owner_id == user_id, LIVE, IS_CUSTOMER)
    )
    return int(count or 0)


# --- checks ----------------------------------------------------------------------------------


def in_field(field: str, error: ValidationFailed) -> ValidationFailed:
    """The refusal, said to be about the input ``field``."""
    return ValidationFailed(error.message, **{**error.params, "field": field})


async def party_call(call: Awaitable[T]) -> T:
    """Run a core party service; a refusal of what was typed names its input."""
    try:
        return await call
    except ValidationFailed as error:
        field = _PARTY_FIELDS.get(error.message)
        if field is None or "field" in error.params:
            raise
        raise in_field(field, error) from None


def contact_points(email: str, phone: str) -> tuple[ContactPointIn, ...]:
    points = [ContactPointIn(kind=EMAIL, value=email, is_primary=True)] if email.strip() else []
    if phone.strip():
        points.append(ContactPointIn(kind=PHONE, value=phone, is_primary=True))
    return tuple(points)


def _stage(value: str) -> str:
    if value not in STAGES:
        raise ValidationFailed(
            "A lifecycle stage is one of {stages}.",
            stages=", ".join(STAGES),
            field="lifecycle_stage",
        )
    return value


def _level(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if value not in LEVEL_LABELS:
        raise ValidationFailed("A level is A, B or C.", field="level")
    return value


def _source(value: str) -> str:
    if value not in SOURCES:
        raise ValidationFailed(
            "A source is one of {sources}.", sources=", ".join(SOURCES), field="source"
        )
    return value


def _industry(value: str) -> str:
    value = value.strip()
    if len(value) > INDUSTRY_MAX:
        raise ValidationFailed(
            "An industry has at most {max} characters.", max=INDUSTRY_MAX, field="industry"
        )
    return value


# --- customers -------------------------------------------------------------------------------


async def create_customer(session: AsyncSession, actor: Actor, data: CustomerIn) -> CustomerOut:
    """A new customer owned by the actor: the party (core checks its name, contact points,
    tags and duplicates) and its profile."""
    actor.require(codes.CUSTOMER_WRITE)
    stage, level = _stage(data.lifecycle_stage), _level(data.level)
    source, industry = _source(data.source), _industry(data.industry)
    party = await party_call(
        parties.create_party(
            session,
            actor,
            PartyIn(
                kind=data.kind,
                name=data.name,
                is_customer=True,
                contact_points=contact_points(data.email, data.phone),
                tags=data.tags,
            ),
            allow_duplicates=data.allow_duplicates,
        )
    )
    profile = await ensure_customer(session, party.id, source=source, lifecycle_stage=stage)
    profile.level, profile.industry = level, industry
    profile.owned_since = datetime.now(UTC)
    await session.flush()
    return await read_customer(session, party.id)


async def update_customer(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, changes: CustomerChanges
) -> CustomerOut:
    """Change a customer's name and tags (through core, tracked there) and its profile
    (tracked on the party's timeline too)."""
    actor.require(codes.CUSTOMER_WRITE)
    await locked_customer(session, actor, party_id)
    profile = await ensure_customer(session, party_id)
    before = {field: getattr(profile, field) for field in TRACKED}
    if changes.lifecycle_stage is not UNSET:
        profile.lifecycle_stage = _stage(changes.lifecycle_stage)
    if changes.level is not UNSET:
        profile.level = _level(changes.level)
    if changes.source is not UNSET:
        profile.source = _source(changes.source)
    if changes.industry is not UNSET:
        profile.industry = _industry(changes.industry)
    after = {field: getattr(profile, field) for field in TRACKED}
    if changes.name is not UNSET or changes.tags is not UNSET:
        await party_call(
            parties.update_party(
                session, actor, party_id, PartyChanges(name=changes.name, tags=changes.tags)
            )
        )
    await track_changes(
        session, PARTY_RECORD, party_id, actor.user_id, _shown(before), _shown(after), TRACKED
    )
    return await read_customer(session, party_id)


def _shown(profile: dict[str, Any]) -> dict[str, Any]:
    """Profile values as the timeline keeps them: labels in the writer's language."""
    labels = {"lifecycle_stage": STAGES, "source": SOURCES}
    return {
        field: gettext(labels[field][value])
        if field in labels and value in labels[field]
        else value
        for field, value in profile.items()
    }


async def active_member(session: AsyncSession, user_id: uuid.UUID, field: str) -> Membership:
    membership = await session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.active.is_(True))
    )
    if membership is None:
        raise ValidationFailed("Choose an active member of this workspace.", field=field)
    return membership


async def change_owner(
    session: AsyncSession,
    party: Party,
    owner_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    author_id: uuid.UUID | None,
) -> None:
    """Give the customer (the locked ``party``) and its contacts to ``owner_id`` (None:
    nobody) in ``department_id``, tracked on the party's timeline."""

    async def names() -> dict[str, str | None]:
        return {
            "owner": await referenced_name(session, User.display_name, party.owner_id),
            "department": await referenced_name(session, Department.name, party.department_id),
        }

    before = await names()
    party.owner_id, party.department_id = owner_id, department_id
    await session.execute(
        update_rows(Party)
        .where(Party.company_id == party.id, Party.kind == PERSON)
        .values(owner_id=owner_id, department_id=department_id)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    await track_changes(
        session, PARTY_RECORD, party.id, author_id, before, await names(), OWNER_TRACKED
    )


async def display_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    return await referenced_name(session, User.display_name, user_id) or ""


async def transfer_customer(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, owner_id: uuid.UUID
) -> CustomerOut:
    """Give a customer the actor may change to another active member: the party's owner
    and department (the new owner's) follow, the take-back rules count from now, and the
    new owner is told."""
    actor.require(codes.CUSTOMER_WRITE)
    party = await locked_customer(session, actor, party_id)
    membership = await active_member(session, owner_id, "owner_id")
    if party.owner_id == owner_id:
        raise ValidationFailed(
            "{name} owns this customer already.",
            name=await display_name(session, owner_id),
            field="owner_id",
        )
    await change_owner(session, party, owner_id, membership.department_id, actor.user_id)
    profile = await ensure_customer(session, party_id)
    profile.in_pool, profile.pooled_at, profile.pool_reason, profile.pool_note = False, None, "", ""
    profile.owned_since, profile.pool_notice_at = datetime.now(UTC), None
    if owner_id != actor.user_id:
        params = {"author": await display_name(session, actor.user_id), "customer": party.name}
        notify(session, owner_id, "crm.customer_given", party_id, GIVEN, params)
    await session.flush()
    return await read_customer(session, party_id)


def notify(
    session: AsyncSession,
    user_id: uuid.UUID,
    kind: str,
    party_id: uuid.UUID,
    message: str,
    params: dict[str, Any],
) -> None:
    """A notification about a customer (linked to its party), made as core's timeline makes
    its own: ``message`` a msgid filled from ``params`` in the reader's language."""
    session.add(
        Notification(
            user_id=user_id,
            kind=kind,
            record_type=PARTY_RECORD,
            record_id=party_id,
            message=message,
            params=params,
        )
    )


@dataclass(frozen=True, slots=True)
class CustomerLabels:
    stage: str
    level: str
    source: str


def labels_of(customer: CustomerOut) -> CustomerLabels:
    """The customer's codes as the pages show them (msgids; an unknown code as it is)."""
    return CustomerLabels(
        stage=STAGES.get(customer.lifecycle_stage, customer.lifecycle_stage),
        level=LEVEL_LABELS.get(customer.level, customer.level) if customer.level else "",
        source=SOURCES.get(customer.source, customer.source),
    )
