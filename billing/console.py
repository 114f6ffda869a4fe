"""The operator console's billing, read: revenue, subscriptions, trials, past due, the last
reconciliation, and one workspace's billing.

**Reading** (:func:`overview`, the ``/operator/billing`` page). The figures come from
Atrium's own copy of every subscription (``billing_item`` and ``billing_price``, kept
equal to Stripe's by the webhooks and the reconciliation job), not from Stripe: one pass
over the workspaces, a few statements each as that workspace (row-level security holds;
the app role has no cross-tenant view), like the console's other platform figures.

- **Monthly recurring revenue** (MRR), per currency: the sum over *live* items of
  ``unit_amount × quantity``, a yearly price counted as a twelfth. Live: the
  subscription is ``active`` or ``past_due`` (Stripe still collects it) and the item is
  not removed yet (an item ending at the period's end counts until then); a trial pays
  nothing yet and does not count. Monthly and yearly amounts are summed exactly and
  divided once, then rounded half-up to the currency's decimals: each figure is rounded
  once, so a module's figures may differ by a cent from the total.
- **Its change against 30 days ago**: each reconciliation run writes the MRR it found
  (``billing_revenue_snapshot``); today's figure is compared with that of the latest run
  that started at least 30 days ago, whose date the page shows (none yet: no change
  shown). Snapshots, rather than rebuilding history from item changes, because items are
  replaced in place and prices change by version: a snapshot is what was charged then.
- **Subscriptions by module**: workspaces with a live item of the module, and its MRR.
- **Trials ending** in the next 7 days: modules on a trial (billing's, which then turns
  read-only, or the operator's with an end date, which then switches off).
- **Past due**: workspaces whose subscription is ``past_due``, since when, and the end of
  their grace (the operator's grace days), after which the modules are read-only.
- **The last reconciliation run** and what it repaired.

**A workspace's billing** (:func:`tenant_billing`): its subscription, items, trials, its
invoices from the provider (a provider that does not answer is said on the page, the
rest still shows) and the operator's billing actions in its audit log.

The operator's actions on a workspace's billing are in :mod:`billing.console_actions`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import state
from billing.entitlements import READ_ONLY_ACCESS, TRIAL
from billing.models import (
    MONTH,
    BillingAccount,
    BillingItem,
    BillingPrice,
    BillingReconcileRun,
    BillingRepair,
    BillingRevenueSnapshot,
    BillingTrial,
)
from billing.provider import BillingProvider, Invoice, ProviderFailed
from core.db import Database, set_tenant
from core.errors import DomainError, NotFound
from core.models import AuditEntry, Tenant, TenantModule, User
from core.plugins.registry import ModuleRegistry
from core.products.currency import round_amount
from tenants.operator import OperatorAction

#: Subscription statuses whose items bring revenue (Stripe still collects a past-due one).
LIVE_STATUSES = frozenset({"active", "past_due"})
TRIALS_AHEAD = timedelta(days=7)
COMPARED_WITH = timedelta(days=30)
HISTORY_SIZE = 50


# --- the overview -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workspace:
    id: uuid.UUID
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class Line:
    """One live subscription item: what it brings in."""

    module_key: str
    interval: str
    currency: str
    unit_amount: Decimal
    quantity: int


def monthly_revenue(lines: list[Line]) -> dict[str, Decimal]:
    """Currency → MRR of ``lines``: monthly and yearly summed exactly, the yearly sum
    divided by 12 once, then rounded to the currency's decimals."""
    monthly: dict[str, Decimal] = defaultdict(Decimal)
    yearly: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        target = monthly if line.interval == MONTH else yearly
        target[line.currency] += line.unit_amount * line.quantity
    return {
        currency: round_amount(monthly[currency] + yearly[currency] / 12, currency)
        for currency in sorted(monthly.keys() | yearly.keys())
    }


