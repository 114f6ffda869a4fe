"""Calendar times: each member's time zone, and how a stored UTC time reads in it.

Times are stored in UTC and shown in the member's own zone (``core_user.time_zone``, set on
the account page); an unknown zone reads as UTC rather than refusing a page.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.models import User


def zone_named(name: str) -> ZoneInfo:
    """The zone ``name``; an unknown one reads as UTC rather than refusing the page."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


async def zones_of(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ZoneInfo]:
    """Each member's time zone, in one query."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.time_zone).where(User.id.in_(wanted)))
    return {user_id: zone_named(name) for user_id, name in rows}


async def zone_of(session: AsyncSession, user_id: uuid.UUID) -> ZoneInfo:
    return (await zones_of(session, [user_id])).get(user_id, ZoneInfo("UTC"))


def local_text(moment: datetime, zone: ZoneInfo) -> str:
    """A time as a message shows it: ``2026-03-05 09:00`` in ``zone``."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def local_day_span(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """From midnight of ``first`` to the midnight after ``last``, in ``zone``, as UTC."""
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def event_times(
    starts: datetime, ends: datetime, all_day: bool, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """An event's stored span. An all-day event covers the whole local days of ``starts``
    through ``ends`` (both included) in ``zone``; a refusal names the end."""
    if not all_day:
        return starts, ends
    first, last = starts.astimezone(zone).date(), ends.astimezone(zone).date()
    if last < first:
        raise ValidationFailed("The last day cannot be before the first.", field="ends_at")
    return local_day_span(first, last, zone)
