"""OA's manifest and hook implementations."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import ApprovalDecided
from core.context import TenantContext
from core.permissions import Actor
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import (
    ApprovalKind,  # --- forms ---
    EventHandler,
    MenuEntry,
    ModuleManifest,
    ScheduledJob,
)
from core.plugins.results import Panel, WaitingApprovals
from core.records.access import RecordType
from modules.oa import permissions as codes
from modules.oa.api import announcements as announcements_api
from modules.oa.api import approvals as approvals_api
from modules.oa.api import calendar as calendar_api
from modules.oa.api import documents as documents_api
from modules.oa.api import forms as forms_api
from modules.oa.api import reports as reports_api
from modules.oa.api import tasks as tasks_api
from modules.oa.services import (
    announcements,
    approval_inbox,
    approval_reminders,  # --- inbox ---
    calendar,
    demo,  # --- demo ---
    documents,  # --- documents ---
    engine,
    form_requests,
    forms,
    tasks,
)
from modules.oa.views import announcements as announcement_views
from modules.oa.views import approvals as approval_views
from modules.oa.views import calendar as calendar_views
from modules.oa.views import documents as document_views
from modules.oa.views import forms as form_views
from modules.oa.views import reports as report_views
from modules.oa.views import tasks as task_views
from modules.oa.views.common import TAB_RIGHTS, oa_home
from tenants.members import MemberDeactivated

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
            # --- reports ---
            *reports_api.ROUTERS,
            # --- documents ---
            *documents_api.ROUTERS,
            # --- forms ---
            *forms_api.ROUTERS,
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
            # --- reports ---
            *report_views.PAGES,
            # --- documents ---
            *document_views.PAGES,
            # --- forms ---
            *form_views.PAGES,
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
            # --- documents ---
            # A document's versions are core attachments on it; core's generic attachment
            # endpoints read them as the folder allows and change them with manage only.
            RecordType(
                documents.RECORD,
                codes.DOCUMENT_READ,
                codes.DOCUMENT_MANAGE,
                documents.check_visible,
                "/oa/documents/{id}",
            ),
            # --- forms ---
            # A form request's files: seen by whoever sees its approval; added on its pages.
            RecordType(
                form_requests.RECORD,
                codes.APPROVAL_READ,
                codes.APPROVAL_READ,
                form_requests.check_visible,
                "/oa/forms/requests/{id}",
            ),
        ),
        # --- forms ---
        # Every form request is this kind; its flow is its form's (oa.form:<code>).
        approval_kinds=(ApprovalKind(forms.KIND, "Approval form", ("amount",)),),
        event_handlers=(
            # --- approvals ---
            # A member who left hands over the approvals waiting for them (services/engine.py).
            EventHandler(
                MemberDeactivated, engine.on_member_deactivated, name="oa.approval_hand_over"
            ),
            # --- forms ---
            EventHandler(
                ApprovalDecided, form_requests.on_approval_decided, name="oa.form_request_decided"
            ),
        ),
        scheduled_jobs=(
            # --- approvals ---
            # --- inbox ---
            # Steps waiting past the workspace's limit remind their approver, once a task.
            ScheduledJob("approval_reminders", "0 * * * *", approval_reminders.reminders_job),
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
        # --- demo ---
        demo_data=demo.demo_data,
    )


# --- tasks (hooks) ---


@hookimpl
async def atrium_record_panels(
    ctx: TenantContext, session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID
) -> list[Panel]:
    """On any record's page: its tasks, and "Create a task" from it (views/tasks.py)."""
    return await task_views.record_panels(ctx, session, actor, record_type, record_id)


# --- inbox (hooks) ---


@hookimpl
async def atrium_approvals_waiting(
    session: AsyncSession, actor: Actor, cap: int
) -> WaitingApprovals | None:
    """The navigation's badge: the approvals waiting for the member (their To do box)."""
    if not actor.can(codes.APPROVAL_READ):
        return None
    count = await approval_inbox.waiting_count(session, actor.user_id, cap)
    return WaitingApprovals(count, approval_views.TAB)


# --- approvals (hooks) ---


@hookimpl
def atrium_approval_engine(ctx: TenantContext) -> engine.Engine:
    """OA runs every approval of a workspace that has it on (the flows of its kinds)."""
    return engine.ENGINE


# --- forms (hooks) ---


@hookimpl
async def atrium_module_enabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    """OA switched on: the built-in forms are there (kept as they were when on again)."""
    if module_key == KEY:
        await forms.ensure_builtin(session)
