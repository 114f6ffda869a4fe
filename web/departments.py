"""The organisation in the browser: the department tree and positions, ``/t/{slug}/departments``.

Reading needs ``core.member.read`` (every member); the forms to add, rename,
move and delete departments and positions are shown to, and accepted from,
``core.organisation.manage`` only. The rules (no move under one's own
subtree, only empty departments and unheld positions deleted, unique names
among siblings) are :mod:`core.organisation`'s.

Each form posts with htmx and gets the organisation section back; a refusal
is rolled back to a savepoint and shown beside the form that caused it, with
what was typed kept. Without htmx the same forms post as usual: the page
again after a change, or with the refusal and its 4xx status.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.context import TenantContext
from core.errors import NotFound
from core.organisation import DepartmentNode
from core.permissions import Actor
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, attempt
from web.htmx import wants_partial
from web.tenancy import requires

READ, MANAGE = "core.member.read", "core.organisation.manage"


@dataclass(frozen=True, slots=True)
class Branch:
    """A department with the departments right below it, for nested lists."""

    node: DepartmentNode
    children: list[Branch] = field(default_factory=list)


def _tree(nodes: list[DepartmentNode]) -> list[Branch]:
    """Depth-first nodes (parents before their children) as nested branches."""
    branches = {node.department.id: Branch(node) for node in nodes}
    top: list[Branch] = []
    for node in nodes:
        parent = node.department.parent_id
        (branches[parent].children if parent in branches else top).append(
            branches[node.department.id]
        )
    return top


async def _context(
    session: AsyncSession, tenant: TenantContext, actor: Actor, refused: Refusal | None
) -> dict[str, Any]:
    nodes = await organisation.departments(session)
    return {
        "slug": tenant.slug,
        "tree": _tree(nodes),
        "nodes": nodes,
        "positions": await organisation.positions(session),
        "manages": actor.can(MANAGE),
        "refused": refused,
    }


def _department_id(value: str) -> uuid.UUID | None:
    """A parent select's value: blank is the top; anything else must be an id."""
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise NotFound("No department {id}.", id=value) from None


@get("/departments", guards=[requires(READ)])
async def departments_page(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Template:
    context = await _context(session, tenant, actor, None)
    partial = wants_partial(request)
    return Template(
        "departments/_organisation.html" if partial else "departments/index.html", context=context
    )


async def _act(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: str,
    typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """Run a form's action in a savepoint; answer the section (htmx) or the page."""
    partial = wants_partial(request)
    error = await attempt(session, action)
    refused = Refusal(form, typed, error) if error else None
    if not partial and refused is None:
        return Redirect(f"/t/{tenant.slug}/departments", status_code=HTTP_303_SEE_OTHER)
    # htmx swaps only 2xx answers: the refusal shows in a 200 section, rolled back above.
    status = refused.error.status_code if refused and not partial else 200
    return Template(
        "departments/_organisation.html" if partial else "departments/index.html",
        context=await _context(session, tenant, actor, refused),
        status_code=status,
    )


@post("/departments", guards=[requires(MANAGE)])
async def create_department(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = {"name": data.get("name", ""), "parent_id": data.get("parent_id", "")}

    async def create() -> None:
        parent = _department_id(typed["parent_id"])
        await organisation.create_department(session, typed["name"], parent, actor_id=actor.user_id)

    form = f"add-{typed['parent_id'] or 'top'}"
    return await _act(request, session, tenant, actor, form, typed, create)


@post("/departments/{department_id:uuid}/rename", guards=[requires(MANAGE)])
async def rename_department(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    department_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = {"name": data.get("name", "")}

    async def rename() -> None:
        await organisation.update_department(
            session, department_id, name=typed["name"], actor_id=actor.user_id
        )

    return await _act(request, session, tenant, actor, f"rename-{department_id}", typed, rename)


@post("/departments/{department_id:uuid}/move", guards=[requires(MANAGE)])
async def move_department(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    department_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = {"parent_id": data.get("parent_id", "")}

    async def move() -> None:
        parent = _department_id(typed["parent_id"])
        await organisation.move_department(session, department_id, parent, actor_id=actor.user_id)

    return await _act(request, session, tenant, actor, f"move-{department_id}", typed, move)


@post("/departments/{department_id:uuid}/delete", guards=[requires(MANAGE)])
async def delete_department(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    department_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def remove() -> None:
        await organisation.delete_department(session, department_id, actor_id=actor.user_id)

    return await _act(request, session, tenant, actor, f"delete-{department_id}", {}, remove)


@post("/positions", guards=[requires(MANAGE)])
async def create_position(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = {"name": data.get("name", "")}

    async def create() -> None:
        await organisation.create_position(session, typed["name"], actor_id=actor.user_id)

    return await _act(request, session, tenant, actor, "add-position", typed, create)


@post("/positions/{position_id:uuid}/rename", guards=[requires(MANAGE)])
async def rename_position(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    position_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = {"name": data.get("name", "")}

    async def rename() -> None:
        await organisation.rename_position(
            session, position_id, typed["name"], actor_id=actor.user_id
        )

    return await _act(request, session, tenant, actor, f"rename-{position_id}", typed, rename)


@post("/positions/{position_id:uuid}/delete", guards=[requires(MANAGE)])
async def delete_position(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    position_id: FromPath[uuid.UUID],
) -> Response[Any]:
    async def remove() -> None:
        await organisation.delete_position(session, position_id, actor_id=actor.user_id)

    return await _act(request, session, tenant, actor, f"delete-{position_id}", {}, remove)


PAGES = [
    departments_page,
    create_department,
    rename_department,
    move_department,
    delete_department,
    create_position,
    rename_position,
    delete_position,
]
