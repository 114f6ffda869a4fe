"""Announcements (公告) in the services: a department's announcement reaches those below it
and no one else (who neither see it nor count in its receipts), drafts are the publishers'
own, opening records one read however often and however concurrently, the not-read list,
withdrawing, refusals naming their input, a Member's 403, notifications and audit entries
on publish, and two workspaces kept apart (the ORM's scoping and RLS)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from core import roles
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEntry
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records.models import Notification
from modules.oa import permissions as codes
from modules.oa.models import Announcement, AnnouncementRead
from modules.oa.services import announcements
from modules.oa.services.announcements import AnnouncementDraft
from tests.modules.crm.conftest import SalesFloor

#: A custom role that may publish (an HR clerk): not an admin.
PUBLISHER = (codes.ANNOUNCEMENT_READ, codes.ANNOUNCEMENT_PUBLISH)


@pytest.fixture
async def office(db: Database, make_tenant, registry: ModuleRegistry) -> SalesFloor:
    """Workspace "acme" with OA on, and a way to add departments and members to it."""
    return SalesFloor(db, registry, await make_tenant("acme", "oa"))


async def published(office: SalesFloor, author: Actor, **fields) -> Announcement:
    async with office.session() as session:
        draft = await announcements.write_draft(
            session, author, AnnouncementDraft(title=fields.pop("title", "Holiday"), **fields)
        )
        return await announcements.publish(session, author, draft.id)


async def listed_titles(office: SalesFloor, actor: Actor) -> list[str]:
    async with office.session() as session:
        found = await announcements.list_announcements(session, actor)
    return [item.announcement.title for item in found.items]


async def opened(office: SalesFloor, actor: Actor, announcement_id: uuid.UUID) -> Announcement:
    async with office.session() as session:
        return await announcements.open_announcement(session, actor, announcement_id)


async def test_a_department_announcement_reaches_those_below_it_and_no_one_else(
    office: SalesFloor,
) -> None:
    sales = await office.department("Sales")
    east = await office.department("Sales East", sales)
    support = await office.department("Support")
    hr = await office.member("Hui", custom=PUBLISHER)
    lin = await office.member("Lin", department=sales)
    wei = await office.member("Wei", department=east)
    mei = await office.member("Mei", department=support)
    made = await published(office, hr, title="Q3 targets", everyone=False, department_ids=[sales])

    assert await listed_titles(office, lin) == ["Q3 targets"]
    assert await listed_titles(office, wei) == ["Q3 targets"]
    assert await listed_titles(office, mei) == []
    with pytest.raises(NotFound):
        await opened(office, mei, made.id)
    async with office.session() as session:
        report = await announcements.receipts(session, hr, made.id)
        notified = set(
            await session.scalars(
                select(Notification.user_id).where(Notification.record_id == made.id)
            )
        )
        assert await announcements.unread_count(session, wei) == 1
        assert await announcements.unread_count(session, mei) == 0
    # The author (outside Sales) sees it to manage it, but is neither audience nor notified.
    assert report.audience == 2
    assert [m.name for m in report.not_read] == ["Lin", "Wei"]
    assert notified == {lin.user_id, wei.user_id}
    assert await listed_titles(office, hr) == ["Q3 targets"]


async def test_an_announcement_for_everyone_reaches_every_active_member(
    office: SalesFloor,
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    made = await published(office, admin, title="Office moves")
    async with office.session() as session:
        report = await announcements.receipts(session, admin, made.id)
        [listed] = (await announcements.list_announcements(session, lin)).items
    # Every member: the workspace's owner, the admin, Lin.
    assert report.audience == 3
    assert {m.name for m in report.not_read} >= {"Ada", "Lin"}
    assert listed.unread
    assert listed.read_count is None


async def test_drafts_are_seen_only_by_publishers(office: SalesFloor) -> None:
    hr = await office.member("Hui", custom=PUBLISHER)
    lin = await office.member("Lin")
    async with office.session() as session:
        draft = await announcements.write_draft(session, hr, AnnouncementDraft(title="Soon"))
    assert await listed_titles(office, lin) == []
    with pytest.raises(NotFound):
        await opened(office, lin, draft.id)
    assert await listed_titles(office, hr) == ["Soon"]
    async with office.session() as session:
        assert await announcements.unread_count(session, lin) == 0
        assert await session.scalar(select(func.count()).select_from(Notification)) == 0


async def test_two_opens_make_one_read_and_the_not_read_list_shrinks(office: SalesFloor) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    support = await office.department("Support")
    lin = await office.member("Lin", department=support)
    wei = await office.member("Wei", department=support)
    made = await published(office, admin, everyone=False, department_ids=[support])
    await opened(office, lin, made.id)
    await opened(office, lin, made.id)
    async with office.session() as session:
        reads = await session.scalar(
            select(func.count()).where(AnnouncementRead.announcement_id == made.id)
        )
        report = await announcements.receipts(session, admin, made.id)
        assert await announcements.unread_count(session, lin) == 0
        assert await announcements.unread_count(session, wei) == 1
        [mine] = (await announcements.list_announcements(session, lin)).items
        [theirs] = (await announcements.list_announcements(session, wei)).items
        [managed] = (await announcements.list_announcements(session, admin)).items
    assert reads == 1
    async with office.session() as session:
        unread_notices = {
            n.user_id
            for n in await session.scalars(
                select(Notification).where(
                    Notification.record_id == made.id, Notification.read_at.is_(None)
                )
            )
        }
    assert unread_notices == {wei.user_id}  # opening it marked Lin's notification read
    assert [m.name for m in report.read] == ["Lin"]
    assert [m.user_id for m in report.not_read] == [wei.user_id]
    assert (mine.unread, theirs.unread, managed.read_count) == (False, True, 1)
    # A publisher opening it outside its audience leaves no receipt.
    await opened(office, admin, made.id)
    async with office.session() as session:
        assert (await announcements.receipts(session, admin, made.id)).audience == 2


async def test_concurrent_opens_record_one_read(office: SalesFloor) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    made = await published(office, admin)
    async with office.session() as first:
        await announcements.open_announcement(first, lin, made.id)  # written, not committed
        second = asyncio.create_task(opened(office, lin, made.id))
        # The second open's insert waits on the first's uncommitted row (the unique key).
        for _ in range(500):
            async with office.db.global_transaction() as watcher:
                waiting = await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event_type = 'Lock' AND query ILIKE '%oa_announcement_read%'"
                    )
                )
            if waiting or second.done():
                break
            await asyncio.sleep(0.01)
        assert waiting
        assert not second.done()
    await second  # the first committed: the second's insert gives way, no error
    async with office.session() as session:
        reads = await session.scalar(
            select(func.count()).where(AnnouncementRead.announcement_id == made.id)
        )
    assert reads == 1


async def test_a_withdrawn_announcement_leaves_its_audience_and_is_audited(
    office: SalesFloor,
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    made = await published(office, admin, title="Parking")
    await opened(office, lin, made.id)
    async with office.session() as session:
        await announcements.withdraw(session, admin, made.id)
    assert await listed_titles(office, lin) == []
    with pytest.raises(NotFound):
        await opened(office, lin, made.id)
    async with office.session() as session:
        [kept] = (await announcements.list_announcements(session, admin)).items
        assert kept.announcement.status == "withdrawn"
        assert len((await announcements.receipts(session, admin, made.id)).read) == 1
        actions = list(
            await session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.subject_id == made.id)
                .order_by(AuditEntry.id)
            )
        )
        assert actions == ["oa.announcement.published", "oa.announcement.withdrawn"]
        with pytest.raises(Conflict):
            await announcements.withdraw(session, admin, made.id)
        with pytest.raises(Conflict):
            await announcements.publish(session, admin, made.id)
        with pytest.raises(Conflict):
            await announcements.change_draft(session, admin, made.id, AnnouncementDraft("New"))


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (AnnouncementDraft(title="   "), "title"),
        (AnnouncementDraft(title="x" * 201), "title"),
        (AnnouncementDraft(title="Ok", body="x" * 20_001), "body"),
        (AnnouncementDraft(title="Ok", everyone=False), "department_ids"),
        (
            AnnouncementDraft(title="Ok", everyone=False, department_ids=[uuid.uuid4()]),
            "department_ids",
        ),
    ],
)
async def test_refusals_name_their_input_and_write_nothing(
    office: SalesFloor, draft: AnnouncementDraft, field: str
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    async with office.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await announcements.write_draft(session, admin, draft)
        assert refused.value.params["field"] == field
    async with office.session() as session:
        assert await session.scalar(select(func.count()).select_from(Announcement)) == 0


async def test_a_member_may_read_but_not_publish(office: SalesFloor) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    assert lin.can(codes.ANNOUNCEMENT_READ)
    assert not lin.can(codes.ANNOUNCEMENT_PUBLISH)
    async with office.session() as session:
        draft = await announcements.write_draft(session, admin, AnnouncementDraft(title="Mine"))
    async with office.session() as session:
        with pytest.raises(PermissionDenied):
            await announcements.write_draft(session, lin, AnnouncementDraft(title="Mine too"))
        with pytest.raises(PermissionDenied):
            await announcements.publish(session, lin, draft.id)
        with pytest.raises(PermissionDenied):
            await announcements.receipts(session, lin, draft.id)


async def test_pinned_come_first_then_newest(office: SalesFloor) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    for title, pinned in (("Old pinned", True), ("Older", False), ("Newest", False)):
        await published(office, admin, title=title, pinned=pinned)
    assert await listed_titles(office, admin) == ["Old pinned", "Newest", "Older"]
    async with office.session() as session:
        first = await announcements.list_announcements(session, admin, limit=2)
        rest = await announcements.list_announcements(
            session, admin, after=first.next_cursor, limit=2
        )
    assert [i.announcement.title for i in first.items] == ["Old pinned", "Newest"]
    assert ([i.announcement.title for i in rest.items], rest.next_cursor) == (["Older"], None)
    async with office.session() as session:
        [pinned] = first.items[:1]
        await announcements.set_pinned(session, admin, pinned.announcement.id, False)
    assert await listed_titles(office, admin) == ["Newest", "Older", "Old pinned"]
    async with office.session() as session:
        found = await announcements.list_announcements(session, admin, search="older")
    assert [i.announcement.title for i in found.items] == ["Older"]


async def test_two_workspaces_do_not_see_each_others_announcements(
    office: SalesFloor, db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    sales = await office.department("Sales")
    lin = await office.member("Lin", department=sales)
    made = await published(office, admin, title="Acme only", everyone=False, department_ids=[sales])
    await opened(office, lin, made.id)
    other = SalesFloor(db, registry, await make_tenant("bolt", "oa"))
    bolt_admin = await other.member("Bo", role=roles.ADMIN)
    assert await listed_titles(other, bolt_admin) == []
    async with other.session() as session:
        with pytest.raises(NotFound):
            await announcements.open_announcement(session, bolt_admin, made.id)
        # Below the ORM's scoping, row-level security hides acme's rows from bolt too.
        for table in ("oa_announcement", "oa_announcement_read", "oa_announcement_department"):
            assert await session.scalar(text(f"SELECT count(*) FROM {table}")) == 0
    assert await listed_titles(office, admin) == ["Acme only"]


async def test_a_scheduled_announcement_goes_out_at_its_time_and_notifies_once(
    office: SalesFloor,
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    lin = await office.member("Lin")
    later = datetime.now(UTC) + timedelta(days=1)
    async with office.session() as session:
        draft = await announcements.write_draft(session, admin, AnnouncementDraft(title="Audit"))
        made = await announcements.publish(session, admin, draft.id, later)
        assert announcements.is_scheduled(made)
        assert made.published_at == later
        assert await announcements.notify_due(session, datetime.now(UTC)) == 0
    assert await listed_titles(office, lin) == []
    with pytest.raises(NotFound):
        await opened(office, lin, made.id)
    assert await listed_titles(office, admin) == ["Audit"]

    # Its time comes: the job notifies the audience once, however often it runs.
    async with office.session() as session:
        assert await announcements.notify_due(session, later) == 1
        assert await announcements.notify_due(session, later) == 0
        notified = list(
            await session.scalars(
                select(Notification.user_id).where(Notification.record_id == made.id)
            )
        )
        found = await session.get(Announcement, (office.tenant_id, made.id))
        found.published_at = datetime.now(UTC) - timedelta(minutes=1)  # as if a day went by
    assert lin.user_id in notified
    assert admin.user_id not in notified  # the author
    assert await listed_titles(office, lin) == ["Audit"]


@pytest.mark.parametrize(
    "at",
    [datetime(2020, 1, 1, tzinfo=UTC), datetime(2099, 1, 1)],  # the past; no offset
)
async def test_a_publish_time_in_the_past_or_without_offset_is_refused(
    office: SalesFloor, at: datetime
) -> None:
    admin = await office.member("Ada", role=roles.ADMIN)
    async with office.session() as session:
        draft = await announcements.write_draft(session, admin, AnnouncementDraft(title="X"))
    async with office.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await announcements.publish(session, admin, draft.id, at)
        assert refused.value.params["field"] == "publish_at"
        assert (await announcements.get_announcement(session, admin, draft.id)).status == "draft"
