"""Task pages under ``/t/{slug}/oa/tasks``: the list ("My tasks", "Assigned by me", all in
my scope; filters; overdue marked; keyset "More"), the board (a column per status; cards
dragged between columns by the generic board script, or moved with each card's "Move to"
form without JavaScript), the form for a new task (also a subtask, or a task created from
any record's page: ``record_type`` and ``record_id``, which the member must be able to
read), a task's page (status, subtasks with progress, its attachments and timeline, where
comments go) and its edit form (the ``version`` read: a stale save is refused with 409).

The same services and scopes as the JSON API. A refusal is shown beside its input with
what was typed (``web.forms.Refusal``); its status rolls the request back. On the board a
move posts by htmx and the answer swaps the two columns it touched (``#status-{key}``, out
of band); a refused move says why in ``#board-dialog``.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.plugins.results import Panel
from core.records import access
from core.records.views import record_sections
from modules.oa import permissions as codes
from modules.oa.services import tasks
from modules.oa.services.tasks import NewTask, TaskChanges, TaskFilters
from modules.oa.views.common import page
from web.auth import FormData, local_target
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import (
    Refusal,
    answer_form,
    attempt,
    maybe_id,
    read_day,
    read_id,
    read_version,
    saved_since,
    typed_in,
)
from web.htmx import wants_partial
from web.tenancy import requires

TAB = "/oa/tasks"
CHOICES_MAX = 500
#: The list's views, with their labels (msgids).
VIEW_LABELS = {"mine": N_("My tasks"), "created": N_("Assigned by me"), "all": N_("All tasks")}


async def choices_of_members(session: AsyncSession) -> list[tuple[str, str]]:
    """Active members for the assignee select: user id, name."""
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.active)
        .order_by(User.display_name)
        .limit(CHOICES_MAX)
    )
    return [(str(uid), name) for uid, name in rows]


def _labels() -> dict[str, Any]:
    return {
        "status_labels": tasks.STATUS_LABELS,
        "priority_labels": tasks.PRIORITY_LABELS,
        "view_labels": VIEW_LABELS,
    }


# --- the list --------------------------------------------------------------------------------


@get(TAB, guards=[requires(codes.TASK_READ)])
async def tasks_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    view: FromQuery[str] = "mine",
    status: FromQuery[str] = "",
    priority: FromQuery[str] = "",
    overdue: FromQuery[str] = "",
    q: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    view = view if view in tasks.VIEWS else "mine"
    shown = {"view": view, "status": status, "priority": priority, "overdue": overdue, "q": q}
    filters = TaskFilters(
        view=view,
        status=status if status == "open" or status in tasks.STATUS_LABELS else None,
        priority=priority if priority in tasks.PRIORITY_LABELS else None,
        overdue=overdue == "1",
        search=q or None,
    )
    error: DomainError | None = None
    try:
        found = await tasks.list_tasks(session, actor, filters, cursor=after)
    except ValidationFailed as refused:  # a tampered "More" link
        error, found = refused, await tasks.list_tasks(session, actor, filters)
    more_url = None
    if found.next_cursor:
        query = {**{k: v for k, v in shown.items() if v}, "after": found.next_cursor}
        more_url = f"/t/{tenant.slug}{TAB}?{urlencode(query)}"
    context = {"page": found, "first_page": after is None, "more_url": more_url, **_labels()}
    if wants_partial(request) and after is not None:
        return page("oa/tasks/_rows.html", tenant, actor, TAB, **context)
    return page(
        "oa/tasks/index.html",
        tenant,
        actor,
        TAB,
        **context,
        filters=shown,
        filter_error=error,
        can_write=actor.can(codes.TASK_WRITE),
    )


# --- the board -------------------------------------------------------------------------------


def _board_filters(view: str) -> TaskFilters:
    return TaskFilters(view=view if view in tasks.VIEWS else "all")


@get(f"{TAB}/board", guards=[requires(codes.TASK_READ)])
async def board_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, view: FromQuery[str] = "all"
) -> Template:
    filters = _board_filters(view)
    return page(
        "oa/tasks/board.html",
        tenant,
        actor,
        TAB,
        columns=await tasks.board(session, actor, filters),
        view=filters.view,
        can_write=actor.can(codes.TASK_WRITE),
        **_labels(),
    )


@post(f"{TAB}/{{task_id:uuid}}/move", guards=[requires(codes.TASK_WRITE)])
async def move_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    task_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    """``status`` (or ``stage_id``, where the generic board script puts the column's key)
    and ``next``, where the browser goes back to (the board, or the task's page). With
    htmx the answer swaps the two columns it touched, or says why in ``#board-dialog``."""
    status = data.get("status") or data.get("stage_id", "")
    form = {"status": status}
    moved: list[str] = []

    async def move() -> None:
        _task, left = await tasks.move_task(session, actor, task_id, status)
        moved.extend((left, status))

    error = await attempt(session, move)
    if isinstance(error, NotFound | PermissionDenied):
        raise error  # a refusal of access is never shown in place
    back = local_target(data.get("next", ""), f"/t/{tenant.slug}{TAB}/{task_id}")
    if wants_partial(request):
        view = data.get("view", "all")
        only = set(moved) if error is None else set()
        columns = await tasks.board(session, actor, _board_filters(view), only=only)
        return page(
            "oa/tasks/_moved.html",
            tenant,
            actor,
            TAB,
            columns=columns,
            view=view,
            error=error,
            can_write=True,
            **_labels(),
        )
    if error is None:
        return Redirect(back, status_code=HTTP_303_SEE_OTHER)
    return await _detail(
        session, tenant, actor, registry, task_id, refusal=Refusal.of("move", form, error)
    )


# --- a new task ------------------------------------------------------------------------------

NEW_FIELDS = (
    "title",
    "description",
    "assignee_id",
    "due_on",
    "priority",
    "parent_id",
    "record_type",
    "record_id",
)


async def _linked_record(
    session: AsyncSession,
    registry: ModuleRegistry,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
) -> tuple[str, uuid.UUID] | None:
    """The record the task is created from, once the member may read it (403/404 else)."""
    if not form["record_type"] and not form["record_id"]:
        return None
    record_id = maybe_id(form["record_id"])
    if record_id is None:
        raise ValidationFailed("Choose one from the list.", field="record_id")
    await access.open_record(session, registry, tenant, actor, form["record_type"], record_id)
    return form["record_type"], record_id


async def _new_page(
    session: AsyncSession,
    registry: ModuleRegistry,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    parent_id = maybe_id(form["parent_id"])
    parent = await tasks.get_task(session, actor, parent_id) if parent_id else None
    record = await _linked_record(session, registry, tenant, actor, form)
    return page(
        "oa/tasks/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        task=None,
        parent=parent,
        record_url=access.record_page(registry, tenant, *record) if record else None,
        form=form,
        refusal=refusal,
        members=await choices_of_members(session),
        me=str(actor.user_id),
        **_labels(),
    )


@get(f"{TAB}/new", guards=[requires(codes.TASK_WRITE)])
async def new_task_page(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    parent_id: FromQuery[str] = "",
    record_type: FromQuery[str] = "",
    record_id: FromQuery[str] = "",
) -> Template:
    form = {**dict.fromkeys(NEW_FIELDS, ""), "priority": "normal"}
    form |= {"parent_id": parent_id, "record_type": record_type, "record_id": record_id}
    return await _new_page(session, registry, tenant, actor, form)


@post(f"{TAB}/new", guards=[requires(codes.TASK_WRITE)])
async def create_from_page(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *NEW_FIELDS)
    # The record's access check comes first and is never a refusal shown in place.
    record = await _linked_record(session, registry, tenant, actor, form)
    made: list[uuid.UUID] = []

    async def create() -> None:
        task = await tasks.create_task(
            session,
            actor,
            NewTask(
                title=form["title"],
                description=form["description"],
                assignee_id=read_id("assignee_id", form["assignee_id"]),
                due_on=read_day("due_on", form["due_on"]),
                priority=form["priority"] or "normal",
                parent_id=read_id("parent_id", form["parent_id"]),
                record=record,
            ),
        )
        made.append(task.id)

    return await answer_form(
        session,
        "new",
        form,
        create,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0]}",
        refused=lambda refusal: _new_page(session, registry, tenant, actor, form, refusal=refusal),
    )


# --- a task's page ---------------------------------------------------------------------------


async def _detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    task_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    task = await tasks.get_task(session, actor, task_id)
    view = await tasks.view_of(session, actor, task)
    here = f"/t/{tenant.slug}{TAB}/{task.id}"
    sections = await record_sections(
        session, tenant, actor, access.record_type(registry, tenant, tasks.RECORD), task.id, here
    )
    record_url = (
        access.record_page(registry, tenant, task.record_type, task.record_id)
        if task.record_type and task.record_id
        else None
    )
    return page(
        "oa/tasks/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=view,
        here=here,
        record_url=record_url,
        refusal=refusal,
        can_write=actor.can(codes.TASK_WRITE),
        **_labels(),
        **sections,
    )


@get(f"{TAB}/{{task_id:uuid}}", guards=[requires(codes.TASK_READ)])
async def task_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    task_id: FromPath[uuid.UUID],
) -> Template:
    return await _detail(session, tenant, actor, registry, task_id)


