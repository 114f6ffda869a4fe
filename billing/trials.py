"""Trials: a workspace tries each priced module once, free and without a card.

**Starting** (:func:`start`, an owner in the app store): the module's trial length is the
longest ``trial_days`` of its current prices (a module whose prices have none offers no
trial: 422). A module tried before is refused (409), ever, whatever became of it; so is a
module that is already on (paid, granted, in development mode, or read-only). The trial
is a ``billing_trial`` row, ``UNIQUE (tenant_id, module_key)``: two owners starting it at
once make one trial and one 409. The module is then switched on through
:func:`billing.entitlements.apply` with a ``trialing`` state ending ``trial days`` from
now (source ``trial``, ``read_only_from`` its end); the modules it depends on that were
off come along on the same trial and end with it. Audited as ``billing.trial.started``.

**The end needs no job**: from ``read_only_from`` every read (the request guard, the
worker, the app store) treats the module as read-only, its data kept, until it is paid.

**The daily job** (core's ``billing_trials``, for every active workspace):

- three days before the end (:data:`WARN_BEFORE`) it mails the workspace's active owners,
  each in their own language, once (``warned_at``); a trial already paid for, or switched
  off, is not warned about;
- once the end has passed it notes it (``ended_at``, audited as ``billing.trial.ended``)
  and makes the read-only explicit through entitlements (``access = read_only``) for the
  module and the dependencies that came along, as long as they are still on that trial.
  A module paid for, granted or disabled meanwhile is left as it is; the entry says which
  modules were made read-only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import notify
from billing.entitlements import TRIAL, Access, SubscriptionState, apply, derive
from billing.models import BillingPrice, BillingTrial
from core import audit, mail
from core.context import TenantContext
from core.db import Database, add_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_, gettext, when
from core.models import TenantModule
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry, installed
from core.tenancy import tenant_context

TRIAL_STARTED, TRIAL_ENDED = "billing.trial.started", "billing.trial.ended"
MANAGE = "core.billing.manage"
WARN_BEFORE = timedelta(days=3)
DAY = timedelta(days=1)

WARNING_SUBJECT = N_("Your free trial of {module} ends on {date}")
WARNING_BODY = N_(
    "Hello {name},\n\n"
    "The free trial of {module} in {workspace} ends on {date}. After that its data is "
    "kept and can still be read, but nothing can be added or changed in it until it is "
    "paid.\n\n"
    "To keep using it, subscribe in Apps: {link}\n\n"
    "Atrium"
)


async def trial_days(session: AsyncSession, module_key: str) -> int:
    """The module's trial length: the longest of its current prices' (0: no trial)."""
    days = await session.scalar(
        select(func.max(BillingPrice.trial_days)).where(
            BillingPrice.module_key == module_key, BillingPrice.active
        )
    )
    return days or 0


def _trialing(ends_at: datetime, now: datetime) -> Access:
    return derive(SubscriptionState("trialing", trial_end=ends_at), now)


async def start(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    module_key: str,
    actor: Actor,
    *,
    now: datetime | None = None,
) -> BillingTrial:
    """Start the workspace's one trial of ``module_key`` and switch it on until its end."""
    actor.require(MANAGE)
    if module_key not in registry.modules:
        raise NotFound("There is no module {module}.", module=module_key)
    name = gettext(registry.manifest(module_key).name)
    days = await trial_days(session, module_key)
    if not days:
        raise ValidationFailed("{module} has no free trial.", module=name)
    tried = Conflict(
        "{module} was already tried in this workspace: each module has one free trial.",
        module=name,
    )
    if await session.scalar(select(BillingTrial.id).where(BillingTrial.module_key == module_key)):
        raise tried
    current = await tenant_context(session, ctx.tenant_id)
    if module_key in current.enabled:
        raise Conflict("{module} is already enabled.", module=name)
    now = now or datetime.now(UTC)
    trial = BillingTrial(
        module_key=module_key,
        started_by=actor.user_id,
        started_at=now,
        ends_at=now + timedelta(days=days),
    )
    if not await add_unique(session, trial):  # someone else started it a moment ago
        raise tried
    along = [k for k in registry.closure(module_key) if k not in current.enabled]
    access = _trialing(trial.ends_at, now)
    for key in along:  # dependencies first: each on the same trial, ending with it
        await apply(session, registry, ctx, key, access)
    await audit.record(
        session,
        TRIAL_STARTED,
        actor_id=actor.user_id,
        subject_type="core.tenant",
        subject_id=ctx.tenant_id,
        detail={
            "module": module_key,
            "enabled": along,
            "days": days,
            "ends_at": trial.ends_at.isoformat(),
        },
    )
    return trial


