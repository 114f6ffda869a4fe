"""The export of a whole workspace: a zip of JSON and files, built by the worker.

A member with ``core.settings.manage`` asks for it (:func:`request_export`): a row in
``core_workspace_export`` (queued) and an :class:`ExportRequested` event in the same
transaction. At most one export is queued or running per workspace: a partial unique
index says so, so two requests at the same moment give one export and one 409.

The worker delivers the event to core's handler :func:`build_requested_export`, which
claims the row (``FOR UPDATE SKIP LOCKED``) and builds the zip:

- ``tables/<table>.json``: the rows of every tenant table the catalog lists (module
  tables too), read in one repeatable-read snapshot; decimals as strings, times ISO 8601,
  columns holding secrets' hashes (``*_hash``) left out;
- ``files/<key>``: the workspace's attachments and logo, under their storage keys;
- ``manifest.json``: the workspace, the time, each table's row count, the version.

Progress (``done`` of ``total``: a step per table, one for the files) is written after
each step in a short transaction of its own, so the settings page can show it while the
build runs. The zip is stored under ``exports/<tenant>/<export id>`` and can be
downloaded for :data:`KEEP_FOR`; core's nightly job removes older ones.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
import uuid
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import IO, Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.db import Database, add_unique
from core.errors import Conflict, NotFound
from core.events import Event, publish
from core.models import Tenant, WorkspaceExport
from core.records.storage import FileStore, file_store
from core.workspace.tables import MACHINERY, TenantTable, quote, tenant_tables

logger = logging.getLogger("atrium.export")

PREFIX = "exports"
FILE_PREFIXES = ("attachments", "logos")  # the workspace's own files (avatars are per user)
KEEP_FOR = timedelta(days=7)
STALE_AFTER = timedelta(minutes=10)  # a running export not heard from since: interrupted
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
REQUESTED = "core.workspace.export_requested"
SUBJECT = "core.workspace_export"
FORMAT = 1
ROWS_PER_FETCH = 500


class ExportRequested(Event, frozen=True, kw_only=True):
    """A workspace export was asked for; core's handler builds it."""

    type_name = "core.workspace_export_requested.v1"
    export_id: uuid.UUID


class ExportBusy(Exception):
    """Another worker is building this export right now: try again later (not a failure)."""


def atrium_version() -> str:
    try:
        return version("atrium")
    except PackageNotFoundError:
        return "unknown"


# --- asking for one ------------------------------------------------------------------


# An export whose worker went silent (killed, crashed) frees its workspace's slot.
_FAIL_STALE = text(
    """
    UPDATE core_workspace_export
       SET status = 'failed', error = 'interrupted', finished_at = now()
     WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)
    """
)


async def request_export(session: AsyncSession, *, actor_id: uuid.UUID) -> WorkspaceExport:
    """Queue an export of the session's workspace; :class:`Conflict` if one is under way."""
    await session.execute(_FAIL_STALE, {"stale": STALE_AFTER.total_seconds()})
    row = WorkspaceExport(requested_by=actor_id, status=QUEUED, done=0, total=0)
    if not await add_unique(session, row):
        raise Conflict("An export of this workspace is already being prepared.")
    await publish(session, ExportRequested(export_id=row.id))
    await audit.record(
        session, REQUESTED, actor_id=actor_id, subject_type=SUBJECT, subject_id=row.id
    )
    return row


async def latest_export(session: AsyncSession) -> WorkspaceExport | None:
    return await session.scalar(
        select(WorkspaceExport).order_by(WorkspaceExport.id.desc()).limit(1)
    )


async def export_by_id(session: AsyncSession, export_id: uuid.UUID) -> WorkspaceExport | None:
    return await session.scalar(select(WorkspaceExport).where(WorkspaceExport.id == export_id))


def is_downloadable(row: WorkspaceExport | None, now: datetime) -> bool:
    """Finished, stored and not expired."""
    return (
        row is not None
        and row.status == DONE
        and row.file_key is not None
        and (row.expires_at is None or row.expires_at > now)
    )


