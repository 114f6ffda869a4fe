"""The timeline: comments that mention members, tracked changes, activities and their reminders."""

from __future__ import annotations

import asyncio
import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Membership, User
from core.records import timeline
from core.records.models import Activity, Mention, Notification, TimelineEntry

LEAD = ("crm.lead", uuid.UUID("01900000-0000-7000-8000-0000000000aa"))
# 17:00 UTC on 1 March is already 2 March in Shanghai (UTC+8).
NOW = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)


class Stage(enum.Enum):
    NEW = "new"
    WON = "won"


async def _member(
    db: Database,
    tenant_id: uuid.UUID,
    name: str,
    *,
    active: bool = True,
    time_zone: str = "UTC",
) -> uuid.UUID:
    async with db.global_transaction() as session:
        user = User(email=f"{name.lower()}@{tenant_id.hex[:8]}.test", display_name=name)
        user.time_zone = time_zone
        session.add(user)
        await session.flush()
    async with db.tenant_transaction(tenant_id) as session:
        session.add(Membership(user_id=user.id, role="member", active=active))
    return user.id


def _mention(name: str, user_id: uuid.UUID) -> str:
    return f"@[{name}](user:{user_id})"


@pytest.fixture
async def acme(make_tenant):
    return await make_tenant("acme-timeline")


async def test_a_comment_notifies_only_active_members_it_mentions(
    db: Database, acme, make_tenant
) -> None:
    other = await make_tenant("other-timeline")
    ann = await _member(db, acme.tenant_id, "Ann")
    bob = await _member(db, acme.tenant_id, "Bob")
    gone = await _member(db, acme.tenant_id, "Gone", active=False)
    stranger = await _member(db, other.tenant_id, "Stranger")
    body = (
        f"{_mention('Bob', bob)} and {_mention('Gone', gone)}, please call them. "
        f"cc {_mention('Stranger', stranger)} {_mention('Nobody', uuid.uuid4())} "
        f"{_mention('Bob again', bob)} {_mention('Ann', ann)}"
    )
    async with db.tenant_transaction(acme.tenant_id) as session:
        entry = await timeline.add_comment(session, *LEAD, ann, f"  {body}\n")
        assert (entry.kind, entry.body, entry.author_id) == ("comment", body, ann)
        mentioned = set(await session.scalars(select(Mention.user_id)))
        assert mentioned == {bob, ann}  # the author mentioning herself is kept, not notified
        notifications = list(await session.scalars(select(Notification)))
        assert [(n.user_id, n.kind, n.message, n.params) for n in notifications] == [
            (bob, "mention", "{author} mentioned you.", {"author": "Ann"})
        ]
        assert (notifications[0].record_type, notifications[0].record_id) == LEAD
        assert [e.id for e in await timeline.mentions_of(session, bob)] == [entry.id]
        assert await timeline.mentions_of(session, stranger) == []
        assert await timeline.mentions_of(session, gone) == []
    async with db.tenant_transaction(other.tenant_id) as session:
        assert await timeline.unread_notifications(session, stranger) == []


async def test_a_comment_needs_text(db: Database, acme) -> None:
    ann = await _member(db, acme.tenant_id, "Ann")
    async with db.tenant_transaction(acme.tenant_id) as session:
        for body in ("", "   \n", "x" * (timeline.MAX_COMMENT + 1)):
            with pytest.raises(ValidationFailed, match="1 to 10000 characters"):
                await timeline.add_comment(session, *LEAD, ann, body)
        with pytest.raises(ValidationFailed, match=r"module\.record"):
            await timeline.add_comment(session, "lead", LEAD[1], ann, "hello")
        assert await timeline.timeline(session, *LEAD) == []


async def test_tracked_changes_list_only_the_fields_that_changed(db: Database, acme) -> None:
    ann = await _member(db, acme.tenant_id, "Ann")
    owner_before, owner_after = uuid.uuid4(), uuid.uuid4()
    before = {
        "title": "Boilers for Wuxi",
        "amount": Decimal("12500.00"),
        "close_on": date(2026, 3, 31),
        "owner_id": owner_before,
        "stage": Stage.NEW,
        "lost_reason": None,
        "probability": Decimal("0.5"),
        "tags": ["hot"],
    }
    after = {
        **before,
        "amount": Decimal("1.35E+4"),
        "close_on": date(2026, 4, 15),
        "owner_id": owner_after,
        "stage": Stage.WON,
        "probability": Decimal("0.50"),  # equal as a number: no change
        "tags": ["hot", "vip"],
        "won": True,
    }
    labels = {"stage": "Stage", "amount": "Amount", "close_on": "Expected closing"}
    async with db.tenant_transaction(acme.tenant_id) as session:
        entry = await timeline.track_changes(session, *LEAD, ann, before, after, labels)
        assert entry is not None
        assert entry.kind == "change"
        assert entry.changes == [
            {"field": "stage", "label": "Stage", "from": "new", "to": "won"},
            {"field": "amount", "label": "Amount", "from": "12500.00", "to": "13500"},
            {
                "field": "close_on",
                "label": "Expected closing",
                "from": "2026-03-31",
                "to": "2026-04-15",
            },
        ]
        everything = await timeline.track_changes(session, *LEAD, ann, before, after)
        assert everything is not None
        assert [(c["field"], c["from"], c["to"]) for c in everything.changes] == [
            ("amount", "12500.00", "13500"),
            ("close_on", "2026-03-31", "2026-04-15"),
            ("owner_id", str(owner_before), str(owner_after)),
            ("stage", "new", "won"),
            ("tags", "hot", "hot, vip"),
            ("won", None, "true"),
        ]
        assert await timeline.track_changes(session, *LEAD, ann, before, dict(before)) is None
        assert len(await timeline.timeline(session, *LEAD)) == 2