# --- changing it -----------------------------------------------------------------------------

EDIT_LABELS = {
    name: tasks.TRACKED[name.removesuffix("_id")]
    for name in ("title", "description", "assignee_id", "due_on", "priority")
}
EDIT_FIELDS = ("version", *EDIT_LABELS)


def _form_of(task: Any) -> dict[str, str]:
    return {
        "version": str(task.version),
        "title": task.title,
        "description": task.description,
        "assignee_id": str(task.assignee_id),
        "due_on": task.due_on.isoformat() if task.due_on else "",
        "priority": task.priority,
    }


async def _edit_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    task: Any,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
) -> Template:
    members = await choices_of_members(session)
    saved_now: list[tuple[str, str]] = []
    if refusal and isinstance(refusal.error, Conflict):
        await session.refresh(task)
        saved_now = saved_since(form, _form_of(task), EDIT_LABELS, dict(members))
    return page(
        "oa/tasks/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        task=task,
        parent=None,
        record_url=None,
        form=form,
        refusal=refusal,
        saved_now=saved_now,
        members=members,
        me=str(actor.user_id),
        **_labels(),
    )


@get(f"{TAB}/{{task_id:uuid}}/edit", guards=[requires(codes.TASK_WRITE)])
async def edit_task_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, task_id: FromPath[uuid.UUID]
) -> Template:
    task = await tasks.get_task(session, actor, task_id)
    return await _edit_page(session, tenant, actor, task, _form_of(task))


