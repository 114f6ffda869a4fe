"""The outbox worker: delivers events to module handlers and fires scheduled jobs.

Delivery is at least once, effect once. A worker leases a batch of due
events across tenants (``core_claim_outbox``: ``FOR UPDATE SKIP LOCKED``, so
any number of workers share the queue), then delivers each event in its
tenant's scope:

1. One tenant transaction reads the event, the tenant's enabled modules and
   the handlers that are already finished (``done`` or ``dead``).
2. Each remaining handler runs in *its own* tenant transaction that first
   upserts its processed-marker (``core_event_delivery``, status ``done``) and
   then runs the handler. The effect and the marker commit together or not
   at all; a second worker racing on an expired lease blocks on the marker
   row and then finds it ``done``, so it skips the handler.
3. A failing handler's transaction rolls back; a new one records ``failed``
   (attempts + 1, the error) or ``dead`` once attempts reach ``max_attempts``.
4. The outbox row is then delivered (every handler done or dead; ``dead_at``
   too if any is dead) or released with an exponential backoff.

A worker killed at any point loses nothing: an unfinished event keeps its
lease until it expires and is then claimed again; handlers that committed
their marker are not run twice.

Scheduled jobs are fanned out by ``core_fan_out_job``: one ``core.job_due.v1``
event per tenant with the module enabled, once per (module, job, due time)
however many workers call it. The job then runs like any event handler.

Core has handlers of its own too (``core.jobs.CORE_HANDLERS``, such as building a
workspace export), delivered for every tenant before the modules' handlers, and
platform jobs (``core.jobs.PLATFORM_JOBS``, such as purging deleted workspaces) that run
once per due time for the whole platform, in the worker that claims the due time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.db import Database
from core.errors import NotFound
from core.events import decode
from core.jobs import CORE, CORE_HANDLERS, CORE_JOBS, PLATFORM_JOBS, PlatformJob
from core.logging import tenant as log_tenant
from core.models import EventDelivery, OutboxEvent
from core.orm import uuid7
from core.plugins.manifest import EventHandler, ScheduledJob, handler_name
from core.plugins.registry import ModuleRegistry
from core.tenancy import tenant_context

logger = logging.getLogger("atrium.worker")

JOB_DUE_EVENT = "core.job_due.v1"  # written by core_fan_out_job: {module, job, due_at}
PLATFORM = "platform"  # the schedule ticks' module key of platform jobs
MAX_BACKOFF_SECONDS = 300.0
BACKOFF_BASE_SECONDS = 1.0
MAX_ERROR_LENGTH = 2000
FINISHED = ("done", "dead")

HandlerCall = Callable[[AsyncSession, TenantContext], Awaitable[None]]

# The processed-marker, written before the handler runs in the same transaction. Only a
# missing or 'failed' marker is taken: 'done' means another worker did it, 'dead' is final
# until an operator retries it (retry_dead_letter). Nothing returned: skip the handler.
_MARK_DONE = text(
    """
    INSERT INTO core_event_delivery AS d
           (tenant_id, id, event_id, handler, status, attempts, finished_at, created_at)
    VALUES (:tenant_id, :id, :event_id, :handler, 'done', 1, now(), now())
    ON CONFLICT (tenant_id, event_id, handler) DO UPDATE
       SET status = 'done', attempts = d.attempts + 1, finished_at = now()
     WHERE d.status = 'failed'
    RETURNING d.attempts
    """
)

# A failed attempt, recorded after the handler's transaction rolled back. A marker another
# worker completed meanwhile is left alone (the WHERE), so 'done' is never overwritten.
_MARK_FAILED = text(
    """
    INSERT INTO core_event_delivery AS d
           (tenant_id, id, event_id, handler, status, attempts, last_error, finished_at,
            created_at)
    VALUES (:tenant_id, :id, :event_id, :handler,
            CASE WHEN 1 >= :max_attempts THEN 'dead' ELSE 'failed' END, 1, :error, now(), now())
    ON CONFLICT (tenant_id, event_id, handler) DO UPDATE
       SET attempts = d.attempts + 1,
           status = CASE WHEN d.attempts + 1 >= :max_attempts THEN 'dead' ELSE 'failed' END,
           last_error = EXCLUDED.last_error,
           finished_at = now()
     WHERE d.status = 'failed'
    RETURNING d.status, d.attempts
    """
)

# Both outbox updates are guarded by the attempts the worker saw after claiming: if the
# lease expired and another worker claimed the event (attempts + 1), that worker owns the
# outcome and this one's stale view is dropped.
_MARK_DELIVERED = text(
    """
    UPDATE core_outbox
       SET delivered_at = now(),
           dead_at = CASE WHEN :dead THEN now() END,
           lease_until = NULL,
           last_error = :error
     WHERE tenant_id = :tenant_id AND id = :event_id AND attempts = :attempts
       AND delivered_at IS NULL
    """
)

_MARK_RETRY = text(
    """
    UPDATE core_outbox
       SET available_at = now() + make_interval(secs => :delay),
           lease_until = NULL,
           last_error = :error
     WHERE tenant_id = :tenant_id AND id = :event_id AND attempts = :attempts
       AND delivered_at IS NULL
    """
)

# A platform job's due time, taken by one worker only (the tick's unique key).
_CLAIM_TICK = text(
    """
    INSERT INTO core_schedule_tick (id, module_key, job_key, due_at, created_at)
    VALUES (:id, 'platform', :job, :due, now())
    ON CONFLICT DO NOTHING RETURNING 1
    """
)

# Handing back events claimed but not started (the worker is stopping): no attempt spent.
_RELEASE = text(
    """
    UPDATE core_outbox SET lease_until = NULL, attempts = greatest(attempts - 1, 0)
     WHERE tenant_id = :tenant_id AND id = :event_id AND attempts = :attempts
       AND delivered_at IS NULL
    """
)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One handler that gave up on one event: what the operator's CLI lists."""

    tenant_id: uuid.UUID
    tenant_slug: str | None
    event_id: uuid.UUID
    event_type: str
    handler: str
    attempts: int
    last_error: str | None
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class _Handler:
    name: str
    call: HandlerCall


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one delivery does, read in one tenant transaction before any handler runs."""

    tenant_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    attempts: int  # after this worker's claim: the token that says the lease is still ours
    ctx: TenantContext
    handlers: tuple[_Handler, ...]  # every handler the event has for this tenant
    finished: frozenset[str]  # names of those already done or dead

    @property
    def pending(self) -> list[_Handler]:
        return [h for h in self.handlers if h.name not in self.finished]


def backoff_seconds(
    attempts: int,
    *,
    base: float = BACKOFF_BASE_SECONDS,
    cap: float = MAX_BACKOFF_SECONDS,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before the next delivery after ``attempts`` tries: doubling, capped, jittered.

    The jitter (between half and all of the step) keeps events that failed together, say
    while a service was down, from all coming back in the same instant.
    """
    step = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 32))
    return step * (0.5 + 0.5 * rand())


