"""Tenant lifecycle and module enablement: the rules, on core's tables.

Creating a tenant inserts rows and runs no DDL, so signup costs the same at
ten tenants and at ten thousand. Enabling a module enables what it depends
on first; disabling keeps every row, so enabling again shows it all.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.db import Database, add_unique, set_tenant
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import check_locale
from core.models import Membership, Tenant, TenantModule, User
from core.orm import uuid7
from core.plugins.calls import resolve
from core.plugins.registry import ModuleRegistry
from core.products.services import seed_defaults
from core.tenancy import enabled_modules

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"admin", "api", "app", "operator", "static", "t", "www", "schema"})
SOURCES = ("development", "trial", "paid", "granted")


def check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG.match(slug) or len(slug) < 3:
        raise ValidationFailed(
            "A workspace address has 3 to 63 lower-case letters, digits or hyphens, "
            "and starts and ends with a letter or digit."
        )
    if slug in RESERVED_SLUGS:
        raise ValidationFailed("The address {slug} is reserved.", slug=slug)
    return slug


async def create_tenant(
    session: AsyncSession,
    *,
    slug: str,
    name: str,
    owner_email: str | None = None,
    owner_name: str | None = None,
    locale: str = "en",
    seed: bool = True,
) -> Tenant:
    """Create a workspace (and its owner) in the session's transaction: rows only, no DDL.

    ``seed`` gives it its base currency, tax rates and units from its language.
    """
    slug = check_slug(slug)
    name = name.strip()
    if not name:
        raise ValidationFailed("A workspace needs a name.")
    check_locale(locale)
    tenant = Tenant(slug=slug, name=name, locale=locale, status="active")
    if not await add_unique(session, tenant):
        raise Conflict("The address {slug} is taken.", slug=slug)
    await set_tenant(session, tenant.id)
    if seed:
        await seed_defaults(session, locale)
    if owner_email:
        user = await _user_by_email(session, owner_email) or User(
            email=owner_email.strip(), display_name=owner_name or owner_email, locale=locale
        )
        session.add(user)
        await session.flush()
        session.add(Membership(tenant_id=tenant.id, user_id=user.id, role="owner"))
        await session.flush()
    return tenant


async def _user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(
        select(User).where(text("lower(email) = lower(:e)")).params(e=email)
    )


async def enable_module(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    key: str,
    *,
    source: str = "development",
    until: datetime | None = None,
) -> TenantContext:
    """Switch ``key`` on (its depends first); returns the tenant's context afterwards."""
    if key not in registry.modules:
        raise NotFound("There is no module {module}.", module=key)
    if source not in SOURCES:
        raise ValidationFailed("Unknown enablement source {source}.", source=source)
    await _lock_enablement(session)
    before = await enabled_modules(session)
    newly = [k for k in registry.closure(key) if k not in before]
    for module_key in newly:
        values: dict[str, Any] = {
            "tenant_id": ctx.tenant_id,
            "id": uuid7(),
            "module_key": module_key,
            "enabled": True,
            "source": source,
            "since": datetime.now(UTC),
            "until": until,
        }
        await session.execute(
            insert(TenantModule)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["tenant_id", "module_key"],
                set_={k: values[k] for k in ("enabled", "source", "since", "until")},
            )
        )
    after = TenantContext(
        tenant_id=ctx.tenant_id,
        slug=ctx.slug,
        enabled=before | frozenset(newly),
        locale=ctx.locale,
        user_id=ctx.user_id,
    )
    hooks = registry.hooks_for(after.enabled)
    for module_key in newly:
        await resolve(
            hooks.atrium_module_enabled(ctx=after, session=session, module_key=module_key)
        )
    await session.flush()
    return after


async def disable_module(
    session: AsyncSession, registry: ModuleRegistry, ctx: TenantContext, key: str
) -> TenantContext:
    """Switch ``key`` off, keeping its data; refuses while an enabled module depends on it."""
    await _lock_enablement(session)
    before = await enabled_modules(session)
    if key not in before:
        raise Conflict("The module {module} is not enabled.", module=key)
    blocking = [k for k in registry.dependents(key) if k in before]
    if blocking:
        raise Conflict(
            "Disable {dependents} first: they depend on {module}.",
            dependents=", ".join(blocking),
            module=key,
        )
    hooks = registry.hooks_for(before)
    await resolve(hooks.atrium_module_disabled(ctx=ctx, session=session, module_key=key))
    row = await session.scalar(select(TenantModule).where(TenantModule.module_key == key))
    assert row is not None
    row.enabled = False
    await session.flush()
    return TenantContext(
        tenant_id=ctx.tenant_id,
        slug=ctx.slug,
        enabled=before - {key},
        locale=ctx.locale,
        user_id=ctx.user_id,
    )


async def _lock_enablement(session: AsyncSession) -> None:
    """Serialise enable/disable per tenant: two admins clicking at once see each other."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(current_setting('app.tenant_id', true)))")
    )


async def create_tenant_with_modules(
    db: Database,
    registry: ModuleRegistry,
    *,
    slug: str,
    name: str,
    modules: tuple[str, ...] = (),
    owner_email: str | None = None,
    locale: str = "en",
    seed: bool = True,
) -> TenantContext:
    """The CLI's and tests' one-step workspace: create, then enable the named modules."""
    async with db.global_transaction() as session:
        tenant = await create_tenant(
            session, slug=slug, name=name, owner_email=owner_email, locale=locale, seed=seed
        )
        await set_tenant(session, tenant.id)
        ctx = TenantContext(tenant_id=tenant.id, slug=tenant.slug, locale=tenant.locale)
        for key in modules:
            ctx = await enable_module(session, registry, ctx, key)
        return ctx


async def require_two_factor(
    session: AsyncSession, ctx: TenantContext, required: bool, *, actor_id: uuid.UUID | None
) -> None:
    """Require (or stop requiring) two-factor sign-in of every member of the workspace.

    Takes effect on each member's next request: one without 2FA is refused
    until they turn it on (API tokens are not affected: they are not sign-ins).
    """
    await session.execute(
        update(Tenant).where(Tenant.id == ctx.tenant_id).values(require_two_factor=required)
    )
    await audit.record(
        session,
        "core.settings.two_factor_required" if required else "core.settings.two_factor_optional",
        actor_id=actor_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
    )
