"""OA tasks: creating, assigning, editing, moving through statuses, subtasks, the board, the
lists, the tasks of a record, and the due-today reminders.

Decisions (docs/modules/oa.md, "Tasks"):

- Statuses: to do, in progress, done, canceled. Any move between them is allowed (the board
  drags freely; a done task may be reopened), but **a task cannot be done while any of its
  subtasks is still open** (to do or in progress): finish or cancel them first (409).
  Canceled subtasks do not count in the parent's progress ("done of total").
- Subtasks are one level deep: a subtask cannot have subtasks of its own.
- Data scope "own" on ``oa.task``: tasks the member created or is assigned, and the
  subtasks of those; a wider scope (custom roles, admins) sees every task.
- Edits carry the ``version`` read: a stale one is refused with 409 (optimistic
  concurrency, SQLAlchemy's version counter); moves lock the row (``FOR UPDATE``).
- The assignee is notified (core notifications) when a task is given to them by someone
  else, and on the morning (UTC) of the day it is due.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.permissions import Actor, Scope
from core.records.access import RecordType
from core.records.models import Notification
from core.records.timeline import track_changes
from modules.oa import permissions as codes
from modules.oa.models.tasks import OPEN_STATUSES, TASK_PRIORITIES, TASK_STATUSES, Task

RECORD = "oa.task"
RESOURCE = "oa.task"
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_PAGE = 200
BOARD_CARDS = 100  # cards shown per column; the list has the rest
LATEST_DAY = date(9999, 12, 31)  # where a task with no due date sorts: last

STATUS_LABELS = {
    "todo": N_("To do"),
    "in_progress": N_("In progress"),
    "done": N_("Done"),
    "canceled": N_("Canceled"),
}
PRIORITY_LABELS = {
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
}
#: The fields a task's timeline tracks, with their labels (msgids), in display order.
TRACKED = {
    "title": N_("Title"),
    "assignee": N_("Assignee"),
    "due_on": N_("Due date"),
    "priority": N_("Priority"),
    "status": N_("Status"),
    "description": N_("Description"),
}
#: The lists: tasks assigned to me, tasks I created, every task in my scope.
VIEWS = ("mine", "created", "all")

ASSIGNED = N_("{author} assigned you a task: {title}")
DUE_TODAY = N_("Task due today: {title}")


# --- who sees what ---------------------------------------------------------------------------


def _own(actor: Actor, model: Any) -> ColumnElement[bool]:
    return or_(model.creator_id == actor.user_id, model.assignee_id == actor.user_id)


def visible_tasks(actor: Actor) -> ColumnElement[bool]:
    """The tasks ``actor`` may see: with the "all" scope every one; with a narrower one, the
    tasks they created or are assigned, and the subtasks of those (department scopes count
    as "own": a task has no department of its own)."""
    scope = actor.scope(RESOURCE)
    if scope is Scope.ALL:
        return true()
    if scope is None:
        return false()
    parent = aliased(Task)
    own_parents = select(parent.id).where(_own(actor, parent))
    return or_(_own(actor, Task), Task.parent_id.in_(own_parents))


async def get_task(
    session: AsyncSession, actor: Actor, task_id: uuid.UUID, *, for_update: bool = False
) -> Task:
    """The task if it exists and ``actor`` sees it; the same 404 for "not there" and "not
    yours"."""
    actor.require(codes.TASK_READ)
    query = select(Task).where(Task.id == task_id, visible_tasks(actor))
    if for_update:
        # The row as now committed, locked: an object loaded earlier must not keep old values.
        query = query.with_for_update().execution_options(populate_existing=True)
    found = await session.scalar(query)
    if found is None:
        raise NotFound(N_("No task {id}."), id=str(task_id))
    return found


# --- checks ----------------------------------------------------------------------------------


def check_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise ValidationFailed(N_("Give the task a title."), field="title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed(
            N_("A title has at most {max} characters."), max=MAX_TITLE, field="title"
        )
    return title


def check_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            N_("A description has at most {max} characters."),
            max=MAX_DESCRIPTION,
            field="description",
        )
    return description


