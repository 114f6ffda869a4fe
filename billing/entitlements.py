"""Entitlements: the one place a module's access is derived from its subscription state.

:func:`derive` is pure: a subscription item's state and the moment → an :class:`Access`.

| state | access |
| --- | --- |
| granted (complimentary), whatever else | on (source ``granted``), no Stripe at all |
| ``active`` | on (``paid``) |
| ``trialing`` | on (``trial``) until the trial's end, read-only from it |
| ``past_due`` | on (``paid``) for the grace days from when it went past due, then read-only |
| ``unpaid``, ``paused`` | read-only: Stripe gave up collecting, or a trial ended unpaid |
| ``canceled``, ``incomplete``, ``incomplete_expired`` | off (never paid, or ended) |

:func:`apply` writes it to ``core_tenant_module``. On and read-only keep the module
enabled (a module switched on here runs its ``atrium_module_enabled`` hook, its
dependencies along); read-only refuses its writes in the tenant guard
(:mod:`web.tenancy`). The moment an on module turns read-only by itself (a trial's end,
a grace's end) is written as ``read_only_from``, which every read honours: a late job
cannot leave a lapsed module writable. Off keeps the row and all the module's data, as
disabling does; enabling again brings everything back.

The grace days are the operator's setting ``Settings.billing_grace_days``
(``ATRIUM_BILLING_GRACE_DAYS``, default 7), until the operator console holds billing
settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry
from core.tenancy import tenant_context
from tenants import services

DEFAULT_GRACE_DAYS = 7
FULL, READ_ONLY_ACCESS = "full", "read_only"  # core_tenant_module.access
GRANTED, TRIAL, PAID = "granted", "trial", "paid"  # core_tenant_module.source


class Level(StrEnum):
    ON = "on"
    READ_ONLY = "read_only"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What entitlements need to know of one module's subscription item."""

    status: str  # Stripe's subscription status
    past_due_since: datetime | None = None  # when it went past due (needed for past_due)
    trial_end: datetime | None = None
    granted: bool = False  # complimentary: the operator's, no subscription needed


@dataclass(frozen=True, slots=True)
class Access:
    level: Level
    source: str  # granted, trial or paid: why it is (or was) on
    # ON only: the moment it turns read-only unless paid first (a trial's or a grace's end).
    read_only_from: datetime | None = None

    @property
    def past_due(self) -> bool:
        """On, in a payment's grace: the admins' banner says until when."""
        return self.level is Level.ON and self.source == PAID and self.read_only_from is not None


ON_STATUSES = frozenset({"active"})
READ_ONLY_STATUSES = frozenset({"unpaid", "paused"})
OFF_STATUSES = frozenset({"canceled", "incomplete", "incomplete_expired"})


def derive(state: SubscriptionState, now: datetime, grace_days: int = DEFAULT_GRACE_DAYS) -> Access:
    """The access ``state`` gives a module at ``now``. Boundaries belong to what follows:
    at the trial's end, or exactly ``grace_days`` after it went past due, it is read-only."""
    if state.granted:
        return Access(Level.ON, GRANTED)
    status = state.status
    if status in ON_STATUSES:
        return Access(Level.ON, PAID)
    if status == "trialing":
        if state.trial_end is not None and state.trial_end <= now:
            return Access(Level.READ_ONLY, TRIAL)
        return Access(Level.ON, TRIAL, read_only_from=state.trial_end)
    if status == "past_due":
        if state.past_due_since is None:
            raise ValueError("A past_due subscription needs the moment it went past due.")
        grace_end = state.past_due_since + timedelta(days=grace_days)
        if grace_end <= now:
            return Access(Level.READ_ONLY, PAID)
        return Access(Level.ON, PAID, read_only_from=grace_end)
    if status in READ_ONLY_STATUSES:
        return Access(Level.READ_ONLY, PAID)
    if status in OFF_STATUSES:
        return Access(Level.OFF, PAID)
    # A status Stripe added later: fail loudly rather than switch a module on or off.
    raise ValueError(f"Unknown subscription status {status!r}.")


async def apply(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    module_key: str,
    access: Access,
) -> TenantContext:
    """Write ``access`` for ``module_key`` in ``ctx``'s workspace (the session's tenant);
    returns the workspace's context afterwards.

    Off while an enabled module depends on this one makes it read-only instead, so the
    dependant keeps reading what it points at; it goes off with the last of them.
    """
    before = await tenant_context(session, ctx.tenant_id)
    level = access.level
    if level is Level.OFF and any(k in before.enabled for k in registry.dependents(module_key)):
        level = Level.READ_ONLY
    if level is Level.OFF:
        if module_key in before.enabled:
            await services.disable_module(session, registry, before, module_key)
            row = await _row(session, module_key)
            row.access, row.read_only_from = FULL, None
    else:
        if module_key not in before.enabled:
            await services.enable_module(
                session, registry, before, module_key, source=access.source
            )
        row = await _row(session, module_key)
        row.source, row.until = access.source, None
        row.access = FULL if level is Level.ON else READ_ONLY_ACCESS
        row.read_only_from = access.read_only_from if level is Level.ON else None
    await session.flush()
    return await tenant_context(session, ctx.tenant_id)


async def _row(session: AsyncSession, module_key: str) -> TenantModule:
    # Fresh from the row: enable_module wrote it with a core statement the ORM did not see.
    query = select(TenantModule).where(TenantModule.module_key == module_key)
    row = await session.scalar(query.execution_options(populate_existing=True))
    assert row is not None, module_key  # enable_module wrote it, or it was enabled
    return row
