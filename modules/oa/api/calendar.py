"""The calendar JSON API under ``/api/t/{slug}/oa/calendar``: events and meetings, answers
to invitations, shared calendars, meeting rooms and a room's day.

Reading needs ``oa.calendar.read``, writing ``oa.calendar.write``, rooms ``oa.room.manage``
(403 naming the code). An event the member may not see is 404. Times are ISO 8601 with
an offset and come back in UTC; a room taken at that time is 409 naming the meeting that
holds it (``field`` is ``room_id``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Literal

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core.permissions import Actor
from modules.oa import permissions as codes
from modules.oa.models.calendar import CalendarEvent, MeetingRoom
from modules.oa.services import calendar as service
from modules.oa.services import calendar_rooms as rooms_service
from modules.oa.services import calendar_times as times
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

READ, WRITE = [requires(codes.CALENDAR_READ)], [requires(codes.CALENDAR_WRITE)]
ROOMS = [requires(codes.ROOM_MANAGE)]


class EventIn(msgspec.Struct, frozen=True, kw_only=True):
    """An event. ``all_day``: the whole days of ``starts_at`` through ``ends_at`` (both
    included) in the member's time zone. Without ``calendar_id``, the personal calendar."""

    title: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    location: str = ""
    description: str = ""
    calendar_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    invitee_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    remind_minutes: int | None = None


