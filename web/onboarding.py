"""The first-run checklist on the dashboard, and its two buttons: load the demo data, hide.

Who sees it: members who set the workspace up (``core.settings.manage``: owners and
admins), until every step is done. Each step is derived from the data
(:mod:`tenants.onboarding`), so it remembers what is done with no table of its own.

Hiding it before then is a per-browser choice, kept in a cookie whose path is the
workspace (``/t/{slug}``), so it hides this workspace's checklist only, in this browser,
for a year; "Show the setup checklist" on the dashboard brings it back. A cookie rather
than a column: the choice is about one person's screen, not the workspace, and it needs
no migration. The demo button (owners and admins, CSRF-checked) loads :mod:`tenants.demo`
in the request's transaction and comes back to the dashboard saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, post
from litestar.datastructures import Cookie
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.permissions import Actor
from tenants import demo, onboarding
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires

SETS_UP = "core.settings.manage"
HIDDEN_COOKIE = "atrium_checklist_hidden"
HIDDEN_FOR = 365 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Checklist:
    """What the dashboard shows of the checklist for this member and this browser."""

    slug: str
    steps: list[onboarding.Step] | None  # None: not shown
    hidden: bool = False  # hidden in this browser while steps are still open
    demo_loaded: bool = False  # just back from the demo button


async def checklist(
    request: Request[Any, Any, Any], session: AsyncSession, tenant: TenantContext, actor: Actor
) -> Checklist:
    demo_loaded = request.query_params.get("notice") == "demo"
    if not actor.can(SETS_UP):
        return Checklist(tenant.slug, None, demo_loaded=demo_loaded)
    steps = await onboarding.checklist(session, tenant)
    if all(step.done for step in steps):
        return Checklist(tenant.slug, None, demo_loaded=demo_loaded)
    hidden = request.cookies.get(HIDDEN_COOKIE) == "1"
    return Checklist(tenant.slug, None if hidden else steps, hidden, demo_loaded)


def _dashboard(slug: str, *, cookie: Cookie | None = None, notice: str = "") -> Redirect:
    target = f"/t/{slug}/" + (f"?notice={notice}" if notice else "")
    return Redirect(target, status_code=HTTP_303_SEE_OTHER, cookies=[cookie] if cookie else [])


def _hidden_cookie(slug: str, hidden: bool) -> Cookie:
    return Cookie(
        key=HIDDEN_COOKIE,
        value="1" if hidden else "",
        path=f"/t/{slug}",
        max_age=HIDDEN_FOR if hidden else 0,
        httponly=True,
        samesite="lax",
    )


@post("/onboarding/hide", guards=[requires(SETS_UP)])
async def hide(tenant: CurrentTenant) -> Redirect:
    return _dashboard(tenant.slug, cookie=_hidden_cookie(tenant.slug, True))


@post("/onboarding/show", guards=[requires(SETS_UP)])
async def show(tenant: CurrentTenant) -> Redirect:
    return _dashboard(tenant.slug, cookie=_hidden_cookie(tenant.slug, False))


@post("/onboarding/demo", guards=[requires(SETS_UP)])
async def load_demo(
    session: DbSession, registry: Registry, tenant: CurrentTenant, actor: CurrentActor
) -> Redirect:
    await demo.load(session, registry, tenant, actor)
    return _dashboard(tenant.slug, notice="demo")


PAGES = [hide, show, load_demo]
