"""OA's approval engine: core's approval port hands it every request (``submit``), it runs
the kind's flow step by step, and finishes the request (``core.approvals.finish_request``,
which publishes ``core.approval_decided.v1`` to the requesting module).

Every action lands on the instance's timeline (``oa_approval_action``). Each action locks
the instance row first, so two approvers acting at once are serialised: on an any-one
step the first decides and the second is told, with a 409, that it no longer waits for
them. A request submitted twice starts one instance (a unique key on the request).

The requester may withdraw (撤回) only while no approval counts: before the first one, or
once an approver returned it to them. After an approval the approvers have acted on it, and
the requester asks one of them to return it instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.approvals import finish_request
from core.context import TenantContext
from core.db import add_unique
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_, gettext
from core.models import ApprovalRequest, Membership
from core.reads import TenantObjects, TenantWrite, insert_now, write_now
from core.records.models import Notification
from modules.oa.models import (
    ApprovalAction,
    ApprovalDelegation,
    ApprovalFlowVersion,
    ApprovalInstance,
    ApprovalTask,
)
from modules.oa.services import flows
from modules.oa.services.flows import PlannedStep
from tenants.members import MemberDeactivated

KEY = "oa"
RECORD = "oa.approval"
URGE_EVERY = timedelta(hours=1)
MAX_COMMENT = 2000

ACTION_LABELS = {
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "auto_approved": N_("Approved automatically (approved an earlier step)"),
    "rejected": N_("Rejected"),
    "skipped": N_("Skipped: nobody to approve"),
    "transferred": N_("Transferred"),
    "delegated": N_("Delegated while away"),
    "added_before": N_("Added an approver before themselves"),
    "added_after": N_("Added an approver after themselves"),
    "returned": N_("Returned"),
    "resubmitted": N_("Resubmitted"),
    "withdrawn": N_("Withdrawn"),
    "urged": N_("Urged the approvers"),
    "copied": N_("Copied"),
    "handed_over": N_("Left the workspace: handed over"),
    "released": N_("Left the workspace: the others of the step decide"),
}
STATUS_LABELS = {
    "pending": N_("In approval"),
    "returned": N_("Returned for changes"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}
TASK_LABELS = {
    "pending": N_("Waiting"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "cancelled": N_("No longer needed"),
    "transferred": N_("Transferred"),
}
TASK_WAITING = N_("{requester} asks for your approval: {kind_label}")
URGED = N_("{requester} is waiting for your approval: {kind_label}")
ADDED_STEP = N_("Added approver")
COPIED = N_("{requester} copied you on an approval: {kind_label}")


class Engine:
    """What ``atrium_approval_engine`` returns: core's port calls ``submit``."""

    key = KEY

    async def submit(
        self, session: AsyncSession, ctx: TenantContext, request: ApprovalRequest
    ) -> None:
        await start(session, request)


ENGINE = Engine()


def _comment(text: str | None) -> str:
    text = (text or "").strip()
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            "A comment has at most {count} characters.", count=MAX_COMMENT, field="comment"
        )
    return text


def _fields(request: ApprovalRequest) -> dict[str, object]:
    fields: dict[str, object] = dict(request.fields or {})
    if request.amount is not None:
        fields.setdefault("amount", str(request.amount))
    return fields


async def start(session: AsyncSession, request: ApprovalRequest) -> ApprovalInstance:
    """Start the approval of ``request`` under its kind's current flow (or the default
    flow, the requester's manager); a request already started is left as it is."""
    existing = await _instance_of_request(session, request.id)
    if existing is not None:
        return existing
    # A form request runs under its form's flow: the instance's kind is that flow's key.
    kind = flows.flow_key_of(request.kind, _fields(request))
    version = await flows.current_version(session, kind)
    flow = flows.flow_of(version)
    planned = await flows.plan(session, flow, request.requester_id, _fields(request))
    instance = ApprovalInstance(
        request_id=request.id,
        flow_version_id=version.id if version else None,
        kind=kind,
        requester_id=request.requester_id,
        plan=[step.as_json() for step in planned],
    )
    if not await add_unique(session, instance):
        # Submitted at the same moment by another transaction: that one runs it.
        found = await _instance_of_request(session, request.id)
        assert found is not None
        return found
    await _log(session, instance, "submitted", request.requester_id)
    for user_id in dict.fromkeys(flow.cc_ids):
        session.add(
            ApprovalTask(
                instance_id=instance.id, step=-1, role="cc", assignee_id=user_id, status="copied"
            )
        )
        await _log(session, instance, "copied", None, target_id=user_id)
        # The member copied hears of it (抄送), as an approver does.
        session.add(
            Notification(
                user_id=user_id,
                kind="approval_copied",
                record_type=RECORD,
                record_id=instance.id,
                message=COPIED,
                params=await notice_params(session, instance),
            )
        )
    await _advance(session, instance, request, decided_by=None, comment=None)
    return instance


