"""Identity services against the real database: passwords, sign-in, server-side sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from core.db import Database, owner_engine
from core.errors import Conflict, Unauthenticated, ValidationFailed
from core.identity import accounts, passwords, sessions
from core.models import SecurityEvent, User, UserSession
from core.settings import Settings

GOOD = "correct horse battery staple"


@pytest.fixture
async def user(db: Database) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(
            session, email="Ada@Example.test", password=GOOD, display_name="Ada"
        )


async def _sign_in(
    db: Database, settings: Settings, password: str = GOOD, email: str = "ada@example.test"
):
    async with db.global_transaction() as session:
        return await accounts.sign_in(
            session, settings, email=email, password=password, ip="10.0.0.7", user_agent="tests"
        )


async def _resolve(db: Database, settings: Settings, token: str) -> UserSession | None:
    async with db.global_transaction() as session:
        return await sessions.resolve(session, settings, token)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 10"),
        ("1234567890", "too easy"),
        ("qwertyuiop", "too easy"),
        ("ada@example.test", "too easy"),
        ("x" * 257, "at most 256"),
    ],
)
def test_password_policy(password: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        passwords.check_policy(password, email="ada@example.test")


def test_a_good_password_passes_and_verifies() -> None:
    passwords.check_policy(GOOD, email="ada@example.test")
    hashed = passwords.hash_password(GOOD)
    assert hashed.startswith("$argon2id$")
    assert passwords.verify(hashed, GOOD)
    assert not passwords.verify(hashed, GOOD + "!")
    assert not passwords.verify("not a hash", GOOD)
    assert not passwords.verify(None, GOOD)


async def test_e_mail_is_unique_ignoring_case(db: Database, user: User) -> None:
    async with db.global_transaction() as session:
        with pytest.raises(Conflict, match="already exists"):
            await accounts.register(
                session, email="ada@EXAMPLE.test", password=GOOD, display_name="Ada again"
            )
        # The refused row is forgotten: the same transaction goes on and commits.
        await accounts.register(
            session, email="bea@example.test", password=GOOD, display_name="Bea"
        )
    async with db.global_transaction() as session:
        assert await accounts.by_email(session, "BEA@example.test") is not None


async def test_sign_in_starts_a_session(db: Database, settings: Settings, user: User) -> None:
    token, signed_in = await _sign_in(db, settings)
    assert signed_in.id == user.id
    live = await _resolve(db, settings, token)
    assert live is not None
    assert (live.user_id, live.ip, live.user_agent) == (user.id, "10.0.0.7", "tests")
    async with db.global_transaction() as session:
        stored = await session.scalar(select(UserSession.token_hash))
        assert stored == sessions.digest(token)  # the token itself is never stored
        assert stored != token


async def test_wrong_password_and_unknown_user_get_the_same_answer_and_are_logged(
    db: Database, settings: Settings, user: User
) -> None:
    with pytest.raises(Unauthenticated) as wrong:
        await _sign_in(db, settings, password="wrong password here")
    with pytest.raises(Unauthenticated) as unknown:
        await _sign_in(db, settings, email="nobody@example.test")
    assert str(wrong.value) == str(unknown.value)
    async with db.global_transaction() as session:
        events = (await session.execute(select(SecurityEvent.action, SecurityEvent.email))).all()
    # Written on the side pool: kept although each sign-in's transaction rolled back.
    assert sorted(events) == [
        ("auth.sign_in_failed", "ada@example.test"),
        ("auth.sign_in_failed", "nobody@example.test"),
    ]


async def test_signing_in_never_reuses_an_earlier_token(
    db: Database, settings: Settings, user: User
) -> None:
    """Session fixation: a token that existed before sign-in is not the signed-in session."""
    planted, _ = await _sign_in(db, settings)
    fresh, _ = await _sign_in(db, settings)
    assert fresh != planted
    async with db.global_transaction() as session:
        rotated = await sessions.rotate(session, settings, fresh)
    assert rotated != fresh
    assert await _resolve(db, settings, fresh) is None
    assert await _resolve(db, settings, rotated) is not None


async def test_idle_and_absolute_timeouts_end_a_session(
    db: Database, settings: Settings, user: User
) -> None:
    idle, _ = await _sign_in(db, settings)
    old, _ = await _sign_in(db, settings)
    engine = owner_engine(db.owner)
    async with engine.begin() as conn:
        await conn.execute(
            update(UserSession)
            .where(UserSession.token_hash == sessions.digest(idle))
            .values(last_seen_at=func.now() - timedelta(minutes=settings.session_idle_minutes + 1))
        )
        await conn.execute(
            update(UserSession)
            .where(UserSession.token_hash == sessions.digest(old))
            .values(expires_at=func.now() - timedelta(seconds=1))
        )
    await engine.dispose()
    assert await _resolve(db, settings, idle) is None
    assert await _resolve(db, settings, old) is None


async def test_sign_out_everywhere_keeps_only_this_session(
    db: Database, settings: Settings, user: User
) -> None:
    here, _ = await _sign_in(db, settings)
    there, _ = await _sign_in(db, settings)
    elsewhere, _ = await _sign_in(db, settings)
    async with db.global_transaction() as session:
        assert await sessions.end_all(session, user.id, keep=here) == 2
        assert [s.token_hash for s in await sessions.active(session, settings, user.id)] == [
            sessions.digest(here)
        ]
    assert await _resolve(db, settings, there) is None
    assert await _resolve(db, settings, elsewhere) is None
    async with db.global_transaction() as session:
        await sessions.end(session, here)
    assert await _resolve(db, settings, here) is None


async def test_old_hashes_are_upgraded_at_sign_in(
    db: Database, settings: Settings, user: User
) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(GOOD)
    engine = owner_engine(db.owner)
    async with engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user.id).values(password_hash=weak))
    await engine.dispose()
    assert passwords.needs_rehash(weak)
    await _sign_in(db, settings)
    async with db.global_transaction() as session:
        upgraded = await session.scalar(select(User.password_hash).where(User.id == user.id))
    assert upgraded != weak
    assert not passwords.needs_rehash(upgraded)
    assert passwords.verify(upgraded, GOOD)


@pytest.mark.parametrize(
    "statement", ["UPDATE core_security_log SET action = 'x'", "DELETE FROM core_security_log"]
)
async def test_the_security_log_is_append_only(
    db: Database, settings: Settings, user: User, statement: str
) -> None:
    await _sign_in(db, settings)
    async with db.session() as session:
        await session.begin()
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text(statement))
        await session.rollback()
