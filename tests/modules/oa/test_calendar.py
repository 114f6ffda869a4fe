"""OA calendar rules against the real database: a room is never double-booked (a collision
names the meeting that holds it; two bookings at the same moment, exactly one wins;
back-to-back is fine; an inactive room is refused), invitees accept or decline and the
organiser sees it, nobody sees another's private events, shared calendars let their
members see and writers add (and change who is on it), reminders go once at a fixed
``now``, refusals (end before start), and two workspaces apart."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from core import roles
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records.models import Notification
from modules.oa.models.calendar import CalendarEvent, MeetingRoom
from modules.oa.services import calendar as service
from modules.oa.services import calendar_rooms as rooms_service
from modules.oa.services import calendar_times as times
from modules.oa.services.calendar import EventInput

UTC_ZONE = ZoneInfo("UTC")
NINE = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return NINE.replace(hour=hour, minute=minute)


@dataclass
class Office:
    """A workspace with OA on, and a way to add members to it."""

    db: Database
    registry: ModuleRegistry
    ctx: TenantContext

    def session(self):
        return self.db.tenant_transaction(self.ctx.tenant_id)

    async def member(self, name: str, role: str = roles.MEMBER, time_zone: str = "UTC") -> Actor:
        async with self.db.global_transaction() as session:
            user = User(
                email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@oa.test",
                display_name=name,
                time_zone=time_zone,
            )
            session.add(user)
        async with self.session() as session:
            membership = Membership(user_id=user.id, role=role)
            session.add(membership)
            await session.flush()
            granted = await roles.member_rights(session, self.registry, membership)
            return Actor(
                tenant_id=self.ctx.tenant_id,
                user_id=user.id,
                membership_id=membership.id,
                permissions=granted.permissions,
                scopes=granted.scopes,
            )

    async def room(self, admin: Actor, name: str = "Lotus", capacity: int = 8) -> MeetingRoom:
        async with self.session() as session:
            return await rooms_service.create_room(session, admin, name=name, capacity=capacity)

    async def event(self, actor: Actor, title: str = "Stand-up", **given) -> CalendarEvent:
        fields = {"starts_at": at(9), "ends_at": at(10), **given}
        async with self.session() as session:
            return await service.save_event(
                session, actor, EventInput(title=title, **fields), UTC_ZONE
            )

    async def titles(self, actor: Actor) -> list[str]:
        async with self.session() as session:
            found = await service.events_between(session, actor, at(0), at(0) + timedelta(days=1))
            return [event.title for event in found]

    async def notifications(self, actor: Actor) -> list[tuple[str, dict]]:
        async with self.session() as session:
            rows = await session.execute(
                select(Notification.kind, Notification.params)
                .where(Notification.user_id == actor.user_id)
                .order_by(Notification.id)
            )
            return [(kind, params) for kind, params in rows]


@pytest.fixture
async def office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    return Office(db, registry, await make_tenant("acme", "oa"))


@pytest.fixture
async def other_office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    return Office(db, registry, await make_tenant("bolt", "oa"))


async def test_a_taken_room_is_refused_naming_the_meeting_and_back_to_back_is_fine(
    office: Office,
) -> None:
    admin, wei = await office.member("Admin", roles.ADMIN), await office.member("Wei")
    lotus = await office.room(admin)
    await office.event(wei, "Budget review", room_id=lotus.id)

    with pytest.raises(Conflict) as refused:
        await office.event(admin, "Overlap", starts_at=at(9, 30), ends_at=at(11), room_id=lotus.id)
    assert str(refused.value) == (
        "The room Lotus is already booked from 2026-03-05 09:00 to 2026-03-05 10:00"
        " by “Budget review”."
    )
    assert refused.value.params["field"] == "room_id"
    # Back to back on either side: [09:00, 10:00) touches but does not overlap.
    await office.event(admin, "After", starts_at=at(10), ends_at=at(11), room_id=lotus.id)
    await office.event(admin, "Before", starts_at=at(8), ends_at=at(9), room_id=lotus.id)
    async with office.session() as session:
        booked = await session.scalar(
            select(func.count()).select_from(CalendarEvent).where(CalendarEvent.room_id == lotus.id)
        )
    assert booked == 3

    # Moving a meeting onto a taken slot is refused too; keeping its own slot is not a clash.
    later = await office.event(admin, "Later", starts_at=at(14), ends_at=at(15), room_id=lotus.id)
    async with office.session() as session:
        moved = EventInput(title="Later", starts_at=at(14), ends_at=at(16), room_id=lotus.id)
        await service.save_event(session, admin, moved, UTC_ZONE, later.id)
    clash = EventInput(title="Later", starts_at=at(9), ends_at=at(10), room_id=lotus.id)
    async with office.session() as session:
        with pytest.raises(Conflict):
            await service.save_event(session, admin, clash, UTC_ZONE, later.id)


async def test_two_bookings_of_the_same_room_at_the_same_moment_exactly_one_wins(
    office: Office,
) -> None:
    admin, wei, li = (
        await office.member("Admin", roles.ADMIN),
        await office.member("Wei"),
        await office.member("Li"),
    )
    lotus = await office.room(admin)

    both_open = asyncio.Barrier(2)

    async def book(who: Actor, title: str) -> str:
        """Book in a transaction of its own, once the other's is open too: both look for a
        clash before either commits, so only the room's lock can keep them apart."""
        given = EventInput(title=title, starts_at=at(9), ends_at=at(10), room_id=lotus.id)
        try:
            async with office.session() as session:
                await times.zone_of(session, who.user_id)  # the transaction has begun
                await both_open.wait()
                await service.save_event(session, who, given, UTC_ZONE)
        except Conflict as refused:
            return str(refused).rsplit(" by ", 1)[1]  # “the meeting that holds the room”.
        return "booked"

    answers = await asyncio.gather(book(wei, "Wei's meeting"), book(li, "Li's meeting"))
    # One booked; the other was told which meeting holds the room: the winner's.
    assert sorted(answers) in (["booked", "“Li's meeting”."], ["booked", "“Wei's meeting”."])
    async with office.session() as session:
        held = list(
            await session.scalars(
                select(CalendarEvent.title).where(CalendarEvent.room_id == lotus.id)
            )
        )
    assert len(held) == 1
    assert f"“{held[0]}”." in answers


