"""One-time tokens: the links that verify an e-mail address and reset a password.

The link carries a random token; the database keeps its SHA-256, the address
it was mailed to, when it expires and when it was used. A token works once:
:func:`consume` marks it used in the statement that checks it
(``UPDATE … WHERE used_at IS NULL AND expires_at > now() RETURNING``), so of
two concurrent uses exactly one wins. Issuing a token deletes the user's
unused ones for the same purpose, so only the latest link works, and a token
stops working when the user's address changes: it proves the old one only.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.errors import ValidationFailed
from core.identity.sessions import digest
from core.models import User
from core.orm import GlobalModel

Purpose = Literal["verify_email", "reset_password"]
VERIFY_EMAIL: Purpose = "verify_email"
RESET_PASSWORD: Purpose = "reset_password"  # noqa: S105  (a purpose, not a password)
LIFETIME: dict[str, timedelta] = {
    VERIFY_EMAIL: timedelta(days=3),
    RESET_PASSWORD: timedelta(hours=2),  # a reset link in a mailbox is a key to the account
}


class OneTimeToken(GlobalModel):
    """A mailed link's token: only its SHA-256 is stored."""

    __tablename__ = "core_one_time_token"
    __table_args__ = (
        Index("ix_core_one_time_token_user_id_purpose", "user_id", "purpose"),
        CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="purpose"),
    )

    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))  # the address the link was mailed to
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


async def issue(session: AsyncSession, purpose: Purpose, user: User) -> str:
    """A new token for ``user`` (returned once, for the link); earlier unused ones die."""
    # Two requests at once for the same user leave one live token, not two.
    await session.execute(select(User.id).where(User.id == user.id).with_for_update(key_share=True))
    await session.execute(
        delete(OneTimeToken).where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
    )
    token = secrets.token_urlsafe(32)
    now = await session.scalar(select(func.now()))
    session.add(
        OneTimeToken(
            purpose=purpose,
            user_id=user.id,
            email=user.email,
            token_hash=digest(token),
            expires_at=now + LIFETIME[purpose],
        )
    )
    await session.flush()
    return token


async def check(session: AsyncSession, purpose: Purpose, token: str) -> User:
    """The user whose live token this is, leaving it unused; a clear error otherwise."""
    found = (
        await session.execute(
            select(OneTimeToken, User, func.now())
            .join(User, User.id == OneTimeToken.user_id)
            .where(OneTimeToken.token_hash == digest(token), OneTimeToken.purpose == purpose)
        )
    ).first()
    if found is None:
        raise _not_valid()
    row, user, now = found
    if row.used_at is not None:
        raise ValidationFailed("This link has already been used.", reason="used")
    if row.expires_at <= now:
        raise ValidationFailed("This link has expired. Ask for a new one.", reason="expired")
    if row.email.lower() != user.email.lower():
        raise _not_valid()
    return user


async def consume(session: AsyncSession, purpose: Purpose, token: str) -> User:
    """Use the token: its user once; a clear error if unknown, used, expired or stale."""
    user_id = await session.scalar(
        update(OneTimeToken)
        .where(
            OneTimeToken.token_hash == digest(token),
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
            OneTimeToken.expires_at > func.now(),
            OneTimeToken.user_id == User.id,
            func.lower(OneTimeToken.email) == func.lower(User.email),
        )
        .values(used_at=func.now())
        .returning(OneTimeToken.user_id)
        .execution_options(synchronize_session=False)
    )
    if user_id is None:
        await check(session, purpose, token)  # raises the reason
        raise _not_valid()  # checked live just now, yet not usable: treat as not valid
    user = await session.get(User, user_id)
    assert user is not None  # the UPDATE joined it
    return user


async def owner(session: AsyncSession, token: str) -> uuid.UUID | None:
    """Whose token this is, live or not: for the security log of a refused link."""
    return await session.scalar(
        select(OneTimeToken.user_id).where(OneTimeToken.token_hash == digest(token))
    )


def _not_valid() -> ValidationFailed:
    return ValidationFailed("This link is not valid. Ask for a new one.", reason="invalid")
