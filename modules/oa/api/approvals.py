"""The approvals JSON API under ``/api/t/{slug}/oa/approvals``: the inbox, an approval with
its steps and timeline, the actions on it (approve, reject, transfer, add an approver,
return, resubmit, withdraw, urge), delegation while away, and for admins the flows: read,
save a new version, preview who would approve.

The inbox and actions need ``oa.approval.read``, the flows and the workspace's approval
settings ``oa.flow.manage`` (a guard answers 403 naming the code). An approval the member
is not part of is 404; an action that no longer applies (decided already, not the member's
turn) is 409. The actions share one shape, so one table (:data:`ACTIONS`) makes their
routes.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.services import approval_batch, approval_inbox, approval_reminders, engine, flows
from modules.oa.services.flows import Condition, FlowIn, StepIn
from web.deps import CurrentActor, DbSession, Registry
from web.shell import COUNT_CAP as CAP
from web.tenancy import requires

#: The response header that carries the inbox's next page (``after``).
NEXT_CURSOR = "X-Next-Cursor"


class CommentIn(msgspec.Struct, frozen=True, kw_only=True):
    comment: str = ""


class SomeoneIn(msgspec.Struct, frozen=True, kw_only=True):
    to_user_id: uuid.UUID
    comment: str = ""
    before: bool = False  # adding an approver: before oneself, or after


class ReturnIn(msgspec.Struct, frozen=True, kw_only=True):
    step: int | None = None  # None: to the requester
    comment: str = ""


class BatchIn(msgspec.Struct, frozen=True, kw_only=True):
    ids: list[uuid.UUID]
    comment: str = ""


class BatchOut(msgspec.Struct, frozen=True, kw_only=True):
    approved: list[uuid.UUID]
    not_waiting: list[uuid.UUID]


class CountsOut(msgspec.Struct, frozen=True, kw_only=True):
    todo: int


class SettingsIn(msgspec.Struct, frozen=True, kw_only=True):
    #: A waiting step reminds its approver after this many hours (0: never)...
    remind_after_hours: int
    #: ...and again this often while it still waits (0: once).
    remind_every_hours: int = 0

    @staticmethod
    def of(saved: approval_reminders.Reminders) -> SettingsIn:
        return SettingsIn(
            remind_after_hours=saved.after_hours, remind_every_hours=saved.every_hours
        )


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
        kind: FromQuery[str] = "",
        status: FromQuery[str] = "",
        requester: FromQuery[str] = "",
        submitted_from: Annotated[str, QueryParameter(name="from")] = "",
        submitted_to: Annotated[str, QueryParameter(name="to")] = "",
        q: FromQuery[str] = "",
        after: FromQuery[str] = "",
    ) -> Response[list[ItemOut]]:
        """A box's approvals, newest first, narrowed by the filters (``kind``, ``status``,
        ``requester`` id, submitted ``from``/``to`` days, text ``q``); a page at a time:
        the ``X-Next-Cursor`` header, when there is one, is ``after`` for the next page."""
        typed = {
            "kind": kind,
            "status": status,
            "requester": requester,
            "from": submitted_from,
            "to": submitted_to,
            "q": q,
        }
        filters = approval_inbox.read_filters(registry, typed)
        page = await approval_inbox.inbox(session, registry, actor, box, filters, after=after)
        items = [
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
            for i in page.items
        ]
        headers = {NEXT_CURSOR: page.next_cursor} if page.next_cursor else {}
        return Response(items, headers=headers)

    @get("/counts", guards=[requires(codes.APPROVAL_READ)])
    async def counts(self, session: DbSession, actor: CurrentActor) -> CountsOut:
        """How many approvals wait for the member now (up to 100: the badge's cap)."""
        return CountsOut(todo=await approval_inbox.waiting_count(session, actor.user_id, CAP))

    @post("/batch/approve", guards=[requires(codes.APPROVAL_READ)], status_code=HTTP_200_OK)
    async def approve_many(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[BatchIn]
    ) -> BatchOut:
        """Approve each of ``ids`` on its own; those that no longer wait for the member
        come back in ``not_waiting`` while the others go through."""
        done = await approval_batch.approve_all(session, actor, data.ids, data.comment)
        return BatchOut(approved=done.approved, not_waiting=done.not_waiting)

    @get("/settings", guards=[requires(codes.FLOW_MANAGE)])
    async def settings(self, session: DbSession) -> SettingsIn:
        return SettingsIn.of(await approval_reminders.reminders(session))

    @put("/settings", guards=[requires(codes.FLOW_MANAGE)])
    async def save_settings(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[SettingsIn]
    ) -> SettingsIn:
        wanted = approval_reminders.Reminders(data.remind_after_hours, data.remind_every_hours)
        return SettingsIn.of(await approval_reminders.save_reminders(session, actor, wanted))

    @get("/{instance_id:uuid}", guards=[requires(codes.APPROVAL_READ)])
    async def instance(
        self,
        session: DbSession,
        registry: Registry,
        actor: CurrentActor,
        instance_id: FromPath[uuid.UUID],
    ) -> InstanceOut:
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
        await flows.flow_kind(session, registry, kind)  # a module's kind or a form's
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


Act = Callable[[AsyncSession, uuid.UUID, uuid.UUID, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Action:
    """One action on an approval: its path, its JSON body (None: it takes none), and what it
    asks the engine to do with the instance, the member and the body."""

    path: str
    body: type[msgspec.Struct] | None
    run: Act


ACTIONS = (
    Action(
        "approve",
        CommentIn,
        lambda s, i, u, d: engine.decide(s, i, u, approve=True, comment=d.comment),
    ),
    Action(
        "reject",
        CommentIn,
        lambda s, i, u, d: engine.decide(s, i, u, approve=False, comment=d.comment),
    ),
    Action(
        "transfer", SomeoneIn, lambda s, i, u, d: engine.transfer(s, i, u, d.to_user_id, d.comment)
    ),
    Action(
        "add",
        SomeoneIn,
        lambda s, i, u, d: engine.add_signer(
            s, i, u, d.to_user_id, before=d.before, comment=d.comment
        ),
    ),
    Action(
        "return",
        ReturnIn,
        lambda s, i, u, d: engine.return_to(s, i, u, step=d.step, comment=d.comment),
    ),
    Action("resubmit", CommentIn, lambda s, i, u, d: engine.resubmit(s, i, u, d.comment)),
    Action("withdraw", CommentIn, lambda s, i, u, d: engine.withdraw(s, i, u, d.comment)),
    Action("urge", None, lambda s, i, u, d: engine.urge(s, i, u)),
)


def action_route(action: Action) -> HTTPRouteHandler:
    """``POST /oa/approvals/{id}/<action>``: the member must see the approval (else 404);
    the engine acts (409 when it no longer applies); the answer is the approval as now."""

    async def act(
        session: AsyncSession,
        registry: ModuleRegistry,
        actor: Actor,
        instance_id: uuid.UUID,
        data: Any = None,
    ) -> InstanceOut:
        await approval_inbox.visible_instance(session, actor, instance_id)
        await action.run(session, instance_id, actor.user_id, data)
        return await instance_out(session, registry, actor, instance_id)

    act.__name__ = act.__qualname__ = f"{action.path}_approval"
    act.__doc__ = f"The {action.path} action on an approval."
    # Real annotations (not this module's strings): the body's type is the table's.
    act.__annotations__ = {
        "session": DbSession,
        "registry": Registry,
        "actor": CurrentActor,
        "instance_id": FromPath[uuid.UUID],
        "return": InstanceOut,
    }
    if action.body is None:
        act.__signature__ = _without_body(act)  # type: ignore[attr-defined]
    else:
        act.__annotations__["data"] = JSONBody[action.body]  # type: ignore[valid-type]
    return post(
        f"{ApprovalApi.path}/{{instance_id:uuid}}/{action.path}",
        guards=[requires(codes.APPROVAL_READ)],
        status_code=HTTP_200_OK,
    )(act)


def _without_body(function: Callable[..., Any]) -> inspect.Signature:
    signature = inspect.signature(function)
    return signature.replace(
        parameters=[p for name, p in signature.parameters.items() if name != "data"]
    )


ROUTERS = (ApprovalApi, *(action_route(action) for action in ACTIONS))
