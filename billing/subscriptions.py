"""Subscribing: paying for modules one by one, in one Stripe subscription per workspace.

**One customer per workspace** (``billing_account.stripe_customer_id``), made when first
needed (intent ``customer``), named after the workspace, with the owner's e-mail and the
workspace's id in its metadata.

**Subscribing** (:func:`subscribe`, owners only: ``core.billing.manage``) to a module:

- refused (409) when the module is already paid for (in the subscription, or being
  removed: "Keep" is the way back), granted by the operator, or on free in development
  mode; refused (422) when it has no price synced to Stripe for the interval; 404 for an
  unknown module. A module on trial, read-only after its trial, or off can be subscribed
  to; a trial ends there (nothing is charged for it, the subscription starts now).
- **The interval** (``billing_account.interval``, month or year) is chosen with the first
  paid module and fixed while a subscription is live: Stripe cannot mix intervals in one
  subscription, so a later module takes the workspace's interval (another is refused, 409).
- **Dependencies**: the modules it needs that have a price and are not paid for (nor
  granted, nor on free) are paid for with it, in the same Checkout or as items of their
  own; one being removed is kept. Those without a price come along free: switching the
  module on enables them (:func:`billing.entitlements.apply`).
- **No live subscription**: a Checkout Session in subscription mode (intent
  ``checkout:<module>``) for the module and its priced dependencies, quantities as the
  prices say (per member: the active members, :func:`billing.members.billed_members`); the
  caller sends the owner to its address. Its other open sessions are expired, so two tabs
  cannot pay twice. Before that, a customer who has a live subscription Atrium has not
  recorded yet (paid, and the return and the webhook still on their way) is recorded and
  added to instead: never a second subscription.
- **A live subscription**: each line becomes an item (intent ``add:<module>``, the rest of
  the period prorated at Stripe), then :func:`billing.state.refresh` records the
  subscription, so the module is on at once. A subscription that was to end at its
  period's end goes on (``cancel_at_period_end`` cleared).

**The return from Checkout** (:func:`complete_checkout`, ``GET /t/{slug}/billing/checkout/
return?session_id=``): the session is fetched from Stripe (another workspace's is 404), the
customer and subscription are recorded through :func:`billing.state.refresh` and the
subscription is audited once per session. The webhook that arrives later changes nothing.

**Removing** (:func:`remove`): the module stays on until the end of the period paid for
(``billing_item.ends_at`` = the subscription's period end) and the app store says so. When
it is the last module not ending, the whole subscription is set to end then
(``cancel_at_period_end``, intent ``cancel_at_period_end:on``). Refused while an enabled
module that is not ending depends on it. **Keep** (:func:`keep`) undoes it before that
moment (``cancel_at_period_end`` cleared, intent ``cancel_at_period_end:off``).

**The removals job** (:func:`run_removals`, core's ``billing_removals``, hourly): items
whose ``ends_at`` has passed are taken out of the subscription at Stripe (intent
``remove:<module>``), then the subscription is refreshed: the module goes off, its data
kept. When Stripe ends the whole subscription itself (``cancel_at_period_end``) nothing is
deleted item by item; the refresh turns the modules off from their ``ends_at``.

Every Stripe write's idempotency key comes from :func:`billing.intents.attempt_key`, and
the intent is finished in the transaction that records the result: a crash between
Stripe's answer and our commit, then a retry, sends the same key (no second customer,
checkout, or item). Audited: ``billing.module.subscribed``,
``billing.module.removal_scheduled``, ``billing.module.kept``, ``billing.module.removed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import catalogue, intents, state
from billing.entitlements import GRANTED, Level
from billing.members import billed_members
from billing.models import INTERVALS, MONTH, YEAR, BillingAccount, BillingItem, BillingPrice
from billing.provider import MODULE_METADATA, BillingProvider, provider_for
from core import audit
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_, gettext, when
from core.models import AuditEntry, Tenant, TenantModule, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry, installed

SUBSCRIBED = "billing.module.subscribed"
REMOVAL_SCHEDULED = "billing.module.removal_scheduled"
KEPT = "billing.module.kept"
REMOVED = "billing.module.removed"
MANAGE = "core.billing.manage"
DEVELOPMENT = "development"  # core_tenant_module.source: on free, no payment in this install
CUSTOMER = "customer"
CANCEL = "cancel"  # the whole subscription ended by the removals job

NOT_AVAILABLE = N_("Paying for modules is not available yet. Ask the Atrium operator for a trial.")
INTERVAL_FIXED = N_(
    "This workspace pays {interval}: a module is added to its subscription at the same "
    "interval, since one subscription cannot mix monthly and yearly prices."
)
#: How a workspace pays, in a sentence ("This workspace pays monthly").
PAYS = {MONTH: N_("monthly"), YEAR: N_("yearly")}


def checkout_intent(module_key: str) -> str:
    return f"checkout:{module_key}"


def add_intent(module_key: str) -> str:
    return f"add:{module_key}"


def remove_intent(module_key: str) -> str:
    return f"remove:{module_key}"


def period_end_intent(flag: bool) -> str:
    return f"cancel_at_period_end:{'on' if flag else 'off'}"


def return_url(base_url: str, slug: str) -> str:
    """Where Checkout sends the owner back (Stripe fills in the session's id)."""
    return f"{base_url}/t/{slug}/billing/checkout/return?session_id={{CHECKOUT_SESSION_ID}}"


def cancelled_url(base_url: str, slug: str, module_key: str) -> str:
    return f"{base_url}/t/{slug}/apps?done=checkout_cancelled&module={module_key}"


# --- what the workspace has --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One module paid for by a subscription: its price and the quantity billed."""

    module_key: str
    name: str  # a msgid
    price: BillingPrice
    quantity: int

    @property
    def text(self) -> str:
        """Its price as the store says it ("¥99.00 / month"), in the current language."""
        return catalogue.price_text(self.price)


@dataclass(frozen=True, slots=True)
class Plan:
    """What subscribing to a module pays for, per interval that can be chosen."""

    module_key: str
    name: str  # a msgid
    lines: Mapping[str, list[Line]]  # interval -> the module and its priced dependencies
    fixed_interval: str | None  # a live subscription's interval; None: chosen now
    free: list[str] = field(default_factory=list)  # names of dependencies coming along free
    kept: list[str] = field(default_factory=list)  # names of dependencies no longer removed


@dataclass(frozen=True, slots=True)
class _Workspace:
    """The workspace's billing as Atrium has it (the account locked)."""

    account: BillingAccount
    items: dict[str, BillingItem]
    rows: dict[str, TenantModule]

    @property
    def live(self) -> bool:
        return _live(self.account)


def _live(acct: BillingAccount | None) -> bool:
    return bool(acct and acct.stripe_subscription_id and acct.status not in state.ENDED)


async def _workspace(session: AsyncSession, *, lock: bool = True) -> _Workspace:
    """Locked (made when missing) to change it; as it is to read it."""
    acct = await state.ensure_account(session) if lock else await state.account(session)
    acct = acct or BillingAccount(interval=MONTH)  # none yet: nothing paid, not kept
    items = {row.module_key: row for row in await session.scalars(select(BillingItem))}
    rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
    return _Workspace(acct, items, rows)


def _name(registry: ModuleRegistry, key: str) -> str:
    return gettext(registry.manifest(key).name)


def _known(registry: ModuleRegistry, key: str) -> None:
    if key not in registry.modules:
        raise NotFound("There is no module {module}.", module=key)


def _on_free(row: TenantModule | None, now: datetime) -> str | None:
    """Why a module is on without needing payment (granted, development), if it is."""
    if row is None or state.level_of(row, now) is Level.OFF:
        return None
    return row.source if row.source in (GRANTED, DEVELOPMENT) else None


def _refusal(registry: ModuleRegistry, ws: _Workspace, key: str, now: datetime) -> Conflict | None:
    """Why ``key`` cannot be subscribed to, or None when it can (see the module doc)."""
    name = _name(registry, key)
    item = ws.items.get(key)
    if item is not None and item.ends_at is None:
        return Conflict("{module} is already in your subscription.", module=name)
    if item is not None:
        return Conflict(
            "{module} is being removed on {date}: choose Keep to keep it.",
            module=name,
            date=when(item.ends_at),
        )
    free = _on_free(ws.rows.get(key), now)
    if free == GRANTED:
        return Conflict(
            "{module} is granted by the operator: there is nothing to pay.", module=name
        )
    if free == DEVELOPMENT:
        return Conflict(
            "{module} is enabled free in development mode: disable it first to subscribe.",
            module=name,
        )
    return None


async def _prices(session: AsyncSession, keys: list[str]) -> dict[tuple[str, str], BillingPrice]:
    """(module, interval) -> its current price, for ``keys``."""
    found = await session.scalars(
        select(BillingPrice).where(BillingPrice.active, BillingPrice.module_key.in_(keys))
    )
    return {(price.module_key, price.interval): price for price in found}


async def _paid_interval(session: AsyncSession, ws: _Workspace) -> str:
    """The interval the live subscription bills at: its items' (the account's otherwise)."""
    ids = [item.price_id for item in ws.items.values()]
    found = await session.scalar(select(BillingPrice.interval).where(BillingPrice.id.in_(ids)))
    return found or ws.account.interval


async def _plan(
    session: AsyncSession,
    registry: ModuleRegistry,
    ws: _Workspace,
    key: str,
    now: datetime,
    interval: str | None,
) -> Plan:
    """What subscribing to ``key`` pays for at ``interval`` (every interval it can be paid
    at when None and the workspace has no live subscription); raises the refusals."""
    _known(registry, key)
    refused = _refusal(registry, ws, key, now)
    if refused is not None:
        raise refused
    needed = registry.closure(key)  # dependencies first
    prices = await _prices(session, needed)
    fixed = await _paid_interval(session, ws) if ws.live else None
    if fixed is not None and interval is not None and interval != fixed:
        raise Conflict(INTERVAL_FIXED, interval=gettext(PAYS[fixed]))
    if interval is not None and interval not in INTERVALS:
        raise ValidationFailed("Choose monthly or yearly.", field="interval")
    billed, free, kept = [key], [], []
    for dep in needed[:-1]:
        item = ws.items.get(dep)
        if item is not None:
            if item.ends_at is not None:
                kept.append(registry.manifest(dep).name)
        elif _on_free(ws.rows.get(dep), now) is None:
            if any(module == dep for module, _ in prices):
                billed.insert(-1, dep)
            elif state.level_of(ws.rows.get(dep), now) is Level.OFF:
                free.append(registry.manifest(dep).name)
    at = fixed or interval
    wanted = [at] if at else list(INTERVALS)
    members = await billed_members(session)
    lines = {
        each: [
            Line(
                module,
                registry.manifest(module).name,
                prices[module, each],
                members if prices[module, each].per_member else 1,
            )
            for module in billed
        ]
        for each in wanted
        if all(_synced(prices, module, each) for module in billed)
    }
    if not lines:
        missing = next(
            module for module in billed for each in wanted if not _synced(prices, module, each)
        )
        if at is None:
            raise ValidationFailed(
                "{module} has no price to subscribe with yet. Ask the Atrium operator.",
                module=_name(registry, missing),
            )
        raise ValidationFailed(
            "{module} has no price for paying {interval} yet. Ask the Atrium operator.",
            module=_name(registry, missing),
            interval=gettext(PAYS[at]),
            field="interval",
        )
    return Plan(key, registry.manifest(key).name, lines, fixed, free, kept)


def _synced(prices: Mapping[tuple[str, str], BillingPrice], module: str, interval: str) -> bool:
    price = prices.get((module, interval))
    return price is not None and price.synced


async def plan(
    session: AsyncSession,
    registry: ModuleRegistry,
    module_key: str,
    *,
    now: datetime | None = None,
) -> Plan:
    """The subscribe confirmation's facts for ``module_key`` (raises the refusals)."""
    ws = await _workspace(session, lock=False)
    return await _plan(session, registry, ws, module_key, now or datetime.now(UTC), None)


# --- subscribing -------------------------------------------------------------------------


async def _customer(
    session: AsyncSession,
    provider: BillingProvider,
    ws: _Workspace,
    ctx: TenantContext,
    actor: Actor,
) -> str:
    """The workspace's Stripe customer, made now when it has none."""
    acct = ws.account
    if acct.stripe_customer_id:
        return acct.stripe_customer_id
    workspace = await session.get_one(Tenant, ctx.tenant_id)
    owner = await session.get_one(User, actor.user_id)
    key = await intents.attempt_key(Database.of(session), ctx.tenant_id, CUSTOMER)
    acct.stripe_customer_id = await provider.create_customer(
        ctx.tenant_id, workspace.name, owner.email, key
    )
    await intents.finish(session, CUSTOMER)
    await session.flush()
    return acct.stripe_customer_id


async def _adopt_unrecorded(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    ws: _Workspace,
    grace_days: int,
    now: datetime,
) -> _Workspace:
    """A live subscription of the customer that Atrium has not recorded yet (paid, the
    return and the webhook still on their way) recorded now, so it is added to rather
    than a second one made."""
    customer = ws.account.stripe_customer_id
    if ws.live or not customer:
        return ws
    live = [s for s in await provider.subscriptions(customer) if s["status"] not in state.ENDED]
    if not live:
        return ws
    await state.record(session, registry, ctx, live[0], grace_days=grace_days, now=now)
    return await _workspace(session)


async def _go_on(
    session: AsyncSession,
    ctx: TenantContext,
    provider: BillingProvider,
    acct: BillingAccount,
    flag: bool,
) -> str | None:
    """Tell Stripe whether the whole subscription ends at its period's end, when that
    changes; the intent to finish once recorded."""
    if acct.cancel_at_period_end == flag:
        return None
    assert acct.stripe_subscription_id
    intent = period_end_intent(flag)
    key = await intents.attempt_key(Database.of(session), ctx.tenant_id, intent)
    await provider.cancel_at_period_end(acct.stripe_subscription_id, flag, key)
    return intent


@dataclass(frozen=True, slots=True)
class Subscribed:
    """What :func:`subscribe` did: a Checkout to send the owner to, or the modules on now."""

    checkout_url: str | None
    modules: list[str]


async def subscribe(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    module_key: str,
    *,
    interval: str | None,
    base_url: str,
    grace_days: int,
    now: datetime | None = None,
) -> Subscribed:
    """Pay for ``module_key`` (and its priced dependencies); see the module doc."""
    actor.require(MANAGE)
    _known(registry, module_key)
    if not provider.external:
        raise Conflict(NOT_AVAILABLE)
    now = now or datetime.now(UTC)
    ws = await _adopt_unrecorded(
        session, registry, ctx, provider, await _workspace(session), grace_days, now
    )
    if not ws.live and interval is None:
        raise ValidationFailed("Choose monthly or yearly.", field="interval")
    found = await _plan(session, registry, ws, module_key, now, interval)
    chosen = found.fixed_interval or interval
    assert chosen is not None
    lines = found.lines[chosen]
    modules = [line.module_key for line in lines]
    if not ws.live:
        return Subscribed(
            await _checkout(session, provider, ws, ctx, actor, module_key, lines, base_url),
            modules,
        )
    assert ws.account.stripe_subscription_id
    subscription_id = ws.account.stripe_subscription_id
    for dep in registry.closure(module_key):
        if dep in ws.items:
            ws.items[dep].ends_at = None  # a dependency being removed: kept
    going_on = await _go_on(session, ctx, provider, ws.account, False)
    done = [going_on] if going_on else []
    db = Database.of(session)
    for line in lines:
        assert line.price.stripe_price_id
        intent = add_intent(line.module_key)
        key = await intents.attempt_key(db, ctx.tenant_id, intent)
        await provider.add_item(subscription_id, line.price.stripe_price_id, line.quantity, key)
        done.append(intent)
    await state.refresh(
        session, registry, ctx, provider, subscription_id, grace_days=grace_days, now=now
    )
    for intent in done:
        await intents.finish(session, intent)
    await _audit_subscribed(session, actor, ctx, module_key, modules, chosen, checkout=None)
    return Subscribed(None, modules)


async def _checkout(
    session: AsyncSession,
    provider: BillingProvider,
    ws: _Workspace,
    ctx: TenantContext,
    actor: Actor,
    module_key: str,
    lines: list[Line],
    base_url: str,
) -> str:
    """A Checkout Session for ``lines``; its address."""
    customer = await _customer(session, provider, ws, ctx, actor)
    intent = checkout_intent(module_key)
    key = await intents.attempt_key(Database.of(session), ctx.tenant_id, intent)
    prices = [(line.price.stripe_price_id or "", line.quantity) for line in lines]
    checkout_id, url = await provider.checkout(
        customer,
        prices,
        return_url(base_url, ctx.slug),
        cancelled_url(base_url, ctx.slug, module_key),
        ctx.tenant_id,
        module_key,
        key,
    )
    await provider.expire_open_checkouts(customer, keep=checkout_id)
    ws.account.interval = lines[0].price.interval
    await intents.finish(session, intent)
    return url


async def _audit_subscribed(
    session: AsyncSession,
    actor: Actor,
    ctx: TenantContext,
    module_key: str,
    modules: list[str],
    interval: str,
    *,
    checkout: str | None,
) -> None:
    await audit.record(
        session,
        SUBSCRIBED,
        actor_id=actor.user_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
        detail={
            "module": module_key,
            "modules": modules,
            "interval": interval,
            "checkout": checkout,
        },
    )


@dataclass(frozen=True, slots=True)
class Returned:
    """The return from Checkout: the module it was for, and whether it was paid."""

    module_key: str | None
    paid: bool


async def complete_checkout(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    checkout_id: str,
    *,
    grace_days: int,
    now: datetime | None = None,
) -> Returned:
    """Record what the owner paid for in Checkout (see the module doc)."""
    actor.require(MANAGE)
    found = await provider.checkout_session(checkout_id)
    if found.get("client_reference_id") != str(ctx.tenant_id):
        raise NotFound("There is no such checkout.")
    module_key = (found.get("metadata") or {}).get(MODULE_METADATA)
    module_key = module_key if module_key in registry.modules else None
    subscription = found.get("subscription")
    if found.get("status") != "complete" or not subscription:
        return Returned(module_key, paid=False)
    subscription_id = subscription if isinstance(subscription, str) else subscription["id"]
    await state.refresh(
        session, registry, ctx, provider, subscription_id, grace_days=grace_days, now=now
    )
    already = await session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.action == SUBSCRIBED, AuditEntry.detail["checkout"].astext == checkout_id
        )
    )
    if already is None and module_key is not None:
        acct = await state.ensure_account(session)
        modules = sorted(
            await session.scalars(select(BillingItem.module_key)),
            key=list(registry.modules).index,
        )
        await _audit_subscribed(
            session, actor, ctx, module_key, modules, acct.interval, checkout=checkout_id
        )
    return Returned(module_key, paid=True)


