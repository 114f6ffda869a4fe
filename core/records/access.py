"""Who may see and change a record's attachments and timeline: the record-type registry.

Attachments and timeline entries address a record by ``(record_type, record_id)``
and know nothing of its table. A :class:`RecordType` tells the generic endpoints
what they need: the permission that reads the record type, the one that writes
it, and ``check``, which raises :class:`~core.errors.NotFound` unless the record
exists and is inside the actor's data scope. Core declares its own record types
here; a module declares its own in its manifest (``ModuleManifest.record_types``,
keys prefixed with the module's key).

The rule every endpoint follows (:func:`open_record`): the record type must be
core's or an enabled module's (else 404), the actor needs its read permission
(and, to add or remove anything, its write permission) (else 403 naming the
code), and the record must pass ``check`` (else 404). Attachments and
activities are checked through the record they hang on.

A record type may name its page (``page``, under the workspace): :func:`record_page`
is how a notification, or anything else, links to a record, core's or a module's.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.models import Membership
from core.parties import services as parties
from core.permissions import Actor
from core.products import services as products
from core.records.attachments import get_attachment
from core.records.models import Activity, Attachment

if TYPE_CHECKING:
    from core.context import TenantContext
    from core.plugins.registry import ModuleRegistry

RecordCheck = Callable[[AsyncSession, Actor, uuid.UUID], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class RecordType:
    """A kind of record files and comments can hang on (``crm.lead``).

    ``check(session, actor, record_id)`` raises NotFound when the record does
    not exist or lies outside the actor's data scope; what it returns is ignored.
    ``page`` is the record's page under the workspace, with ``{id}`` for the
    record's id (``/parties/{id}``); None when the record type has no page of its own.
    """

    key: str
    read_permission: str
    write_permission: str
    check: RecordCheck
    page: str | None = None


async def _party_visible(session: AsyncSession, actor: Actor, party_id: uuid.UUID) -> None:
    await parties.get_party(session, actor, party_id)  # applies the data scope


async def _product_exists(session: AsyncSession, _actor: Actor, product_id: uuid.UUID) -> None:
    await products.get_product(session, product_id)  # a shared catalogue: no data scope


async def _is_member(session: AsyncSession, _actor: Actor, user_id: uuid.UUID) -> None:
    """A colleague's page (``core.user``): anyone who is or was a member of the workspace."""
    if await session.scalar(select(Membership.id).where(Membership.user_id == user_id)) is None:
        raise NotFound("No member {id}.", id=str(user_id))


CORE_RECORD_TYPES: tuple[RecordType, ...] = (
    RecordType("core.party", parties.READ, parties.WRITE, _party_visible, "/parties/{id}"),
    RecordType(
        "core.product", "core.product.read", "core.product.write", _product_exists, "/products/{id}"
    ),
    # No page: the members list is the only place a colleague appears.
    RecordType("core.user", "core.member.read", "core.member.manage", _is_member),
)
_CORE = {record_type.key: record_type for record_type in CORE_RECORD_TYPES}


def record_type(registry: ModuleRegistry, ctx: TenantContext, key: str) -> RecordType:
    """Core's record type ``key``, or an enabled module's; NotFound for any other key."""
    found = _CORE.get(key)
    if found is not None:
        return found
    declared = registry.record_type(key)
    if declared is None or declared[0] not in ctx.enabled:
        raise NotFound("No record type {record_type}.", record_type=key)
    return declared[1]


def record_page(
    registry: ModuleRegistry, ctx: TenantContext, key: str, record_id: uuid.UUID
) -> str | None:
    """The address of the record's page (``/t/acme/parties/<id>``), or None: its type has
    no page, or is neither core's nor an enabled module's (a disabled module's record
    reads as text, not as a link into a module that answers 404)."""
    try:
        page = record_type(registry, ctx, key).page
    except NotFound:
        return None
    return f"/t/{ctx.slug}{page.replace('{id}', str(record_id))}" if page else None


async def open_record(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    actor: Actor,
    key: str,
    record_id: uuid.UUID,
    *,
    write: bool = False,
) -> RecordType:
    """Check that ``actor`` may read (or, with ``write``, change) the record; its type."""
    found = record_type(registry, ctx, key)
    actor.require(found.read_permission)
    if write:
        actor.require(found.write_permission)
    await found.check(session, actor, record_id)
    return found


async def open_attachment_record(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    actor: Actor,
    attachment_id: uuid.UUID,
    *,
    write: bool = False,
) -> Attachment:
    """The attachment, once :func:`open_record` has passed for the record it is on."""
    attachment = await get_attachment(session, attachment_id)
    await open_record(
        session, registry, ctx, actor, attachment.record_type, attachment.record_id, write=write
    )
    return attachment


async def open_activity_record(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    actor: Actor,
    activity_id: uuid.UUID,
) -> Activity:
    """The activity, once the actor may change the record it is planned on."""
    activity = await session.scalar(select(Activity).where(Activity.id == activity_id))
    if activity is None:
        raise NotFound("No activity {id}.", id=str(activity_id))
    await open_record(
        session, registry, ctx, actor, activity.record_type, activity.record_id, write=True
    )
    return activity
