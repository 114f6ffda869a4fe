"""Server-side sessions: the cookie holds an opaque token, the database its SHA-256.

A session ends when it is signed out (revoked), when it has not been used
for ``session_idle_minutes``, or ``session_absolute_hours`` after sign-in,
whichever comes first. Signing in always starts a new session (a planted
token is never promoted), and :func:`rotate` replaces the token when
privileges change.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import UserSession
from core.settings import Settings

WORKSPACE, OPERATOR = "workspace", "operator"  # sign-in areas; each accepts only its own
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most once a minute per session


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


async def start(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    area: str = WORKSPACE,
    pending_second_factor: bool = False,
) -> tuple[str, UserSession]:
    """A new session for ``user_id``; returns the token to put in the cookie (shown once)."""
    token = secrets.token_urlsafe(32)
    now = _now()
    row = UserSession(
        token_hash=digest(token),
        user_id=user_id,
        last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_absolute_hours),
        ip=ip,
        user_agent=(user_agent or "")[:300] or None,
        area=area,
        pending_second_factor=pending_second_factor,
    )
    session.add(row)
    await session.flush()
    return token, row


async def resolve(
    session: AsyncSession,
    settings: Settings,
    token: str,
    *,
    area: str = WORKSPACE,
    pending_second_factor: bool = False,
) -> UserSession | None:
    """The live session behind ``token`` in ``area``, its last use refreshed; None if it
    has ended. A session waiting for its second factor is found only when asked for."""
    row = await session.scalar(
        select(UserSession).where(
            UserSession.token_hash == digest(token),
            UserSession.area == area,
            UserSession.pending_second_factor.is_(pending_second_factor),
        )
    )
    now = _now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(minutes=settings.session_idle_minutes) <= now:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        await session.flush()
    return row


async def rotate(
    session: AsyncSession, settings: Settings, token: str, *, pending_second_factor: bool = False
) -> str:
    """Replace a live session's token (after a privilege change, or when the second factor
    completes a sign-in); the old one stops working."""
    current = await resolve(session, settings, token, pending_second_factor=pending_second_factor)
    if current is None:
        raise LookupError("no live session to rotate")
    current.revoked_at = _now()
    new_token, _row = await start(
        session,
        settings,
        current.user_id,
        ip=current.ip,
        user_agent=current.user_agent,
        area=current.area,
    )
    return new_token


async def end(session: AsyncSession, token: str) -> None:
    """Sign this session out."""
    await session.execute(
        update(UserSession)
        .where(UserSession.token_hash == digest(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


async def end_one(session: AsyncSession, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """Sign out one of the user's sessions (from their list of active sessions)."""
    await session.execute(
        update(UserSession)
        .where(
            UserSession.id == session_id,
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
        .values(revoked_at=_now())
    )


async def end_all(session: AsyncSession, user_id: uuid.UUID, *, keep: str | None = None) -> int:
    """Sign out everywhere (but the session ``keep``); returns how many were ended."""
    query = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    if keep is not None:
        query = query.where(UserSession.token_hash != digest(keep))
    return (await session.execute(query)).rowcount


async def active(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> list[UserSession]:
    """The user's live sessions (device and last use), most recently used first."""
    now = _now()
    rows = await session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
            UserSession.pending_second_factor.is_(False),
            UserSession.expires_at > now,
            UserSession.last_seen_at > now - timedelta(minutes=settings.session_idle_minutes),
        )
        .order_by(UserSession.last_seen_at.desc())
    )
    return list(rows)
