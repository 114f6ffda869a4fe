"""What the approvals pages read: a member's inbox (to do, done, started by me, copied to
me) and one instance with its steps and timeline.

A member sees an instance they asked for, approve (or approved), or were copied on; with
``oa.approval.manage`` (owners and admins) they see every instance of the workspace.
Anything else is 404, as if it did not exist.

Every box takes the same :class:`Filters` (kind, status, requester, submitted between two
days in the reader's time zone, a text search over the subject's title, the requester's
name and the kind's label) and pages by keyset (``after``: the last instance id shown;
instance ids are time-ordered uuid7s, so "newest first" is "id descending").

A box's page is the hot read of the module (every inbox visit, the API, "More"): it is one
prebuilt tenant read (``core.reads.TenantRead``) per shape of the query, the requester's
name joined in, rows instead of ORM objects. The instance's own page keeps the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Text,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.i18n import N_, gettext
from core.models import ApprovalRequest, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.reads import TenantRead
from modules.oa import permissions as codes
from modules.oa.models import ApprovalAction, ApprovalInstance, ApprovalTask
from modules.oa.models.approvals import INSTANCE_STATUSES
from modules.oa.services import calendar_times, engine, flows, forms
from modules.oa.services.flows import PlannedStep

BOXES = {
    "todo": N_("To do"),
    "done": N_("Done"),
    "started": N_("Started by me"),
    "copied": N_("Copied to me"),
    "all": N_("All approvals"),  # with oa.approval.manage only
}
#: Instances a box shows at once; "More" (``after``) shows the next ones.
PAGE_SIZE = 30
#: The longest text search, as typed.
MAX_SEARCH = 100


@dataclass(frozen=True, slots=True)
class Listed:
    """An instance as a box lists it: what its card and the API's item show."""

    id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    requester_id: uuid.UUID
    status: str
    current_step: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Item:
    instance: Listed
    kind_label: str
    requester: str


def boxes_for(actor: Actor) -> dict[str, str]:
    """The boxes the actor may open: every approval of the workspace for managers."""
    if actor.can(codes.APPROVAL_MANAGE):
        return BOXES
    return {key: label for key, label in BOXES.items() if key != "all"}


@dataclass(frozen=True, slots=True)
class Filters:
    """What a box is narrowed to; the defaults narrow nothing."""

    kind: str = ""
    status: str = ""
    requester_id: uuid.UUID | None = None
    submitted_from: date | None = None
    submitted_to: date | None = None
    search: str = ""


#: The filters' query parameters (the page's inputs and the API's), in the form's order.
FILTER_FIELDS = ("kind", "status", "requester", "from", "to", "q")


def read_filters(registry: ModuleRegistry, typed: Mapping[str, str]) -> Filters:
    """The filters as typed in the query (:data:`FILTER_FIELDS`); a value that is not one
    of the choices, or a day that is not a date, is refused naming its input."""
    kind = typed.get("kind", "").strip()
    if kind and registry.approval_kind(kind) is None and forms.code_of_flow(kind) is None:
        # A form's flow key naming no form of this workspace finds nothing.
        raise ValidationFailed("No approval kind {kind}.", kind=kind, field="kind")
    status = typed.get("status", "").strip()
    if status and status not in INSTANCE_STATUSES:
        raise ValidationFailed("No approval status {status}.", status=status, field="status")
    first, last = _day(typed, "from"), _day(typed, "to")
    if first and last and last < first:
        raise ValidationFailed("The last day comes before the first.", field="to")
    search = typed.get("q", "").strip()
    if len(search) > MAX_SEARCH:
        raise ValidationFailed(
            "Search with at most {count} characters.", count=MAX_SEARCH, field="q"
        )
    return Filters(kind, status, _requester(typed), first, last, search)


def _day(typed: Mapping[str, str], name: str) -> date | None:
    value = typed.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            "{value} is not a date; use the form {example}.",
            value=value,
            example="2026-03-05",
            field=name,
        ) from None