@dataclass(frozen=True, slots=True)
class Figure:
    """MRR in one currency now, and 30 days ago (None: no run that long ago)."""

    currency: str
    mrr: Decimal
    subscriptions: int  # workspaces paying in this currency
    before: Decimal | None

    @property
    def change(self) -> Decimal | None:
        return None if self.before is None else self.mrr - self.before


@dataclass(frozen=True, slots=True)
class ModuleFigure:
    module_key: str
    name: str  # the manifest's name (a msgid)
    currency: str
    subscriptions: int
    mrr: Decimal


@dataclass(frozen=True, slots=True)
class TrialEnding:
    workspace: Workspace
    module_key: str
    ends_at: datetime
    then_read_only: bool  # billing's trial turns read-only; the operator's switches off


@dataclass(frozen=True, slots=True)
class PastDue:
    workspace: Workspace
    since: datetime | None
    modules: list[str]
    grace_ends: datetime | None = None  # its modules turn read-only then, unless paid first


@dataclass(frozen=True, slots=True)
class Repair:
    row: BillingRepair
    workspace: Workspace | None  # None once the workspace is purged

    @property
    def failure(self) -> ProviderFailed | None:
        """A failed check's reason, as the error it was."""
        message, params = self.row.detail.get("message"), self.row.detail.get("params")
        if not message:
            return None
        return ProviderFailed(str(message), **(params if isinstance(params, dict) else {}))


@dataclass(frozen=True, slots=True)
class Overview:
    figures: list[Figure]
    compared_at: datetime | None  # when the run compared with started
    modules: list[ModuleFigure]
    trials: list[TrialEnding]
    past_due: list[PastDue]
    run: BillingReconcileRun | None
    repairs: list[Repair]


@dataclass(slots=True)
class _Found:
    """What one pass over the workspaces collected."""

    lines: list[tuple[Workspace, Line]] = field(default_factory=list)
    trials: list[TrialEnding] = field(default_factory=list)
    past_due: list[PastDue] = field(default_factory=list)


def _is_live(account: BillingAccount | None, item: BillingItem, now: datetime) -> bool:
    return (
        account is not None
        and account.status in LIVE_STATUSES
        and (item.ends_at is None or item.ends_at > now)
    )


async def _workspace_lines(session: AsyncSession, now: datetime) -> list[Line]:
    account = await state.account(session)
    rows = await session.execute(select(BillingItem, BillingPrice).join(BillingPrice))
    return [
        Line(item.module_key, price.interval, price.currency, price.unit_amount, item.quantity)
        for item, price in rows
        if _is_live(account, item, now)
    ]


def _trial_end(row: TenantModule) -> datetime | None:
    """When a module on a trial stops: the operator's ``until``, or billing's trial end."""
    if not row.enabled or row.source != TRIAL:
        return None
    if row.until is not None:
        return row.until
    return row.read_only_from if row.access != READ_ONLY_ACCESS else None


async def _scan(db: Database, now: datetime) -> _Found:
    """One pass over every workspace, as each: its live items, trials ending soon, and
    whether it is past due."""
    found = _Found()
    async with db.global_transaction() as session:
        tenants = list(await session.scalars(select(Tenant).order_by(Tenant.name, Tenant.id)))
        for tenant in tenants:
            workspace = Workspace(tenant.id, tenant.name, tenant.slug)
            await set_tenant(session, tenant.id)
            found.lines += [(workspace, line) for line in await _workspace_lines(session, now)]
            modules = select(TenantModule).order_by(TenantModule.module_key)
            for row in await session.scalars(modules):
                ends = _trial_end(row)
                if ends is not None and now < ends <= now + TRIALS_AHEAD:
                    read_only = row.until is None
                    found.trials.append(TrialEnding(workspace, row.module_key, ends, read_only))
            account = await state.account(session)
            if account is not None and account.status == "past_due":
                items = await session.scalars(select(BillingItem.module_key))
                found.past_due.append(PastDue(workspace, account.past_due_since, sorted(items)))
    found.trials.sort(key=lambda t: t.ends_at)
    return found


