"""The tasks JSON API under ``/api/t/{slug}/oa/tasks``: list (with the "mine" and
"created" views and filters), create (also from a record: ``record_type`` and
``record_id``, which the caller must be able to read), read (with subtasks and progress),
change (with the ``version`` read: 409 when stale), and move to a status.

Comments go on the task's timeline through core's record API
(``/api/t/{slug}/records/oa.task/{id}/comments``).
"""

from __future__ import annotations

import uuid
from datetime import date

import msgspec
from litestar import get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.permissions import Actor
from core.records import access
from modules.oa import permissions as codes
from modules.oa.services import tasks
from modules.oa.services.tasks import NewTask, TaskChanges, TaskFilters, TaskPage, TaskRow
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires

BASE = "/oa/tasks"


class TaskIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new task; ``assignee_id`` defaults to you, ``parent_id`` makes it a subtask,
    ``record_type``/``record_id`` link it to the record it is about."""

    title: str
    description: str = ""
    assignee_id: uuid.UUID | None = None
    due_on: date | None = None
    priority: str = "normal"
    parent_id: uuid.UUID | None = None
    record_type: str | None = None
    record_id: uuid.UUID | None = None


class MoveIn(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    version: int | UnsetType = UNSET


class ProgressOut(msgspec.Struct, frozen=True, kw_only=True):
    done: int
    total: int


class TaskOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    title: str
    description: str
    status: str
    priority: str
    due_on: date | None
    overdue: bool
    assignee_id: uuid.UUID
    assignee_name: str
    creator_id: uuid.UUID
    creator_name: str
    parent_id: uuid.UUID | None
    record_type: str | None
    record_id: uuid.UUID | None
    version: int
    progress: ProgressOut | None
    subtasks: list[TaskRow]


async def task_out(session: AsyncSession, actor: Actor, task_id: uuid.UUID) -> TaskOut:
    view = await tasks.view_of(session, actor, await tasks.get_task(session, actor, task_id))
    t = view.task
    return TaskOut(
        id=t.id,
        title=t.title,
        description=t.description,
        status=t.status,
        priority=t.priority,
        due_on=t.due_on,
        overdue=view.overdue,
        assignee_id=t.assignee_id,
        assignee_name=view.assignee_name,
        creator_id=t.creator_id,
        creator_name=view.creator_name,
        parent_id=t.parent_id,
        record_type=t.record_type,
        record_id=t.record_id,
        version=t.version,
        progress=ProgressOut(done=view.progress.done, total=view.progress.total)
        if view.progress
        else None,
        subtasks=view.subtasks,
    )


@get(BASE, guards=[requires(codes.TASK_READ)], summary="Tasks, soonest due first")
async def list_tasks(
    session: DbSession,
    actor: CurrentActor,
    view: FromQuery[str] = "all",
    status: FromQuery[str | None] = None,
    priority: FromQuery[str | None] = None,
    assignee_id: FromQuery[uuid.UUID | None] = None,
    overdue: FromQuery[bool] = False,
    q: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50,
) -> TaskPage:
    """``view`` is ``mine`` (assigned to you), ``created`` (assigned by you) or ``all`` (in
    your scope); ``status`` one of todo, in_progress, done, canceled, or ``open``. Pass
    ``next_cursor`` back as ``after`` for the next page (at most 200 a page)."""
    if view not in tasks.VIEWS:
        raise ValidationFailed("A view is one of {choices}.", choices=", ".join(tasks.VIEWS))
    filters = TaskFilters(
        view=view,
        status=status or None,
        priority=priority or None,
        assignee_id=assignee_id,
        overdue=overdue,
        search=q,
    )
    return await tasks.list_tasks(session, actor, filters, cursor=after or None, limit=limit)


@post(BASE, guards=[requires(codes.TASK_WRITE)], summary="Create a task")
async def create_task(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: JSONBody[TaskIn],
) -> TaskOut:
    record = None
    if data.record_type is not None or data.record_id is not None:
        if data.record_type is None or data.record_id is None:
            raise ValidationFailed("Give both record_type and record_id, or neither.")
        await access.open_record(session, registry, tenant, actor, data.record_type, data.record_id)
        record = (data.record_type, data.record_id)
    made = await tasks.create_task(
        session,
        actor,
        NewTask(
            title=data.title,
            description=data.description,
            assignee_id=data.assignee_id,
            due_on=data.due_on,
            priority=data.priority,
            parent_id=data.parent_id,
            record=record,
        ),
    )
    return await task_out(session, actor, made.id)


@get(f"{BASE}/{{task_id:uuid}}", guards=[requires(codes.TASK_READ)], summary="A task")
async def get_task(
    session: DbSession, actor: CurrentActor, task_id: FromPath[uuid.UUID]
) -> TaskOut:
    return await task_out(session, actor, task_id)


@patch(f"{BASE}/{{task_id:uuid}}", guards=[requires(codes.TASK_WRITE)], summary="Change a task")
async def update_task(
    session: DbSession,
    actor: CurrentActor,
    task_id: FromPath[uuid.UUID],
    data: JSONBody[TaskChanges],
) -> TaskOut:
    """Send the ``version`` you read: when someone changed the task since, 409."""
    await tasks.update_task(session, actor, task_id, data)
    return await task_out(session, actor, task_id)


@post(
    f"{BASE}/{{task_id:uuid}}/move",
    guards=[requires(codes.TASK_WRITE)],
    summary="Move a task to a status",
    status_code=200,
)
async def move_task(
    session: DbSession, actor: CurrentActor, task_id: FromPath[uuid.UUID], data: JSONBody[MoveIn]
) -> TaskOut:
    """Done is refused (409) while a subtask is open."""
    version = None if isinstance(data.version, UnsetType) else data.version
    await tasks.move_task(session, actor, task_id, data.status, version)
    return await task_out(session, actor, task_id)


ROUTERS = [list_tasks, create_task, get_task, update_task, move_task]
