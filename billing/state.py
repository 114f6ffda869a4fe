"""A workspace's subscription as Stripe has it now → our copy and every module's access.

:func:`record` is the one place a Stripe subscription object changes a workspace: the
webhook handlers, the return from Checkout and the reconciliation job all fetch the
*current* subscription from Stripe and hand it here, so the order events arrive in does
not matter (an old event's handler still writes today's state). It locks the
workspace's ``billing_account`` row first (:func:`refresh` locks it before fetching), so
two handlers for one workspace run one after the other, and within the caller's
transaction, so the stored webhook event and its effect commit together.

What it writes:

- ``billing_account``: the subscription's id, status, period end, ``cancel_at_period_end``
  and when it went past due (the first time it is seen ``past_due``; cleared once it is
  not);
- ``billing_item``: one row per subscription item, by its price (found in
  ``billing_price`` by Stripe price id, or by ``metadata.atrium_module``); an item gone
  from the subscription is deleted;
- every module the subscription names, and every module it no longer names that it did
  (an item until now) or that is ``paid``, through :func:`billing.entitlements.apply`
  with :func:`billing.entitlements.derive`
  (an item removed at period end is on until ``ends_at``, off from then; a module granted
  by the operator is never touched).

It returns the :class:`Change` list (module, access before and after), which the
reconciliation job reports to the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.entitlements import (
    GRANTED,
    PAID,
    READ_ONLY_ACCESS,
    Access,
    Level,
    SubscriptionState,
    apply,
    derive,
)
from billing.models import BillingAccount, BillingItem, BillingPrice
from billing.provider import BillingProvider
from core.context import TenantContext
from core.db import add_unique
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry

#: Stripe statuses of a subscription that is over: a new one may replace it.
ENDED = frozenset({"canceled", "incomplete_expired"})


@dataclass(frozen=True, slots=True)
class Change:
    """One module whose access :func:`record` changed."""

    module_key: str
    before: str  # on, read_only or off (Level values)
    after: str


def moment(value: int | None) -> datetime | None:
    """A Stripe timestamp (seconds) as an aware datetime."""
    return datetime.fromtimestamp(value, UTC) if value else None


async def account(session: AsyncSession, *, lock: bool = False) -> BillingAccount | None:
    """The workspace's billing account (the session's tenant), locked when asked."""
    query = select(BillingAccount)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def ensure_account(session: AsyncSession) -> BillingAccount:
    """The workspace's account, made (empty) when it has none yet; locked either way.

    Two webhooks for a new workspace at once both find none: the second insert waits on
    the first's key and is refused, and it then locks the row the first made."""
    found = await account(session, lock=True)
    if found is None:
        await add_unique(session, BillingAccount())
        found = await account(session, lock=True)
        assert found is not None
    return found


def level_of(row: TenantModule | None, now: datetime) -> Level:
    """A module's access as its ``core_tenant_module`` row gives it at ``now``."""
    if row is None or not row.enabled or (row.until is not None and row.until <= now):
        return Level.OFF
    if row.access == READ_ONLY_ACCESS or (
        row.read_only_from is not None and row.read_only_from <= now
    ):
        return Level.READ_ONLY
    return Level.ON