async def downloadable(session: AsyncSession, export_id: uuid.UUID) -> WorkspaceExport:
    """A finished export that has not expired; :class:`NotFound` otherwise."""
    row = await export_by_id(session, export_id)
    if row is None or not is_downloadable(row, datetime.now(UTC)):
        raise NotFound("This export is not available (any more).")
    return row


# --- building it (the worker) --------------------------------------------------------------

_CLAIM = text(
    """
    UPDATE core_workspace_export
       SET status = 'running', heartbeat_at = now(), done = 0, total = :total, error = NULL
     WHERE id = (SELECT id FROM core_workspace_export
                  WHERE id = :id AND (status = 'queued' OR (status = 'running'
                        AND heartbeat_at < now() - make_interval(secs => :stale)))
                  FOR UPDATE SKIP LOCKED)
    RETURNING id
    """
)
_PROGRESS = text(
    "UPDATE core_workspace_export SET done = :done, heartbeat_at = now() "
    "WHERE id = :id AND status = 'running'"
)
_FINISH = text(
    """
    UPDATE core_workspace_export
       SET status = 'done', done = total, file_key = :key, size = :size, finished_at = now(),
           expires_at = now() + make_interval(secs => :keep), heartbeat_at = now()
     WHERE id = :id AND status = 'running'
    """
)
_FAIL = text(
    "UPDATE core_workspace_export SET status = 'failed', error = :error, finished_at = now() "
    "WHERE id = :id AND status IN ('queued', 'running')"
)


async def build_requested_export(
    session: AsyncSession, ctx: TenantContext, event: ExportRequested
) -> None:
    """Core's handler of :class:`ExportRequested`: build the zip (progress committed as it goes)."""
    db = Database.of(session)
    await build_export(db, file_store(db.settings), ctx.tenant_id, event.export_id)


async def build_export(
    db: Database, store: FileStore, tenant_id: uuid.UUID, export_id: uuid.UUID
) -> bool:
    """Build one export if it is still to be built; True when this call built it.

    Raises :class:`ExportBusy` while another worker is building it (the event is retried).
    A failure is recorded on the row for the page to show and does not raise: asking again
    is the user's choice, not the queue's.
    """
    async with db.tenant_transaction(tenant_id) as session:
        tables = [t for t in await tenant_tables(session) if t.name not in MACHINERY]
        claimed = await session.scalar(
            _CLAIM,
            {"id": export_id, "total": len(tables) + 1, "stale": STALE_AFTER.total_seconds()},
        )
        if claimed is None:
            row = await export_by_id(session, export_id)
            if row is not None and row.status == RUNNING:
                raise ExportBusy(f"export {export_id} is being built by another worker")
            return False  # done, failed or gone
    try:
        with tempfile.TemporaryFile() as spool:
            await _write_zip(db, store, tenant_id, export_id, tables, spool)
            size = spool.tell()
            spool.seek(0)
            key = f"{PREFIX}/{tenant_id}/{export_id}"
            await store.put(key, spool)
        async with db.tenant_transaction(tenant_id) as session:
            await session.execute(
                _FINISH,
                {"id": export_id, "key": key, "size": size, "keep": KEEP_FOR.total_seconds()},
            )
    except Exception as exc:
        logger.exception("export %s of tenant %s failed", export_id, tenant_id)
        async with db.tenant_transaction(tenant_id) as session:
            await session.execute(_FAIL, {"id": export_id, "error": str(exc)[:2000] or repr(exc)})
        return False
    return True


