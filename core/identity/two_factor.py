"""Two-factor sign-in: TOTP (RFC 6238, 30-second steps) and one-time recovery codes.

Enrolment is two steps: :func:`begin` makes a secret and the URI an
authenticator app scans; :func:`confirm` switches 2FA on only when a code
from the app checks out, and hands out ten recovery codes, shown once and
stored as SHA-256. A code from the step before or after is accepted (±30 s
of clock drift), and a step that was used once is never accepted again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, Unauthenticated, ValidationFailed
from core.models import RecoveryCode, SecurityEvent, User

ISSUER = "Atrium"
SKEW_STEPS = 1
RECOVERY_CODES = 10


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _code_hash(code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normalised.encode()).hexdigest()


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals ``code``, within the allowed drift."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    code = code.strip().replace(" ", "")
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def begin(session: AsyncSession, user: User) -> str:
    """A new secret for ``user``; returns the otpauth:// URI for the authenticator app."""
    if user.totp_enabled_at is not None:
        raise Conflict("Two-factor sign-in is already on.")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    await session.flush()
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


async def confirm(
    session: AsyncSession, user: User, code: str, *, now: datetime | None = None
) -> list[str]:
    """Switch 2FA on with a first good code; returns the recovery codes (shown once)."""
    if user.totp_secret is None or user.totp_enabled_at is not None:
        raise Conflict("Start setting up two-factor sign-in first.")
    step = _matching_step(user.totp_secret, code, _now(now))
    if step is None:
        raise ValidationFailed(
            "That code is not right. Check the time on your phone and try again."
        )
    user.totp_enabled_at = _now(now)
    user.totp_last_step = step
    codes = await _new_recovery_codes(session, user)
    session.add(SecurityEvent(action="auth.2fa_enabled", user_id=user.id))
    await session.flush()
    return codes


async def verify(
    session: AsyncSession, user: User, code: str, *, now: datetime | None = None
) -> bool:
    """A sign-in's second step: an authenticator code or an unused recovery code."""
    if user.totp_secret is None or user.totp_enabled_at is None:
        raise Conflict("Two-factor sign-in is not on for this account.")
    step = _matching_step(user.totp_secret, code, _now(now))
    if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
        user.totp_last_step = step
        await session.flush()
        return True
    recovery = await session.scalar(
        select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    )
    if recovery is None:
        return False
    recovery.used_at = _now(now)
    session.add(SecurityEvent(action="auth.recovery_code_used", user_id=user.id))
    await session.flush()
    return True


async def disable(
    session: AsyncSession, user: User, code: str, *, now: datetime | None = None
) -> None:
    """Switch 2FA off; it takes a current code (or a recovery code) to do so."""
    if not await verify(session, user, code, now=now):
        raise Unauthenticated("That code is not right.")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add(SecurityEvent(action="auth.2fa_disabled", user_id=user.id))
    await session.flush()


async def _new_recovery_codes(session: AsyncSession, user: User) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 10 hex digits, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_code_hash(raw)))
    await session.flush()
    return codes
