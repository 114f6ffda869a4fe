"""Calendars, events and meetings: the rules (rooms: ``calendar_rooms``; time zones:
``calendar_times``).

Who sees an event: its organiser, its invitees, and the members of the shared calendar
it is on. An event on nobody's shared calendar is on its organiser's personal calendar,
which nobody else sees (admins neither: "own" is the only scope the calendar knows).
Who changes it: the organiser, and the writing members of its shared calendar.

Changes reach invitees as notifications (``core.records``), written in the same
transaction, with the times in each reader's own zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.permissions import Actor
from core.records.access import RecordType
from core.records.api import display_names
from core.records.models import Notification
from modules.oa import permissions as codes
from modules.oa.models.calendar import (
    ACCEPTED,
    DECLINED,
    PENDING,
    CalendarEvent,
    CalendarMember,
    MeetingInvitee,
    MeetingRoom,
    SharedCalendar,
)
from modules.oa.services import calendar_rooms
from modules.oa.services.calendar_rooms import MAX_NAME, MAX_TEXT
from modules.oa.services.calendar_times import local_text, zones_of

#: What notifications about an event hang on (``core_notification.record_type``).
RECORD_TYPE = "oa.event"
INVITED = N_("{organiser} invited you to “{title}” on {starts}.")
CHANGED = N_("“{title}” has changed: it is now on {starts}.")
CANCELLED = N_("“{title}” on {starts} was cancelled.")
REMINDER = N_("Reminder: “{title}” starts at {starts}.")

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
#: The longest reminder ahead: a week.
MAX_REMIND_MINUTES = 7 * 24 * 60
#: The longest span one list may ask for (a week view asks for 7 days).
MAX_SPAN = timedelta(days=62)


# --- what an event is made of --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventInput:
    """An event as the form or the API gives it; times are aware (any zone)."""

    title: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False
    location: str = ""
    description: str = ""
    calendar_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    invitee_ids: tuple[uuid.UUID, ...] = ()
    remind_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class InviteeView:
    user_id: uuid.UUID
    name: str
    response: str  # pending | accepted | declined
    answered_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventView:
    """An event with what its page shows: names, answers, and what the reader may do."""

    event: CalendarEvent
    organiser: str
    calendar: str | None  # None: the organiser's personal calendar
    room: str | None
    invitees: list[InviteeView]
    can_edit: bool
    my_response: str | None  # the reader's answer, when invited


def _check(data: EventInput) -> EventInput:
    title = data.title.strip()
    if not title:
        raise ValidationFailed("Give the event a title.", field="title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed("Keep the title to {max} characters.", max=MAX_TITLE, field="title")
    if len(data.location.strip()) > MAX_TEXT:
        raise ValidationFailed(
            "Keep the location to {max} characters.", max=MAX_TEXT, field="location"
        )
    if len(data.description.strip()) > MAX_DESCRIPTION:
        raise ValidationFailed(
            "Keep the description to {max} characters.", max=MAX_DESCRIPTION, field="description"
        )
    for moment, name in ((data.starts_at, "starts_at"), (data.ends_at, "ends_at")):
        if moment.tzinfo is None:
            raise ValidationFailed("Give the time with its time zone.", field=name)
    if data.ends_at <= data.starts_at:
        raise ValidationFailed("The end must be after the start.", field="ends_at")
    if data.remind_minutes is not None and not 0 <= data.remind_minutes <= MAX_REMIND_MINUTES:
        raise ValidationFailed(
            "A reminder is between 0 and {max} minutes ahead.",
            max=MAX_REMIND_MINUTES,
            field="remind_minutes",
        )
    return EventInput(
        title=title,
        starts_at=data.starts_at.astimezone(UTC),
        ends_at=data.ends_at.astimezone(UTC),
        all_day=data.all_day,
        location=data.location.strip(),
        description=data.description.strip(),
        calendar_id=data.calendar_id,
        room_id=data.room_id,
        invitee_ids=tuple(dict.fromkeys(data.invitee_ids)),
        remind_minutes=data.remind_minutes,
    )


# --- who sees what -------------------------------------------------------------------------


def _my_calendars(actor: Actor, *, writing: bool = False):
    query = select(CalendarMember.calendar_id).where(CalendarMember.user_id == actor.user_id)
    return query.where(CalendarMember.can_write.is_(True)) if writing else query


def visible_events(actor: Actor) -> ColumnElement[bool]:
    """The WHERE clause of the events ``actor`` may see."""
    invited = select(MeetingInvitee.event_id).where(MeetingInvitee.user_id == actor.user_id)
    return or_(
        CalendarEvent.organiser_id == actor.user_id,
        CalendarEvent.id.in_(invited),
        CalendarEvent.calendar_id.in_(_my_calendars(actor)),
    )


async def _writable_calendar(session: AsyncSession, actor: Actor, calendar_id: uuid.UUID) -> None:
    writer = await session.scalar(
        select(CalendarMember.id).where(
            CalendarMember.calendar_id == calendar_id,
            CalendarMember.user_id == actor.user_id,
            CalendarMember.can_write.is_(True),
        )
    )
    if writer is None:
        raise ValidationFailed(
            "You may not add events to this calendar; choose one you write to.",
            field="calendar_id",
        )


async def _can_edit(session: AsyncSession, actor: Actor, event: CalendarEvent) -> bool:
    if not actor.can(codes.CALENDAR_WRITE):
        return False
    if event.organiser_id == actor.user_id:
        return True
    if event.calendar_id is None:
        return False
    writing = await session.scalar(
        _my_calendars(actor, writing=True).where(CalendarMember.calendar_id == event.calendar_id)
    )
    return writing is not None


async def _visible_event(
    session: AsyncSession, actor: Actor, event_id: uuid.UUID, *, lock: bool = False
) -> CalendarEvent:
    actor.require(codes.CALENDAR_READ)
    query = select(CalendarEvent).where(CalendarEvent.id == event_id, visible_events(actor))
    event = await session.scalar(query.with_for_update() if lock else query)
    if event is None:
        raise NotFound("No event {id}.", id=str(event_id))
    return event


async def _editable_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID):
    event = await _visible_event(session, actor, event_id, lock=True)
    if not await _can_edit(session, actor, event):
        raise PermissionDenied("Only the organiser or a writer of its calendar may change it.")
    return event


async def active_members(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """The workspace's active members as (user id, name), by name: whom one may invite."""
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.active.is_(True))
        .order_by(func.lower(User.display_name), User.id)
    )
    return [(user_id, name) for user_id, name in rows]


