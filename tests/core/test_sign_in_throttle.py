"""Sign-in protection: per-account and per-address limits, a lockout that expires."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from core.db import Database, owner_engine
from core.errors import TooManyAttempts, Unauthenticated
from core.identity import accounts, throttle
from core.models import SecurityEvent, SignInThrottle
from core.settings import Settings

GOOD = "correct horse battery staple"


@pytest.fixture
async def users(db: Database) -> None:
    async with db.global_transaction() as session:
        for name in ("ada", "bob"):
            await accounts.register(
                session, email=f"{name}@example.test", password=GOOD, display_name=name
            )


async def _attempt(db: Database, settings: Settings, email: str, password: str, ip: str):
    async with db.global_transaction() as session:
        return await accounts.sign_in(session, settings, email=email, password=password, ip=ip)


async def _fail(db: Database, settings: Settings, email: str, ip: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            await _attempt(db, settings, email, "not the password", ip)


async def test_an_account_locks_after_five_failures_even_for_the_right_password(
    db: Database, settings: Settings, users
) -> None:
    await _fail(db, settings, "ada@example.test", "10.0.0.1", throttle.ACCOUNT.failures)
    with pytest.raises(TooManyAttempts, match="Try again in 15 minutes") as locked:
        await _attempt(db, settings, "ADA@example.test", GOOD, "10.0.0.2")
    assert locked.value.status_code == 429
    # Another account from the same address is not locked (the address is under its limit).
    token, _user = await _attempt(db, settings, "bob@example.test", GOOD, "10.0.0.1")
    assert token


async def test_the_lockout_expires_and_success_clears_the_count(
    db: Database, settings: Settings, users
) -> None:
    await _fail(db, settings, "ada@example.test", "10.0.0.1", throttle.ACCOUNT.failures)
    engine = owner_engine(db.owner)
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE core_sign_in_throttle SET locked_until = now() - interval '1 second'")
        )
    await engine.dispose()
    assert (await _attempt(db, settings, "ada@example.test", GOOD, "10.0.0.1"))[0]
    async with db.global_transaction() as session:
        keys = set(await session.scalars(select(SignInThrottle.key)))
    assert keys == {"ip:10.0.0.1"}  # the account's count is gone, the address's stays


async def test_an_address_locks_after_twenty_failures_across_accounts(
    db: Database, settings: Settings, users
) -> None:
    per_account = throttle.ACCOUNT.failures - 1  # stay under each account's own limit
    assert throttle.ADDRESS.failures % per_account == 0
    for i in range(throttle.ADDRESS.failures // per_account):
        await _fail(db, settings, f"guess{i}@example.test", "10.9.9.9", per_account)
    with pytest.raises(TooManyAttempts):
        await _attempt(db, settings, "bob@example.test", GOOD, "10.9.9.9")
    assert (await _attempt(db, settings, "bob@example.test", GOOD, "10.0.0.5"))[0]


async def test_concurrent_failures_are_counted_exactly(
    db: Database, settings: Settings, users
) -> None:
    async def fail_once() -> None:
        with pytest.raises((Unauthenticated, TooManyAttempts)):
            await _attempt(db, settings, "ada@example.test", "not the password", "10.1.1.1")

    await asyncio.gather(*(fail_once() for _ in range(4)))
    async with db.global_transaction() as session:
        failures = await session.scalar(
            select(SignInThrottle.failures).where(SignInThrottle.key == "account:ada@example.test")
        )
        logged = await session.scalar(
            select(text("count(*)"))
            .select_from(SecurityEvent)
            .where(SecurityEvent.action == "auth.sign_in_failed")
        )
    assert failures == 4
    assert logged == 4
