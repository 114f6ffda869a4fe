"""A user's own profile, password and avatar (core.identity.profile) on the real database."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import Database
from core.errors import Conflict, NotFound, TooManyAttempts, Unauthenticated, ValidationFailed
from core.identity import accounts, passwords, profile, sessions, throttle
from core.models import SignInThrottle, User
from core.records.attachments import MIB
from core.records.storage import LocalFileStore
from core.settings import Settings
from tests.core.test_mail_tokens import _security_log

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a fresh and rather long passphrase"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4
WEBP = b"RIFF\x00\x04\x00\x00WEBPVP8 " + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"
GIF = b"GIF89a" + bytes(range(256))


@pytest.fixture
async def user_id(db: Database) -> uuid.UUID:
    async with db.global_transaction() as session:
        user = await accounts.register(
            session, email="pat@example.test", password=PASSWORD, display_name="Pat"
        )
        return user.id


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


def _files(store: LocalFileStore) -> list[str]:
    if not store.root.exists():
        return []
    found = (p for p in store.root.rglob("*") if p.is_file())
    return sorted(p.relative_to(store.root).as_posix() for p in found)


async def _user(session, user_id: uuid.UUID) -> User:
    return await session.scalar(select(User).where(User.id == user_id))


async def _reload(db: Database, user_id: uuid.UUID) -> User:
    async with db.global_transaction() as session:
        return await _user(session, user_id)


# --- name, language, time zone -----------------------------------------------------------------


async def test_the_profile_is_saved_trimmed(db: Database, user_id: uuid.UUID) -> None:
    async with db.global_transaction() as session:
        await profile.update_profile(
            session, await _user(session, user_id), "  Pat Lee  ", "zh-CN", "Asia/Shanghai"
        )
    saved = await _reload(db, user_id)
    assert (saved.display_name, saved.locale, saved.time_zone) == (
        "Pat Lee",
        "zh-CN",
        "Asia/Shanghai",
    )


@pytest.mark.parametrize(
    ("name", "locale", "zone", "field", "message"),
    [
        ("   ", "zh-CN", "Asia/Tokyo", "display_name", "Enter a display name"),
        ("x" * 201, "zh-CN", "Asia/Tokyo", "display_name", "at most 200 characters"),
        ("Pat Lee", "fr", "Asia/Tokyo", "locale", "Language must be one of en, zh-CN"),
        ("Pat Lee", "zh-CN", "Mars/Olympus", "time_zone", "time zone Mars/Olympus is not known"),
        ("Pat Lee", "zh-CN", "localtime", "time_zone", "is not known"),
        ("Pat Lee", "zh-CN", "", "time_zone", "is not known"),
    ],
)
async def test_a_refused_profile_changes_nothing(
    db: Database, user_id: uuid.UUID, name: str, locale: str, zone: str, field: str, message: str
) -> None:
    async with db.global_transaction() as session:
        user = await _user(session, user_id)
        with pytest.raises(ValidationFailed, match=message) as refused:
            await profile.update_profile(session, user, name, locale, zone)
        # The transaction goes on and commits: nothing was assigned before the check failed.
    assert refused.value.params["field"] == field
    saved = await _reload(db, user_id)
    assert (saved.display_name, saved.locale, saved.time_zone) == ("Pat", "en", "UTC")


# --- password ------------------------------------------------------------------------------------


async def _sessions(db: Database, settings: Settings, user_id: uuid.UUID, n: int) -> list[str]:
    async with db.global_transaction() as session:
        return [(await sessions.start(session, settings, user_id))[0] for _ in range(n)]


async def _live(db: Database, settings: Settings, token: str) -> bool:
    async with db.global_transaction() as session:
        return await sessions.resolve(session, settings, token) is not None


async def _change(
    db: Database, settings: Settings, user_id: uuid.UUID, current: str, new: str, keep: str
) -> str:
    async with db.global_transaction() as session:
        return await profile.change_password(
            session, settings, await _user(session, user_id), current, new, keep, ip="10.0.0.7"
        )


async def test_a_password_change_ends_other_sessions_and_rotates_this_one(
    db: Database, settings: Settings, user_id: uuid.UUID
) -> None:
    this, laptop, phone = await _sessions(db, settings, user_id, 3)
    token = await _change(db, settings, user_id, PASSWORD, NEW_PASSWORD, this)
    assert token != this
    assert await _live(db, settings, token)
    for ended in (this, laptop, phone):
        assert not await _live(db, settings, ended)
    saved = await _reload(db, user_id)
    assert passwords.verify(saved.password_hash, NEW_PASSWORD)
    assert not passwords.verify(saved.password_hash, PASSWORD)
    [event] = await _security_log(db, "auth.password_changed")
    assert event.user_id == user_id
    assert event.ip == "10.0.0.7"
    assert event.detail == {"sessions_ended": 2}


async def test_a_wrong_current_password_is_refused_counted_and_logged(
    db: Database, settings: Settings, user_id: uuid.UUID
) -> None:
    this, other = await _sessions(db, settings, user_id, 2)
    with pytest.raises(Unauthenticated, match="current password is not right"):
        await _change(db, settings, user_id, "not my password", NEW_PASSWORD, this)
    saved = await _reload(db, user_id)
    assert passwords.verify(saved.password_hash, PASSWORD)
    assert await _live(db, settings, this)
    assert await _live(db, settings, other)
    async with db.global_transaction() as session:
        counted = await session.scalar(
            select(SignInThrottle.failures).where(SignInThrottle.key == "account:pat@example.test")
        )
    assert counted == 1  # the same count a failed sign-in adds to
    [failure] = await _security_log(db, "auth.password_change_failed")
    assert failure.user_id == user_id
    assert failure.detail == {"reason": "password"}
    assert await _security_log(db, "auth.password_changed") == []


async def test_wrong_current_passwords_lock_the_account_like_failed_sign_ins(
    db: Database, settings: Settings, user_id: uuid.UUID
) -> None:
    [this] = await _sessions(db, settings, user_id, 1)
    for _ in range(throttle.ACCOUNT.failures):
        with pytest.raises(Unauthenticated):
            await _change(db, settings, user_id, "not my password", NEW_PASSWORD, this)
    with pytest.raises(TooManyAttempts, match="Too many failed sign-ins"):
        await _change(db, settings, user_id, PASSWORD, NEW_PASSWORD, this)
    with pytest.raises(TooManyAttempts):
        async with db.global_transaction() as session:
            await accounts.sign_in(session, settings, email="pat@example.test", password=PASSWORD)


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("short", "at least 10 characters"),
        ("password123", "too easy to guess"),
        ("pat@example.test", "too easy to guess"),
    ],
)
async def test_the_new_password_must_pass_the_policy(
    db: Database, settings: Settings, user_id: uuid.UUID, new: str, message: str
) -> None:
    this, other = await _sessions(db, settings, user_id, 2)
    with pytest.raises(ValidationFailed, match=message) as refused:
        await _change(db, settings, user_id, PASSWORD, new, this)
    assert refused.value.params["field"] == "new"
    assert passwords.verify((await _reload(db, user_id)).password_hash, PASSWORD)
    assert await _live(db, settings, other)


async def test_an_invited_user_without_a_password_is_sent_to_the_reset_link(
    db: Database, settings: Settings
) -> None:
    async with db.global_transaction() as session:
        invited = User(email="new@example.test", display_name="New")
        session.add(invited)
        await session.flush()
    [this] = await _sessions(db, settings, invited.id, 1)
    with pytest.raises(Conflict, match="password reset link"):
        await _change(db, settings, invited.id, "", NEW_PASSWORD, this)
    assert (await _reload(db, invited.id)).password_hash is None


# --- avatar --------------------------------------------------------------------------------------


async def _set_avatar(
    db: Database, store: LocalFileStore, user_id: uuid.UUID, name: str, data: bytes
) -> str:
    async with db.global_transaction() as session:
        return await profile.set_avatar(session, store, await _user(session, user_id), name, data)


async def _served(store: LocalFileStore, user: User) -> tuple[str, bytes]:
    content_type, chunks = await profile.open_avatar(store, user)
    return content_type, b"".join([chunk async for chunk in chunks])


async def test_an_avatar_is_stored_served_replaced_and_removed(
    db: Database, store: LocalFileStore, user_id: uuid.UUID
) -> None:
    first = await _set_avatar(db, store, user_id, "me.png", PNG)
    assert first.startswith(f"avatars/{user_id}/")
    assert _files(store) == [first]
    user = await _reload(db, user_id)
    assert user.avatar == first
    assert await _served(store, user) == ("image/png", PNG)

    second = await _set_avatar(db, store, user_id, "holiday.JPG", JPEG)
    assert _files(store) == [second]  # the old file is gone
    assert await _served(store, await _reload(db, user_id)) == ("image/jpeg", JPEG)

    third = await _set_avatar(db, store, user_id, "sticker.webp", WEBP)
    assert _files(store) == [third]
    assert (await _served(store, await _reload(db, user_id)))[0] == "image/webp"

    async with db.global_transaction() as session:
        await profile.remove_avatar(session, store, await _user(session, user_id))
    assert _files(store) == []
    user = await _reload(db, user_id)
    assert user.avatar is None
    with pytest.raises(NotFound):
        await profile.open_avatar(store, user)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("me.png", PDF, "content is PDF, but its name or type says PNG"),
        ("me.gif", GIF, "Allowed types: PNG, JPEG, WebP"),
        ("notes.png", b"just some text, not a picture\n", "content is TXT, but its name"),
        ("notes.txt", b"just some text, not a picture\n", "Allowed types: PNG, JPEG, WebP"),
        ("huge.png", PNG + bytes(2 * MIB), "at most 2 MiB"),
        ("empty.png", b"", "empty"),
    ],
)
async def test_a_disguised_or_unsuitable_avatar_is_refused_with_nothing_stored(
    db: Database, store: LocalFileStore, user_id: uuid.UUID, name: str, data: bytes, message: str
) -> None:
    kept = await _set_avatar(db, store, user_id, "me.png", PNG)
    with pytest.raises(ValidationFailed, match=message):
        await _set_avatar(db, store, user_id, name, data)
    assert _files(store) == [kept]
    assert (await _reload(db, user_id)).avatar == kept