async def _check_members(session: AsyncSession, user_ids: Sequence[uuid.UUID], field: str):
    if not user_ids:
        return
    found = set(
        await session.scalars(
            select(Membership.user_id).where(
                Membership.user_id.in_(user_ids), Membership.active.is_(True)
            )
        )
    )
    if found != set(user_ids):
        raise ValidationFailed("Choose members of the workspace from the list.", field=field)


# --- notifications -------------------------------------------------------------------------


async def _notify(
    session: AsyncSession,
    event: CalendarEvent,
    user_ids: Iterable[uuid.UUID],
    kind: str,
    message: str,
    **params: str,
) -> None:
    """Tell ``user_ids`` about ``event``, with its start in each reader's own zone."""
    readers = list(dict.fromkeys(user_ids))
    zones = await zones_of(session, readers)
    session.add_all(
        Notification(
            user_id=user_id,
            kind=kind,
            record_type=RECORD_TYPE,
            record_id=event.id,
            message=message,
            params={
                "title": event.title,
                "starts": local_text(event.starts_at, zones.get(user_id, ZoneInfo("UTC"))),
                **params,
            },
        )
        for user_id in readers
    )


# --- events and meetings -------------------------------------------------------------------


async def save_event(
    session: AsyncSession,
    actor: Actor,
    data: EventInput,
    zone: ZoneInfo,
    event_id: uuid.UUID | None = None,
) -> CalendarEvent:
    """Add an event (``event_id`` None) or change one; invite, book and notify.

    ``zone`` is the actor's, for the times in a refusal. Any change is told to the
    invitees who stay; changing the time or place also asks them again (their answers go
    back to pending).
    """
    actor.require(codes.CALENDAR_WRITE)
    data = _check(data)
    if data.calendar_id is not None:
        await _writable_calendar(session, actor, data.calendar_id)
    event = None if event_id is None else await _editable_event(session, actor, event_id)
    organiser = actor.user_id if event is None else event.organiser_id
    invitee_ids = tuple(u for u in data.invitee_ids if u != organiser)
    await _check_members(session, invitee_ids, "invitee_ids")
    data = replace(data, invitee_ids=invitee_ids)
    if data.room_id is not None:
        people = len(invitee_ids) + 1  # the invitees and the organiser
        await calendar_rooms.book(
            session,
            data.room_id,
            data.starts_at,
            data.ends_at,
            people=people,
            event_id=event_id,
            zone=zone,
        )

    if event is None:
        event = CalendarEvent(organiser_id=organiser, **_columns(data))
        session.add(event)
        await session.flush()
        await _invite(session, event, invitee_ids, actor)
        return event

    moved = (event.starts_at, event.ends_at, event.room_id, event.location) != (
        data.starts_at,
        data.ends_at,
        data.room_id,
        data.location,
    )
    changed = {c: v for c, v in _columns(data).items() if getattr(event, c) != v}
    for column, value in changed.items():
        setattr(event, column, value)
    if moved:
        event.reminded_at = None  # the reminder is due again, for the new time
    before = set(
        await session.scalars(
            select(MeetingInvitee.user_id).where(MeetingInvitee.event_id == event.id)
        )
    )
    dropped = before - set(invitee_ids)
    if dropped:
        await session.execute(
            delete(MeetingInvitee).where(
                MeetingInvitee.event_id == event.id, MeetingInvitee.user_id.in_(dropped)
            )
        )
    kept = [u for u in invitee_ids if u in before]
    if moved and kept:
        await session.execute(
            update(MeetingInvitee)
            .where(MeetingInvitee.event_id == event.id, MeetingInvitee.user_id.in_(kept))
            .values(response=PENDING, answered_at=None)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    if changed and kept:
        await _notify(session, event, kept, "oa_event_changed", CHANGED)
    await _invite(session, event, [u for u in invitee_ids if u not in before], actor)
    return event


def _columns(data: EventInput) -> dict[str, object]:
    """The event's own columns (its invitees are rows of their own)."""
    return {f.name: getattr(data, f.name) for f in fields(data) if f.name != "invitee_ids"}


async def _invite(
    session: AsyncSession, event: CalendarEvent, user_ids: Sequence[uuid.UUID], actor: Actor
) -> None:
    if not user_ids:
        return
    session.add_all(
        MeetingInvitee(event_id=event.id, user_id=u, response=PENDING) for u in user_ids
    )
    await session.flush()
    organiser = (await display_names(session, [actor.user_id])).get(actor.user_id, "")
    await _notify(session, event, user_ids, "oa_invited", INVITED, organiser=organiser)


async def cancel_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> None:
    """Remove an event; its invitees who had not declined are told, and its room is free."""
    event = await _editable_event(session, actor, event_id)
    told = await session.scalars(
        select(MeetingInvitee.user_id).where(
            MeetingInvitee.event_id == event.id, MeetingInvitee.response != DECLINED
        )
    )
    await _notify(session, event, list(told), "oa_event_cancelled", CANCELLED)
    await session.delete(event)
    await session.flush()


async def answer(
    session: AsyncSession, actor: Actor, event_id: uuid.UUID, *, accept: bool
) -> MeetingInvitee:
    """The invitee's answer; answering again changes it."""
    await _visible_event(session, actor, event_id)
    invitee = await session.scalar(
        select(MeetingInvitee).where(
            MeetingInvitee.event_id == event_id, MeetingInvitee.user_id == actor.user_id
        )
    )
    if invitee is None:
        raise NotFound("You are not invited to this meeting.")
    invitee.response = ACCEPTED if accept else DECLINED
    invitee.answered_at = datetime.now(UTC)
    await session.flush()
    return invitee


async def get_event(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> EventView:
    """An event the actor may see, with its invitees and their answers."""
    event = await _visible_event(session, actor, event_id)
    invited = list(
        await session.scalars(select(MeetingInvitee).where(MeetingInvitee.event_id == event.id))
    )
    names = await display_names(session, [event.organiser_id, *(i.user_id for i in invited)])
    calendar = room = None
    if event.calendar_id is not None:
        calendar = await session.scalar(
            select(SharedCalendar.name).where(SharedCalendar.id == event.calendar_id)
        )
    if event.room_id is not None:
        room = await session.scalar(select(MeetingRoom.name).where(MeetingRoom.id == event.room_id))
    invitees = sorted(
        (
            InviteeView(i.user_id, names.get(i.user_id, ""), i.response, i.answered_at)
            for i in invited
        ),
        key=lambda i: i.name.lower(),
    )
    mine = next((i.response for i in invited if i.user_id == actor.user_id), None)
    return EventView(
        event=event,
        organiser=names.get(event.organiser_id, ""),
        calendar=calendar,
        room=room,
        invitees=invitees,
        can_edit=await _can_edit(session, actor, event),
        my_response=mine,
    )


async def events_between(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    *,
    calendar_id: uuid.UUID | None = None,
) -> list[CalendarEvent]:
    """The events ``actor`` may see that overlap ``[start, end)``, by start."""
    actor.require(codes.CALENDAR_READ)
    for moment, name in ((start, "start"), (end, "end")):
        if moment.tzinfo is None:
            raise ValidationFailed("Give the time with its time zone.", field=name)
    if end <= start:
        raise ValidationFailed("The end must be after the start.", field="end")
    if end - start > MAX_SPAN:
        raise ValidationFailed("Ask for at most {days} days at a time.", days=MAX_SPAN.days)
    query = select(CalendarEvent).where(
        visible_events(actor), CalendarEvent.starts_at < end, CalendarEvent.ends_at > start
    )
    if calendar_id is not None:
        query = query.where(CalendarEvent.calendar_id == calendar_id)
    return list(await session.scalars(query.order_by(CalendarEvent.starts_at, CalendarEvent.id)))


async def invitations(session: AsyncSession, actor: Actor, now: datetime) -> list[CalendarEvent]:
    """Meetings not yet over that wait for the actor's answer, soonest first."""
    actor.require(codes.CALENDAR_READ)
    query = (
        select(CalendarEvent)
        .join(MeetingInvitee, MeetingInvitee.event_id == CalendarEvent.id)
        .where(
            MeetingInvitee.user_id == actor.user_id,
            MeetingInvitee.response == PENDING,
            CalendarEvent.ends_at > now,
        )
        .order_by(CalendarEvent.starts_at)
    )
    return list(await session.scalars(query))


# --- shared calendars ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalendarView:
    calendar: SharedCalendar
    can_write: bool
    members: list[tuple[uuid.UUID, str, bool]]  # user id, name, can write


async def create_calendar(
    session: AsyncSession, actor: Actor, name: str, members: Mapping[uuid.UUID, bool]
) -> SharedCalendar:
    """A shared calendar; ``members`` maps user id to whether they may write. Its creator
    is a writing member."""
    actor.require(codes.CALENDAR_WRITE)
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the calendar a name.", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed("Keep the name to {max} characters.", max=MAX_NAME, field="name")
    taken = select(SharedCalendar.id).where(func.lower(SharedCalendar.name) == name.lower())
    if await session.scalar(taken) is not None:
        raise ValidationFailed("There is already a calendar named {name}.", name=name, field="name")
    chosen = {**members, actor.user_id: True}
    await _check_members(session, list(chosen), "members")
    calendar = SharedCalendar(name=name, created_by=actor.user_id)
    session.add(calendar)
    await session.flush()
    session.add_all(
        CalendarMember(calendar_id=calendar.id, user_id=u, can_write=w) for u, w in chosen.items()
    )
    await session.flush()
    return calendar


async def set_calendar_member(
    session: AsyncSession,
    actor: Actor,
    calendar_id: uuid.UUID,
    user_id: uuid.UUID,
    access: str,
) -> None:
    """Give a member ``access`` to a shared calendar: ``read``, ``write`` or ``none`` (taken
    off it). Its writers decide; the last writer cannot go, or nobody could."""
    actor.require(codes.CALENDAR_WRITE)
    if access not in ("read", "write", "none"):
        raise ValidationFailed("Choose read, write or none.", field="access")
    # The lock serialises changes to one calendar's members (the last-writer rule).
    calendar = await session.scalar(
        select(SharedCalendar)
        .where(SharedCalendar.id == calendar_id, SharedCalendar.id.in_(_my_calendars(actor)))
        .with_for_update()
    )
    if calendar is None:
        raise NotFound("No calendar {id}.", id=str(calendar_id))
    writing = _my_calendars(actor, writing=True).where(CalendarMember.calendar_id == calendar_id)
    if await session.scalar(writing) is None:
        raise PermissionDenied("Only the calendar's writers may change who is on it.")
    current = await session.scalar(
        select(CalendarMember).where(
            CalendarMember.calendar_id == calendar_id, CalendarMember.user_id == user_id
        )
    )
    if current is not None and current.can_write and access != "write":
        writers = await session.scalar(
            select(func.count()).where(
                CalendarMember.calendar_id == calendar_id, CalendarMember.can_write.is_(True)
            )
        )
        if writers == 1:
            raise Conflict("A shared calendar keeps at least one member who writes to it.")
    if access == "none":
        if current is not None:
            await session.delete(current)
    elif current is None:
        await _check_members(session, [user_id], "user_id")
        session.add(
            CalendarMember(calendar_id=calendar_id, user_id=user_id, can_write=access == "write")
        )
    else:
        current.can_write = access == "write"
    await session.flush()


async def calendars(session: AsyncSession, actor: Actor) -> list[CalendarView]:
    """The shared calendars the actor belongs to, with their members, by name."""
    actor.require(codes.CALENDAR_READ)
    mine = list(
        await session.scalars(
            select(SharedCalendar)
            .where(SharedCalendar.id.in_(_my_calendars(actor)))
            .order_by(func.lower(SharedCalendar.name))
        )
    )
    rows = list(
        await session.execute(
            select(
                CalendarMember.calendar_id, CalendarMember.user_id, CalendarMember.can_write
            ).where(CalendarMember.calendar_id.in_([c.id for c in mine]))
        )
    )
    names = await display_names(session, [row.user_id for row in rows])
    views = []
    for calendar in mine:
        members = sorted(
            (
                (row.user_id, names.get(row.user_id, ""), row.can_write)
                for row in rows
                if row.calendar_id == calendar.id
            ),
            key=lambda member: member[1].lower(),
        )
        writes = any(u == actor.user_id and w for u, _, w in members)
        views.append(CalendarView(calendar, writes, members))
    return views


# --- reminders -----------------------------------------------------------------------------


async def send_reminders(session: AsyncSession, now: datetime) -> int:
    """Remind the organiser and every invitee who has not declined, once, when an event is
    ``remind_minutes`` away (or less: a job running late still reminds before the start).
    Returns how many events were reminded.

    Idempotent: the UPDATE claims only events not yet reminded, so a second run, or a
    concurrent one blocked on the same rows, reminds nobody twice.
    """
    if now.tzinfo is None:
        raise ValueError("send_reminders needs an aware datetime")
    due_from = CalendarEvent.starts_at - func.make_interval(
        0, 0, 0, 0, 0, CalendarEvent.remind_minutes
    )
    claimed = list(
        await session.scalars(
            update(CalendarEvent)
            .where(
                CalendarEvent.remind_minutes.is_not(None),
                CalendarEvent.reminded_at.is_(None),
                CalendarEvent.starts_at > now,
                due_from <= now,
            )
            .values(reminded_at=now)
            .returning(CalendarEvent.id)
            .execution_options(synchronize_session=False)
        )
    )
    if not claimed:
        return 0
    events = list(await session.scalars(select(CalendarEvent).where(CalendarEvent.id.in_(claimed))))
    answers = await session.execute(
        select(MeetingInvitee.event_id, MeetingInvitee.user_id).where(
            MeetingInvitee.event_id.in_(claimed), MeetingInvitee.response != DECLINED
        )
    )
    attending: dict[uuid.UUID, list[uuid.UUID]] = {}
    for event_id, user_id in answers:
        attending.setdefault(event_id, []).append(user_id)
    for event in events:
        readers = [event.organiser_id, *attending.get(event.id, [])]
        await _notify(session, event, readers, "oa_event_reminder", REMINDER)
    return len(events)


async def reminders_job(session: AsyncSession, ctx: TenantContext) -> None:
    """The scheduled job (every five minutes): reminders due now, in the tenant."""
    await send_reminders(session, datetime.now(UTC))


async def check_visible(session: AsyncSession, actor: Actor, event_id: uuid.UUID) -> None:
    """The record type's check: NotFound unless ``actor`` may see the event."""
    await _visible_event(session, actor, event_id)


#: Events as records notifications link to (core.records.access).
EVENT_RECORD = RecordType(
    RECORD_TYPE,
    codes.CALENDAR_READ,
    codes.CALENDAR_WRITE,
    check_visible,
    "/oa/calendar/events/{id}",
)
