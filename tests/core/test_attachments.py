"""Attachments: checked by their bytes, stored atomically on disk, scoped to their tenant."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.models import User
from core.records import attachments
from core.records.attachments import KINDS, MIB, AttachmentLimits, display_name
from core.records.storage import LocalFileStore, file_store
from core.settings import Settings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)
RECORD = ("core.party", uuid.UUID("01900000-0000-7000-8000-000000000001"))


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


DOCX = _zip(["[Content_Types].xml", "_rels/.rels", "word/document.xml"])
XLSX = _zip(["[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"])
ZIP = _zip(["notes.txt", "photos/one.png"])


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


@pytest.fixture
async def acme(make_tenant):
    return await make_tenant("acme-files")


@pytest.fixture
async def uploader(db: Database) -> uuid.UUID:
    async with db.global_transaction() as session:
        user = User(email="clerk@files.test", display_name="Clerk")
        session.add(user)
        await session.flush()
        return user.id


async def test_a_file_round_trips_with_its_checked_type_size_and_hash(
    db: Database, acme, store: LocalFileStore, uploader: uuid.UUID
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        attachment = await attachments.attach(
            session, store, *RECORD, "site photo.png", PNG, "image/png", uploader
        )
    assert attachment.content_type == "image/png"
    assert attachment.size == len(PNG)
    assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
    assert attachment.file_name == "site photo.png"
    assert attachment.uploaded_by == uploader
    assert attachment.storage_key.startswith(f"attachments/{acme.tenant_id}/")
    assert await store.exists(attachment.storage_key)

    async with db.tenant_transaction(acme.tenant_id) as session:
        listed = await attachments.list_attachments(session, *RECORD)
        assert [a.id for a in listed] == [attachment.id]
        found, chunks = await attachments.open_attachment(session, store, attachment.id)
        assert found.id == attachment.id
        assert b"".join([chunk async for chunk in chunks]) == PNG


async def test_a_stream_is_read_and_office_files_are_told_apart_by_their_parts(
    db: Database, acme, store: LocalFileStore
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        docx = await attachments.attach(
            session, store, *RECORD, "Offer.docx", io.BytesIO(DOCX), None, None
        )
        xlsx = await attachments.attach(
            session, store, *RECORD, "prices.xlsx", XLSX, "application/octet-stream", None
        )
        archive = await attachments.attach(
            session, store, *RECORD, "bundle.zip", ZIP, "application/x-zip-compressed", None
        )
        pdf = await attachments.attach(session, store, *RECORD, "scan", PDF, None, None)
    assert docx.content_type == KINDS["docx"].content_type
    assert docx.uploaded_by is None  # attached by the system
    assert xlsx.content_type == KINDS["xlsx"].content_type
    assert archive.content_type == "application/zip"
    assert (pdf.content_type, pdf.file_name) == ("application/pdf", "scan.pdf")


async def test_text_is_csv_or_plain_by_its_name_and_keeps_its_encoding(
    db: Database, acme, store: LocalFileStore
) -> None:
    excel_csv = "名称,数量\n螺丝,100\n".encode("gb18030")  # what Excel saves on zh-CN Windows
    async with db.tenant_transaction(acme.tenant_id) as session:
        csv = await attachments.attach(
            session, store, *RECORD, "stock.csv", excel_csv, "application/vnd.ms-excel", None
        )
        notes = await attachments.attach(
            session, store, *RECORD, "notes.md", b"# Notes\nfine\n", "text/markdown", None
        )
    assert csv.content_type == "text/csv; charset=gb18030"
    assert (notes.content_type, notes.file_name) == ("text/plain; charset=utf-8", "notes.md.txt")


@pytest.mark.parametrize(
    ("file_name", "data", "declared", "message"),
    [
        ("invoice.pdf", EXE, "application/pdf", "cannot be attached. Allowed types: PDF, PNG"),
        ("tool.exe", EXE, "application/x-msdownload", "cannot be attached"),
        ("photo.pdf", PNG, "application/pdf", "content is PNG, but its name or type says PDF"),
        ("photo.jpg", PNG, None, "content is PNG, but its name or type says JPEG"),
        ("report.docx", ZIP, None, "content is ZIP, but its name or type says DOCX"),
        ("broken.zip", b"PK\x03\x04 not really a zip", None, "cannot be attached"),
        ("data.csv", PDF, "text/csv", "content is PDF, but its name or type says CSV"),
        ("empty.txt", b"", "text/plain", "The file is empty."),
    ],
)
async def test_files_of_other_types_or_disguised_are_refused_and_nothing_is_kept(
    db: Database, acme, store: LocalFileStore, file_name, data, declared, message
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(ValidationFailed, match=message):
            await attachments.attach(session, store, *RECORD, file_name, data, declared, None)
        assert await attachments.list_attachments(session, *RECORD) == []
    assert _files(store.root) == []


async def test_size_and_type_limits_are_named_when_they_refuse(
    db: Database, acme, store: LocalFileStore
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        too_big = io.BytesIO(b"%PDF-" + bytes(25 * MIB))
        with pytest.raises(ValidationFailed, match="at most 25 MiB"):
            await attachments.attach(session, store, *RECORD, "big.pdf", too_big, None, None)
        images_only = AttachmentLimits(max_bytes=1024, allowed=frozenset({"png", "jpeg"}))
        with pytest.raises(ValidationFailed, match="at most 1 KiB"):
            await attachments.attach(session, store, *RECORD, "p.png", PNG, None, None, images_only)
        with pytest.raises(ValidationFailed, match=r"Allowed types: PNG, JPEG\.$"):
            await attachments.attach(session, store, *RECORD, "a.pdf", PDF, None, None, images_only)
        assert await attachments.list_attachments(session, *RECORD) == []
        small_png = PNG[:500]
        kept = await attachments.attach(
            session, store, *RECORD, "p.png", small_png, None, None, images_only
        )
        assert kept.size == 500
    assert _files(store.root) == [store.root / kept.storage_key]


async def test_a_record_type_must_name_a_module_and_a_record(
    db: Database, acme, store: LocalFileStore
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        for record_type in ("party", "Core.Party", "core.party; drop", "core.", "x" * 70 + ".a"):
            with pytest.raises(ValidationFailed, match=r"module\.record"):
                await attachments.attach(
                    session, store, record_type, RECORD[1], "a.png", PNG, None, None
                )
    assert _files(store.root) == []


def test_a_display_name_carries_no_path_no_hidden_characters_and_its_kind() -> None:
    png, jpeg = KINDS["png"], KINDS["jpeg"]
    assert display_name("../../etc/passwd", png) == "passwd.png"
    assert display_name("C:\\Users\\me\\Desktop\\plan.PNG", png) == "plan.PNG"
    assert display_name("invoice\u202egnp.exe", png) == "invoicegnp.exe.png"
    assert display_name("line\nbreak\x00.jpeg", jpeg) == "linebreak.jpeg"
    assert display_name(" .. ", png) == "file.png"
    long = display_name("a" * 300 + ".jpg", jpeg)
    assert len(long) == 255
    assert long.endswith("a.jpg")


async def test_another_tenant_sees_none_of_the_files(
    db: Database, acme, make_tenant, store: LocalFileStore
) -> None:
    other = await make_tenant("other-files")
    async with db.tenant_transaction(acme.tenant_id) as session:
        ours = await attachments.attach(session, store, *RECORD, "a.pdf", PDF, None, None)
    async with db.tenant_transaction(other.tenant_id) as session:
        assert await attachments.list_attachments(session, *RECORD) == []
        with pytest.raises(NotFound):
            await attachments.open_attachment(session, store, ours.id)
        with pytest.raises(NotFound):
            await attachments.delete_attachment(session, ours.id)
        later = datetime.now(UTC) + timedelta(days=1)
        assert await attachments.sweep_orphan_files(session, store, later) == 0
    assert await store.exists(ours.storage_key)


async def test_deleted_and_rolled_back_files_are_swept_after_the_grace_period(
    db: Database, acme, store: LocalFileStore
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        kept = await attachments.attach(session, store, *RECORD, "kept.pdf", PDF, None, None)
        gone = await attachments.attach(session, store, *RECORD, "gone.png", PNG, None, None)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await attachments.delete_attachment(session, gone.id)
        assert [a.id for a in await attachments.list_attachments(session, *RECORD)] == [kept.id]
    async with db.session(acme.tenant_id) as session:
        await session.begin()
        await attachments.attach(session, store, *RECORD, "lost.pdf", PDF, None, None)
        await session.rollback()  # the caller failed later: the row is gone, the file stays
    assert len(_files(store.root)) == 3

    async with db.tenant_transaction(acme.tenant_id) as session:
        # Within the grace period an upload may still be committing: nothing is touched.
        assert await attachments.sweep_orphan_files(session, store, datetime.now(UTC)) == 0
        later = datetime.now(UTC) + timedelta(hours=2)
        assert await attachments.sweep_orphan_files(session, store, later) == 2
        assert await attachments.sweep_orphan_files(session, store, later) == 0
    assert _files(store.root) == [store.root / kept.storage_key]
    assert not await store.exists(gone.storage_key)


async def test_a_missing_file_is_reported_not_crashed_on(
    db: Database, acme, store: LocalFileStore
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        attachment = await attachments.attach(session, store, *RECORD, "a.pdf", PDF, None, None)
    await store.delete(attachment.storage_key)
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(NotFound, match=r"a\.pdf is missing"):
            await attachments.open_attachment(session, store, attachment.id)


class _FailingStream(io.RawIOBase):
    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("the client went away")
        return b"x" * 1000


async def test_the_local_store_writes_atomically_and_refuses_unsafe_keys(
    tmp_path: Path, store: LocalFileStore
) -> None:
    await store.put("attachments/t1/a1", io.BytesIO(b"first"))
    await store.put("attachments/t1/a1", io.BytesIO(b"second"))  # replaced whole
    assert b"".join([c async for c in await store.open("attachments/t1/a1")]) == b"second"
    with pytest.raises(OSError, match="went away"):
        await store.put("attachments/t1/a2", _FailingStream())  # type: ignore[arg-type]
    assert _files(store.root) == [store.root / "attachments/t1/a1"]  # no partial, no temp file
    assert not await store.exists("attachments/t1/a2")
    with pytest.raises(FileNotFoundError):
        await store.open("attachments/t1/a2")
    await store.delete("attachments/t1/a2")  # already gone: fine
    for key in ("../escape", "/etc/passwd", "a/../b", "a/.hidden", "a//b", "A/B", "a\\b", ""):
        with pytest.raises(ValueError, match="Not a valid storage key"):
            await store.put(key, io.BytesIO(b"x"))
    assert _files(tmp_path) == [store.root / "attachments/t1/a1"]


def test_the_app_keeps_files_under_the_data_directory(tmp_path: Path) -> None:
    store = file_store(Settings(env="test", data_dir=tmp_path))
    assert isinstance(store, LocalFileStore)
    assert store.root == tmp_path / "files"
