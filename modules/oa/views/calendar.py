"""The calendar pages under ``/t/{slug}/oa/calendar``: the week and the day, an event's page
(its invitees' answers, "Accept"/"Decline"), the event form with its refusals beside the
input, the rooms' schedule for a day (and, for room managers, the rooms), and the shared
calendars. Times are shown and typed in the member's own time zone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import ValidationFailed
from core.permissions import Actor
from core.records import access
from core.records.views import record_sections
from modules.oa import permissions as codes
from modules.oa.models.calendar import CalendarEvent
from modules.oa.services import calendar as service
from modules.oa.services import calendar_rooms as rooms_service
from modules.oa.services import calendar_times as times
from modules.oa.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import (
    Refusal,
    answer_form,
    maybe_id,
    read,
    read_count,
    read_day,
    read_id,
    required_id,
    typed_in,
)
from web.tenancy import requires

TAB = "/oa/calendar"
EVENT_FIELDS = (
    "title",
    "calendar_id",
    "starts_at",
    "ends_at",
    "all_day",
    "location",
    "room_id",
    "invitee_ids",
    "remind_minutes",
    "description",
)
ROOM_FIELDS = ("name", "capacity", "location", "active")
#: A datetime-local input's value (``2026-03-05T09:30``), in the member's zone.
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


@dataclass(frozen=True, slots=True)
class Shown:
    """An event as a list shows it, its times in the reader's zone."""

    event: CalendarEvent
    starts: datetime
    ends: datetime


def _shown(events: list[CalendarEvent], zone: ZoneInfo) -> list[Shown]:
    return [Shown(e, e.starts_at.astimezone(zone), e.ends_at.astimezone(zone)) for e in events]


def _today(zone: ZoneInfo) -> date:
    return datetime.now(UTC).astimezone(zone).date()


def _local_moment(field: str, value: str, zone: ZoneInfo) -> datetime:
    def parse(typed: str) -> datetime:
        try:
            moment = datetime.fromisoformat(typed.strip())
        except ValueError:
            raise ValidationFailed(
                "{value} is not a time; use the form {example}.",
                value=typed,
                example="2026-03-05T09:30",
            ) from None
        return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment

    if not value.strip():
        raise ValidationFailed("Fill this in.", field=field)
    return read(field, value, parse)


def _remind(value: str) -> int | None:
    return read_count("remind_minutes", value) if value.strip() else None


async def _days_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    first: date,
    count: int,
    template: str,
    calendar: str,
) -> Template:
    """``count`` days from ``first``; ``calendar`` (an id) shows only that shared calendar."""
    zone = await times.zone_of(session, actor.user_id)
    start, end = times.local_day_span(first, first + timedelta(days=count - 1), zone)
    only = maybe_id(calendar)
    found = await service.events_between(session, actor, start, end, calendar_id=only)
    events = _shown(found, zone)
    days = []
    for offset in range(count):
        day = first + timedelta(days=offset)
        day_start, day_end = times.local_day_span(day, day, zone)
        on_day = [s for s in events if s.event.starts_at < day_end and s.event.ends_at > day_start]
        days.append((day, on_day))
    invited = _shown(await service.invitations(session, actor, datetime.now(UTC)), zone)
    return page(
        template,
        tenant,
        actor,
        TAB,
        first=first,
        days=days,
        before=first - timedelta(days=count),
        after=first + timedelta(days=count),
        today=_today(zone),
        zone=str(zone),
        invited=invited,
        can_write=actor.can(codes.CALENDAR_WRITE),
        shared=await service.calendars(session, actor),
        only=str(only or ""),
    )


@get(TAB, guards=[requires(codes.CALENDAR_READ)])
async def week_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    week: FromQuery[str] = "",
    calendar: FromQuery[str] = "",
) -> Template:
    """The week (Monday to Sunday) holding ``week`` (a day), this week by default."""
    zone = await times.zone_of(session, actor.user_id)
    day = read_day("week", week) or _today(zone)
    monday = day - timedelta(days=day.weekday())
    return await _days_page(session, tenant, actor, monday, 7, "oa/calendar/week.html", calendar)


@get(f"{TAB}/day", guards=[requires(codes.CALENDAR_READ)])
async def day_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    day: FromQuery[str] = "",
    calendar: FromQuery[str] = "",
) -> Template:
    zone = await times.zone_of(session, actor.user_id)
    shown = read_day("day", day) or _today(zone)
    return await _days_page(session, tenant, actor, shown, 1, "oa/calendar/day.html", calendar)


# --- the event form --------------------------------------------------------------------------


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    event_id: uuid.UUID | None = None,
    refusal: Refusal | None = None,
) -> Template:
    return page(
        "oa/calendar/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        chosen_invitees=form["invitee_ids"].split(","),
        refusal=refusal,
        event_id=event_id,
        calendars=[c for c in await service.calendars(session, actor) if c.can_write],
        rooms=await rooms_service.rooms(session, actor, active_only=True),
        members=[
            (str(u), name)
            for u, name in await service.active_members(session)
            if u != actor.user_id
        ],
    )


