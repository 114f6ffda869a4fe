"""The OA inbox benchmark: an approver's To-do box and an approve, against raw SQL.

``python -m bench.oa_inbox`` (from the repository root) builds one workspace with OA on and
100,000 approval instances (``core_approval_request``, ``oa_approval_instance``, their
tasks, their timeline, the approvers' notifications and the decisions' outbox events),
loaded with set-based SQL as the owner (``INSERT … SELECT generate_series``) in the shape
the engine writes them: a two-step plan per instance ("Manager", then "Finance", one named
approver each, any-one mode), 50 approvers and 250 requesters, one instance every five
minutes over a year; 88 % approved, 5 % rejected at the second step, 2 % withdrawn before
the first, 5 % waiting at the second step for one of 49 approvers; and one approver, the
*reader*, with exactly 200 pending To-do tasks spread evenly over the year (and some 2,000
tasks decided at the first step). Then ``VACUUM ANALYZE`` and a copy of the database
(``CREATE DATABASE … TEMPLATE``), so both sides write on the same data.

What is measured, in one run:

- **inbox**: the reader's To-do box, first page, through the product's service
  (``approval_inbox.inbox(session, registry, actor, "todo")`` in a tenant transaction, as
  the page calls it), against raw asyncpg on one connection as the same app role (RLS on):
  ``BEGIN``, ``set_config``, the same columns of the instances with the same ``EXISTS`` on
  the task and the requester's name joined, ``COMMIT``: the same round trips, the same
  rows. Interleaved blocks, who goes first alternating; median ms per page.
- **approve**: each of the reader's 200 pending items approved once, through
  ``engine.decide`` on the first database (lock the instance, the reader's task, lock the
  request, the step's other tasks closed, the task approved, the timeline line, the
  instance finished, ``finish_request`` and its outbox event), against raw SQL on the copy
  doing the same reads and writes, item by item in turn.

The ratio is raw time ÷ product time (target ≥ 0.5). Before timing, both sides' first page
must hold the same 30 instances and names; afterwards both databases must hold the same
decisions. The product's inbox statement is run under ``EXPLAIN (ANALYZE, BUFFERS)`` and
its plan printed. It is a benchmark, not a test: it exits 0 and says MISSED beside a
missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import text
from sqlalchemy.engine import URL

from bench.database import (
    BENCH_EMAIL,
    Environment,
    asyncpg_dsn,
    bench_settings,
    create_database,
    drop_databases,
    registry,
    start_environment,
    stop_environment,
    url_string,
)

KIND = "crm.contract"  # an approval kind a built-in module declares
TARGET = 0.5
WAITING = "{requester} asks for your approval: {kind_label}"  # engine.TASK_WAITING, as stored


# --- setup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    product: URL  # the database the product works on
    raw: URL  # its copy, for the raw side's writes
    floor: URL  # another copy, for the session floor's writes (SessionFloor)
    tenant_id: uuid.UUID
    reader_id: uuid.UUID  # the approver with the pending items
    reader_membership: uuid.UUID
    pending: list[uuid.UUID]  # the reader's pending instances, newest first
    facts: dict[str, float]


BUILD = [
    # A uuid7 at a given time, so ids run in the order of the rows' times (as the engine's).
    """
    CREATE FUNCTION pg_temp.uuid7_at(ts timestamptz) RETURNS uuid LANGUAGE sql VOLATILE AS $$
      SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
        substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3)
        FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
    $$
    """,
    # Each instance's fate and people: approvers[1] is the reader, who approves only the
    # second step of their pending ones (every `spread`-th instance: i % 500 = 251 at the
    # default sizes) and the first step of 1 in 50 others.
    """
    CREATE TEMP TABLE bench_i AS
    SELECT s.*, pg_temp.uuid7_at(s.at) AS request_id, pg_temp.uuid7_at(s.at) AS instance_id
    FROM (
      SELECT i, CAST(:tenant AS uuid) AS tenant_id,
        now() - (:n - i) * interval '5 minutes' - interval '1 day' AS at,
        CASE WHEN i % :spread = :spread / 2 + 1 THEN 'mine'
             WHEN i % 20 = 0 THEN 'pending'
             WHEN i % 20 = 1 THEN 'rejected'
             WHEN i % 50 = 3 THEN 'withdrawn'
             ELSE 'approved' END AS fate,
        (CAST(:approvers AS uuid[]))[CASE WHEN i % :spread = :spread / 2 + 1 AND i % :a = 0
          THEN 2 ELSE 1 + i % :a END] AS first_id,
        CASE WHEN i % :spread = :spread / 2 + 1 THEN (CAST(:approvers AS uuid[]))[1]
             ELSE (CAST(:approvers AS uuid[]))[2 + (i / :a + i) % (:a - 1)] END AS second_id,
        (CAST(:requesters AS uuid[]))[1 + i % :r] AS requester_id,
        1000 + i % 9000 AS amount
      FROM generate_series(1, :n) AS i
    ) AS s
    """,
    """
    INSERT INTO core_approval_request (tenant_id, id, kind, subject_type, subject_id, amount,
      fields, requester_id, status, engine, decided_by, decided_at, comment, created_at)
    SELECT tenant_id, request_id, :kind, :kind, gen_random_uuid(), amount,
      jsonb_build_object('amount', amount::text, 'title', 'Contract ' || i), requester_id,
      CASE fate WHEN 'approved' THEN 'approved' WHEN 'mine' THEN 'pending'
        WHEN 'pending' THEN 'pending' ELSE 'rejected' END,
      'oa',
      CASE fate WHEN 'approved' THEN second_id WHEN 'rejected' THEN second_id
        WHEN 'withdrawn' THEN requester_id END,
      CASE fate WHEN 'withdrawn' THEN at + interval '1 hour'
        WHEN 'approved' THEN at + interval '1 day' WHEN 'rejected' THEN at + interval '1 day'
        END,
      CASE fate WHEN 'withdrawn' THEN 'Withdrawn by the requester.' END,
      at
    FROM bench_i
    """,
    """
    INSERT INTO oa_approval_instance (tenant_id, id, request_id, flow_version_id, kind,
      requester_id, plan, current_step, status, created_at)
    SELECT tenant_id, instance_id, request_id, CAST(:version AS uuid), :kind, requester_id,
      jsonb_build_array(
        jsonb_build_object('name', 'Manager', 'mode', 'any',
          'approver_ids', jsonb_build_array(first_id::text), 'to_admins', false),
        jsonb_build_object('name', 'Finance', 'mode', 'any',
          'approver_ids', jsonb_build_array(second_id::text), 'to_admins', false)),
      CASE fate WHEN 'approved' THEN 2 WHEN 'withdrawn' THEN 0 ELSE 1 END,
      CASE fate WHEN 'mine' THEN 'pending' ELSE fate END,
      at
    FROM bench_i
    """,
    # The first step's task of every instance; the second step's of those that got there.
    """
    INSERT INTO oa_approval_task (tenant_id, id, instance_id, step, role, assignee_id, status,
      decided_at, created_at)
    SELECT tenant_id, pg_temp.uuid7_at(at), instance_id, 0, 'approve', first_id,
      CASE fate WHEN 'withdrawn' THEN 'cancelled' ELSE 'approved' END,
      CASE fate WHEN 'withdrawn' THEN NULL ELSE at + interval '2 hours' END, at
    FROM bench_i
    UNION ALL
    SELECT tenant_id, pg_temp.uuid7_at(at + interval '2 hours'), instance_id, 1, 'approve',
      second_id, CASE fate WHEN 'mine' THEN 'pending' ELSE fate END,
      CASE WHEN fate IN ('approved', 'rejected') THEN at + interval '1 day' END,
      at + interval '2 hours'
    FROM bench_i WHERE fate <> 'withdrawn'
    """,
    # The timeline: submitted, each decision, the withdrawal.
    """
    INSERT INTO oa_approval_action (tenant_id, id, instance_id, action, step, actor_id,
      comment, at, created_at)
    SELECT tenant_id, pg_temp.uuid7_at(at), instance_id, 'submitted', NULL, requester_id, '',
      at, at FROM bench_i
    UNION ALL
    SELECT tenant_id, pg_temp.uuid7_at(at + interval '2 hours'), instance_id, 'approved', 0,
      first_id, '', at + interval '2 hours', at + interval '2 hours'
    FROM bench_i WHERE fate <> 'withdrawn'
    UNION ALL
    SELECT tenant_id, pg_temp.uuid7_at(at + interval '1 day'), instance_id, fate, 1, second_id,
      '', at + interval '1 day', at + interval '1 day'
    FROM bench_i WHERE fate IN ('approved', 'rejected')
    UNION ALL
    SELECT tenant_id, pg_temp.uuid7_at(at + interval '1 hour'), instance_id, 'withdrawn', NULL,
      requester_id, '', at + interval '1 hour', at + interval '1 hour'
    FROM bench_i WHERE fate = 'withdrawn'
    """,
    # Each task's "waiting for your approval" notification (read once it was decided).
    """
    INSERT INTO core_notification (tenant_id, id, user_id, kind, record_type, record_id,
      message, params, read_at, created_at)
    SELECT t.tenant_id, pg_temp.uuid7_at(t.created_at), t.assignee_id, 'approval_waiting',
      'oa.approval', t.instance_id, :waiting,
      jsonb_build_object('requester', 'Requester', 'kind_label', 'Contract approval'),
      t.decided_at, t.created_at
    FROM oa_approval_task t
    """,
    # The decisions' events, delivered long ago.
    """
    INSERT INTO core_outbox (tenant_id, id, event_type, payload, attempts, available_at,
      delivered_at, created_at)
    SELECT r.tenant_id, pg_temp.uuid7_at(r.decided_at), 'core.approval_decided.v1',
      jsonb_build_object('request_id', r.id, 'kind', r.kind, 'subject_type', r.subject_type,
        'subject_id', r.subject_id, 'approved', r.status = 'approved',
        'decided_by', r.decided_by, 'comment', r.comment),
      1, r.decided_at, r.decided_at, r.decided_at
    FROM core_approval_request r WHERE r.status <> 'pending'
    """,
]


async def prepare(env: Environment, args: argparse.Namespace) -> Setup:
    """A migrated database with the workspace, its people, a flow and the approvals."""
    from core import migrate, roles
    from core.db import Database, owner_engine
    from core.models import Membership, User
    from modules.oa.services import flows
    from modules.oa.services.flows import FlowIn, StepIn
    from tenants.services import create_tenant_with_modules

    facts: dict[str, float] = {}
    url = await create_database(env, f"atrium_bench_inbox_{uuid.uuid4().hex[:8]}")
    modules = registry()
    settings = bench_settings(url_string(url))
    began = time.perf_counter()
    await migrate.upgrade(url, modules, settings)
    facts["migrate_s"] = time.perf_counter() - began
    db = Database.connect(settings, owner=url, pool_size=2, max_overflow=0)
    try:
        ctx = await create_tenant_with_modules(
            db,
            modules,
            slug="inbox",
            name="Inbox",
            modules=("oa",),
            owner_email=BENCH_EMAIL,
            seed=False,
        )
        people: dict[str, list[tuple[uuid.UUID, uuid.UUID]]] = {}
        for group, count in (("approver", args.approvers), ("requester", args.requesters)):
            async with db.global_transaction() as session:
                users = [
                    User(email=f"{group}-{n}@inbox.test", display_name=f"{group.title()} {n}")
                    for n in range(count)
                ]
                session.add_all(users)
            async with db.tenant_transaction(ctx.tenant_id) as session:
                members = [Membership(user_id=u.id, role=roles.MEMBER) for u in users]
                session.add_all(members)
            people[group] = [(u.id, m.id) for u, m in zip(users, members, strict=True)]
        approvers = [user_id for user_id, _ in people["approver"]]
        async with db.tenant_transaction(ctx.tenant_id) as session:
            saved = await flows.save_flow(
                session,
                modules,
                KIND,
                FlowIn(
                    steps=(
                        StepIn("Manager", "member", member_ids=(approvers[1],)),
                        StepIn("Finance", "member", member_ids=(approvers[2],)),
                    ),
                    auto_approve_repeat=False,  # the same person may approve both steps
                ),
            )
            version_id = saved.id
    finally:
        await db.dispose()
    params = {
        "tenant": ctx.tenant_id,
        "kind": KIND,
        "waiting": WAITING,
        "version": version_id,
        "n": args.instances,
        "spread": args.instances // args.pending,
        "a": args.approvers,
        "r": args.requesters,
        "approvers": [str(u) for u in approvers],
        "requesters": [str(u) for u, _ in people["requester"]],
    }
    owner = owner_engine(url)
    try:
        began = time.perf_counter()
        async with owner.begin() as conn:
            for statement in BUILD:
                used = {k: v for k, v in params.items() if f":{k}" in statement}
                await conn.execute(text(statement), used)
        facts["load_s"] = time.perf_counter() - began
        async with owner.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            began = time.perf_counter()
            await conn.exec_driver_sql("VACUUM ANALYZE")
            facts["analyze_s"] = time.perf_counter() - began
            counts = await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM oa_approval_instance),"
                    " (SELECT count(*) FROM oa_approval_task),"
                    " (SELECT count(*) FROM oa_approval_action),"
                    " (SELECT count(*) FROM oa_approval_task WHERE status = 'pending')"
                )
            )
            instances, tasks, actions, pending_tasks = counts.one()
            facts.update(instances=instances, tasks=tasks, actions=actions, pending=pending_tasks)
            pending = list(
                (
                    await conn.execute(
                        text(
                            "SELECT i.id FROM oa_approval_instance i JOIN oa_approval_task t"
                            " ON t.tenant_id = i.tenant_id AND t.instance_id = i.id"
                            " WHERE t.assignee_id = :reader AND t.status = 'pending'"
                            " ORDER BY i.id DESC"
                        ),
                        {"reader": approvers[0]},
                    )
                ).scalars()
            )
    finally:
        await owner.dispose()
    copy = await create_database(env, f"{url.database}_raw", template=url.database)
    floor = await create_database(env, f"{url.database}_floor", template=url.database)
    reader_id, reader_membership = people["approver"][0]
    return Setup(url, copy, floor, ctx.tenant_id, reader_id, reader_membership, pending, facts)


# --- the raw side ----------------------------------------------------------------------------

INSTANCE_COLUMNS = (
    "i.tenant_id, i.id, i.request_id, i.flow_version_id, i.kind, i.requester_id, i.plan,"
    " i.current_step, i.status, i.urged_at, i.created_at"
)
# What a box's card shows (approval_inbox.Listed), with the requester's name.
RAW_INBOX = """
SELECT i.id, i.request_id, i.kind, i.requester_id, i.status, i.current_step, i.created_at,
  coalesce(u.display_name, '') AS requester
