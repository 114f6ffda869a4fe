"""Module enablement from a page: the form on a disabled module's page posts here.

That page is its own confirmation (it names the module and says its data comes back), so
the form enables at once, through the app store's rules (:func:`tenants.app_store.enable`:
dependencies first, free in development, audited), and opens the module.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import FromPath
from litestar.response import Redirect

from tenants import app_store
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires


@post(
    "/modules/{key:str}/enable",
    guards=[requires("core.billing.manage")],
)
async def enable_from_page(
    request: Request[Any, Any, Any],
    tenant: CurrentTenant,
    session: DbSession,
    registry: Registry,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect:
    settings = request.app.state.settings
    await app_store.enable(session, registry, settings, tenant, key, actor_id=actor.user_id)
    first_entry = next(iter(registry.manifest(key).menu), None)
    target = first_entry.path if first_entry else "/"
    return Redirect(f"/t/{tenant.slug}{target}")


PAGES = [enable_from_page]
