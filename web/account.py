"""The signed-in person's own page: their workspaces and their active sessions.

Reached without a workspace, so it resolves the session cookie itself (in
a global transaction) rather than through the tenant guard. "Sign out
everywhere" ends every session of the user, this one included, as after a
lost laptop; ending one other session is done from the list.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.db import Database
from core.errors import Unauthenticated, ValidationFailed
from core.identity import sessions, two_factor
from core.models import User, UserSession
from core.settings import Settings
from core.tenancy import workspaces_of
from web.auth import (
    SESSION_COOKIE,
    WORKSPACE_AREA,
    FormData,
    current_session,
    with_signed_in_cookie,
    without_cookie,
)


async def _signed_in(request: Request[Any, Any, Any], session: Any) -> UserSession:
    current = await current_session(request, session, WORKSPACE_AREA)
    if current is None:
        raise Unauthenticated("Sign in to continue.")
    return current


@get("/account", include_in_schema=False)
async def account_page(request: Request[Any, Any, Any]) -> Template:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    async with db.global_transaction() as session:
        current = await _signed_in(request, session)
        user = await session.get(User, current.user_id)
        live = await sessions.active(session, settings, current.user_id)
        workspaces = await workspaces_of(session, current.user_id)
    return Template(
        "account.html",
        context={"user": user, "sessions": live, "current": current.id, "workspaces": workspaces},
    )


@post("/account/sessions/{session_id:uuid}/end", include_in_schema=False)
async def end_session(request: Request[Any, Any, Any], session_id: FromPath[uuid.UUID]) -> Redirect:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        current = await _signed_in(request, session)
        await sessions.end_one(session, current.user_id, session_id)
    return Redirect("/account", status_code=HTTP_303_SEE_OTHER)


@post("/account/sign-out-everywhere", include_in_schema=False)
async def sign_out_everywhere(request: Request[Any, Any, Any]) -> Response[Any]:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        current = await _signed_in(request, session)
        await sessions.end_all(session, current.user_id)
    return without_cookie(
        Redirect("/sign-in", status_code=HTTP_303_SEE_OTHER),
        request.app.state.settings,
        SESSION_COOKIE,
    )


@get("/account/two-factor", include_in_schema=False)
async def two_factor_setup(request: Request[Any, Any, Any]) -> Template:
    """Start (or restart) enrolment: a new secret, shown as a key and an otpauth:// link."""
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        current = await _signed_in(request, session)
        user = await session.get(User, current.user_id)
        assert user is not None
        uri = None if user.totp_enabled_at else await two_factor.begin(session, user)
        secret = user.totp_secret
    return Template("account_two_factor.html", context={"user": user, "uri": uri, "secret": secret})


@post("/account/two-factor", include_in_schema=False)
async def two_factor_confirm(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Switch 2FA on with a first code; the recovery codes are shown once, and the session
    gets a new id (a privilege change)."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    try:
        async with db.global_transaction() as session:
            current = await _signed_in(request, session)
            user = await session.get(User, current.user_id)
            assert user is not None
            codes = await two_factor.confirm(session, user, data.get("code", ""))
            token = await sessions.rotate(session, settings, request.cookies[SESSION_COOKIE])
    except ValidationFailed as error:
        async with db.global_transaction() as session:
            user = await session.get(User, (await _signed_in(request, session)).user_id)
            secret = user.totp_secret if user else None
        return Template(
            "account_two_factor.html",
            context={"user": user, "uri": None, "secret": secret, "error": error},
            status_code=error.status_code,
        )
    page = Template("account_recovery_codes.html", context={"codes": codes})
    return with_signed_in_cookie(page, settings, WORKSPACE_AREA, token)


PAGES = [
    account_page,
    end_session,
    sign_out_everywhere,
    two_factor_setup,
    two_factor_confirm,
]