def _typed(data: Any) -> dict[str, str]:
    """The event form as typed; the invitees (a multiple select) joined by commas."""
    form = typed_in({k: v for k, v in data.items() if k != "invitee_ids"}, *EVENT_FIELDS)
    form["invitee_ids"] = ",".join(data.getall("invitee_ids", []))
    return form


def _event_input(form: dict[str, str], zone: ZoneInfo) -> service.EventInput:
    all_day = form["all_day"] == "on"
    starts, ends = times.event_times(
        _local_moment("starts_at", form["starts_at"], zone),
        _local_moment("ends_at", form["ends_at"], zone),
        all_day,
        zone,
    )
    invitees = [read_id("invitee_ids", raw) for raw in form["invitee_ids"].split(",")]
    return service.EventInput(
        title=form["title"],
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        location=form["location"],
        description=form["description"],
        calendar_id=read_id("calendar_id", form["calendar_id"]),
        room_id=read_id("room_id", form["room_id"]),
        invitee_ids=tuple(i for i in invitees if i is not None),
        remind_minutes=_remind(form["remind_minutes"]),
    )


async def _save(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    event_id: uuid.UUID | None,
) -> Response[Any]:
    form = _typed(await request.form())
    zone = await times.zone_of(session, actor.user_id)
    saved: list[uuid.UUID] = []

    async def save() -> None:
        event = await service.save_event(session, actor, _event_input(form, zone), zone, event_id)
        saved.append(event.id)

    async def again(refusal: Refusal) -> Template:
        return await _form_page(session, tenant, actor, form, event_id=event_id, refusal=refusal)

    return await answer_form(
        session,
        "event",
        form,
        save,
        back=lambda: f"/t/{tenant.slug}{TAB}/events/{saved[0]}",
        refused=again,
    )


@get(f"{TAB}/events/new", guards=[requires(codes.CALENDAR_WRITE)])
async def new_event_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, day: FromQuery[str] = ""
) -> Template:
    zone = await times.zone_of(session, actor.user_id)
    on = read_day("day", day) or _today(zone)
    form = dict.fromkeys(EVENT_FIELDS, "")
    form.update(starts_at=f"{on.isoformat()}T09:00", ends_at=f"{on.isoformat()}T10:00")
    return await _form_page(session, tenant, actor, form)


@post(f"{TAB}/events", guards=[requires(codes.CALENDAR_WRITE)])
async def create_event(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    return await _save(request, session, tenant, actor, None)


@get(f"{TAB}/events/{{event_id:uuid}}/edit", guards=[requires(codes.CALENDAR_WRITE)])
async def edit_event_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, event_id: FromPath[uuid.UUID]
) -> Template:
    shown = await service.get_event(session, actor, event_id)
    event = shown.event
    zone = await times.zone_of(session, actor.user_id)
    last = event.ends_at - timedelta(minutes=1) if event.all_day else event.ends_at
    form = {
        "title": event.title,
        "calendar_id": str(event.calendar_id or ""),
        "starts_at": event.starts_at.astimezone(zone).strftime(LOCAL_INPUT),
        "ends_at": last.astimezone(zone).strftime(LOCAL_INPUT),
        "all_day": "on" if event.all_day else "",
        "location": event.location,
        "room_id": str(event.room_id or ""),
        "invitee_ids": ",".join(str(i.user_id) for i in shown.invitees),
        "remind_minutes": "" if event.remind_minutes is None else str(event.remind_minutes),
        "description": event.description,
    }
    return await _form_page(session, tenant, actor, form, event_id=event_id)


@post(f"{TAB}/events/{{event_id:uuid}}", guards=[requires(codes.CALENDAR_WRITE)])
async def update_event(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    event_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _save(request, session, tenant, actor, event_id)


# --- an event's page, answers, cancelling ----------------------------------------------------


@get(f"{TAB}/events/{{event_id:uuid}}", guards=[requires(codes.CALENDAR_READ)])
async def event_page(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    event_id: FromPath[uuid.UUID],
) -> Template:
    """The event, its invitees' answers, and core's files and comments on it."""
    shown = await service.get_event(session, actor, event_id)
    zone = await times.zone_of(session, actor.user_id)
    here = f"/t/{tenant.slug}{TAB}/events/{event_id}"
    found = access.record_type(registry, tenant, service.RECORD_TYPE)
    sections = await record_sections(session, tenant, actor, found, event_id, here)
    return page(
        "oa/calendar/event.html",
        tenant,
        actor,
        TAB,
        view=shown,
        shown=_shown([shown.event], zone)[0],
        zone=str(zone),
        here=here,
        **sections,
    )


@post(f"{TAB}/events/{{event_id:uuid}}/answer", guards=[requires(codes.CALENDAR_READ)])
async def answer_event(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    event_id: FromPath[uuid.UUID],
    data: FormData,
) -> Redirect:
    await service.answer(session, actor, event_id, accept=data.get("answer") == "accept")
    return Redirect(f"/t/{tenant.slug}{TAB}/events/{event_id}", status_code=HTTP_303_SEE_OTHER)


@post(f"{TAB}/events/{{event_id:uuid}}/cancel", guards=[requires(codes.CALENDAR_WRITE)])
async def cancel_event(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, event_id: FromPath[uuid.UUID]
) -> Redirect:
    await service.cancel_event(session, actor, event_id)
    return Redirect(f"/t/{tenant.slug}{TAB}", status_code=HTTP_303_SEE_OTHER)


# --- rooms -----------------------------------------------------------------------------------


async def _rooms_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    day: date | None,
    *,
    refusal: Refusal | None = None,
) -> Template:
    zone = await times.zone_of(session, actor.user_id)
    on = day or _today(zone)
    schedule = [
        (d.room, _shown(d.bookings, zone))
        for d in await rooms_service.room_schedule(session, actor, on, zone)
    ]
    return page(
        "oa/calendar/rooms.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        day=on,
        before=on - timedelta(days=1),
        after=on + timedelta(days=1),
        schedule=schedule,
        zone=str(zone),
        refusal=refusal,
        can_manage=actor.can(codes.ROOM_MANAGE),
        can_write=actor.can(codes.CALENDAR_WRITE),
    )


