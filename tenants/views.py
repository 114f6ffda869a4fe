"""Module enablement from a page: the form on a disabled module's page posts here."""

from __future__ import annotations

from litestar import post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.plugins.registry import ModuleRegistry
from tenants import services


@post("/modules/{key:str}/enable")
async def enable_from_page(
    tenant: TenantContext, session: AsyncSession, registry: ModuleRegistry, key: str
) -> Redirect:
    await services.enable_module(session, registry, tenant, key)
    first_entry = next(iter(registry.manifest(key).menu), None)
    target = first_entry.path if first_entry else "/"
    return Redirect(f"/t/{tenant.slug}{target}")


PAGES = [enable_from_page]