# --- removing ----------------------------------------------------------------------------


def _subscribed_item(registry: ModuleRegistry, ws: _Workspace, key: str) -> BillingItem:
    _known(registry, key)
    item = ws.items.get(key)
    if item is None or not ws.live:
        raise Conflict("{module} is not in your subscription.", module=_name(registry, key))
    return item


@dataclass(frozen=True, slots=True)
class Removal:
    """What removing a module does: on until ``ends_at``; the whole subscription ends then
    when it is the last module not ending."""

    module_key: str
    name: str  # a msgid
    ends_at: datetime
    subscription_ends: bool


def _removal(registry: ModuleRegistry, ws: _Workspace, key: str, now: datetime) -> Removal:
    """What removing ``key`` would do; raises the refusals (see the module doc)."""
    item = _subscribed_item(registry, ws, key)
    name = _name(registry, key)
    if item.ends_at is not None:
        raise Conflict(
            "{module} is already being removed: it ends on {date}.",
            module=name,
            date=when(item.ends_at),
        )
    staying = [
        other
        for other in registry.dependents(key)
        if state.level_of(ws.rows.get(other), now) is not Level.OFF
        and (other not in ws.items or ws.items[other].ends_at is None)
    ]
    if staying:
        raise Conflict(
            "Remove {dependents} first: they depend on {module}.",
            dependents=", ".join(_name(registry, other) for other in staying),
            module=name,
        )
    ends_at = ws.account.current_period_end
    assert ends_at is not None, "a live subscription has a period"
    last = all(other.ends_at is not None for k, other in ws.items.items() if k != key)
    return Removal(key, registry.manifest(key).name, ends_at, last)