FROM oa_approval_instance i LEFT JOIN core_user u ON u.id = i.requester_id
WHERE EXISTS (
    SELECT 1 FROM oa_approval_task t
    WHERE t.tenant_id = i.tenant_id AND t.instance_id = i.id AND t.assignee_id = $1
      AND t.role = 'approve' AND t.status = 'pending' AND t.step = i.current_step)
  AND i.status = 'pending' AND i.tenant_id = $3
ORDER BY i.id DESC LIMIT $2
"""
TASK_COLUMNS = "tenant_id, id, instance_id, step, role, assignee_id, status, decided_at, created_at"
REQUEST_NAMES = [
    "tenant_id",
    "id",
    "kind",
    "subject_type",
    "subject_id",
    "amount",
    "fields",
    "requester_id",
    "status",
    "engine",
    "decided_by",
    "decided_at",
    "comment",
    "created_at",
]
REQUEST_JOINED = ", ".join(f"r.{name} AS r_{name}" for name in REQUEST_NAMES)


class Raw:
    """The same reads and writes, as a hand-written app on asyncpg would send them."""

    def __init__(self, conn: Any, tenant_id: uuid.UUID, page_size: int) -> None:
        self.conn = conn
        self.tenant = str(tenant_id)
        self.page_size = page_size

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        """One transaction as the workspace, on the connection (its fetch, fetchrow, execute)."""
        async with self.conn.transaction():
            await self.conn.execute("SELECT set_config('app.tenant_id', $1, true)", self.tenant)
            yield self.conn

    async def inbox(self, reader_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
        async with self.transaction() as conn:
            rows = await conn.fetch(
                RAW_INBOX, reader_id, self.page_size + 1, uuid.UUID(self.tenant)
            )
        return [(row["id"], row["requester"]) for row in rows[: self.page_size]]

    async def approve(self, instance_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """``engine.decide`` for the last step of an any-one plan, statement by statement."""
        from core.orm import uuid7

        tenant = uuid.UUID(self.tenant)
        async with self.transaction() as conn:
            # The instance and its request, both locked, in one statement (as the engine).
            instance = await conn.fetchrow(
                f"SELECT {INSTANCE_COLUMNS}, {REQUEST_JOINED} FROM oa_approval_instance i"
                " JOIN core_approval_request r ON r.tenant_id = i.tenant_id"
                " AND r.id = i.request_id WHERE i.id = $1 FOR UPDATE",
                instance_id,
            )
            step = instance["current_step"]
            task = await conn.fetchrow(
                f"SELECT {TASK_COLUMNS} FROM oa_approval_task WHERE instance_id = $1"
                " AND step = $2 AND assignee_id = $3 AND role = 'approve' AND status = 'pending'",
                instance_id,
                step,
                user_id,
            )
            assert task is not None, "the item no longer waits for the reader"
            request = {name: instance[f"r_{name}"] for name in REQUEST_NAMES}
            now = datetime.now(UTC)
            plan = instance["plan"]  # asyncpg gives jsonb as text, SQLAlchemy decodes it
            plan = msgspec.json.decode(plan) if isinstance(plan, str | bytes) else plan
            # An any-one step: the approval closes it, the others' tasks first.
            assert plan[step]["mode"] == "any"
            await conn.execute(
                "UPDATE oa_approval_task SET status = 'cancelled' WHERE instance_id = $1"
                " AND step = $2 AND status = 'pending' AND id <> $3",
                instance_id,
                step,
                task["id"],
            )
            await conn.execute(
                "UPDATE oa_approval_task SET status = 'approved', decided_at = $3"
                " WHERE tenant_id = $1 AND id = $2",
                tenant,
                task["id"],
                now,
            )
            await conn.execute(
                "INSERT INTO oa_approval_action (tenant_id, id, instance_id, action, step,"
                " actor_id, target_id, comment) VALUES ($1, $2, $3, 'approved', $4, $5, NULL, '')",
                tenant,
                uuid7(),
                instance_id,
                step,
                user_id,
            )
            # No step opens after the last, so the flow's auto-approve setting is not read.
            assert step + 1 == len(plan)  # the last step
            await conn.execute(
                "UPDATE oa_approval_instance SET current_step = $3, status = 'approved'"
                " WHERE tenant_id = $1 AND id = $2",
                tenant,
                instance_id,
                step + 1,
            )
            await conn.execute(
                "UPDATE core_approval_request SET status = 'approved', decided_by = $3,"
                " decided_at = $4, comment = NULL WHERE tenant_id = $1 AND id = $2",
                tenant,
                request["id"],
                user_id,
                now,
            )
            payload = {
                "request_id": str(request["id"]),
                "kind": request["kind"],
                "subject_type": request["subject_type"],
                "subject_id": str(request["subject_id"]),
                "approved": True,
                "decided_by": str(user_id),
                "comment": None,
            }
            await conn.execute(
                "INSERT INTO core_outbox (tenant_id, id, event_type, payload, attempts)"
                " VALUES ($1, $2, 'core.approval_decided.v1', $3::jsonb, 0)",
                tenant,
                uuid7(),
                msgspec.json.encode(payload).decode(),
            )


class SessionFloor(Raw):
    """The raw side's statements sent through the product's database layer (the tenant's
    transaction on a SQLAlchemy session, each statement as text): the least any product
    code on this stack can cost, with no ORM and no service around it."""

    def __init__(self, db: Any, tenant_id: uuid.UUID, page_size: int) -> None:
        super().__init__(None, tenant_id, page_size)
        self.db = db

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.db.tenant_transaction(uuid.UUID(self.tenant)) as session:
            yield _DriverCalls(await session.connection())


class _DriverCalls:
    """asyncpg's fetch, fetchrow and execute over a SQLAlchemy connection ($1 parameters)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def fetch(self, statement: str, *args: Any) -> list[Any]:
        return list((await self.conn.exec_driver_sql(statement, args)).mappings())

    async def fetchrow(self, statement: str, *args: Any) -> Any:
        return (await self.conn.exec_driver_sql(statement, args)).mappings().first()

    async def execute(self, statement: str, *args: Any) -> None:
        await self.conn.exec_driver_sql(statement, args)


