"""Core's own scheduled jobs: run for every active workspace, whatever its modules.

They go through the same machinery as modules' jobs (``core_fan_out_job``
with the module key ``core``, one ``core.job_due.v1`` event per tenant, run
once per tenant by the worker).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.db import Database
from core.exchange import uploads
from core.plugins.manifest import ScheduledJob
from core.records.attachments import sweep_orphan_files
from core.records.storage import file_store
from core.records.timeline import remind_due_activities

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


CORE_JOBS: tuple[ScheduledJob, ...] = (
    ScheduledJob("activity_reminders", "5 * * * *", remind_activities),
    ScheduledJob("orphan_files", "17 3 * * *", sweep_files),
)
