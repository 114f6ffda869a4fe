"""Account recovery and address proof: password reset and e-mail verification by mailed link.

Asking for a reset answers the same whether or not the address has an
account, and as fast: the link goes out only for a known address, and after
the commit, off the request's path (:func:`core.mail.send_after_commit`).
Asking too often (per address asked for, per client address) is refused
with a "try again in N minutes" that is the same for known and unknown
addresses, and nothing is sent. A reset ends every session of the user and
lifts a sign-in lockout; it also proves the address, so an unverified one
becomes verified. Every request, refusal, reset and failure is written to the
security log (refusals and failures on the side pool, so they stay though
the failed request rolls back).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import Conflict, TooManyAttempts, ValidationFailed
from core.i18n import N_
from core.identity import passwords, sessions, throttle, tokens
from core.identity.accounts import by_email, normalise_email
from core.identity.security_log import record_security_event
from core.mail import Mailer, compose, send_after_commit
from core.models import SecurityEvent, User
from core.settings import Settings

RESET_PATH = "/reset-password/"
VERIFY_PATH = "/verify-email/"

RESET_SUBJECT = N_("Reset your Atrium password")
RESET_BODY = N_(
    "Hello {name},\n\n"
    "Someone asked to reset the password of your Atrium account. "
    "To choose a new password, open this link within {hours} hours:\n\n"
    "{link}\n\n"
    "The link works once. If you did not ask for this, ignore this message: "
    "your password stays as it is."
)
VERIFY_SUBJECT = N_("Confirm your e-mail address for Atrium")
VERIFY_BODY = N_(
    "Hello {name},\n\n"
    "Please confirm that {email} is your e-mail address by opening this link "
    "within {days} days:\n\n"
    "{link}\n\n"
    "If you did not create an Atrium account, ignore this message."
)


async def request_password_reset(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    email: str,
    *,
    ip: str | None = None,
) -> None:
    """Mail a reset link if ``email`` has an account; the same quiet outcome if it has not.

    Requests are limited per typed address and per client address
    (:data:`throttle.RESET_REQUESTS`), counted alike for known and unknown
    addresses; past the limit, :class:`TooManyAttempts` says when to try again
    and nothing is mailed.
    """
    email = normalise_email(email)
    db = Database.of(session)
    user = await by_email(session, email)

    async def log(action: str) -> None:
        user_id = user.id if user else None
        await record_security_event(db, action, user_id=user_id, email=email, ip=ip)

    try:
        await throttle.check(session, email, ip, throttle.RESET_REQUESTS)
    except TooManyAttempts:
        await log("auth.password_reset_throttled")
        raise
    await throttle.count(db, email, ip, throttle.RESET_REQUESTS)
    await log("auth.password_reset_requested")
    if user is None:
        return
    token = await tokens.issue(session, tokens.RESET_PASSWORD, user)
    hours = int(tokens.LIFETIME[tokens.RESET_PASSWORD].total_seconds() // 3600)
    message = compose(
        user.email,
        user.locale,
        RESET_SUBJECT,
        RESET_BODY,
        name=user.display_name,
        hours=hours,
        link=f"{settings.base_url}{RESET_PATH}{token}",
    )
    send_after_commit(session, mailer, message)


async def reset_password(
    session: AsyncSession, token: str, new_password: str, *, ip: str | None = None
) -> User:
    """Set a new password with a reset link's token and sign the user out everywhere.

    The token is used only once the new password passes the policy, so a
    refused password can be corrected with the same link.
    """
    try:
        user = await tokens.check(session, tokens.RESET_PASSWORD, token)
        passwords.check_policy(new_password, email=user.email)
        await tokens.consume(session, tokens.RESET_PASSWORD, token)
    except ValidationFailed as failure:
        # A token's refusal names its reason; the only other refusal is the password policy's.
        await record_security_event(
            Database.of(session),
            "auth.password_reset_failed",
            user_id=await tokens.owner(session, token),
            ip=ip,
            detail={"reason": failure.params.get("reason", "password_policy")},
        )
        raise
    user.password_hash = passwords.hash_password(new_password)
    user.email_verified_at = user.email_verified_at or datetime.now(UTC)
    ended = await sessions.end_all(session, user.id)
    await throttle.clear_account(session, user.email)
    session.add(
        SecurityEvent(
            action="auth.password_reset", user_id=user.id, ip=ip, detail={"sessions_ended": ended}
        )
    )
    await session.flush()
    return user


async def send_verification(
    session: AsyncSession, settings: Settings, mailer: Mailer, user: User
) -> None:
    """Mail ``user`` a link that proves their address (after sign-up or an address change)."""
    if user.email_verified_at is not None:
        raise Conflict("This e-mail address is already verified.")
    token = await tokens.issue(session, tokens.VERIFY_EMAIL, user)
    message = compose(
        user.email,
        user.locale,
        VERIFY_SUBJECT,
        VERIFY_BODY,
        name=user.display_name,
        email=user.email,
        days=tokens.LIFETIME[tokens.VERIFY_EMAIL].days,
        link=f"{settings.base_url}{VERIFY_PATH}{token}",
    )
    send_after_commit(session, mailer, message)


async def verify_email(session: AsyncSession, token: str, *, ip: str | None = None) -> User:
    """Mark the address of a verification link's token as proven."""
    try:
        user = await tokens.consume(session, tokens.VERIFY_EMAIL, token)
    except ValidationFailed as failure:
        await record_security_event(
            Database.of(session),
            "auth.email_verification_failed",
            user_id=await tokens.owner(session, token),
            ip=ip,
            detail={"reason": failure.params.get("reason")},
        )
        raise
    user.email_verified_at = user.email_verified_at or datetime.now(UTC)
    session.add(SecurityEvent(action="auth.email_verified", user_id=user.id, ip=ip))
    await session.flush()
    return user
