"""Typed events and the transactional outbox.

A module publishes events it declares in its ``events.py`` (msgspec Structs
with a versioned type name such as ``crm.contract_signed.v1``). ``publish``
writes an outbox row in the caller's transaction: the event exists exactly
when the change that caused it is committed. Workers deliver it later
(:mod:`core.worker`) to the handlers of the modules the tenant has enabled.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import TenantMismatchError
from core.models import OutboxEvent
from core.orm import uuid7
from core.reads import insert_now

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.v[0-9]+$")
E = TypeVar("E", bound="Event")


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every event. Subclasses set ``type_name`` = ``module.name.vN``.

    A published event is a contract: change its fields only by publishing a
    new version (``.v2``) beside the old one.
    """

    type_name: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type_name")
        if name is None or not EVENT_TYPE.match(name):
            raise TypeError(
                f"{cls.__name__}.type_name must look like 'module.event_name.v1', got {name!r}"
            )

    @classmethod
    def event_type(cls) -> str:
        return cls.type_name


def encode(event: Event) -> dict[str, Any]:
    return msgspec.to_builtins(event)


def decode(payload: dict[str, Any], event_cls: type[E]) -> E:
    return msgspec.convert(payload, type=event_cls, strict=False)


async def publish(session: AsyncSession, event: Event) -> uuid.UUID:
    """Write ``event`` to the outbox in the session's current transaction; return its id."""
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("Events are published inside a tenant's transaction")
    # One prebuilt INSERT rather than a flush: publishing sits on hot paths (a decision).
    event_id = uuid7()
    await insert_now(
        session,
        OutboxEvent,
        id=event_id,
        event_type=event.event_type(),
        payload=encode(event),
        attempts=0,
    )
    return event_id