def _name(registry: ModuleRegistry, key: str) -> str:
    return registry.manifest(key).name if key in registry.modules else key


async def snapshot(db: Database, run_id: uuid.UUID, now: datetime) -> None:
    """Write today's MRR per currency for the run (the comparison 30 days from now)."""
    lines = (await _scan(db, now)).lines
    paying = _paying(lines)
    async with db.global_transaction() as session:
        session.add_all(
            BillingRevenueSnapshot(
                run_id=run_id, currency=currency, mrr=mrr, subscriptions=paying[currency]
            )
            for currency, mrr in monthly_revenue([line for _, line in lines]).items()
        )


def _paying(lines: list[tuple[Workspace, Line]]) -> dict[str, int]:
    """Currency → how many workspaces pay in it."""
    paying: dict[str, set[uuid.UUID]] = defaultdict(set)
    for workspace, line in lines:
        paying[line.currency].add(workspace.id)
    return {currency: len(ids) for currency, ids in paying.items()}


async def _compared(session: AsyncSession, now: datetime) -> tuple[datetime | None, dict]:
    """The run to compare with (the latest started 30 days ago or earlier) and its MRR."""
    then = await session.scalar(
        select(BillingReconcileRun)
        .where(
            BillingReconcileRun.started_at <= now - COMPARED_WITH,
            BillingReconcileRun.finished_at.is_not(None),
        )
        .order_by(BillingReconcileRun.started_at.desc())
        .limit(1)
    )
    if then is None:
        return None, {}
    rows = await session.scalars(
        select(BillingRevenueSnapshot).where(BillingRevenueSnapshot.run_id == then.id)
    )
    return then.started_at, {row.currency: row.mrr for row in rows}


async def _last_run(session: AsyncSession) -> tuple[BillingReconcileRun | None, list[Repair]]:
    last = await session.scalar(
        select(BillingReconcileRun).order_by(BillingReconcileRun.started_at.desc()).limit(1)
    )
    if last is None:
        return None, []
    rows = await session.execute(
        select(BillingRepair, Tenant)
        .outerjoin(Tenant, Tenant.id == BillingRepair.workspace_id)
        .where(BillingRepair.run_id == last.id)
        .order_by(Tenant.name, BillingRepair.created_at, BillingRepair.id)
    )
    repairs = [
        Repair(row, Workspace(tenant.id, tenant.name, tenant.slug) if tenant else None)
        for row, tenant in rows
    ]
    return last, repairs


async def overview(
    db: Database, registry: ModuleRegistry, *, grace_days: int, now: datetime | None = None
) -> Overview:
    """The ``/operator/billing`` page's figures (see the module's doc)."""
    now = now or datetime.now(UTC)
    found = await _scan(db, now)
    async with db.global_transaction() as session:
        compared_at, before = await _compared(session, now)
        run, repairs = await _last_run(session)
    lines = [line for _, line in found.lines]
    current, paying = monthly_revenue(lines), _paying(found.lines)
    figures = [
        Figure(
            currency,
            current.get(currency, Decimal(0)),
            paying.get(currency, 0),
            before.get(currency, Decimal(0)) if compared_at else None,
        )
        for currency in sorted(current.keys() | before.keys())
    ]
    by_module: dict[tuple[str, str], list[tuple[Workspace, Line]]] = defaultdict(list)
    for workspace, line in found.lines:
        by_module[line.module_key, line.currency].append((workspace, line))
    modules = [
        ModuleFigure(
            key,
            _name(registry, key),
            currency,
            len({w.id for w, _ in pairs}),
            monthly_revenue([line for _, line in pairs])[currency],
        )
        for (key, currency), pairs in sorted(by_module.items())
    ]
    grace = timedelta(days=grace_days)
    past_due = [
        replace(due, grace_ends=due.since + grace if due.since else None) for due in found.past_due
    ]
    return Overview(figures, compared_at, modules, found.trials, past_due, run, repairs)


