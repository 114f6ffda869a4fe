"""The sample module's hook implementations and manifest: every hook is used here."""

from __future__ import annotations

import asyncio
import os
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import ApprovalDecided
from core.context import TenantContext
from core.permissions import Actor
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import (
    ApprovalKind,
    DashboardWidget,
    EventHandler,
    MenuEntry,
    ModuleManifest,
    Permission,
    ScheduledJob,
)
from core.plugins.registry import ModuleRegistry
from core.plugins.results import Panel, SearchResult, WaitingApprovals, WidgetData
from core.records.access import RecordType
from tests.sample_module import api, views
from tests.sample_module.events import NoteCreated
from tests.sample_module.models import SampleEffect
from tests.sample_module.services import NoteService

HERE = Path(__file__).parent
CALLED: set[str] = set()  # hooks this module has answered: tests/core/test_hookspecs.py reads it
_flaky_failures: dict[uuid.UUID, int] = {}


async def record_note_created(
    session: AsyncSession, ctx: TenantContext, event: NoteCreated
) -> None:
    """The handler whose effect must happen once per event, even across worker crashes."""
    delay = float(os.environ.get("SAMPLE_HANDLER_DELAY", "0"))
    if delay:
        await asyncio.sleep(delay)
    if event.title.startswith("boom"):
        raise RuntimeError(f"handler refused note {event.title!r}")
    if event.title.startswith("flaky") and _flaky_failures.get(event.note_id, 0) < 2:
        _flaky_failures[event.note_id] = _flaky_failures.get(event.note_id, 0) + 1
        raise RuntimeError("flaky handler failed this time")
    session.add(SampleEffect(source="note_created", ref=event.note_id, detail=event.title))


async def record_approval(
    session: AsyncSession, ctx: TenantContext, event: ApprovalDecided
) -> None:
    detail = "approved" if event.approved else "rejected"
    session.add(SampleEffect(source="approval_decided", ref=event.subject_id, detail=detail))


async def daily_digest(session: AsyncSession, ctx: TenantContext) -> None:
    session.add(SampleEffect(source="digest", detail=ctx.slug))


async def note_exists(session: AsyncSession, actor: Actor, note_id: uuid.UUID) -> None:
    """Notes have no data scope: a note that exists may carry files and comments."""
    await NoteService(session).get(note_id)


async def demo_data(session: AsyncSession, ctx: TenantContext, registry: ModuleRegistry) -> None:
    service = NoteService(session)
    for title in ("Welcome to Atrium", "Plan the quarter", "Call the supplier"):
        await service.create(title, tags=["demo"])


@hookimpl
def atrium_module() -> ModuleManifest:
    CALLED.add("atrium_module")
    return ModuleManifest(
        key="sample",
        name="Sample",
        version="1.0.0",
        summary="A test-only module that exercises every hook.",
        permissions=(
            Permission("sample.note.read", "Read notes"),
            Permission("sample.note.write", "Write notes"),
        ),
        menu=(MenuEntry("Notes", "/sample/", icon="note", permission="sample.note.read"),),
        api_routers=(api.NoteApi,),
        view_routers=(views.notes_page, views.note_page),
        templates=HERE / "templates",
        migrations=HERE / "migrations",
        approval_kinds=(ApprovalKind("sample.note", "Note approval", ("amount",)),),
        event_handlers=(
            EventHandler(NoteCreated, record_note_created),
            EventHandler(ApprovalDecided, record_approval),
        ),
        scheduled_jobs=(ScheduledJob("digest", "0 7 * * *", daily_digest),),
        dashboard_widgets=(DashboardWidget("sample.count", "Notes", "sample/widget.html"),),
        record_types=(
            RecordType(
                "sample.note", "sample.note.read", "sample.note.write", note_exists, "/sample/{id}"
            ),
        ),
        demo_data=demo_data,
    )


@hookimpl
async def atrium_dashboard_widgets(ctx: TenantContext, session: AsyncSession) -> list[WidgetData]:
    CALLED.add("atrium_dashboard_widgets")
    return [WidgetData("sample.count", {"count": await NoteService(session).count()})]


@hookimpl
async def atrium_global_search(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    CALLED.add("atrium_global_search")
    if not actor.can("sample.note.read"):  # notes have no data scope, only the permission
        return []
    notes = await NoteService(session).search(query)
    return [SearchResult(n.title, f"/t/{ctx.slug}/sample/", "sample", "note", 1.0) for n in notes]


@hookimpl
def atrium_record_panels(
    ctx: TenantContext, session: AsyncSession, record_type: str, record_id: uuid.UUID
) -> list[Panel]:
    CALLED.add("atrium_record_panels")
    if record_type != "core.user":
        return []
    return [Panel("Notes", "sample/widget.html", {"count": 0}, order=50)]


@hookimpl
def atrium_module_enabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    CALLED.add("atrium_module_enabled")
    session.add(SampleEffect(source="module_enabled", detail=module_key))


@hookimpl
def atrium_module_disabled(ctx: TenantContext, session: AsyncSession, module_key: str) -> None:
    CALLED.add("atrium_module_disabled")
    session.add(SampleEffect(source="module_disabled", detail=module_key))


@hookimpl
def atrium_stock_levels(
    ctx: TenantContext, session: AsyncSession, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, Decimal] | None:
    """The sample keeps no real stock: it claims a dozen of every product asked about."""
    CALLED.add("atrium_stock_levels")
    return dict.fromkeys(product_ids, Decimal(12))


# --- approvals waiting ---


@hookimpl
def atrium_approvals_waiting(
    ctx: TenantContext, session: AsyncSession, actor: Actor, cap: int
) -> WaitingApprovals | None:
    """The sample runs no approval engine of its own: nothing waits in it."""
    CALLED.add("atrium_approvals_waiting")
    return None
