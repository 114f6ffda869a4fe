"""The operator console: its own sign-in, cookie and sessions, and the workspaces' pages.

Operators are platform staff (``core_operator``). They sign in at
``/operator/sign-in`` into sessions of the operator area, which the
workspace guard never accepts; and being an operator grants nothing inside
a workspace (only a membership does). Behind :func:`operator_guard`:

- ``/operator/``: the platform in figures and the newest workspaces;
- ``/operator/tenants``: every workspace, searched and filtered, "More" by htmx;
- ``/operator/tenants/{id}``: one workspace in counts, its modules, the operator's log;
- ``/operator/tenants/{id}/suspend|reactivate|trial|grant|revoke``: a confirmation page
  each, whose form (CSRF-checked like every form) makes the change; ``?module=`` picks the
  module of a grant or a revocation.

The rules live in :mod:`tenants.operator`; these handlers parse forms and render.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from core.errors import DomainError, Unauthenticated, ValidationFailed
from core.models import Operator
from tenants import operator as ops
from web.auth import (
    OPERATOR_AREA,
    FormData,
    client_ip,
    current_session,
    local_target,
    password_step,
    sign_out_of,
)
from web.forms import optional_day
from web.htmx import wants_partial

OPERATOR_KEY = "atrium.operator"  # the signed-in operator's user id, in the request's state
NEWEST = 5  # workspaces on the console's home


async def operator_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """The request must carry a live operator session of an operator still active."""
    async with connection.app.state.db.global_transaction() as session:
        current = await current_session(connection, session, OPERATOR_AREA)
        active = current is not None and await session.scalar(
            select(Operator.active).where(
                Operator.user_id == current.user_id, Operator.active.is_(True)
            )
        )
    if not active:
        raise Unauthenticated("Sign in to continue.")
    assert current is not None
    connection.scope.setdefault("state", {})[OPERATOR_KEY] = current.user_id


def _page(template: str, context: dict[str, Any], status: int = 200) -> Template:
    """A console page; every one may show a workspace's status or a module's source."""
    labels = {"statuses": ops.STATUS_LABELS, "sources": ops.SOURCE_LABELS}
    return Template(template, context={**labels, **context}, status_code=status)


def _operator_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    return request.scope["state"][OPERATOR_KEY]


@get("/operator/sign-in", include_in_schema=False)
async def operator_sign_in_page(next: FromQuery[str | None] = None) -> Template:
    return Template(
        "auth/sign_in.html",
        context={"area": OPERATOR_AREA, "next": local_target(next, OPERATOR_AREA.home)},
    )


@post("/operator/sign-in", include_in_schema=False)
async def operator_sign_in(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    return await password_step(request, data, OPERATOR_AREA)


@post("/operator/sign-out", include_in_schema=False)
async def operator_sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    return await sign_out_of(request, OPERATOR_AREA)


# --- reading ----------------------------------------------------------------------------------


@get("/operator/", include_in_schema=False, guards=[operator_guard])
async def console(request: Request[Any, Any, Any]) -> Template:
    db, registry = request.app.state.db, request.app.state.registry
    figures = await ops.platform_figures(db, registry)
    newest = await ops.list_tenants(db, ops.TenantFilters(), limit=NEWEST)
    return _page("operator/console.html", {"figures": figures, "newest": newest})


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, UTC) if day else None


def _filters(form: dict[str, str]) -> ops.TenantFilters:
    """The list form's fields (blank: any); ``created_to`` counts its whole (UTC) day."""
    last = optional_day(form["created_to"])
    return ops.TenantFilters(
        search=form["q"].strip() or None,
        status=form["status"] or None,
        module=form["module"] or None,
        created_since=_start_of(optional_day(form["created_from"])),
        created_until=_start_of(last + timedelta(days=1)) if last else None,
        activity=form["activity"] or None,
    )


@get("/operator/tenants", include_in_schema=False, guards=[operator_guard])
async def tenants_page(
    request: Request[Any, Any, Any],
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    module: FromQuery[str] = "",
    created_from: FromQuery[str] = "",
    created_to: FromQuery[str] = "",
    activity: FromQuery[str] = "",
    after: FromQuery[uuid.UUID | None] = None,
) -> Template:
    form = {
        "q": q,
        "status": status,
        "module": module,
        "created_from": created_from,
        "created_to": created_to,
        "activity": activity,
    }
    registry = request.app.state.registry
    found = await ops.list_tenants(request.app.state.db, _filters(form), after=after)
    chosen = {key: value for key, value in form.items() if value}
    more_url = None
    if found.next_after:
        more_url = f"/operator/tenants?{urlencode({**chosen, 'after': found.next_after})}"
    context = {
        "page": found,
        "first_page": after is None,
        "more_url": more_url,
        "form": form,
        "module_names": {k: m.manifest.name for k, m in registry.modules.items()},
    }
    if wants_partial(request):
        return _page("operator/_tenant_rows.html", context)
    context["activities"] = ops.ACTIVITY_CHOICES
    return _page("operator/tenants.html", context)


