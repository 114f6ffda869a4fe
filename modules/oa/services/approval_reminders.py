"""Reminding approvers of steps that wait too long, and the workspace's setting for it.

An admin (``oa.flow.manage``) sets after how many hours a waiting step reminds its
approver (``remind_after_hours``: 24 by default, 0 turns reminders off) and how often it
reminds again while the step still waits (``remind_every_hours``: 0 by default, once;
as Feishu's repeated reminders); one row in ``oa_approval_settings``, made when first
saved. The hourly scheduled job ``approval_reminders`` notifies the approver of every open
approve-task of a current step that has waited longer than that (``approval_overdue``,
core's notification, translated when the approver reads it). The job claims each task it
reminds with one ``UPDATE … SET reminded_at = now … RETURNING`` (not reminded yet, or
last reminded a repeat ago), so a rerun or a concurrent run reminds nobody twice. A step
asked again (returned to, transferred, an approver added) opens new tasks, which wait —
and are reminded — afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.db import add_unique
from core.errors import ValidationFailed
from core.i18n import N_
from core.permissions import Actor
from core.records.models import Notification
from modules.oa import permissions as codes
from modules.oa.models import ApprovalInstance, ApprovalSettings, ApprovalTask
from modules.oa.services import engine, flows

DEFAULT_HOURS = 24
#: The longest wait one may set: thirty days.
MOST_HOURS = 720
OVERDUE = N_("{requester}'s approval still waits for you: {kind_label}")


@dataclass(frozen=True, slots=True)
class Reminders:
    """The workspace's reminder setting, in whole hours."""

    after_hours: int = DEFAULT_HOURS  # a step waits this long before the first (0: none)
    every_hours: int = 0  # then again this often while it still waits (0: once)


async def reminders(session: AsyncSession) -> Reminders:
    """The workspace's setting (the defaults until an admin saves one)."""
    saved = await session.scalar(select(ApprovalSettings))
    if saved is None:
        return Reminders()
    return Reminders(saved.remind_after_hours, saved.remind_every_hours)


async def save_reminders(session: AsyncSession, actor: Actor, wanted: Reminders) -> Reminders:
    """Set the workspace's reminders (whole hours from 0 to 720 each); audited."""
    actor.require(codes.FLOW_MANAGE)
    values = {"remind_after_hours": wanted.after_hours, "remind_every_hours": wanted.every_hours}
    for field, hours in values.items():
        if not 0 <= hours <= MOST_HOURS:
            raise ValidationFailed(
                "Type a whole number of hours from 0 to {most}.", most=MOST_HOURS, field=field
            )
    settings = await session.scalar(select(ApprovalSettings).with_for_update())
    if settings is None:
        settings = ApprovalSettings(**values)
        if not await add_unique(session, settings):  # made at the same moment: take that one
            settings = await session.scalar(select(ApprovalSettings).with_for_update())
            assert settings is not None
    for name, hours in values.items():
        setattr(settings, name, hours)
    await session.flush()
    await audit.record(
        session,
        "oa.approval_settings.saved",
        actor_id=actor.user_id,
        subject_type="oa.approval_settings",
        subject_id=settings.id,
        detail=values,
    )
    return wanted


async def send_reminders(session: AsyncSession, now: datetime) -> list[Notification]:
    """Remind the approvers whose waiting task is older than the workspace's setting, and
    again a repeat after the last reminder while it still waits."""
    if now.tzinfo is None:
        raise ValueError("send_reminders needs an aware datetime")
    setting = await reminders(session)
    if setting.after_hours == 0:
        return []
    due = ApprovalTask.reminded_at.is_(None)
    if setting.every_hours:
        due = due | (ApprovalTask.reminded_at <= now - timedelta(hours=setting.every_hours))
    current = exists(
        select(ApprovalInstance.id).where(
            ApprovalInstance.id == ApprovalTask.instance_id,
            ApprovalInstance.status == "pending",
            ApprovalInstance.current_step == ApprovalTask.step,
        )
    )
    claimed = list(
        await session.execute(
            update(ApprovalTask)
            .where(
                ApprovalTask.role == "approve",
                ApprovalTask.status == "pending",
                due,
                ApprovalTask.created_at < now - timedelta(hours=setting.after_hours),
                current,
            )
            .values(reminded_at=now)
            .returning(ApprovalTask.instance_id, ApprovalTask.assignee_id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return []
    instances = {
        row.id: row
        for row in await session.scalars(
            select(ApprovalInstance).where(
                ApprovalInstance.id.in_({row.instance_id for row in claimed})
            )
        )
    }
    names = await flows.display_names(session, {i.requester_id for i in instances.values()})
    labels = await flows.kind_labels(session, {i.kind for i in instances.values()})
    notifications = [
        Notification(
            user_id=row.assignee_id,
            kind="approval_overdue",
            record_type=engine.RECORD,
            record_id=row.instance_id,
            message=OVERDUE,
            params={
                "requester": names.get(instances[row.instance_id].requester_id, ""),
                "kind_label": labels[instances[row.instance_id].kind],
            },
        )
        for row in claimed
    ]
    session.add_all(notifications)
    await session.flush()
    return notifications


async def reminders_job(session: AsyncSession, ctx: TenantContext) -> None:
    """The hourly scheduled job (manifest): remind the approvers of overdue steps."""
    await send_reminders(session, datetime.now(UTC))
