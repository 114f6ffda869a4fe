"""The outbox and its worker against a real PostgreSQL: at least once, effect once.

Handlers are the sample module's real ones; the worker runs in-process on the
app role, and the owner (who bypasses RLS) only rewinds clocks and counts rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.approvals import decide, request_approval
from core.db import Database, owner_engine
from core.errors import TenantMismatchError
from core.events import Event, publish
from core.models import EventDelivery, Membership, OutboxEvent, ScheduleTick
from core.plugins.registry import ModuleRegistry
from core.worker import (
    Worker,
    backoff_seconds,
    dead_letters,
    latest_due,
    retry_dead_letter,
)
from tenants.services import disable_module
from tests.sample_module.events import NoteCreated
from tests.sample_module.models import SampleEffect
from tests.sample_module.services import NoteService

NOTE_HANDLER = "sample.record_note_created"


class NobodyListens(Event, frozen=True, kw_only=True):
    type_name = "sample.nobody_listens.v1"

    value: int


@pytest.fixture
async def owner(db: Database) -> AsyncIterator[AsyncEngine]:
    """The migration owner's engine: sees every tenant, used to rewind and to count."""
    engine = owner_engine(db.owner)
    yield engine
    await engine.dispose()


async def owner_run(owner: AsyncEngine, sql: str, **params: object) -> None:
    async with owner.begin() as conn:
        await conn.execute(text(sql), params)


async def owner_scalar(owner: AsyncEngine, sql: str, **params: object) -> object:
    async with owner.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def create_note(db: Database, tenant_id: uuid.UUID, title: str) -> uuid.UUID:
    async with db.tenant_transaction(tenant_id) as session:
        return (await NoteService(session).create(title)).id


async def effects(db: Database, tenant_id: uuid.UUID, source: str) -> list[SampleEffect]:
    async with db.tenant_transaction(tenant_id) as session:
        rows = await session.scalars(
            select(SampleEffect).where(SampleEffect.source == source).order_by(SampleEffect.id)
        )
        return list(rows)