# --- one workspace's billing -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemView:
    module_key: str
    name: str
    price: BillingPrice
    quantity: int
    ends_at: datetime | None


@dataclass(frozen=True, slots=True)
class TrialView:
    module_key: str
    name: str
    ends_at: datetime
    ended_at: datetime | None
    extendable: bool  # the module is still on this trial (running or ended, unpaid)


@dataclass(frozen=True, slots=True)
class TenantBilling:
    tenant: Tenant
    external: bool  # Stripe is the provider
    account: BillingAccount | None
    grace_ends: datetime | None
    items: list[ItemView]
    trials: list[TrialView]
    invoices: list[Invoice]
    invoices_error: DomainError | None
    history: list[OperatorAction]

    @property
    def latest_paid(self) -> Invoice | None:
        """The newest invoice paid (the refund page's), if any."""
        paid = [invoice for invoice in self.invoices if is_paid(invoice)]
        return paid[0] if paid else None

    @property
    def live(self) -> bool:
        """There is a subscription at Stripe that can still be canceled."""
        return (
            self.account is not None
            and self.account.stripe_subscription_id is not None
            and self.account.status not in state.ENDED
        )


def is_paid(invoice: Invoice) -> bool:
    """Paid, with money to refund (an invoice of nothing is "paid" too)."""
    return invoice.status == "paid" and invoice.amount_paid > 0


async def _history(session: AsyncSession) -> list[OperatorAction]:
    rows = await session.execute(
        select(AuditEntry, User.display_name)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(AuditEntry.action.like("operator.billing.%"))
        .order_by(AuditEntry.id.desc())
        .limit(HISTORY_SIZE)
    )
    return [OperatorAction(e.at, e.action, name, e.detail) for e, name in rows]


async def _extendable(session: AsyncSession, trial: BillingTrial) -> bool:
    row = await module_row(session, trial.module_key)
    return row is not None and on_billing_trial(row)


def on_billing_trial(row: TenantModule) -> bool:
    """On (or read-only at the end of) a billing trial; not the operator's (``until``)."""
    return row.enabled and row.source == TRIAL and row.until is None


async def module_row(session: AsyncSession, key: str) -> TenantModule | None:
    query = select(TenantModule).where(TenantModule.module_key == key)
    return await session.scalar(query.execution_options(populate_existing=True))


async def tenant_billing(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    *,
    grace_days: int,
) -> TenantBilling:
    """A workspace's billing for its console page; the invoices come from the provider,
    after the transaction (a slow or failing provider holds no connection)."""
    async with db.tenant_transaction(tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No workspace {id}.", id=str(tenant_id))
        account = await state.account(session)
        rows = await session.execute(
            select(BillingItem, BillingPrice).join(BillingPrice).order_by(BillingItem.module_key)
        )
        items = [
            ItemView(i.module_key, _name(registry, i.module_key), p, i.quantity, i.ends_at)
            for i, p in rows
        ]
        trials = [
            TrialView(
                t.module_key,
                _name(registry, t.module_key),
                t.ends_at,
                t.ended_at,
                await _extendable(session, t),
            )
            for t in await session.scalars(select(BillingTrial).order_by(BillingTrial.ends_at))
        ]
        history = await _history(session)
    since = account.past_due_since if account and account.status == "past_due" else None
    invoices: list[Invoice] = []
    error: DomainError | None = None
    if provider.external and account is not None and account.stripe_customer_id:
        try:
            invoices = await provider.invoices(account.stripe_customer_id)
        except ProviderFailed as failed:
            error = failed
    return TenantBilling(
        tenant=tenant,
        external=provider.external,
        account=account,
        grace_ends=since + timedelta(days=grace_days) if since else None,
        items=items,
        trials=trials,
        invoices=invoices,
        invoices_error=error,
        history=history,
    )
