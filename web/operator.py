"""The operator console's front door: its own sign-in, cookie and sessions.

Operators are platform staff (``core_operator``). They sign in at
``/operator/sign-in`` into sessions of the operator area, which the
workspace guard never accepts; and being an operator grants nothing inside
a workspace (only a membership does). The console itself (tenants, prices,
subscriptions) grows here with the billing work.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy import select

from core.errors import Unauthenticated
from core.models import Operator, Tenant
from web.auth import (
    OPERATOR_AREA,
    FormData,
    current_session,
    local_target,
    password_step,
    sign_out_of,
)


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


@get("/operator/", include_in_schema=False, guards=[operator_guard])
async def console(request: Request[Any, Any, Any]) -> Template:
    async with request.app.state.db.global_transaction() as session:
        tenants = list(await session.scalars(select(Tenant).order_by(Tenant.created_at.desc())))
    return Template("operator/console.html", context={"tenants": tenants})


PAGES = [operator_sign_in_page, operator_sign_in, operator_sign_out, console]