async def _price_modules(session: AsyncSession, items: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Stripe price id → our ``billing_price`` row, for the prices the items use."""
    ids = [str(_price(item).get("id")) for item in items]
    rows = await session.scalars(select(BillingPrice).where(BillingPrice.stripe_price_id.in_(ids)))
    return {row.stripe_price_id: row for row in rows}


def _price(item: Mapping[str, Any]) -> Mapping[str, Any]:
    price = item.get("price") or item.get("plan") or {}
    return price if isinstance(price, Mapping) else {"id": price}


def _items(subscription: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = subscription.get("items") or {}
    return list(items.get("data") or []) if isinstance(items, Mapping) else list(items)


async def refresh(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    subscription_id: str,
    *,
    grace_days: int,
    now: datetime | None = None,
) -> list[Change]:
    """Fetch the subscription from the provider *after* locking the workspace's account,
    then :func:`record` it: of two handlers racing, the one that commits last fetched last,
    so the newest state is the one that stays."""
    await ensure_account(session)
    current = await provider.subscription(subscription_id)
    return await record(session, registry, ctx, current, grace_days=grace_days, now=now)


async def record(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    subscription: Mapping[str, Any],
    *,
    grace_days: int,
    now: datetime | None = None,
) -> list[Change]:
    """Write Stripe's current ``subscription`` (a dict, as the API returns it) for the
    session's workspace and derive every module's access from it; see the module doc."""
    now = now or datetime.now(UTC)
    acct = await ensure_account(session)
    if (
        acct.stripe_subscription_id
        and acct.stripe_subscription_id != subscription["id"]
        and acct.status not in ENDED
        and subscription.get("status") in ENDED
    ):
        return []  # an old, ended subscription: the workspace has a live one since
    status = str(subscription["status"])
    acct.stripe_subscription_id = subscription["id"]
    if subscription.get("customer"):
        customer = subscription["customer"]
        acct.stripe_customer_id = customer if isinstance(customer, str) else customer["id"]
    acct.status = status
    acct.current_period_end = moment(subscription.get("current_period_end")) or _item_period(
        subscription
    )
    was_ending = acct.cancel_at_period_end
    acct.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    if status == "past_due":
        acct.past_due_since = acct.past_due_since or now
    else:
        acct.past_due_since = None
    acct.synced_at = now
    # The modules the subscription named until now: one it drops goes off whatever its
    # source (a Stripe trial's module is "trial", not "paid").
    named_before = set(await session.scalars(select(BillingItem.module_key)))
    kept = await _record_items(session, subscription, acct)
    if was_ending and not acct.cancel_at_period_end and all(i.ends_at for i in kept.values()):
        # Every module was ending with the subscription, and it goes on: renewed outside
        # Atrium (the portal, the dashboard). Atrium's own Keep and add clear their own.
        for item in kept.values():
            item.ends_at = None
    return await _derive_modules(
        session, registry, ctx, acct, kept, named_before, subscription, grace_days, now
    )


def _item_period(subscription: Mapping[str, Any]) -> datetime | None:
    # Newer API versions keep the period on the items rather than the subscription.
    ends = [item.get("current_period_end") for item in _items(subscription)]
    return moment(max((end for end in ends if end), default=None))


async def _record_items(
    session: AsyncSession, subscription: Mapping[str, Any], acct: BillingAccount
) -> dict[str, BillingItem]:
    """Our items made equal to the subscription's; module key → item kept."""
    items = _items(subscription) if subscription["status"] not in ENDED else []
    prices = await _price_modules(session, items)
    existing = {row.module_key: row for row in await session.scalars(select(BillingItem))}
    kept: dict[str, BillingItem] = {}
    for item in items:
        price = prices.get(str(_price(item).get("id")))
        if price is None:
            continue  # a price Atrium did not make: not a module
        row = existing.get(price.module_key)
        if row is None:
            row = BillingItem(module_key=price.module_key, price_id=price.id)
            session.add(row)
        row.price_id = price.id
        row.stripe_item_id = item["id"]
        row.quantity = int(item.get("quantity") or 1)
        if acct.cancel_at_period_end and row.ends_at is None:
            row.ends_at = acct.current_period_end  # the whole subscription ends: so does it
        kept[price.module_key] = row
    for key, row in existing.items():
        if key not in kept:
            await session.delete(row)
    await session.flush()
    return kept


async def _derive_modules(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    acct: BillingAccount,
    kept: dict[str, BillingItem],
    named_before: set[str],
    subscription: Mapping[str, Any],
    grace_days: int,
    now: datetime,
) -> list[Change]:
    rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
    state = SubscriptionState(
        str(acct.status),
        past_due_since=acct.past_due_since,
        trial_end=moment(subscription.get("trial_end")),
    )
    wanted: dict[str, Access] = {}
    for key, item in kept.items():
        if item.ends_at is not None and item.ends_at <= now:
            wanted[key] = Access(Level.OFF, PAID)  # removed, and its period is over
        else:
            wanted[key] = derive(state, now, grace_days)
    # What the modules staying on need comes along with them (a dependency without a
    # price is enabled as "paid" beside its dependant): it is not dropped.
    needed = {
        dep
        for key, access in wanted.items()
        if access.level is not Level.OFF and key in registry.modules
        for dep in registry.closure(key)
    }
    for key, row in rows.items():  # billed before, not in the subscription any more
        # A payment the operator recorded by hand runs to its own end (``until``).
        billed = (row.source == PAID and row.until is None) or key in named_before
        dropped = key not in wanted and key not in needed and key in registry.modules
        if dropped and row.enabled and billed:
            wanted[key] = Access(Level.OFF, PAID)
    # Switched on: dependencies before dependants; switched off: dependants first.
    order = list(registry.modules)
    order = [k for k in order if k in wanted and wanted[k].level is not Level.OFF] + [
        k for k in reversed(order) if k in wanted and wanted[k].level is Level.OFF
    ]
    changes: list[Change] = []
    for key in order:
        access, row = wanted[key], rows.get(key)
        if row is not None and row.source == GRANTED and row.enabled:
            continue  # complimentary: the subscription does not decide
        before = level_of(row, now)
        ctx = await apply(session, registry, ctx, key, access)
        after = level_of(await _fresh_row(session, key), now)
        if before is not after:
            changes.append(Change(key, before.value, after.value))
    return changes


async def _fresh_row(session: AsyncSession, key: str) -> TenantModule | None:
    query = select(TenantModule).where(TenantModule.module_key == key)
    return await session.scalar(query.execution_options(populate_existing=True))
