"""A signed-in user's own account: name, language, time zone, password and avatar.

Users are global, so none of this belongs to a workspace. Every check runs
before anything is changed, so a refused edit changes nothing.

Changing the password takes the current one, checked like a sign-in (refused
while the account or address is locked; a wrong one counts against the
sign-in throttle and is logged on the side pool). The new one must pass the
password policy. Every other session of the user then ends and this one gets
a new id, as after any privilege change. An invited user who never set a
password is sent to the reset link instead.

The avatar is a PNG, JPEG or WebP image of at most 2 MiB, stored under
``avatars/<user id>/<uuid>``; ``User.avatar`` holds that key. It is checked,
replaced and served as every kept picture is (:mod:`core.records.images`).
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from core.i18n import check_locale
from core.identity import passwords, sessions, throttle
from core.identity.security_log import record_failure
from core.models import SecurityEvent, User
from core.records import images
from core.records.attachments import MIB, AttachmentLimits
from core.records.storage import FileStore
from core.settings import Settings

MAX_DISPLAY_NAME = 200
AVATAR_LIMITS = AttachmentLimits(max_bytes=2 * MIB, allowed=frozenset({"png", "jpeg", "webp"}))
# Offered as suggestions on the profile page; any IANA zone is accepted.
COMMON_TIME_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "UTC",
)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    # "localtime" is the host's own setting that some systems keep beside the IANA zones.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def check_time_zone(time_zone: str) -> str:
    """An IANA time zone name such as ``Asia/Shanghai``."""
    if time_zone not in _time_zones():
        raise ValidationFailed(
            "The time zone {time_zone} is not known. Use a name like Asia/Shanghai.",
            time_zone=time_zone,
            field="time_zone",
        )
    return time_zone


async def time_zone_of(session: AsyncSession, user_id: uuid.UUID) -> zoneinfo.ZoneInfo:
    """The user's time zone (their profile's), UTC when it is unknown: how a time typed
    into a form (``2026-03-05T14:30``) is read."""
    name = await session.scalar(select(User.time_zone).where(User.id == user_id))
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


async def update_profile(
    session: AsyncSession, user: User, display_name: str, locale: str, time_zone: str
) -> None:
    """Change the user's name, language and time zone; all of them or, if one is wrong,
    none (the error's ``field`` param names which)."""
    name = display_name.strip()
    if not name:
        raise ValidationFailed("Enter a display name.", field="display_name")
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationFailed(
            "A display name has at most {max} characters.",
            max=MAX_DISPLAY_NAME,
            field="display_name",
        )
    try:
        check_locale(locale)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **error.params, field="locale") from None
    zone = check_time_zone(time_zone.strip())
    user.display_name = name
    user.locale = locale
    user.time_zone = zone
    await session.flush()


async def change_password(
    session: AsyncSession,
    settings: Settings,
    user: User,
    current_password: str,
    new_password: str,
    keep_token: str,
    *,
    ip: str | None = None,
) -> str:
    """Replace the password; returns the new token of the session ``keep_token`` (the
    only one left: every other session of the user ends)."""
    if user.password_hash is None:
        raise Conflict(
            "Your account has no password yet. Set one with a password reset link.",
            field="current",
        )
    await throttle.check(session, user.email, ip)
    if not passwords.verify(user.password_hash, current_password):
        await record_failure(
            session,
            "auth.password_change_failed",
            email=user.email,
            ip=ip,
            user_id=user.id,
            detail={"reason": "password"},
        )
        raise Unauthenticated("The current password is not right.", field="current")
    try:
        passwords.check_policy(new_password, email=user.email)
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **error.params, field="new") from None
    user.password_hash = passwords.hash_password(new_password)
    ended = await sessions.end_all(session, user.id, keep=keep_token)
    token = await sessions.rotate(session, settings, keep_token)
    session.add(
        SecurityEvent(
            action="auth.password_changed", user_id=user.id, ip=ip, detail={"sessions_ended": ended}
        )
    )
    await session.flush()
    return token


async def set_avatar(
    session: AsyncSession, store: FileStore, user: User, file_name: str, data: bytes | BinaryIO
) -> str:
    """Check and store a new avatar, point the user at it, delete the old file; returns
    the new key. A refused file leaves nothing stored."""
    prefix = f"avatars/{user.id}"
    return await images.replace_image(
        session, store, user, "avatar", prefix, file_name, data, AVATAR_LIMITS
    )


async def remove_avatar(session: AsyncSession, store: FileStore, user: User) -> None:
    """No avatar any more; its file is deleted."""
    await images.remove_image(session, store, user, "avatar")


async def open_avatar(store: FileStore, user: User) -> tuple[str, AsyncIterator[bytes]]:
    """The avatar's content type and its bytes in chunks; NotFound if there is none."""
    opened = await images.open_image(store, user.avatar, AVATAR_LIMITS)
    if opened is None:
        raise NotFound("No avatar.")
    return opened
