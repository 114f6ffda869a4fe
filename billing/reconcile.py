"""Reconciliation: every workspace's billing compared with Stripe's, drift repaired and listed.

Webhooks keep a workspace's copy of its subscription current; this daily platform job
(``billing_reconcile`` in :data:`core.jobs.PLATFORM_JOBS`) catches what they missed: an
event never delivered, a handler that failed for good, a row changed by hand. It is a
*platform* job rather than one of core's per-workspace jobs because what it writes is
the operator's: one run (``billing_reconcile_run``) with every repair it made
(``billing_repair``) and the revenue it found (``billing_revenue_snapshot``, which the
console's "change against 30 days ago" compares with), all global.

For each workspace, in a transaction of its own (so one workspace's failure touches no
other's), with its ``billing_account`` row locked first as :func:`billing.state.refresh`
does:

- **with a Stripe customer**: the customer's subscriptions are listed (after the lock, so
  what is recorded is what Stripe has now) and one is picked: the live one (not
  canceled or expired; the one the account points at when several are), else the
  newest. It goes through :func:`billing.state.record`, which makes the account, the
  items and every module's access equal to it. Two drifts ``record`` cannot see are
  handled here: the account points at a subscription Stripe does not have (the pointer
  is cleared, then the picked one recorded), and Stripe has no subscription at all for
  the customer (every module on as ``paid`` goes off, its data kept; the items go);
- **without a Stripe customer**: a module on as ``paid`` (with no end date: an end date
  is a payment the operator recorded by hand) has nothing paying for it, and goes off.

Every difference between the copy before and after is one ``billing_repair`` row
(workspace, module, what, before, after, why), written in the workspace's transaction,
so a repair and its record commit together. A workspace whose check fails (Stripe down,
a refusal) is rolled back and recorded as a failed check (``check_failed``, with the
provider's message); the run goes on with the next workspace.

With the manual provider there is nothing outside Atrium to compare with: a run only
notes the revenue.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import console, state
from billing.entitlements import PAID, Access, Level, apply
from billing.models import BillingAccount, BillingItem, BillingReconcileRun, BillingRepair
from billing.provider import BillingProvider, ProviderFailed, provider_for
from core.context import TenantContext
from core.db import Database
from core.i18n import N_
from core.models import Tenant, TenantModule
from core.plugins.registry import ModuleRegistry, installed
from core.tenancy import tenant_context

logger = logging.getLogger("atrium.billing.reconcile")

JOB_KEY, JOB_CRON = "billing_reconcile", "47 4 * * *"

# What was repaired (billing_repair.aspect) and why (billing_repair.reason).
ACCESS, ITEM, STATUS, SUBSCRIPTION = "access", "item", "status", "subscription"
PERIOD_END, CANCEL_AT_PERIOD_END, CHECK = "period_end", "cancel_at_period_end", "check"
STRIPE_DIFFERS, SUBSCRIPTION_MISSING = "stripe_differs", "subscription_missing"
NO_SUBSCRIPTION, CHECK_FAILED = "no_subscription", "check_failed"

ASPECT_LABELS: dict[str, str] = {
    ACCESS: N_("Module access"),
    ITEM: N_("Subscription item (quantity)"),
    STATUS: N_("Subscription status"),
    SUBSCRIPTION: N_("Subscription"),
    PERIOD_END: N_("Period end"),
    CANCEL_AT_PERIOD_END: N_("Cancels at period end"),
    CHECK: N_("Check"),
}
REASON_LABELS: dict[str, str] = {
    STRIPE_DIFFERS: N_("Stripe's subscription differed from Atrium's copy"),
    SUBSCRIPTION_MISSING: N_("Stripe does not have the subscription the workspace pointed at"),
    NO_SUBSCRIPTION: N_("Paid modules were on with no subscription at Stripe"),
    CHECK_FAILED: N_("The check failed; the workspace was left as it was"),
}
CHECK_CRASHED = N_("The check stopped on an unexpected error ({error}); see the server log.")


@dataclass(frozen=True, slots=True)
class Copy:
    """A workspace's billing as Atrium has it, in what a repair can change."""

    subscription_id: str | None = None
    status: str | None = None
    period_end: datetime | None = None
    cancel_at_period_end: bool = False
    items: Mapping[str, int] = field(default_factory=dict)  # module → quantity


async def _copy(session: AsyncSession, acct: BillingAccount | None) -> Copy:
    if acct is None:
        return Copy()
    items = {row.module_key: row.quantity for row in await session.scalars(select(BillingItem))}
    return Copy(
        acct.stripe_subscription_id,
        acct.status,
        acct.current_period_end,
        acct.cancel_at_period_end,
        items,
    )


def pick(subscriptions: list[dict[str, Any]], current_id: str | None) -> dict[str, Any] | None:
    """The subscription that is the workspace's: a live one (the account's own first),
    else the newest; None when the customer has none."""
    live = [s for s in subscriptions if s.get("status") not in state.ENDED]
    candidates = live or subscriptions
    for subscription in candidates:
        if subscription["id"] == current_id:
            return subscription
    return max(candidates, key=lambda s: s.get("created") or 0, default=None)