async def _instance_of_request(
    session: AsyncSession, request_id: uuid.UUID
) -> ApprovalInstance | None:
    return await session.scalar(
        select(ApprovalInstance).where(ApprovalInstance.request_id == request_id)
    )


async def _log(
    session: AsyncSession,
    instance: ApprovalInstance,
    action: str,
    actor_id: uuid.UUID | None,
    *,
    step: int | None = None,
    target_id: uuid.UUID | None = None,
    comment: str = "",
) -> None:
    """A line on the instance's timeline, written at once (nothing reads it back here)."""
    await insert_now(
        session,
        ApprovalAction,
        instance_id=instance.id,
        action=action,
        step=step,
        actor_id=actor_id,
        target_id=target_id,
        comment=comment,
    )


def _step(instance: ApprovalInstance, index: int) -> PlannedStep:
    return PlannedStep.of(instance.plan[index])


async def _auto_repeat(session: AsyncSession, instance: ApprovalInstance) -> bool:
    if instance.flow_version_id is None:
        return flows.DEFAULT_FLOW.auto_approve_repeat
    return bool(
        await session.scalar(
            select(ApprovalFlowVersion.auto_approve_repeat).where(
                ApprovalFlowVersion.id == instance.flow_version_id
            )
        )
    )


async def _advance(
    session: AsyncSession,
    instance: ApprovalInstance,
    request: ApprovalRequest,
    *,
    decided_by: uuid.UUID | None,
    comment: str | None,
) -> None:
    """Open the current step (and the next while steps complete at once); finish the
    request approved once no step is left."""
    repeat: bool | None = None  # the flow's setting, read once a step opens
    while instance.current_step < len(instance.plan):
        index = instance.current_step
        step = _step(instance, index)
        if not step.approver_ids:
            await _log(session, instance, "skipped", None, step=index)
            instance.current_step += 1
            continue
        tasks = await _open_step(session, instance, request, index, step)
        if repeat is None:
            repeat = await _auto_repeat(session, instance)
        if repeat:
            earlier = await _approved_before(session, instance, index)
            for task in tasks:
                if task.assignee_id in earlier:
                    task.status, task.decided_at = "approved", datetime.now(UTC)
                    await _log(session, instance, "auto_approved", task.assignee_id, step=index)
        if not _step_done(step, tasks):
            return
        await _close_step(session, instance, index)
        instance.current_step += 1
    await write_now(session, instance, status="approved", current_step=instance.current_step)
    await finish_request(session, request, approved=True, decided_by=decided_by, comment=comment)


def _step_done(step: PlannedStep, tasks: list[ApprovalTask]) -> bool:
    decided = [task.status == "approved" for task in tasks]
    return any(decided) if step.mode == "any" else all(decided)


async def _approved_before(
    session: AsyncSession, instance: ApprovalInstance, index: int
) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(ApprovalTask.assignee_id).where(
            ApprovalTask.instance_id == instance.id,
            ApprovalTask.role == "approve",
            ApprovalTask.status == "approved",
            ApprovalTask.step < index,
        )
    )
    return set(rows)


async def _open_step(
    session: AsyncSession,
    instance: ApprovalInstance,
    request: ApprovalRequest,
    index: int,
    step: PlannedStep,
) -> list[ApprovalTask]:
    tasks = []
    for approver_id in await _present(session, instance, index, step):
        tasks.append(await _task_for(session, instance, request, index, approver_id))
    return tasks


# --- approvers who left ---------------------------------------------------------------------
# A member who leaves (deactivated) mid-flow, as DingTalk's 离职交接: their waiting task
# goes to their manager, or with no active manager to the owners and admins; in an any-one
# step whose others still wait it is simply released. A later step planned with them is
# opened the same way.