async def _summary(request: Request[Any, Any, Any], tenant_id: uuid.UUID) -> ops.TenantSummary:
    return await ops.tenant_summary(request.app.state.db, request.app.state.registry, tenant_id)


@get("/operator/tenants/{tenant_id:uuid}", include_in_schema=False, guards=[operator_guard])
async def tenant_page(request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID]) -> Template:
    summary = await _summary(request, tenant_id)
    return _page("operator/tenant.html", {"summary": summary})


# --- changing: a confirmation page per action, its form posts the change -----------------------

ACTION_TEMPLATES = {
    "suspend": "operator/suspend.html",
    "reactivate": "operator/reactivate.html",
    "trial": "operator/trial.html",
    "grant": "operator/grant.html",
    "revoke": "operator/revoke.html",
}


async def _action_form(
    request: Request[Any, Any, Any],
    tenant_id: uuid.UUID,
    action: str,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
) -> Template:
    summary = await _summary(request, tenant_id)
    context = {
        "summary": summary,
        "form": form or {},
        "error": error,
        "trial_choices": summary.trial_choices(request.app.state.registry),
        "grant_choices": summary.grant_choices(),
        "revoke_choices": summary.revoke_choices(),
        "default_until": (datetime.now(UTC).date() + timedelta(days=14)).isoformat(),
    }
    return _page(ACTION_TEMPLATES[action], context, error.status_code if error else 200)


def _to_tenant(tenant_id: uuid.UUID) -> Redirect:
    return Redirect(f"/operator/tenants/{tenant_id}", status_code=HTTP_303_SEE_OTHER)


@get(
    [f"/operator/tenants/{{tenant_id:uuid}}/{action}" for action in ACTION_TEMPLATES],
    include_in_schema=False,
    guards=[operator_guard],
)
async def action_page(request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID]) -> Template:
    """The confirmation page of the action the path ends with."""
    action = request.url.path.rstrip("/").rsplit("/", 1)[1]
    chosen = {"module": request.query_params.get("module", "")}
    return await _action_form(request, tenant_id, action, form=chosen)


@post(
    "/operator/tenants/{tenant_id:uuid}/suspend",
    include_in_schema=False,
    guards=[operator_guard],
)
async def suspend_tenant(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    try:
        await ops.suspend(
            request.app.state.db,
            tenant_id,
            operator_id=_operator_id(request),
            reason=data.get("reason", ""),
            show_to_members=data.get("show_to_members") == "on",
            ip=client_ip(request),
        )
    except DomainError as error:
        return await _action_form(request, tenant_id, "suspend", form=data, error=error)
    return _to_tenant(tenant_id)


@post(
    "/operator/tenants/{tenant_id:uuid}/reactivate",
    include_in_schema=False,
    guards=[operator_guard],
)
async def reactivate_tenant(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    try:
        await ops.reactivate(
            request.app.state.db,
            tenant_id,
            operator_id=_operator_id(request),
            reason=data.get("reason", ""),
            ip=client_ip(request),
        )
    except DomainError as error:
        return await _action_form(request, tenant_id, "reactivate", form=data, error=error)
    return _to_tenant(tenant_id)


@post(
    "/operator/tenants/{tenant_id:uuid}/trial",
    include_in_schema=False,
    guards=[operator_guard],
)
async def grant_trial(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    """The trial runs to the end of the day chosen (UTC)."""
    try:
        last_day = optional_day(data.get("until", ""))
        if last_day is None:
            raise ValidationFailed("Choose the trial's last day.")
        await ops.grant_trial(
            request.app.state.db,
            request.app.state.registry,
            tenant_id,
            data.get("module", ""),
            until=datetime.combine(last_day + timedelta(days=1), time.min, UTC),
            operator_id=_operator_id(request),
            ip=client_ip(request),
        )
    except DomainError as error:
        return await _action_form(request, tenant_id, "trial", form=data, error=error)
    return _to_tenant(tenant_id)


async def _module_action(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID, data: FormData, action: str
) -> Response[Any]:
    """Grant or revoke a complimentary module: back to the tenant, or the form again."""
    change = ops.grant_module if action == "grant" else ops.revoke_module
    try:
        await change(
            request.app.state.db,
            request.app.state.registry,
            tenant_id,
            data.get("module", ""),
            operator_id=_operator_id(request),
            ip=client_ip(request),
        )
    except DomainError as error:
        return await _action_form(request, tenant_id, action, form=data, error=error)
    return _to_tenant(tenant_id)


@post(
    "/operator/tenants/{tenant_id:uuid}/grant",
    include_in_schema=False,
    guards=[operator_guard],
)
async def grant_module(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    return await _module_action(request, tenant_id, data, "grant")


@post(
    "/operator/tenants/{tenant_id:uuid}/revoke",
    include_in_schema=False,
    guards=[operator_guard],
)
async def revoke_module(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    return await _module_action(request, tenant_id, data, "revoke")


PAGES = [
    operator_sign_in_page,
    operator_sign_in,
    operator_sign_out,
    console,
    tenants_page,
    tenant_page,
    action_page,
    suspend_tenant,
    reactivate_tenant,
    grant_trial,
    grant_module,
    revoke_module,
]