@get(f"{TAB}/rooms", guards=[requires(codes.CALENDAR_READ)])
async def rooms_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, day: FromQuery[str] = ""
) -> Template:
    return await _rooms_page(session, tenant, actor, read_day("day", day))


async def _room_form(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    data: dict[str, str],
    form_id: str,
    action: Any,
) -> Response[Any]:
    form = typed_in(data, *ROOM_FIELDS)

    async def again(refusal: Refusal) -> Template:
        return await _rooms_page(session, tenant, actor, None, refusal=refusal)

    async def save() -> None:
        await action(form, read_count("capacity", form["capacity"]))

    return await answer_form(
        session, form_id, form, save, back=f"/t/{tenant.slug}{TAB}/rooms", refused=again
    )


@post(f"{TAB}/rooms", guards=[requires(codes.ROOM_MANAGE)])
async def create_room(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    async def create(form: dict[str, str], capacity: int) -> None:
        await rooms_service.create_room(
            session, actor, name=form["name"], capacity=capacity, location=form["location"]
        )

    return await _room_form(session, tenant, actor, data, "room", create)


@post(f"{TAB}/rooms/{{room_id:uuid}}", guards=[requires(codes.ROOM_MANAGE)])
async def update_room(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    room_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    async def change(form: dict[str, str], capacity: int) -> None:
        await rooms_service.update_room(
            session,
            actor,
            room_id,
            name=form["name"],
            capacity=capacity,
            location=form["location"],
            active=form["active"] == "on",
        )

    return await _room_form(session, tenant, actor, data, f"room-{room_id}", change)


# --- shared calendars ------------------------------------------------------------------------


async def _calendars_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Template:
    everyone = [(str(u), name) for u, name in await service.active_members(session)]
    return page(
        "oa/calendar/calendars.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        shared=await service.calendars(session, actor),
        members=[(u, name) for u, name in everyone if u != str(actor.user_id)],
        everyone=everyone,
        form=form or {"name": ""},
        refusal=refusal,
        can_write=actor.can(codes.CALENDAR_WRITE),
    )


@get(f"{TAB}/calendars", guards=[requires(codes.CALENDAR_READ)])
async def calendars_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Template:
    return await _calendars_page(session, tenant, actor)


@post(f"{TAB}/calendars", guards=[requires(codes.CALENDAR_WRITE)])
async def create_calendar(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    typed = await request.form()
    form = {"name": typed.get("name", "")}

    async def create() -> None:
        readers = [read_id("members", raw) for raw in typed.getall("readers", [])]
        writers = [read_id("members", raw) for raw in typed.getall("writers", [])]
        members = {**dict.fromkeys(readers, False), **dict.fromkeys(writers, True)}
        members.pop(None, None)
        await service.create_calendar(session, actor, form["name"], members)

    async def again(refusal: Refusal) -> Template:
        return await _calendars_page(session, tenant, actor, form=form, refusal=refusal)

    return await answer_form(
        session, "calendar", form, create, back=f"/t/{tenant.slug}{TAB}/calendars", refused=again
    )


@post(f"{TAB}/calendars/{{calendar_id:uuid}}/members", guards=[requires(codes.CALENDAR_WRITE)])
async def set_calendar_member(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    calendar_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, "user_id", "access")

    async def change() -> None:
        user_id = required_id("user_id", form["user_id"])
        await service.set_calendar_member(session, actor, calendar_id, user_id, form["access"])

    async def again(refusal: Refusal) -> Template:
        return await _calendars_page(session, tenant, actor, refusal=refusal)

    return await answer_form(
        session,
        f"calendar-{calendar_id}",
        form,
        change,
        back=f"/t/{tenant.slug}{TAB}/calendars",
        refused=again,
    )


PAGES = [
    week_page,
    day_page,
    new_event_page,
    create_event,
    edit_event_page,
    update_event,
    event_page,
    answer_event,
    cancel_event,
    rooms_page,
    create_room,
    update_room,
    calendars_page,
    create_calendar,
    set_calendar_member,
]
