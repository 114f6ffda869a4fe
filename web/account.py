"""The signed-in person's own page: their workspaces, their active sessions, two-factor.

Reached without a workspace, so it resolves the session cookie itself (in
a global transaction) rather than through the tenant guard. "Sign out
everywhere" ends every session of the user, this one included, as after a
lost laptop; ending one other session is done from the list. Two-factor
sign-in is switched on with a first code and off with the password and a
code (not while a workspace of the user's requires it); either way the
session gets a new id. New recovery codes take the password and a code too.

The profile page edits the name, language and time zone and sets or removes
the avatar; a new language also becomes the ``atrium_lang`` cookie, so the
pages follow at once. The password page takes the current password and the
new one twice; the other sessions end and this one gets a new id
(:mod:`core.identity.profile`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.db import Database
from core.errors import DomainError, Unauthenticated, ValidationFailed
from core.i18n import SUPPORTED
from core.identity import profile, sessions, two_factor
from core.models import User, UserSession
from core.records.attachments import KIB, size_label
from core.records.storage import FileStore, file_store
from core.settings import Settings
from core.tenancy import workspaces_of
from web.auth import (
    SESSION_COOKIE,
    WORKSPACE_AREA,
    FormData,
    client_ip,
    current_session,
    with_session_cookie,
    with_signed_in_cookie,
    without_cookie,
)
from web.middleware import LOCALE_COOKIE

TWO_FACTOR_OFF_NOTICE = "two-factor-off"  # /account?notice=… shows "two-factor sign-in is off"
PROFILE, PASSWORD = "/account/profile", "/account/password"
LOCALE_COOKIE_MAX_AGE = 365 * 24 * 3600
# The largest avatar upload: the image plus room for the multipart envelope and the token.
AVATAR_BODY_LIMIT = profile.AVATAR_LIMITS.max_bytes + 64 * KIB
AVATAR_HEADERS = {"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"}
MultipartForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


async def _signed_in(request: Request[Any, Any, Any], session: Any) -> UserSession:
    current = await current_session(request, session, WORKSPACE_AREA)
    if current is None:
        raise Unauthenticated("Sign in to continue.")
    return current


async def signed_in_user(request: Request[Any, Any, Any], session: Any) -> User:
    """The signed-in person; a browser that is not signed in goes to the sign-in page."""
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
        user = await signed_in_user(request, session)
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
            user = await signed_in_user(request, session)
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
            user = await signed_in_user(request, session)
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
            user = await signed_in_user(request, session)
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


# --- profile, avatar and password -------------------------------------------------------------


def _field_errors(error: DomainError | None, default: str) -> dict[str, DomainError]:
    """The error under the form field it is about (its ``field`` param), else ``default``."""
    return {} if error is None else {str(error.params.get("field", default)): error}


def _with_notice(path: str, notice: str) -> Redirect:
    return Redirect(f"{path}?notice={notice}", status_code=HTTP_303_SEE_OTHER)


async def _profile_page(
    request: Request[Any, Any, Any],
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
    error_field: str = "form",
) -> Template:
    """The profile form: the user's values, or what they typed with the reason it was refused."""
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        user = await signed_in_user(request, session)
    values = form or {
        "display_name": user.display_name,
        "locale": user.locale,
        "time_zone": user.time_zone,
    }
    return Template(
        "account_profile.html",
        context={
            "user": user,
            "form": values,
            "errors": _field_errors(error, error_field),
            "locales": SUPPORTED,
            "time_zones": profile.COMMON_TIME_ZONES,
            "avatar_limit": size_label(profile.AVATAR_LIMITS.max_bytes),
        },
        status_code=error.status_code if error else 200,
    )


def _store(request: Request[Any, Any, Any]) -> FileStore:
    return file_store(request.app.state.settings)


@get(PROFILE, include_in_schema=False)
async def profile_page(request: Request[Any, Any, Any]) -> Template:
    return await _profile_page(request)


@post(PROFILE, include_in_schema=False)
async def save_profile(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Save name, language and time zone; the language cookie follows the new language."""
    db: Database = request.app.state.db
    form = {name: data.get(name, "") for name in ("display_name", "locale", "time_zone")}
    try:
        async with db.global_transaction() as session:
            user = await signed_in_user(request, session)
            await profile.update_profile(
                session, user, form["display_name"], form["locale"], form["time_zone"]
            )
    except ValidationFailed as error:
        return await _profile_page(request, form=form, error=error)
    return with_session_cookie(
        _with_notice(PROFILE, "saved"),
        request.app.state.settings,
        LOCALE_COOKIE,
        form["locale"],
        max_age=LOCALE_COOKIE_MAX_AGE,
    )


@post("/account/avatar", include_in_schema=False, request_max_body_size=AVATAR_BODY_LIMIT)
async def upload_avatar(request: Request[Any, Any, Any], data: MultipartForm) -> Response[Any]:
    db: Database = request.app.state.db
    upload = data.get("avatar")
    try:
        async with db.global_transaction() as session:
            user = await signed_in_user(request, session)
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise ValidationFailed("Choose an image to upload.")
            await profile.set_avatar(session, _store(request), user, upload.filename, upload.file)
    except ValidationFailed as error:  # not an image, too large, none chosen
        return await _profile_page(request, error=error, error_field="avatar")
    return _with_notice(PROFILE, "avatar-saved")


@post("/account/avatar/remove", include_in_schema=False)
async def remove_avatar(request: Request[Any, Any, Any]) -> Redirect:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        user = await signed_in_user(request, session)
        await profile.remove_avatar(session, _store(request), user)
    return _with_notice(PROFILE, "avatar-removed")


async def avatar_response(store: FileStore, user: User) -> Stream:
    """``user``'s avatar, typed by its bytes and kept by the browser (only) for a while."""
    content_type, chunks = await profile.open_avatar(store, user)
    return Stream(chunks, media_type=content_type, headers=AVATAR_HEADERS)


@get("/account/avatar", include_in_schema=False)
async def own_avatar(request: Request[Any, Any, Any]) -> Stream:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        user = await signed_in_user(request, session)
    return await avatar_response(_store(request), user)


async def _password_page(
    request: Request[Any, Any, Any], error: DomainError | None = None
) -> Template:
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        user = await signed_in_user(request, session)
    return Template(
        "account_password.html",
        context={"user": user, "errors": _field_errors(error, "form")},
        status_code=error.status_code if error else 200,
    )


@get(PASSWORD, include_in_schema=False)
async def password_page(request: Request[Any, Any, Any]) -> Template:
    return await _password_page(request)


@post(PASSWORD, include_in_schema=False)
async def change_password(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """A new password; every other session ends and this one gets a new id."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    try:
        async with db.global_transaction() as session:
            user = await signed_in_user(request, session)
            if data.get("new", "") != data.get("repeat", ""):
                raise ValidationFailed("The two new passwords are not the same.", field="repeat")
            token = await profile.change_password(
                session,
                settings,
                user,
                data.get("current", ""),
                data.get("new", ""),
                request.cookies[SESSION_COOKIE],
                ip=client_ip(request),
            )
    except DomainError as error:  # wrong current password, locked, policy, no password yet
        return await _password_page(request, error)
    return with_signed_in_cookie(_with_notice(PASSWORD, "changed"), settings, WORKSPACE_AREA, token)


PAGES = [
    account_page,
    end_session,
    sign_out_everywhere,
    two_factor_setup,
    two_factor_confirm,
    two_factor_off,
    replace_recovery_codes,
    profile_page,
    save_profile,
    upload_avatar,
    remove_avatar,
    own_avatar,
    password_page,
    change_password,
]