async def test_the_timeline_pages_newest_first_and_stays_in_its_tenant(
    db: Database, acme, make_tenant
) -> None:
    other = await make_tenant("other-timeline")
    ann = await _member(db, acme.tenant_id, "Ann")
    async with db.tenant_transaction(acme.tenant_id) as session:
        entries = [await timeline.add_comment(session, *LEAD, ann, f"note {n}") for n in range(5)]
        await timeline.add_comment(session, "crm.lead", uuid.uuid4(), ann, "another lead")
        first = await timeline.timeline(session, *LEAD, limit=3)
        assert [e.body for e in first] == ["note 4", "note 3", "note 2"]
        rest = await timeline.timeline(session, *LEAD, before=first[-1].id, limit=3)
        assert [e.body for e in rest] == ["note 1", "note 0"]
        activity = await timeline.schedule_activity(
            session,
            *LEAD,
            activity_type="call",
            summary="Call back",
            assignee_id=ann,
            due_on=date(2026, 3, 2),
            created_by=ann,
        )
    async with db.tenant_transaction(other.tenant_id) as session:
        assert await timeline.timeline(session, *LEAD) == []
        assert await timeline.list_activities(session, *LEAD) == []
        assert await timeline.mentions_of(session, ann) == []
        with pytest.raises(NotFound):
            await timeline.mark_activity_done(session, activity.id, ann)
        assert await timeline.remind_due_activities(session, NOW) == []
        assert await session.scalar(select(func.count()).select_from(TimelineEntry)) == 0
    assert len(entries) == 5


async def test_activities_are_assigned_to_members_and_done_once(
    db: Database, acme, make_tenant
) -> None:
    other = await make_tenant("other-timeline")
    ann = await _member(db, acme.tenant_id, "Ann")
    bob = await _member(db, acme.tenant_id, "Bob")
    gone = await _member(db, acme.tenant_id, "Gone", active=False)
    stranger = await _member(db, other.tenant_id, "Stranger")
    plan = {"activity_type": "meeting", "summary": "Site visit", "due_on": date(2026, 3, 5)}
    async with db.tenant_transaction(acme.tenant_id) as session:
        for assignee in (gone, stranger, uuid.uuid4()):
            with pytest.raises(ValidationFailed, match="active members of this workspace"):
                await timeline.schedule_activity(
                    session, *LEAD, **plan, assignee_id=assignee, created_by=ann
                )
        with pytest.raises(ValidationFailed, match="one of call, email, meeting, todo"):
            await timeline.schedule_activity(
                session, *LEAD, **{**plan, "activity_type": "lunch"}, assignee_id=bob
            )
        with pytest.raises(ValidationFailed, match="summary has 1 to 200"):
            await timeline.schedule_activity(
                session, *LEAD, **{**plan, "summary": " "}, assignee_id=bob
            )
        visit = await timeline.schedule_activity(
            session, *LEAD, **plan, assignee_id=bob, created_by=ann, note="Bring the samples"
        )
        mine = await timeline.schedule_activity(
            session, *LEAD, **{**plan, "activity_type": "todo"}, assignee_id=ann, created_by=ann
        )
        assert [a.id for a in await timeline.list_activities(session, *LEAD)] == [visit.id, mine.id]
        assert [a.id for a in await timeline.activities_of(session, bob)] == [visit.id]
        [assigned] = await timeline.unread_notifications(session, bob)
        assert (assigned.kind, assigned.params) == (
            "activity_assigned",
            {"author": "Ann", "summary": "Site visit"},
        )
        assert await timeline.unread_notifications(session, ann) == []  # planned it herself

        entry = await timeline.mark_activity_done(session, visit.id, bob, "  They signed.  ")
        assert (entry.kind, entry.body, entry.activity_id, entry.author_id) == (
            "activity",
            "They signed.",
            visit.id,
            bob,
        )
        assert (visit.done_by, visit.done_at is not None) == (bob, True)
        with pytest.raises(Conflict, match="already done"):
            await timeline.mark_activity_done(session, visit.id, bob)
        with pytest.raises(Conflict, match="already done"):
            await timeline.cancel_activity(session, visit.id)
        await timeline.cancel_activity(session, mine.id)
        assert await timeline.list_activities(session, *LEAD) == []
        assert [e.kind for e in await timeline.timeline(session, *LEAD)] == ["activity"]


