"""Core's own scheduled jobs: run for every active workspace, whatever its modules.

They go through the same machinery as modules' jobs (``core_fan_out_job``
with the module key ``core``, one ``core.job_due.v1`` event per tenant, run
once per tenant by the worker).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from billing import members as billing_members
from billing import reconcile
from billing.subscriptions import removals_job
from billing.trials import trials_job
from core.context import TenantContext
from core.db import Database
from core.exchange import uploads
from core.plugins.manifest import EventHandler, ScheduledJob
from core.records.attachments import sweep_orphan_files
from core.records.storage import file_store
from core.records.timeline import remind_due_activities
from core.workspace import export
from core.workspace.purge import purge_due_workspaces

CORE = "core"


async def remind_activities(session: AsyncSession, _ctx: TenantContext) -> None:
    """Remind assignees of activities due on their local today (hourly: near its start)."""
    await remind_due_activities(session, datetime.now(UTC))


async def sweep_files(session: AsyncSession, ctx: TenantContext) -> None:
    """Delete stored files no attachment names any more (after deletes and rollbacks), and
    spreadsheets uploaded for an import that was never finished."""
    store = file_store(Database.of(session).settings)
    now = datetime.now(UTC)
    await sweep_orphan_files(session, store, now)
    await uploads.sweep(store, ctx.tenant_id, now)


async def sweep_exports(session: AsyncSession, _ctx: TenantContext) -> None:
    """Delete workspace exports older than their seven days, and free interrupted ones."""
    await export.sweep_exports(
        session, file_store(Database.of(session).settings), datetime.now(UTC)
    )


CORE_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("activity_reminders", "5 * * * *", remind_activities),
    ScheduledJob("orphan_files", "17 3 * * *", sweep_files),
    ScheduledJob("workspace_exports", "23 3 * * *", sweep_exports),
    # Billing's trials: the owners warned three days before the end, the end noted.
    ScheduledJob("billing_trials", "37 5 * * *", trials_job),
    # Billing's removals: modules removed at the period's end taken out of the subscription.
    ScheduledJob("billing_removals", "11 * * * *", removals_job),
)

#: Core's own event handlers, delivered for every workspace whatever its modules.
CORE_HANDLERS: tuple[EventHandler, ...] = (
    EventHandler(export.ExportRequested, export.build_requested_export),
    # Billing's per-member items: their quantity follows the active members.
    EventHandler(billing_members.MembersChanged, billing_members.follow_members),
)


@dataclass(frozen=True, slots=True)
class PlatformJob:
    """A job run once per due time for the whole platform, not per workspace (the purge of
    deleted workspaces: they have no active tenant to fan out to). The worker that claims
    the due time (a ``core_schedule_tick`` row) runs it; a run that fails waits for the
    next due time, so a platform job must be safe to run again."""

    key: str
    cron: str
    run: Callable[[Database, datetime], Awaitable[object]]


PLATFORM_JOBS: tuple[PlatformJob, ...] = (
    PlatformJob("workspace_purge", "41 2 * * *", purge_due_workspaces),
    # Billing: every workspace compared with Stripe, drift repaired and listed for the operator.
    PlatformJob(reconcile.JOB_KEY, reconcile.JOB_CRON, reconcile.reconcile_job),
)