async def test_an_inactive_room_or_one_too_small_is_refused(office: Office) -> None:
    admin = await office.member("Admin", roles.ADMIN)
    wei, li = await office.member("Wei"), await office.member("Li")
    lotus = await office.room(admin, capacity=2)
    async with office.session() as session:
        await rooms_service.update_room(
            session, admin, lotus.id, name="Lotus", capacity=2, location="", active=False
        )
    with pytest.raises(ValidationFailed) as refused:
        await office.event(wei, room_id=lotus.id)
    assert str(refused.value) == "The room Lotus is out of use; choose another."

    async with office.session() as session:
        await rooms_service.update_room(
            session, admin, lotus.id, name="Lotus", capacity=2, location="", active=True
        )
    with pytest.raises(ValidationFailed, match="seats 2; this meeting has 3 people"):
        await office.event(admin, room_id=lotus.id, invitee_ids=(wei.user_id, li.user_id))
    with pytest.raises(PermissionDenied):
        await office.room(wei, "Wei's own room")  # only room managers add rooms


async def test_invitees_answer_and_the_organiser_sees_who_did(office: Office) -> None:
    boss = await office.member("Boss")
    wei, li, mia = await office.member("Wei"), await office.member("Li"), await office.member("Mia")
    meeting = await office.event(
        boss, "Planning", invitee_ids=(wei.user_id, li.user_id, mia.user_id)
    )
    assert [kind for kind, _ in await office.notifications(wei)] == ["oa_invited"]

    async with office.session() as session:
        await service.answer(session, wei, meeting.id, accept=True)
        await service.answer(session, li, meeting.id, accept=False)
        with pytest.raises(NotFound):
            await service.answer(session, boss, meeting.id, accept=True)  # not an invitee
    async with office.session() as session:
        shown = await service.get_event(session, boss, meeting.id)
        invitations = await service.invitations(session, mia, at(0))
    assert [(i.name, i.response) for i in shown.invitees] == [
        ("Li", "declined"),
        ("Mia", "pending"),
        ("Wei", "accepted"),
    ]
    assert shown.can_edit
    assert shown.my_response is None
    assert [e.title for e in invitations] == ["Planning"]

    # Moving it tells those still invited, asks them again, and drops whoever was removed.
    async with office.session() as session:
        moved = EventInput(
            title="Planning",
            starts_at=at(11),
            ends_at=at(12),
            invitee_ids=(wei.user_id, li.user_id),
        )
        await service.save_event(session, boss, moved, UTC_ZONE, meeting.id)
        shown = await service.get_event(session, boss, meeting.id)
    assert [(i.name, i.response) for i in shown.invitees] == [("Li", "pending"), ("Wei", "pending")]
    changed = (await office.notifications(wei))[-1]
    assert changed == ("oa_event_changed", {"title": "Planning", "starts": "2026-03-05 11:00"})
    assert await office.titles(mia) == []
    async with office.session() as session:  # saving it unchanged tells nobody
        await service.save_event(session, boss, moved, UTC_ZONE, meeting.id)
    assert len(await office.notifications(wei)) == 2
    # An invitee may not change it.
    with pytest.raises(PermissionDenied):
        async with office.session() as session:
            await service.save_event(session, wei, moved, UTC_ZONE, meeting.id)


