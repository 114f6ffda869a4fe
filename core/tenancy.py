"""Reading a tenant's state from core's tables: its context and enabled modules.

Used by the web guard's callers, the worker and the tenant services alike,
so it lives in core; the rules for changing enablement live in tenants/.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import NotFound
from core.models import Tenant, TenantModule


def _enabled(now: datetime) -> ColumnElement[bool]:
    return TenantModule.enabled.is_(True) & (
        TenantModule.until.is_(None) | (TenantModule.until > now)
    )


def _read_only(now: datetime) -> ColumnElement[bool]:
    """An enabled module that reads but takes no writes (as ``core_resolve_request`` says)."""
    return (TenantModule.access == "read_only") | (TenantModule.read_only_from <= now)


async def enabled_modules(session: AsyncSession) -> frozenset[str]:
    """The module keys the session's tenant has on right now."""
    rows = await session.scalars(select(TenantModule.module_key).where(_enabled(datetime.now(UTC))))
    return frozenset(rows)


async def tenant_context(session: AsyncSession, tenant_id: uuid.UUID) -> TenantContext:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No workspace {id}.", id=str(tenant_id))
    now = datetime.now(UTC)
    query = select(TenantModule.module_key, _read_only(now)).where(_enabled(now))
    rows = (await session.execute(query)).all()
    return TenantContext(
        tenant_id=tenant.id,
        slug=tenant.slug,
        enabled=frozenset(key for key, _ in rows),
        read_only=frozenset(key for key, read_only in rows if read_only),
        locale=tenant.locale,
    )


async def workspaces_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """``(slug, name, role)`` of each workspace ``user_id`` is an active member of.

    Memberships sit behind each tenant's row-level security, so this goes
    through a function that returns only the user's own memberships.
    """
    rows = await session.execute(
        text("SELECT slug, name, role FROM core_user_workspaces(:user_id)"), {"user_id": user_id}
    )
    return [(r.slug, r.name, r.role) for r in rows]
