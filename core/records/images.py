"""A picture kept on a row (a user's avatar, a workspace's logo): checked, stored, replaced.

The row holds only the file's key. An image is judged by its bytes
(:func:`core.records.attachments.checked_file`) and stored under a key of its
owner's prefix before the row points at it. The previous file is deleted once
the new key is written (flushed, under a row lock): a commit that failed after
that would leave the owner without a picture (404, never someone else's), and
an upload whose transaction rolled back leaves its file under the owner's own
prefix. Since nothing but the key is kept, the type served is read from the
stored bytes again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession

from core.orm import uuid7
from core.records.attachments import AttachmentLimits, checked_file, detect_kind
from core.records.storage import FileStore


async def replace_image(
    session: AsyncSession,
    store: FileStore,
    row: Any,
    attribute: str,
    prefix: str,
    file_name: str,
    data: bytes | BinaryIO,
    limits: AttachmentLimits,
) -> str:
    """Check and store an image under ``prefix/<uuid>``, point ``row.<attribute>`` at it and
    delete the previous file; returns the new key. A refused file leaves nothing stored."""
    async with checked_file(data, file_name, None, limits) as checked:
        key = f"{prefix}/{uuid7().hex}"
        await store.put(key, checked.file)
    try:
        previous = await _lock(session, row, attribute)
        setattr(row, attribute, key)
        await session.flush()
    except BaseException:
        await store.delete(key)
        raise
    if previous is not None:
        await store.delete(previous)
    return key


async def remove_image(session: AsyncSession, store: FileStore, row: Any, attribute: str) -> bool:
    """No picture any more; its file is deleted. False when there was none."""
    previous = await _lock(session, row, attribute)
    if previous is None:
        return False
    setattr(row, attribute, None)
    await session.flush()
    await store.delete(previous)
    return True


async def _lock(session: AsyncSession, row: Any, attribute: str) -> str | None:
    """The row's key, read under a row lock: two uploads at once replace each other in
    turn, and neither deletes a file the other still points at."""
    await session.refresh(row, attribute_names=[attribute], with_for_update=True)
    return getattr(row, attribute)


async def open_image(
    store: FileStore, key: str | None, limits: AttachmentLimits
) -> tuple[str, AsyncIterator[bytes]] | None:
    """The image's content type and its bytes in chunks; None when there is none (no key,
    a file gone, or bytes that are not an image ``limits`` allows)."""
    if key is None:
        return None
    try:
        chunks = await store.open(key)
    except FileNotFoundError:
        return None
    first = await anext(chunks, b"")
    kind = detect_kind(first)
    if kind is None or kind.key not in limits.allowed:
        await chunks.aclose()  # type: ignore[attr-defined]
        return None
    return kind.content_type, _prepend(first, chunks)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