async def removal(
    session: AsyncSession, registry: ModuleRegistry, module_key: str, *, now: datetime | None = None
) -> Removal:
    """The remove confirmation's facts for ``module_key`` (raises the refusals)."""
    ws = await _workspace(session, lock=False)
    return _removal(registry, ws, module_key, now or datetime.now(UTC))


async def remove(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    module_key: str,
    *,
    grace_days: int,
    now: datetime | None = None,
) -> datetime:
    """Take ``module_key`` out of the subscription at the period's end (on until then);
    returns that moment."""
    actor.require(MANAGE)
    now = now or datetime.now(UTC)
    ws = await _workspace(session)
    found = _removal(registry, ws, module_key, now)
    ends_at, last = found.ends_at, found.subscription_ends
    ws.items[module_key].ends_at = ends_at
    if last:
        intent = await _go_on(session, ctx, provider, ws.account, True)
        assert ws.account.stripe_subscription_id
        await state.refresh(
            session,
            registry,
            ctx,
            provider,
            ws.account.stripe_subscription_id,
            grace_days=grace_days,
            now=now,
        )
        if intent is not None:
            await intents.finish(session, intent)
    await audit.record(
        session,
        REMOVAL_SCHEDULED,
        actor_id=actor.user_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
        detail={"module": module_key, "ends_at": ends_at.isoformat(), "subscription_ends": last},
    )
    await session.flush()
    return ends_at


