"""The signed-in person's own page: their workspaces, their active sessions, two-factor.

Reached without a workspace, so it resolves the session cookie itself (in
a global transaction) rather than through the tenant guard. "Sign out
everywhere" ends every session of the user, this one included, as after a
lost laptop; ending one other session is done from the list. Two-factor
sign-in is switched on with a first code and off with the password and a
code (not while a workspace of the user's requires it); either way the
session gets a new id. New recovery codes take the password and a code too.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.db import Database
from core.errors import DomainError, Unauthenticated, ValidationFailed
from core.identity import sessions, two_factor
from core.models import User, UserSession
from core.settings import Settings
from core.tenancy import workspaces_of
from web.auth import (
    SESSION_COOKIE,
    WORKSPACE_AREA,
    FormData,
    client_ip,
    current_session,
    with_signed_in_cookie,
    without_cookie,
)

TWO_FACTOR_OFF_NOTICE = "two-factor-off"  # /account?notice=… shows "two-factor sign-in is off"


async def _signed_in(request: Request[Any, Any, Any], session: Any) -> UserSession:
    current = await current_session(request, session, WORKSPACE_AREA)
    if current is None:
        raise Unauthenticated("Sign in to continue.")
    return current


async def _signed_in_user(request: Request[Any, Any, Any], session: Any) -> User:
    user = await session.get(User, (await _signed_in(request, session)).user_id)
    assert user is not None  # a live session's user
    return user


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


async def _two_factor_page(
    request: Request[Any, Any, Any], error: DomainError | None = None
) -> Template:
    """The two-factor page. Off: start (or restart) enrolment, a new secret shown as a key
    and an otpauth:// link. On: the unused recovery codes, and the forms that replace them
    and that switch 2FA off (or which workspaces keep it on)."""
    db: Database = request.app.state.db
    context: dict[str, Any] = {"error": error, "uri": None, "codes_left": 0, "required_by": []}
    async with db.global_transaction() as session:
        user = await _signed_in_user(request, session)
        if user.totp_enabled_at:
            context["codes_left"] = await two_factor.recovery_codes_left(session, user)
            context["required_by"] = await two_factor.workspaces_requiring(session, user)
        elif error is None:
            context["uri"] = await two_factor.begin(session, user)
        context["secret"] = user.totp_secret
    return Template(
        "account_two_factor.html",
        context={"user": user, **context},
        status_code=error.status_code if error else 200,
    )


@get("/account/two-factor", include_in_schema=False)
async def two_factor_setup(request: Request[Any, Any, Any]) -> Template:
    return await _two_factor_page(request)


@post("/account/two-factor", include_in_schema=False)
async def two_factor_confirm(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Switch 2FA on with a first code; the recovery codes are shown once, and the session
    gets a new id (a privilege change)."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    try:
        async with db.global_transaction() as session:
            user = await _signed_in_user(request, session)
            codes = await two_factor.confirm(session, user, data.get("code", ""))
            token = await sessions.rotate(session, settings, request.cookies[SESSION_COOKIE])
    except ValidationFailed as error:
        return await _two_factor_page(request, error)
    page = _recovery_codes_page(codes, replaced=False)
    return with_signed_in_cookie(page, settings, WORKSPACE_AREA, token)


@post("/account/two-factor/off", include_in_schema=False)
async def two_factor_off(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Switch 2FA off with the password and a code; the session gets a new id."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    try:
        async with db.global_transaction() as session:
            user = await _signed_in_user(request, session)
            await two_factor.disable(
                session,
                user,
                password=data.get("password", ""),
                code=data.get("code", ""),
                ip=client_ip(request),
            )
            token = await sessions.rotate(session, settings, request.cookies[SESSION_COOKIE])
    except DomainError as error:  # wrong password or code, locked, required by a workspace
        return await _two_factor_page(request, error)
    done = Redirect(f"/account?notice={TWO_FACTOR_OFF_NOTICE}", status_code=HTTP_303_SEE_OTHER)
    return with_signed_in_cookie(done, settings, WORKSPACE_AREA, token)


@post("/account/two-factor/recovery-codes", include_in_schema=False)
async def replace_recovery_codes(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Ten new recovery codes for the password and a code, shown once."""
    db: Database = request.app.state.db
    try:
        async with db.global_transaction() as session:
            user = await _signed_in_user(request, session)
            codes = await two_factor.replace_recovery_codes(
                session,
                user,
                password=data.get("password", ""),
                code=data.get("code", ""),
                ip=client_ip(request),
            )
    except DomainError as error:
        return await _two_factor_page(request, error)
    return _recovery_codes_page(codes, replaced=True)


def _recovery_codes_page(codes: list[str], *, replaced: bool) -> Template:
    """Codes are shown once: the page is never stored by the browser or a proxy."""
    return Template(
        "account_recovery_codes.html",
        context={"codes": codes, "replaced": replaced},
        headers={"Cache-Control": "no-store"},
    )


PAGES = [
    account_page,
    end_session,
    sign_out_everywhere,
    two_factor_setup,
    two_factor_confirm,
    two_factor_off,
    replace_recovery_codes,
]
