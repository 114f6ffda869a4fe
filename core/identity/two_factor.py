"""Two-factor sign-in: TOTP (RFC 6238, 30-second steps) and one-time recovery codes.

Enrolment is two steps: :func:`begin` makes a secret and the URI an
authenticator app scans; :func:`confirm` switches 2FA on only when a code
from the app checks out, and hands out ten recovery codes, shown once and
stored as SHA-256. A code from the step before or after is accepted (±30 s
of clock drift), and a step that was used once is never accepted again.

Switching 2FA off (:func:`disable`) and replacing the recovery codes
(:func:`replace_recovery_codes`) take the password and a current code (or
an unused recovery code), so a borrowed browser session is not enough. A
wrong one counts against the sign-in throttle and is logged. 2FA stays on
while the user is an active member of a workspace that requires it.
The web layer gives the session a new id after switching on or off.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

import pyotp
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, PermissionDenied, Unauthenticated, ValidationFailed
from core.identity import passwords, throttle
from core.identity.security_log import record_failure
from core.models import RecoveryCode, SecurityEvent, Tenant, User

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
    step = _matching_step(_require_enabled(user), code, _now(now))
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


async def workspaces_requiring(session: AsyncSession, user: User) -> list[str]:
    """Names of the workspaces ``user`` is an active member of that require 2FA."""
    # Memberships sit behind each tenant's row-level security: the account page's
    # function returns the user's own active ones across workspaces.
    mine = func.core_user_workspaces(user.id).table_valued("slug").alias("mine")
    rows = await session.scalars(
        select(Tenant.name)
        .join(mine, mine.c.slug == Tenant.slug)
        .where(Tenant.require_two_factor.is_(True))
        .order_by(Tenant.name)
    )
    return list(rows)


async def disable(
    session: AsyncSession,
    user: User,
    *,
    password: str,
    code: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> None:
    """Switch 2FA off: clears the secret and the recovery codes.

    Takes the password and a current code (or a recovery code). Refused while
    a workspace the user belongs to requires 2FA, naming it.
    """
    _require_enabled(user)
    required_by = await workspaces_requiring(session, user)
    if len(required_by) == 1:
        raise PermissionDenied(
            "The workspace {workspace} requires two-factor sign-in, "
            "so it stays on while you are a member there.",
            workspace=required_by[0],
        )
    if required_by:
        raise PermissionDenied(
            "The workspaces {workspaces} require two-factor sign-in, "
            "so it stays on while you are a member there.",
            workspaces=", ".join(required_by),
        )
    await _prove(session, user, password, code, ip, now, failed="auth.2fa_disable_failed")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.add(SecurityEvent(action="auth.2fa_disabled", user_id=user.id, ip=ip))
    await session.flush()


async def replace_recovery_codes(
    session: AsyncSession,
    user: User,
    *,
    password: str,
    code: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Ten new recovery codes (shown once); the earlier ones stop working.

    Takes the password and a current code (or one of the old recovery codes).
    """
    _require_enabled(user)
    await _prove(
        session, user, password, code, ip, now, failed="auth.recovery_codes_replace_failed"
    )
    codes = await _new_recovery_codes(session, user)
    session.add(SecurityEvent(action="auth.recovery_codes_replaced", user_id=user.id, ip=ip))
    await session.flush()
    return codes


async def recovery_codes_left(session: AsyncSession, user: User) -> int:
    """How many of the user's recovery codes are still unused."""
    left = await session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return left or 0


def _require_enabled(user: User) -> str:
    """A Conflict if 2FA is off for ``user``; their TOTP secret if it is on."""
    if user.totp_secret is None or user.totp_enabled_at is None:
        raise Conflict("Two-factor sign-in is not on for this account.")
    return user.totp_secret


async def _prove(
    session: AsyncSession,
    user: User,
    password: str,
    code: str,
    ip: str | None,
    now: datetime | None,
    *,
    failed: str,
) -> None:
    """The password and a second factor, checked like a sign-in: refused while the account
    or address is locked; a wrong one is counted and logged as ``failed``."""
    await throttle.check(session, user.email, ip)
    if not passwords.verify(user.password_hash, password):
        reason = "password"
    elif not await verify(session, user, code, now=now):
        reason = "code"
    else:
        return
    await record_failure(
        session, failed, email=user.email, ip=ip, user_id=user.id, detail={"reason": reason}
    )
    # One message for both: a borrowed session must not learn which of the two was right.
    raise Unauthenticated("The password or the code is not right.")


async def _new_recovery_codes(session: AsyncSession, user: User) -> list[str]:
    await session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)  # 10 hex digits, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_code_hash(raw)))
    await session.flush()
    return codes
