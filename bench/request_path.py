"""The request-path benchmark: our full stack against raw asyncpg, RLS cost, signup cost.

``python -m bench.request_path`` (from the repository root) measures, in one run:

1. **Request path.** ``GET /api/t/{slug}/sample/notes/?limit=50`` signed in with a
   session cookie, on the real app (tenant guard: workspace, session and member in
   one call; module guard, tenant-scoped ORM session, row-level security, commit in
   ``before_send``) against a minimal Litestar app in this file that signs the
   request in too and runs the same statements on a raw asyncpg pool, as the same
   non-superuser app role (so RLS applies to both), and returns the same JSON. 50
   rows out of 100,000 across 100 tenants; each server alone, one uvicorn process,
   loaded from another process on 127.0.0.1. Target: ours >= 0.5 x raw requests/s.
2. **RLS cost.** The same 50-row query as the app role, policy on (``sample_note``)
   versus a copy of the table without RLS (``sample_note_norls``). Target <= 1.15x.
3. **Tenant creation.** ``create_tenant_with_modules(..., modules=("sample",))`` at 10
   and at 10,000 existing tenants, and proof that it runs no DDL. Target <= 1.1x.

It is a benchmark, not a test: it prints every figure with its target and says
MISSED where one is missed, and exits 0 either way. With no DATABASE_URL it
starts an embedded PostgreSQL in a temporary directory; with DATABASE_URL it
creates (and afterwards drops) its own databases on that server.

Why the endpoint as it is: ``NoteService.page`` loads each page's tags with a
second query. That is what users of this endpoint get, so the headline compares
it with a raw endpoint that also fetches the tags in a second statement and
returns the same JSON (``NoteOut`` with ``tags``): the same rows, the same round
trips (BEGIN, sign-in with the tenant, notes, tags, COMMIT), the same bytes. A
"plain" pair (one query, no tags, on both sides) is printed too, to show what
the relationship load costs; it is not the target figure.

Both sides authenticate. Workspace routes need a credential, so every request
(both load tools and the correctness check) carries the ``atrium_session``
cookie of one bench user who owns every bench tenant. A hand-written app would
not skip that work either, so the raw endpoint does what it would do: hash the
cookie and, in the same round trip as the tenant lookup, find the live session
(not revoked, expired or idle; its last use written at most once a minute) and
the user's active membership, answering 401 without a valid session and 404 to
a non-member. The membership is behind RLS and the tenant is only known once
the slug is resolved, so that round trip is a small SECURITY DEFINER function
(``RAW_SIGN_IN``) the bench creates, as a hand-written app on this schema would
need too. What it leaves out is what only ours offers: the tenant's enabled
modules, the two-factor rule, the member's department subtree and custom roles
(for permissions and data scopes); that is part of what "ours" pays for, as the
module check always was. Both servers must answer 401 to a request without the
cookie, or the comparison is void.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar.params import FromQuery, Parameter
from sqlalchemy.engine import URL, make_url

from bench.costs import RlsResult, SignupResult, measure_rls, measure_signup
from bench.database import (
    NOTES_PER_TENANT,
    TENANTS,
    asyncpg_dsn,
    bench_settings,
    drop_databases,
    prepare,
    registry,
    slug,
    start_environment,
    stop_environment,
    url_string,
)
from bench.load import LoadResult, pick_tool, run_load
from core.identity.sessions import digest
from tests.sample_module.schemas import NoteOut
from web.auth import SESSION_COOKIE
from web.deps import DbSession  # module level: Litestar resolves handler annotations here

SessionCookie = Annotated[str | None, Parameter(cookie=SESSION_COOKIE)]

REPO = Path(__file__).resolve().parents[1]
PAGE = 50
OWNER_ENV = "BENCH_OWNER_URL"
NOTES_PATH = "/api/t/{slug}/sample/notes/?limit=50"
PLAIN_PATH = "/api/t/{slug}/sample/plain-notes/?limit=50"

# The raw endpoint's sign-in, created by the bench as the owner: the workspace by slug (and
# the transaction's tenant), the live session by the cookie's hash, touched at most once a
# minute, and the user's active membership. SECURITY DEFINER because the session is looked
# up before the tenant is set and the membership is behind RLS.
RAW_SIGN_IN = """
CREATE FUNCTION bench_raw_sign_in(p_slug text, p_session_hash text, p_idle_minutes integer)
RETURNS TABLE (tenant_id uuid, signed_in boolean, member boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_tenant uuid;
  v_session uuid;
  v_user uuid;
  v_last timestamptz;
BEGIN
  SELECT t.id INTO v_tenant FROM core_tenant t WHERE t.slug = p_slug;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM set_config('app.tenant_id', v_tenant::text, true);
  SELECT s.id, s.user_id, s.last_seen_at INTO v_session, v_user, v_last
    FROM core_user_session s
   WHERE s.token_hash = p_session_hash AND s.area = 'workspace'
     AND NOT s.pending_second_factor AND s.revoked_at IS NULL AND s.expires_at > now()
     AND s.last_seen_at > now() - make_interval(mins => p_idle_minutes);
  IF FOUND AND v_last < now() - interval '1 minute' THEN
    UPDATE core_user_session s SET last_seen_at = now() WHERE s.id = v_session;
  END IF;
  RETURN QUERY SELECT v_tenant, v_session IS NOT NULL,
    EXISTS (SELECT 1 FROM core_membership m
             WHERE m.tenant_id = v_tenant AND m.user_id = v_user AND m.active);
END
$$
"""
RAW_SIGN_IN_SQL = "SELECT * FROM bench_raw_sign_in($1, $2, $3)"

# The raw endpoint's statements: what the ORM sends for NoteService.page, written by hand.
NOTES_SQL = (
    "SELECT id, title, body, created_at FROM sample_note WHERE tenant_id = $1 ORDER BY id LIMIT $2"
)
TAGS_SQL = (
    "SELECT note_id, label FROM sample_tag "
    "WHERE tenant_id = $1 AND note_id = ANY($2::uuid[]) ORDER BY label"
)


class NoteRow(msgspec.Struct):
    """The plain pair's shape: a note without its tags."""

    id: uuid.UUID
    title: str
    body: str
    created_at: datetime


# --- the servers (each in its own process: ``--serve ours|ours-plain|raw``) -------------------


def ours_app(owner: str, plain: bool) -> Any:
    """The real application as ``create_app`` builds it (plus one bench route if plain)."""
    from litestar import get
    from sqlalchemy import select

    from tests.sample_module.models import SampleNote
    from web.app import create_app, workspace_routers

    app = create_app(bench_settings(owner), registry=registry())
    if plain:

        @get("/sample/plain-notes/")
        async def plain_notes(session: DbSession, limit: FromQuery[int] = 50) -> list[NoteRow]:
            query = select(SampleNote).order_by(SampleNote.id).limit(min(max(limit, 1), 200))
            return [
                NoteRow(id=n.id, title=n.title, body=n.body, created_at=n.created_at)
                for n in await session.scalars(query)
            ]

        # Mounted the way create_app mounts a module's API: same prefix, guard, module check.
        for router in workspace_routers([], [plain_notes], tag="sample", module="sample"):
            app.register(router)
    return app


async def _keep_session(_connection: Any) -> None:
    """Pool reset: nothing to undo (the tenant is transaction-local), so no round trip."""


def raw_app(owner: str) -> Any:
    """The baseline: a bare Litestar app, a raw asyncpg pool, the same app role."""
    import asyncpg
    from litestar import Litestar, get
    from litestar.exceptions import NotAuthorizedException, NotFoundException

    from core.db import app_url

    settings = bench_settings(owner)
    dsn = asyncpg_dsn(app_url(make_url(owner), settings))
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        # The same ceiling as the app's SQLAlchemy pool (pool_size 10 + max_overflow 10).
        state["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=20, reset=_keep_session)
        try:
            yield
        finally:
            await state["pool"].close()

    async def sign_in(conn: Any, tenant_slug: str, token: str | None) -> uuid.UUID:
        """The workspace's id, its tenant set, once the cookie's session is a member's."""
        found = await conn.fetchrow(
            RAW_SIGN_IN_SQL,
            tenant_slug,
            digest(token) if token else None,
            settings.session_idle_minutes,
        )
        if found is None or (found["signed_in"] and not found["member"]):
            raise NotFoundException("No workspace at this address.")
        if not found["signed_in"]:
            raise NotAuthorizedException("Sign in to continue.")
        return found["tenant_id"]

    @get("/api/t/{tenant_slug:str}/sample/notes/")
    async def notes(tenant_slug: str, session: SessionCookie, limit: int = 50) -> list[NoteOut]:
        async with state["pool"].acquire() as conn, conn.transaction():
            tenant_id = await sign_in(conn, tenant_slug, session)
            rows = await conn.fetch(NOTES_SQL, tenant_id, min(max(limit, 1), 200))
            tags = await conn.fetch(TAGS_SQL, tenant_id, [r["id"] for r in rows])
        by_note: dict[uuid.UUID, list[str]] = defaultdict(list)
        for tag in tags:
            by_note[tag["note_id"]].append(tag["label"])
        return [
            NoteOut(
                id=r["id"],
                title=r["title"],
                body=r["body"],
                created_at=r["created_at"],
                tags=by_note.get(r["id"], []),
            )
            for r in rows
        ]

    @get("/api/t/{tenant_slug:str}/sample/plain-notes/")
    async def plain_notes(
        tenant_slug: str, session: SessionCookie, limit: int = 50
    ) -> list[NoteRow]:
        async with state["pool"].acquire() as conn, conn.transaction():
            tenant_id = await sign_in(conn, tenant_slug, session)
            rows = await conn.fetch(NOTES_SQL, tenant_id, min(max(limit, 1), 200))
        return [
            NoteRow(id=r["id"], title=r["title"], body=r["body"], created_at=r["created_at"])
            for r in rows
        ]

    return Litestar(route_handlers=[notes, plain_notes], lifespan=[lifespan], debug=False)


def serve(kind: str, port: int) -> None:
    import uvicorn

    owner = os.environ[OWNER_ENV]
    app = raw_app(owner) if kind == "raw" else ours_app(owner, plain=kind == "ours-plain")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        lifespan="on",
        log_level="warning",
        access_log=False,
    )


class Server:
    """One server process on a free loopback port."""

    def __init__(self, kind: str, owner: URL, logs: Path) -> None:
        self.kind = kind
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = logs / f"server-{kind}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.request_path", "--serve", kind, "--port", str(port)],
                cwd=REPO,
                env={**os.environ, OWNER_ENV: url_string(owner)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, probe: str, headers: dict[str, str], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server died:\n{self.log_path.read_text()}")
            with contextlib.suppress(OSError):
                if fetch(self.base_url + probe, headers)[0] == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} server not ready after {timeout} s")

    def cpu_seconds(self) -> float | None:
        try:
            import psutil  # a dependency of pgserver; the figure is skipped without it
        except ImportError:
            return None
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


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=10
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- the request path ---------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    load: LoadResult
    cpu_us: float | None  # the server process's CPU time per request


