"""Signing up: a new person and their new workspace, in one transaction; and a
signed-in person's further workspaces, by the same rules.

The form is checked as a whole before anything is written, so every
problem is reported at once, each under its field (:class:`SignUpRefused`).
Then, in the caller's transaction: the account (:func:`accounts.register`),
the workspace with that account as its owner and the currency, tax rates and
units of its language (:func:`services.create_tenant`), the verification
mail (sent only once the transaction commits) and a new signed-in session.
Whatever fails on the way raises, so the caller's rollback leaves nothing
behind; a slug or address taken by a concurrent sign-up between the check
and the insert is refused by the unique keys and reported like any other.

:func:`create_workspace` is the workspace part alone, for someone already
signed in (the form's company, address and language): the same checks,
throttle and transaction, with the existing account as the owner.

Decisions (see docs/identity.md, "Signing up"):

- The workspace address is suggested from the company name: its Latin
  letters and digits, lower-cased, the rest turned into hyphens. A name with
  too few of them (a Chinese name) gets ``team-`` and six hex digits derived
  from the name, so the suggestion stays put while the name does; turning
  Chinese into pinyin would need a dependency. A taken suggestion gets ``-2``,
  ``-3``, … The person can always type their own.
- An address that already has an account is told so, with the way to sign
  in or reset its password, as Odoo and most SaaS sign-up forms do; the
  throttle below bounds how fast anyone can ask.
- Sign-ups that pass the form's checks are counted (:data:`SIGN_UPS`) per
  client address and per typed e-mail address; a form refused for its input
  writes nothing and is not counted, so a person correcting typos is not
  locked out. New workspaces of a signed-in person count under the same keys
  (their account's address), so signing in does not lift the limit.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Self, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import Conflict, DomainError, ValidationFailed
from core.i18n import N_, check_locale
from core.identity import accounts, passwords, recovery, sessions, throttle
from core.mail import Mailer
from core.models import SecurityEvent, Tenant, User
from core.settings import Settings
from tenants.services import check_slug, create_tenant

MAX_NAME = 200  # core_tenant.name and core_user.display_name
MAX_SLUG = 63
SUGGESTION_TRIES = 9  # the name itself, then -2 … -9
#: A new user's time zone by language; they can change it on their profile.
TIME_ZONES = {"zh-CN": "Asia/Shanghai"}
SIGN_UPS = throttle.Policy(
    "signup:",
    throttle.Limit(failures=5, window=timedelta(hours=1), lockout=timedelta(hours=1)),
    throttle.Limit(failures=10, window=timedelta(hours=1), lockout=timedelta(hours=1)),
    N_("Too many sign-ups in a short time. Try again in {minutes} minutes."),
)
#: The same counts as sign-ups (one limit on how fast anyone makes workspaces), its own words.
NEW_WORKSPACES = replace(
    SIGN_UPS,
    message=N_("Too many new workspaces in a short time. Try again in {minutes} minutes."),
)


@dataclass(frozen=True, slots=True)
class WorkspaceForm:
    """A new workspace's fields, as typed: all a signed-in person's form sends."""

    company: str
    slug: str
    locale: str  # the workspace's language: its starting currency, tax rates and units

    @classmethod
    def of(cls, data: Mapping[str, str]) -> Self:
        return cls(**{field.name: data.get(field.name, "") for field in fields(cls)})


@dataclass(frozen=True, slots=True)
class SignUpForm(WorkspaceForm):
    """What the sign-up form sends, as typed: the workspace and the new account.
    ``locale`` is the account's language too."""

    display_name: str
    email: str
    password: str


class SignUpRefused(ValidationFailed):
    """The form's problems by field name (``errors``); nothing was written."""

    def __init__(self, errors: Mapping[str, DomainError]) -> None:
        super().__init__(N_("Please correct the marked fields."))
        self.errors = dict(errors)


# --- the workspace address -------------------------------------------------------------------


def _latin_slug(company: str) -> str | None:
    """The company name's Latin letters and digits as an address, if enough of them."""
    latin = unicodedata.normalize("NFKD", company).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", latin).strip("-")[: MAX_SLUG - 3].strip("-")
    try:
        return check_slug(slug)
    except ValidationFailed:  # too short, or reserved
        return None


def _fallback_slug(company: str) -> str:
    """``team-`` and six hex digits of the name: the same name, the same suggestion."""
    return f"team-{hashlib.sha256(company.strip().casefold().encode()).hexdigest()[:6]}"


async def _taken(session: AsyncSession, slug: str) -> bool:
    return await session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None


async def suggest_slug(session: AsyncSession, company: str) -> str:
    """A free address for a workspace named ``company`` ("" for no name)."""
    if not company.strip():
        return ""
    base = _latin_slug(company) or _fallback_slug(company)
    candidates = [base, *(f"{base}-{n}" for n in range(2, SUGGESTION_TRIES + 1))]
    for candidate in candidates:
        if not await _taken(session, candidate):
            return candidate
    return candidates[-1]  # all taken: the live check says so and the person picks another


async def slug_problem(session: AsyncSession, slug: str) -> DomainError | None:
    """Why ``slug`` cannot be a new workspace's address, or None if it can."""
    if not slug.strip():
        return ValidationFailed("Choose an address for your workspace.")
    try:
        slug = check_slug(slug)
    except ValidationFailed as error:
        return error
    if await _taken(session, slug):
        return Conflict("The address {slug} is taken.", slug=slug)
    return None