async def test_due_activities_remind_their_assignee_once_on_their_local_day(
    db: Database, acme
) -> None:
    ann = await _member(db, acme.tenant_id, "Ann")
    li = await _member(db, acme.tenant_id, "Li", time_zone="Asia/Shanghai")
    odd = await _member(db, acme.tenant_id, "Odd", time_zone="Not/A_Zone")
    async with db.tenant_transaction(acme.tenant_id) as session:

        async def plan(summary: str, assignee: uuid.UUID, due_on: date) -> Activity:
            return await timeline.schedule_activity(
                session,
                *LEAD,
                activity_type="todo",
                summary=summary,
                assignee_id=assignee,
                due_on=due_on,
                created_by=assignee,
            )

        await plan("overdue", ann, date(2026, 2, 27))
        await plan("today", ann, date(2026, 3, 1))
        await plan("tomorrow", ann, date(2026, 3, 2))
        await plan("tomorrow in UTC, today in Shanghai", li, date(2026, 3, 2))
        await plan("the day after in Shanghai", li, date(2026, 3, 3))
        await plan("today, in UTC for an unknown zone", odd, date(2026, 3, 1))
        done = await plan("done already", ann, date(2026, 2, 20))
        await timeline.mark_activity_done(session, done.id, ann)

    async with db.tenant_transaction(acme.tenant_id) as session:
        reminded = await timeline.remind_due_activities(session, NOW)
        assert sorted((n.user_id, n.params["summary"]) for n in reminded) == sorted(
            [
                (ann, "overdue"),
                (ann, "today"),
                (li, "tomorrow in UTC, today in Shanghai"),
                (odd, "today, in UTC for an unknown zone"),
            ]
        )
        assert {(n.kind, n.message) for n in reminded} == {
            ("activity_due", "Activity due: {summary}")
        }
        assert {n.params["due_on"] for n in reminded if n.user_id == li} == {"2026-03-02"}
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await timeline.remind_due_activities(session, NOW) == []
        later = await timeline.remind_due_activities(session, datetime(2026, 3, 2, 1, tzinfo=UTC))
        assert [n.params["summary"] for n in later] == ["tomorrow"]
        assert await session.scalar(select(func.count()).select_from(Notification)) == 5


async def test_reminders_running_at_once_remind_each_activity_once(db: Database, acme) -> None:
    ann = await _member(db, acme.tenant_id, "Ann")
    async with db.tenant_transaction(acme.tenant_id) as session:
        for n in range(10):
            await timeline.schedule_activity(
                session,
                *LEAD,
                activity_type="call",
                summary=f"call {n}",
                assignee_id=ann,
                due_on=date(2026, 3, 1),
                created_by=ann,
            )

    async def run() -> int:
        async with db.tenant_transaction(acme.tenant_id) as session:
            return len(await timeline.remind_due_activities(session, NOW))

    assert sorted(await asyncio.gather(run(), run(), run())) == [0, 0, 10]
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert len(await timeline.unread_notifications(session, ann)) == 10


async def test_notifications_are_read_by_their_member(db: Database, acme) -> None:
    ann = await _member(db, acme.tenant_id, "Ann")
    bob = await _member(db, acme.tenant_id, "Bob")
    async with db.tenant_transaction(acme.tenant_id) as session:
        for n in range(3):
            await timeline.add_comment(session, *LEAD, ann, f"{_mention('Bob', bob)} #{n}")
        unread = await timeline.unread_notifications(session, bob)
        assert len(unread) == 3
        assert await timeline.mark_notifications_read(session, ann, [unread[0].id]) == 0
        assert await timeline.mark_notifications_read(session, bob, [unread[0].id]) == 1
        assert len(await timeline.unread_notifications(session, bob)) == 2
        assert await timeline.mark_notifications_read(session, bob) == 2
        assert await timeline.unread_notifications(session, bob) == []


def test_values_render_as_strings_the_same_everywhere() -> None:
    some_id = uuid.uuid4()
    assert timeline.render_value(None) is None
    assert timeline.render_value(Decimal("1E+2")) == "100"
    assert timeline.render_value(Decimal("0.10")) == "0.10"
    assert timeline.render_value(datetime(2026, 3, 1, 9, 30, tzinfo=UTC)) == (
        "2026-03-01T09:30:00+00:00"
    )
    assert timeline.render_value(some_id) == str(some_id)
    assert timeline.render_value(False) == "false"
    assert timeline.render_value(Stage.WON) == "won"
    assert timeline.render_value({"b", "a"}) == "a, b"
    assert timeline.mentioned_ids(f"hi @bob {_mention('X', some_id)} @[Y](user:not-an-id)") == [
        some_id
    ]
