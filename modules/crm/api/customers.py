"""JSON API for customers, their contacts and follow-ups, the public pool and its rules,
mounted under ``/api/t/{slug}`` (OpenAPI tag ``crm``).

Reading customers needs ``crm.customer.read``, changing them (and releasing one to the
pool) ``crm.customer.write``, the pool ``crm.pool.read`` and ``crm.pool.claim``, its
rules ``crm.settings.manage``; a guard answers 403 naming the code. A customer outside
the member's scope, or another workspace's, is 404. A new customer or contact that looks
like an existing party is 409 ``duplicate_suspected`` with the candidates; send the same
body with ``"allow_duplicates": true`` to create it anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import TypeVar

import msgspec
from litestar import get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from core.parties.services import DuplicateSuspected
from modules.crm import permissions as codes
from modules.crm.schemas.customers import (
    ClaimOut,
    ContactChanges,
    ContactIn,
    ContactOut,
    CustomerChanges,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    FollowUpIn,
    FollowUpOut,
    PoolSettingsIn,
    PoolSettingsOut,
    ReleaseIn,
    TransferIn,
)
from modules.crm.services import contacts, customers, followups, pool
from modules.crm.services.customers import CustomerFilters
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

CUSTOMER = "/crm/customers/{party_id:uuid}"
T = TypeVar("T")


async def _naming_duplicates(call: Awaitable[T]) -> T:
    """A suspected duplicate's refusal with each candidate's name (when the member may see
    it) and reasons: what a client needs to offer "open that one" or "create it anyway"."""
    try:
        return await call
    except DuplicateSuspected as suspected:
        suspected.params["candidates"] = msgspec.to_builtins(suspected.candidates)
        raise


def _filters(
    q: str | None,
    stage: str | None,
    level: str | None,
    source: str | None,
    industry: str | None,
    tag: str | None,
    owner_id: uuid.UUID | None,
) -> CustomerFilters:
    return CustomerFilters(
        search=q or "",
        stage=stage or "",
        level=level or "",
        source=source or "",
        industry=industry or "",
        tag=tag or "",
        owner_id=owner_id,
    )


@get("/crm/customers", guards=[requires(codes.CUSTOMER_READ)], summary="Customers by name")
async def list_customers(
    session: DbSession,
    actor: CurrentActor,
    q: FromQuery[str | None] = None,
    stage: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
    industry: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    owner_id: FromQuery[uuid.UUID | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = customers.PAGE_SIZE,
) -> CustomerPage:
    """``q`` finds a name, tax number, e-mail address or phone number; ``stage``,
    ``level``, ``source``, ``tag`` and ``owner_id`` match exactly, ``industry`` a part.
    Pass ``next_cursor`` back as ``after`` for the next page (at most 200 rows a page)."""
    return await customers.list_customers(
        session,
        actor,
        _filters(q, stage, level, source, industry, tag, owner_id),
        cursor=after,
        limit=limit,
    )


@post("/crm/customers", guards=[requires(codes.CUSTOMER_WRITE)], summary="Create a customer")
async def create_customer(
    session: DbSession, actor: CurrentActor, data: JSONBody[CustomerIn]
) -> CustomerOut:
    """A core party marked customer, owned by the member, with its CRM profile."""
    return await _naming_duplicates(customers.create_customer(session, actor, data))


@get(CUSTOMER, guards=[requires(codes.CUSTOMER_READ)], summary="A customer")
async def get_customer(
    session: DbSession, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> CustomerOut:
    return await customers.get_customer(session, actor, party_id)


@patch(CUSTOMER, guards=[requires(codes.CUSTOMER_WRITE)], summary="Change a customer")
async def update_customer(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[CustomerChanges],
) -> CustomerOut:
    """Fields left out stay as they are; ``tags``, when given, is the whole new list."""
    return await customers.update_customer(session, actor, party_id, data)


@post(
    f"{CUSTOMER}/transfer",
    guards=[requires(codes.CUSTOMER_WRITE)],
    status_code=HTTP_200_OK,
    summary="Give a customer to another owner",
)
async def transfer_customer(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[TransferIn],
) -> CustomerOut:
    """The customer and its contacts move to the member and their department."""
    return await customers.transfer_customer(session, actor, party_id, data.owner_id)


@get(f"{CUSTOMER}/contacts", guards=[requires(codes.CUSTOMER_READ)], summary="Contacts")
async def list_contacts(
    session: DbSession, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> list[ContactOut]:
    return await contacts.list_contacts(session, actor, party_id)


@post(f"{CUSTOMER}/contacts", guards=[requires(codes.CUSTOMER_WRITE)], summary="Add a contact")
async def create_contact(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[ContactIn],
) -> ContactOut:
    """A person at the company customer, owned as the customer is."""
    return await _naming_duplicates(contacts.create_contact(session, actor, party_id, data))


@patch(
    f"{CUSTOMER}/contacts/{{contact_id:uuid}}",
    guards=[requires(codes.CUSTOMER_WRITE)],
    summary="Change a contact",
)
async def update_contact(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    contact_id: FromPath[uuid.UUID],
    data: JSONBody[ContactChanges],
) -> ContactOut:
    """``email`` and ``phone`` replace the primary one (blank: none); the others stay."""
    return await _naming_duplicates(
        contacts.update_contact(session, actor, party_id, contact_id, data)
    )


@get(f"{CUSTOMER}/follow-ups", guards=[requires(codes.CUSTOMER_READ)], summary="Follow-ups")
async def list_follow_ups(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    before: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[int] = followups.PAGE_SIZE,
) -> list[FollowUpOut]:
    """Latest first; pass the last one's ``id`` as ``before`` for older ones."""
    return await followups.list_follow_ups(session, actor, party_id, before=before, limit=limit)


