"""Purging deleted workspaces once their grace period is over (a daily platform job).

A workspace its owner deleted (:mod:`tenants.deletion`) keeps everything until
``purge_after``. Then, per workspace:

1. its files are deleted (attachments, logo, import uploads, exports: every prefix is
   ``<prefix>/<tenant id>/``); files first, so a purge interrupted between the two steps
   is simply done again the next day, with nothing left unreachable;
2. ``core_purge_tenant`` deletes its rows from every tenant table the catalog lists,
   children before the tables they reference, and then its ``core_tenant`` row, in one
   transaction. The function runs as the owner: the audit log is append-only for the app
   role; it refuses a workspace that is not deleted or not yet due;
3. the purge is written to the global security log in that transaction, since the
   workspace's own audit log is gone with it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from core.db import Database
from core.models import SecurityEvent, Tenant
from core.records.storage import FileStore, file_store

logger = logging.getLogger("atrium.purge")

DELETED = "deleted"
PURGED = "core.workspace.purged"
FILE_PREFIXES = ("attachments", "logos", "imports", "exports")


async def purge_due_workspaces(db: Database, now: datetime) -> list[uuid.UUID]:
    """The platform job: purge every deleted workspace past its grace period."""
    return await purge_due(db, file_store(db.settings), now)


async def purge_due(db: Database, store: FileStore, now: datetime) -> list[uuid.UUID]:
    """Purge the workspaces deleted and due at ``now``; returns those purged. One failing
    is logged and left for the next run; the others go ahead."""
    async with db.global_transaction() as session:
        due = list(
            await session.scalars(
                select(Tenant.id).where(Tenant.status == DELETED, Tenant.purge_after <= now)
            )
        )
    purged = []
    for tenant_id in due:
        try:
            await purge_workspace(db, store, tenant_id)
        except Exception:
            logger.exception("purging workspace %s failed; the next run tries again", tenant_id)
        else:
            purged.append(tenant_id)
    return purged


async def delete_files(store: FileStore, tenant_id: uuid.UUID) -> int:
    """Delete every file the workspace has in the store; returns how many."""
    deleted = 0
    later = datetime.now(UTC) + timedelta(days=1)
    for prefix in FILE_PREFIXES:
        async for key in store.keys(f"{prefix}/{tenant_id}", later):
            await store.delete(key)
            deleted += 1
    return deleted


async def purge_workspace(db: Database, store: FileStore, tenant_id: uuid.UUID) -> dict[str, int]:
    """Remove one deleted, due workspace: files, rows, the workspace; returns rows per table."""
    async with db.global_transaction() as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            return {}
        slug, name = tenant.slug, tenant.name
    files = await delete_files(store, tenant_id)
    async with db.global_transaction() as session:
        rows = {
            r.table_name: r.deleted
            for r in await session.execute(
                text("SELECT table_name, deleted FROM core_purge_tenant(:tenant_id)"),
                {"tenant_id": tenant_id},
            )
        }
        session.add(
            SecurityEvent(
                action=PURGED,
                detail={
                    "tenant_id": str(tenant_id),
                    "slug": slug,
                    "name": name,
                    "files": files,
                    "rows": {table: n for table, n in rows.items() if n},
                },
            )
        )
    logger.info(
        "workspace %s (%s) purged: %d rows, %d files", slug, tenant_id, sum(rows.values()), files
    )
    return rows