class InviteeOut(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    name: str
    response: str  # pending, accepted or declined
    answered_at: datetime | None


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    title: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool
    location: str
    description: str
    calendar_id: uuid.UUID | None
    room_id: uuid.UUID | None
    organiser_id: uuid.UUID
    remind_minutes: int | None
    invitees: list[InviteeOut] | None = None  # on one event's answer, not in lists


class AnswerIn(msgspec.Struct, frozen=True, kw_only=True):
    accept: bool


class CalendarIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    readers: list[uuid.UUID] = msgspec.field(default_factory=list)
    writers: list[uuid.UUID] = msgspec.field(default_factory=list)


class CalendarMemberOut(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    name: str
    can_write: bool


class CalendarOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    can_write: bool
    members: list[CalendarMemberOut]


class MemberAccessIn(msgspec.Struct, frozen=True, kw_only=True):
    access: Literal["read", "write", "none"]


class RoomIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    capacity: int
    location: str = ""
    active: bool = True


class RoomOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    capacity: int
    location: str
    active: bool


class RoomDayOut(msgspec.Struct, frozen=True, kw_only=True):
    room: RoomOut
    bookings: list[EventOut]


def event_out(event: CalendarEvent, invitees: list[InviteeOut] | None = None) -> EventOut:
    return EventOut(
        id=event.id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        all_day=event.all_day,
        location=event.location,
        description=event.description,
        calendar_id=event.calendar_id,
        room_id=event.room_id,
        organiser_id=event.organiser_id,
        remind_minutes=event.remind_minutes,
        invitees=invitees,
    )


def room_out(room: MeetingRoom) -> RoomOut:
    return RoomOut(
        id=room.id,
        name=room.name,
        capacity=room.capacity,
        location=room.location,
        active=room.active,
    )


async def _full(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> EventOut:
    shown = await service.get_event(session, actor, event_id)
    invitees = [
        InviteeOut(user_id=i.user_id, name=i.name, response=i.response, answered_at=i.answered_at)
        for i in shown.invitees
    ]
    return event_out(shown.event, invitees)


async def _save(
    session: AsyncSession, actor: Actor, data: EventIn, event_id: uuid.UUID | None = None
) -> EventOut:
    zone = await times.zone_of(session, actor.user_id)
    starts, ends = times.event_times(data.starts_at, data.ends_at, data.all_day, zone)
    given = service.EventInput(
        title=data.title,
        starts_at=starts,
        ends_at=ends,
        all_day=data.all_day,
        location=data.location,
        description=data.description,
        calendar_id=data.calendar_id,
        room_id=data.room_id,
        invitee_ids=tuple(data.invitee_ids),
        remind_minutes=data.remind_minutes,
    )
    event = await service.save_event(session, actor, given, zone, event_id)
    return await _full(session, actor, event.id)


async def _calendars(session: AsyncSession, actor: Actor) -> list[CalendarOut]:
    return [
        CalendarOut(
            id=shown.calendar.id,
            name=shown.calendar.name,
            can_write=shown.can_write,
            members=[
                CalendarMemberOut(user_id=u, name=name, can_write=w) for u, name, w in shown.members
            ],
        )
        for shown in await service.calendars(session, actor)
    ]


class CalendarApi(Controller):
    path = "/oa/calendar"
    tags = ("oa",)

    @get("/events", guards=READ, summary="The events one may see between two times")
    async def list_events(
        self,
        session: DbSession,
        actor: CurrentActor,
        start: FromQuery[datetime],
        end: FromQuery[datetime],
        calendar_id: FromQuery[uuid.UUID | None] = None,
    ) -> list[EventOut]:
        found = await service.events_between(session, actor, start, end, calendar_id=calendar_id)
        return [event_out(event) for event in found]

    @post("/events", guards=WRITE, summary="Add an event, invite, book a room")
    async def create_event(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[EventIn]
    ) -> EventOut:
        return await _save(session, actor, data)

    @get("/events/{event_id:uuid}", guards=READ, summary="An event with its invitees' answers")
    async def get_event(
        self, session: DbSession, actor: CurrentActor, event_id: FromPath[uuid.UUID]
    ) -> EventOut:
        return await _full(session, actor, event_id)

    @put("/events/{event_id:uuid}", guards=WRITE, summary="Change an event (invitees are told)")
    async def update_event(
        self,
        session: DbSession,
        actor: CurrentActor,
        event_id: FromPath[uuid.UUID],
        data: JSONBody[EventIn],
    ) -> EventOut:
        return await _save(session, actor, data, event_id)

    @delete("/events/{event_id:uuid}", guards=WRITE, summary="Cancel an event")
    async def cancel_event(
        self, session: DbSession, actor: CurrentActor, event_id: FromPath[uuid.UUID]
    ) -> None:
        await service.cancel_event(session, actor, event_id)

    @post(
        "/events/{event_id:uuid}/answer", guards=READ, status_code=200, summary="Accept or decline"
    )
    async def answer(
        self,
        session: DbSession,
        actor: CurrentActor,
        event_id: FromPath[uuid.UUID],
        data: JSONBody[AnswerIn],
    ) -> EventOut:
        await service.answer(session, actor, event_id, accept=data.accept)
        return await _full(session, actor, event_id)

    @get("/invitations", guards=READ, summary="Meetings waiting for one's answer")
    async def invitations(self, session: DbSession, actor: CurrentActor) -> list[EventOut]:
        found = await service.invitations(session, actor, datetime.now(UTC))
        return [event_out(event) for event in found]

    @get("/calendars", guards=READ, summary="The shared calendars one belongs to")
    async def list_calendars(self, session: DbSession, actor: CurrentActor) -> list[CalendarOut]:
        return await _calendars(session, actor)

    @post("/calendars", guards=WRITE, summary="Make a shared calendar")
    async def create_calendar(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[CalendarIn]
    ) -> CalendarOut:
        members = {**dict.fromkeys(data.readers, False), **dict.fromkeys(data.writers, True)}
        made = await service.create_calendar(session, actor, data.name, members)
        return next(c for c in await _calendars(session, actor) if c.id == made.id)

    @put(
        "/calendars/{calendar_id:uuid}/members/{user_id:uuid}",
        guards=WRITE,
        summary="Let a member read or write a shared calendar, or take them off it",
    )
    async def set_member(
        self,
        session: DbSession,
        actor: CurrentActor,
        calendar_id: FromPath[uuid.UUID],
        user_id: FromPath[uuid.UUID],
        data: JSONBody[MemberAccessIn],
    ) -> list[CalendarOut]:
        """Answers the shared calendars one is on now (without this one, after leaving it)."""
        await service.set_calendar_member(session, actor, calendar_id, user_id, data.access)
        return await _calendars(session, actor)

    @get("/rooms", guards=READ, summary="The meeting rooms")
    async def list_rooms(self, session: DbSession, actor: CurrentActor) -> list[RoomOut]:
        return [room_out(room) for room in await rooms_service.rooms(session, actor)]

    @post("/rooms", guards=ROOMS, summary="Add a meeting room")
    async def create_room(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[RoomIn]
    ) -> RoomOut:
        room = await rooms_service.create_room(
            session, actor, name=data.name, capacity=data.capacity, location=data.location
        )
        return room_out(room)

    @put("/rooms/{room_id:uuid}", guards=ROOMS, summary="Change a room or take it out of use")
    async def update_room(
        self,
        session: DbSession,
        actor: CurrentActor,
        room_id: FromPath[uuid.UUID],
        data: JSONBody[RoomIn],
    ) -> RoomOut:
        room = await rooms_service.update_room(
            session,
            actor,
            room_id,
            name=data.name,
            capacity=data.capacity,
            location=data.location,
            active=data.active,
        )
        return room_out(room)

    @get("/rooms/schedule", guards=READ, summary="Every room's bookings on a day")
    async def room_schedule(
        self, session: DbSession, actor: CurrentActor, day: FromQuery[date]
    ) -> list[RoomDayOut]:
        zone = await times.zone_of(session, actor.user_id)
        return [
            RoomDayOut(room=room_out(d.room), bookings=[event_out(e) for e in d.bookings])
            for d in await rooms_service.room_schedule(session, actor, day, zone)
        ]