async def outbox(db: Database, tenant_id: uuid.UUID) -> list[OutboxEvent]:
    async with db.tenant_transaction(tenant_id) as session:
        return list(await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def delivery(db: Database, tenant_id: uuid.UUID, event_id: uuid.UUID) -> EventDelivery:
    async with db.tenant_transaction(tenant_id) as session:
        row = await session.scalar(select(EventDelivery).where(EventDelivery.event_id == event_id))
        assert row is not None
        return row


async def drain(worker: Worker, rounds: int = 50) -> int:
    """Run batches until one claims nothing; returns how many events were claimed."""
    total = 0
    for _ in range(rounds):
        claimed = await worker.run_once()
        if claimed == 0:
            return total
        total += claimed
    raise AssertionError(f"the outbox did not drain in {rounds} batches")


async def make_due_again(owner: AsyncEngine) -> None:
    """Skip the backoff instead of sleeping through it."""
    await owner_run(
        owner,
        "UPDATE core_outbox SET available_at = now() "
        "WHERE delivered_at IS NULL AND dead_at IS NULL",
    )


# --- publishing -------------------------------------------------------------------------


async def test_publish_is_transactional(db: Database, make_tenant, owner: AsyncEngine) -> None:
    tenant = await make_tenant("alpha", "sample")

    class Abort(Exception):
        pass

    async def publish_then_fail() -> None:
        async with db.tenant_transaction(tenant.tenant_id) as session:
            await publish(session, NoteCreated(note_id=uuid.uuid4(), title="never"))
            raise Abort

    with pytest.raises(Abort):
        await publish_then_fail()
    assert await owner_scalar(owner, "SELECT count(*) FROM core_outbox") == 0

    async with db.tenant_transaction(tenant.tenant_id) as session:
        event_id = await publish(session, NoteCreated(note_id=uuid.uuid4(), title="kept"))
    [row] = await outbox(db, tenant.tenant_id)
    assert (row.id, row.event_type, row.payload["title"]) == (
        event_id,
        "sample.note_created.v1",
        "kept",
    )
    assert row.delivered_at is None


async def test_publish_needs_a_tenant(db: Database) -> None:
    async with db.global_transaction() as session:
        with pytest.raises(TenantMismatchError):
            await publish(session, NoteCreated(note_id=uuid.uuid4(), title="nowhere"))


# --- delivery ---------------------------------------------------------------------------


async def test_delivery_reaches_only_enabled_modules(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    on = await make_tenant("alpha", "sample")
    off = await make_tenant("bravo")
    note_on = await create_note(db, on.tenant_id, "hello")
    async with db.tenant_transaction(off.tenant_id) as session:
        await publish(session, NoteCreated(note_id=uuid.uuid4(), title="unheard"))

    assert await drain(Worker(db, registry)) == 2

    [effect] = await effects(db, on.tenant_id, "note_created")
    assert (effect.ref, effect.detail) == (note_on, "hello")
    assert await effects(db, off.tenant_id, "note_created") == []
    for tenant in (on, off):
        [row] = await outbox(db, tenant.tenant_id)
        assert row.delivered_at is not None
        assert row.dead_at is None
        assert row.lease_until is None
    marker = await delivery(db, on.tenant_id, (await outbox(db, on.tenant_id))[0].id)
    assert (marker.handler, marker.status, marker.attempts) == (NOTE_HANDLER, "done", 1)


async def test_event_without_subscribers_is_simply_delivered(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    tenant = await make_tenant("alpha", "sample")
    async with db.tenant_transaction(tenant.tenant_id) as session:
        await publish(session, NobodyListens(value=1))
    assert await drain(Worker(db, registry)) == 1
    [row] = await outbox(db, tenant.tenant_id)
    assert row.delivered_at is not None
    async with db.tenant_transaction(tenant.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(EventDelivery)) == 0


async def test_redelivery_does_not_repeat_the_effect(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    tenant = await make_tenant("alpha", "sample")
    await create_note(db, tenant.tenant_id, "once")
    worker = Worker(db, registry)
    assert await drain(worker) == 1

    # As if the worker had died after the handler committed but before the outbox update.
    await owner_run(
        owner,
        "UPDATE core_outbox SET delivered_at = NULL, lease_until = NULL, available_at = now()",
    )
    assert await drain(worker) == 1

    assert len(await effects(db, tenant.tenant_id, "note_created")) == 1
    [row] = await outbox(db, tenant.tenant_id)
    assert row.delivered_at is not None
    assert row.attempts == 2
    marker = await delivery(db, tenant.tenant_id, row.id)
    assert (marker.status, marker.attempts) == ("done", 1)


async def test_two_workers_racing_on_one_event_run_its_handler_once(
    db: Database, registry: ModuleRegistry, make_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers deliver the same events at the same time, as after an expired lease."""
    monkeypatch.setenv("SAMPLE_HANDLER_DELAY", "0.05")  # both are inside the handler at once
    tenant = await make_tenant("alpha", "sample")
    for i in range(5):
        await create_note(db, tenant.tenant_id, f"race {i}")
    first, second = Worker(db, registry, name="first"), Worker(db, registry, name="second")

    for row in await outbox(db, tenant.tenant_id):
        await asyncio.gather(
            first.deliver(tenant.tenant_id, row.id), second.deliver(tenant.tenant_id, row.id)
        )

    made = await effects(db, tenant.tenant_id, "note_created")
    assert sorted(e.detail for e in made) == [f"race {i}" for i in range(5)]
    assert all(row.delivered_at is not None for row in await outbox(db, tenant.tenant_id))


async def test_a_worker_whose_lease_was_taken_over_leaves_the_event_alone(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    tenant = await make_tenant("alpha", "sample")
    await create_note(db, tenant.tenant_id, "taken over")
    [row] = await outbox(db, tenant.tenant_id)
    # Another worker claimed the event after ours (attempts 1) let its lease expire.
    await owner_run(owner, "UPDATE core_outbox SET attempts = 2, lease_until = now() + '1 h'")

    await Worker(db, registry).deliver(tenant.tenant_id, row.id, claimed_attempts=1)

    assert await effects(db, tenant.tenant_id, "note_created") == []
    [row] = await outbox(db, tenant.tenant_id)
    assert row.delivered_at is None


async def test_flaky_handler_is_retried_with_backoff_then_succeeds(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    tenant = await make_tenant("alpha", "sample")
    await create_note(db, tenant.tenant_id, "flaky once more")
    worker = Worker(db, registry)

    for attempt, least_delay in ((1, 0.5), (2, 1.0)):  # backoff doubles: 0.5-1 s, then 1-2 s
        assert await worker.run_once() == 1
        [row] = await outbox(db, tenant.tenant_id)
        marker = await delivery(db, tenant.tenant_id, row.id)
        assert (marker.status, marker.attempts) == ("failed", attempt)
        assert marker.last_error == "RuntimeError: flaky handler failed this time"
        assert row.delivered_at is None
        assert row.lease_until is None
        assert (row.available_at - marker.finished_at).total_seconds() >= least_delay
        assert row.last_error == f"{NOTE_HANDLER}: {marker.last_error}"
        await make_due_again(owner)

    assert await worker.run_once() == 1
    [row] = await outbox(db, tenant.tenant_id)
    assert row.delivered_at is not None
    assert row.dead_at is None
    marker = await delivery(db, tenant.tenant_id, row.id)
    assert (marker.status, marker.attempts) == ("done", 3)
    assert len(await effects(db, tenant.tenant_id, "note_created")) == 1


async def test_failing_handler_ends_dead_and_is_listed(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    tenant = await make_tenant("alpha", "sample")
    other = await make_tenant("bravo", "sample")
    await create_note(db, tenant.tenant_id, "boom goes the handler")
    await create_note(db, other.tenant_id, "fine")
    worker = Worker(db, registry, max_attempts=3)

    for _ in range(3):
        await worker.run_once()
        await make_due_again(owner)
    assert await worker.run_once() == 0  # dead: no longer claimed

    [row] = await outbox(db, tenant.tenant_id)
    assert row.dead_at is not None
    assert row.delivered_at is not None
    marker = await delivery(db, tenant.tenant_id, row.id)
    error = "RuntimeError: handler refused note 'boom goes the handler'"
    assert (marker.status, marker.attempts, marker.last_error) == ("dead", 3, error)
    assert await effects(db, tenant.tenant_id, "note_created") == []
    assert len(await effects(db, other.tenant_id, "note_created")) == 1

    # The app role sees one tenant at a time; the listing crosses tenants through core.
    [letter] = await dead_letters(db)
    assert (letter.tenant_id, letter.tenant_slug, letter.event_id) == (
        tenant.tenant_id,
        "alpha",
        row.id,
    )
    assert (letter.event_type, letter.handler, letter.attempts, letter.last_error) == (
        "sample.note_created.v1",
        NOTE_HANDLER,
        3,
        error,
    )

    # An operator retries it: the handler gets a fresh set of attempts (and fails again).
    assert await retry_dead_letter(db, tenant.tenant_id, row.id) == 1
    assert await dead_letters(db) == []
    assert await worker.run_once() == 1
    marker = await delivery(db, tenant.tenant_id, row.id)
    assert (marker.status, marker.attempts) == ("failed", 1)


async def test_handler_that_never_reports_back_is_given_up(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    """Claimed max_attempts times without an outcome (its worker kept dying): dead, not run."""
    tenant = await make_tenant("alpha", "sample")
    await create_note(db, tenant.tenant_id, "kills its worker")
    await owner_run(owner, "UPDATE core_outbox SET attempts = 3")

    assert await Worker(db, registry, max_attempts=3).run_once() == 1

    assert await effects(db, tenant.tenant_id, "note_created") == []
    [row] = await outbox(db, tenant.tenant_id)
    assert row.dead_at is not None
    [letter] = await dead_letters(db)
    assert letter.handler == NOTE_HANDLER
    assert "without an outcome" in (letter.last_error or "")


async def test_stopped_worker_hands_back_what_it_has_not_started(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    tenant = await make_tenant("alpha", "sample")
    for i in range(3):
        await create_note(db, tenant.tenant_id, f"later {i}")
    stop = asyncio.Event()
    stop.set()
    worker = Worker(db, registry)
    worker._stop = stop  # as run() does; run() itself would not start a batch once stopped

    assert await worker.run_once() == 3

    assert await effects(db, tenant.tenant_id, "note_created") == []
    rows = await outbox(db, tenant.tenant_id)
    assert [(r.lease_until, r.attempts, r.delivered_at) for r in rows] == [(None, 0, None)] * 3
    assert await drain(Worker(db, registry)) == 3


async def test_run_delivers_until_stopped(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    tenant = await make_tenant("alpha", "sample")
    await create_note(db, tenant.tenant_id, "in the loop")
    stop = asyncio.Event()
    task = asyncio.create_task(Worker(db, registry, poll_interval=0.05).run(stop))
    try:
        for _ in range(200):  # bounded wait for progress
            if await effects(db, tenant.tenant_id, "note_created"):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
    assert len(await effects(db, tenant.tenant_id, "note_created")) == 1
    assert task.exception() is None


# --- cross-module flows -----------------------------------------------------------------


async def test_approval_decision_reaches_the_requesting_module(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    ctx = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    subject = uuid.uuid4()
    async with db.tenant_transaction(ctx.tenant_id) as session:
        owner_id = await session.scalar(select(Membership.user_id))
        request = await request_approval(
            session,
            ctx,
            registry,
            kind="sample.note",
            subject_type="sample.note",
            subject_id=subject,
            requester_id=owner_id,
            amount=Decimal("120.00"),
        )
        assert request.status == "pending"
    await drain(Worker(db, registry))
    assert await effects(db, ctx.tenant_id, "approval_decided") == []

    async with db.tenant_transaction(ctx.tenant_id) as session:
        await decide(session, request.id, approver_id=owner_id, approve=True, comment="ok")
    assert await drain(Worker(db, registry)) == 1

    [effect] = await effects(db, ctx.tenant_id, "approval_decided")
    assert (effect.ref, effect.detail) == (subject, "approved")


# --- scheduled jobs ---------------------------------------------------------------------


async def test_scheduled_job_fans_out_once_per_due_time(
    db: Database, registry: ModuleRegistry, make_tenant, owner: AsyncEngine
) -> None:
    alpha = await make_tenant("alpha", "sample")
    bravo = await make_tenant("bravo", "sample", "sampleaddon")
    charlie = await make_tenant("charlie")
    delta = await make_tenant("delta", "sample")
    async with db.tenant_transaction(delta.tenant_id) as session:
        await disable_module(session, registry, delta, "sample")

    def worker() -> Worker:  # the module's jobs alone (core's are tested on their own)
        return Worker(db, registry, core_jobs=(), platform_jobs=())

    monday = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)  # the digest is due daily at 07:00 UTC
    first = worker()
    assert await first.fire_due_jobs(monday) == 2
    assert await first.fire_due_jobs(monday) == 0
    assert await worker().fire_due_jobs(monday.replace(hour=7, minute=0)) == 0

    tuesday = datetime(2026, 3, 3, 7, 0, 5, tzinfo=UTC)
    made = await asyncio.gather(worker().fire_due_jobs(tuesday), worker().fire_due_jobs(tuesday))
    assert sorted(made) == [0, 2]

    async with db.global_transaction() as session:
        ticks = await session.scalars(
            select(ScheduleTick.due_at)
            .where(ScheduleTick.module_key == "sample")  # CRM's jobs tick too, for nobody
            .order_by(ScheduleTick.due_at)
        )
        assert list(ticks) == [monday.replace(hour=7, minute=0), tuesday.replace(second=0)]

    assert await drain(first) == 4
    for tenant in (alpha, bravo):
        digests = await effects(db, tenant.tenant_id, "digest")
        assert [e.detail for e in digests] == [tenant.slug, tenant.slug]
        rows = await outbox(db, tenant.tenant_id)
        assert [r.event_type for r in rows] == ["core.job_due.v1"] * 2
        assert all(r.delivered_at is not None for r in rows)
        assert rows[0].payload["module"] == "sample"
        assert rows[0].payload["job"] == "digest"
    for tenant in (charlie, delta):
        assert await outbox(db, tenant.tenant_id) == []
    async with db.tenant_transaction(alpha.tenant_id) as session:
        handlers = await session.scalars(select(EventDelivery.handler))
        assert set(handlers) == {"sample.job.digest"}


async def test_core_jobs_run_for_every_active_workspace_whatever_its_modules(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    from core.jobs import CORE_JOBS
    from core.records.models import Activity
    from core.records.timeline import schedule_activity

    bare = await make_tenant("bare-jobs")  # no modules at all
    with_sample = await make_tenant("sample-jobs", "sample")
    async with db.tenant_transaction(bare.tenant_id) as session:
        owner = await session.scalar(select(Membership.user_id).where(Membership.role == "owner"))
        assert owner is not None
        await schedule_activity(
            session,
            "core.party",
            uuid.uuid4(),
            activity_type="call",
            summary="Call back",
            assignee_id=owner,
            due_on=date(2026, 3, 1),
        )
    worker = Worker(db, registry)
    monday = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    made = await worker.fire_due_jobs(monday)
    # Each core job once per workspace, plus the sample module's digest for the one that has it.
    assert made == len(CORE_JOBS) * 2 + 1
    await drain(worker)
    async with db.tenant_transaction(bare.tenant_id) as session:
        handlers = set(await session.scalars(select(EventDelivery.handler)))
        reminded = await session.scalar(select(Activity.reminded_at))
    assert handlers == {f"core.job.{job.key}" for job in CORE_JOBS}
    assert reminded is not None
    async with db.tenant_transaction(with_sample.tenant_id) as session:
        handlers = set(await session.scalars(select(EventDelivery.handler)))
    assert "sample.job.digest" in handlers


# --- the arithmetic ---------------------------------------------------------------------


def test_backoff_doubles_is_capped_and_jittered() -> None:
    steps = [backoff_seconds(n, rand=lambda: 1.0) for n in range(1, 12)]
    assert steps[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(steps) == 300.0
    assert backoff_seconds(10_000, rand=lambda: 1.0) == 300.0
    assert backoff_seconds(3, rand=lambda: 0.0) == 2.0  # jitter keeps at least half the step
    assert all(2.0 <= backoff_seconds(3) <= 4.0 for _ in range(100))


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2026, 3, 2, 7, 0, tzinfo=UTC), datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 6, 59, 59, tzinfo=UTC), datetime(2026, 3, 1, 7, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 23, 0, tzinfo=UTC), datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 7, 30), datetime(2026, 3, 2, 7, 0, tzinfo=UTC)),  # naive: UTC
    ],
)
def test_latest_due_is_at_or_before_now(now: datetime, due: datetime) -> None:
    assert latest_due("0 7 * * *", now) == due
