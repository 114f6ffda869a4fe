"""Meeting rooms: managed by ``oa.room.manage``, booked by meetings, never double-booked.

Booking locks the room's row (``SELECT … FOR UPDATE``) and looks for an overlapping
meeting in the same transaction, so of two bookings at the same moment the second waits
for the first and then sees it. Times are half-open (``[start, end)``): a meeting may start
when the previous one ends. An exclusion constraint would say the same in the schema, but
needs the btree_gist extension, which the embedded PostgreSQL (pgserver) does not ship.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.permissions import Actor
from modules.oa import permissions as codes
from modules.oa.models.calendar import CalendarEvent, MeetingRoom
from modules.oa.services.calendar_times import local_day_span, local_text

MAX_NAME = 100
MAX_TEXT = 200


def _room_fields(name: str, capacity: int, location: str) -> tuple[str, int, str]:
    name, location = name.strip(), location.strip()
    if not name:
        raise ValidationFailed("Give the room a name.", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed("Keep the name to {max} characters.", max=MAX_NAME, field="name")
    if capacity < 1:
        raise ValidationFailed("A room seats at least one person.", field="capacity")
    if len(location) > MAX_TEXT:
        raise ValidationFailed(
            "Keep the location to {max} characters.", max=MAX_TEXT, field="location"
        )
    return name, capacity, location


async def _refuse_taken_room_name(
    session: AsyncSession, name: str, room_id: uuid.UUID | None = None
) -> None:
    query = select(MeetingRoom.id).where(func.lower(MeetingRoom.name) == name.lower())
    if room_id is not None:
        query = query.where(MeetingRoom.id != room_id)
    if await session.scalar(query) is not None:
        raise ValidationFailed("There is already a room named {name}.", name=name, field="name")


async def create_room(
    session: AsyncSession, actor: Actor, *, name: str, capacity: int, location: str = ""
) -> MeetingRoom:
    actor.require(codes.ROOM_MANAGE)
    name, capacity, location = _room_fields(name, capacity, location)
    await _refuse_taken_room_name(session, name)
    room = MeetingRoom(name=name, capacity=capacity, location=location, active=True)
    session.add(room)
    await session.flush()
    return room


async def update_room(
    session: AsyncSession,
    actor: Actor,
    room_id: uuid.UUID,
    *,
    name: str,
    capacity: int,
    location: str,
    active: bool,
) -> MeetingRoom:
    """Change a room; taking it out of use keeps its bookings and refuses new ones."""
    actor.require(codes.ROOM_MANAGE)
    room = await session.scalar(
        select(MeetingRoom).where(MeetingRoom.id == room_id).with_for_update()
    )
    if room is None:
        raise NotFound("No room {id}.", id=str(room_id))
    room.name, room.capacity, room.location = _room_fields(name, capacity, location)
    await _refuse_taken_room_name(session, room.name, room_id)
    room.active = active
    await session.flush()
    return room


async def rooms(session: AsyncSession, actor: Actor, *, active_only: bool = False):
    actor.require(codes.CALENDAR_READ)
    query = select(MeetingRoom).order_by(func.lower(MeetingRoom.name))
    if active_only:
        query = query.where(MeetingRoom.active.is_(True))
    return list(await session.scalars(query))


async def book(
    session: AsyncSession,
    room_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    people: int,
    event_id: uuid.UUID | None,
    zone: ZoneInfo,
) -> None:
    """Hold the room for ``data``'s time, or refuse naming the meeting that holds it."""
    room = await session.scalar(
        select(MeetingRoom).where(MeetingRoom.id == room_id).with_for_update()
    )
    if room is None:
        raise ValidationFailed("Choose a room from the list.", field="room_id")
    if not room.active:
        raise ValidationFailed(
            "The room {room} is out of use; choose another.", room=room.name, field="room_id"
        )
    if people > room.capacity:
        raise ValidationFailed(
            "The room {room} seats {capacity}; this meeting has {people} people.",
            room=room.name,
            capacity=room.capacity,
            people=people,
            field="room_id",
        )
    holder = select(CalendarEvent).where(
        CalendarEvent.room_id == room.id,
        CalendarEvent.starts_at < ends_at,
        CalendarEvent.ends_at > starts_at,
    )
    if event_id is not None:
        holder = holder.where(CalendarEvent.id != event_id)
    taken = await session.scalar(holder.order_by(CalendarEvent.starts_at).limit(1))
    if taken is not None:
        raise Conflict(
            "The room {room} is already booked from {starts} to {ends} by “{meeting}”.",
            room=room.name,
            meeting=taken.title,
            starts=local_text(taken.starts_at, zone),
            ends=local_text(taken.ends_at, zone),
            field="room_id",
        )


@dataclass(frozen=True, slots=True)
class RoomDay:
    room: MeetingRoom
    bookings: list[CalendarEvent]


async def room_schedule(
    session: AsyncSession, actor: Actor, day: date, zone: ZoneInfo
) -> list[RoomDay]:
    """Every room and its bookings on ``day`` (in ``zone``): what is free when. A booking
    shows its title to everyone who may read calendars, as a room's door sign would."""
    actor.require(codes.CALENDAR_READ)
    start, end = local_day_span(day, day, zone)
    booked = await session.scalars(
        select(CalendarEvent)
        .where(
            CalendarEvent.room_id.is_not(None),
            CalendarEvent.starts_at < end,
            CalendarEvent.ends_at > start,
        )
        .order_by(CalendarEvent.starts_at)
    )
    by_room: dict[uuid.UUID, list[CalendarEvent]] = {}
    for event in booked:
        by_room.setdefault(event.room_id, []).append(event)
    return [RoomDay(room, by_room.get(room.id, [])) for room in await rooms(session, actor)]
