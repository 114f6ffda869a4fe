"""The app store's rules: each installed module's card, and what enabling or disabling it does.

A card's status comes from the workspace's ``core_tenant_module`` row:

- no row, or a row switched off: **disabled** (its data, if any, is kept);
- switched on with no end, or an end still ahead: **enabled**, with where it came from
  (``development``: granted free because payment does not exist yet; ``granted`` by the
  operator; ``trial`` until a date; ``paid``);
- switched on but its end has passed (a trial that ran out, a paid period that lapsed):
  **unpaid**. The module is off for the workspace (:func:`core.tenancy.enabled_modules`
  reads the end), its data kept; enabling it again is the way back. Until the billing
  issue charges for modules, only an operator's trial that ends gets a workspace here;
- switched on but read-only (a billing trial that ended, a payment past its grace:
  :mod:`billing.entitlements`): **read-only until paid**, its pages readable, its data kept.

A card shows the module's price and trial from the operator's catalogue
(:mod:`billing.catalogue`), and "Try free for N days" while it was never tried
(:mod:`billing.trials`).

Enabling goes through :func:`tenants.services.enable_module` (dependencies first) and
disabling through :func:`tenants.services.disable_module` (refused while an enabled module
depends on it, and for a module in the workspace's subscription, which is removed at the
period's end instead: :mod:`billing.subscriptions`); this module adds the confirmation's
facts, the payment rule and the audit entry. Payment: with Stripe configured, a priced
module is subscribed to (:mod:`billing.subscriptions`, the card's "Subscribe"); enabling
without payment is free in development and test installations (labelled so on every card)
and refused in production, where subscribing, trials and the operator's grants are the
way in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingItem
from core import audit
from core.context import TenantContext
from core.errors import Conflict, NotFound
from core.i18n import gettext
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tenants import services

ENABLED, DISABLED, UNPAID, READ_ONLY = "enabled", "disabled", "unpaid", "read_only"
ON = (ENABLED, READ_ONLY)  # switched on for the workspace, writable or not
DEVELOPMENT = "development"  # the enablement source while there is no payment
MODULE_ENABLED, MODULE_DISABLED = "core.module.enabled", "core.module.disabled"


@dataclass(frozen=True, slots=True)
class ModuleCard:
    """One installed module as the app store shows it."""

    key: str
    name: str  # a msgid
    summary: str  # a msgid
    version: str
    depends: list[str]  # the names (msgids) of the modules it needs
    status: str  # ENABLED, READ_ONLY, DISABLED or UNPAID
    source: str | None = None  # development | granted | trial | paid, while it has a row
    until: datetime | None = None  # when a trial or paid period ends (or ended)
    enabled_dependents: list[str] = field(default_factory=list)  # names of modules needing it


@dataclass(frozen=True, slots=True)
class EnablePlan:
    """What the enable confirmation says: the card, what comes along, whether it is free."""

    card: ModuleCard
    also: list[str]  # names of the dependencies that get enabled first, in install order
    free: bool  # development mode: granted without payment


@dataclass(frozen=True, slots=True)
class DisablePlan:
    """What the disable confirmation says: the card, and the modules that block it."""

    card: ModuleCard
    blocking: list[str]  # names of the enabled modules that depend on it
    subscribed: bool = False  # in the workspace's subscription: removed, not disabled


def payment_free(settings: Settings) -> bool:
    """Whether enabling is granted without payment: in development and test, until billing."""
    return settings.env != "production"


async def _rows(session: AsyncSession) -> dict[str, TenantModule]:
    return {row.module_key: row for row in await session.scalars(select(TenantModule))}


def _status(row: TenantModule | None, now: datetime) -> str:
    if row is None or not row.enabled:
        return DISABLED
    if row.until is not None and row.until <= now:
        return UNPAID
    if row.access == "read_only" or (row.read_only_from is not None and row.read_only_from <= now):
        return READ_ONLY
    return ENABLED


def _names(registry: ModuleRegistry, keys: list[str]) -> list[str]:
    return [registry.manifest(key).name for key in keys]


def _card(
    registry: ModuleRegistry, key: str, rows: dict[str, TenantModule], now: datetime
) -> ModuleCard:
    manifest = registry.manifest(key)
    row = rows.get(key)
    status = _status(row, now)
    dependents = [k for k in registry.dependents(key) if _status(rows.get(k), now) in ON]
    return ModuleCard(
        key=key,
        name=manifest.name,
        summary=manifest.summary,
        version=manifest.version,
        depends=_names(registry, list(manifest.depends)),
        status=status,
        source=row.source if row is not None and status != DISABLED else None,
        until=row.until if row is not None and status != DISABLED else None,
        enabled_dependents=_names(registry, dependents),
    )


async def cards(session: AsyncSession, registry: ModuleRegistry) -> list[ModuleCard]:
    """Every installed module, in install order (a module after those it depends on)."""
    rows, now = await _rows(session), datetime.now(UTC)
    return [_card(registry, key, rows, now) for key in registry.modules]


def _known(registry: ModuleRegistry, key: str) -> None:
    if key not in registry.modules:
        raise NotFound("There is no module {module}.", module=key)


async def card(session: AsyncSession, registry: ModuleRegistry, key: str) -> ModuleCard:
    _known(registry, key)
    return _card(registry, key, await _rows(session), datetime.now(UTC))


async def enable_plan(
    session: AsyncSession, registry: ModuleRegistry, settings: Settings, key: str
) -> EnablePlan:
    _known(registry, key)
    rows, now = await _rows(session), datetime.now(UTC)
    also = [k for k in registry.closure(key) if k != key and _status(rows.get(k), now) not in ON]
    return EnablePlan(
        _card(registry, key, rows, now), _names(registry, also), payment_free(settings)
    )


async def disable_plan(session: AsyncSession, registry: ModuleRegistry, key: str) -> DisablePlan:
    found = await card(session, registry, key)
    item = await session.scalar(select(BillingItem.id).where(BillingItem.module_key == key))
    return DisablePlan(found, found.enabled_dependents, subscribed=item is not None)


async def enable(
    session: AsyncSession,
    registry: ModuleRegistry,
    settings: Settings,
    ctx: TenantContext,
    key: str,
    *,
    actor_id: uuid.UUID | None,
) -> TenantContext:
    """Enable ``key`` and what it depends on, free while there is no payment; audited."""
    _known(registry, key)
    if not payment_free(settings):
        raise Conflict(
            "Paying for modules is not available yet. Ask the Atrium operator for a trial."
        )
    after = await services.enable_module(session, registry, ctx, key, source=DEVELOPMENT)
    newly = [k for k in registry.modules if k in after.enabled and k not in ctx.enabled]
    if newly:
        await audit.record(
            session,
            MODULE_ENABLED,
            actor_id=actor_id,
            subject_type="core.tenant",
            subject_id=ctx.tenant_id,
            detail={"module": key, "enabled": newly, "source": DEVELOPMENT},
        )
    return after


async def disable(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    key: str,
    *,
    actor_id: uuid.UUID | None,
) -> TenantContext:
    """Disable ``key``, keeping its data (refused while an enabled module needs it); audited."""
    _known(registry, key)
    plan = await disable_plan(session, registry, key)
    if plan.subscribed:
        raise Conflict(
            "{module} is in your subscription: remove it instead. It stays on until the end "
            "of the period paid for.",
            module=gettext(registry.manifest(key).name),
        )
    blocking = plan.blocking
    if blocking:
        # The service's refusal, naming the modules for a person (in their language).
        raise Conflict(
            "Disable {dependents} first: they depend on {module}.",
            dependents=", ".join(gettext(name) for name in blocking),
            module=gettext(registry.manifest(key).name),
        )
    after = await services.disable_module(session, registry, ctx, key)
    await audit.record(
        session,
        MODULE_DISABLED,
        actor_id=actor_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
        detail={"module": key},
    )
    return after
