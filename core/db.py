"""Database access: two roles, tenant-scoped sessions, the embedded server.

- The *owner* (``DATABASE_URL``, or the embedded server's superuser) runs
  migrations and owns every table. It must be a superuser or have BYPASSRLS,
  because the few cross-tenant system functions run with its rights.
- The *app role* (``ATRIUM_APP_DB_ROLE``) is what the application connects as
  at run time: it owns nothing and is neither superuser nor BYPASSRLS, so
  row-level security always applies to it. ``atrium db upgrade`` creates it.

A tenant session sets ``app.tenant_id`` with ``set_config(..., true)`` at the
start of every transaction (never ``SET SESSION``) and adds the tenant to
every ORM query; row-level security is the backstop behind that.
"""

from __future__ import annotations

import re
import uuid
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from core.errors import TenantMismatchError
from core.orm import APPEND_ONLY_KEY, Base, TenantModel
from core.settings import Settings

EMBEDDED_DATABASE = "atrium"
TENANT_SETTING = "app.tenant_id"
# The one way a transaction learns its tenant: transaction-local, never SET SESSION.
SET_TENANT = text(f"SELECT set_config('{TENANT_SETTING}', :tenant_id, true)")
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class _EmbeddedHandle:
    server: Any  # pgserver.PostgresServer
    started: bool  # this process started it (it was not running before)


_embedded_servers: dict[Path, _EmbeddedHandle] = {}  # one handle per data directory


def start_embedded_server(data_dir: Path, database: str = EMBEDDED_DATABASE) -> URL:
    """Start (or reuse) the pgserver PostgreSQL in ``data_dir/pg``; return the owner URL.

    :func:`embedded_server_started` tells afterwards whether this process started it.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (servers, CI); the fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the embedded default needs it

    pgdata = (data_dir / "pg").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    handle = _embedded_servers.get(pgdata)
    if handle is None:
        started = _needs_starting(pgdata)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the same warning, raised again on first use
            # "stop": the last process holding a server it started stops it (at
            # stop_embedded_server or at exit); a server that was running before is left be.
            server = pgserver.get_server(pgdata, cleanup_mode="stop" if started else None)
        handle = _embedded_servers[pgdata] = _EmbeddedHandle(server, started)
    exists = handle.server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        handle.server.psql(f'CREATE DATABASE "{database}";')
    return make_url(handle.server.get_uri()).set(drivername="postgresql+asyncpg", database=database)


def _needs_starting(pgdata: Path) -> bool:
    """Whether the server in ``pgdata`` must be started (it is not running), having
    first forgotten the processes that died holding it."""
    from pgserver import PostgresServer
    from pgserver.utils import PostmasterInfo

    with PostgresServer._lock:  # the lock pgserver takes around the same files
        _forget_dead_handles(pgdata)
        try:
            running = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError):  # postmaster.pid half written: one is starting
            return False
    return running is None or not running.is_running()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop the processes that died holding the server in ``pgdata``.

    pgserver counts the processes holding a server (``.handle_pids.json``) and stops it
    when the last one lets go; a process killed before it could let go (SIGKILL, a
    closed terminal) would stay counted for ever, and the server would never be stopped.
    Called with pgserver's lock held.
    """
    import psutil  # pgserver's own dependency
    from pgserver.utils import DiskList

    handles = DiskList(pgdata / ".handle_pids.json")
    held = handles.get()
    alive = [pid for pid in held if psutil.pid_exists(pid)]
    if alive != held:
        handles.put(alive)


def embedded_server_started(data_dir: Path) -> bool:
    """Whether this process started the embedded server in ``data_dir`` (False when it
    reused one that was already running, or holds none)."""
    handle = _embedded_servers.get((data_dir / "pg").resolve())
    return handle is not None and handle.started


def stop_embedded_server(data_dir: Path) -> None:
    """Let go of this process's handle. A server this process started stops, unless
    another live process still holds it; one that was running before is left running."""
    pgdata = (data_dir / "pg").resolve()
    handle = _embedded_servers.pop(pgdata, None)
    if handle is not None:
        from pgserver import PostgresServer

        with PostgresServer._lock:
            _forget_dead_handles(pgdata)
        handle.server.cleanup()


