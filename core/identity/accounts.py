"""Accounts: registering a user and signing in.

A wrong e-mail and a wrong password get the same answer, and take about
the same time (a hash is checked either way). Failures are counted per
account and per address and lock them for a while (:mod:`core.identity.throttle`).
Every sign-in and failure is written to the security log; a failure is
written on the side pool (:mod:`core.identity.security_log`), so it is kept
though the request that failed rolls back.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique
from core.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from core.i18n import check_locale
from core.identity import passwords, sessions, throttle, two_factor
from core.identity.security_log import record_failure
from core.models import Operator, SecurityEvent, User
from core.settings import Settings

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DUMMY_HASH = passwords.hash_password("an unguessable placeholder, never a password")


def normalise_email(email: str) -> str:
    email = email.strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise ValidationFailed("Enter a valid e-mail address.")
    return email


async def by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    display_name: str,
    locale: str = "en",
    time_zone: str = "UTC",
) -> User:
    """A new user with a checked, hashed password; the e-mail is unique ignoring case."""
    email = normalise_email(email)
    display_name = display_name.strip()
    if not display_name:
        raise ValidationFailed("Enter your name.")
    check_locale(locale)
    passwords.check_policy(password, email=email)
    user = User(
        email=email,
        display_name=display_name,
        locale=locale,
        time_zone=time_zone,
        password_hash=passwords.hash_password(password),
    )
    if not await add_unique(session, user):
        raise Conflict("An account with this e-mail address already exists.")
    return user


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str | None = None,
    user_agent: str | None = None,
    area: str = sessions.WORKSPACE,
) -> tuple[str, User]:
    """Check the credentials and start a new session; returns the session token and user.

    For a user with two-factor sign-in on, the session waits for the second
    factor (:func:`complete_second_factor`) and opens nothing until then. The
    operator area takes only active operators; anyone else gets the same answer
    as for a wrong password.
    """
    await throttle.check(session, email, ip)
    user = await by_email(session, email.strip())
    # A hash is checked even for an unknown user or one without a password: same time taken.
    known = user is not None and user.password_hash is not None
    matches = passwords.verify(user.password_hash if known else _DUMMY_HASH, password)  # type: ignore[union-attr]
    allowed = user is not None and (area != sessions.OPERATOR or await _is_operator(session, user))
    if not (known and matches and allowed) or user is None:
        await _failed(session, email, ip, user)
        raise Unauthenticated("The e-mail address or password is not right.")
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    await throttle.clear_account(session, email)
    pending = user.totp_enabled_at is not None
    token, _row = await sessions.start(
        session,
        settings,
        user.id,
        ip=ip,
        user_agent=user_agent,
        area=area,
        pending_second_factor=pending,
    )
    if not pending:
        session.add(SecurityEvent(action="auth.signed_in", user_id=user.id, ip=ip))
    await session.flush()
    return token, user


async def complete_second_factor(
    session: AsyncSession,
    settings: Settings,
    *,
    token: str,
    code: str,
    ip: str | None = None,
    area: str = sessions.WORKSPACE,
) -> str:
    """The sign-in's second step: a good code turns the waiting session into a signed-in
    one under a new token (returned); a wrong one counts as a failed sign-in."""
    pending = await sessions.resolve(
        session, settings, token, area=area, pending_second_factor=True
    )
    if pending is None:
        raise Unauthenticated("Your sign-in has expired. Sign in again.")
    user = await session.get(User, pending.user_id)
    assert user is not None
    await throttle.check(session, user.email, ip)
    if not await two_factor.verify(session, user, code):
        await _failed(session, user.email, ip, user, action="auth.2fa_failed")
        raise Unauthenticated("That code is not right.")
    new_token = await sessions.rotate(session, settings, token, pending_second_factor=True)
    session.add(
        SecurityEvent(action="auth.signed_in", user_id=user.id, ip=ip, detail={"2fa": True})
    )
    await session.flush()
    return new_token


async def _is_operator(session: AsyncSession, user: User) -> bool:
    return bool(
        await session.scalar(
            select(Operator.active).where(Operator.user_id == user.id, Operator.active.is_(True))
        )
    )


async def _failed(
    session: AsyncSession,
    email: str,
    ip: str | None,
    user: User | None,
    *,
    action: str = "auth.sign_in_failed",
) -> None:
    """Count a failure and log it, on the side pool: both outlive the failed request."""
    await record_failure(session, action, email=email, ip=ip, user_id=user.id if user else None)


async def grant_operator(session: AsyncSession, email: str) -> User:
    """Make the user with ``email`` an operator (platform staff); they must have an account."""
    user = await by_email(session, normalise_email(email))
    if user is None:
        raise NotFound("No account with the e-mail address {email}.", email=email.strip())
    operator = await session.scalar(select(Operator).where(Operator.user_id == user.id))
    if operator is None:
        session.add(Operator(user_id=user.id))
    else:
        operator.active = True
    session.add(SecurityEvent(action="auth.operator_granted", user_id=user.id))
    await session.flush()
    return user
