"""Sign-up pages: a new company's account and workspace (rules in :mod:`tenants.signup`).

The workspace address is suggested from the company name as it is typed
(``/sign-up/suggest-slug``) and checked as it is typed
(``/sign-up/check-slug``); both answer with small fragments for htmx. A
suggestion replaces the address only while the person has not typed one of
their own: the form carries the last suggestion, and an address that is
still that suggestion (or empty) follows the name.

A refused form comes back with every message under its field and what was
typed kept (never the password), with 422 (429 while throttled). A sign-up
lands signed in on the new workspace, in the language chosen on the form.

``/account/workspaces/new`` is the workspace half of the same form for
someone already signed in (:func:`tenants.signup.create_workspace`): the same
fields, live address checks and messages; it lands in the new workspace, and
the person's own language stays as it is (the form's sets the workspace's).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.db import Database
from core.errors import DomainError, TooManyAttempts
from core.i18n import SUPPORTED, current_locale
from core.identity import passwords
from tenants import signup
from web.account import LOCALE_COOKIE_MAX_AGE, signed_in_user
from web.auth import (
    WORKSPACE_AREA,
    FormData,
    client_ip,
    with_session_cookie,
    with_signed_in_cookie,
)
from web.middleware import LOCALE_COOKIE
from web.recovery import mailer

SLUG_STATUS = "signup/_slug_status.html"
SLUG_FIELD = "signup/_slug_field.html"
SIGN_UP_PAGE = "signup/sign_up.html"
NEW_WORKSPACE_PAGE = "signup/new_workspace.html"
NEW_WORKSPACE = "/account/workspaces/new"


def _db(request: Request[Any, Any, Any]) -> Database:
    return request.app.state.db


def _status(slug: str, problem: DomainError | None) -> dict[str, Any]:
    """The slug's verdict for the page: ``state`` (empty, available, taken, invalid)."""
    slug = slug.strip().lower()
    if problem is None:
        return {"slug": slug, "state": "available" if slug else "empty", "problem": None}
    state = "taken" if problem.code == "conflict" else "invalid"
    return {"slug": slug, "state": state, "problem": problem}


def _form_page(
    template: str,
    form: dict[str, str],
    errors: dict[str, DomainError] | None = None,
    error: DomainError | None = None,
) -> Template:
    """A sign-up or new-workspace form with what was typed (never a password) and its
    problems."""
    errors = errors or {}
    kept = {**form, "password": ""}
    return Template(
        template,
        context={
            "form": kept,
            "errors": errors,
            "error": error,
            # A refused form's address was checked with the rest; otherwise it is not yet.
            "slug_status": _status(kept.get("slug", "") if errors else "", errors.get("slug")),
            "locales": SUPPORTED,
            "min_length": passwords.MIN_LENGTH,
            "max_name": signup.MAX_NAME,
            "max_slug": signup.MAX_SLUG,
        },
        status_code=error.status_code if error else (422 if errors else 200),
    )


@get("/sign-up", include_in_schema=False)
async def sign_up_page() -> Template:
    return _form_page(SIGN_UP_PAGE, {"locale": current_locale.get()})


@get("/sign-up/check-slug", include_in_schema=False)
async def check_slug(request: Request[Any, Any, Any], slug: FromQuery[str] = "") -> Template:
    """The live verdict on a typed address: available, taken, or invalid with the reason."""
    async with _db(request).global_transaction() as session:
        problem = await signup.slug_problem(session, slug) if slug.strip() else None
    return Template(SLUG_STATUS, context={"slug_status": _status(slug, problem)})


@get("/sign-up/suggest-slug", include_in_schema=False)
async def suggest_slug(
    request: Request[Any, Any, Any],
    company: FromQuery[str] = "",
    slug: FromQuery[str] = "",
    slug_suggested: FromQuery[str] = "",
) -> Template:
    """The address field for the typed company name: a new suggestion, unless the person
    has typed an address of their own (then theirs stays, checked)."""
    async with _db(request).global_transaction() as session:
        follows_name = not slug.strip() or slug == slug_suggested
        suggested = await signup.suggest_slug(session, company) if follows_name else slug_suggested
        value = suggested if follows_name else slug
        problem = await signup.slug_problem(session, value) if value.strip() else None
    return Template(
        SLUG_FIELD,
        context={
            "form": {"slug": value, "slug_suggested": suggested},
            "slug_status": _status(value, problem),
            "max_slug": signup.MAX_SLUG,
        },
    )


@post("/sign-up", include_in_schema=False)
async def sign_up(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    form = signup.SignUpForm.of(data)
    settings = request.app.state.settings
    try:
        async with _db(request).global_transaction() as session:
            token, tenant = await signup.sign_up(
                session,
                settings,
                mailer(request),
                form,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
    except signup.SignUpRefused as refused:
        return _form_page(SIGN_UP_PAGE, dict(data), errors=refused.errors)
    except TooManyAttempts as throttled:
        return _form_page(SIGN_UP_PAGE, dict(data), error=throttled)
    landed = Redirect(f"/t/{tenant.slug}/", status_code=HTTP_303_SEE_OTHER)
    with_session_cookie(landed, settings, LOCALE_COOKIE, form.locale, max_age=LOCALE_COOKIE_MAX_AGE)
    return with_signed_in_cookie(landed, settings, WORKSPACE_AREA, token)


# --- another workspace, for someone signed in ------------------------------------------------


@get(NEW_WORKSPACE, include_in_schema=False)
async def new_workspace_page(request: Request[Any, Any, Any]) -> Template:
    async with _db(request).global_transaction() as session:
        user = await signed_in_user(request, session)
    return _form_page(NEW_WORKSPACE_PAGE, {"locale": user.locale})


@post(NEW_WORKSPACE, include_in_schema=False)
async def create_workspace(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """The signed-in person's new workspace, with them as its owner; then into it."""
    try:
        async with _db(request).global_transaction() as session:
            user = await signed_in_user(request, session)
            tenant = await signup.create_workspace(
                session, user, signup.WorkspaceForm.of(data), ip=client_ip(request)
            )
    except signup.SignUpRefused as refused:
        return _form_page(NEW_WORKSPACE_PAGE, dict(data), errors=refused.errors)
    except TooManyAttempts as throttled:
        return _form_page(NEW_WORKSPACE_PAGE, dict(data), error=throttled)
    return Redirect(f"/t/{tenant.slug}/", status_code=HTTP_303_SEE_OTHER)


PAGES = [sign_up_page, check_slug, suggest_slug, sign_up, new_workspace_page, create_workspace]