async def _end_paid(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    acct: BillingAccount | None,
    now: datetime,
) -> list[state.Change]:
    """Nothing at Stripe pays for this workspace: every module on as ``paid`` (with no end
    date) goes off, dependants first, its data kept; the items and the account's pointer
    go too."""
    rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
    changes = []
    for key in reversed(registry.modules):
        row = rows.get(key)
        if row is None or row.source != PAID or row.until is not None:
            continue
        before = state.level_of(row, now)
        if before is Level.OFF:
            continue
        ctx = await apply(session, registry, ctx, key, Access(Level.OFF, PAID))
        # Off, or read-only while an enabled module depends on it (entitlements.apply).
        after = Level.READ_ONLY if key in ctx.enabled else Level.OFF
        if after is not before:
            changes.append(state.Change(key, before.value, after.value))
    for item in await session.scalars(select(BillingItem)):
        await session.delete(item)
    if acct is not None:
        acct.stripe_subscription_id = acct.status = acct.current_period_end = None
        acct.cancel_at_period_end, acct.past_due_since, acct.synced_at = False, None, now
    await session.flush()
    return changes


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _repairs(
    before: Copy, after: Copy, changes: list[state.Change], reason: str, missing: bool
) -> list[BillingRepair]:
    """One row per difference; the caller fills in the run and the workspace."""
    found: list[BillingRepair] = []

    def add(aspect: str, old: object, new: object, module: str | None = None, why: str = reason):
        found.append(
            BillingRepair(
                module_key=module, aspect=aspect, before=_text(old), after=_text(new), reason=why
            )
        )

    if before.subscription_id != after.subscription_id:
        why = SUBSCRIPTION_MISSING if missing else reason
        add(SUBSCRIPTION, before.subscription_id, after.subscription_id, why=why)
    for aspect, old, new in (
        (STATUS, before.status, after.status),
        (PERIOD_END, before.period_end, after.period_end),
        (CANCEL_AT_PERIOD_END, before.cancel_at_period_end, after.cancel_at_period_end),
    ):
        if old != new:
            add(aspect, old, new)
    for module in sorted(before.items.keys() | after.items.keys()):
        old_quantity, new_quantity = before.items.get(module), after.items.get(module)
        if old_quantity != new_quantity:
            add(ITEM, old_quantity, new_quantity, module)
    for change in changes:
        add(ACCESS, change.before, change.after, change.module_key)
    return found


async def check_workspace(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    *,
    run_id: uuid.UUID,
    grace_days: int,
    now: datetime,
) -> list[BillingRepair] | None:
    """Compare one workspace with Stripe and repair it (see the module's doc); returns the
    repairs written, or None when it has nothing billed to compare. Raises
    :class:`ProviderFailed` with nothing changed when Stripe cannot answer."""
    async with db.tenant_transaction(tenant_id) as session:
        acct = await state.account(session, lock=True)
        ctx = await tenant_context(session, tenant_id)
        before = await _copy(session, acct)
        missing = False
        if acct is None or acct.stripe_customer_id is None:
            changes = await _end_paid(session, registry, ctx, acct, now)
            if not changes:
                return None
            reason = NO_SUBSCRIPTION
        else:
            subscriptions = await provider.subscriptions(acct.stripe_customer_id)
            known = {s["id"] for s in subscriptions}
            missing = acct.stripe_subscription_id is not None and (
                acct.stripe_subscription_id not in known
            )
            if missing:  # pointing at nothing: let whatever Stripe does have take its place
                acct.stripe_subscription_id = acct.status = None
            chosen = pick(subscriptions, acct.stripe_subscription_id)
            if chosen is None:
                changes = await _end_paid(session, registry, ctx, acct, now)
                reason = NO_SUBSCRIPTION
            else:
                changes = await state.record(
                    session, registry, ctx, chosen, grace_days=grace_days, now=now
                )
                reason = STRIPE_DIFFERS
        repairs = _repairs(before, await _copy(session, acct), changes, reason, missing)
        for repair in repairs:
            repair.run_id, repair.workspace_id = run_id, tenant_id
        session.add_all(repairs)
        return repairs


async def _failed_check(
    db: Database, run_id: uuid.UUID, tenant_id: uuid.UUID, message: str, params: dict[str, Any]
) -> None:
    async with db.global_transaction() as session:
        session.add(
            BillingRepair(
                run_id=run_id,
                workspace_id=tenant_id,
                aspect=CHECK,
                reason=CHECK_FAILED,
                detail={"message": message, "params": params},
            )
        )


async def run(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    *,
    grace_days: int,
    now: datetime | None = None,
) -> BillingReconcileRun:
    """One reconciliation of every workspace, then the day's revenue; returns the run."""
    now = now or datetime.now(UTC)
    async with db.global_transaction() as session:
        record = BillingReconcileRun(started_at=now, checked=0, repaired=0, failed=0)
        session.add(record)
        # With the manual provider there is nothing outside Atrium to compare with.
        query = select(Tenant.id).order_by(Tenant.id)
        workspaces = list(await session.scalars(query)) if provider.external else []
    for tenant_id in workspaces:
        try:
            repairs = await check_workspace(
                db, registry, provider, tenant_id, run_id=record.id, grace_days=grace_days, now=now
            )
        except ProviderFailed as error:
            await _failed_check(db, record.id, tenant_id, error.message, error.params)
            record.failed += 1
            continue
        except Exception as error:  # one workspace's surprise must not stop the others
            logger.exception("reconciling workspace %s failed", tenant_id)
            params = {"error": type(error).__name__}
            await _failed_check(db, record.id, tenant_id, CHECK_CRASHED, params)
            record.failed += 1
            continue
        if repairs is not None:
            record.checked += 1
            record.repaired += len(repairs)
    await console.snapshot(db, record.id, now)
    record.finished_at = datetime.now(UTC)
    async with db.global_transaction() as session:
        await session.merge(record)
    return record


async def reconcile_job(db: Database, now: datetime) -> uuid.UUID:
    """The platform job: :func:`run` with the installation's provider and grace days."""
    settings = db.settings
    registry = installed(settings.extra_modules, settings.modules_allow)
    done = await run(
        db, registry, provider_for(settings), grace_days=settings.billing_grace_days, now=now
    )
    return done.id
