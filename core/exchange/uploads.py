"""Spreadsheets kept between the steps of an import in the browser.

The import pages (:mod:`core.exchange.views`) read the file once, when it is
uploaded, and then show the mapping, the dry run and the import over several
requests. Rather than asking for the file again at every step, the bytes are
kept in the tenant's file store (:mod:`core.records.storage`) under
``imports/<tenant id>/<user id>/<upload id>``; no table is involved.

- The key is built from the request's workspace and member, never taken
  from the client: the client only names the upload id, so an upload is
  reachable by the member who made it, in the workspace where they made it,
  and by no one else (another workspace or member gets "not found").
- An import that went in discards its file; :func:`sweep` deletes files left
  by imports never finished, once they are :data:`KEEP_FOR` old (core's
  nightly ``orphan_files`` job calls it for every workspace).
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta

from core.errors import NotFound
from core.orm import uuid7
from core.records.storage import FileStore

PREFIX = "imports"
KEEP_FOR = timedelta(days=1)


def _key(tenant_id: uuid.UUID, user_id: uuid.UUID, upload_id: uuid.UUID) -> str:
    return f"{PREFIX}/{tenant_id}/{user_id}/{upload_id}"


async def keep(
    store: FileStore, tenant_id: uuid.UUID, user_id: uuid.UUID, data: bytes
) -> uuid.UUID:
    """Store an uploaded file for the member's next steps; the id names it in their URLs."""
    upload_id = uuid7()
    await store.put(_key(tenant_id, user_id, upload_id), io.BytesIO(data))
    return upload_id


async def load(
    store: FileStore, tenant_id: uuid.UUID, user_id: uuid.UUID, upload_id: uuid.UUID
) -> bytes:
    """The file the member uploaded here; :class:`NotFound` if it is gone (or not theirs)."""
    try:
        chunks = await store.open(_key(tenant_id, user_id, upload_id))
    except FileNotFoundError:
        raise NotFound("This file is no longer kept; upload it again.") from None
    return b"".join([chunk async for chunk in chunks])


async def discard(
    store: FileStore, tenant_id: uuid.UUID, user_id: uuid.UUID, upload_id: uuid.UUID
) -> None:
    await store.delete(_key(tenant_id, user_id, upload_id))


async def sweep(
    store: FileStore, tenant_id: uuid.UUID, now: datetime, keep_for: timedelta = KEEP_FOR
) -> int:
    """Delete the workspace's uploads written more than ``keep_for`` before ``now``."""
    stale = [key async for key in store.keys(f"{PREFIX}/{tenant_id}", now - keep_for)]
    for key in stale:
        await store.delete(key)
    return len(stale)
