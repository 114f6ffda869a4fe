"""The benchmarks' databases: a server (embedded or DATABASE_URL), fresh databases, the seed.

The seed includes who the requests come from: one user, owner of every bench
tenant, signed in once (a real session made by ``core.identity.sessions.start``).

Every database a benchmark creates is recorded in its :class:`Environment` and
dropped by :func:`drop_databases`; an embedded server started here is stopped
and its temporary directory removed by :func:`stop_environment`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

TEST_MODULES = ("tests.sample_module.plugin", "tests.sample_addon.plugin")
TENANTS = 100
NOTES_PER_TENANT = 1_000
SLUGS_SQL = "SELECT slug, id FROM core_tenant"
BENCH_EMAIL = "bench@example.com"  # owns every bench tenant; every request signs in as them


def bench_settings(owner: str) -> Any:
    """Settings as the tests use them, with the owner's URL as DATABASE_URL."""
    from core.settings import Settings

    return Settings(env="test", extra_modules=TEST_MODULES, database_url=owner)


def registry() -> Any:
    from core.plugins.registry import ModuleRegistry

    return ModuleRegistry.load(TEST_MODULES)


def url_string(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def asyncpg_dsn(url: URL) -> str:
    """A DSN for asyncpg itself (a socket directory in ``?host=`` is kept)."""
    return url_string(url.set(drivername="postgresql"))


def slug(i: int) -> str:
    return f"bench-{i:03d}"


@dataclass
class Environment:
    maintenance: URL  # where CREATE/DROP DATABASE go, as the owner
    data_dir: Path | None  # the embedded server's temporary directory, if any
    databases: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return "DATABASE_URL" if self.data_dir is None else "embedded (pgserver)"


def start_environment() -> Environment:
    """DATABASE_URL's server if set, else an embedded PostgreSQL in a temporary directory."""
    if os.environ.get("DATABASE_URL"):
        url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+asyncpg")
        return Environment(maintenance=url, data_dir=None)
    from core.db import start_embedded_server

    data_dir = Path(tempfile.mkdtemp(prefix="atrium-bench-"))
    return Environment(maintenance=start_embedded_server(data_dir, "postgres"), data_dir=data_dir)


def stop_environment(env: Environment) -> None:
    if env.data_dir is None:
        return
    from core.db import stop_embedded_server

    stop_embedded_server(env.data_dir)
    shutil.rmtree(env.data_dir, ignore_errors=True)


async def create_database(env: Environment, name: str, template: str | None = None) -> URL:
    from core import db as core_db

    url = await core_db.create_database(env.maintenance, name, template)
    env.databases.append(name)
    return url


async def drop_databases(env: Environment) -> None:
    from core import db as core_db

    while env.databases:
        await core_db.drop_database(env.maintenance, env.databases.pop())


@dataclass(frozen=True)
class Prepared:
    bench: URL  # migrated and seeded
    signup: URL  # the empty, migrated schema
    session_token: str  # the bench user's session: the atrium_session cookie's value
    facts: dict[str, Any]  # what the setup did, for the report


async def prepare(env: Environment, owner_sql: Sequence[str] = ()) -> Prepared:
    """Create and migrate the bench database, clone it empty for signup, seed it.

    The bench user owns every bench tenant and has one live session; ``owner_sql``
    runs as the owner at the end (what a baseline needs in the database).
    """
    import asyncpg
    from sqlalchemy import select

    from core import migrate
    from core.db import Database
    from core.identity import sessions
    from core.models import User
    from tenants.services import create_tenant_with_modules

    stamp = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    bench = await create_database(env, f"atrium_bench_{stamp}")
    modules = registry()
    settings = bench_settings(url_string(bench))
    began = time.perf_counter()
    await migrate.upgrade(bench, modules, settings)
    facts: dict[str, Any] = {"migrate_s": time.perf_counter() - began}
    # Tenant creation is measured on its own copy of the empty, migrated schema.
    signup = await create_database(env, f"atrium_bench_{stamp}_signup", template=bench.database)

    began = time.perf_counter()
    db = Database.connect(settings, owner=bench, pool_size=2, max_overflow=0)
    try:
        for i in range(TENANTS):
            await create_tenant_with_modules(
                db,
                modules,
                slug=slug(i),
                name=f"Bench {i:03d}",
                modules=("sample",),
                owner_email=BENCH_EMAIL,
            )
        async with db.global_transaction() as session:
            user_id = await session.scalar(select(User.id).where(User.email == BENCH_EMAIL))
            session_token, _row = await sessions.start(session, settings, user_id)
    finally:
        await db.dispose()
    facts["tenants_s"] = time.perf_counter() - began

    began = time.perf_counter()
    conn = await asyncpg.connect(asyncpg_dsn(bench))  # the owner: bulk load past RLS
    try:
        await conn.execute(
            """
            INSERT INTO sample_note (tenant_id, id, title, body, created_at)
            SELECT t.id, core_uuid7(), 'Note ' || g || ' of ' || t.slug,
                   'Body of note ' || g || '. ' || repeat('Lorem ipsum dolor sit amet. ', 4),
                   now() - make_interval(secs => $1 - g)
              FROM core_tenant t CROSS JOIN generate_series(1, $1) AS g
             WHERE t.slug LIKE 'bench-%'
            """,
            NOTES_PER_TENANT,
        )
        # 0, 1 or 2 tags per note (about 100,000 in all), so the JSON carries real tags.
        await conn.execute(
            """
            INSERT INTO sample_tag (tenant_id, id, note_id, label, created_at)
            SELECT n.tenant_id, core_uuid7(), n.id, 'label-' || k, now()
              FROM sample_note n
              CROSS JOIN LATERAL generate_series(1, get_byte(uuid_send(n.id), 15) % 3) AS k
            """
        )
        for table in ("sample_note", "sample_tag"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        await conn.execute("ANALYZE")
        for statement in owner_sql:
            await conn.execute(statement)
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM sample_note) AS notes,
                   (SELECT count(*) FROM sample_tag) AS tags,
                   (SELECT count(*) FROM core_tenant) AS tenants,
                   (SELECT count(*) FROM core_membership m JOIN core_user u ON u.id = m.user_id
                     WHERE u.email = $1 AND m.active) AS memberships,
                   min(c) AS min_per_tenant, max(c) AS max_per_tenant,
                   current_setting('server_version') AS server_version
              FROM (SELECT count(*) AS c FROM sample_note GROUP BY tenant_id) per_tenant
            """,
            BENCH_EMAIL,
        )
        facts.update(dict(row))
    finally:
        await conn.close()
    facts["seed_s"] = time.perf_counter() - began
    return Prepared(bench, signup, session_token, facts)
