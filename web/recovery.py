"""Pages behind mailed links: password reset, e-mail verification, invitations.

None of them needs a workspace, so, like the account page, they resolve the
session cookie themselves in a global transaction. A link's token is in the
URL, so every token page is sent with ``Referrer-Policy: no-referrer`` (the
token never leaves in a ``Referer`` header) and ``Cache-Control: no-store``.
Opening a link (GET) never uses its token: mail scanners open links. The
page it shows has a form, and only that form's POST (with its CSRF token)
resets the password, confirms the address or accepts the invitation.

Asking for a reset answers with the same page whether or not the address has
an account (the service mails only a known one, after the commit). An
invitation is accepted by the signed-in user whose address it was sent to;
someone without an account creates it on the invitation page, since the link
in their mailbox proves the address (Odoo's "set your password" invitation).
"""

from __future__ import annotations

from typing import Any, TypeGuard

from litestar import Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import DomainError, TooManyAttempts, ValidationFailed
from core.i18n import current_locale
from core.identity import accounts, passwords, recovery, sessions, tokens
from core.mail import Mailer
from core.models import SecurityEvent, Tenant, User
from core.settings import Settings
from tenants import invitations
from web.auth import (
    SESSION_COOKIE,
    WORKSPACE_AREA,
    FormData,
    client_ip,
    current_session,
    sign_in_url,
    with_signed_in_cookie,
    without_cookie,
)

