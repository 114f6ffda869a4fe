"""Attachments on any record: files checked for size and type, kept in a file store.

The type of a file is read from its bytes (magic numbers; for Office files, the
parts inside the zip; for text, that it decodes), never taken from the name or
the declared content type alone. A name or declared type that says otherwise
(an ``.exe`` renamed ``.pdf``, a PNG sent as ``image/jpeg``) is refused, and the
stored content type is the detected one.

An upload is read once into a spooled temporary file (in memory up to
:data:`SPOOL_IN_MEMORY`, then on disk), counted, hashed and checked there, so a
refused file never reaches the store or the database. It is stored before its
row is written; if the row cannot be written the file is deleted at once.

Files are never deleted in the request. :func:`delete_attachment` removes the
row; the file becomes an orphan, like the file of an upload whose transaction
rolled back after it was stored. :func:`sweep_orphan_files`, run per tenant by a
scheduled job (as Odoo's file store garbage collection does), deletes stored
files that no row names. Keys are ``attachments/<tenant id>/<uuid>``, so one
tenant's files are one prefix (for the sweep, an export or the tenant's deletion).

The module that owns the record checks that the actor may see it (and change
it) before calling these functions; here a record is only an address.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import hashlib
import io
import tempfile
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, TenantMismatchError, ValidationFailed
from core.orm import uuid7
from core.records.models import Attachment, check_record_type
from core.records.storage import CHUNK_SIZE, FileStore

KIB = 1024
MIB = 1024 * KIB
SPOOL_IN_MEMORY = 1 * MIB
MAX_FILE_NAME = 255
ORPHAN_GRACE = timedelta(hours=1)  # far longer than any upload's transaction
_SWEEP_BATCH = 500


@dataclass(frozen=True, slots=True)
class FileKind:
    key: str
    label: str  # a format's own name (PDF, XLSX), the same in every language
    content_type: str
    extensions: tuple[str, ...]  # the first is added to a name that lacks it


KINDS = {
    kind.key: kind
    for kind in (
        FileKind("pdf", "PDF", "application/pdf", (".pdf",)),
        FileKind("png", "PNG", "image/png", (".png",)),
        FileKind("jpeg", "JPEG", "image/jpeg", (".jpg", ".jpeg")),
        FileKind("gif", "GIF", "image/gif", (".gif",)),
        FileKind("webp", "WebP", "image/webp", (".webp",)),
        FileKind(
            "docx",
            "DOCX",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            (".docx",),
        ),
        FileKind(
            "xlsx",
            "XLSX",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            (".xlsx",),
        ),
        FileKind(
            "pptx",
            "PPTX",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            (".pptx",),
        ),
        FileKind("csv", "CSV", "text/csv", (".csv",)),
        FileKind("txt", "TXT", "text/plain", (".txt",)),
        FileKind("zip", "ZIP", "application/zip", (".zip",)),
    )
}
_TEXT = frozenset({"csv", "txt"})  # one content, told apart by name or declared type
# Content types browsers send for these kinds besides the standard ones.
_TYPE_ALIASES = {
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "application/x-zip-compressed": "zip",
    "application/csv": "csv",
    "text/comma-separated-values": "csv",
}
_DECLARED_TYPES = {kind.content_type: kind.key for kind in KINDS.values()} | _TYPE_ALIASES
_EXTENSIONS = {ext: kind.key for kind in KINDS.values() for ext in kind.extensions}
# Parts that make a zip an Office Open XML document, by the folder of its main part.
_OFFICE_FOLDERS = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
# Control characters other than tab, line feed, form feed and carriage return: not text.
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"
_TEXT_ENCODINGS = ("utf-8", "gb18030")  # gb18030: CSV saved by Excel on zh-CN Windows


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    """How large a file may be and which kinds are accepted (keys of :data:`KINDS`)."""

    max_bytes: int = 25 * MIB
    allowed: frozenset[str] = field(default_factory=lambda: frozenset(KINDS))


DEFAULT_LIMITS = AttachmentLimits()


def size_label(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB} MiB"
    if size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} B"


@dataclass(frozen=True, slots=True)
class _Sniffed:
    kind: str
    charset: str | None = None  # for text: the encoding it decodes in


def _spool(source: BinaryIO, max_bytes: int) -> tuple[BinaryIO, int, str]:
    """Copy ``source`` into a spooled file, refusing it past ``max_bytes``; size and SHA-256."""
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := source.read(CHUNK_SIZE):
            size += len(chunk)
            if size > max_bytes:
                raise ValidationFailed(
                    "A file may be at most {limit}.", limit=size_label(max_bytes)
                )
            digest.update(chunk)
            spooled.write(chunk)
        if size == 0:
            raise ValidationFailed("The file is empty.")
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return spooled, size, digest.hexdigest()


def _sniff(file: BinaryIO) -> _Sniffed | None:
    """The kind of file the bytes are, or None for anything we do not accept."""
    file.seek(0)
    head = file.read(16)
    if head.startswith(b"%PDF-"):
        return _Sniffed("pdf")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _Sniffed("png")
    if head.startswith(b"\xff\xd8\xff"):
        return _Sniffed("jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return _Sniffed("gif")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return _Sniffed("webp")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(file)
    return _sniff_text(file)


def _sniff_zip(file: BinaryIO) -> _Sniffed | None:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError):
        return None  # looks like a zip, is not one
    if "[Content_Types].xml" in names:
        for folder, kind in _OFFICE_FOLDERS:
            if any(name.startswith(folder) for name in names):
                return _Sniffed(kind)
    return _Sniffed("zip")


def _sniff_text(file: BinaryIO) -> _Sniffed | None:
    """Text: no control characters, and the whole file decodes as UTF-8 or GB18030."""
    file.seek(0)
    decoders = {name: codecs.getincrementaldecoder(name)() for name in _TEXT_ENCODINGS}
    while chunk := file.read(CHUNK_SIZE):
        if chunk != chunk.translate(None, _BINARY_BYTES):
            return None
        for name, decoder in list(decoders.items()):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                del decoders[name]
        if not decoders:
            return None
    for name, decoder in list(decoders.items()):
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            del decoders[name]
    charset = next((name for name in _TEXT_ENCODINGS if name in decoders), None)
    return None if charset is None else _Sniffed("txt", charset)


def _extension(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def _declared_kind(declared_type: str | None, file_name: str) -> str | None:
    """What the client says the file is: its content type if we know it, else its extension."""
    content_type = (declared_type or "").split(";", 1)[0].strip().lower()
    return _DECLARED_TYPES.get(content_type) or _EXTENSIONS.get(_extension(file_name))


def display_name(file_name: str, kind: FileKind) -> str:
    """The client's file name without any path, control or invisible characters, ending in
    an extension of its kind, at most 255 characters. Shown to people, never used as a path.
    """
    name = file_name.replace("\\", "/").rsplit("/", 1)[-1]
    # Cf includes the bidirectional overrides that make "invoice\u202egpj.exe" look like a .jpg.
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf"))
    name = name.strip(" .") or "file"
    ext = _extension(name)
    if ext not in kind.extensions:
        name, ext = f"{name}{kind.extensions[0]}", kind.extensions[0]
    if len(name) > MAX_FILE_NAME:
        name = name[: MAX_FILE_NAME - len(ext)] + ext
    return name


def _check_kind(
    sniffed: _Sniffed | None, declared: str | None, limits: AttachmentLimits
) -> FileKind:
    allowed = ", ".join(k.label for k in KINDS.values() if k.key in limits.allowed)
    if sniffed is None:
        raise ValidationFailed(
            "Files of this type cannot be attached. Allowed types: {allowed}.", allowed=allowed
        )
    kind = sniffed.kind
    if kind in _TEXT and declared in _TEXT:
        kind = declared  # a CSV and a text file have the same bytes; the name decides
    if declared is not None and declared != kind:
        raise ValidationFailed(
            "The file's content is {actual}, but its name or type says {declared}.",
            actual=KINDS[kind].label,
            declared=KINDS[declared].label,
        )
    if kind not in limits.allowed:
        raise ValidationFailed(
            "Files of this type cannot be attached. Allowed types: {allowed}.", allowed=allowed
        )
    return KINDS[kind]


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """An upload that passed the size and type checks, spooled and ready to store."""

    file: BinaryIO  # at its start; closed when the ``checked_file`` block ends
    kind: FileKind
    content_type: str  # the detected type (with the charset, for text)
    size: int
    sha256: str


@contextlib.asynccontextmanager
async def checked_file(
    data: bytes | BinaryIO,
    file_name: str,
    declared_type: str | None,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> AsyncIterator[CheckedFile]:
    """Read ``data`` once, refuse it past the size limit, by its bytes (or a name or
    declared type that says otherwise), or of a kind ``limits`` does not allow; else yield
    it for storing. Anything that keeps files (attachments, avatars) checks them here."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    spooled, size, sha256 = await asyncio.to_thread(_spool, source, limits.max_bytes)
    with spooled:
        sniffed = await asyncio.to_thread(_sniff, spooled)
        kind = _check_kind(sniffed, _declared_kind(declared_type, file_name), limits)
        content_type = kind.content_type
        if sniffed is not None and sniffed.charset is not None:
            content_type = f"{content_type}; charset={sniffed.charset}"
        spooled.seek(0)
        yield CheckedFile(spooled, kind, content_type, size, sha256)


