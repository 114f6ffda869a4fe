"""Workspace requests: resolve the tenant, guard the module, one transaction per request.

Every route under ``/t/{tenant_slug}`` and ``/api/t/{tenant_slug}`` carries
:func:`tenant_guard`. It opens the request's session, resolves the slug and
sets the transaction's tenant in one round trip (``core_resolve_tenant``),
and refuses a route of a module the tenant has not enabled. The session is
committed (2xx/3xx) or rolled back (anything else) just before the response
starts, so a client never sees success for work that was not committed.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import logging as log_context
from core.context import TenantContext
from core.db import Database
from core.errors import ModuleDisabled, NotFound
from core.plugins.registry import ModuleRegistry

SESSION_KEY = "atrium.session"
TENANT_KEY = "atrium.tenant"
RESOLVE = text(
    "SELECT tenant_id, tenant_slug, tenant_status, tenant_locale, modules "
    "FROM core_resolve_tenant(:slug)"
)


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})  # type: ignore[return-value]


async def tenant_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Resolve ``tenant_slug``; 404 for an unknown workspace; refuse a disabled module."""
    db: Database = connection.app.state.db
    session = db.session()
    _state(connection.scope)[SESSION_KEY] = session
    slug = connection.path_params["tenant_slug"]
    # Core execution on the session's connection: the ORM's execute machinery buys nothing
    # for one SQL statement, and this runs on every workspace request.
    sql = await session.connection()
    row = (await sql.execute(RESOLVE, {"slug": slug})).first()
    if row is None:
        raise NotFound("No workspace at this address.")
    session.info["tenant_id"] = row.tenant_id
    ctx = TenantContext(
        tenant_id=row.tenant_id,
        slug=row.tenant_slug,
        enabled=frozenset(row.modules),
        locale=row.tenant_locale,
    )
    _state(connection.scope)[TENANT_KEY] = ctx
    log_context.tenant.set(str(ctx.tenant_id))
    module = handler.opt.get("module")
    if module is not None and module not in ctx.enabled:
        registry: ModuleRegistry = connection.app.state.registry
        raise ModuleDisabled(
            "The {name} module is not enabled for this workspace.",
            module=module,
            name=registry.manifest(module).name,
        )


async def finish_request_session(message: Message, scope: Scope) -> None:
    """``before_send``: commit or roll back the request's session as the response starts."""
    if message["type"] != "http.response.start":
        return
    session: AsyncSession | None = _state(scope).pop(SESSION_KEY, None)
    if session is None:
        return
    try:
        if 200 <= message["status"] < 400:
            await session.commit()
        else:
            await session.rollback()
    finally:
        await session.close()


def provide_session(request: ASGIConnection) -> AsyncSession:
    """The request's tenant-scoped session (routes behind tenant_guard only)."""
    return _state(request.scope)[SESSION_KEY]


def provide_tenant(request: ASGIConnection) -> TenantContext:
    return _state(request.scope)[TENANT_KEY]


def provide_registry(request: ASGIConnection) -> ModuleRegistry:
    return request.app.state.registry


def provide_db(request: ASGIConnection) -> Database:
    return request.app.state.db
