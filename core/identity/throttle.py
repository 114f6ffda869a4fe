"""Sign-in protection: failures counted per account and per address, with a lockout.

Limits (within a 15-minute window from the first failure): 5 failures per
account, 20 per address; either locks that key for 15 minutes, and the
message says when to try again. A successful sign-in clears the account's
count. Counting happens on the side pool, so it holds though the failed
request rolls back; the upsert makes concurrent failures count exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import TooManyAttempts
from core.models import SignInThrottle
from core.orm import uuid7


@dataclass(frozen=True, slots=True)
class Limit:
    failures: int
    window: timedelta
    lockout: timedelta


ACCOUNT = Limit(failures=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
ADDRESS = Limit(failures=20, window=timedelta(minutes=15), lockout=timedelta(minutes=15))

_COUNT_FAILURE = text(
    """
    INSERT INTO core_sign_in_throttle AS t (id, key, failures, window_start, created_at)
    VALUES (:id, :key, 1, now(), now())
    ON CONFLICT (key) DO UPDATE SET
      failures = CASE WHEN t.window_start > now() - CAST(:window AS interval)
                      THEN t.failures + 1 ELSE 1 END,
      window_start = CASE WHEN t.window_start > now() - CAST(:window AS interval)
                          THEN t.window_start ELSE now() END
    RETURNING t.failures
    """
)
_LOCK = text(
    "UPDATE core_sign_in_throttle SET locked_until = now() + CAST(:lockout AS interval) "
    "WHERE key = :key"
)


def keys(email: str, ip: str | None) -> list[tuple[str, Limit]]:
    found = [(f"account:{email.strip().lower()}", ACCOUNT)]
    if ip:
        found.append((f"ip:{ip}", ADDRESS))
    return found


async def check(session: AsyncSession, email: str, ip: str | None) -> None:
    """Refuse to even check a password while the account or the address is locked."""
    now = datetime.now(UTC)
    names = [key for key, _limit in keys(email, ip)]
    locked = await session.scalar(
        select(SignInThrottle.locked_until)
        .where(SignInThrottle.key.in_(names), SignInThrottle.locked_until > now)
        .order_by(SignInThrottle.locked_until.desc())
        .limit(1)
    )
    if locked is not None:
        minutes = max(1, math.ceil((locked - now).total_seconds() / 60))
        raise TooManyAttempts(
            "Too many failed sign-ins. Try again in {minutes} minutes.", minutes=minutes
        )


async def count_failure(db: Database, email: str, ip: str | None) -> None:
    """Count one failure for the account and the address; lock what reached its limit."""
    async with db.side_transaction() as connection:
        for key, limit in keys(email, ip):
            failures = (
                await connection.execute(
                    _COUNT_FAILURE, {"id": uuid7(), "key": key, "window": limit.window}
                )
            ).scalar_one()
            if failures >= limit.failures:
                await connection.execute(_LOCK, {"key": key, "lockout": limit.lockout})


async def clear_account(session: AsyncSession, email: str) -> None:
    await session.execute(
        delete(SignInThrottle).where(SignInThrottle.key == f"account:{email.strip().lower()}")
    )
