"""Two database costs: row-level security on a hot query, and creating a tenant.

- :func:`measure_rls`: the same 50-row query as the app role on ``sample_note``
  (forced RLS, the isolation policy) and on ``sample_note_norls`` (a copy with
  the same primary key and no RLS), timed from the client and inside the server.
- :func:`measure_signup`: ``create_tenant_with_modules`` at a few and at many
  existing tenants, with every statement it sends recorded to prove it runs no DDL.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL

from bench.database import SLUGS_SQL, asyncpg_dsn, bench_settings, registry, url_string

SET_TENANT = "SELECT set_config('app.tenant_id', $1, true)"
RLS_QUERY = (
    "SELECT id, title, body, created_at FROM {table} WHERE tenant_id = $1 ORDER BY id LIMIT 50"
)
BLOCK = 100  # queries per side before switching sides
DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|TRUNCATE|GRANT|REVOKE|COMMENT)\b", re.IGNORECASE)


# --- RLS ----------------------------------------------------------------------------------


@dataclass
class RlsResult:
    on_us: float  # per query, client round trip (prepared statement, asyncpg)
    off_us: float
    server_on_us: float  # per query, run in a PL/pgSQL loop: no network, no decoding
    server_off_us: float
    same_rows: bool

    @property
    def ratio(self) -> float:
        return self.on_us / self.off_us

    @property
    def server_ratio(self) -> float:
        return self.server_on_us / self.server_off_us


async def measure_rls(
    bench: URL, iterations: int, rounds: int, server_iterations: int = 10_000
) -> RlsResult:
    """Median over ``rounds`` (alternating which table goes first) of ``iterations`` queries."""
    import asyncpg

    from core.db import app_url

    settings = bench_settings(url_string(bench))
    owner = await asyncpg.connect(asyncpg_dsn(bench))
    try:
        await owner.execute(
            f"""
            DROP TABLE IF EXISTS sample_note_norls;
            CREATE TABLE sample_note_norls AS SELECT * FROM sample_note ORDER BY tenant_id, id;
            ALTER TABLE sample_note_norls ADD PRIMARY KEY (tenant_id, id);
            GRANT SELECT ON sample_note_norls TO {settings.app_db_role};
            """
        )
        await owner.execute("VACUUM (ANALYZE) sample_note_norls")
        tenants = [r["id"] for r in await owner.fetch(f"{SLUGS_SQL} ORDER BY slug")]
        security = await owner.fetch(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('sample_note', 'sample_note_norls') ORDER BY relname"
        )
    finally:
        await owner.close()
    if [tuple(r) for r in security] != [(True, True), (False, False)]:
        raise RuntimeError(f"expected RLS forced on sample_note only, found {security}")

    conn = await asyncpg.connect(asyncpg_dsn(app_url(bench, settings)))
    try:
        statements = {
            "on": await conn.prepare(RLS_QUERY.format(table="sample_note")),
            "off": await conn.prepare(RLS_QUERY.format(table="sample_note_norls")),
        }
        tables = {"on": "sample_note", "off": "sample_note_norls"}
        client: dict[str, list[float]] = {"on": [], "off": []}
        server: dict[str, list[float]] = {"on": [], "off": []}
        same_rows = True
        for r in range(rounds):
            tenant_id = tenants[(r * 37) % len(tenants)]
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            async with conn.transaction():
                await conn.execute(SET_TENANT, str(tenant_id))
                on_rows = await statements["on"].fetch(tenant_id)
                same_rows &= len(on_rows) == 50 and on_rows == await statements["off"].fetch(
                    tenant_id
                )
                for side in order:  # settle the plans and the cache
                    for _ in range(min(200, iterations)):
                        await statements[side].fetch(tenant_id)
                # Interleave blocks of queries so a drift in machine speed hits both sides.
                spent = {"on": 0.0, "off": 0.0}
                done = 0
                while done < iterations:
                    block = min(BLOCK, iterations - done)
                    for side in order:
                        statement = statements[side]
                        began = time.perf_counter()
                        for _ in range(block):
                            await statement.fetch(tenant_id)
                        spent[side] += time.perf_counter() - began
                    done += block
                for side in order:
                    client[side].append(spent[side] / iterations * 1e6)
                    server[side].append(
                        await _in_server_loop(conn, tables[side], tenant_id, server_iterations)
                    )
    finally:
        await conn.close()
    return RlsResult(
        on_us=statistics.median(client["on"]),
        off_us=statistics.median(client["off"]),
        server_on_us=statistics.median(server["on"]),
        server_off_us=statistics.median(server["off"]),
        same_rows=same_rows,
    )


async def _in_server_loop(conn: Any, table: str, tenant_id: uuid.UUID, iterations: int) -> float:
    """The same query ``iterations`` times inside PostgreSQL; microseconds per query."""
    await conn.execute(
        f"""
        DO $$
        DECLARE began timestamptz; got bigint; tid uuid := '{tenant_id}';
        BEGIN
          began := clock_timestamp();
          FOR i IN 1..{int(iterations)} LOOP
            SELECT count(*) INTO got FROM (
              SELECT id, title, body, created_at FROM {table}
               WHERE tenant_id = tid ORDER BY id LIMIT 50) page;
          END LOOP;
          PERFORM set_config('bench.elapsed_us',
            (extract(epoch FROM clock_timestamp() - began) * 1e6)::bigint::text, true);
        END $$
        """
    )
    return int(await conn.fetchval("SELECT current_setting('bench.elapsed_us')")) / iterations


# --- tenant creation ----------------------------------------------------------------------


@dataclass
class SignupResult:
    small_at: int
    large_at: int
    small_ms: list[float]
    large_ms: list[float]
    pg_class: tuple[int, int, int, int]  # before/after the small batch, before/after the large
    statements: list[str]  # everything the timed creations sent

    @property
    def small(self) -> float:
        return statistics.median(self.small_ms)

    @property
    def large(self) -> float:
        return statistics.median(self.large_ms)

    @property
    def ratio(self) -> float:
        return self.large / self.small

    @property
    def ddl(self) -> list[str]:
        return [s for s in self.statements if DDL.match(s)]

    @property
    def no_ddl(self) -> bool:
        a, b, c, d = self.pg_class
        return a == b and c == d and not self.ddl

    @property
    def per_creation(self) -> float:
        return len(self.statements) / (len(self.small_ms) + len(self.large_ms))


async def measure_signup(signup: URL, creations: int, small: int, large: int) -> SignupResult:
    """Time ``creations`` signups at ``small`` existing tenants, then again at ``large``."""
    import asyncpg

    from core.db import Database
    from tenants.services import create_tenant_with_modules

    modules = registry()
    db = Database.connect(
        bench_settings(url_string(signup)), owner=signup, pool_size=2, max_overflow=0
    )
    owner = await asyncpg.connect(asyncpg_dsn(signup))
    statements: list[str] = []
    recording = False

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if recording:
            statements.append(statement)

    async def count(sql: str) -> int:
        return int(await owner.fetchval(sql))

    async def create(name: str) -> float:
        began = time.perf_counter()
        await create_tenant_with_modules(db, modules, slug=name, name=name, modules=("sample",))
        return (time.perf_counter() - began) * 1000

    try:
        # The first tenants are the "existing" ones; creating them warms every cache.
        for i in range(small):
            await create(f"existing-{i:05d}")
        assert await count("SELECT count(*) FROM core_tenant") == small
        before_small = await count("SELECT count(*) FROM pg_class")
        recording = True
        small_ms = [await create(f"signup-a-{i:04d}") for i in range(creations)]
        recording = False
        after_small = await count("SELECT count(*) FROM pg_class")

        await _add_filler_tenants(owner, large - await count("SELECT count(*) FROM core_tenant"))
        assert await count("SELECT count(*) FROM core_tenant") == large
        await owner.execute("VACUUM (ANALYZE)")
        before_large = await count("SELECT count(*) FROM pg_class")
        recording = True
        large_ms = [await create(f"signup-b-{i:04d}") for i in range(creations)]
        recording = False
        after_large = await count("SELECT count(*) FROM pg_class")
    finally:
        await owner.close()
        await db.dispose()
    return SignupResult(
        small_at=small,
        large_at=large,
        small_ms=small_ms,
        large_ms=large_ms,
        pg_class=(before_small, after_small, before_large, after_large),
        statements=statements,
    )


async def _add_filler_tenants(owner: Any, n: int) -> None:
    """Bulk-insert ``n`` tenants as signup leaves them: the tenant, 'sample' on, its effect row."""
    await owner.execute(
        """
        WITH t AS (
          INSERT INTO core_tenant (id, slug, name, status, locale, created_at)
          SELECT core_uuid7(), 'filler-' || lpad(g::text, 5, '0'), 'Filler ' || g,
                 'active', 'en', now()
            FROM generate_series(1, $1) AS g
          RETURNING id
        ), m AS (
          INSERT INTO core_tenant_module (tenant_id, id, module_key, enabled, source, since)
          SELECT id, core_uuid7(), 'sample', true, 'development', now() FROM t
          RETURNING tenant_id
        )
        INSERT INTO sample_effect (tenant_id, id, source, detail, created_at)
        SELECT tenant_id, core_uuid7(), 'module_enabled', 'sample', now() FROM m
        """,
        n,
    )
