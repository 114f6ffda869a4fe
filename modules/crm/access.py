"""Reading one CRM record within the actor's data scope, for services and record types."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.i18n import N_
from core.parties.models import Party
from core.permissions import Actor, visible

Model = TypeVar("Model")


async def scoped_get(
    session: AsyncSession,
    actor: Actor,
    model: type[Model],
    resource: str,
    record_id: uuid.UUID,
    missing: str,
    *,
    for_update: bool = False,
) -> Model:
    """The record if it exists and ``actor`` sees it through ``resource``'s scope, else
    NotFound with ``missing`` (an ``N_()`` msgid with ``{id}``): the same answer for "not
    there" and "not yours"."""
    query: Any = select(model).where(
        model.id == record_id,  # type: ignore[attr-defined]
        visible(actor, resource, model),
    )
    if for_update:
        query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        raise NotFound(missing, id=str(record_id))
    return found


async def scoped_customer(
    session: AsyncSession, actor: Actor, party_id: uuid.UUID, *, for_update: bool = False
) -> Party:
    """A customer's party, within the actor's ``crm.customer`` scope (the party's owner)."""
    return await scoped_get(
        session,
        actor,
        Party,
        "crm.customer",
        party_id,
        N_("No customer {id}."),
        for_update=for_update,
    )
