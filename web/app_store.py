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

With Stripe configured, a priced module's card offers "Subscribe…" instead of "Enable…": its
confirmation says what is paid for (the price per interval, the interval chosen with the
first module only; a later module is added to the subscription, the rest of the period
prorated), and its form goes to Stripe's Checkout (the first module) or back to the store
with the module on. A paid module offers "Remove…" (it stays on until the period's end,
the card then says "Ends on …" with "Keep"). Checkout comes back to
``/t/{slug}/billing/checkout/return``. The rules are in :mod:`billing.subscriptions`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_409_CONFLICT

from billing import catalogue, subscriptions, trials
from billing.provider import BillingProvider, provider_for
from core.errors import Conflict
from core.settings import Settings
from tenants import app_store
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.pages import EARLY_ACCESS_PRICE
from web.tenancy import requires

MANAGE = "core.billing.manage"


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


def _provider(request: Request[Any, Any, Any]) -> BillingProvider:
    return provider_for(_settings(request))


def store_url(slug: str, done: str = "", key: str = "") -> str:
    return f"/t/{slug}/apps" + (f"?done={done}&module={key}" if done else "")


#: What the store says after a change, by the ``done`` its redirect carries.
DONE = (
    "enabled",
    "disabled",
    "trial",
    "subscribed",
    "removal",
    "kept",
    "checkout_cancelled",
    "checkout_open",
)


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
    provider = _provider(request)
    return Template(
        "app_store/index.html",
        context={
            "slug": tenant.slug,
            "cards": await app_store.cards(session, registry),
            "prices": await catalogue.shown_prices(session),
            "trials": await trials.views(session),
            "offers": await subscriptions.offers(session, registry, provider),
            "early_access": EARLY_ACCESS_PRICE,
            "free": app_store.payment_free(_settings(request)) and not provider.external,
            "manages": actor.can(MANAGE),
            "done": done if changed and done in DONE else None,
            "changed": changed,
            "changed_key": module,
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


@get("/apps/{key:str}/subscribe", guards=[requires(MANAGE)])
async def confirm_subscribe(
    session: DbSession, registry: Registry, tenant: CurrentTenant, key: FromPath[str]
) -> Template:
    return Template(
        "app_store/subscribe.html",
        context={
            "slug": tenant.slug,
            "plan": await subscriptions.plan(session, registry, key),
            "intervals": catalogue.INTERVAL_LABELS,
        },
    )


@post("/apps/{key:str}/subscribe", guards=[requires(MANAGE)])
async def subscribe(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
    data: FormData,
) -> Redirect:
    """To Stripe's Checkout (the first paid module), or back to the store with it on."""
    settings = _settings(request)
    done = await subscriptions.subscribe(
        session,
        registry,
        tenant,
        _provider(request),
        actor,
        key,
        interval=data.get("interval") or None,
        base_url=settings.base_url,
        grace_days=settings.billing_grace_days,
    )
    target = done.checkout_url or store_url(tenant.slug, "subscribed", key)
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


@get("/billing/checkout/return", guards=[requires(MANAGE)])
async def checkout_return(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    session_id: FromQuery[str],
) -> Redirect:
    """Where Checkout sends the owner back: what was paid is recorded at once."""
    returned = await subscriptions.complete_checkout(
        session,
        registry,
        tenant,
        _provider(request),
        actor,
        session_id,
        grace_days=_settings(request).billing_grace_days,
    )
    done = "subscribed" if returned.paid else "checkout_open"
    key = returned.module_key
    target = store_url(tenant.slug, done, key) if key else store_url(tenant.slug)
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


@get("/apps/{key:str}/remove", guards=[requires(MANAGE)])
async def confirm_remove(
    session: DbSession, registry: Registry, tenant: CurrentTenant, key: FromPath[str]
) -> Template:
    return Template(
        "app_store/remove.html",
        context={
            "slug": tenant.slug,
            "removal": await subscriptions.removal(session, registry, key),
        },
    )


@post("/apps/{key:str}/remove", guards=[requires(MANAGE)])
async def remove(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect:
    """Out of the subscription at the period's end; on until then."""
    await subscriptions.remove(
        session,
        registry,
        tenant,
        _provider(request),
        actor,
        key,
        grace_days=_settings(request).billing_grace_days,
    )
    return Redirect(store_url(tenant.slug, "removal", key), status_code=HTTP_303_SEE_OTHER)


@post("/apps/{key:str}/keep", guards=[requires(MANAGE)])
async def keep(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    key: FromPath[str],
) -> Redirect:
    """Undo a removal before it takes effect."""
    await subscriptions.keep(
        session,
        registry,
        tenant,
        _provider(request),
        actor,
        key,
        grace_days=_settings(request).billing_grace_days,
    )
    return Redirect(store_url(tenant.slug, "kept", key), status_code=HTTP_303_SEE_OTHER)


PAGES = [
    store,
    confirm_enable,
    enable,
    start_trial,
    confirm_disable,
    disable,
    confirm_subscribe,
    subscribe,
    checkout_return,
    confirm_remove,
    remove,
    keep,
]