def owner_url(settings: Settings) -> URL:
    """The migration owner's URL: DATABASE_URL, or the embedded server started on demand."""
    if settings.database_url:
        return make_url(settings.database_url).set(drivername="postgresql+asyncpg")
    return start_embedded_server(settings.data_dir)


def app_url(owner: URL, settings: Settings) -> URL:
    """The run-time URL: the owner's server and database, the app role's credentials."""
    return owner.set(username=settings.app_db_role, password=settings.app_role_password)


# --- tenant scoping -------------------------------------------------------------------------


class TenantScopedSession(Session):
    """A sync Session (under AsyncSession) that knows its tenant.

    ``info["tenant_id"]`` set: every transaction starts with set_config, every
    ORM query on tenant models is filtered by it, and new rows are stamped with
    it. Unset: tenant tables show no rows (RLS fails closed).
    """


@event.listens_for(TenantScopedSession, "after_begin")
def _set_tenant_for_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is not None:
        connection.execute(SET_TENANT, {"tenant_id": str(tenant_id)})


@event.listens_for(TenantScopedSession, "do_orm_execute")
def _scope_orm_queries(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None or not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_relationship_load or state.is_column_load:
        return  # the criterion travels with the parent query's options; adding it twice costs
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantModel,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


@event.listens_for(TenantScopedSession, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    tenant_id = session.info.get("tenant_id")
    for obj in session.new:
        if not isinstance(obj, TenantModel):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise TenantMismatchError(
                    "A {record} was written with no workspace set.", record=type(obj).__name__
                )
            obj.tenant_id = tenant_id
        elif tenant_id is not None and obj.tenant_id != tenant_id:
            raise TenantMismatchError(
                "A {record} belongs to another workspace than this session's.",
                record=type(obj).__name__,
            )


async def set_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Scope the session's current (and later) transactions to ``tenant_id``."""
    session.info["tenant_id"] = tenant_id
    await session.execute(SET_TENANT, {"tenant_id": str(tenant_id)})


UNIQUE_VIOLATION = "23505"


async def add_unique(session: AsyncSession, row: object) -> bool:
    """Insert ``row`` in a savepoint; False, with nothing pending, if a unique key refuses it."""
    return await assign_unique(session, row, {})


async def assign_unique(session: AsyncSession, row: object, values: Mapping[str, Any]) -> bool:
    """Set ``values`` on ``row`` (new or not) and write it in a savepoint; False if a unique
    key refuses, with the change undone and the transaction still usable.

    The row is added and its values set only once the savepoint has begun (beginning one
    flushes whatever is pending), so the savepoint's rollback forgets a refused insert and
    an update can be refused too; a refused existing row reads as it was before.
    """
    try:
        async with session.begin_nested():
            for field, value in values.items():
                setattr(row, field, value)
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        if getattr(exc.orig, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
        if inspect(row).persistent:
            await session.refresh(row)  # the savepoint's rollback expired it
        return False
    return True


# --- the database handle ------------------------------------------------------------------


@dataclass
class Database:
    """Engines and session factories for one database: what the app holds at run time."""

    settings: Settings
    owner: URL
    engine: AsyncEngine  # the app role's engine
    sessionmaker: async_sessionmaker[AsyncSession]
    # A small pool for short transactions that commit on their own while a request's
    # transaction is open (a number handed out, a failed sign-in recorded). Its
    # connections are never held while waiting for another, so it cannot deadlock
    # with the main pool however busy that is.
    side_engine: AsyncEngine

    @classmethod
    def connect(cls, settings: Settings, owner: URL | None = None, **engine_kw: Any) -> Database:
        owner = owner or owner_url(settings)
        engine_kw.setdefault("pool_size", 10)
        engine_kw.setdefault("max_overflow", 10)
        engine_kw.setdefault("pool_pre_ping", False)
        url = app_url(owner, settings)
        engine = create_async_engine(url, **engine_kw)
        factory = async_sessionmaker(
            engine, expire_on_commit=False, sync_session_class=TenantScopedSession
        )
        side = create_async_engine(url, pool_size=2, max_overflow=3)
        return cls(
            settings=settings, owner=owner, engine=engine, sessionmaker=factory, side_engine=side
        )

    def session(self, tenant_id: uuid.UUID | None = None) -> AsyncSession:
        """A new session; with a tenant, every transaction in it is scoped to that tenant."""
        session = self.sessionmaker()
        session.info["database"] = self
        if tenant_id is not None:
            session.info["tenant_id"] = tenant_id
        return session

    @asynccontextmanager
    async def side_transaction(
        self, tenant_id: uuid.UUID | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """A short transaction on the side pool, committed on its own; as a tenant if given."""
        async with self.side_engine.begin() as connection:
            if tenant_id is not None:
                await connection.execute(SET_TENANT, {"tenant_id": str(tenant_id)})
            yield connection

    @asynccontextmanager
    async def tenant_transaction(self, tenant_id: uuid.UUID) -> AsyncIterator[AsyncSession]:
        """One transaction as ``tenant_id``: committed on success, rolled back on error."""
        async with self.session(tenant_id) as session, session.begin():
            yield session

    @asynccontextmanager
    async def global_transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction with no tenant: global tables only, tenant tables show nothing."""
        async with self.session() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
        await self.side_engine.dispose()

    @staticmethod
    def of(session: AsyncSession) -> Database:
        """The database a session was made by (every session comes from ``Database.session``)."""
        return session.info["database"]


def owner_engine(url: URL, **kw: Any) -> AsyncEngine:
    return create_async_engine(url, **kw)


async def _as_owner_outside_transaction(server: URL, statement: str) -> None:
    engine = owner_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def create_database(server: URL, name: str, template: str | None = None) -> URL:
    """Create database ``name`` on ``server`` as the owner, empty or a copy of ``template``.

    A copy is made file by file (``STRATEGY FILE_COPY``): for the small, freshly
    migrated templates tests and benchmarks clone, that is the fast way.
    """
    clause = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    await _as_owner_outside_transaction(server, f'CREATE DATABASE "{name}"{clause}')
    return server.set(database=name)


async def drop_database(server: URL, name: str) -> None:
    """Drop database ``name`` on ``server``, disconnecting whoever is still in it."""
    await _as_owner_outside_transaction(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def ensure_app_role(owner: URL, settings: Settings) -> None:
    """Create (or correct) the run-time role and grant it what the app needs and no more.

    Refuses an owner that would be subject to RLS (neither superuser nor
    BYPASSRLS), and an app role that would not be (superuser or BYPASSRLS).
    """
    role = settings.app_db_role
    if not _IDENTIFIER.match(role):
        raise ValueError(f"ATRIUM_APP_DB_ROLE must be a plain lower-case identifier: {role!r}")
    password = settings.app_role_password.replace("'", "''")
    engine = owner_engine(owner)
    try:
        async with engine.begin() as conn:
            me = (
                await conn.execute(
                    text(
                        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
                    )
                )
            ).scalar_one()
            if not me:
                raise RuntimeError(
                    "The migration owner must be a superuser or have BYPASSRLS: "
                    "the outbox dispatcher's functions run with its rights."
                )
            existing = (
                await conn.execute(
                    text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
                    {"r": role},
                )
            ).first()
            if existing is None:
                await conn.execute(
                    text(
                        f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER "
                        "NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT"
                    )
                )
            elif existing.rolsuper or existing.rolbypassrls:
                raise RuntimeError(
                    f"Role {role} is a superuser or has BYPASSRLS; row-level security "
                    "would not apply to it. Use another ATRIUM_APP_DB_ROLE."
                )
            else:
                await conn.execute(text(f"ALTER ROLE {role} PASSWORD '{password}'"))
            database = owner.database
            await conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
            for statement in (
                f"GRANT USAGE ON SCHEMA public TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
                f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {role}",
                # Alembic's bookkeeping is the owner's: the app only reads it (health check).
                f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {role}",
            ):
                await conn.execute(text(statement))
            # Tables the models declare append-only (the audit log) lose UPDATE and DELETE.
            for table in append_only_tables():
                if (await conn.execute(text(f"SELECT to_regclass('{table}')"))).scalar():
                    await conn.execute(
                        text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {role}")
                    )
    finally:
        await engine.dispose()


def append_only_tables() -> list[str]:
    return sorted(t.name for t in Base.metadata.tables.values() if t.info.get(APPEND_ONLY_KEY))