# --- the product side ------------------------------------------------------------------------


class Product:
    def __init__(self, db: Any, modules: Any, tenant_id: uuid.UUID, actor: Any) -> None:
        self.db, self.modules, self.tenant_id, self.actor = db, modules, tenant_id, actor

    async def inbox(self) -> list[tuple[uuid.UUID, str]]:
        from modules.oa.services import approval_inbox

        async with self.db.tenant_transaction(self.tenant_id) as session:
            page = await approval_inbox.inbox(session, self.modules, self.actor, "todo")
        return [(item.instance.id, item.requester) for item in page.items]

    async def approve(self, instance_id: uuid.UUID) -> None:
        from modules.oa.services import engine

        async with self.db.tenant_transaction(self.tenant_id) as session:
            await engine.decide(session, instance_id, self.actor.user_id, approve=True)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Costs:
    """Per call: wall time (ms) and this process's CPU time (ms), PostgreSQL's not included."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    async def time(self, call: Callable[[], Awaitable[Any]]) -> None:
        began, cpu = time.perf_counter(), time.process_time()
        await call()
        self.wall.append((time.perf_counter() - began) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)

    def line(self, name: str, unit: str) -> str:
        median = statistics.median(self.wall)
        return (
            f"{name} {median:.2f} ms/{unit} (median; mean {statistics.mean(self.wall):.2f},"
            f" {1000 / median:.0f} {unit}s/s, client CPU {statistics.mean(self.cpu):.2f} ms)"
        )


async def explain(product: Product) -> list[str]:
    """The product's inbox statement (the To-do box's prebuilt read, first page) under
    EXPLAIN (ANALYZE, BUFFERS), with the parameters the product gives it, as the app role
    with the tenant set."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from core import reads
    from modules.oa.services import approval_inbox

    read = approval_inbox._page_read("todo", (), False)
    values = {
        reads.TENANT: product.tenant_id,
        "user_id": product.actor.user_id,
        "limit": approval_inbox.PAGE_SIZE + 1,
    }
    names = read.statement.compile(dialect=dialect()).positiontup or ()
    async with product.db.tenant_transaction(product.tenant_id) as session:
        conn = await session.connection()
        driver = (await conn.get_raw_connection()).driver_connection
        plan = await driver.fetch(
            f"EXPLAIN (ANALYZE, BUFFERS) {read.sql}", *(values[name] for name in names)
        )
        return [row[0] for row in plan]


