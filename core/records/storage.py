"""Where attachment bytes live: a small store interface and its local-disk implementation.

Rows in the database name files by an opaque *key* (``attachments/<tenant>/<uuid>``);
the bytes live in a :class:`FileStore`. :class:`LocalFileStore` keeps them under
``DATA_DIR/files``; an S3-compatible store implements the same five methods
(``put`` is one PutObject, ``keys`` one ListObjectsV2 over a prefix) and
:func:`file_store` is the one place that would choose it.

Keys are made by the code that stores the file, never from a client's file name,
and a store refuses any key that is not a plain relative path of safe segments.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from core.orm import uuid7
from core.settings import Settings

CHUNK_SIZE = 256 * 1024
# Segments of lower-case letters, digits, '-' and '_', never starting with a dot: no "..",
# no absolute paths, no hidden files (a store's temporary files start with a dot).
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}(/[a-z0-9][a-z0-9_-]{0,79}){0,7}$")


def check_key(key: str) -> str:
    """Refuse a key that is not a plain relative path (programming error, not user input)."""
    if not _KEY.match(key):
        raise ValueError(f"Not a valid storage key: {key!r}")
    return key


class FileStore(Protocol):
    """Bytes by opaque key. Writes are atomic: a reader sees the whole file or none."""

    async def put(self, key: str, source: BinaryIO) -> None:
        """Store everything ``source`` yields from its current position under ``key``."""

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """The stored bytes in chunks; raises ``FileNotFoundError`` for an unknown key."""

    async def delete(self, key: str) -> None:
        """Remove the file; a key that is already gone is not an error."""

    async def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str, written_before: datetime) -> AsyncIterator[str]:
        """Keys under ``prefix/`` written before the given time (for sweeping orphans)."""


class LocalFileStore:
    """Files under ``root``, one per key; written to a temporary file, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, source: BinaryIO) -> None:
        await asyncio.to_thread(self._write, self._path(key), source)

    @staticmethod
    def _write(path: Path, source: BinaryIO) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / f".{path.name}.{uuid7().hex}.tmp"
        try:
            with temporary.open("xb") as target:
                while chunk := source.read(CHUNK_SIZE):
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            os.replace(temporary, path)  # atomic on one file system: all or nothing
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def open(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self._path(key).open, "rb")
        return _chunks(handle)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def keys(self, prefix: str, written_before: datetime) -> AsyncIterator[str]:
        folder = self._path(prefix)
        cutoff = written_before.timestamp()
        paths = await asyncio.to_thread(
            lambda: [
                p
                for p in (folder.rglob("*") if folder.is_dir() else ())
                if p.is_file() and not p.name.startswith(".") and p.stat().st_mtime < cutoff
            ]
        )
        for path in sorted(paths):
            yield path.relative_to(self.root).as_posix()


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
            yield chunk
    finally:
        handle.close()


def file_store(settings: Settings) -> FileStore:
    """The store the app uses: local files under ``DATA_DIR/files`` (S3 would be chosen here)."""
    return LocalFileStore(settings.data_dir / "files")
