"""OA's demo data (the manifest's ``demo_data``): an office at work on core's demo company,
in the workspace's language (:mod:`.demo_content`).

What it adds:

- three announcements, one pinned, one for the sales department only, read by some;
- a meeting room, the sales team's shared calendar, and two meetings in the coming days
  with invitees who accepted, declined or have not answered;
- four tasks, one in progress with two subtasks (one done), one overdue, one done;
- the expense form's flow: the direct manager, then Finance above 5,000, the managing
  director copied; and six requests on the built-in forms at every stage: two expense
  claims with PDF receipts (one approved, one waiting for Finance), an approved leave, a
  trip waiting, a purchase request returned for a second quote, office supplies rejected;
- three document folders: company policies open to everyone, with the expense policy as a
  PDF, and the sales and finance departments' own.

Everything goes through OA's services as the member who would do it: the workspace's first
owner what needs an owner (publishing, the room, the flow), the demo people their own
work. What a service refuses to write in the past (an overdue task's due date) is moved
after it. A person the workspace no longer has is left out.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from reportlab.pdfgen import canvas
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import roles
from core.context import TenantContext
from core.db import Database
from core.i18n import N_, use_locale
from core.models import Department
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records.storage import file_store
from modules.oa.models import ApprovalInstance, ApprovalTask, Task
from modules.oa.services import (
    announcements,
    calendar,
    calendar_rooms,
    calendar_times,
    documents,
    engine,
    flows,
    form_requests,
    forms,
    tasks,
)
from modules.oa.services.demo_content import CONTENT, EN, FINANCE_ABOVE, OaDemo, RequestPlan
from tenants.demo import demo_people, first_owner
from tenants.demo_company import COMPANIES
from tenants.demo_company import EN as EN_COMPANY


@dataclass(frozen=True, slots=True)
class Office:
    """Who the demo works with: core's demo members as the workspace has them."""

    ctx: TenantContext
    registry: ModuleRegistry
    people: dict[str, Actor]  # by login
    boss: Actor  # the workspace's first owner
    today: date

    def present(self, *logins: str) -> list[Actor]:
        return [self.people[login] for login in logins if login in self.people]


async def demo_data(session: AsyncSession, ctx: TenantContext, registry: ModuleRegistry) -> None:
    plan = CONTENT.get(ctx.locale, EN)
    with use_locale(ctx.locale):  # what the services write for people reads in its language
        owner = await first_owner(session)
        if owner is None:
            return
        office = Office(
            ctx=ctx,
            registry=registry,
            people=await demo_people(session, registry, ctx.slug),
            boss=await roles.member_actor(session, registry, owner),
            today=datetime.now(UTC).date(),  # tasks' "today" is UTC's
        )
        await _announcements(session, office, plan)
        await _calendar(session, office, plan)
        await _tasks(session, office, plan)
        await _approvals(session, office, plan)
        await _documents(session, office, plan)


async def _department_ids(session: AsyncSession, ctx: TenantContext, indexes: tuple[int, ...]):
    names = COMPANIES.get(ctx.locale, EN_COMPANY).departments
    wanted = [names[i][0] for i in indexes]
    return list(await session.scalars(select(Department.id).where(Department.name.in_(wanted))))


