"""API tokens: a member's credential for one workspace's JSON API.

The token is shown once; the database keeps its SHA-256 and an 8-character
prefix to tell tokens apart in a list. A token carries the permissions its
creator chose, which must be among the creator's own; at each use the web
guard intersects them with what the member holds now, so a demoted or
deactivated member's tokens shrink or stop with them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.identity.sessions import digest
from core.models import ApiToken
from core.permissions import Actor

PREFIX = "atr_"
MAX_DAYS = 366


async def create(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    permissions: Iterable[str],
    expires_in_days: int | None = 90,
) -> tuple[str, ApiToken]:
    """A new token for ``actor`` in their workspace; returns the plaintext (shown once)."""
    actor.require("core.api_token.create")
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A name has 1 to 100 characters.")
    codes = sorted(set(permissions))
    if not codes:
        raise ValidationFailed("Choose at least one permission for the token.")
    beyond = [code for code in codes if not actor.can(code)]
    if beyond:
        raise PermissionDenied(
            "A token cannot have a permission you do not hold: {permission}.",
            permission=beyond[0],
        )
    expires_at = None
    if expires_in_days is not None:
        if not 1 <= expires_in_days <= MAX_DAYS:
            raise ValidationFailed("A token lasts 1 to {days} days.", days=MAX_DAYS)
        expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{PREFIX}{secret}"
    token = ApiToken(
        membership_id=actor.membership_id,
        name=name,
        token_hash=digest(plaintext),
        prefix=plaintext[: len(PREFIX) + 8],
        permissions=codes,
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        "core.api_token.created",
        actor_id=actor.user_id,
        subject_type="core.api_token",
        subject_id=token.id,
        detail={"name": name, "permissions": codes},
    )
    return plaintext, token


async def mine(session: AsyncSession, actor: Actor) -> list[ApiToken]:
    """The actor's tokens in this workspace, newest first (revoked ones included)."""
    rows = await session.scalars(
        select(ApiToken)
        .where(ApiToken.membership_id == actor.membership_id)
        .order_by(ApiToken.id.desc())
    )
    return list(rows)


async def revoke(session: AsyncSession, actor: Actor, token_id: uuid.UUID) -> None:
    """Revoke one of the actor's tokens (admins revoke others' by deactivating the member)."""
    done = await session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            ApiToken.membership_id == actor.membership_id,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    )
    if done.rowcount == 0:
        raise NotFound("No API token {id}.", id=str(token_id))
    await audit.record(
        session,
        "core.api_token.revoked",
        actor_id=actor.user_id,
        subject_type="core.api_token",
        subject_id=token_id,
    )


async def revoke_all(session: AsyncSession, membership_id: uuid.UUID) -> int:
    """Revoke every live token of a member (on deactivation); returns how many."""
    done = await session.execute(
        update(ApiToken)
        .where(ApiToken.membership_id == membership_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return done.rowcount
