"""OA's demo data on a real database: an office at work over core's demo company, in the
workspace's language, loaded once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from core.db import Database
from core.models import User
from core.plugins.registry import ModuleRegistry
from core.records.models import Attachment
from modules.oa.models import (
    Announcement,
    AnnouncementRead,
    ApprovalInstance,
    ApprovalTask,
    CalendarEvent,
    Document,
    DocumentFolder,
    DocumentGrant,
    Form,
    FormRequest,
    MeetingInvitee,
    MeetingRoom,
    SharedCalendar,
    Task,
)
from tenants import demo

CHINESE = re.compile(r"[\u4e00-\u9fff]")


async def _load(db: Database, registry: ModuleRegistry, make_tenant, slug: str, locale: str):
    ctx = await make_tenant(slug, "oa", locale=locale, seed=True)
    assert await demo.load_by_slug(db, registry, slug) == demo.DemoResult(core=True, modules=["oa"])
    return ctx


async def test_the_demo_is_an_office_at_work_in_the_workspaces_language(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    ctx = await _load(db, registry, make_tenant, "office-zh", "zh-CN")
    today = datetime.now(UTC).date()
    async with db.tenant_transaction(ctx.tenant_id) as session:
        published = list(await session.scalars(select(Announcement)))
        assert len(published) == 3
        assert {a.status for a in published} == {"published"}
        assert all(CHINESE.search(a.title) for a in published)
        assert sum(a.pinned for a in published) == 1
        assert sum(not a.everyone for a in published) == 1  # the sales department's
        reads = await session.scalar(select(func.count()).select_from(AnnouncementRead))
        assert reads == 3

        rooms = list(await session.scalars(select(MeetingRoom)))
        assert [r.name for r in rooms] == ["一号会议室"]
        assert (await session.scalar(select(SharedCalendar.name))) == "销售部日程"
        meetings = list(await session.scalars(select(CalendarEvent)))
        assert len(meetings) == 2
        assert {m.room_id for m in meetings} == {rooms[0].id}
        assert all(m.starts_at.date() > today for m in meetings)
        answers = dict(
            (
                await session.execute(
                    select(MeetingInvitee.response, func.count()).group_by(MeetingInvitee.response)
                )
            ).all()
        )
        assert answers == {"accepted": 2, "declined": 1, "pending": 2}

        every_task = list(await session.scalars(select(Task)))
        top = [t for t in every_task if t.parent_id is None]
        assert len(top) == 4
        assert len(every_task) == 6
        assert {t.status for t in top} == {"todo", "in_progress", "done"}
        overdue = [t for t in top if t.status != "done" and t.due_on and t.due_on < today]
        assert len(overdue) == 1
        assignees = set(
            await session.scalars(
                select(User.email).where(User.id.in_({t.assignee_id for t in top}))
            )
        )
        assert all(email.endswith(demo.demo_domain("office-zh")) for email in assignees)

        # Requests on the built-in forms at every stage, under the expense form's own flow.
        filed = (
            await session.execute(
                select(Form.code, ApprovalInstance.status, ApprovalInstance.plan)
                .join(FormRequest, FormRequest.form_id == Form.id)
                .join(
                    ApprovalInstance, ApprovalInstance.request_id == FormRequest.approval_request_id
                )
                .order_by(FormRequest.created_at, FormRequest.id)
            )
        ).all()
        assert [(code, status) for code, status, _plan in filed] == [
            ("expense", "approved"),
            ("expense", "pending"),
            ("leave", "approved"),
            ("trip", "pending"),
            ("purchase", "returned"),
            ("supplies", "rejected"),
        ]
        small, large = filed[0].plan, filed[1].plan
        assert [step["name"] for step in small] == ["Direct manager"]  # 750.00: no Finance
        assert [step["name"] for step in large] == ["Direct manager", "财务审核"]
        totals = list(
            await session.scalars(
                select(FormRequest.amount).order_by(FormRequest.created_at, FormRequest.id)
            )
        )
        assert totals[:2] == [Decimal("750.00"), Decimal("6800.00")]
        receipts = await session.scalar(
            select(func.count())
            .select_from(Attachment)
            .where(Attachment.record_type == "oa.form_request")
        )
        assert receipts == 3
        finance = await session.scalar(
            select(User.id).where(User.email == f"chen.jing@{demo.demo_domain('office-zh')}")
        )
        waiting_for_finance = await session.scalar(
            select(func.count())
            .select_from(ApprovalTask)
            .where(ApprovalTask.assignee_id == finance, ApprovalTask.status == "pending")
        )
        assert waiting_for_finance == 1

        folders = dict(
            (
                await session.execute(
                    select(DocumentFolder.name, func.count(DocumentGrant.id))
                    .outerjoin(DocumentGrant, DocumentGrant.folder_id == DocumentFolder.id)
                    .group_by(DocumentFolder.name)
                )
            ).all()
        )
        assert folders == {"公司制度": 0, "销售资料": 1, "财务": 1}
        assert list(await session.scalars(select(Document.name))) == ["报销制度.pdf"]


async def test_the_english_demo_is_its_own_office_and_loads_once(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    ctx = await _load(db, registry, make_tenant, "office-en", "en")
    assert await demo.load_by_slug(db, registry, "office-en") == demo.DemoResult(
        core=False, modules=[]
    )
    async with db.tenant_transaction(ctx.tenant_id) as session:
        titles = set(await session.scalars(select(Announcement.title)))
        assert "Office closed on New Year's Day" in titles
        assert not any(CHINESE.search(t) for t in titles)
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 3
        assert await session.scalar(select(func.count()).select_from(Task)) == 6