@post(
    f"{CUSTOMER}/follow-ups",
    guards=[requires(codes.CUSTOMER_WRITE)],
    summary="Record a follow-up",
)
async def record_follow_up(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[FollowUpIn],
) -> FollowUpOut:
    """``kind`` is call, visit, meeting, message or email; ``happened_at`` (with its UTC
    offset) is now when left out; ``next_on`` plans a reminder for the customer's owner."""
    return await followups.record_follow_up(session, actor, party_id, data)


# --- the public pool -------------------------------------------------------------------------


@get("/crm/pool", guards=[requires(codes.POOL_READ)], summary="The public pool, by name")
async def list_pool(
    session: DbSession,
    actor: CurrentActor,
    q: FromQuery[str | None] = None,
    stage: FromQuery[str | None] = None,
    level: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
    industry: FromQuery[str | None] = None,
    tag: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = customers.PAGE_SIZE,
) -> CustomerPage:
    """Customers nobody owns, with the customer list's filters."""
    return await customers.list_customers(
        session,
        actor,
        _filters(q, stage, level, source, industry, tag, None),
        pool=True,
        cursor=after,
        limit=limit,
    )


@post(
    "/crm/pool/{party_id:uuid}/claim",
    guards=[requires(codes.POOL_CLAIM)],
    status_code=HTTP_200_OK,
    summary="Claim a customer from the public pool",
)
async def claim_customer(
    session: DbSession, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> ClaimOut:
    """409 when someone claimed it first, or when the member owns as many customers as
    the pool's claim limit allows."""
    return await pool.claim(session, actor, party_id)


@post(
    "/crm/pool/{party_id:uuid}/release",
    guards=[requires(codes.CUSTOMER_WRITE)],
    status_code=HTTP_200_OK,
    summary="Put a customer back in the public pool",
)
async def release_customer(
    session: DbSession,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: JSONBody[ReleaseIn],
) -> CustomerOut:
    """By its owner, or a manager whose scope shows it (its owner is told); the reason is
    kept for whoever claims it next."""
    return await pool.release(session, actor, party_id, data.reason)


def _settings_out(rules: object) -> PoolSettingsOut:
    return PoolSettingsOut(
        **{name: getattr(rules, name) for name in PoolSettingsOut.__struct_fields__}
    )


@get(
    "/crm/settings/pool",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="The public pool's rules",
)
async def get_pool_settings(session: DbSession) -> PoolSettingsOut:
    return _settings_out(await pool.pool_settings(session))


@put(
    "/crm/settings/pool",
    guards=[requires(codes.SETTINGS_MANAGE)],
    summary="Change the public pool's rules",
)
async def put_pool_settings(
    session: DbSession, actor: CurrentActor, data: JSONBody[PoolSettingsIn]
) -> PoolSettingsOut:
    """A day count of ``null`` switches that take-back rule off; ``claim_limit`` 0 stops
    claiming."""
    return _settings_out(await pool.update_pool_settings(session, actor, data))


API = [
    list_customers,
    create_customer,
    get_customer,
    update_customer,
    transfer_customer,
    list_contacts,
    create_contact,
    update_contact,
    list_follow_ups,
    record_follow_up,
    list_pool,
    claim_customer,
    release_customer,
    get_pool_settings,
    put_pool_settings,
]