async def _announcements(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    for item in plan.announcements:
        departments = await _department_ids(session, office.ctx, item.departments)
        if item.departments and not departments:
            continue
        draft = announcements.AnnouncementDraft(
            title=item.title,
            body=item.body,
            pinned=item.pinned,
            everyone=not item.departments,
            department_ids=departments,
        )
        written = await announcements.write_draft(session, office.boss, draft)
        await announcements.publish(session, office.boss, written.id)
        for reader in office.present(*item.readers):
            await announcements.open_announcement(session, reader, written.id)


async def _calendar(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    name, seats, location = plan.room
    room = await calendar_rooms.create_room(
        session, office.boss, name=name, capacity=seats, location=location
    )
    calendar_name, members = plan.shared_calendar
    writers = office.present(*members)
    if writers:
        await calendar.create_calendar(
            session, writers[0], calendar_name, {a.user_id: True for a in writers[1:]}
        )
    for meeting in plan.meetings:
        found = office.present(meeting.organiser)
        if not found:
            continue
        organiser = found[0]
        zone = await calendar_times.zone_of(session, organiser.user_id)
        day = office.today + timedelta(days=meeting.in_days)
        starts = datetime.combine(day, time(meeting.hour), zone).astimezone(UTC)
        event = await calendar.save_event(
            session,
            organiser,
            calendar.EventInput(
                title=meeting.title,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=meeting.minutes),
                room_id=room.id if meeting.in_room else None,
                invitee_ids=tuple(a.user_id for a in office.present(*meeting.invitees)),
                remind_minutes=15,
            ),
            zone,
        )
        for invitee in office.present(*meeting.accepted):
            await calendar.answer(session, invitee, event.id, accept=True)
        for invitee in office.present(*meeting.declined):
            await calendar.answer(session, invitee, event.id, accept=False)


async def _tasks(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    for item in plan.tasks:
        found = office.present(item.creator, item.assignee)
        if len(found) < 2:
            continue
        creator, assignee = found
        # A due date may not be set in the past: an overdue task gets its date after.
        due = office.today + timedelta(days=item.due_in) if item.due_in is not None else None
        task = await tasks.create_task(
            session,
            creator,
            tasks.NewTask(
                title=item.title,
                description=item.description,
                assignee_id=assignee.user_id,
                due_on=max(due, office.today) if due else None,
                priority=item.priority,
            ),
        )
        for title, done in item.subtasks:
            subtask = await tasks.create_task(
                session,
                creator,
                tasks.NewTask(title=title, assignee_id=assignee.user_id, parent_id=task.id),
            )
            if done:
                await tasks.move_task(session, assignee, subtask.id, "done")
        if item.status != "todo":
            await tasks.move_task(session, assignee, task.id, item.status)
        if due is not None and due < office.today:
            await session.execute(update(Task).where(Task.id == task.id).values(due_on=due))


# --- approvals and documents ----------------------------------------------------------------


def _pdf(*lines: str) -> bytes:
    """A one-page PDF with ``lines`` on it: a demo receipt or policy (previewable)."""
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(420, 220))
    page.setFont("Helvetica-Bold", 16)
    page.drawString(40, 160, lines[0])
    page.setFont("Helvetica", 12)
    for number, line in enumerate(lines[1:], start=1):
        page.drawString(40, 160 - 28 * number, line)
    page.save()
    return buffer.getvalue()


def _typed(office: Office, typed: dict[str, str]) -> dict[str, str]:
    """The plan's typing with its ``@N`` dates made N days from today."""
    return {
        name: (office.today + timedelta(days=int(value[1:]))).isoformat()
        if value.startswith("@")
        else value
        for name, value in typed.items()
    }


async def _expense_flow(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    """The expense form's flow: the direct manager, then Finance above 5,000; one copied."""
    finance = office.present(plan.finance)
    steps = [flows.StepIn(name=N_("Direct manager"), approvers="manager")]
    if finance:
        steps.append(
            flows.StepIn(
                name=plan.finance_step,
                approvers="member",
                member_ids=(finance[0].user_id,),
                condition=flows.Condition("amount", ">", FINANCE_ABOVE),
            )
        )
    flow = flows.FlowIn(
        steps=tuple(steps), cc_ids=tuple(a.user_id for a in office.present(plan.copied))
    )
    await flows.save_flow(
        session, office.registry, forms.flow_key("expense"), flow, actor_id=office.boss.user_id
    )


async def _waiting_for(session: AsyncSession, instance_id: uuid.UUID) -> uuid.UUID | None:
    instance = await session.scalar(
        select(ApprovalInstance).where(ApprovalInstance.id == instance_id)
    )
    if instance is None or instance.status != "pending":
        return None
    return await session.scalar(
        select(ApprovalTask.assignee_id)
        .where(
            ApprovalTask.instance_id == instance_id,
            ApprovalTask.step == instance.current_step,
            ApprovalTask.role == "approve",
            ApprovalTask.status == "pending",
        )
        .order_by(ApprovalTask.id)
        .limit(1)
    )


async def _approvals(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    await forms.ensure_builtin(session)
    await _expense_flow(session, office, plan)
    store = file_store(Database.of(session).settings)
    for item in plan.requests:
        found = office.present(item.requester)
        if not found:
            continue
        uploads = {
            "receipts": [
                form_requests.Upload(f"receipt-{n}.pdf", _pdf("RECEIPT", line), "application/pdf")
                for n, line in enumerate(item.receipts, start=1)
            ]
        }
        row = await form_requests.file_request(
            session,
            office.ctx,
            office.registry,
            store,
            found[0],
            item.form,
            _typed(office, item.typed),
            uploads if item.receipts else {},
        )
        instance_id = await form_requests.instance_id_of(session, row)
        if instance_id is not None:
            await _decide(session, item, instance_id)


async def _decide(session: AsyncSession, item: RequestPlan, instance_id: uuid.UUID) -> None:
    """Take the request as far as the plan says, as its approvers would."""
    approvals = item.approvals if item.outcome == "pending" else None
    while (approver := await _waiting_for(session, instance_id)) is not None:
        if item.outcome == "returned":
            await engine.return_to(session, instance_id, approver, step=None, comment=item.comment)
            return
        if item.outcome == "rejected":
            await engine.decide(session, instance_id, approver, approve=False, comment=item.comment)
            return
        if approvals is not None:
            if approvals == 0:
                return
            approvals -= 1
        await engine.decide(session, instance_id, approver, approve=True)


async def _documents(session: AsyncSession, office: Office, plan: OaDemo) -> None:
    store = file_store(Database.of(session).settings)
    for item in plan.folders:
        folder = await documents.create_folder(session, office.boss, item.name)
        departments = await _department_ids(session, office.ctx, item.departments)
        if departments:
            await documents.set_grants(
                session,
                office.boss,
                folder.id,
                [documents.GrantIn("department", "edit", department_id=d) for d in departments],
            )
        if item.policy is not None:
            file_name, text = item.policy
            await documents.upload(
                session,
                store,
                office.boss,
                folder.id,
                file_name,
                _pdf(file_name.removesuffix(".pdf"), text),
                "application/pdf",
                tags="policy",
            )
