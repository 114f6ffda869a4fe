"""OA tasks through their services, on a real database: creating and assigning (the
assignee is notified), moving through the statuses (on the task's timeline), the subtask
rule (a parent is done only once its subtasks are done or canceled; one level deep), the
refusals, a stale edit (409), the "own" scope (created by or assigned to the member), the
due-today reminder with a fixed ``now`` (once a day), and two workspaces kept apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from core import roles
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import Membership, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records.models import Notification
from core.records.timeline import timeline
from modules.oa.models import Task
from modules.oa.services import tasks
from modules.oa.services.tasks import NewTask, TaskChanges, TaskFilters

LATER = date.today() + timedelta(days=30)


@dataclass
class Office:
    """A workspace with OA on, and a way to add members to it."""

    db: Database
    registry: ModuleRegistry
    ctx: TenantContext

    def session(self):
        return self.db.tenant_transaction(self.ctx.tenant_id)

    async def member(self, name: str, *, role: str = roles.MEMBER) -> Actor:
        async with self.db.global_transaction() as session:
            user = User(email=f"{name.lower()}.{uuid.uuid4().hex[:6]}@oa.test", display_name=name)
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

    async def task(self, actor: Actor, title: str = "Write the report", **fields) -> Task:
        async with self.session() as session:
            return await tasks.create_task(session, actor, NewTask(title=title, **fields))

    async def move(self, actor: Actor, task_id: uuid.UUID, status: str) -> Task:
        async with self.session() as session:
            moved, _left = await tasks.move_task(session, actor, task_id, status)
            return moved


async def open_office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    """Workspace "acme" with OA on (used by the page tests too)."""
    return Office(db, registry, await make_tenant("acme", "oa"))


@pytest.fixture
async def office(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    return await open_office(db, make_tenant, registry)


async def notifications_of(office: Office, user_id: uuid.UUID) -> list[Notification]:
    async with office.session() as session:
        found = await session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        )
        return list(found)


async def test_a_task_is_assigned_and_moved_through_its_statuses(office: Office) -> None:
    boss = await office.member("Boss", role=roles.ADMIN)
    bob = await office.member("Bob")
    made = await office.task(boss, assignee_id=bob.user_id, due_on=LATER, priority="high")
    assert (made.status, made.assignee_id, made.creator_id) == ("todo", bob.user_id, boss.user_id)
    told = await notifications_of(office, bob.user_id)
    assert [(n.kind, n.record_type, n.record_id) for n in told] == [
        ("oa_task_assigned", "oa.task", made.id)
    ]
    assert told[0].params == {"author": "Boss", "title": "Write the report"}
    assert await notifications_of(office, boss.user_id) == []  # not told of their own work

    await office.move(bob, made.id, "in_progress")
    done = await office.move(bob, made.id, "done")
    assert done.status == "done"
    assert done.completed_at is not None
    reopened = await office.move(bob, made.id, "todo")
    assert reopened.completed_at is None
    async with office.session() as session:
        entries = await timeline(session, "oa.task", made.id)
    statuses = [(c["from"], c["to"]) for e in reversed(entries) for c in e.changes]
    assert statuses == [("todo", "in_progress"), ("in_progress", "done"), ("done", "todo")]

    with pytest.raises(ValidationFailed) as refused:
        await office.move(bob, made.id, "finished")
    assert refused.value.params["field"] == "status"


async def test_a_parent_is_done_only_once_its_subtasks_are_closed(office: Office) -> None:
    ann = await office.member("Ann")
    parent = await office.task(ann, "Open the shop")
    first = await office.task(ann, "Sign the lease", parent_id=parent.id)
    second = await office.task(ann, "Paint the walls", parent_id=parent.id)

    with pytest.raises(Conflict) as refused:
        await office.move(ann, parent.id, "done")
    assert refused.value.status_code == 409
    assert refused.value.params["open"] == 2

    await office.move(ann, first.id, "done")
    await office.move(ann, second.id, "canceled")
    async with office.session() as session:
        progress = await tasks.progress_of(session, [parent.id])
    assert progress[parent.id] == tasks.Progress(done=1, total=1)  # canceled ones do not count
    assert (await office.move(ann, parent.id, "done")).status == "done"

    with pytest.raises(ValidationFailed) as deeper:
        await office.task(ann, "Buy brushes", parent_id=second.id)
    assert deeper.value.params["field"] == "parent_id"
    with pytest.raises(Conflict):  # a done parent takes no new subtasks
        await office.task(ann, "Hang the sign", parent_id=parent.id)


async def test_refusals_name_their_input_and_write_nothing(office: Office) -> None:
    ann = await office.member("Ann")
    async with office.db.global_transaction() as session:
        stranger = User(email=f"s.{uuid.uuid4().hex[:6]}@oa.test", display_name="Stranger")
        session.add(stranger)
    cases = [
        (NewTask(title="   "), "title"),
        (NewTask(title="x" * 201), "title"),
        (NewTask(title="Late", due_on=date.today() - timedelta(days=1)), "due_on"),
        (NewTask(title="Odd", priority="whenever"), "priority"),
        (NewTask(title="Who?", assignee_id=stranger.id), "assignee_id"),
    ]
    for new, field in cases:
        async with office.session() as session:
            with pytest.raises(ValidationFailed) as refused:
                await tasks.create_task(session, ann, new)
        assert refused.value.params["field"] == field
    async with office.session() as session:
        assert await session.scalar(select(func.count()).select_from(Task)) == 0


async def test_an_edit_on_a_stale_version_is_refused_with_409(office: Office) -> None:
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    made = await office.task(ann)
    async with office.session() as session:
        changed = await tasks.update_task(
            session, ann, made.id, TaskChanges(version=made.version, title="Write it well")
        )
        assert changed.version == made.version + 1
    async with office.session() as session:
        with pytest.raises(Conflict) as stale:
            await tasks.update_task(
                session, ann, made.id, TaskChanges(version=made.version, title="Mine wins")
            )
    assert stale.value.status_code == 409
    assert stale.value.params["field"] == "version"
    async with office.session() as session:
        await tasks.update_task(
            session, ann, made.id, TaskChanges(version=changed.version, assignee_id=bob.user_id)
        )
        assert (await tasks.get_task(session, bob, made.id)).title == "Write it well"
    assert [n.kind for n in await notifications_of(office, bob.user_id)] == ["oa_task_assigned"]


async def test_a_member_sees_the_tasks_they_created_or_are_assigned(office: Office) -> None:
    admin = await office.member("Admin", role=roles.ADMIN)
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    carol = await office.member("Carol")
    anns = await office.task(ann, "Ann's own")
    for_bob = await office.task(carol, "Carol asks Bob", assignee_id=bob.user_id)
    sub = await office.task(carol, "A step for Carol", parent_id=for_bob.id)

    async def titles(actor: Actor, view: str = "all") -> set[str]:
        async with office.session() as session:
            found = await tasks.list_tasks(session, actor, TaskFilters(view=view))
            return {row.title for row in found.items}

    assert await titles(ann) == {"Ann's own"}
    # Bob sees the task given to him and its subtask; Carol sees what she created.
    assert await titles(bob) == {"Carol asks Bob", "A step for Carol"}
    assert await titles(bob, "mine") == {"Carol asks Bob"}
    assert await titles(carol, "created") == {"Carol asks Bob", "A step for Carol"}
    assert await titles(admin) == {"Ann's own", "Carol asks Bob", "A step for Carol"}
    async with office.session() as session:
        for hidden in (for_bob.id, sub.id):
            with pytest.raises(NotFound):
                await tasks.get_task(session, ann, hidden)
        with pytest.raises(NotFound):
            await tasks.move_task(session, bob, anns.id, "done")


async def test_overdue_tasks_are_marked_and_filtered(office: Office) -> None:
    ann = await office.member("Ann")
    late = await office.task(ann, "Late one", due_on=LATER)
    await office.task(ann, "On time", due_on=LATER)
    async with office.session() as session:
        await session.execute(
            update(Task)
            .where(Task.id == late.id)
            .values(due_on=date.today() - timedelta(days=2))
            .execution_options(synchronize_session=False)
        )
    async with office.session() as session:
        every = await tasks.list_tasks(session, ann, TaskFilters(view="mine"))
        overdue = await tasks.list_tasks(session, ann, TaskFilters(view="mine", overdue=True))
    assert [(row.title, row.overdue) for row in every.items] == [
        ("Late one", True),
        ("On time", False),
    ]
    assert [row.title for row in overdue.items] == ["Late one"]


async def test_the_daily_job_reminds_of_tasks_due_today_once(office: Office) -> None:
    ann = await office.member("Ann")
    bob = await office.member("Bob")
    day = date(2031, 3, 14)
    due = await office.task(ann, "Due today", assignee_id=bob.user_id, due_on=day)
    await office.task(ann, "Due tomorrow", assignee_id=bob.user_id, due_on=day + timedelta(1))
    closed = await office.task(ann, "Done already", assignee_id=bob.user_id, due_on=day)
    await office.move(bob, closed.id, "done")
    now = datetime(2031, 3, 14, 0, 0, tzinfo=UTC)
    async with office.session() as session:
        sent = await tasks.remind_due_today(session, now)
    assert [(n.user_id, n.kind, n.record_id, n.params) for n in sent] == [
        (bob.user_id, "oa_task_due", due.id, {"title": "Due today"})
    ]
    async with office.session() as session:
        assert await tasks.remind_due_today(session, now + timedelta(hours=5)) == []
    async with office.session() as session:
        with pytest.raises(ValueError, match="aware"):
            await tasks.remind_due_today(session, datetime(2031, 3, 14))
    job = office.registry.modules["oa"].manifest.scheduled_jobs
    assert [j.run for j in job if j.key == "task_due_reminders"] == [tasks.due_today_job]


async def test_two_workspaces_keep_their_tasks_apart(
    office: Office, db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    ann = await office.member("Ann", role=roles.ADMIN)
    made = await office.task(ann, "Acme's secret")
    other = Office(db, registry, await make_tenant("globex", "oa"))
    zed = await other.member("Zed", role=roles.ADMIN)
    async with other.session() as session:
        assert await session.scalar(select(func.count()).select_from(Task)) == 0
        with pytest.raises(NotFound):
            await tasks.get_task(session, zed, made.id)
        # Row-level security, below the ORM's scoping: a raw query sees nothing either.
        raw = await session.scalar(text("SELECT count(*) FROM oa_task"))
        assert raw == 0
    async with office.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM oa_task")) == 1