def detect_kind(head: bytes) -> FileKind | None:
    """The kind of a binary file (PDF, an image) from its first bytes, for a file stored
    without its type; None if they name no kind we know (text and zips need the whole file)."""
    sniffed = _sniff(io.BytesIO(head[:16]))
    return KINDS[sniffed.kind] if sniffed is not None and sniffed.kind not in _TEXT else None


def _tenant_of(session: AsyncSession) -> uuid.UUID:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("Attachments are kept inside a tenant's transaction")
    return tenant_id


async def attach(
    session: AsyncSession,
    store: FileStore,
    record_type: str,
    record_id: uuid.UUID,
    file_name: str,
    data: bytes | BinaryIO,
    declared_type: str | None,
    user_id: uuid.UUID | None,
    limits: AttachmentLimits = DEFAULT_LIMITS,
) -> Attachment:
    """Check and store a file, and attach it to the record, in the session's transaction.

    ``data`` is the content or a binary stream read from its current position.
    ``user_id`` None means the system attached it (a generated document).
    """
    tenant_id = _tenant_of(session)
    check_record_type(record_type)
    async with checked_file(data, file_name, declared_type, limits) as checked:
        key = f"attachments/{tenant_id}/{uuid7().hex}"
        await store.put(key, checked.file)
    attachment = Attachment(
        record_type=record_type,
        record_id=record_id,
        file_name=display_name(file_name, checked.kind),
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
        storage_key=key,
        uploaded_by=user_id,
    )
    try:
        session.add(attachment)
        await session.flush()
    except BaseException:
        await store.delete(key)
        raise
    return attachment


