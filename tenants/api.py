"""JSON API for module enablement (the app store's backend)."""

from __future__ import annotations

from litestar import get, post
from litestar.params import FromPath

from tenants import services
from tenants.schemas import EnabledModules, ModuleStatus
from web.deps import CurrentTenant, DbSession, Registry
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
