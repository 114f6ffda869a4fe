"""Counting attempts per account and per client address, with a lockout.

Two things are counted, each under its own keys in ``core_sign_in_throttle``:

- **failed sign-ins** (:data:`SIGN_IN`; a wrong password or second-factor
  code, also when switching two-factor off): within a 15-minute window from
  the first failure, 5 per account and 20 per address lock that key for
  15 minutes. A successful sign-in clears the account's count.
- **password reset requests** (:data:`RESET_REQUESTS`): 3 per typed address
  and 10 per client address within 15 minutes; then that key is locked for
  15 minutes. The address is counted whether or not it has an account, so
  being refused says nothing about accounts.

While a key is locked, the message says when to try again. Counting happens
on the side pool, so it holds though the request rolls back; the upsert
makes concurrent attempts count exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.errors import TooManyAttempts
from core.i18n import N_
from core.models import SignInThrottle
from core.orm import uuid7


@dataclass(frozen=True, slots=True)
class Limit:
    failures: int  # attempts counted in the window that lock the key
    window: timedelta
    lockout: timedelta


@dataclass(frozen=True, slots=True)
class Policy:
    """What is counted: attempts per account (the address typed) and per client address,
    under keys that start with ``prefix``, and the message shown while a key is locked."""

    prefix: str
    account: Limit
    address: Limit
    message: str  # a msgid with {minutes}


ACCOUNT = Limit(failures=5, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
ADDRESS = Limit(failures=20, window=timedelta(minutes=15), lockout=timedelta(minutes=15))
SIGN_IN = Policy(
    "", ACCOUNT, ADDRESS, N_("Too many failed sign-ins. Try again in {minutes} minutes.")
)
RESET_REQUESTS = Policy(
    "reset:",
    Limit(failures=3, window=timedelta(minutes=15), lockout=timedelta(minutes=15)),
    Limit(failures=10, window=timedelta(minutes=15), lockout=timedelta(minutes=15)),
    N_("Too many requests for a password reset. Try again in {minutes} minutes."),
)

_COUNT = text(
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


def _account(email: str) -> str:
    """The account part of a key; an address longer than any real one (320) counts under
    its first 320 characters, so the key always fits."""
    return f"account:{email.strip().lower()[:320]}"


def keys(email: str, ip: str | None, policy: Policy = SIGN_IN) -> list[tuple[str, Limit]]:
    found = [(f"{policy.prefix}{_account(email)}", policy.account)]
    if ip:
        found.append((f"{policy.prefix}ip:{ip}", policy.address))
    return found


async def check(
    session: AsyncSession, email: str, ip: str | None, policy: Policy = SIGN_IN
) -> None:
    """Refuse the attempt (before a password is even checked) while the account or the
    address is locked."""
    now = datetime.now(UTC)
    names = [key for key, _limit in keys(email, ip, policy)]
    locked = await session.scalar(
        select(SignInThrottle.locked_until)
        .where(SignInThrottle.key.in_(names), SignInThrottle.locked_until > now)
        .order_by(SignInThrottle.locked_until.desc())
        .limit(1)
    )
    if locked is not None:
        minutes = max(1, math.ceil((locked - now).total_seconds() / 60))
        raise TooManyAttempts(policy.message, minutes=minutes)


async def count(db: Database, email: str, ip: str | None, policy: Policy = SIGN_IN) -> None:
    """Count one attempt for the account and the address; lock what reached its limit."""
    async with db.side_transaction() as connection:
        for key, limit in keys(email, ip, policy):
            failures = (
                await connection.execute(
                    _COUNT, {"id": uuid7(), "key": key, "window": limit.window}
                )
            ).scalar_one()
            if failures >= limit.failures:
                await connection.execute(_LOCK, {"key": key, "lockout": limit.lockout})


async def clear_account(session: AsyncSession, email: str) -> None:
    await session.execute(delete(SignInThrottle).where(SignInThrottle.key == _account(email)))
