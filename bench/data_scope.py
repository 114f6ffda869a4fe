"""The data-scope benchmark: a department-scoped party list against the whole list.

``python -m bench.data_scope`` (from the repository root) builds one workspace
with 100,000 parties spread evenly over 50 departments, so that one department
holds 2 % of them, and three signed-in people:

- *admin*: built-in role admin, sees every party (the baseline);
- *team*: a member of a department of four (by default) who own its parties
  between them; a custom role grants ``core.party.read`` with scope
  ``department``, so they see their department's parties and the few they own
  in other departments;
- *solo*: the same role, alone in their department, so they own all of its
  parties and none elsewhere (one salesperson per region).

Then, in one run, with the three sides taking turns call by call:

1. **Service.** ``core.parties.services.list_parties`` (limit 50): the first
   page and keyset pages further in, time per call. Target: each member's
   median / the admin's median <= 1.3 on every page.
2. **HTTP.** ``GET /api/t/{slug}/parties?limit=50`` (further pages by
   ``after``) on the real app from ``web.app.create_app`` under uvicorn, signed
   in with each one's session cookie: latency and the server's CPU time per
   request. Same target. Skipped, with a note, while the app has no such route.
3. **Plans.** ``EXPLAIN (ANALYZE, BUFFERS)`` of the very statement
   ``list_parties`` sends for each side, as the app role with the tenant set,
   so a reader sees which indexes serve it and how many rows it reads.

It is a benchmark, not a test: it prints every figure with its target, says
MISSED where one is missed, and exits 0 either way. With no DATABASE_URL it
starts an embedded PostgreSQL in a temporary directory; with DATABASE_URL it
creates (and afterwards drops) its own database on that server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

from core.db import Database
from core.parties.normalise import email_domain, normalise_email, normalise_name
from core.parties.services import list_parties
from core.permissions import Actor, Scope
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from web.auth import SESSION_COOKIE

REPO = Path(__file__).resolve().parents[1]
OWNER_ENV = "BENCH_OWNER_URL"
SLUG = "scope-bench"
PAGE = 50
TARGET = 1.3
ROUTE = "/api/t/{tenant_slug:str}/parties"
PARTIES_PATH = "/api/t/{slug}/parties?limit=50"
CURSOR_PARAM = "after"  # the API's name for a page's next_cursor
MEMBERS = ("team", "solo")
BASELINE = "admin"
SIDES = (*MEMBERS, BASELINE)
CROSS_OWNED = 0.01  # share of parties owned by someone of another department (--cross-owned)
INACTIVE = 0.03  # archived parties: in the table, not in the default list

# fmt: off
_FIRMS = (
    "Acme", "Amber", "Apex", "Atlas", "Aurora", "Beacon", "Birch", "Bright", "Cedar", "Cobalt",
    "Crest", "Delta", "Eagle", "Ember", "Falcon", "Fern", "Golden", "Granite", "Harbor", "Iris",
    "Jade", "Keystone", "Lotus", "Maple", "Meridian", "Nova", "Oak", "Orchid", "Pioneer",
    "Quartz", "Redwood", "Sierra", "Summit", "Tidal", "Vertex", "Willow", "Zenith",
)
_TRADES = (
    "Trading", "Logistics", "Foods", "Machinery", "Textiles", "Software", "Chemicals",
    "Electronics", "Motors", "Pharma", "Packaging", "Ceramics", "Solar", "Optics", "Timber",
    "Steel",
)
_FORMS = ("Co., Ltd.", "Ltd", "GmbH", "Inc.", "Group", "")
_GIVEN = (
    "Wei", "Li", "Na", "Jing", "Lei", "Yan", "Anna", "Ben", "Chloe", "David", "Emma", "Felix",
    "Grace", "Hugo", "Ivy", "Jack",
)
_FAMILY = (
    "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Smith", "Brown", "Müller",
    "Garcia", "Rossi", "Dubois",
)
# fmt: on


# --- the database ----------------------------------------------------------------------------


@dataclass
class Environment:
    maintenance: URL  # where CREATE/DROP DATABASE go, as the owner
    data_dir: Path | None  # the embedded server's temporary directory, if any
    database: str | None = None  # the bench database, once created


def start_environment() -> Environment:
    """DATABASE_URL's server if set, else an embedded PostgreSQL in a temporary directory."""
    if os.environ.get("DATABASE_URL"):
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg")
        return Environment(maintenance=url, data_dir=None)
    from core.db import start_embedded_server

    data_dir = Path(tempfile.mkdtemp(prefix="atrium-bench-scope-"))
    return Environment(maintenance=start_embedded_server(data_dir, "postgres"), data_dir=data_dir)