async def keep(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    module_key: str,
    *,
    grace_days: int,
    now: datetime | None = None,
) -> None:
    """Undo a removal before it takes effect: the module stays in the subscription."""
    actor.require(MANAGE)
    now = now or datetime.now(UTC)
    ws = await _workspace(session)
    item, name = _subscribed_item(registry, ws, module_key), _name(registry, module_key)
    if item.ends_at is None:
        raise Conflict("{module} is not being removed.", module=name)
    if item.ends_at <= now:
        raise Conflict(
            "{module} ended on {date}: subscribe to it again.", module=name, date=when(item.ends_at)
        )
    item.ends_at = None
    intent = await _go_on(session, ctx, provider, ws.account, False)
    if intent is not None:
        assert ws.account.stripe_subscription_id
        await state.refresh(
            session,
            registry,
            ctx,
            provider,
            ws.account.stripe_subscription_id,
            grace_days=grace_days,
            now=now,
        )
        await intents.finish(session, intent)
    await audit.record(
        session,
        KEPT,
        actor_id=actor.user_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
        detail={"module": module_key},
    )
    await session.flush()


# --- the removals job --------------------------------------------------------------------


async def run_removals(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    *,
    grace_days: int,
    now: datetime,
) -> list[str]:
    """Take the items whose ``ends_at`` has passed out of the subscription; the modules
    removed (see the module doc)."""
    acct = await state.account(session, lock=True)
    if not provider.external or acct is None or not _live(acct):
        return []
    subscription_id = acct.stripe_subscription_id
    assert subscription_id
    items = list(await session.scalars(select(BillingItem).order_by(BillingItem.module_key)))
    ended = {
        item.module_key: item.ends_at for item in items if item.ends_at and item.ends_at <= now
    }
    if not ended:
        return []
    db = Database.of(session)
    done = []
    if len(ended) == len(items) and not acct.cancel_at_period_end:
        # Nothing would stay, and Stripe keeps no empty subscription: it ends now (Stripe
        # was told to end it with the last removal; something cleared that since).
        key = await intents.attempt_key(db, ctx.tenant_id, CANCEL)
        await provider.cancel_subscription(subscription_id, False, key)
        done.append(CANCEL)
    elif not acct.cancel_at_period_end:  # else Stripe ends the whole subscription itself
        for item in items:
            if item.module_key in ended:
                assert item.stripe_item_id
                intent = remove_intent(item.module_key)
                key = await intents.attempt_key(db, ctx.tenant_id, intent)
                await provider.remove_item(item.stripe_item_id, key)
                done.append(intent)
    await state.refresh(
        session, registry, ctx, provider, subscription_id, grace_days=grace_days, now=now
    )
    for intent in done:
        await intents.finish(session, intent)
    for key, ends_at in ended.items():
        await audit.record(
            session,
            REMOVED,
            subject_type="core.tenant",
            subject_id=ctx.tenant_id,
            detail={"module": key, "ended_at": ends_at.isoformat()},
        )
    return list(ended)