async def _write_zip(
    db: Database,
    store: FileStore,
    tenant_id: uuid.UUID,
    export_id: uuid.UUID,
    tables: list[TenantTable],
    target: IO[bytes],
) -> None:
    counts: dict[str, int] = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # One snapshot for every table, so rows that reference each other agree (the
        # session's first use begins its transaction at that isolation level).
        async with db.session(tenant_id) as reading:
            await reading.connection(
                execution_options={
                    "isolation_level": "REPEATABLE READ",
                    "postgresql_readonly": True,
                }
            )
            workspace = (
                await reading.execute(
                    select(Tenant.slug, Tenant.name).where(Tenant.id == tenant_id)
                )
            ).one()
            for step, table in enumerate(tables, start=1):
                counts[table.name] = await _write_table(reading, archive, tenant_id, table)
                await _progress(db, tenant_id, export_id, step)
            await reading.rollback()  # read only: nothing to commit
        files = 0
        for prefix in FILE_PREFIXES:
            async for key in store.keys(
                f"{prefix}/{tenant_id}", datetime.now(UTC) + timedelta(days=1)
            ):
                with archive.open(f"files/{key}", "w") as member:
                    async for chunk in await store.open(key):
                        member.write(chunk)
                files += 1
        await _progress(db, tenant_id, export_id, len(tables) + 1)
        manifest = {
            "format": FORMAT,
            "atrium_version": atrium_version(),
            "exported_at": datetime.now(UTC).isoformat(),
            "workspace": {"id": str(tenant_id), "slug": workspace.slug, "name": workspace.name},
            "tables": counts,
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))


def exported_columns(table: TenantTable) -> list[str]:
    """The columns written out: all but hashes of secrets (API tokens, invitation links)."""
    return [c for c in table.columns if not c.endswith("_hash")]


async def _write_table(
    session: AsyncSession, archive: zipfile.ZipFile, tenant_id: uuid.UUID, table: TenantTable
) -> int:
    columns = exported_columns(table)
    order = ", ".join(quote(c) for c in table.key) or "1"
    statement = text(
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} "
        f"WHERE tenant_id = :tenant_id ORDER BY {order}"
    )
    count = 0
    with archive.open(f"tables/{table.name}.json", "w") as member:
        member.write(b"[")
        result = await session.stream(statement, {"tenant_id": tenant_id})
        async for rows in result.partitions(ROWS_PER_FETCH):
            for row in rows:
                member.write(b",\n" if count else b"\n")
                record = dict(zip(columns, row, strict=True))
                member.write(json.dumps(record, default=json_value, ensure_ascii=False).encode())
                count += 1
        member.write(b"\n]\n")
    return count


def json_value(value: Any) -> Any:
    """What JSON has no type for: decimals as strings (exact), times ISO 8601, bytes base64."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, timedelta):
        return value.total_seconds()
    raise TypeError(f"Cannot export a {type(value).__name__}")


async def _progress(db: Database, tenant_id: uuid.UUID, export_id: uuid.UUID, done: int) -> None:
    async with db.tenant_transaction(tenant_id) as session:
        await session.execute(_PROGRESS, {"id": export_id, "done": done})


# --- the nightly sweep --------------------------------------------------------------------------


async def sweep_exports(session: AsyncSession, store: FileStore, now: datetime) -> int:
    """Remove the workspace's expired exports (file and row); returns how many."""
    expired = list(
        await session.scalars(
            select(WorkspaceExport).where(
                WorkspaceExport.expires_at.is_not(None), WorkspaceExport.expires_at <= now
            )
        )
    )
    for row in expired:
        if row.file_key:
            await store.delete(row.file_key)
    if expired:
        await session.execute(
            delete(WorkspaceExport).where(WorkspaceExport.id.in_([r.id for r in expired]))
        )
    await session.execute(_FAIL_STALE, {"stale": STALE_AFTER.total_seconds()})
    return len(expired)


async def cancel_exports(session: AsyncSession, reason: str) -> None:
    """Fail the exports under way (the workspace is being deleted)."""
    await session.execute(
        text(
            "UPDATE core_workspace_export SET status = 'failed', error = :error, "
            "finished_at = now() WHERE status IN ('queued', 'running')"
        ),
        {"error": reason},
    )
