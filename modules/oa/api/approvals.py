"""The approvals JSON API under ``/api/t/{slug}/oa/approvals``: the inbox, an approval with
its steps and timeline, the actions on it (approve, reject, transfer, add an approver,
return, resubmit, withdraw, urge), delegation while away, and for admins the flows: read,
save a new version, preview who would approve.

The inbox and actions need ``oa.approval.read``, the flows ``oa.flow.manage`` (a guard
answers 403 naming the code). An approval the member is not part of is 404; an action that
no longer applies (decided already, not the member's turn) is 409.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.services import approval_inbox, engine, flows
from modules.oa.services.flows import Condition, FlowIn, StepIn
from web.deps import CurrentActor, DbSession, Registry
from web.tenancy import requires


class CommentIn(msgspec.Struct, frozen=True, kw_only=True):
    comment: str = ""


class SomeoneIn(msgspec.Struct, frozen=True, kw_only=True):
    to_user_id: uuid.UUID
    comment: str = ""
    before: bool = False  # adding an approver: before oneself, or after


class ReturnIn(msgspec.Struct, frozen=True, kw_only=True):
    step: int | None = None  # None: to the requester
    comment: str = ""


class DelegationIn(msgspec.Struct, frozen=True, kw_only=True):
    delegate_id: uuid.UUID
    starts_on: date
    ends_on: date


class DelegationOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    delegate_id: uuid.UUID
    starts_on: date
    ends_on: date


class ConditionIn(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    op: str
    value: str


class StepBody(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    approvers: str
    mode: str = "any"
    member_ids: list[uuid.UUID] = []
    role: str = ""
    levels: int = 1
    condition: ConditionIn | None = None


class FlowBody(msgspec.Struct, frozen=True, kw_only=True):
    steps: list[StepBody]
    cc_ids: list[uuid.UUID] = []
    missing_approver: str = "admins"
    auto_approve_repeat: bool = True


class PreviewIn(msgspec.Struct, frozen=True, kw_only=True):
    requester_id: uuid.UUID
    fields: dict[str, str] = {}
    flow: FlowBody | None = None  # None: the kind's current flow


class ItemOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    kind_label: str
    requester: str
    status: str
    current_step: int
    created_at: datetime


class StepOut(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    mode: str
    people: list[tuple[str, str]]
    current: bool


class ActionOut(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    action: str
    actor: str
    target: str
    step: int | None
    comment: str


class InstanceOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    status: str
    requester: str
    current_step: int
    steps: list[StepOut]
    timeline: list[ActionOut]


class PreviewStepOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    mode: str
    people: list[str]
    to_admins: bool


class VersionOut(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    version: int
    flow: FlowBody


def flow_in(body: FlowBody) -> FlowIn:
    return FlowIn(
        steps=tuple(
            StepIn(
                name=step.name,
                approvers=step.approvers,
                mode=step.mode,
                member_ids=tuple(step.member_ids),
                role=step.role,
                levels=step.levels,
                condition=None
                if step.condition is None
                else Condition(step.condition.field, step.condition.op, step.condition.value),
            )
            for step in body.steps
        ),
        cc_ids=tuple(body.cc_ids),
        missing_approver=body.missing_approver,
        auto_approve_repeat=body.auto_approve_repeat,
    )


def flow_body(flow: FlowIn) -> FlowBody:
    return msgspec.convert(
        {
            "steps": [
                {
                    "name": s.name,
                    "approvers": s.approvers,
                    "mode": s.mode,
                    "member_ids": [str(i) for i in s.member_ids],
                    "role": s.role,
                    "levels": s.levels,
                    "condition": None
                    if s.condition is None
                    else {
                        "field": s.condition.field,
                        "op": s.condition.op,
                        "value": s.condition.value,
                    },
                }
                for s in flow.steps
            ],
            "cc_ids": [str(i) for i in flow.cc_ids],
            "missing_approver": flow.missing_approver,
            "auto_approve_repeat": flow.auto_approve_repeat,
        },
        FlowBody,
    )


async def instance_out(
    session: AsyncSession, registry: ModuleRegistry, actor: Actor, instance_id: uuid.UUID
) -> InstanceOut:
    view = await approval_inbox.instance_view(session, registry, actor, instance_id)
    return InstanceOut(
        id=view.instance.id,
        request_id=view.instance.request_id,
        kind=view.instance.kind,
        status=view.instance.status,
        requester=view.requester,
        current_step=view.instance.current_step + 1,
        steps=[StepOut(**_fields(s)) for s in view.steps],
        timeline=[ActionOut(**_fields(a)) for a in view.timeline],
    )


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


class ApprovalApi(Controller):
    path = "/oa/approvals"

    @get("/", guards=[requires(codes.APPROVAL_READ)])
    async def inbox(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        box: FromQuery[str] = "todo",
    ) -> list[ItemOut]:
        items = await approval_inbox.inbox(session, registry, actor, box)
        return [
            ItemOut(
                id=i.instance.id,
                request_id=i.instance.request_id,
                kind=i.instance.kind,
                kind_label=i.kind_label,
                requester=i.requester,
                status=i.instance.status,
                current_step=i.instance.current_step + 1,
                created_at=i.instance.created_at,
            )
            for i in items
        ]

    @get("/{instance_id:uuid}", guards=[requires(codes.APPROVAL_READ)])
    async def instance(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
    ) -> InstanceOut:
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/approve",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def approve(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[CommentIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.decide(session, instance_id, actor.user_id, approve=True, comment=data.comment)
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/reject",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def reject(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[CommentIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.decide(
            session, instance_id, actor.user_id, approve=False, comment=data.comment
        )
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/transfer",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def transfer(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[SomeoneIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.transfer(session, instance_id, actor.user_id, data.to_user_id, data.comment)
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/add", guards=[requires(codes.APPROVAL_READ)], status_code=HTTP_200_OK
    )
    async def add(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[SomeoneIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.add_signer(
            session,
            instance_id,
            actor.user_id,
            data.to_user_id,
            before=data.before,
            comment=data.comment,
        )
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/return",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def send_back(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[ReturnIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.return_to(
            session, instance_id, actor.user_id, step=data.step, comment=data.comment
        )
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/resubmit",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def resubmit(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[CommentIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.resubmit(session, instance_id, actor.user_id, data.comment)
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/withdraw",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def withdraw(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
        data: JSONBody[CommentIn],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.withdraw(session, instance_id, actor.user_id, data.comment)
        return await instance_out(session, registry, actor, instance_id)

    @post(
        "/{instance_id:uuid}/urge", guards=[requires(codes.APPROVAL_READ)], status_code=HTTP_200_OK
    )
    async def urge(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await engine.urge(session, instance_id, actor.user_id)
        return await instance_out(session, registry, actor, instance_id)

    @post("/delegations", guards=[requires(codes.APPROVAL_READ)], status_code=HTTP_200_OK)
    async def delegate(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[DelegationIn]
    ) -> dict[str, str]:
        made = await engine.delegate(
            session, actor.user_id, data.delegate_id, data.starts_on, data.ends_on
        )
        return {"id": str(made.id)}

    @get("/delegations", guards=[requires(codes.APPROVAL_READ)])
    async def delegations(self, session: DbSession, actor: CurrentActor) -> list[DelegationOut]:
        return [
            DelegationOut(
                id=d.id, delegate_id=d.delegate_id, starts_on=d.starts_on, ends_on=d.ends_on
            )
            for d in await engine.delegations(session, actor.user_id)
        ]

    @post(
        "/delegations/{delegation_id:uuid}/end",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )
    async def end_delegation(
        self, session: DbSession, actor: CurrentActor, delegation_id: FromPath[uuid.UUID]
    ) -> None:
        await engine.end_delegation(session, actor.user_id, delegation_id)

    @get("/flows/{kind:str}", guards=[requires(codes.FLOW_MANAGE)])
    async def flow(self, session: DbSession, registry: Registry, kind: FromPath[str]) -> VersionOut:
        flows.declared_kind(registry, kind)
        version = await flows.current_version(session, kind)
        return VersionOut(
            kind=kind,
            version=version.version if version else 0,
            flow=flow_body(flows.flow_of(version)),
        )

    @put("/flows/{kind:str}", guards=[requires(codes.FLOW_MANAGE)])
    async def save_flow(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        kind: FromPath[str],
        data: JSONBody[FlowBody],
    ) -> VersionOut:
        saved = await flows.save_flow(
            session, registry, kind, flow_in(data), actor_id=actor.user_id
        )
        return VersionOut(kind=kind, version=saved.version, flow=flow_body(flows.flow_of(saved)))

    @post(
        "/flows/{kind:str}/preview", guards=[requires(codes.FLOW_MANAGE)], status_code=HTTP_200_OK
    )
    async def preview(
        self,
        session: DbSession,
        registry: Registry,
        kind: FromPath[str],
        data: JSONBody[PreviewIn],
    ) -> list[PreviewStepOut]:
        flow = None if data.flow is None else flow_in(data.flow)
        steps = await flows.preview(
            session, registry, kind, flow, data.requester_id, dict(data.fields)
        )
        return [PreviewStepOut(**_fields(s)) for s in steps]


ROUTERS = (ApprovalApi,)
