"""What the approvals pages read: a member's inbox (to do, done, started by me, copied to
me) and one instance with its steps and timeline.

A member sees an instance they asked for, approve (or approved), or were copied on; with
``oa.approval.manage`` (owners and admins) they see every instance of the workspace.
Anything else is 404, as if it did not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.i18n import N_
from core.models import ApprovalRequest
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.models import ApprovalAction, ApprovalInstance, ApprovalTask
from modules.oa.services import engine, flows
from modules.oa.services.flows import PlannedStep

BOXES = {
    "todo": N_("To do"),
    "done": N_("Done"),
    "started": N_("Started by me"),
    "copied": N_("Copied to me"),
    "all": N_("All approvals"),  # with oa.approval.manage only
}
SHOWN = 100


@dataclass(frozen=True, slots=True)
class Item:
    instance: ApprovalInstance
    kind_label: str
    requester: str


def boxes_for(actor: Actor) -> dict[str, str]:
    """The boxes the actor may open: every approval of the workspace for managers."""
    if actor.can(codes.APPROVAL_MANAGE):
        return BOXES
    return {key: label for key, label in BOXES.items() if key != "all"}


def kind_label(registry: ModuleRegistry, kind: str) -> str:
    declared = registry.approval_kind(kind)
    return declared.label if declared else kind


async def inbox(
    session: AsyncSession, registry: ModuleRegistry, actor: Actor, box: str
) -> list[Item]:
    """The instances of one box, newest first."""
    actor.require(codes.APPROVAL_READ)
    if box not in boxes_for(actor):
        raise ValidationFailed("No approvals box {box}.", box=box, field="box")
    task = select(ApprovalTask.id).where(
        ApprovalTask.instance_id == ApprovalInstance.id,
        ApprovalTask.assignee_id == actor.user_id,
    )
    if box == "todo":
        where = exists(
            task.where(
                ApprovalTask.role == "approve",
                ApprovalTask.status == "pending",
                ApprovalTask.step == ApprovalInstance.current_step,
            )
        ) & (ApprovalInstance.status == "pending")
    elif box == "done":
        where = exists(
            task.where(
                ApprovalTask.role == "approve",
                ApprovalTask.status.in_(("approved", "rejected", "transferred")),
            )
        )
    elif box == "started":
        where = ApprovalInstance.requester_id == actor.user_id
    elif box == "copied":
        where = exists(task.where(ApprovalTask.role == "cc"))
    else:
        where = true()
    rows = list(
        await session.scalars(
            select(ApprovalInstance).where(where).order_by(ApprovalInstance.id.desc()).limit(SHOWN)
        )
    )
    names = await flows.display_names(session, {row.requester_id for row in rows})
    return [
        Item(row, kind_label(registry, row.kind), names.get(row.requester_id, "")) for row in rows
    ]


async def visible_instance(
    session: AsyncSession, actor: Actor, instance_id: uuid.UUID
) -> ApprovalInstance:
    actor.require(codes.APPROVAL_READ)
    instance = await session.scalar(
        select(ApprovalInstance).where(ApprovalInstance.id == instance_id)
    )
    if instance is None or not await _may_see(session, actor, instance):
        raise NotFound("No approval {id}.", id=str(instance_id))
    return instance


async def instance_of_request(
    session: AsyncSession, actor: Actor, request_id: uuid.UUID
) -> ApprovalInstance:
    """The instance running a core request (the link from the requesting module's page)."""
    found = await session.scalar(
        select(ApprovalInstance.id).where(ApprovalInstance.request_id == request_id)
    )
    if found is None:
        raise NotFound("No approval {id}.", id=str(request_id))
    return await visible_instance(session, actor, found)


async def _may_see(session: AsyncSession, actor: Actor, instance: ApprovalInstance) -> bool:
    if actor.can(codes.APPROVAL_MANAGE) or instance.requester_id == actor.user_id:
        return True
    involved = await session.scalar(
        select(ApprovalTask.id).where(
            ApprovalTask.instance_id == instance.id, ApprovalTask.assignee_id == actor.user_id
        )
    )
    return involved is not None


@dataclass(frozen=True, slots=True)
class StepView:
    number: int
    name: str
    mode: str
    people: list[tuple[str, str]]  # (name, task status or "")
    current: bool


@dataclass(frozen=True, slots=True)
class ActionView:
    at: datetime
    action: str
    actor: str
    target: str
    step: int | None
    comment: str


@dataclass(frozen=True, slots=True)
class InstanceView:
    instance: ApprovalInstance
    request: ApprovalRequest
    kind_label: str
    requester: str
    steps: list[StepView]
    timeline: list[ActionView]
    allowed: engine.Allowed
    subject_page: str | None  # the requested record's page under the workspace, if it has one


async def instance_view(
    session: AsyncSession, registry: ModuleRegistry, actor: Actor, instance_id: uuid.UUID
) -> InstanceView:
    instance = await visible_instance(session, actor, instance_id)
    request = await session.scalar(
        select(ApprovalRequest).where(ApprovalRequest.id == instance.request_id)
    )
    assert request is not None
    tasks = list(
        await session.scalars(
            select(ApprovalTask)
            .where(ApprovalTask.instance_id == instance.id, ApprovalTask.role == "approve")
            .order_by(ApprovalTask.id)
        )
    )
    actions = list(
        await session.scalars(
            select(ApprovalAction)
            .where(ApprovalAction.instance_id == instance.id)
            .order_by(ApprovalAction.id)
        )
    )
    people = {instance.requester_id}
    people |= {t.assignee_id for t in tasks}
    people |= {a.actor_id for a in actions if a.actor_id} | {
        a.target_id for a in actions if a.target_id
    }
    for data in instance.plan:
        people |= set(PlannedStep.of(data).approver_ids)
    names = await flows.display_names(session, people)
    steps = []
    for index, data in enumerate(instance.plan):
        step = PlannedStep.of(data)
        latest = {t.assignee_id: t.status for t in tasks if t.step == index}
        shown = [(names.get(u, ""), latest.pop(u, "")) for u in step.approver_ids]
        shown += [(names.get(u, ""), status) for u, status in latest.items()]
        current = instance.status == "pending" and index == instance.current_step
        steps.append(StepView(index + 1, step.name, step.mode, shown, current))
    timeline = [
        ActionView(
            at=a.at,
            action=a.action,
            actor=names.get(a.actor_id, "") if a.actor_id else "",
            target=names.get(a.target_id, "") if a.target_id else "",
            step=None if a.step is None else a.step + 1,
            comment=a.comment,
        )
        for a in actions
    ]
    return InstanceView(
        instance=instance,
        request=request,
        kind_label=kind_label(registry, instance.kind),
        requester=names.get(instance.requester_id, ""),
        steps=steps,
        timeline=timeline,
        allowed=await engine.allowed(session, instance, actor.user_id),
        subject_page=subject_page(registry, request),
    )


def subject_page(registry: ModuleRegistry, request: ApprovalRequest) -> str | None:
    """Where the record asked about is shown (a contract's page), for the approver to read."""
    declared = registry.record_type(request.subject_type)
    if declared is None or declared[1].page is None:
        return None
    return declared[1].page.format(id=request.subject_id)


async def check_visible(session: AsyncSession, actor: Actor, instance_id: uuid.UUID) -> None:
    """The record type's check (notifications' links): NotFound unless the actor may see it."""
    await visible_instance(session, actor, instance_id)
