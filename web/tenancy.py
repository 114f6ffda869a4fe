"""Workspace requests: who is asking, in which workspace, with which rights.

Every route under ``/t/{tenant_slug}`` and ``/api/t/{tenant_slug}`` carries
:func:`tenant_guard`. In one round trip (``core_resolve_request``) it
resolves the slug and sets the transaction's tenant, checks the credential
(the session cookie, or ``Authorization: Bearer`` on the API) and loads the
member behind it with their department subtree and custom roles. The guard
then builds the request's :class:`~core.permissions.Actor`:

- no valid credential: 401 (a browser is sent to the sign-in page);
- a valid credential but no active membership here: 404, as for a
  workspace that does not exist (members of other workspaces learn nothing);
- a workspace the operator suspended: 403 ``tenant_suspended`` (a page that says
  so in a browser), to its members only;
- a workspace its owner deleted: 403 ``tenant_deleted``, with the date until which
  support can restore it (:mod:`tenants.deletion`);
- a workspace that requires two-factor sign-in and a member without it: 403;
- a disabled module's route: the "enable this module" answer;
- a write (anything but GET, HEAD, OPTIONS) to a read-only (unpaid) module's route: 403
  ``module_read_only``, saying the data is kept and where to pay; its reads go on
  (:mod:`billing.entitlements`).

The session is committed (2xx/3xx) or rolled back (anything else) just
before the response starts, so a client never sees success for work that
was not committed.
"""

from __future__ import annotations

import json
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core import logging as log_context
from core.context import TenantContext
from core.db import Database
from core.errors import (
    ModuleDisabled,
    ModuleReadOnly,
    NotFound,
    TwoFactorRequired,
    Unauthenticated,
)
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.roles import rights
from core.settings import Settings
from tenants import deletion, operator
from web.auth import credentials

SESSION_KEY = "atrium.session"
TENANT_KEY = "atrium.tenant"
ACTOR_KEY = "atrium.actor"
#: What a read-only module still answers: everything else would write.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
RESOLVE = text(
    "SELECT * FROM core_resolve_request(:slug, :session_hash, :token_hash, :idle_minutes)"
)


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})  # type: ignore[return-value]


async def tenant_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Resolve workspace, credential and member; refuse what they may not reach."""
    db: Database = connection.app.state.db
    settings: Settings = connection.app.state.settings
    session = db.session()
    _state(connection.scope)[SESSION_KEY] = session
    session_hash, token_hash = credentials(connection)
    # Core execution on the session's connection: the ORM's execute machinery buys nothing
    # for one SQL statement, and this runs on every workspace request.
    sql = await session.connection()
    params = {
        "slug": connection.path_params["tenant_slug"],
        "session_hash": session_hash,
        "token_hash": token_hash,
        "idle_minutes": settings.session_idle_minutes,
    }
    row = (await sql.execute(RESOLVE, params)).first()
    if row is None:
        raise NotFound("No workspace at this address.")
    if row.membership_id is None:
        if row.credential_valid:  # signed in, but not (or no longer) a member here
            raise NotFound("No workspace at this address.")
        raise Unauthenticated("Sign in to continue.")
    session.info["tenant_id"] = row.tenant_id
    log_context.tenant.set(str(row.tenant_id))
    if row.tenant_status == operator.SUSPENDED:  # the reason costs a query, only when suspended
        raise await operator.suspension(session)
    if row.tenant_status == deletion.DELETED:
        raise await deletion.deleted_notice(session, row.tenant_id)
    if row.require_two_factor and row.token_permissions is None and not row.user_two_factor:
        raise TwoFactorRequired(
            "This workspace requires two-factor sign-in. Turn it on in your account first."
        )
    registry: ModuleRegistry = connection.app.state.registry
    ctx = TenantContext(
        tenant_id=row.tenant_id,
        slug=row.tenant_slug,
        enabled=frozenset(row.modules),
        read_only=frozenset(row.read_only_modules),
        locale=row.tenant_locale,
        user_id=row.user_id,
    )
    _state(connection.scope)[TENANT_KEY] = ctx
    _state(connection.scope)[ACTOR_KEY] = _actor(registry, row)
    module = handler.opt.get("module")
    if module is not None and module not in ctx.enabled:
        raise ModuleDisabled(
            "The {name} module is not enabled for this workspace.",
            module=module,
            name=registry.manifest(module).name,
        )
    if module in ctx.read_only and connection.method not in READS:
        raise ModuleReadOnly(
            "{name} is read-only until its subscription is paid: your data is kept. "
            "An owner or admin can pay in Apps.",
            module=module,
            name=registry.manifest(module).name,
        )


def _actor(registry: ModuleRegistry, row: Any) -> Actor:
    custom = json.loads(row.custom_roles) if isinstance(row.custom_roles, str) else row.custom_roles
    granted = rights(registry, row.base_role, [(codes, scopes) for codes, scopes in custom])
    if row.token_permissions is not None:
        granted = granted.limited_to(row.token_permissions)
    return Actor(
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        membership_id=row.membership_id,
        permissions=granted.permissions,
        scopes=granted.scopes,
        department_id=row.department_id,
        department_tree=tuple(row.department_tree),
    )


def requires(code: str) -> Any:
    """A route guard: the request's actor must hold ``code`` (403 naming it otherwise)."""

    def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        _state(connection.scope)[ACTOR_KEY].require(code)

    guard.__name__ = f"requires_{code.replace('.', '_')}"
    return guard


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


def provide_actor(request: ASGIConnection) -> Actor:
    return _state(request.scope)[ACTOR_KEY]


def provide_registry(request: ASGIConnection) -> ModuleRegistry:
    return request.app.state.registry


def provide_db(request: ASGIConnection) -> Database:
    return request.app.state.db
