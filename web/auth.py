"""Signing in and out, and the credential a request carries.

The browser holds an opaque session token in an ``HttpOnly``, ``SameSite=Lax``
cookie (``Secure`` outside development and tests); the database holds its
SHA-256 (:mod:`core.identity.sessions`). A sign-in whose second factor is
still due holds a separate, short-lived cookie that opens nothing. The JSON
API also takes ``Authorization: Bearer`` API tokens. A cookie-authenticated
API call that changes something must come from our own origin: the API is
outside the form CSRF check, so the Origin header stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import DomainError, PermissionDenied
from core.identity import accounts, sessions
from core.identity.sessions import digest
from core.models import UserSession
from core.settings import Settings
from web.middleware import LOCALE_COOKIE

SESSION_COOKIE = "atrium_session"
PENDING_COOKIE = "atrium_pending"  # password checked, second factor due
OPERATOR_COOKIE = "atrium_operator"  # the operator console's own session
PENDING_MINUTES = 10
FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def credentials(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[str | None, str | None]:
    """``(session_hash, token_hash)`` of the request's credential (at most one is set)."""
    is_api = connection.url.path.startswith("/api/")
    if is_api:
        scheme, _, value = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return None, digest(value.strip())
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None, None
    if is_api and connection.method not in SAFE_METHODS:
        origin = connection.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != connection.headers.get("host"):
            raise PermissionDenied("A request from another site was refused.")
    return digest(token), None


def _cookie_options(settings: Settings) -> dict[str, Any]:
    return {
        "httponly": True,
        "secure": not settings.is_development and settings.env != "test",
        "samesite": "lax",
        "path": "/",
    }


def with_session_cookie(
    response: Response[Any], settings: Settings, name: str, token: str, *, max_age: int
) -> Response[Any]:
    response.set_cookie(name, token, max_age=max_age, **_cookie_options(settings))
    return response


def without_cookie(response: Response[Any], settings: Settings, name: str) -> Response[Any]:
    response.delete_cookie(name, path="/")
    return response


def local_target(target: str | None, default: str = "/account") -> str:
    """Where to go after signing in: a path on this site only (never an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def sign_in_url(path: str) -> str:
    return f"/sign-in?next={quote(path)}"


# --- pages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Area:
    """A place one signs in to: members' workspaces, or the operator console.

    Each has its own pages, cookie and sessions; a session of one area is
    never accepted by the other.
    """

    key: str
    prefix: str  # "" or "/operator"
    cookie: str
    home: str

    def url(self, path: str) -> str:
        return f"{self.prefix}{path}"


WORKSPACE_AREA = Area(sessions.WORKSPACE, "", SESSION_COOKIE, "/account")
OPERATOR_AREA = Area(sessions.OPERATOR, "/operator", OPERATOR_COOKIE, "/operator/")
AREAS = {area.key: area for area in (WORKSPACE_AREA, OPERATOR_AREA)}


def _form(template: str, area: Area, status: int = 200, **context: Any) -> Template:
    return Template(template, context={"area": area, **context}, status_code=status)


def with_signed_in_cookie(
    response: Response[Any], settings: Settings, area: Area, token: str
) -> Response[Any]:
    """``response`` carrying a new session of ``area``, kept as long as the session may live."""
    return with_session_cookie(
        response, settings, area.cookie, token, max_age=settings.session_absolute_hours * 3600
    )


def with_new_sign_in(
    response: Response[Any], settings: Settings, area: Area, token: str
) -> Response[Any]:
    """A sign-in's answer: the new session's cookie, and no language cookie left by whoever
    used this browser before, so the person's own language applies."""
    return without_cookie(
        with_signed_in_cookie(response, settings, area, token), settings, LOCALE_COOKIE
    )


async def current_session(
    connection: ASGIConnection[Any, Any, Any, Any], session: AsyncSession, area: Area
) -> UserSession | None:
    """The live session of ``area`` behind the request's cookie, if any (pages outside a
    workspace; workspace routes get theirs from the tenant guard)."""
    token = connection.cookies.get(area.cookie)
    if not token:
        return None
    return await sessions.resolve(session, connection.app.state.settings, token, area=area.key)


async def password_step(
    request: Request[Any, Any, Any], data: dict[str, str], area: Area
) -> Response[Any]:
    """The sign-in form's answer: the form again with the reason, the second-factor step,
    or the page asked for with a new session cookie."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    target = local_target(data.get("next"), area.home)
    email = data.get("email", "")
    try:
        async with db.global_transaction() as session:
            token, user = await accounts.sign_in(
                session,
                settings,
                email=email,
                password=data.get("password", ""),
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
                area=area.key,
            )
    except DomainError as error:
        return _form(
            "auth/sign_in.html", area, error.status_code, next=target, email=email, error=error
        )
    if user.totp_enabled_at is not None:
        redirect = Redirect(
            f"/sign-in/two-factor?area={area.key}&next={quote(target)}",
            status_code=HTTP_303_SEE_OTHER,
        )
        return with_session_cookie(
            redirect, settings, PENDING_COOKIE, token, max_age=PENDING_MINUTES * 60
        )
    return with_new_sign_in(Redirect(target, status_code=HTTP_303_SEE_OTHER), settings, area, token)


async def sign_out_of(request: Request[Any, Any, Any], area: Area) -> Response[Any]:
    db: Database = request.app.state.db
    token = request.cookies.get(area.cookie)
    if token:
        async with db.global_transaction() as session:
            await sessions.end(session, token)
    redirect = Redirect(area.url("/sign-in"), status_code=HTTP_303_SEE_OTHER)
    return without_cookie(redirect, request.app.state.settings, area.cookie)


@get("/sign-in", include_in_schema=False)
async def sign_in_page(next: FromQuery[str | None] = None) -> Template:
    return _form("auth/sign_in.html", WORKSPACE_AREA, next=local_target(next), email="")


@post("/sign-in", include_in_schema=False)
async def sign_in(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    return await password_step(request, data, WORKSPACE_AREA)


@get("/sign-in/two-factor", include_in_schema=False)
async def two_factor_page(
    next: FromQuery[str | None] = None, area: FromQuery[str] = sessions.WORKSPACE
) -> Template:
    where = AREAS.get(area, WORKSPACE_AREA)
    return _form("auth/two_factor.html", where, next=local_target(next, where.home))


@post("/sign-in/two-factor", include_in_schema=False)
async def two_factor(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    area = AREAS.get(data.get("area", ""), WORKSPACE_AREA)
    target = local_target(data.get("next"), area.home)
    pending = request.cookies.get(PENDING_COOKIE, "")
    try:
        async with db.global_transaction() as session:
            token = await accounts.complete_second_factor(
                session,
                settings,
                token=pending,
                code=data.get("code", ""),
                ip=client_ip(request),
                area=area.key,
            )
    except DomainError as error:
        return _form("auth/two_factor.html", area, error.status_code, next=target, error=error)
    redirect = Redirect(target, status_code=HTTP_303_SEE_OTHER)
    without_cookie(redirect, settings, PENDING_COOKIE)
    return with_new_sign_in(redirect, settings, area, token)


@post("/sign-out", include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    return await sign_out_of(request, WORKSPACE_AREA)


PAGES = [sign_in_page, sign_in, two_factor_page, two_factor, sign_out]