async def list_attachments(
    session: AsyncSession, record_type: str, record_id: uuid.UUID
) -> list[Attachment]:
    """The record's attachments, newest first."""
    check_record_type(record_type)
    query = (
        select(Attachment)
        .where(Attachment.record_type == record_type, Attachment.record_id == record_id)
        .order_by(Attachment.id.desc())
    )
    return list(await session.scalars(query))


async def get_attachment(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment:
    attachment = await session.scalar(select(Attachment).where(Attachment.id == attachment_id))
    if attachment is None:
        raise NotFound("No attachment {id}.", id=str(attachment_id))
    return attachment


async def open_attachment(
    session: AsyncSession, store: FileStore, attachment_id: uuid.UUID
) -> tuple[Attachment, AsyncIterator[bytes]]:
    """The attachment and its bytes in chunks (serve with its content type and file name)."""
    attachment = await get_attachment(session, attachment_id)
    try:
        chunks = await store.open(attachment.storage_key)
    except FileNotFoundError:
        raise NotFound(
            "The file {name} is missing from storage.", name=attachment.file_name
        ) from None
    return attachment, chunks


async def delete_attachment(session: AsyncSession, attachment_id: uuid.UUID) -> None:
    """Remove the attachment; its file is left for :func:`sweep_orphan_files`."""
    await session.delete(await get_attachment(session, attachment_id))
    await session.flush()


async def sweep_orphan_files(
    session: AsyncSession, store: FileStore, now: datetime, grace: timedelta = ORPHAN_GRACE
) -> int:
    """Delete the tenant's stored files that no attachment names; return how many.

    Files written within ``grace`` of ``now`` are left alone: their upload's
    transaction may not have committed yet. Run it as a per-tenant scheduled job.
    """
    prefix = f"attachments/{_tenant_of(session)}"
    deleted = 0
    batch: list[str] = []
    async for key in store.keys(prefix, now - grace):
        batch.append(key)
        if len(batch) == _SWEEP_BATCH:
            deleted += await _delete_unnamed(session, store, batch)
            batch = []
    if batch:
        deleted += await _delete_unnamed(session, store, batch)
    return deleted


async def _delete_unnamed(session: AsyncSession, store: FileStore, keys: list[str]) -> int:
    named = set(
        await session.scalars(
            select(Attachment.storage_key).where(Attachment.storage_key.in_(keys))
        )
    )
    orphans = [key for key in keys if key not in named]
    for key in orphans:
        await store.delete(key)
    return len(orphans)