def latest_due(cron: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` (UTC) that the cron expression names."""
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    previous = croniter(cron, now).get_prev(datetime)
    following = croniter(cron, previous).get_next(datetime)  # get_prev is strictly before
    return following if following <= now else previous


def describe_error(exc: BaseException) -> str:
    """``Type: message`` for last_error, cut to a length an operator can read in a list."""
    kind = type(exc)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    message = str(exc)
    described = f"{name}: {message}" if message else name
    if len(described) > MAX_ERROR_LENGTH:
        described = described[: MAX_ERROR_LENGTH - 1] + "…"
    return described


class Worker:
    """Delivers the outbox and fires scheduled jobs; run one or many, anywhere."""

    def __init__(
        self,
        db: Database,
        registry: ModuleRegistry,
        *,
        batch_size: int = 50,
        lease_seconds: int = 60,
        max_attempts: int = 8,
        poll_interval: float = 1.0,
        name: str | None = None,
        core_jobs: Sequence[ScheduledJob] = CORE_JOBS,
        core_handlers: Sequence[EventHandler] = CORE_HANDLERS,
        platform_jobs: Sequence[PlatformJob] = PLATFORM_JOBS,
    ) -> None:
        self.core_jobs = tuple(core_jobs)  # core's own jobs, run for every active tenant
        self.core_handlers = tuple(core_handlers)  # core's own handlers, every tenant
        self.platform_jobs = tuple(platform_jobs)  # once per due time, not per tenant
        if batch_size < 1 or lease_seconds < 0 or max_attempts < 1 or poll_interval < 0:
            raise ValueError(
                "batch_size and max_attempts must be at least 1, lease_seconds and "
                "poll_interval not negative"
            )
        self.db = db
        self.registry = registry
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.poll_interval = poll_interval
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stop: asyncio.Event | None = None
        # The due time each job was last fanned out for by this worker: saves a round trip
        # per job and poll. The database's tick row is what makes fan-out happen once.
        self._fired: dict[tuple[str, str], datetime] = {}

    # --- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Fire jobs and deliver events until ``stop`` is set; errors are logged, not fatal.

        The batch in hand is finished (events not yet started are handed back) and
        the loop exits; idle, it waits on ``stop`` itself, so it exits at once.
        """
        self._stop = stop
        logger.info(
            "worker %s started: batch %d, lease %ds, max %d attempts, %d modules",
            self.name,
            self.batch_size,
            self.lease_seconds,
            self.max_attempts,
            len(self.registry.modules),
        )
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self.fire_due_jobs()
                except Exception:
                    logger.exception("worker %s: firing scheduled jobs failed", self.name)
                try:
                    claimed = await self.run_once()
                    failures = 0
                except Exception:
                    # The database is likely down or restarting: wait longer each time.
                    failures += 1
                    claimed = 0
                    logger.exception("worker %s: claiming from the outbox failed", self.name)
                if claimed == 0 and not stop.is_set():
                    delay = self.poll_interval * (2 ** min(failures, 5))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            self._stop = None
            logger.info("worker %s stopped", self.name)

    async def run_once(self) -> int:
        """Claim one batch of due events and deliver each; returns how many were claimed."""
        claimed = await self._claim()
        for index, (tenant_id, event_id, attempts) in enumerate(claimed):
            if self._stop is not None and self._stop.is_set():
                await self._release(claimed[index:])
                break
            try:
                await self.deliver(tenant_id, event_id, claimed_attempts=attempts)
            except Exception:
                # Not a handler's failure (those are recorded): the database went away, say.
                # The lease runs out and the event is claimed again.
                logger.exception(
                    "worker %s: delivering event %s of tenant %s failed; it will be retried "
                    "when its lease expires",
                    self.name,
                    event_id,
                    tenant_id,
                )
        return len(claimed)

    async def _claim(self) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
        async with self.db.global_transaction() as session:
            rows = (
                await session.execute(
                    text("SELECT tenant_id, id, attempts FROM core_claim_outbox(:batch, :lease)"),
                    {"batch": self.batch_size, "lease": self.lease_seconds},
                )
            ).all()
        # Time-ordered ids: deliver in the order the events were published.
        return sorted(((r.tenant_id, r.id, r.attempts) for r in rows), key=lambda r: r[1])

    async def _release(self, events: Sequence[tuple[uuid.UUID, uuid.UUID, int]]) -> None:
        """Hand back claimed events this worker will not start, so others need not wait."""
        for tenant_id, event_id, attempts in events:
            try:
                async with self.db.tenant_transaction(tenant_id) as session:
                    await session.execute(
                        _RELEASE,
                        {"tenant_id": tenant_id, "event_id": event_id, "attempts": attempts},
                    )
            except Exception:
                logger.exception("worker %s: could not hand back event %s", self.name, event_id)

    # --- one event --------------------------------------------------------------------

    async def deliver(
        self,
        tenant_id: uuid.UUID,
        event_id: uuid.UUID,
        *,
        claimed_attempts: int | None = None,
    ) -> None:
        """Deliver one event to its tenant's handlers.

        ``claimed_attempts`` is what ``core_claim_outbox`` returned with the event: if
        the row shows another count, the lease expired and another worker claimed the
        event since, so it is that worker's to deliver. Without it (a direct call), the
        event is delivered whoever holds it; the markers still keep each effect to one.
        """
        plan = await self._plan(tenant_id, event_id, claimed_attempts)
        if plan is None:
            return
        token = log_tenant.set(str(plan.ctx.tenant_id))
        try:
            # Claimed more often than it has attempts to spend, without an outcome: the
            # handler keeps killing or stalling its worker. Stop feeding it to workers.
            poisoned = plan.attempts > self.max_attempts
            for handler in plan.pending:
                if poisoned:
                    await self._record_failure(
                        plan,
                        handler,
                        f"gave up after {plan.attempts - 1} deliveries without an outcome "
                        "(the worker stopped or crashed while running this handler)",
                        max_attempts=0,
                    )
                else:
                    await self._run_handler(plan, handler)
            await self._finish(plan)
        finally:
            log_tenant.reset(token)

    async def _plan(
        self, tenant_id: uuid.UUID, event_id: uuid.UUID, claimed_attempts: int | None
    ) -> _Plan | None:
        async with self.db.tenant_transaction(tenant_id) as session:
            event = (
                await session.execute(
                    select(
                        OutboxEvent.event_type,
                        OutboxEvent.payload,
                        OutboxEvent.attempts,
                        OutboxEvent.delivered_at,
                    ).where(OutboxEvent.id == event_id)
                )
            ).one_or_none()
            if event is None or event.delivered_at is not None:
                return None  # delivered by another worker meanwhile, or deleted
            if claimed_attempts is not None and event.attempts != claimed_attempts:
                logger.info("event %s was claimed again by another worker", event_id)
                return None
            try:
                ctx = await tenant_context(session, tenant_id)
            except NotFound:
                ctx = None
            finished = frozenset(
                await session.scalars(
                    select(EventDelivery.handler).where(
                        EventDelivery.event_id == event_id, EventDelivery.status.in_(FINISHED)
                    )
                )
            )
            if ctx is None:
                # Nobody is left to deliver to; keep the row as a dead letter for the record.
                await session.execute(
                    _MARK_DELIVERED,
                    {
                        "tenant_id": tenant_id,
                        "event_id": event_id,
                        "attempts": event.attempts,
                        "dead": True,
                        "error": "the workspace no longer exists",
                    },
                )
                logger.warning("event %s: tenant %s no longer exists", event_id, tenant_id)
                return None
        handlers = self._handlers(event.event_type, event.payload, ctx)
        return _Plan(
            tenant_id=tenant_id,
            event_id=event_id,
            event_type=event.event_type,
            attempts=event.attempts,
            ctx=ctx,
            handlers=tuple(handlers),
            finished=finished,
        )

    def _handlers(
        self, event_type: str, payload: dict[str, Any], ctx: TenantContext
    ) -> list[_Handler]:
        """The handlers of the modules this tenant has enabled, in install order."""
        if event_type == JOB_DUE_EVENT:
            module, job_key = payload.get("module"), payload.get("job")
            # A read-only (unpaid) module's jobs make new work; they wait until it is paid.
            if module != CORE and (module not in ctx.enabled or module in ctx.read_only):
                return []
            for job in self._jobs().get(module, ()):
                if job.key == job_key:
                    return [_Handler(f"{module}.job.{job.key}", job.run)]
            return []
        core = [
            _Handler(handler_name(CORE, handler), _event_call(handler, payload))
            for handler in self.core_handlers
            if handler.event.event_type() == event_type
        ]
        return core + [
            _Handler(handler_name(module, handler), _event_call(handler, payload))
            for module, handler in self.registry.handlers_for(event_type)
            if module in ctx.enabled
        ]

    async def _run_handler(self, plan: _Plan, handler: _Handler) -> None:
        keys = {"tenant_id": plan.tenant_id, "event_id": plan.event_id, "handler": handler.name}
        try:
            async with self.db.tenant_transaction(plan.tenant_id) as session:
                taken = (await session.execute(_MARK_DONE, {**keys, "id": uuid7()})).first()
                if taken is None:
                    return  # done by another worker, or dead: not ours to run
                await handler.call(session, plan.ctx)
        except Exception as exc:
            await self._record_failure(plan, handler, describe_error(exc), exc=exc)
            return
        logger.debug("event %s (%s): %s done", plan.event_id, plan.event_type, handler.name)

    async def _record_failure(
        self,
        plan: _Plan,
        handler: _Handler,
        error: str,
        *,
        exc: BaseException | None = None,
        max_attempts: int | None = None,
    ) -> None:
        limit = self.max_attempts if max_attempts is None else max_attempts
        async with self.db.tenant_transaction(plan.tenant_id) as session:
            row = (
                await session.execute(
                    _MARK_FAILED,
                    {
                        "tenant_id": plan.tenant_id,
                        "id": uuid7(),
                        "event_id": plan.event_id,
                        "handler": handler.name,
                        "max_attempts": limit,
                        "error": error,
                    },
                )
            ).first()
        if row is None:
            return  # another worker finished it meanwhile
        if row.status == "dead":
            logger.error(
                "event %s (%s): handler %s is dead after %d attempts: %s",
                plan.event_id,
                plan.event_type,
                handler.name,
                row.attempts,
                error,
                exc_info=exc,
            )
        else:
            logger.warning(
                "event %s (%s): handler %s failed (attempt %d of %d): %s",
                plan.event_id,
                plan.event_type,
                handler.name,
                row.attempts,
                limit,
                error,
                exc_info=exc,
            )

    async def _finish(self, plan: _Plan) -> None:
        """Deliver the outbox row, or put it back with a backoff, by the markers' state."""
        names = [h.name for h in plan.handlers]
        async with self.db.tenant_transaction(plan.tenant_id) as session:
            rows = (
                await session.execute(
                    select(
                        EventDelivery.handler, EventDelivery.status, EventDelivery.last_error
                    ).where(
                        EventDelivery.event_id == plan.event_id, EventDelivery.handler.in_(names)
                    )
                )
            ).all()
            status = {r.handler: r.status for r in rows}
            unfinished = [n for n in names if status.get(n) not in FINISHED]
            keys = {
                "tenant_id": plan.tenant_id,
                "event_id": plan.event_id,
                "attempts": plan.attempts,
            }
            if unfinished:
                errors = [r for r in rows if r.handler in unfinished and r.last_error]
                await session.execute(
                    _MARK_RETRY,
                    {
                        **keys,
                        "delay": backoff_seconds(plan.attempts),
                        "error": _summary(errors),
                    },
                )
                return
            dead = [r for r in rows if r.status == "dead"]
            await session.execute(
                _MARK_DELIVERED, {**keys, "dead": bool(dead), "error": _summary(dead)}
            )

    # --- scheduled jobs ---------------------------------------------------------------

    def _jobs(self) -> dict[str, tuple[ScheduledJob, ...]]:
        """Core's jobs (every active tenant) and each loaded module's (tenants that have it)."""
        modules = {key: m.manifest.scheduled_jobs for key, m in self.registry.modules.items()}
        return {CORE: self.core_jobs, **modules}

    async def fire_due_jobs(self, now: datetime | None = None) -> int:
        """Fan out core's and every loaded module's jobs due at or before ``now``; returns
        the events made.

        Only the latest due time of each job is fired: a worker that was down for
        three days runs a daily job once, not three times.
        """
        now = datetime.now(UTC) if now is None else now
        created = 0
        for module, jobs in self._jobs().items():
            for job in jobs:
                due = latest_due(job.cron, now)
                if self._fired.get((module, job.key)) == due:
                    continue
                async with self.db.global_transaction() as session:
                    made = await session.scalar(
                        text("SELECT core_fan_out_job(:module, :job, :due)"),
                        {"module": module, "job": job.key, "due": due},
                    )
                self._fired[module, job.key] = due
                if made:
                    logger.info(
                        "job %s.%s due %s: fanned out to %d tenants",
                        module,
                        job.key,
                        due.isoformat(),
                        made,
                    )
                created += made or 0
        await self._run_platform_jobs(now)
        return created

    async def _run_platform_jobs(self, now: datetime) -> None:
        """Run each platform job whose latest due time no worker has claimed yet."""
        for job in self.platform_jobs:
            due = latest_due(job.cron, now)
            if self._fired.get((PLATFORM, job.key)) == due:
                continue
            async with self.db.global_transaction() as session:
                claimed = await session.scalar(
                    _CLAIM_TICK, {"id": uuid7(), "job": job.key, "due": due}
                )
            self._fired[PLATFORM, job.key] = due
            if claimed is None:
                continue  # another worker has it
            try:
                await job.run(self.db, now)
            except Exception:
                logger.exception("platform job %s due %s failed", job.key, due.isoformat())


def _event_call(handler: EventHandler, payload: dict[str, Any]) -> HandlerCall:
    async def call(session: AsyncSession, ctx: TenantContext) -> None:
        # Decoded inside the handler's try: a payload its type cannot read is its failure.
        await handler.handle(session, ctx, decode(payload, handler.event))

    return call


def _summary(rows: Sequence[Any]) -> str | None:
    if not rows:
        return None
    joined = "; ".join(f"{r.handler}: {r.last_error}" for r in rows)
    return joined if len(joined) <= MAX_ERROR_LENGTH else joined[: MAX_ERROR_LENGTH - 1] + "…"


# --- dead letters, for the operator's CLI ------------------------------------------------


async def dead_letters(db: Database, *, limit: int = 100) -> list[DeadLetter]:
    """The latest dead (event, handler) pairs across tenants, newest first.

    Goes through ``core_dead_letters`` (SECURITY DEFINER): the app role sees one
    tenant at a time, and the function hands back keys, types and errors only.
    """
    async with db.global_transaction() as session:
        rows = await session.execute(
            text(
                "SELECT tenant_id, tenant_slug, event_id, event_type, handler, attempts, "
                "last_error, failed_at FROM core_dead_letters(:limit)"
            ),
            {"limit": limit},
        )
        return [DeadLetter(**row._mapping) for row in rows]


async def retry_dead_letter(db: Database, tenant_id: uuid.UUID, event_id: uuid.UUID) -> int:
    """Give an event's dead handlers a fresh set of attempts; returns how many were revived.

    Handlers already done stay done; the event is due again at once.
    """
    async with db.tenant_transaction(tenant_id) as session:
        revived = await session.execute(
            text(
                "UPDATE core_event_delivery SET status = 'failed', attempts = 0 "
                "WHERE event_id = :event_id AND status = 'dead'"
            ),
            {"event_id": event_id},
        )
        if revived.rowcount:
            await session.execute(
                text(
                    "UPDATE core_outbox SET delivered_at = NULL, dead_at = NULL, "
                    "lease_until = NULL, attempts = 0, available_at = now() WHERE id = :event_id"
                ),
                {"event_id": event_id},
            )
        return revived.rowcount