TOKEN_PAGE_HEADERS = [
    ResponseHeader(name="Referrer-Policy", value="no-referrer"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]
RESET_DONE_NOTICE = "password-reset"  # /sign-in?notice=… shows "your password was changed"


def mailer(request: Request[Any, Any, Any]) -> Mailer:
    """The app's one mailer (``app.state.mailer``, made by ``core.mail.mailer_for`` at startup)."""
    return request.app.state.mailer


def _db(request: Request[Any, Any, Any]) -> Database:
    return request.app.state.db


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


async def _signed_in_user(request: Request[Any, Any, Any], session: AsyncSession) -> User | None:
    current = await current_session(request, session, WORKSPACE_AREA)
    return await session.get(User, current.user_id) if current else None


def _link_refused(error: ValidationFailed, *, retry: str | None = None) -> Template:
    """A used, expired or unknown link: its reason, and where to ask for a new one."""
    return Template(
        "recovery/link_refused.html",
        context={"error": error, "retry": retry},
        status_code=error.status_code,
    )


def _is_link_refusal(error: DomainError) -> TypeGuard[ValidationFailed]:
    """Token checks name a ``reason``; the password policy and other rules do not."""
    return isinstance(error, ValidationFailed) and "reason" in error.params


# --- password reset -----------------------------------------------------------------------


def _forgot_form(email: str = "", error: DomainError | None = None) -> Template:
    return Template(
        "recovery/forgot_password.html",
        context={"email": email, "error": error},
        status_code=error.status_code if error else 200,
    )


@get("/forgot-password", include_in_schema=False)
async def forgot_password_page() -> Template:
    return _forgot_form()


@post("/forgot-password", include_in_schema=False)
async def forgot_password(request: Request[Any, Any, Any], data: FormData) -> Template:
    email = data.get("email", "").strip()
    try:
        async with _db(request).global_transaction() as session:
            await recovery.request_password_reset(
                session, _settings(request), mailer(request), email, ip=client_ip(request)
            )
    except (ValidationFailed, TooManyAttempts) as error:
        # Not an address at all, or asked too often: neither depends on whether it has an
        # account, so the answer says nothing about accounts.
        return _forgot_form(email, error)
    hours = int(tokens.LIFETIME[tokens.RESET_PASSWORD].total_seconds() // 3600)
    return Template("recovery/reset_requested.html", context={"email": email, "hours": hours})


def _reset_form(token: str, error: DomainError | None = None) -> Template:
    return Template(
        "recovery/reset_password.html",
        context={"token": token, "error": error, "min_length": passwords.MIN_LENGTH},
        status_code=error.status_code if error else 200,
    )


@get("/reset-password/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def reset_password_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    try:
        async with _db(request).global_transaction() as session:
            await tokens.check(session, tokens.RESET_PASSWORD, token)
    except ValidationFailed as error:
        return _link_refused(error, retry="/forgot-password")
    return _reset_form(token)


@post("/reset-password/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def reset_password(
    request: Request[Any, Any, Any], token: FromPath[str], data: FormData
) -> Response[Any]:
    password = data.get("password", "")
    if password != data.get("password_again", ""):
        return _reset_form(token, ValidationFailed("The two passwords are not the same."))
    try:
        async with _db(request).global_transaction() as session:
            await recovery.reset_password(session, token, password, ip=client_ip(request))
    except ValidationFailed as error:
        if _is_link_refusal(error):
            return _link_refused(error, retry="/forgot-password")
        return _reset_form(token, error)  # the policy refused the password: the link still works
    # Every session of the user has ended, this browser's too: drop its dead cookie.
    done = Redirect(f"/sign-in?notice={RESET_DONE_NOTICE}", status_code=HTTP_303_SEE_OTHER)
    return without_cookie(done, _settings(request), SESSION_COOKIE)


# --- e-mail verification ----------------------------------------------------------------------


@get("/verify-email/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def verify_email_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """The link's page asks to confirm: opening it (a mail scanner does) uses nothing."""
    try:
        async with _db(request).global_transaction() as session:
            user = await tokens.check(session, tokens.VERIFY_EMAIL, token)
    except ValidationFailed as error:
        return _link_refused(error)
    return Template("recovery/verify_email.html", context={"token": token, "email": user.email})


@post("/verify-email/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def verify_email(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    try:
        async with _db(request).global_transaction() as session:
            user = await recovery.verify_email(session, token, ip=client_ip(request))
    except ValidationFailed as error:
        return _link_refused(error)
    return Template("recovery/email_verified.html", context={"email": user.email})


# --- invitations ------------------------------------------------------------------------------


async def _invitation_page(
    request: Request[Any, Any, Any],
    token: str,
    error: DomainError | None = None,
    form: dict[str, str] | None = None,
) -> Template:
    """The invitation: its workspace, inviter and address, and what this visitor can do."""
    try:
        async with _db(request).global_transaction() as session:
            user = await _signed_in_user(request, session)
            invitation = await invitations.find(session, token)
            workspace = await session.get(Tenant, invitation.tenant_id)
            inviter = (
                await session.get(User, invitation.invited_by) if invitation.invited_by else None
            )
    except ValidationFailed as refused:
        return _link_refused(refused)
    here = f"{invitations.ACCEPT_PATH}{token}"
    return Template(
        "recovery/invitation.html",
        context={
            "invitation": invitation,
            "role": invitation.role_keys[0],
            "workspace": workspace,
            "inviter": inviter,
            "user": user,
            "is_invited_user": user is not None and user.email.lower() == invitation.email.lower(),
            "here": here,
            "sign_in": sign_in_url(here),
            "error": error,
            "form": form or {},
            "min_length": passwords.MIN_LENGTH,
        },
        status_code=error.status_code if error else 200,
    )


@get("/invitations/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def invitation_page(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    return await _invitation_page(request, token)


@post("/invitations/{token:str}", include_in_schema=False, response_headers=TOKEN_PAGE_HEADERS)
async def accept_invitation(
    request: Request[Any, Any, Any], token: FromPath[str], data: FormData
) -> Response[Any]:
    """Accept as the signed-in user, or create the invited address's account and accept."""
    settings = _settings(request)
    new_session: str | None = None
    try:
        async with _db(request).global_transaction() as session:
            user = await _signed_in_user(request, session)
            if user is None:
                if "password" not in data:  # the session ended since the page was shown
                    return Redirect(sign_in_url(request.url.path), status_code=HTTP_303_SEE_OTHER)
                invitation = await invitations.find(session, token)
                user = await accounts.register(
                    session,
                    email=invitation.email,
                    password=data.get("password", ""),
                    display_name=data.get("display_name", ""),
                    locale=current_locale.get(),
                )
                new_session, _row = await sessions.start(
                    session,
                    settings,
                    user.id,
                    ip=client_ip(request),
                    user_agent=request.headers.get("user-agent"),
                )
                session.add(
                    SecurityEvent(action="auth.signed_in", user_id=user.id, ip=client_ip(request))
                )
            member = await invitations.accept(session, token, user)
            workspace = await session.get(Tenant, member.tenant_id)
            assert workspace is not None  # the invitation's tenant
    except DomainError as error:
        if _is_link_refusal(error):
            return _link_refused(error)
        kept = {"display_name": data.get("display_name", "")}
        return await _invitation_page(request, token, error, kept)
    joined = Redirect(f"/t/{workspace.slug}/", status_code=HTTP_303_SEE_OTHER)
    if new_session is None:
        return joined
    return with_signed_in_cookie(joined, settings, WORKSPACE_AREA, new_session)


PAGES = [
    forgot_password_page,
    forgot_password,
    reset_password_page,
    reset_password,
    verify_email_page,
    verify_email,
    invitation_page,
    accept_invitation,
]