async def final_state(url: URL) -> tuple[Any, ...]:
    """What both sides' writes leave, read as the owner (the one workspace)."""
    from core.db import owner_engine

    engine = owner_engine(url)
    try:
        async with engine.connect() as conn:
            row = await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM oa_approval_instance WHERE status = 'approved'),"
                    " (SELECT count(*) FROM oa_approval_task WHERE status = 'pending'),"
                    " (SELECT count(*) FROM oa_approval_action),"
                    " (SELECT count(*) FROM core_approval_request WHERE status = 'approved'),"
                    " (SELECT count(*) FROM core_outbox)"
                )
            )
            return tuple(row.one())
    finally:
        await engine.dispose()


def verdict(ratio: float) -> str:
    return "ok" if ratio >= TARGET else "MISSED"


async def main_async(args: argparse.Namespace) -> None:
    import asyncpg

    from core import roles
    from core.db import Database, app_url
    from core.models import Membership
    from modules.oa.services import approval_inbox

    env = start_environment()
    try:
        print(f"== setup ({env.where}): {args.instances:,} approvals", flush=True)
        setup = await prepare(env, args)
        f = setup.facts
        print(
            f"   migrate {f['migrate_s']:.1f} s, load {f['load_s']:.1f} s, VACUUM ANALYZE"
            f" {f['analyze_s']:.1f} s: {f['instances']:,} instances, {f['tasks']:,} tasks,"
            f" {f['actions']:,} timeline lines, {f['pending']:,} pending tasks;"
            f" the reader's pending: {len(setup.pending)}",
            flush=True,
        )
        modules = registry()
        settings = bench_settings(url_string(setup.product))
        db = Database.connect(settings, owner=setup.product, pool_size=2, max_overflow=0)
        floor_db = Database.connect(settings, owner=setup.floor, pool_size=2, max_overflow=0)
        raw_conns = [
            await asyncpg.connect(asyncpg_dsn(app_url(url, settings)))
            for url in (setup.product, setup.raw)
        ]
        try:
            async with db.tenant_transaction(setup.tenant_id) as session:
                membership = await session.get(
                    Membership, (setup.tenant_id, setup.reader_membership)
                )
                assert membership is not None
                actor = await roles.member_actor(session, modules, membership)
            product = Product(db, modules, setup.tenant_id, actor)
            page_size = approval_inbox.PAGE_SIZE
            raw_read = Raw(raw_conns[0], setup.tenant_id, page_size)
            raw_write = Raw(raw_conns[1], setup.tenant_id, page_size)
            floor = SessionFloor(floor_db, setup.tenant_id, page_size)

            ours, theirs = await product.inbox(), await raw_read.inbox(setup.reader_id)
            same = ours == theirs and len(ours) == min(page_size, len(setup.pending))
            print(f"== inbox: first page of {len(ours)} items; same rows and names: {same}")
            print("   plan of the product's statement (EXPLAIN ANALYZE, BUFFERS):")
            for line in await explain(product):
                print(f"     {line}")
            sides = {
                "product": (Costs(), product.inbox),
                "raw": (Costs(), lambda: raw_read.inbox(setup.reader_id)),
                "floor": (Costs(), lambda: floor.inbox(setup.reader_id)),
            }
            for _ in range(args.warmup):
                for _, call in sides.values():
                    await call()
            block = 20
            for round_no in range(args.reads // block):
                order = list(sides.values())
                shift = round_no % len(order)  # who goes first turns
                for costs, call in order[shift:] + order[:shift]:
                    for _ in range(block):
                        await costs.time(call)
            reads = {name: costs for name, (costs, _) in sides.items()}
            inbox_product = statistics.median(reads["product"].wall)
            inbox_raw = statistics.median(reads["raw"].wall)
            inbox_ratio = inbox_raw / inbox_product
            print(f"   {len(reads['raw'].wall)} pages per side")
            print(f"   {reads['product'].line('product', 'page')}")
            print(f"   {reads['raw'].line('raw', 'page')}")
            print(f"   {reads['floor'].line('session floor', 'page')}")

            print(f"== approve: {len(setup.pending)} items, each once per side", flush=True)
            approve_product, approve_raw, approve_floor = Costs(), Costs(), Costs()
            for n, instance_id in enumerate(setup.pending):
                turns = [
                    (approve_product, lambda i=instance_id: product.approve(i)),
                    (approve_raw, lambda i=instance_id: raw_write.approve(i, setup.reader_id)),
                    (approve_floor, lambda i=instance_id: floor.approve(i, setup.reader_id)),
                ]
                shift = n % len(turns)  # who goes first turns
                for costs, call in turns[shift:] + turns[:shift]:
                    await costs.time(call)
            left = await product.inbox()
            states = [await final_state(u) for u in (setup.product, setup.raw, setup.floor)]
            print(
                f"   afterwards: the reader's To-do box holds {len(left)} items; the databases"
                f" alike (approved, pending tasks, timeline, requests approved, outbox):"
                f" {states[0] == states[1] == states[2]} {states[0]}"
            )
            write_product = statistics.median(approve_product.wall)
            write_raw = statistics.median(approve_raw.wall)
            approve_ratio = write_raw / write_product
            print(f"   {approve_product.line('product', 'approve')}")
            print(f"   {approve_raw.line('raw', 'approve')}")
            print(f"   {approve_floor.line('session floor', 'approve')}")
            floor_inbox = statistics.median(reads["floor"].wall)
            floor_write = statistics.median(approve_floor.wall)
        finally:
            for conn in raw_conns:
                await conn.close()
            await db.dispose()
            await floor_db.dispose()

        print("== results")
        print(
            f"inbox, first page: product {inbox_product:.2f} ms, raw {inbox_raw:.2f} ms,"
            f" ratio raw/product {inbox_ratio:.2f} (target ≥ {TARGET}) {verdict(inbox_ratio)}"
        )
        print(
            f"approve: product {write_product:.2f} ms, raw {write_raw:.2f} ms,"
            f" ratio raw/product {approve_ratio:.2f} (target ≥ {TARGET}) {verdict(approve_ratio)}"
        )
        print(
            f"the session floor (raw's statements through our database layer, no ORM):"
            f" page {floor_inbox:.2f} ms (raw/floor {inbox_raw / floor_inbox:.2f}),"
            f" approve {floor_write:.2f} ms (raw/floor {write_raw / floor_write:.2f})"
        )
    finally:
        await drop_databases(env)
        stop_environment(env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.oa_inbox",
        description="An approver's OA inbox and approve action, against raw SQL.",
    )
    parser.add_argument("--instances", type=int, default=100_000, help="approvals loaded")
    parser.add_argument("--pending", type=int, default=200, help="the reader's pending items")
    parser.add_argument("--approvers", type=int, default=50)
    parser.add_argument("--requesters", type=int, default=250)
    parser.add_argument("--reads", type=int, default=1_000, help="inbox pages per side")
    parser.add_argument("--warmup", type=int, default=20, help="inbox pages per side, untimed")
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