@post(f"{TAB}/{{task_id:uuid}}/edit", guards=[requires(codes.TASK_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    task_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    task = await tasks.get_task(session, actor, task_id)
    form = typed_in(data, *EDIT_FIELDS)

    async def update() -> None:
        assignee_id = read_id("assignee_id", form["assignee_id"])
        changes = TaskChanges(
            version=read_version(form["version"]),
            title=form["title"],
            description=form["description"],
            due_on=read_day("due_on", form["due_on"]),
            priority=form["priority"] or "normal",
            **({"assignee_id": assignee_id} if assignee_id else {}),
        )
        await tasks.update_task(session, actor, task_id, changes)

    return await answer_form(
        session,
        "edit",
        form,
        update,
        back=f"/t/{tenant.slug}{TAB}/{task_id}",
        refused=lambda refusal: _edit_page(session, tenant, actor, task, form, refusal=refusal),
    )


PAGES = [
    tasks_page,
    board_page,
    move_from_page,
    new_task_page,
    create_from_page,
    task_page,
    edit_task_page,
    update_from_page,
]


# --- "Create a task" on any record's page ----------------------------------------------------


async def record_panels(
    ctx: TenantContext, session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID
) -> list[Panel]:
    """On any record's page (a party, a lead...): the tasks created from it that the member
    sees, and "Create a task" linking the new task to it. Not on a task's own page, whose
    subtasks say the same."""
    if record_type == tasks.RECORD or not actor.can(codes.TASK_READ):
        return []
    query = urlencode({"record_type": record_type, "record_id": str(record_id)})
    context = {
        "slug": ctx.slug,
        "tasks": await tasks.tasks_of_record(session, actor, record_type, record_id),
        "new_url": f"/t/{ctx.slug}{TAB}/new?{query}" if actor.can(codes.TASK_WRITE) else None,
        **_labels(),
    }
    return [Panel(N_("Tasks"), "oa/tasks/_panel.html", context, order=60)]