# --- the app store ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrialView:
    """What a module's card says of trials."""

    offered_days: int = 0  # a trial can be started, for this many days (0: none, or tried)
    days_left: int | None = None  # on trial now: whole days left, a part-day counted as one


def days_left(ends_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((ends_at - now) / DAY))


def _on_trial(row: TenantModule, now: datetime) -> bool:
    """On a billing trial that has not ended (an operator's trial has ``until`` instead)."""
    return (
        row.enabled
        and row.source == TRIAL
        and row.until is None
        and row.access == "full"
        and row.read_only_from is not None
        and row.read_only_from > now
    )


async def views(session: AsyncSession, now: datetime | None = None) -> dict[str, TrialView]:
    """Module key -> its trial on the card, for the modules with a trial to offer or on."""
    now = now or datetime.now(UTC)
    found = await session.execute(
        select(BillingPrice.module_key, func.max(BillingPrice.trial_days))
        .where(BillingPrice.active, BillingPrice.trial_days > 0)
        .group_by(BillingPrice.module_key)
    )
    offered: dict[str, int] = dict(found.all())
    tried = set(await session.scalars(select(BillingTrial.module_key)))
    running = {
        row.module_key: days_left(row.read_only_from, now)
        for row in await session.scalars(select(TenantModule))
        if _on_trial(row, now) and row.read_only_from is not None
    }
    return {
        key: TrialView(0 if key in tried else offered.get(key, 0), running.get(key))
        for key in offered.keys() | running.keys()
    }


# --- the daily job ---------------------------------------------------------------------------


@dataclass(slots=True)
class TrialRun:
    """What one run did: the modules whose owners were warned, and the trials ended."""

    warned: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)


async def _warn(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    mailer: mail.Mailer,
    base_url: str,
    trial: BillingTrial,
) -> None:
    module = registry.manifest(trial.module_key).name
    await notify.mail_owners(
        session,
        ctx,
        mailer,
        WARNING_SUBJECT,
        WARNING_BODY,
        link=f"{base_url}/t/{ctx.slug}/apps",
        localised=lambda: {"module": gettext(module), "date": when(trial.ends_at)},
    )


async def run_due(
    session: AsyncSession,
    registry: ModuleRegistry,
    ctx: TenantContext,
    mailer: mail.Mailer,
    base_url: str,
    now: datetime,
) -> TrialRun:
    """Warn the owners of trials ending within three days, and note the trials that ended."""
    done = TrialRun()
    rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
    pending = await session.scalars(
        select(BillingTrial)
        .where(BillingTrial.ended_at.is_(None))
        .order_by(BillingTrial.ends_at)
        .with_for_update()  # two runs of the job: one mails and notes, the other waits
    )
    for trial in pending:
        if trial.ends_at > now:
            row = rows.get(trial.module_key)
            near = trial.warned_at is None and trial.ends_at - WARN_BEFORE <= now
            # Paid for, or switched off, since it began: nothing to warn about.
            still_on = row is not None and _on_trial(row, now)
            if near and still_on and trial.module_key in registry.modules:
                await _warn(session, registry, ctx, mailer, base_url, trial)
                trial.warned_at = now
                done.warned.append(trial.module_key)
            continue
        # Still on this trial: the module and the dependencies that came along with it.
        lapsed = [
            key
            for key, other in rows.items()
            if key in registry.modules
            and other.enabled
            and other.source == TRIAL
            and other.until is None
            and other.access == "full"
            and other.read_only_from == trial.ends_at
        ]
        for key in lapsed:
            await apply(session, registry, ctx, key, _trialing(trial.ends_at, now))
        trial.ended_at = now
        await audit.record(
            session,
            TRIAL_ENDED,
            subject_type="core.tenant",
            subject_id=ctx.tenant_id,
            detail={
                "module": trial.module_key,
                "ends_at": trial.ends_at.isoformat(),
                "read_only": lapsed,
            },
        )
        done.ended.append(trial.module_key)
    await session.flush()
    return done


async def trials_job(session: AsyncSession, ctx: TenantContext) -> None:
    """Core's daily job for every workspace: :func:`run_due` now."""
    db = Database.of(session)
    settings = db.settings
    registry = installed(settings.extra_modules, settings.modules_allow)
    await run_due(
        session,
        registry,
        ctx,
        mail.mailer_for(settings, db),
        settings.base_url,
        datetime.now(UTC),
    )
