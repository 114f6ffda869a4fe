"""Two-factor sign-in: enrolment, clock skew, replay, recovery codes, switching off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select

from core.db import Database
from core.errors import Conflict, Unauthenticated, ValidationFailed
from core.identity import accounts, two_factor
from core.models import RecoveryCode, SecurityEvent, User

NOW = datetime(2026, 11, 23, 9, 0, 15, tzinfo=UTC)  # 15 s into a 30-second step


@pytest.fixture
async def user_id(db: Database):
    async with db.global_transaction() as session:
        user = await accounts.register(
            session,
            email="totp@example.test",
            password="correct horse battery staple",
            display_name="Tess",
        )
        return user.id


async def _user(session, user_id) -> User:
    return await session.scalar(select(User).where(User.id == user_id))


async def _enrol(db: Database, user_id) -> tuple[pyotp.TOTP, list[str]]:
    async with db.global_transaction() as session:
        uri = await two_factor.begin(session, await _user(session, user_id))
    query = parse_qs(urlparse(uri).query)
    assert urlparse(uri).scheme == "otpauth"
    assert query["issuer"] == ["Atrium"]
    app = pyotp.TOTP(query["secret"][0])
    async with db.global_transaction() as session:
        codes = await two_factor.confirm(
            session, await _user(session, user_id), app.at(NOW), now=NOW
        )
    return app, codes


async def _verify(db: Database, user_id, code: str, when: datetime) -> bool:
    async with db.global_transaction() as session:
        return await two_factor.verify(session, await _user(session, user_id), code, now=when)


async def test_enrolment_needs_a_good_code_and_gives_recovery_codes(db: Database, user_id) -> None:
    async with db.global_transaction() as session:
        await two_factor.begin(session, await _user(session, user_id))
        with pytest.raises(ValidationFailed, match="not right"):
            await two_factor.confirm(session, await _user(session, user_id), "000000", now=NOW)
    _app, codes = await _enrol(db, user_id)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    async with db.global_transaction() as session:
        stored = set(await session.scalars(select(RecoveryCode.code_hash)))
        assert not stored & set(codes)  # only hashes are kept
        with pytest.raises(Conflict, match="already on"):
            await two_factor.begin(session, await _user(session, user_id))
        actions = set(await session.scalars(select(SecurityEvent.action)))
    assert "auth.2fa_enabled" in actions


async def test_codes_from_a_neighbouring_step_are_accepted_and_further_ones_are_not(
    db: Database, user_id
) -> None:
    app, _codes = await _enrol(db, user_id)
    later = NOW + timedelta(minutes=5)
    # The phone's clock runs 30 s behind, then 30 s ahead: both accepted.
    assert await _verify(db, user_id, app.at(later - timedelta(seconds=30)), later)
    later += timedelta(minutes=5)
    assert await _verify(db, user_id, app.at(later + timedelta(seconds=30)), later)
    later += timedelta(minutes=5)
    assert not await _verify(db, user_id, app.at(later - timedelta(seconds=90)), later)
    assert not await _verify(db, user_id, app.at(later + timedelta(seconds=90)), later)


async def test_a_code_works_once(db: Database, user_id) -> None:
    app, _codes = await _enrol(db, user_id)
    later = NOW + timedelta(minutes=5)
    code = app.at(later)
    assert await _verify(db, user_id, code, later)
    assert not await _verify(db, user_id, code, later + timedelta(seconds=10))
    # Nor does an older step after a newer one was used.
    assert not await _verify(db, user_id, app.at(later - timedelta(seconds=30)), later)


async def test_recovery_codes_work_once_each(db: Database, user_id) -> None:
    _app, codes = await _enrol(db, user_id)
    assert await _verify(db, user_id, codes[0].upper(), NOW)  # typed in any case
    assert not await _verify(db, user_id, codes[0], NOW)
    assert await _verify(db, user_id, codes[1].replace("-", ""), NOW)


async def test_switching_off_takes_a_code(db: Database, user_id) -> None:
    app, _codes = await _enrol(db, user_id)
    later = NOW + timedelta(minutes=5)
    async with db.global_transaction() as session:
        with pytest.raises(Unauthenticated):
            await two_factor.disable(session, await _user(session, user_id), "123456", now=later)
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        await two_factor.disable(session, user, app.at(later), now=later)
        assert (user.totp_secret, user.totp_enabled_at) == (None, None)
        assert (await session.scalars(select(RecoveryCode))).all() == []
        with pytest.raises(Conflict, match="not on"):
            await two_factor.verify(session, user, app.at(later), now=later)
