"""Module enablement from a page: the form on a disabled module's page posts here."""

from __future__ import annotations

from litestar import post
from litestar.params import FromPath
from litestar.response import Redirect

from tenants import services
from web.deps import CurrentTenant, DbSession, Registry
from web.tenancy import requires


@post(
    "/modules/{key:str}/enable",
    guards=[requires("core.billing.manage")],
)
async def enable_from_page(
    tenant: CurrentTenant, session: DbSession, registry: Registry, key: FromPath[str]
) -> Redirect:
    await services.enable_module(session, registry, tenant, key)
    first_entry = next(iter(registry.manifest(key).menu), None)
    target = first_entry.path if first_entry else "/"
    return Redirect(f"/t/{tenant.slug}{target}")


PAGES = [enable_from_page]