async def test_nobody_sees_another_members_private_events(office: Office) -> None:
    wei, li = await office.member("Wei"), await office.member("Li")
    admin = await office.member("Admin", roles.ADMIN)
    private = await office.event(wei, "Dentist")
    assert await office.titles(wei) == ["Dentist"]
    assert await office.titles(li) == []
    assert await office.titles(admin) == []  # not even an admin
    async with office.session() as session:
        with pytest.raises(NotFound):
            await service.get_event(session, li, private.id)
        with pytest.raises(NotFound):
            await service.cancel_event(session, li, private.id)


async def test_a_shared_calendar_is_seen_by_its_members_and_written_by_its_writers(
    office: Office,
) -> None:
    lead, wei, li, outsider = (
        await office.member("Lead"),
        await office.member("Wei"),
        await office.member("Li"),
        await office.member("Outsider"),
    )
    async with office.session() as session:
        sales = await service.create_calendar(
            session, lead, "Sales team", {wei.user_id: True, li.user_id: False}
        )
        with pytest.raises(ValidationFailed, match="already a calendar named"):
            await service.create_calendar(session, wei, "sales TEAM", {})
    await office.event(wei, "Customer visit", calendar_id=sales.id)
    assert await office.titles(li) == ["Customer visit"]
    assert await office.titles(lead) == ["Customer visit"]
    assert await office.titles(outsider) == []
    with pytest.raises(ValidationFailed, match="You may not add events to this calendar"):
        await office.event(li, "Li's try", calendar_id=sales.id)  # a reader, not a writer
    async with office.session() as session:
        shown = await service.calendars(session, li)
    assert [(c.calendar.name, c.can_write) for c in shown] == [("Sales team", False)]
    assert [(name, writes) for _, name, writes in shown[0].members] == [
        ("Lead", True),
        ("Li", False),
        ("Wei", True),
    ]

    # Its writers change who is on it; a reader may not; the last writer stays.
    async with office.session() as session:
        await service.set_calendar_member(session, wei, sales.id, outsider.user_id, "read")
        await service.set_calendar_member(session, wei, sales.id, li.user_id, "none")
        with pytest.raises(PermissionDenied):
            await service.set_calendar_member(session, outsider, sales.id, li.user_id, "read")
    assert await office.titles(outsider) == ["Customer visit"]
    assert await office.titles(li) == []
    async with office.session() as session:
        await service.set_calendar_member(session, wei, sales.id, lead.user_id, "none")
        with pytest.raises(Conflict, match="at least one member who writes"):
            await service.set_calendar_member(session, wei, sales.id, wei.user_id, "read")
        with pytest.raises(NotFound):  # not on it: not there
            await service.set_calendar_member(session, li, sales.id, li.user_id, "write")