# --- the form ------------------------------------------------------------------------------


def _name_problem(value: str, empty: str, too_long: str) -> ValidationFailed | None:
    if not value.strip():
        return ValidationFailed(empty)
    if len(value.strip()) > MAX_NAME:
        return ValidationFailed(too_long, max=MAX_NAME)
    return None


def _existing_account(email: str) -> Conflict:
    return Conflict(
        "{email} already has an Atrium account. Sign in with it, or reset its password "
        "if you have forgotten it.",
        email=email,
    )


async def _email_problem(session: AsyncSession, email: str) -> DomainError | None:
    if not email.strip():
        return ValidationFailed("Enter your e-mail address.")
    try:
        address = accounts.normalise_email(email)
    except ValidationFailed as error:
        return error
    if await accounts.by_email(session, address) is not None:
        return _existing_account(address)
    return None


def _password_problem(password: str, email: str) -> ValidationFailed | None:
    if not password:
        return ValidationFailed("Choose a password.")
    try:
        passwords.check_policy(password, email=email.strip() or None)
    except ValidationFailed as error:
        return error
    return None


def _locale_problem(locale: str) -> ValidationFailed | None:
    try:
        check_locale(locale)
    except ValidationFailed as error:
        return error
    return None


async def workspace_problems(session: AsyncSession, form: WorkspaceForm) -> dict[str, DomainError]:
    """The workspace fields' problems, by field name; empty when it can be created."""
    found = {
        "company": _name_problem(
            form.company,
            N_("Enter your company's name."),
            N_("A company name has at most {max} characters."),
        ),
        "slug": await slug_problem(session, form.slug),
        "locale": _locale_problem(form.locale),
    }
    return {field: problem for field, problem in found.items() if problem is not None}


async def problems(session: AsyncSession, form: SignUpForm) -> dict[str, DomainError]:
    """Every field's problem, by field name; empty when the form can be signed up."""
    found = {
        "display_name": _name_problem(
            form.display_name, N_("Enter your name."), N_("A name has at most {max} characters.")
        ),
        "email": await _email_problem(session, form.email),
        "password": _password_problem(form.password, form.email),
    }
    account = {field: problem for field, problem in found.items() if problem is not None}
    return {**await workspace_problems(session, form), **account}


F = TypeVar("F", bound=WorkspaceForm)


async def _admit(
    session: AsyncSession,
    form: F,
    problems_of: Callable[[AsyncSession, F], Awaitable[dict[str, DomainError]]],
    policy: throttle.Policy,
    email: str,
    ip: str | None,
) -> None:
    """Refuse a throttled key, then a form with problems; count what passes (on the side
    pool, so the count stays whatever happens next)."""
    await throttle.check(session, email, ip, policy)
    found = await problems_of(session, form)
    if found:
        raise SignUpRefused(found)
    await throttle.count(Database.of(session), email, ip, policy)


async def _new_workspace(
    session: AsyncSession, form: WorkspaceForm, owner: User, ip: str | None, action: str
) -> Tenant:
    """The checked form's workspace with ``owner`` as its owner, logged as ``action``."""
    try:
        tenant = await create_tenant(
            session, slug=form.slug, name=form.company, owner_email=owner.email, locale=form.locale
        )
    except Conflict as taken:  # a concurrent request took the slug after the check
        raise SignUpRefused({"slug": taken}) from None
    session.add(
        SecurityEvent(action=action, user_id=owner.id, ip=ip, detail={"tenant": tenant.slug})
    )
    return tenant


async def sign_up(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    form: SignUpForm,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, Tenant]:
    """Create the account and its workspace and sign the person in, in the session's
    transaction; returns the new session's token and the workspace.

    Raises :class:`SignUpRefused` (by field), or ``TooManyAttempts`` while the
    client address or the e-mail address has signed up too often.
    """
    await _admit(session, form, problems, SIGN_UPS, form.email, ip)
    try:
        user = await accounts.register(
            session,
            email=form.email,
            password=form.password,
            display_name=form.display_name,
            locale=form.locale,
            time_zone=TIME_ZONES.get(form.locale, "UTC"),
        )
    except Conflict:  # a concurrent sign-up took the address after the check
        raise SignUpRefused({"email": _existing_account(form.email.strip())}) from None
    tenant = await _new_workspace(session, form, user, ip, "auth.signed_up")
    await recovery.send_verification(session, settings, mailer, user)
    token, _row = await sessions.start(session, settings, user.id, ip=ip, user_agent=user_agent)
    session.add(SecurityEvent(action="auth.signed_in", user_id=user.id, ip=ip))
    await session.flush()
    return token, tenant


async def create_workspace(
    session: AsyncSession, user: User, form: WorkspaceForm, *, ip: str | None = None
) -> Tenant:
    """Another workspace for the signed-in ``user``, its owner, in the session's transaction.

    Raises :class:`SignUpRefused` (by field), or ``TooManyAttempts`` while the
    client address or the user's address has made workspaces too often.
    """
    await _admit(session, form, workspace_problems, NEW_WORKSPACES, user.email, ip)
    tenant = await _new_workspace(session, form, user, ip, "auth.workspace_created")
    await session.flush()
    return tenant