async def removals_job(session: AsyncSession, ctx: TenantContext) -> None:
    """Core's hourly job for every workspace: :func:`run_removals` now."""
    settings = Database.of(session).settings
    await run_removals(
        session,
        installed(settings.extra_modules, settings.modules_allow),
        ctx,
        provider_for(settings),
        grace_days=settings.billing_grace_days,
        now=datetime.now(UTC),
    )


# --- the app store -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offer:
    """What a module's card offers for billing: ``subscribe``, ``remove`` or ``keep``
    (with the moment it ends)."""

    action: str
    ends_at: datetime | None = None


async def offers(
    session: AsyncSession,
    registry: ModuleRegistry,
    provider: BillingProvider,
    *,
    now: datetime | None = None,
) -> dict[str, Offer]:
    """Module key -> its billing button, with an external provider (none with the manual
    one: enabling is as before billing)."""
    if not provider.external:
        return {}
    now = now or datetime.now(UTC)
    items = {row.module_key: row for row in await session.scalars(select(BillingItem))}
    rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
    acct = await state.account(session)
    priced = set(
        await session.scalars(
            select(BillingPrice.module_key).where(
                BillingPrice.active, BillingPrice.stripe_price_id.is_not(None)
            )
        )
    )
    found: dict[str, Offer] = {}
    for key in registry.modules:
        item = items.get(key)
        if item is not None and _live(acct):
            if item.ends_at is None:
                found[key] = Offer("remove")
            elif item.ends_at > now:
                found[key] = Offer("keep", item.ends_at)
        elif key in priced and _on_free(rows.get(key), now) is None:
            found[key] = Offer("subscribe")
    return found