def check_due(due_on: date | None, today: date) -> date | None:
    """A due date being set may not lie in the past (one already set may, once overdue)."""
    if due_on is not None and due_on < today:
        raise ValidationFailed(
            N_("The due date {day} is in the past: choose today or later."),
            day=due_on.isoformat(),
            field="due_on",
        )
    return due_on


def check_priority(priority: str) -> str:
    if priority not in TASK_PRIORITIES:
        raise ValidationFailed(
            N_("A priority is one of {choices}."),
            choices=", ".join(TASK_PRIORITIES),
            field="priority",
        )
    return priority


def check_status(status: str) -> str:
    if status not in TASK_STATUSES:
        raise ValidationFailed(
            N_("A status is one of {choices}."), choices=", ".join(TASK_STATUSES), field="status"
        )
    return status


async def check_assignee(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID:
    active = await session.scalar(
        select(Membership.user_id).where(Membership.user_id == user_id, Membership.active)
    )
    if active is None:
        raise ValidationFailed(
            N_("Assign the task to an active member of the workspace."), field="assignee_id"
        )
    return user_id


def _today() -> date:
    return datetime.now(UTC).date()


# --- notifications ---------------------------------------------------------------------------


async def _name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return ""
    return await session.scalar(select(User.display_name).where(User.id == user_id)) or ""


async def _notify_assignee(session: AsyncSession, actor: Actor, task: Task) -> None:
    """Tell the assignee the task is theirs, unless they gave it to themselves."""
    if task.assignee_id == actor.user_id:
        return
    session.add(
        Notification(
            user_id=task.assignee_id,
            kind="oa_task_assigned",
            record_type=RECORD,
            record_id=task.id,
            message=ASSIGNED,
            params={"author": await _name(session, actor.user_id), "title": task.title},
        )
    )


# --- creating --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task to create. ``assignee_id`` defaults to its creator; ``parent_id`` makes it a
    subtask; ``record`` is the (record_type, record_id) it was created from, which the
    caller has checked the actor may read (``core.records.access.open_record``)."""

    title: str
    description: str = ""
    assignee_id: uuid.UUID | None = None
    due_on: date | None = None
    priority: str = "normal"
    parent_id: uuid.UUID | None = None
    record: tuple[str, uuid.UUID] | None = None


async def create_task(session: AsyncSession, actor: Actor, new: NewTask) -> Task:
    """Create a task (or a subtask) and notify its assignee."""
    actor.require(codes.TASK_WRITE)
    with session.no_autoflush:
        title = check_title(new.title)
        description = check_description(new.description)
        due_on = check_due(new.due_on, _today())
        priority = check_priority(new.priority)
        assignee_id = await check_assignee(session, new.assignee_id or actor.user_id)
        if new.parent_id is not None:
            parent = await get_task(session, actor, new.parent_id, for_update=True)
            if parent.parent_id is not None:
                raise ValidationFailed(
                    N_("A subtask cannot have subtasks of its own."), field="parent_id"
                )
            if parent.status not in OPEN_STATUSES:
                raise Conflict(N_("The task is closed: reopen it to add subtasks."))
    task = Task(
        title=title,
        description=description,
        assignee_id=assignee_id,
        creator_id=actor.user_id,
        due_on=due_on,
        priority=priority,
        status="todo",
        parent_id=new.parent_id,
        record_type=new.record[0] if new.record else None,
        record_id=new.record[1] if new.record else None,
    )
    session.add(task)
    await session.flush()
    await _notify_assignee(session, actor, task)
    await session.flush()
    return task


# --- changing --------------------------------------------------------------------------------


class TaskChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on a task; fields left out stay. ``version`` is the one read: when the
    task has changed since, nothing is changed (409)."""

    version: int | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    assignee_id: uuid.UUID | UnsetType = UNSET
    due_on: date | UnsetType | None = UNSET
    priority: str | UnsetType = UNSET


async def _tracked(session: AsyncSession, task: Task) -> dict[str, Any]:
    return {
        "title": task.title,
        "assignee": await _name(session, task.assignee_id),
        "due_on": task.due_on,
        "priority": task.priority,
        "status": task.status,
        "description": task.description or None,
    }


async def _track(session: AsyncSession, actor: Actor, task: Task, before: dict[str, Any]) -> None:
    await session.flush()
    after = await _tracked(session, task)
    await track_changes(session, RECORD, task.id, actor.user_id, before, after, TRACKED)


def stale(task: Task) -> Conflict:
    return Conflict(
        N_(
            "Someone else changed this task after you opened it, so nothing was saved:"
            " look at their change, then save yours again."
        ),
        field="version",
        version=task.version,
    )


async def update_task(
    session: AsyncSession, actor: Actor, task_id: uuid.UUID, changes: TaskChanges
) -> Task:
    """Change a task's fields; a new assignee is notified; every change goes on its timeline."""
    actor.require(codes.TASK_WRITE)
    task = await get_task(session, actor, task_id, for_update=True)
    if not isinstance(changes.version, UnsetType) and changes.version != task.version:
        raise stale(task)
    before = await _tracked(session, task)
    reassigned = False
    # One save, one UPDATE (one version): the checks' queries must not flush half of it.
    with session.no_autoflush:
        if not isinstance(changes.title, UnsetType):
            task.title = check_title(changes.title)
        if not isinstance(changes.description, UnsetType):
            task.description = check_description(changes.description)
        if not isinstance(changes.due_on, UnsetType) and changes.due_on != task.due_on:
            task.due_on = check_due(changes.due_on, _today())
        if not isinstance(changes.priority, UnsetType):
            task.priority = check_priority(changes.priority)
        if (
            not isinstance(changes.assignee_id, UnsetType)
            and changes.assignee_id != task.assignee_id
        ):
            task.assignee_id = await check_assignee(session, changes.assignee_id)
            task.reminded_on = None
            reassigned = True
    await _track(session, actor, task, before)
    if reassigned:
        await _notify_assignee(session, actor, task)
        await session.flush()
    return task


@dataclass(frozen=True, slots=True)
class Progress:
    """A parent's subtasks: how many are done of those not canceled."""

    done: int = 0
    total: int = 0


async def progress_of(
    session: AsyncSession, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Progress]:
    """Each parent's progress (parents with no subtasks are left out)."""
    if not parent_ids:
        return {}
    rows = await session.execute(
        select(
            Task.parent_id,
            func.count().filter(Task.status == "done"),
            func.count().filter(Task.status != "canceled"),
        )
        .where(Task.parent_id.in_(parent_ids))
        .group_by(Task.parent_id)
    )
    return {parent_id: Progress(done, total) for parent_id, done, total in rows}


async def move_task(
    session: AsyncSession,
    actor: Actor,
    task_id: uuid.UUID,
    status: str,
    version: int | None = None,
) -> tuple[Task, str]:
    """Put a task in ``status``; the status it left and the task. Done only once every
    subtask is done or canceled (409 otherwise)."""
    actor.require(codes.TASK_WRITE)
    status = check_status(status)
    task = await get_task(session, actor, task_id, for_update=True)
    if version is not None and version != task.version:
        raise stale(task)
    left = task.status
    if status == left:
        return task, left
    if status == "done":
        progress = (await progress_of(session, [task.id])).get(task.id, Progress())
        if progress.done < progress.total:
            raise Conflict(
                N_("Finish or cancel its subtasks first: {open} of {total} are still open."),
                open=progress.total - progress.done,
                total=progress.total,
                field="status",
            )
    before = await _tracked(session, task)
    task.status = status
    task.completed_at = datetime.now(UTC) if status == "done" else None
    await _track(session, actor, task, before)
    return task, left


# --- lists, the board and a task's page ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskFilters:
    view: str = "all"  # one of VIEWS
    status: str | None = None  # one of TASK_STATUSES, or "open" for to do and in progress
    priority: str | None = None
    assignee_id: uuid.UUID | None = None
    overdue: bool = False
    search: str | None = None
    top_level: bool = False  # leave out subtasks (the board)


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task as the lists and the board show it."""

    id: uuid.UUID
    title: str
    status: str
    priority: str
    due_on: date | None
    assignee_id: uuid.UUID
    assignee_name: str
    creator_id: uuid.UUID
    creator_name: str
    parent_id: uuid.UUID | None
    version: int
    overdue: bool
    progress: Progress | None = None


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[TaskRow]
    next_cursor: str | None = None


def is_overdue(due_on: date | None, status: str, today: date) -> bool:
    return due_on is not None and due_on < today and status in OPEN_STATUSES


def _filtered(actor: Actor, filters: TaskFilters, today: date) -> list[ColumnElement[bool]]:
    clauses = [visible_tasks(actor)]
    if filters.view == "mine":
        clauses.append(Task.assignee_id == actor.user_id)
    elif filters.view == "created":
        clauses.append(Task.creator_id == actor.user_id)
    if filters.status == "open":
        clauses.append(Task.status.in_(OPEN_STATUSES))
    elif filters.status:
        clauses.append(Task.status == check_status(filters.status))
    if filters.priority:
        clauses.append(Task.priority == check_priority(filters.priority))
    if filters.assignee_id:
        clauses.append(Task.assignee_id == filters.assignee_id)
    if filters.overdue:
        clauses.append(and_(Task.due_on < today, Task.status.in_(OPEN_STATUSES)))
    if filters.search and filters.search.strip():
        clauses.append(Task.title.ilike(f"%{_escaped(filters.search.strip())}%", escape="\\"))
    if filters.top_level:
        clauses.append(Task.parent_id.is_(None))
    return clauses


def _escaped(text: str) -> str:
    """``text`` matched literally by LIKE: its wildcards escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_due_key = func.coalesce(Task.due_on, LATEST_DAY)


def _cursor_of(row: TaskRow) -> str:
    return f"{(row.due_on or LATEST_DAY).isoformat()}_{row.id}"


def _read_cursor(cursor: str) -> tuple[date, uuid.UUID]:
    try:
        day, _, task_id = cursor.partition("_")
        return date.fromisoformat(day), uuid.UUID(task_id)
    except ValueError:
        raise ValidationFailed(N_("This page link is broken: start from the list.")) from None


async def _rows(
    session: AsyncSession, query: Any, today: date, *, with_progress: bool = True
) -> list[TaskRow]:
    assignee, creator = aliased(User), aliased(User)
    rows = list(
        await session.execute(
            query.add_columns(assignee.display_name, creator.display_name)
            .join(assignee, assignee.id == Task.assignee_id)
            .join(creator, creator.id == Task.creator_id)
        )
    )
    tasks = [row[0] for row in rows]
    progress = await progress_of(session, [t.id for t in tasks]) if with_progress else {}
    return [
        TaskRow(
            id=task.id,
            title=task.title,
            status=task.status,
            priority=task.priority,
            due_on=task.due_on,
            assignee_id=task.assignee_id,
            assignee_name=assignee_name,
            creator_id=task.creator_id,
            creator_name=creator_name,
            parent_id=task.parent_id,
            version=task.version,
            overdue=is_overdue(task.due_on, task.status, today),
            progress=progress.get(task.id),
        )
        for task, assignee_name, creator_name in rows
    ]


async def list_tasks(
    session: AsyncSession,
    actor: Actor,
    filters: TaskFilters,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> TaskPage:
    """Tasks in the actor's scope, soonest due first (no due date last); keyset pages."""
    actor.require(codes.TASK_READ)
    today = _today()
    limit = min(max(limit, 1), MAX_PAGE)
    query = select(Task).where(*_filtered(actor, filters, today))
    if cursor:
        query = query.where(tuple_(_due_key, Task.id) > tuple_(*_read_cursor(cursor)))
    query = query.order_by(_due_key, Task.id).limit(limit + 1)
    rows = await _rows(session, query, today)
    more = len(rows) > limit
    rows = rows[:limit]
    return TaskPage(rows, _cursor_of(rows[-1]) if more and rows else None)


@dataclass(frozen=True, slots=True)
class Column:
    status: str
    cards: list[TaskRow]
    count: int

    @property
    def more(self) -> int:
        return self.count - len(self.cards)


async def board(
    session: AsyncSession,
    actor: Actor,
    filters: TaskFilters,
    only: set[str] | None = None,
) -> list[Column]:
    """A column per status (or those in ``only``: the two a move touched), top-level tasks."""
    actor.require(codes.TASK_READ)
    today = _today()
    filters = TaskFilters(**{**_fields(filters), "top_level": True, "status": None})
    clauses = _filtered(actor, filters, today)
    statuses = [s for s in TASK_STATUSES if only is None or s in only]
    counts = dict(
        (
            await session.execute(
                select(Task.status, func.count()).where(*clauses).group_by(Task.status)
            )
        ).all()
    )
    columns = []
    for status in statuses:
        query = (
            select(Task)
            .where(*clauses, Task.status == status)
            .order_by(_due_key, Task.id)
            .limit(BOARD_CARDS)
        )
        columns.append(Column(status, await _rows(session, query, today), counts.get(status, 0)))
    return columns


def _fields(filters: TaskFilters) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in TaskFilters.__dataclass_fields__}


async def subtasks_of(session: AsyncSession, actor: Actor, task_id: uuid.UUID) -> list[TaskRow]:
    """The subtasks of a task the actor sees (they see its subtasks with it)."""
    query = (
        select(Task)
        .where(Task.parent_id == task_id, visible_tasks(actor))
        .order_by(case((Task.status.in_(OPEN_STATUSES), 0), else_=1), _due_key, Task.id)
    )
    return await _rows(session, query, _today(), with_progress=False)


async def tasks_of_record(
    session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID
) -> list[TaskRow]:
    """The tasks created from a record that the actor may see, open ones first."""
    query = (
        select(Task)
        .where(Task.record_type == record_type, Task.record_id == record_id, visible_tasks(actor))
        .order_by(case((Task.status.in_(OPEN_STATUSES), 0), else_=1), _due_key, Task.id)
        .limit(MAX_PAGE)
    )
    return await _rows(session, query, _today())


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task's page: the task, its people's names, its parent, its subtasks, its progress."""

    task: Task
    assignee_name: str
    creator_name: str
    parent: Task | None
    subtasks: list[TaskRow] = field(default_factory=list)
    progress: Progress | None = None
    overdue: bool = False


async def view_of(session: AsyncSession, actor: Actor, task: Task) -> TaskView:
    parent = None
    if task.parent_id is not None:
        parent = await session.scalar(
            select(Task).where(Task.id == task.parent_id, visible_tasks(actor))
        )
    subtasks = await subtasks_of(session, actor, task.id)
    progress = (await progress_of(session, [task.id])).get(task.id)
    return TaskView(
        task=task,
        assignee_name=await _name(session, task.assignee_id),
        creator_name=await _name(session, task.creator_id),
        parent=parent,
        subtasks=subtasks,
        progress=progress,
        overdue=is_overdue(task.due_on, task.status, _today()),
    )


# --- the daily reminder ----------------------------------------------------------------------


async def remind_due_today(session: AsyncSession, now: datetime) -> list[Notification]:
    """Notify each assignee of their open tasks due today (the UTC date of ``now``).

    Idempotent: the UPDATE claims only tasks not yet reminded today, so a second run (or a
    concurrent one, blocked on the same rows) reminds no one twice.
    """
    if now.tzinfo is None:
        raise ValueError("remind_due_today needs an aware datetime")
    today = now.astimezone(UTC).date()
    claimed = await session.execute(
        update(Task)
        .where(
            Task.due_on == today,
            Task.status.in_(OPEN_STATUSES),
            or_(Task.reminded_on.is_(None), Task.reminded_on < today),
        )
        .values(reminded_on=today)
        .returning(Task.id, Task.assignee_id, Task.title)
        .execution_options(synchronize_session=False)
    )
    notifications = [
        Notification(
            user_id=row.assignee_id,
            kind="oa_task_due",
            record_type=RECORD,
            record_id=row.id,
            message=DUE_TODAY,
            params={"title": row.title},
        )
        for row in claimed
    ]
    session.add_all(notifications)
    await session.flush()
    return notifications


async def due_today_job(session: AsyncSession, _ctx: Any) -> None:
    """The daily scheduled job (manifest): remind assignees of the tasks due today."""
    await remind_due_today(session, datetime.now(UTC))


async def _task_visible(session: AsyncSession, actor: Actor, task_id: uuid.UUID) -> None:
    await get_task(session, actor, task_id)


#: A task as a record: its attachments and timeline (comments, tracked changes) hang on it.
TASK_RECORD = RecordType(RECORD, codes.TASK_READ, codes.TASK_WRITE, _task_visible, "/oa/tasks/{id}")
