"""OA's manifest and hook implementations."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.permissions import Actor
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import MenuEntry, ModuleManifest, ScheduledJob
from core.plugins.results import Panel
from core.records.access import RecordType
from modules.oa import permissions as codes
from modules.oa.api import announcements as announcements_api
from modules.oa.api import approvals as approvals_api
from modules.oa.api import calendar as calendar_api
from modules.oa.api import tasks as tasks_api
from modules.oa.services import announcements, approval_inbox, calendar, engine, tasks
from modules.oa.views import announcements as announcement_views
from modules.oa.views import approvals as approval_views
from modules.oa.views import calendar as calendar_views
from modules.oa.views import tasks as task_views
from modules.oa.views.common import TAB_RIGHTS, oa_home

HERE = Path(__file__).parent
KEY = "oa"


@hookimpl
def atrium_module() -> ModuleManifest:
    return ModuleManifest(
        key=KEY,
        name="OA",
        version="0.1.0",
        summary="Approvals, announcements, documents, calendar and tasks.",
        permissions=codes.PERMISSIONS,
        # One entry, as CRM has: /oa opens the first OA tab the member may see.
        menu=(MenuEntry("OA", "/oa", icon="oa", permission=TAB_RIGHTS, order=5),),
        api_routers=(
            # --- approvals ---
            *approvals_api.ROUTERS,
            # --- announcements ---
            *announcements_api.ROUTERS,
            # --- tasks ---
            *tasks_api.ROUTERS,
            # --- calendar ---
            calendar_api.CalendarApi,
        ),
        view_routers=(
            oa_home,
            # --- approvals ---
            *approval_views.PAGES,
            # --- announcements ---
            *announcement_views.PAGES,
            # --- tasks ---
            *task_views.PAGES,
            # --- calendar ---
            *calendar_views.PAGES,
        ),
        # What attachments and notifications hang on (core.records.access).
        record_types=(
            # --- approvals ---
            RecordType(
                engine.RECORD,
                codes.APPROVAL_READ,
                codes.APPROVAL_READ,
                approval_inbox.check_visible,
                "/oa/approvals/{id}",
            ),
            # --- announcements ---
            RecordType(
                announcements.RECORD,
                codes.ANNOUNCEMENT_READ,
                codes.ANNOUNCEMENT_PUBLISH,
                announcements.check_visible,
                "/oa/announcements/{id}",
            ),
            # --- tasks ---
            tasks.TASK_RECORD,
            # --- calendar ---
            calendar.EVENT_RECORD,
        ),
        scheduled_jobs=(
            # --- approvals ---
            # --- announcements ---
            # Scheduled announcements notify their audience within five minutes of their time.
            ScheduledJob("announcements_due", "*/5 * * * *", announcements.notify_due_job),
            # --- tasks ---
            # 00:00 UTC is the morning of the day in China (08:00): "due today" by UTC date.
            ScheduledJob("task_due_reminders", "0 0 * * *", tasks.due_today_job),
            # --- calendar ---
            # Reminders are due N minutes before an event: every five minutes keeps them near.
            ScheduledJob("calendar_reminders", "*/5 * * * *", calendar.reminders_job),
        ),
        templates=HERE / "templates",
        migrations=HERE / "migrations",
    )


# --- tasks (hooks) ---


@hookimpl
async def atrium_record_panels(
    ctx: TenantContext, session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID
) -> list[Panel]:
    """On any record's page: its tasks, and "Create a task" from it (views/tasks.py)."""
    return await task_views.record_panels(ctx, session, actor, record_type, record_id)


# --- approvals (hooks) ---


@hookimpl
def atrium_approval_engine(ctx: TenantContext) -> engine.Engine:
    """OA runs every approval of a workspace that has it on (the flows of its kinds)."""
    return engine.ENGINE
