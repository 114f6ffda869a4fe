"""JSON API for the workspace's own settings: modules (the app store's backend), roles,
members' roles and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from core import audit, roles
from core.identity import api_tokens
from core.models import ApiToken, Role
from tenants import services
from tenants.schemas import (
    ApiTokenIn,
    ApiTokenOut,
    AuditEntryOut,
    EnabledModules,
    MemberRolesIn,
    ModuleStatus,
    RoleIn,
    RoleOut,
    SecurityIn,
)
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires


@get("/modules", summary="Installed modules and whether this workspace has them on")
async def list_modules(tenant: CurrentTenant, registry: Registry) -> list[ModuleStatus]:
    return [
        ModuleStatus(
            key=key,
            name=m.manifest.name,
            version=m.manifest.version,
            depends=list(m.manifest.depends),
            enabled=key in tenant.enabled,
        )
        for key, m in registry.modules.items()
    ]


@post(
    "/modules/{key:str}/enable",
    guards=[requires("core.billing.manage")],
    summary="Enable a module (and what it depends on)",
)
async def enable(
    tenant: CurrentTenant, session: DbSession, registry: Registry, key: FromPath[str]
) -> EnabledModules:
    after = await services.enable_module(session, registry, tenant, key)
    return EnabledModules(sorted(after.enabled))


@post(
    "/modules/{key:str}/disable",
    guards=[requires("core.billing.manage")],
    summary="Disable a module; its data is kept",
)
async def disable(
    tenant: CurrentTenant, session: DbSession, registry: Registry, key: FromPath[str]
) -> EnabledModules:
    after = await services.disable_module(session, registry, tenant, key)
    return EnabledModules(sorted(after.enabled))


API = [list_modules, enable, disable]


# --- roles ------------------------------------------------------------------------------


def _role_out(role: Role) -> RoleOut:
    return RoleOut(role.id, role.name, role.description, role.permissions, role.scopes)


@get("/roles", guards=[requires("core.role.manage")], summary="Custom roles")
async def list_roles(session: DbSession) -> list[RoleOut]:
    return [_role_out(role) for role in await roles.roles(session)]


@post("/roles", guards=[requires("core.role.manage")], summary="Create a custom role")
async def create_role(
    session: DbSession, registry: Registry, actor: CurrentActor, data: JSONBody[RoleIn]
) -> RoleOut:
    role = await roles.create_role(
        session,
        registry,
        name=data.name,
        permissions=data.permissions,
        scopes=data.scopes,
        description=data.description,
        actor_id=actor.user_id,
    )
    return _role_out(role)


@put(
    "/members/{membership_id:uuid}/roles",
    guards=[requires("core.member.manage")],
    summary="Set a member's built-in role and custom roles",
)
async def set_member_roles(
    session: DbSession,
    actor: CurrentActor,
    membership_id: FromPath[uuid.UUID],
    data: JSONBody[MemberRolesIn],
) -> MemberRolesIn:
    member = await roles.set_member_roles(
        session, membership_id, base_role=data.role, role_ids=data.roles, actor_id=actor.user_id
    )
    return MemberRolesIn(member.role, data.roles)


# --- API tokens ---------------------------------------------------------------------------


def _token_out(token: ApiToken, plaintext: str | None = None) -> ApiTokenOut:
    return ApiTokenOut(
        token.id,
        token.name,
        token.prefix,
        token.permissions,
        token.expires_at,
        token.last_used_at,
        token.revoked_at,
        plaintext,
    )


@get("/api-tokens", summary="My API tokens in this workspace")
async def list_api_tokens(session: DbSession, actor: CurrentActor) -> list[ApiTokenOut]:
    return [_token_out(token) for token in await api_tokens.mine(session, actor)]


@post("/api-tokens", summary="Create an API token (its secret is shown once, in this answer)")
async def create_api_token(
    session: DbSession, actor: CurrentActor, data: JSONBody[ApiTokenIn]
) -> ApiTokenOut:
    plaintext, token = await api_tokens.create(
        session,
        actor,
        name=data.name,
        permissions=data.permissions,
        expires_in_days=data.expires_in_days,
    )
    return _token_out(token, plaintext)


@delete("/api-tokens/{token_id:uuid}", summary="Revoke one of my API tokens")
async def revoke_api_token(
    session: DbSession, actor: CurrentActor, token_id: FromPath[uuid.UUID]
) -> None:
    await api_tokens.revoke(session, actor, token_id)


API += [
    list_roles,
    create_role,
    set_member_roles,
    list_api_tokens,
    create_api_token,
    revoke_api_token,
]


@put(
    "/settings/security",
    guards=[requires("core.settings.manage")],
    summary="Require two-factor sign-in of every member (or not)",
)
async def set_security(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: JSONBody[SecurityIn]
) -> SecurityIn:
    await services.require_two_factor(
        session, tenant, data.require_two_factor, actor_id=actor.user_id
    )
    return data


API.append(set_security)


@get("/audit", guards=[requires("core.audit.read")], summary="The audit log, newest first")
async def audit_log(
    session: DbSession,
    action: FromQuery[str | None] = None,
    actor_id: FromQuery[uuid.UUID | None] = None,
    since: FromQuery[datetime | None] = None,
    until: FromQuery[datetime | None] = None,
    before: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[int] = 50,
) -> list[AuditEntryOut]:
    """Filter by action, actor and time; page with ``before`` = the last id seen."""
    rows = await audit.entries(
        session,
        action=action,
        actor_id=actor_id,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    return [
        AuditEntryOut(
            r.id, r.action, r.actor_id, r.subject_type, r.subject_id, r.detail, r.ip, r.at
        )
        for r in rows
    ]


API.append(audit_log)