async def stand_ins(session: AsyncSession, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """Who takes over the approvals of ``user_id``, who left: their manager while active,
    else the workspace's owners and admins."""
    membership_id = await session.scalar(select(Membership.id).where(Membership.user_id == user_id))
    manager = None
    if membership_id is not None:
        for manager_id in await organisation.manager_chain(session, membership_id, 1):
            manager = await session.scalar(
                select(Membership.user_id).where(Membership.id == manager_id, Membership.active)
            )
    return (manager,) if manager else await flows.admins(session)


async def _active(session: AsyncSession, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(Membership.user_id).where(Membership.user_id.in_(user_ids), Membership.active)
    )
    return set(rows)


async def _present(
    session: AsyncSession, instance: ApprovalInstance, index: int, step: PlannedStep
) -> list[uuid.UUID]:
    """The step's approvers as it opens: who planned it and is still here, with stand-ins
    for whoever left (none in an any-one step that others still hold)."""
    planned = list(dict.fromkeys(step.approver_ids))
    here = await _active(session, planned)
    people = [u for u in planned if u in here]
    for gone in (u for u in planned if u not in here):
        if step.mode == "any" and people:
            await _log(session, instance, "released", gone, step=index)
            continue
        for stand_in in await stand_ins(session, gone):
            await _log(session, instance, "handed_over", gone, step=index, target_id=stand_in)
            people.append(stand_in)
    return list(dict.fromkeys(people))


async def on_member_deactivated(
    session: AsyncSession, _ctx: TenantContext, event: MemberDeactivated
) -> None:
    await hand_over(session, event.user_id)


async def hand_over(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The waiting approval tasks of ``user_id``, who left, handed over (see above);
    returns how many. Each instance is locked first, as every action does."""
    instance_ids = await session.scalars(
        select(ApprovalTask.instance_id)
        .join(ApprovalInstance, ApprovalInstance.id == ApprovalTask.instance_id)
        .where(
            ApprovalTask.assignee_id == user_id,
            ApprovalTask.role == "approve",
            ApprovalTask.status == "pending",
            ApprovalInstance.status == "pending",
        )
        .distinct()
    )
    handed = 0
    for instance_id in list(instance_ids):
        instance, request = await locked(session, instance_id)
        task = await session.scalar(
            select(ApprovalTask).where(
                ApprovalTask.instance_id == instance.id,
                ApprovalTask.assignee_id == user_id,
                ApprovalTask.role == "approve",
                ApprovalTask.status == "pending",
            )
        )
        if instance.status != "pending" or task is None:
            continue  # decided meanwhile
        task.status, task.decided_at = "cancelled", datetime.now(UTC)
        others = await session.scalar(
            select(ApprovalTask.id).where(
                ApprovalTask.instance_id == instance.id,
                ApprovalTask.step == task.step,
                ApprovalTask.role == "approve",
                ApprovalTask.status == "pending",
                ApprovalTask.id != task.id,
            )
        )
        if others is not None and _step(instance, task.step).mode == "any":
            await _log(session, instance, "released", user_id, step=task.step)
        else:
            waiting = set(
                await session.scalars(
                    select(ApprovalTask.assignee_id).where(
                        ApprovalTask.instance_id == instance.id,
                        ApprovalTask.step == task.step,
                        ApprovalTask.status == "pending",
                    )
                )
            )
            for stand_in in await stand_ins(session, user_id):
                await _log(
                    session, instance, "handed_over", user_id, step=task.step, target_id=stand_in
                )
                if stand_in not in waiting:  # one who already waits on the step keeps theirs
                    await _task_for(session, instance, request, task.step, stand_in)
        handed += 1
    await session.flush()
    return handed


async def _task_for(
    session: AsyncSession,
    instance: ApprovalInstance,
    request: ApprovalRequest,
    index: int,
    approver_id: uuid.UUID,
) -> ApprovalTask:
    """A waiting task for ``approver_id`` (or whom they delegated to while away)."""
    assignee_id = await delegate_of(session, approver_id, datetime.now(UTC).date())
    if assignee_id != approver_id:
        await _log(session, instance, "delegated", approver_id, step=index, target_id=assignee_id)
    task = ApprovalTask(instance_id=instance.id, step=index, assignee_id=assignee_id)
    session.add(task)
    session.add(
        Notification(
            user_id=assignee_id,
            kind="approval_waiting",
            record_type=RECORD,
            record_id=instance.id,
            message=TASK_WAITING,
            params=await notice_params(session, instance),
        )
    )
    await session.flush()
    return task


async def notice_params(session: AsyncSession, instance: ApprovalInstance) -> dict[str, str]:
    """What an approval's notifications name: its requester, and its kind's label (a
    ``_label`` parameter: read in the reader's language, core.records.api.notification_out)."""
    return {
        "requester": await _name(session, instance.requester_id),
        "kind_label": (await flows.kind_labels(session, [instance.kind]))[instance.kind],
    }


async def _name(session: AsyncSession, user_id: uuid.UUID) -> str:
    return (await flows.display_names(session, {user_id})).get(user_id, "")


async def _close_step(
    session: AsyncSession,
    instance: ApprovalInstance,
    index: int,
    decided: ApprovalTask | None = None,
) -> None:
    """The step is decided: its other waiting tasks are no longer needed.

    ``decided`` is the task whose decision closes the step (``decide``, which has written
    it): it keeps that decision, nothing is flushed first, and the session is not
    synchronised: ``decide`` and its callers hold no other task of the step (they read
    task ids, not tasks), so a later read loads the others as they now are. Otherwise
    (tasks just opened, or approved automatically, in the session) what is pending is
    flushed first and the session's tasks brought up to date."""
    if decided is not None:
        await _CLOSE_OTHERS.execute(
            session, of_instance=instance.id, at_step=index, decided_id=decided.id
        )
        return
    await session.execute(
        update(ApprovalTask)
        .where(
            ApprovalTask.instance_id == instance.id,
            ApprovalTask.step == index,
            ApprovalTask.status == "pending",
        )
        .values(status="cancelled")
        .execution_options(synchronize_session="fetch")
    )


# What every decision runs, prebuilt (core.reads): its cost is per statement.
_TASKS = ApprovalTask.__table__.c
_CLOSE_OTHERS = TenantWrite(
    ApprovalTask,
    ApprovalTask.__table__.update()
    .where(
        _TASKS.instance_id == bindparam("of_instance"),
        _TASKS.step == bindparam("at_step"),
        _TASKS.status == "pending",
        _TASKS.id != bindparam("decided_id"),
    )
    .values(status="cancelled"),
)
_INSTANCES, _REQUESTS = ApprovalInstance.__table__, ApprovalRequest.__table__
_LOCK = TenantObjects(
    (ApprovalInstance, ApprovalRequest),
    select(_INSTANCES, _REQUESTS)
    .join(
        _REQUESTS,
        (_REQUESTS.c.tenant_id == _INSTANCES.c.tenant_id)
        & (_REQUESTS.c.id == _INSTANCES.c.request_id),
    )
    .where(_INSTANCES.c.id == bindparam("instance_id"))
    .with_for_update(),
)
_MY_TASK = TenantObjects(
    (ApprovalTask,),
    select(ApprovalTask.__table__).where(
        _TASKS.instance_id == bindparam("instance_id"),
        _TASKS.step == bindparam("step"),
        _TASKS.assignee_id == bindparam("user_id"),
        _TASKS.role == "approve",
        _TASKS.status == "pending",
    ),
)


# --- acting on an instance ------------------------------------------------------------------


async def locked(
    session: AsyncSession, instance_id: uuid.UUID
) -> tuple[ApprovalInstance, ApprovalRequest]:
    """The instance and its request, both rows locked for this transaction, in one
    statement: every action starts here, so two actions on one approval take turns."""
    found = await _LOCK.first(session, instance_id=instance_id)
    if found is None:
        raise NotFound("No approval {id}.", id=str(instance_id))
    return found[0], found[1]


def _still_pending(instance: ApprovalInstance) -> None:
    if instance.status != "pending":
        raise Conflict(
            "This approval no longer waits for a decision: {status}.",
            status=gettext(STATUS_LABELS[instance.status]),
        )


async def my_task(
    session: AsyncSession, instance: ApprovalInstance, user_id: uuid.UUID
) -> ApprovalTask | None:
    """The user's waiting task at the instance's current step, if any."""
    return await _MY_TASK.scalar(
        session, instance_id=instance.id, step=instance.current_step, user_id=user_id
    )


async def _my_task(
    session: AsyncSession, instance: ApprovalInstance, user_id: uuid.UUID
) -> ApprovalTask:
    _still_pending(instance)
    task = await my_task(session, instance, user_id)
    if task is None:
        raise Conflict("This approval does not wait for you now.")
    return task


async def decide(
    session: AsyncSession,
    instance_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    approve: bool,
    comment: str | None = None,
) -> ApprovalInstance:
    """Approve or reject the step waiting for ``user_id``; a rejection ends the approval."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    task = await _my_task(session, instance, user_id)
    index = instance.current_step
    # Written at once, each with one prebuilt statement (core.reads.write_now): a decision
    # is the hot path, and the unit of work's flush costs more than the statements.
    status = "approved" if approve else "rejected"
    await write_now(session, task, status=status, decided_at=datetime.now(UTC))
    await _log(session, instance, status, user_id, step=index, comment=text)
    if not approve:
        await _close_step(session, instance, index, decided=task)
        await write_now(session, instance, status="rejected")
        await finish_request(
            session, request, approved=False, decided_by=user_id, comment=text or None
        )
        return instance
    if await _approved_by(session, instance, task):
        await _close_step(session, instance, index, decided=task)
        instance.current_step += 1
        await _advance(session, instance, request, decided_by=user_id, comment=text or None)
    return instance


async def _approved_by(
    session: AsyncSession, instance: ApprovalInstance, task: ApprovalTask
) -> bool:
    """Whether ``task``'s approval completes its step: at once in an any-one step; in an
    all-must step once nobody else of the step still waits."""
    if _step(instance, task.step).mode == "any":
        return True
    waiting = await session.scalar(
        select(ApprovalTask.id)
        .where(
            ApprovalTask.instance_id == instance.id,
            ApprovalTask.step == task.step,
            ApprovalTask.role == "approve",
            ApprovalTask.status == "pending",
            ApprovalTask.id != task.id,
        )
        .limit(1)
    )
    return waiting is None


async def transfer(
    session: AsyncSession,
    instance_id: uuid.UUID,
    user_id: uuid.UUID,
    to_user_id: uuid.UUID,
    comment: str | None = None,
) -> ApprovalInstance:
    """Hand one's waiting task to another active member (转交)."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    task = await _my_task(session, instance, user_id)
    await _check_colleague(session, instance, to_user_id, user_id)
    task.status, task.decided_at = "transferred", datetime.now(UTC)
    await _log(
        session,
        instance,
        "transferred",
        user_id,
        step=task.step,
        target_id=to_user_id,
        comment=text,
    )
    await session.flush()
    await _task_for(session, instance, request, task.step, to_user_id)
    return instance


async def _check_colleague(
    session: AsyncSession, instance: ApprovalInstance, to_user_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    active = await session.scalar(
        select(Membership.id).where(Membership.user_id == to_user_id, Membership.active)
    )
    if active is None or to_user_id == user_id:
        raise ValidationFailed("Choose another active member.", field="to_user_id")
    if await my_task(session, instance, to_user_id) is not None:
        raise Conflict("That member already approves this step.", field="to_user_id")


async def add_signer(
    session: AsyncSession,
    instance_id: uuid.UUID,
    user_id: uuid.UUID,
    to_user_id: uuid.UUID,
    *,
    before: bool,
    comment: str | None = None,
) -> ApprovalInstance:
    """Add an approver before oneself (they decide first, then the step again) or after
    oneself (a step of its own after this one) (加签)."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    await _my_task(session, instance, user_id)
    await _check_colleague(session, instance, to_user_id, user_id)
    index = instance.current_step
    added = PlannedStep(ADDED_STEP, "any", (to_user_id,)).as_json()
    await _log(
        session,
        instance,
        "added_before" if before else "added_after",
        user_id,
        step=index,
        target_id=to_user_id,
        comment=text,
    )
    if before:
        instance.plan = [*instance.plan[:index], added, *instance.plan[index:]]
        await _close_step(session, instance, index)
        await session.execute(
            update(ApprovalTask)
            .where(ApprovalTask.instance_id == instance.id, ApprovalTask.step >= index)
            .values(step=ApprovalTask.step + 1)
            .execution_options(synchronize_session="fetch")
        )
        await session.flush()
        await _advance(session, instance, request, decided_by=user_id, comment=text or None)
    else:
        instance.plan = [*instance.plan[: index + 1], added, *instance.plan[index + 1 :]]
        await session.flush()
    return instance


async def return_to(
    session: AsyncSession,
    instance_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    step: int | None,
    comment: str | None = None,
) -> ApprovalInstance:
    """Send the approval back (退回): to an earlier step (its number from 1), or with
    ``step=None`` to the requester, who changes and resubmits it. Approvals given from
    that step on no longer count."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    await _my_task(session, instance, user_id)
    target = 0 if step is None else step - 1
    if not 0 <= target < instance.current_step and step is not None:
        raise ValidationFailed("Return to an earlier step.", field="step")
    await session.execute(
        update(ApprovalTask)
        .where(
            ApprovalTask.instance_id == instance.id,
            ApprovalTask.role == "approve",
            ApprovalTask.step >= target,
            ApprovalTask.status.in_(("pending", "approved")),
        )
        .values(status="cancelled")
        .execution_options(synchronize_session="fetch")
    )
    await _log(
        session, instance, "returned", user_id, step=None if step is None else target, comment=text
    )
    instance.current_step = target
    if step is None:
        instance.status = "returned"
        await session.flush()
        return instance
    await session.flush()
    await _advance(session, instance, request, decided_by=user_id, comment=None)
    return instance


async def resubmit(
    session: AsyncSession,
    instance_id: uuid.UUID,
    user_id: uuid.UUID,
    comment: str | None = None,
    *,
    replan: bool = False,
) -> ApprovalInstance:
    """The requester sends a returned approval again, from its first step. With ``replan``
    (the requester changed the request's fields, as a form request's edit page does) the
    steps are planned again from the request's fields under the same flow version: a
    branch whose condition no longer holds drops out, one that now holds comes in."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    if instance.requester_id != user_id:
        raise PermissionDenied("Only the requester resubmits an approval.")
    if instance.status != "returned":
        raise Conflict("Only an approval returned to you is resubmitted.")
    if replan:
        version = None
        if instance.flow_version_id is not None:
            version = await session.get(
                ApprovalFlowVersion, (instance.tenant_id, instance.flow_version_id)
            )
        planned = await flows.plan(
            session, flows.flow_of(version), request.requester_id, _fields(request)
        )
        instance.plan = [step.as_json() for step in planned]
    instance.status, instance.current_step = "pending", 0
    await _log(session, instance, "resubmitted", user_id, comment=text)
    await session.flush()
    await _advance(session, instance, request, decided_by=None, comment=None)
    return instance


async def _approval_counts(session: AsyncSession, instance: ApprovalInstance) -> bool:
    """Whether an approval given so far still counts (a return voids those it goes back over)."""
    found = await session.scalar(
        select(ApprovalTask.id).where(
            ApprovalTask.instance_id == instance.id,
            ApprovalTask.role == "approve",
            ApprovalTask.status == "approved",
        )
    )
    return found is not None


async def withdraw(
    session: AsyncSession, instance_id: uuid.UUID, user_id: uuid.UUID, comment: str | None = None
) -> ApprovalInstance:
    """The requester takes the approval back (撤回) while no approval counts (before the
    first, or once it was returned to them); the request ends rejected, with the
    withdrawal as its comment."""
    text = _comment(comment)
    instance, request = await locked(session, instance_id)
    if instance.requester_id != user_id:
        raise PermissionDenied("Only the requester withdraws an approval.")
    if instance.status not in ("pending", "returned"):
        _still_pending(instance)
    if await _approval_counts(session, instance):
        raise Conflict("Someone has approved already: ask an approver to return it to you instead.")
    await _close_step(session, instance, instance.current_step)
    instance.status = "withdrawn"
    await _log(session, instance, "withdrawn", user_id, comment=text)
    await session.flush()
    await finish_request(
        session,
        request,
        approved=False,
        decided_by=user_id,
        comment=text or gettext("Withdrawn by the requester."),
    )
    return instance


async def urge(session: AsyncSession, instance_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """The requester reminds the current approvers (催办), at most once an hour; returns how
    many were reminded."""
    instance, _ = await locked(session, instance_id)
    if instance.requester_id != user_id:
        raise PermissionDenied("Only the requester urges an approval.")
    _still_pending(instance)
    now = datetime.now(UTC)
    if instance.urged_at is not None and now - instance.urged_at < URGE_EVERY:
        raise Conflict("The approvers were reminded less than an hour ago.")
    waiting = list(
        await session.scalars(
            select(ApprovalTask.assignee_id).where(
                ApprovalTask.instance_id == instance.id,
                ApprovalTask.step == instance.current_step,
                ApprovalTask.status == "pending",
            )
        )
    )
    params = await notice_params(session, instance)
    for assignee_id in waiting:
        session.add(
            Notification(
                user_id=assignee_id,
                kind="approval_urged",
                record_type=RECORD,
                record_id=instance.id,
                message=URGED,
                params=params,
            )
        )
    instance.urged_at = now
    await _log(session, instance, "urged", user_id)
    await session.flush()
    return len(waiting)


# --- delegation -----------------------------------------------------------------------------


async def delegate_of(session: AsyncSession, user_id: uuid.UUID, day: date) -> uuid.UUID:
    """Who receives ``user_id``'s new tasks on ``day``: their delegate while away, or
    themselves (a delegate away too passes it on no further)."""
    delegate = await session.scalar(
        select(ApprovalDelegation.delegate_id)
        .join(Membership, Membership.user_id == ApprovalDelegation.delegate_id)
        .where(
            ApprovalDelegation.user_id == user_id,
            ApprovalDelegation.starts_on <= day,
            ApprovalDelegation.ends_on >= day,
            Membership.active,
        )
        .order_by(ApprovalDelegation.id.desc())
        .limit(1)
    )
    return delegate or user_id


async def delegate(
    session: AsyncSession,
    user_id: uuid.UUID,
    delegate_id: uuid.UUID,
    starts_on: date,
    ends_on: date,
) -> ApprovalDelegation:
    """While away from ``starts_on`` to ``ends_on`` (委托), new tasks go to ``delegate_id``."""
    if ends_on < starts_on:
        raise ValidationFailed("The last day comes on or after the first.", field="ends_on")
    active = await session.scalar(
        select(Membership.id).where(Membership.user_id == delegate_id, Membership.active)
    )
    if active is None or delegate_id == user_id:
        raise ValidationFailed("Choose another active member.", field="delegate_id")
    made = ApprovalDelegation(
        user_id=user_id, delegate_id=delegate_id, starts_on=starts_on, ends_on=ends_on
    )
    session.add(made)
    await session.flush()
    return made


async def delegations(session: AsyncSession, user_id: uuid.UUID) -> list[ApprovalDelegation]:
    """The member's delegations not over yet, soonest first."""
    today = datetime.now(UTC).date()
    rows = await session.scalars(
        select(ApprovalDelegation)
        .where(ApprovalDelegation.user_id == user_id, ApprovalDelegation.ends_on >= today)
        .order_by(ApprovalDelegation.starts_on, ApprovalDelegation.id)
    )
    return list(rows)


async def end_delegation(
    session: AsyncSession, user_id: uuid.UUID, delegation_id: uuid.UUID
) -> None:
    """Back early: the member's own delegation ends (tasks already delegated stay)."""
    found = await session.scalar(
        select(ApprovalDelegation).where(
            ApprovalDelegation.id == delegation_id, ApprovalDelegation.user_id == user_id
        )
    )
    if found is None:
        raise NotFound("No delegation {id}.", id=str(delegation_id))
    await session.delete(found)
    await session.flush()


@dataclass(frozen=True, slots=True)
class Allowed:
    """What a viewer may do on an instance's page."""

    decide: bool
    withdraw: bool
    urge: bool
    resubmit: bool


async def allowed(session: AsyncSession, instance: ApprovalInstance, user_id: uuid.UUID) -> Allowed:
    mine = instance.requester_id == user_id
    approved = await _approval_counts(session, instance)
    return Allowed(
        decide=instance.status == "pending"
        and await my_task(session, instance, user_id) is not None,
        withdraw=mine and instance.status in ("pending", "returned") and not approved,
        urge=mine and instance.status == "pending",
        resubmit=mine and instance.status == "returned",
    )
