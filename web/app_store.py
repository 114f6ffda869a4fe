"""The app store at ``/t/{slug}/apps``: every installed module as a card, and the
enable and disable confirmations.

Every member reads the store; enabling and disabling (the confirmation pages and their
forms) need ``core.billing.manage``, which only owners hold (403 otherwise). A change is
two steps, as in Odoo's and DingTalk's app centres: the card's button opens a confirmation
that says what comes along (the dependencies enabled first), what happens to the data
(kept when disabled, back when enabled again) and to billing (nothing is charged while
payment does not exist); its form, with a CSRF token, does it and comes back to the store
saying what changed. A disable that another enabled module blocks shows the reason and
no button; posting it anyway answers 409 with the same page. The rules are in
:mod:`tenants.app_store`. A module with a trial never tried has a "Try free for N days"
button on its card, one step (nothing is charged, no card is asked for): its form starts
the trial (:mod:`billing.trials`) and comes back to the store.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_409_CONFLICT

from billing import catalogue, trials
from core.errors import Conflict
from core.settings import Settings
from tenants import app_store
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.pages import EARLY_ACCESS_PRICE
from web.tenancy import requires

MANAGE = "core.billing.manage"


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


def store_url(slug: str, done: str = "", key: str = "") -> str:
    return f"/t/{slug}/apps" + (f"?done={done}&module={key}" if done else "")


@get("/apps")
async def store(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    done: FromQuery[str | None] = None,
    module: FromQuery[str | None] = None,
) -> Template:
    """The cards; ``done`` and ``module`` (after a change) say what just happened."""
    changed = registry.manifest(module).name if module in registry.modules else None
    return Template(
        "app_store/index.html",
        context={
            "slug": tenant.slug,
            "cards": await app_store.cards(session, registry),
            "prices": await catalogue.shown_prices(session),
            "trials": await trials.views(session),
            "early_access": EARLY_ACCESS_PRICE,
            "free": app_store.payment_free(_settings(request)),
            "manages": actor.can(MANAGE),
            "done": done if changed and done in ("enabled", "disabled", "trial") else None,
            "changed": changed,
        },
    )


@get("/apps/{key:str}/enable", guards=[requires(MANAGE)])
async def confirm_enable(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    key: FromPath[str],
) -> Template:
    plan = await app_store.enable_plan(session, registry, _settings(request), key)
    return Template(
        "app_store/enable.html",
        context={"slug": tenant.slug, "plan": plan, "price": EARLY_ACCESS_PRICE},
    )


@post("/apps/{key:str}/enable", guards=[requires(MANAGE)])
async def enable(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect:
    await app_store.enable(
        session, registry, _settings(request), tenant, key, actor_id=actor.user_id
    )
    return Redirect(store_url(tenant.slug, "enabled", key), status_code=HTTP_303_SEE_OTHER)


@post("/apps/{key:str}/trial", guards=[requires(MANAGE)])
async def start_trial(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect:
    """Start the workspace's one free trial of the module (no card): :mod:`billing.trials`."""
    await trials.start(session, registry, tenant, key, actor)
    return Redirect(store_url(tenant.slug, "trial", key), status_code=HTTP_303_SEE_OTHER)


async def _disable_page(
    session: DbSession, registry: Registry, slug: str, key: str, status_code: int = 200
) -> Template:
    plan = await app_store.disable_plan(session, registry, key)
    return Template(
        "app_store/disable.html",
        context={"slug": slug, "plan": plan},
        status_code=status_code,
    )


@get("/apps/{key:str}/disable", guards=[requires(MANAGE)])
async def confirm_disable(
    session: DbSession, registry: Registry, tenant: CurrentTenant, key: FromPath[str]
) -> Template:
    return await _disable_page(session, registry, tenant.slug, key)


@post("/apps/{key:str}/disable", guards=[requires(MANAGE)])
async def disable(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect | Template:
    try:
        async with session.begin_nested():
            await app_store.disable(session, registry, tenant, key, actor_id=actor.user_id)
    except Conflict:  # another module needs it, or it is not on: the page says which
        return await _disable_page(session, registry, tenant.slug, key, HTTP_409_CONFLICT)
    return Redirect(store_url(tenant.slug, "disabled", key), status_code=HTTP_303_SEE_OTHER)


PAGES = [store, confirm_enable, enable, start_trial, confirm_disable, disable]