@dataclass
class PairResult:
    name: str
    ours: Side
    raw: Side
    same_json: bool
    checked: int
    refuses_anonymous: bool  # both answered 401 to the same request without the cookie

    @property
    def ratio(self) -> float:
        return self.ours.load.rps / self.raw.load.rps if self.raw.load.rps else 0.0

    @property
    def comparable(self) -> bool:
        return self.same_json and self.refuses_anonymous


def measure_pair(
    name: str,
    ours_kind: str,
    path: str,
    owner: URL,
    session_token: str,
    logs: Path,
    args: argparse.Namespace,
) -> PairResult:
    """Serve ``path`` from ours, then from raw (never both at once); same JSON checked."""
    paths = [path.format(slug=slug(i)) for i in range(TENANTS)]
    probes = [paths[0], paths[TENANTS // 2], paths[-1]]
    signed_in = {"Cookie": f"{SESSION_COOKIE}={session_token}"}
    bodies: dict[str, list[bytes]] = {}
    anonymous: dict[str, int] = {}
    runs: dict[str, list[Side]] = {"ours": [], "raw": []}
    for _round in range(args.rounds):
        for side, kind in (("ours", ours_kind), ("raw", "raw")):
            server = Server(kind, owner, logs)
            try:
                server.wait_ready(paths[0], signed_in)
                answers = [fetch(server.base_url + p, signed_in) for p in probes]
                if any(status != 200 for status, _ in answers):
                    raise RuntimeError(f"{kind} answered {answers[0][0]}: {answers[0][1][:300]!r}")
                bodies[side] = [body for _, body in answers]
                anonymous[side] = fetch(server.base_url + probes[0], {})[0]
                load = {
                    "connections": args.connections,
                    "tool": args.tool,
                    "headers": signed_in,
                }
                if args.warmup > 0:
                    run_load(server.base_url, paths, duration=args.warmup, **load)
                cpu_before = server.cpu_seconds()
                result = run_load(server.base_url, paths, duration=args.duration, **load)
                cpu_after = server.cpu_seconds()
            finally:
                server.stop()
            cpu_us = None
            if cpu_before is not None and cpu_after is not None and result.requests:
                cpu_us = (cpu_after - cpu_before) / result.requests * 1e6
            runs[side].append(Side(result, cpu_us))
            print(f"  {name:<8} {side:<4} {_side_line(runs[side][-1])}", flush=True)
    same = all(
        json.loads(a) == json.loads(b) and len(json.loads(a)) == PAGE
        for a, b in zip(bodies["ours"], bodies["raw"], strict=True)
    )
    refused = all(status == 401 for status in anonymous.values())
    return PairResult(name, _median(runs["ours"]), _median(runs["raw"]), same, len(probes), refused)


def _median(runs: list[Side]) -> Side:
    return sorted(runs, key=lambda s: s.load.rps)[len(runs) // 2]


def _side_line(side: Side) -> str:
    r = side.load
    cpu = f"  cpu {side.cpu_us / 1000:5.2f} ms/req" if side.cpu_us is not None else ""
    errors = f"  ERRORS {r.errors}" if r.errors else ""
    return (
        f"{r.rps:7.0f} req/s  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms{cpu}  "
        f"({r.requests} in {r.seconds:.1f} s){errors}"
    )


# --- the run and its summary --------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def run(args: argparse.Namespace) -> None:
    args.tool = pick_tool(args.loader)
    env = start_environment()
    logs = Path(tempfile.mkdtemp(prefix="atrium-bench-logs-"))
    lines: list[str] = []
    try:
        print("== setup", flush=True)
        prepared = asyncio.run(prepare(env, owner_sql=(RAW_SIGN_IN,)))
        bench, facts = prepared.bench, prepared.facts
        print(
            f"  PostgreSQL {facts['server_version']}, {env.where}; migrated in "
            f"{facts['migrate_s']:.1f} s; {facts['tenants']} tenants ('sample' on) in "
            f"{facts['tenants_s']:.1f} s, the bench user owner of {facts['memberships']} "
            f"and signed in; {facts['notes']:,} notes "
            f"({facts['min_per_tenant']}..{facts['max_per_tenant']} per tenant) and "
            f"{facts['tags']:,} tags bulk-loaded in {facts['seed_s']:.1f} s\n"
            f"  Python {platform.python_version()}, {os.cpu_count()} CPUs, uvicorn "
            f"{_uvicorn_impl()}, one worker; load: {args.tool}, {args.connections} connections, "
            f"{args.warmup:g} s warm-up + {args.duration:g} s, {args.rounds} round(s) per side",
            flush=True,
        )

        print("== RLS cost: the same query as the app role, policy on vs a copy without RLS")
        rls = asyncio.run(measure_rls(bench, args.rls_iterations, args.rls_rounds))
        print(
            f"  round trip  on {rls.on_us:7.1f} us  off {rls.off_us:7.1f} us  "
            f"ratio {rls.ratio:.3f}\n"
            f"  in-server   on {rls.server_on_us:7.1f} us  off {rls.server_off_us:7.1f} us  "
            f"ratio {rls.server_ratio:.3f}",
            flush=True,
        )

        print("== request path: each server alone, one uvicorn process", flush=True)
        token = prepared.session_token
        pairs = [measure_pair("endpoint", "ours", NOTES_PATH, bench, token, logs, args)]
        if not args.no_plain:
            pairs.append(measure_pair("plain", "ours-plain", PLAIN_PATH, bench, token, logs, args))

        print("== tenant creation: create_tenant_with_modules(modules=('sample',))", flush=True)
        s = asyncio.run(
            measure_signup(prepared.signup, args.creations, args.small_tenants, args.large_tenants)
        )
        print(
            f"  at {s.small_at:,}: median {s.small:.2f} ms  at {s.large_at:,}: median "
            f"{s.large:.2f} ms  ({s.per_creation:.0f} statements per creation)",
            flush=True,
        )
        lines = summary(pairs, rls, s)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(drop_databases(env))
        stop_environment(env)
        shutil.rmtree(logs, ignore_errors=True)
    print("\n".join(lines))


def summary(pairs: list[PairResult], rls: RlsResult, s: SignupResult) -> list[str]:
    endpoint = pairs[0]
    rule = "=" * 100
    out = [
        "",
        rule,
        "SUMMARY (each target is checked; lines marked 'info' explain the figures)",
        rule,
        f"Request path: GET /api/t/{{slug}}/sample/notes/?limit={PAGE} "
        f"({TENANTS} tenants x {NOTES_PER_TENANT:,} notes; tags included; signed in)",
        f"  ours  {_side_line(endpoint.ours)}",
        f"  raw   {_side_line(endpoint.raw)}",
        f"  ratio ours/raw requests/s {endpoint.ratio:.2f}    target >= 0.50    "
        f"{verdict(endpoint.ratio >= 0.5 and endpoint.comparable)}",
        f"  same JSON from both ({endpoint.checked} tenants compared): "
        + ("yes" if endpoint.same_json else "NO - the comparison is void"),
        "  both answer 401 without the session cookie: "
        + ("yes" if endpoint.refuses_anonymous else "NO - the comparison is void"),
    ]
    for pair in pairs[1:]:
        out += [
            "Plain list (info): one query, no tags, /sample/plain-notes/",
            f"  ours  {_side_line(pair.ours)}",
            f"  raw   {_side_line(pair.raw)}",
            f"  ratio ours/raw requests/s {pair.ratio:.2f}    (info)    same JSON: "
            + ("yes" if pair.same_json else "NO")
            + "    401 without the cookie: "
            + ("yes" if pair.refuses_anonymous else "NO"),
        ]
    out += [
        "RLS cost: 50 rows of one tenant by id, prepared, as the app role (median)",
        f"  policy on {rls.on_us:.1f} us   off {rls.off_us:.1f} us   ratio {rls.ratio:.3f}"
        f"    target <= 1.15    {verdict(rls.ratio <= 1.15 and rls.same_rows)}",
        f"  in-server (info): on {rls.server_on_us:.1f} us   off {rls.server_off_us:.1f} us   "
        f"ratio {rls.server_ratio:.3f}   same rows: " + ("yes" if rls.same_rows else "NO"),
        f"Tenant creation: create_tenant_with_modules, median of {len(s.small_ms)} each",
        f"  at {s.small_at:,} tenants {s.small:.2f} ms   at {s.large_at:,} tenants "
        f"{s.large:.2f} ms   ratio {s.ratio:.2f}    target <= 1.10    {verdict(s.ratio <= 1.1)}",
        f"  DDL while creating: {'none' if s.no_ddl else 'YES'} (pg_class {s.pg_class[0]} -> "
        f"{s.pg_class[1]}, {s.pg_class[2]} -> {s.pg_class[3]}; {len(s.ddl)} DDL among "
        f"{len(s.statements)} statements)    target none    {verdict(s.no_ddl)}",
        rule,
    ]
    return out


def _uvicorn_impl() -> str:
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"(loop {loop}, http {http})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.request_path",
        description="Request path vs raw asyncpg, RLS cost, tenant creation (see bench/README).",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each run")
    parser.add_argument("--connections", type=int, default=10, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=1, help="load runs per side (median)")
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain-list pair")
    parser.add_argument("--rls-iterations", type=int, default=2000)
    parser.add_argument("--rls-rounds", type=int, default=7)
    parser.add_argument("--creations", type=int, default=50)
    parser.add_argument("--small-tenants", type=int, default=10)
    parser.add_argument("--large-tenants", type=int, default=10_000)
    parser.add_argument("--serve", choices=("ours", "ours-plain", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return
    run(args)


if __name__ == "__main__":
    main()