async def test_reminders_go_once_to_the_organiser_and_those_who_did_not_decline(
    office: Office,
) -> None:
    boss = await office.member("Boss", time_zone="Asia/Shanghai")
    wei, li = await office.member("Wei"), await office.member("Li")
    meeting = await office.event(
        boss, "Review", invitee_ids=(wei.user_id, li.user_id), remind_minutes=15
    )
    await office.event(boss, "No reminder")
    async with office.session() as session:
        await service.answer(session, li, meeting.id, accept=False)

    async with office.session() as session:
        assert await service.send_reminders(session, at(8, 40)) == 0  # 20 minutes ahead: not yet
    async with office.session() as session:
        assert await service.send_reminders(session, at(8, 45)) == 1
    async with office.session() as session:
        assert await service.send_reminders(session, at(8, 50)) == 0  # already sent
    assert (await office.notifications(boss))[-1] == (
        "oa_event_reminder",
        {"title": "Review", "starts": "2026-03-05 17:00"},  # in Shanghai's time
    )
    assert [k for k, _ in await office.notifications(wei)] == ["oa_invited", "oa_event_reminder"]
    assert [k for k, _ in await office.notifications(li)] == ["oa_invited"]
    # Past its start nobody is reminded any more.
    late = await office.event(boss, "Late", starts_at=at(6), ends_at=at(7), remind_minutes=5)
    async with office.session() as session:
        assert await service.send_reminders(session, at(8, 45)) == 0
        assert (
            await session.get(CalendarEvent, (office.ctx.tenant_id, late.id))
        ).reminded_at is None


async def test_refusals_name_their_input_and_write_nothing(office: Office) -> None:
    wei = await office.member("Wei")
    cases = [
        ({"starts_at": at(10), "ends_at": at(9)}, "ends_at", "The end must be after the start."),
        ({"starts_at": at(10), "ends_at": at(10)}, "ends_at", "The end must be after the start."),
        ({"remind_minutes": -5}, "remind_minutes", None),
        ({"starts_at": datetime(2026, 3, 5, 9)}, "starts_at", None),
        ({"invitee_ids": (uuid.uuid4(),)}, "invitee_ids", None),
        ({"room_id": uuid.uuid4()}, "room_id", "Choose a room from the list."),
        ({"description": "x" * 10_001}, "description", None),
        ({"location": "x" * 201}, "location", None),
    ]
    for given, field, message in cases:
        with pytest.raises(ValidationFailed) as refused:
            await office.event(wei, **given)
        assert refused.value.params["field"] == field
        if message:
            assert str(refused.value) == message
    with pytest.raises(ValidationFailed) as untitled:
        await office.event(wei, "  ")
    assert untitled.value.params["field"] == "title"
    async with office.session() as session:
        assert await session.scalar(select(func.count()).select_from(CalendarEvent)) == 0


async def test_an_all_day_event_covers_the_members_local_days(office: Office) -> None:
    zone = ZoneInfo("Asia/Shanghai")
    starts, ends = times.event_times(
        datetime(2026, 3, 5, 15, tzinfo=zone), datetime(2026, 3, 6, 8, tzinfo=zone), True, zone
    )
    assert (starts, ends) == (
        datetime(2026, 3, 4, 16, tzinfo=UTC),
        datetime(2026, 3, 6, 16, tzinfo=UTC),
    )
    with pytest.raises(ValidationFailed):
        times.event_times(ends, starts, True, zone)


async def test_two_workspaces_are_apart(office: Office, other_office: Office) -> None:
    admin = await office.member("Admin", roles.ADMIN)
    lotus = await office.room(admin)
    await office.event(admin, "Acme board", room_id=lotus.id)
    stranger = await other_office.member("Stranger", roles.ADMIN)
    # Another workspace's room is not in this one's list, even by id.
    with pytest.raises(ValidationFailed, match="Choose a room from the list"):
        await other_office.event(stranger, room_id=lotus.id)
    assert await other_office.titles(stranger) == []
    async with other_office.session() as session:
        assert await rooms_service.rooms(session, stranger) == []
        # Row-level security: even without the ORM's scoping, no row of acme shows.
        for table in ("oa_event", "oa_room"):
            assert await session.scalar(text(f"SELECT count(*) FROM {table}")) == 0