def stop_environment(env: Environment) -> None:
    """Drop the bench database; stop an embedded server and remove its directory."""
    from core import db as core_db

    if env.database is not None:
        with contextlib.suppress(Exception):
            asyncio.run(core_db.drop_database(env.maintenance, env.database))
    if env.data_dir is not None:
        core_db.stop_embedded_server(env.data_dir)
        shutil.rmtree(env.data_dir, ignore_errors=True)


def url_string(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def bench_settings(owner: str) -> Settings:
    return Settings(env="test", database_url=owner)


def bench_database(world: World, pool_size: int) -> Database:
    """The app role's pool on the bench database, as the app would connect."""
    settings = bench_settings(url_string(world.owner))
    return Database.connect(settings, owner=world.owner, pool_size=pool_size, max_overflow=0)


@dataclass
class World:
    """What the setup made: who asks, what each should see, how long it took."""

    owner: URL
    tenant_id: uuid.UUID
    actors: dict[str, Actor]  # by side
    tokens: dict[str, str]  # by side: the atrium_session cookie's value
    visible: dict[str, int]  # by side: the active parties their scope shows
    facts: dict[str, Any] = field(default_factory=dict)


def _departments_tree(count: int) -> list[tuple[str, int | None]]:
    """``count`` departments as (name, parent index): a tenth at the top, the rest below."""
    tops = max(1, count // 10)
    tree: list[tuple[str, int | None]] = [(f"Region {i + 1}", None) for i in range(tops)]
    for j in range(count - tops):
        parent = j % tops
        tree.append((f"Team {parent + 1}.{j // tops + 1}", parent))
    return tree


def _party_rows(
    count: int,
    tenant_id: uuid.UUID,
    departments: Sequence[uuid.UUID],
    staff: Sequence[Sequence[uuid.UUID]],
    solo_slot: int,
    cross_owned: float,
    seed: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Parties (evenly over the departments, names in random order) and their primary
    e-mail address and phone number, as rows for COPY.

    A party is owned by one of its department's staff or, at the rate ``cross_owned``,
    by someone of another department, never by the solo department's one person.
    """
    from core.orm import uuid7

    rng = random.Random(seed)
    now = datetime.now(UTC)
    slots = [i % len(departments) for i in range(count)]
    rng.shuffle(slots)
    others = [s for s in range(len(departments)) if s != solo_slot]
    parties, points = [], []
    for i, slot in enumerate(slots):
        party_id = uuid7()
        if rng.random() < 0.7:
            kind = "company"
            name = f"{rng.choice(_FIRMS)} {rng.choice(_TRADES)} {rng.choice(_FORMS)}".strip()
            name = f"{name} {i % 997}" if rng.random() < 0.5 else name
        else:
            kind = "person"
            name = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}"
        owner_slot = slot
        if rng.random() < cross_owned:
            owner_slot = rng.choice([s for s in others if s != slot] or [slot])
        parties.append(
            (
                tenant_id,
                party_id,
                kind,
                name,
                normalise_name(name),
                rng.random() < 0.8,  # customer
                rng.random() < 0.3,  # supplier
                "",
                rng.random() >= INACTIVE,
                rng.choice(staff[owner_slot]),
                departments[slot],
                now,
            )
        )
        if rng.random() < 0.8:
            email = normalise_email(f"contact{i}@firm{i % 5000}.example.com")
            domain = email_domain(email)
            points.append(
                (tenant_id, uuid7(), party_id, "email", email, email, domain, "work", True, now)
            )
        if rng.random() < 0.5:
            phone = f"+86{13800000000 + i}"
            points.append(
                (tenant_id, uuid7(), party_id, "phone", phone, phone, None, "mobile", True, now)
            )
    return parties, points


PARTY_COLUMNS = (
    "tenant_id",
    "id",
    "kind",
    "name",
    "name_normalised",
    "is_customer",
    "is_supplier",
    "notes",
    "active",
    "owner_id",
    "department_id",
    "created_at",
)
POINT_COLUMNS = (
    "tenant_id",
    "id",
    "party_id",
    "kind",
    "value",
    "value_normalised",
    "domain",
    "label",
    "is_primary",
    "created_at",
)
FACTS_SQL = """
SELECT count(*) AS parties,
       count(*) FILTER (WHERE active) AS visible,
       count(*) FILTER (WHERE department_id = $1) AS in_department,
       count(*) FILTER (WHERE owner_id = $2) AS owned,
       count(*) FILTER (WHERE owner_id = $2 AND department_id <> $1) AS owned_elsewhere,
       count(*) FILTER (WHERE active AND (department_id = $1 OR owner_id = $2)) AS member_visible
  FROM core_party
"""


async def prepare(env: Environment, args: argparse.Namespace) -> World:
    """Migrate a fresh database, make the workspace, its people and their rights, load parties."""
    import asyncpg
    from sqlalchemy import select

    from core import db as core_db
    from core import migrate
    from core.identity import sessions
    from core.models import Membership, User
    from core.organisation import create_department
    from core.roles import ADMIN, MEMBER, create_role, member_actor, set_member_roles
    from tenants.services import create_tenant_with_modules

    facts: dict[str, Any] = {}
    env.database = f"atrium_bench_scope_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    owner = await core_db.create_database(env.maintenance, env.database)
    registry = ModuleRegistry.load()
    settings = bench_settings(url_string(owner))
    began = time.perf_counter()
    await migrate.upgrade(owner, registry, settings)
    facts["migrate_s"] = time.perf_counter() - began

    began = time.perf_counter()
    db = Database.connect(settings, owner=owner, pool_size=2, max_overflow=0)
    try:
        ctx = await create_tenant_with_modules(
            db, registry, slug=SLUG, name="Data scope bench", owner_email="owner@scope.example"
        )
        async with db.tenant_transaction(ctx.tenant_id) as session:
            departments: list[uuid.UUID] = []
            for name, parent in _departments_tree(args.departments):
                department = await create_department(
                    session, name, departments[parent] if parent is not None else None
                )
                departments.append(department.id)
            # Two leaves: the last department is the team's (--staff people, the team member
            # first), the one before it the solo member's. The admin sits in the first.
            team_slot, solo_slot = len(departments) - 1, len(departments) - 2
            staff = [
                [
                    User(email=f"staff{d:03d}.{k}@scope.example", display_name=f"Staff {d}.{k}")
                    for k in range(1 if d == solo_slot else args.staff)
                ]
                for d in range(len(departments))
            ]
            admin_user = User(email="admin@scope.example", display_name="Admin")
            session.add_all([*(user for team in staff for user in team), admin_user])
            await session.flush()
            memberships = {
                user.id: Membership(user_id=user.id, role=MEMBER, department_id=department)
                for team, department in zip(staff, departments, strict=True)
                for user in team
            }
            memberships[admin_user.id] = Membership(
                user_id=admin_user.id, role=ADMIN, department_id=departments[0]
            )
            session.add_all(memberships.values())
            await session.flush()
            users = {"team": staff[team_slot][0], "solo": staff[solo_slot][0], "admin": admin_user}
            role = await create_role(
                session,
                registry,
                name="Department parties",
                permissions=["core.party.read"],
                scopes={"core.party": "department"},
            )
            for side in MEMBERS:
                await set_member_roles(
                    session, memberships[users[side].id].id, base_role=MEMBER, role_ids=[role.id]
                )
        async with db.global_transaction() as session:
            tokens = {
                side: (await sessions.start(session, settings, users[side].id))[0] for side in SIDES
            }
        facts["people_s"] = time.perf_counter() - began

        began = time.perf_counter()
        parties, points = _party_rows(
            args.parties,
            ctx.tenant_id,
            departments,
            [[user.id for user in team] for team in staff],
            solo_slot,
            args.cross_owned,
            args.seed,
        )
        conn = await asyncpg.connect(url_string(owner.set(drivername="postgresql")))
        try:  # the owner: bulk load past RLS
            await conn.copy_records_to_table("core_party", records=parties, columns=PARTY_COLUMNS)
            await conn.copy_records_to_table(
                "core_party_contact_point", records=points, columns=POINT_COLUMNS
            )
            for table in ("core_party", "core_party_contact_point"):
                await conn.execute(f"VACUUM (ANALYZE) {table}")
            await conn.execute("ANALYZE")
            facts["server_version"] = await conn.fetchval("SHOW server_version")
            for side, slot in (("team", team_slot), ("solo", solo_slot)):
                row = await conn.fetchrow(FACTS_SQL, departments[slot], users[side].id)
                facts[side] = dict(row)
        finally:
            await conn.close()
        facts.update(points=len(points), seed_s=time.perf_counter() - began)
        facts["departments"] = len(departments)

        actors = {}
        async with db.tenant_transaction(ctx.tenant_id) as session:
            for side in SIDES:
                membership = await session.scalar(
                    select(Membership).where(Membership.user_id == users[side].id)
                )
                actors[side] = await member_actor(session, registry, membership)
    finally:
        await db.dispose()
    for side in SIDES:
        expected = Scope.ALL if side == BASELINE else Scope.DEPARTMENT
        if actors[side].scope("core.party") is not expected:
            raise RuntimeError(f"{side}'s scope is {actors[side].scope('core.party')!r}")
    visible = {side: facts[side]["member_visible"] for side in MEMBERS}
    visible[BASELINE] = facts["team"]["visible"]
    return World(owner, ctx.tenant_id, actors, tokens, visible, facts)


# --- the service level -----------------------------------------------------------------------

Cursors = dict[str, dict[int, str | None]]  # side -> page number -> the cursor that opens it


@dataclass
class Figures:
    """One page's timings for every side, in seconds (HTTP: with server CPU per block)."""

    page: int
    times: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})

    def median_ms(self, side: str) -> float:
        return statistics.median(self.times[side]) * 1000

    def cpu_ms(self, side: str) -> float | None:
        """The server's CPU time per request: over all of the side's blocks together, since
        the process's CPU clock ticks in 10 ms steps."""
        return sum(self.cpu[side]) / len(self.times[side]) * 1000 if self.cpu[side] else None

    def ratio(self, side: str) -> float:
        return self.median_ms(side) / self.median_ms(BASELINE)


def _turns(i: int) -> tuple[str, ...]:
    """The sides in the order of turn ``i``: who goes first rotates."""
    k = i % len(SIDES)
    return SIDES[k:] + SIDES[:k]


async def walk(db: Database, world: World, side: str, pages: int | None) -> list[tuple[Any, ...]]:
    """``pages`` pages (all if None) of ``side``'s list as (cursor, items), by next_cursor."""
    out: list[tuple[Any, ...]] = []
    cursor: str | None = None
    async with db.tenant_transaction(world.tenant_id) as session:
        while pages is None or len(out) < pages:
            page = await list_parties(session, world.actors[side], cursor=cursor, limit=PAGE)
            out.append((cursor, page.items))
            cursor = page.next_cursor
            if cursor is None:
                break
    return out


async def measure_service(
    world: World, args: argparse.Namespace
) -> tuple[list[Figures], Cursors, list[str]]:
    """Check each member's whole list, then time the pages; returns figures, cursors, problems."""
    db = bench_database(world, pool_size=len(SIDES))
    problems: list[str] = []
    try:
        walked = {}
        for side in SIDES:
            walked[side] = await walk(db, world, side, None if side in MEMBERS else max(args.pages))
        for side in MEMBERS:
            actor = world.actors[side]
            seen = [item for _cursor, items in walked[side] for item in items]
            if len(seen) != world.visible[side]:
                problems.append(f"{side} listed {len(seen)} parties, not {world.visible[side]}")
            outside = [
                i
                for i in seen
                if i.department_id != actor.department_id and i.owner_id != actor.user_id
            ]
            if outside:
                problems.append(f"{side} listed {len(outside)} parties outside their scope")
            if len({i.id for i in seen}) != len(seen):
                problems.append(f"{side}'s pages repeat parties")
        cursors: Cursors = {side: {} for side in SIDES}
        for side in SIDES:
            for number in args.pages:
                if number <= len(walked[side]) and len(walked[side][number - 1][1]) == PAGE:
                    cursors[side][number] = walked[side][number - 1][0]
        numbers = [n for n in args.pages if all(n in cursors[side] for side in SIDES)]
        if not numbers:
            raise RuntimeError(f"none of pages {args.pages} is a full page for every side")
        if len(numbers) < len(args.pages):
            skipped = sorted(set(args.pages) - set(numbers))
            problems.append(f"pages {skipped} skipped: not a full page for every side")
        await _time_round(db, world, [Figures(n) for n in numbers], cursors, 20)  # warm-up
        figures = [Figures(n) for n in numbers]
        for _round in range(args.rounds):
            await _time_round(db, world, figures, cursors, args.calls)
    finally:
        await db.dispose()
    return figures, cursors, problems


async def _time_round(
    db: Database, world: World, figures: list[Figures], cursors: Cursors, calls: int
) -> None:
    """For each page, ``calls`` turns of one timed ``list_parties`` call per side, each side
    in its own open tenant transaction: a burst of other work on the machine hits all alike."""
    async with contextlib.AsyncExitStack() as stack:
        sessions = {}
        for side in SIDES:
            sessions[side] = await stack.enter_async_context(db.tenant_transaction(world.tenant_id))
            await sessions[side].connection()  # BEGIN and the tenant's set_config, untimed
        for f in figures:
            for i in range(calls):
                for side in _turns(i):
                    actor, cursor = world.actors[side], cursors[side][f.page]
                    began = time.perf_counter()
                    await list_parties(sessions[side], actor, cursor=cursor, limit=PAGE)
                    f.times[side].append(time.perf_counter() - began)


# --- the plans -------------------------------------------------------------------------------


@dataclass
class Plan:
    side: str
    page: int
    text: str
    execution_ms: float
    buffers: int  # shared buffers hit or read by the whole statement
    scans: list[str]  # "ix_... (51 rows, 2000 filtered out)" per scan of core_party
    seq_scan: bool
    sort_rows: int  # the most rows any Sort node took in (0: no sort)


async def explain(world: World, cursors: Cursors, pages: Sequence[int]) -> list[Plan]:
    """EXPLAIN the statement ``list_parties`` sends (caught on its way to the driver) with
    its parameters, in a tenant transaction as the app role: RLS and all."""
    db = bench_database(world, pool_size=1)
    sent: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "core_party" in statement and "ORDER BY" in statement:
            sent.append((statement, parameters))

    plans = []
    head = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF"
    event.listen(db.engine.sync_engine, "before_cursor_execute", catch)
    try:
        for page in pages:
            for side in SIDES:
                async with db.tenant_transaction(world.tenant_id) as session:
                    sent.clear()
                    cursor = cursors[side][page]
                    await list_parties(session, world.actors[side], cursor=cursor, limit=PAGE)
                    statement, parameters = sent[-1]
                    connection = await session.connection()
                    driver = (await connection.get_raw_connection()).driver_connection
                    await driver.fetch(f"{head}) {statement}", *parameters)  # warm
                    rows = await driver.fetch(f"{head}) {statement}", *parameters)
                    data = await driver.fetchval(f"{head}, FORMAT JSON) {statement}", *parameters)
                    # SQLAlchemy's asyncpg connections decode json themselves.
                    decoded = json.loads(data) if isinstance(data, str) else data
                    text = "\n".join(r[0] for r in rows)
                    plans.append(_plan(side, page, text, decoded[0]))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", catch)
        await db.dispose()
    return plans


def _plan(side: str, page: int, text: str, data: dict[str, Any]) -> Plan:
    scans: list[str] = []
    seq = False
    sort_rows = 0

    def visit(node: dict[str, Any]) -> None:
        nonlocal seq, sort_rows
        kind = node["Node Type"]
        if node.get("Relation Name") == "core_party":
            if kind == "Seq Scan":
                seq = True
            else:
                filtered = node.get("Rows Removed by Filter", 0)
                scans.append(
                    f"{node.get('Index Name', kind)} ({node['Actual Rows']} rows, "
                    f"{filtered} filtered out)"
                )
        if kind == "Sort":
            sort_rows = max(sort_rows, int(node["Actual Rows"]))
        for child in node.get("Plans", ()):
            visit(child)

    top = data["Plan"]
    visit(top)
    return Plan(
        side=side,
        page=page,
        text=text,
        execution_ms=data["Execution Time"],
        buffers=top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        scans=scans,
        seq_scan=seq,
        sort_rows=sort_rows,
    )


# --- the HTTP level --------------------------------------------------------------------------


def has_route() -> bool:
    """Whether the app as ``create_app`` builds it serves the party list (no database needed)."""
    from web.app import create_app

    app = create_app(bench_settings("postgresql+asyncpg://bench@127.0.0.1/unused"))
    return any(route.path.rstrip("/") == ROUTE for route in app.routes)


def serve(port: int) -> None:
    import uvicorn

    from web.app import create_app

    uvicorn.run(
        create_app(bench_settings(os.environ[OWNER_ENV])),
        host="127.0.0.1",
        port=port,
        workers=1,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


class Server:
    """The real app in one uvicorn process on a free loopback port."""

    def __init__(self, owner: URL, log_path: Path) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.log_path = log_path
        with log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.data_scope", "--serve", "--port", str(self.port)],
                cwd=REPO,
                env={**os.environ, OWNER_ENV: url_string(owner)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, client: Client, path: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server died:\n{self.log_path.read_text()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if client.get(path)[0] == 200:
                    return
            client.reconnect()
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready after {timeout} s")

    def cpu_seconds(self) -> float:
        import psutil  # a dependency of pgserver

        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class Client:
    """One keep-alive connection to 127.0.0.1, signed in with ``token`` (None: anonymous)."""

    def __init__(self, port: int, token: str | None) -> None:
        self.port = port
        self.headers = {"Cookie": f"{SESSION_COOKIE}={token}"} if token else {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def close(self) -> None:
        self.conn.close()


def _path(cursor: str | None) -> str:
    path = PARTIES_PATH.format(slug=SLUG)
    return path if cursor is None else f"{path}&{CURSOR_PARAM}={quote(cursor)}"


def measure_http(
    world: World,
    args: argparse.Namespace,
    pages: Sequence[int],
    service_ids: dict[tuple[str, int], list[str]],
    logs: Path,
) -> tuple[list[Figures], list[str]]:
    """One server, one connection per side; blocks of requests, the sides taking turns."""
    problems: list[str] = []
    server = Server(world.owner, logs / "server.log")
    clients = {side: Client(server.port, world.tokens[side]) for side in SIDES}
    try:
        server.wait_ready(clients[BASELINE], _path(None))
        # Walk the pages by HTTP, following next_cursor: the same parties as the service's?
        cursors: Cursors = {side: {} for side in SIDES}
        for side in SIDES:
            cursor: str | None = None
            for number in range(1, max(pages) + 1):
                status, body = clients[side].get(_path(cursor))
                if status != 200:
                    raise RuntimeError(f"{side}: {status} {body[:300]!r}")
                answer = json.loads(body)
                if number in pages:
                    cursors[side][number] = cursor
                    if [item["id"] for item in answer["items"]] != service_ids[(side, number)]:
                        problems.append(f"{side} page {number}: HTTP and service rows differ")
                cursor = answer["next_cursor"]
        anonymous = Client(server.port, None)
        if anonymous.get(_path(None))[0] != 401:
            problems.append("the list answers without a session cookie")
        anonymous.close()
        figures = [Figures(n) for n in pages]
        for f in figures:  # warm-up
            for side in SIDES:
                for _ in range(20):
                    clients[side].get(_path(cursors[side][f.page]))
        for _round in range(args.rounds):
            for f in figures:
                for block in range(max(1, args.requests // args.block)):
                    for side in _turns(block):
                        path, client = _path(cursors[side][f.page]), clients[side]
                        cpu_before = server.cpu_seconds()
                        for _ in range(args.block):
                            began = time.perf_counter()
                            status, _body = client.get(path)
                            f.times[side].append(time.perf_counter() - began)
                            if status != 200:
                                problems.append(f"{side} page {f.page}: answered {status}")
                        f.cpu[side].append(server.cpu_seconds() - cpu_before)
    finally:
        for client in clients.values():
            client.close()
        server.stop()
    return figures, problems


async def _service_ids(
    world: World, cursors: Cursors, pages: Sequence[int]
) -> dict[tuple[str, int], list[str]]:
    """The party ids of each side's pages as the service lists them."""
    db = bench_database(world, pool_size=1)
    ids = {}
    try:
        async with db.tenant_transaction(world.tenant_id) as session:
            for side in SIDES:
                for page in pages:
                    answer = await list_parties(
                        session, world.actors[side], cursor=cursors[side][page], limit=PAGE
                    )
                    ids[(side, page)] = [str(item.id) for item in answer.items]
    finally:
        await db.dispose()
    return ids


# --- the run and its summary -----------------------------------------------------------------


def verdict(ratio: float) -> str:
    return "ok" if ratio <= TARGET else "MISSED"


def figure_line(f: Figures) -> str:
    times = "  ".join(f"{side} {f.median_ms(side):5.2f} ms" for side in SIDES)
    ratios = "  ".join(
        f"{side}/{BASELINE} {f.ratio(side):4.2f} {verdict(f.ratio(side))}" for side in MEMBERS
    )
    line = f"  page {f.page:<3} {times}   {ratios}"
    if f.cpu[BASELINE]:
        cpu = " ".join(f"{side} {f.cpu_ms(side):.2f}" for side in SIDES)
        line += f"   server CPU/req ms: {cpu}"
    return line


def plan_line(p: Plan) -> str:
    reads = "SEQ SCAN" if p.seq_scan else "; ".join(p.scans)
    sort = f", sort of {p.sort_rows} rows" if p.sort_rows else ""
    return (
        f"  {p.side:<5} page {p.page:<3} {p.execution_ms:6.3f} ms in the server, "
        f"{p.buffers:5d} buffers{sort}: {reads}"
    )


def run(args: argparse.Namespace) -> None:
    began = time.perf_counter()
    env = start_environment()
    logs = Path(tempfile.mkdtemp(prefix="atrium-bench-scope-logs-"))
    lines: list[str] = []
    try:
        print("== setup", flush=True)
        world = asyncio.run(prepare(env, args))
        f = world.facts
        where = "DATABASE_URL" if env.data_dir is None else "embedded (pgserver)"
        print(
            f"  PostgreSQL {f['server_version']}, {where}; migrated in {f['migrate_s']:.1f} s; "
            f"workspace, {f['departments']} departments, people and roles in "
            f"{f['people_s']:.1f} s; {f['team']['parties']:,} parties and {f['points']:,} "
            f"contact points bulk-loaded in {f['seed_s']:.1f} s",
            flush=True,
        )
        for side in MEMBERS:
            s = f[side]
            print(
                f"  {side}: scope department, {s['in_department']:,} parties in their department "
                f"({s['in_department'] / s['parties']:.1%}); owns {s['owned']:,} of them, "
                f"{s['owned_elsewhere']} elsewhere; sees {world.visible[side]:,} active",
                flush=True,
            )
        print(
            f"  {BASELINE}: scope all; sees {world.visible[BASELINE]:,} active\n"
            f"  Python {platform.python_version()}, {os.cpu_count()} CPUs",
            flush=True,
        )

        print(
            f"== service: list_parties(limit={PAGE}), {args.rounds} rounds x {args.calls} calls "
            "per side and page, the sides taking turns call by call",
            flush=True,
        )
        service, cursors, problems = asyncio.run(measure_service(world, args))
        for figure in service:
            print(figure_line(figure), flush=True)
        pages = [figure.page for figure in service]

        print("== plans: EXPLAIN (ANALYZE, BUFFERS) of the statement list_parties sends")
        plans = asyncio.run(explain(world, cursors, sorted({pages[0], pages[-1]})))
        for plan in plans:
            if plan.page == pages[0]:
                print(f"-- {plan.side}, page {plan.page}")
                print("\n".join("   " + line for line in plan.text.splitlines()), flush=True)

        http: list[Figures] = []
        if args.no_http:
            http_note = "skipped (--no-http)"
        elif not has_route():
            http_note = f"skipped: the app has no route {ROUTE} yet"
        else:
            http_note = ""
            print(
                f"== HTTP: GET {PARTIES_PATH}, the real app in one uvicorn process, one "
                f"keep-alive connection per side, {args.rounds} rounds x {args.requests} "
                f"requests per side and page in blocks of {args.block}",
                flush=True,
            )
            service_ids = asyncio.run(_service_ids(world, cursors, pages))
            http, http_problems = measure_http(world, args, pages, service_ids, logs)
            problems += http_problems
            for figure in http:
                print(figure_line(figure), flush=True)
        if http_note:
            print(f"== HTTP: {http_note}", flush=True)
        lines = summary(service, plans, http, http_note, problems, time.perf_counter() - began)
    finally:
        stop_environment(env)
        shutil.rmtree(logs, ignore_errors=True)
    print("\n".join(lines))


def summary(
    service: list[Figures],
    plans: list[Plan],
    http: list[Figures],
    http_note: str,
    problems: list[str],
    seconds: float,
) -> list[str]:
    rule = "=" * 100
    checks = ["each member's pages hold exactly their scope"]
    if http:
        checks.append("HTTP pages = service pages; 401 without a cookie")
    return [
        "",
        rule,
        f"SUMMARY: department-scoped members (team, solo) against the {BASELINE} (scope all); "
        f"target member/{BASELINE} <= {TARGET}",
        rule,
        f"Service: list_parties(limit={PAGE}), median time per call",
        *(figure_line(f) for f in service),
        "Plans: the statement list_parties sends, as the app role (RLS on), rows per scan",
        *(plan_line(p) for p in plans),
        *(
            [f"HTTP: GET {PARTIES_PATH} (further pages by {CURSOR_PARAM}), median latency"]
            + [figure_line(f) for f in http]
            if http
            else [f"HTTP: {http_note}"]
        ),
        "Checks: " + ("; ".join(problems) if problems else "; ".join(checks)),
        f"Whole run: {seconds:.0f} s",
        rule,
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.data_scope",
        description="Department-scoped party lists against the admin's (see bench/README).",
    )
    parser.add_argument("--parties", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=50, help="each holds 1/n")
    parser.add_argument("--staff", type=int, default=4, help="people per department (solo: one)")
    parser.add_argument(
        "--cross-owned",
        type=float,
        default=CROSS_OWNED,
        help="share of parties owned by someone of another department",
    )
    parser.add_argument(
        "--pages",
        type=lambda s: sorted({int(p) for p in s.split(",")}),
        default=[1, 2, 10, 30],
        help="which pages to time, e.g. 1,2,10,30",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--calls", type=int, default=100, help="service calls per side, page, round"
    )
    parser.add_argument(
        "--requests", type=int, default=60, help="HTTP requests per side, page, round"
    )
    parser.add_argument("--block", type=int, default=20, help="HTTP requests in a row per side")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP level")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return
    run(args)


if __name__ == "__main__":
    main()
