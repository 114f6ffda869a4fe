"""Two-factor sign-in: enrolment, clock skew, replay, recovery codes, switching off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from sqlalchemy import select, update

from core.db import Database
from core.errors import (
    Conflict,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from core.identity import accounts, throttle, two_factor
from core.models import Membership, RecoveryCode, SecurityEvent, SignInThrottle, Tenant, User
from tests.core.test_mail_tokens import _security_log

NOW = datetime(2026, 11, 23, 9, 0, 15, tzinfo=UTC)  # 15 s into a 30-second step
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def user_id(db: Database):
    async with db.global_transaction() as session:
        user = await accounts.register(
            session,
            email="totp@example.test",
            password=PASSWORD,
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


async def _disable(db: Database, user_id, code: str, password: str = PASSWORD, **kw) -> None:
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        await two_factor.disable(session, user, password=password, code=code, ip="10.0.0.5", **kw)


async def test_switching_off_takes_the_password_and_a_code(db: Database, user_id) -> None:
    app, _codes = await _enrol(db, user_id)
    later = NOW + timedelta(minutes=5)
    with pytest.raises(Unauthenticated, match="password or the code is not right"):
        await _disable(db, user_id, app.at(later), "not the password", now=later)
    with pytest.raises(Unauthenticated, match="password or the code is not right"):
        await _disable(db, user_id, "123456", now=later)
    # Both failures are logged and counted like failed sign-ins, though they rolled back.
    failures = await _security_log(db, "auth.2fa_disable_failed")
    assert [(f.user_id, f.ip, f.detail) for f in failures] == [
        (user_id, "10.0.0.5", {"reason": "password"}),
        (user_id, "10.0.0.5", {"reason": "code"}),
    ]
    async with db.global_transaction() as session:
        counted = await session.scalar(
            select(SignInThrottle.failures).where(SignInThrottle.key == "account:totp@example.test")
        )
    assert counted == 2

    await _disable(db, user_id, app.at(later), now=later)
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        assert (user.totp_secret, user.totp_enabled_at, user.totp_last_step) == (None, None, None)
        assert (await session.scalars(select(RecoveryCode))).all() == []
        with pytest.raises(Conflict, match="not on"):
            await two_factor.verify(session, user, app.at(later), now=later)
    [done] = await _security_log(db, "auth.2fa_disabled")
    assert (done.user_id, done.ip) == (user_id, "10.0.0.5")
    with pytest.raises(Conflict, match="not on"):
        await _disable(db, user_id, app.at(later), now=later)


async def test_a_recovery_code_switches_off_too(db: Database, user_id) -> None:
    _app, codes = await _enrol(db, user_id)
    await _disable(db, user_id, codes[3], now=NOW)
    async with db.global_transaction() as session:
        assert (await _user(session, user_id)).totp_enabled_at is None


async def test_guessing_at_the_switch_locks_the_account_like_sign_in(db: Database, user_id) -> None:
    app, _codes = await _enrol(db, user_id)
    for _ in range(throttle.ACCOUNT.failures):
        with pytest.raises(Unauthenticated):
            await _disable(db, user_id, "000000", now=NOW)
    with pytest.raises(TooManyAttempts, match="Try again in 15 minutes"):
        await _disable(db, user_id, app.at(NOW), now=NOW)  # even with the right code


async def test_a_workspace_that_requires_it_keeps_it_on(db: Database, user_id, make_tenant) -> None:
    app, _codes = await _enrol(db, user_id)
    first, second = await make_tenant("strict"), await make_tenant("stricter")
    memberships = {}
    for tenant in (first, second):
        async with db.tenant_transaction(tenant.tenant_id) as session:
            member = Membership(user_id=user_id, role="member")
            session.add(member)
            await session.flush()
            memberships[tenant.slug] = member.id
    later = NOW + timedelta(minutes=5)
    await _disable(db, user_id, app.at(later), now=later)  # nobody requires it yet: fine
    app, _codes = await _enrol(db, user_id)  # on again, with a new secret

    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id.in_([first.tenant_id, second.tenant_id]))
            .values(require_two_factor=True)
        )
    with pytest.raises(PermissionDenied) as both:
        await _disable(db, user_id, app.at(later), now=later)
    assert str(both.value) == (
        "The workspaces Strict, Stricter require two-factor sign-in, "
        "so it stays on while you are a member there."
    )
    async with db.tenant_transaction(second.tenant_id) as session:  # no longer a member there
        await session.execute(
            update(Membership).where(Membership.id == memberships["stricter"]).values(active=False)
        )
    with pytest.raises(PermissionDenied) as one:
        await _disable(db, user_id, app.at(later), now=later)
    assert one.value.params == {"workspace": "Strict"}
    assert str(one.value) == (
        "The workspace Strict requires two-factor sign-in, "
        "so it stays on while you are a member there."
    )
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        assert user.totp_enabled_at is not None
        assert await two_factor.workspaces_requiring(session, user) == ["Strict"]


async def test_new_recovery_codes_replace_the_old_ones(db: Database, user_id) -> None:
    app, old = await _enrol(db, user_id)
    assert await _verify(db, user_id, old[0], NOW)
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        assert await two_factor.recovery_codes_left(session, user) == 9
        with pytest.raises(Unauthenticated):
            await two_factor.replace_recovery_codes(
                session, user, password="wrong password", code=app.at(NOW), now=NOW
            )
    later = NOW + timedelta(minutes=5)
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        new = await two_factor.replace_recovery_codes(
            session, user, password=PASSWORD, code=app.at(later), ip="10.0.0.5", now=later
        )
        assert await two_factor.recovery_codes_left(session, user) == 10
    assert len(set(new)) == 10
    assert not set(new) & set(old)
    assert not await _verify(db, user_id, old[1], later)  # the old ones stop working
    assert await _verify(db, user_id, new[0], later)
    [replaced] = await _security_log(db, "auth.recovery_codes_replaced")
    assert (replaced.user_id, replaced.ip) == (user_id, "10.0.0.5")
    [failed] = await _security_log(db, "auth.recovery_codes_replace_failed")
    assert failed.detail == {"reason": "password"}
