"""Security-log writes that must outlive the request: failures, refusals, throttled asks.

A successful action adds its ``SecurityEvent`` in its own transaction, so
the two commit together. A refused one is followed by a rollback, so its
event (and its count against the sign-in throttle) goes through the side
pool (:meth:`core.db.Database.side_transaction`) and stays.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.identity import throttle
from core.models import SecurityEvent


async def record_security_event(
    db: Database,
    action: str,
    *,
    user_id: uuid.UUID | None = None,
    email: str | None = None,
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write a security event that must stay even if the surrounding request rolls back."""
    async with db.side_transaction() as connection:
        await connection.execute(
            insert(SecurityEvent).values(
                action=action, user_id=user_id, email=email, ip=ip, detail=detail or {}
            )
        )


async def record_failure(
    session: AsyncSession,
    action: str,
    *,
    email: str,
    ip: str | None,
    user_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """A wrong password or code: counted against the sign-in throttle and logged, both
    on the side pool, so they hold though the failed request rolls back."""
    db = Database.of(session)
    await throttle.count(db, email, ip)
    await record_security_event(
        db, action, user_id=user_id, email=email.strip()[:320], ip=ip, detail=detail
    )