def _requester(typed: Mapping[str, str]) -> uuid.UUID | None:
    value = typed.get("requester", "").strip()
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("Choose one from the list.", field="requester") from None


def _after(typed: str | None) -> uuid.UUID | None:
    if not typed:
        return None
    try:
        return uuid.UUID(typed)
    except ValueError:
        raise ValidationFailed("This list has no such page.", field="after") from None


class InboxPage(list[Item]):
    """One page of a box: its items (the page is their list, so callers that only iterate
    need not know about paging) and ``next_cursor``, ``after`` for the next page (None on
    the last one)."""

    def __init__(self, items: list[Item], next_cursor: str | None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor

    @property
    def items(self) -> list[Item]:
        return self


def _constant(value: str) -> ColumnElement[Any]:
    """One of our own status or role codes, written into the statement: a prebuilt read
    is compiled once and takes only the parameters it is given."""
    return literal_column(f"'{value}'")


def _box_where(box: str, user_id: uuid.UUID | ColumnElement[Any]) -> ColumnElement[bool]:
    task = select(ApprovalTask.id).where(
        ApprovalTask.tenant_id == ApprovalInstance.tenant_id,
        ApprovalTask.instance_id == ApprovalInstance.id,
        ApprovalTask.assignee_id == user_id,
    )
    if box == "todo":
        return exists(
            task.where(
                ApprovalTask.role == _constant("approve"),
                ApprovalTask.status == _constant("pending"),
                ApprovalTask.step == ApprovalInstance.current_step,
            )
        ) & (ApprovalInstance.status == _constant("pending"))
    if box == "done":
        return exists(
            task.where(
                ApprovalTask.role == _constant("approve"),
                ApprovalTask.status.in_(
                    [_constant(s) for s in ("approved", "rejected", "transferred")]
                ),
            )
        )
    if box == "started":
        return ApprovalInstance.requester_id == user_id
    if box == "copied":
        return exists(task.where(ApprovalTask.role == _constant("cc")))
    return true()


#: The filters a page's statement has a condition for (its shape), with their parameters.
_NARROWED = ("kind", "status", "requester_id", "submitted_from", "submitted_to", "search")


@lru_cache(maxsize=256)
def _page_read(box: str, narrowed: tuple[str, ...], paged: bool) -> TenantRead:
    """A box's page as a prebuilt read, for one shape: the filters given (``narrowed``) and
    whether it starts ``after`` an instance. Parameters: ``user_id``, ``limit``, ``after``
    and each narrowing filter's."""
    where = [_box_where(box, bindparam("user_id", type_=ApprovalTask.assignee_id.type))]
    if "kind" in narrowed:
        where.append(ApprovalInstance.kind == bindparam("kind"))
    if "status" in narrowed:
        where.append(ApprovalInstance.status == bindparam("status"))
    if "requester_id" in narrowed:
        where.append(ApprovalInstance.requester_id == bindparam("requester_id"))
    if "submitted_from" in narrowed:
        where.append(ApprovalInstance.created_at >= bindparam("submitted_from"))
    if "submitted_to" in narrowed:
        where.append(ApprovalInstance.created_at < bindparam("submitted_to"))
    if "search" in narrowed:
        where.append(_search_where())
    if paged:
        where.append(ApprovalInstance.id < bindparam("after"))
    return TenantRead(
        ApprovalInstance,
        select(
            ApprovalInstance.id,
            ApprovalInstance.request_id,
            ApprovalInstance.kind,
            ApprovalInstance.requester_id,
            ApprovalInstance.status,
            ApprovalInstance.current_step,
            ApprovalInstance.created_at,
            func.coalesce(User.display_name, _constant("")).label("requester"),
        )
        .outerjoin(User, User.id == ApprovalInstance.requester_id)
        .where(*where)
        .order_by(ApprovalInstance.id.desc())
        .limit(bindparam("limit")),
    )


async def _filter_params(
    session: AsyncSession, registry: ModuleRegistry, actor: Actor, filters: Filters
) -> dict[str, Any]:
    """The page statement's parameters for ``filters``: only those given (its shape)."""
    params: dict[str, Any] = {}
    if filters.kind:
        params["kind"] = filters.kind
    if filters.status:
        params["status"] = filters.status
    if filters.requester_id:
        params["requester_id"] = filters.requester_id
    if filters.submitted_from or filters.submitted_to:
        # The days are the reader's: midnight to midnight in their own time zone.
        zone = await calendar_times.zone_of(session, actor.user_id)
        if filters.submitted_from:
            day = filters.submitted_from
            params["submitted_from"] = calendar_times.local_day_span(day, day, zone)[0]
        if filters.submitted_to:
            day = filters.submitted_to
            params["submitted_to"] = calendar_times.local_day_span(day, day, zone)[1]
    if filters.search:
        params["search"] = _like_escaped(filters.search)
        params["search_kinds"] = await _kinds_labelled(session, registry, filters.search)
    return params


def _search_where() -> ColumnElement[bool]:
    """The subject's title (a ``title`` field the requesting module passed), the
    requester's name, or the kind's label in English or the reader's language
    (``search_kinds``, from :func:`_kinds_labelled`); ``search`` is escaped for LIKE."""
    search = bindparam("search", type_=Text)
    titled = select(ApprovalRequest.id).where(
        ApprovalRequest.tenant_id == ApprovalInstance.tenant_id,
        ApprovalRequest.id == ApprovalInstance.request_id,
        ApprovalRequest.fields.op("->>", return_type=Text)(_constant("title")).icontains(
            search, escape="/"
        ),
    )
    named = User.display_name.icontains(search, escape="/")  # the requester, joined
    kinds = bindparam("search_kinds", type_=ARRAY(String))
    return or_(exists(titled), named, ApprovalInstance.kind == any_(kinds))


def _like_escaped(search: str) -> str:
    """``search`` matched literally by LIKE … ESCAPE '/' (what ``autoescape`` does)."""
    return search.replace("/", "//").replace("%", "/%").replace("_", "/_")


async def _kinds_labelled(
    session: AsyncSession, registry: ModuleRegistry, search: str
) -> list[str]:
    wanted = search.casefold()
    labels = await flows.every_kind_label(session, registry)
    return [
        kind
        for kind, label in labels.items()
        if wanted in label.casefold() or wanted in gettext(label).casefold()
    ]


async def inbox(
    session: AsyncSession,
    registry: ModuleRegistry,
    actor: Actor,
    box: str,
    filters: Filters = Filters(),
    *,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> InboxPage:
    """One page of a box's instances that pass ``filters``, newest first."""
    actor.require(codes.APPROVAL_READ)
    if box not in boxes_for(actor):
        raise ValidationFailed("No approvals box {box}.", box=box, field="box")
    params = await _filter_params(session, registry, actor, filters)
    cursor = _after(after)
    read = _page_read(box, tuple(n for n in _NARROWED if n in params), cursor is not None)
    if cursor is not None:
        params["after"] = cursor
    rows = await read.rows(session, user_id=actor.user_id, limit=limit + 1, **params)
    labels = await flows.kind_labels(session, {row["kind"] for row in rows}, registry)
    items = [  # a row's first seven columns are Listed's fields, in order
        Item(Listed(*row[:7]), labels[row["kind"]], row["requester"]) for row in rows[:limit]
    ]
    return InboxPage(items, str(items[-1].instance.id) if len(rows) > limit else None)


async def waiting_count(session: AsyncSession, user_id: uuid.UUID, cap: int) -> int:
    """How many approvals wait for ``user_id`` now (the To do box), counting up to ``cap``:
    the inbox's tab and the navigation's badge (``atrium_approvals_waiting``)."""
    waiting = select(ApprovalInstance.id).where(_box_where("todo", user_id)).limit(cap)
    return await session.scalar(select(func.count()).select_from(waiting.subquery())) or 0


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
        kind_label=(await flows.kind_labels(session, [instance.kind], registry))[instance.kind],
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
