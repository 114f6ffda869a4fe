"""The audit log: security- and finance-relevant actions, append-only.

Services call :func:`record` inside the transaction that does the action,
so an action and its entry commit together. The app role may insert and
read ``core_audit_log`` but not change or delete it (``ensure_app_role``
revokes UPDATE and DELETE); tenant admins read it through :func:`entries`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AuditEntry


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry for the session's tenant, in the session's transaction."""
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
        ip=ip,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: uuid.UUID | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The tenant's entries, newest first, filtered; ``before`` is the keyset cursor (an id)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(max(limit, 1), 500))
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(await session.scalars(query))
