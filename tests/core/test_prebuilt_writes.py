"""Prebuilt statements on hot paths (core.reads): TenantObjects reads rows as persistent
objects, in the session's tenant only, without the ORM's loading; write_now and insert_now
write at once, in the session's tenant, and leave the unit of work nothing to flush.
Row-level security stays behind all three."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, func, inspect, select

from core.db import Database
from core.reads import TenantObjects, insert_now, write_now
from tests.sample_module.models import SampleNote, SampleTag
from tests.sample_module.services import NoteService

NOTES, TAGS = SampleNote.__table__, SampleTag.__table__
BY_TITLE = TenantObjects(
    (SampleNote,), select(NOTES).where(NOTES.c.title == bindparam("wanted")).with_for_update()
)
TAG_WITH_NOTE = TenantObjects(
    (SampleTag, SampleNote),
    select(TAGS, NOTES)
    .join(NOTES, (NOTES.c.tenant_id == TAGS.c.tenant_id) & (NOTES.c.id == TAGS.c.note_id))
    .where(TAGS.c.label == bindparam("label")),
)


async def test_tenant_objects_see_only_the_sessions_tenant(db: Database, make_tenant) -> None:
    alpha = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    bravo = await make_tenant("bravo", "sample", owner_email="owner@bravo.test")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        made = await NoteService(session).create("shared title")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        found = await BY_TITLE.scalar(session, wanted="shared title")
        assert found is not None
        assert found.id == made.id
    async with db.tenant_transaction(bravo.tenant_id) as session:
        assert await BY_TITLE.scalar(session, wanted="shared title") is None


async def test_tenant_objects_are_persistent_and_refresh_what_the_session_holds(
    db: Database, make_tenant
) -> None:
    alpha = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        note = SampleNote(title="with a tag", body="first")
        session.add(note)
        await session.flush()
        session.add(SampleTag(note_id=note.id, label="red"))
    async with db.tenant_transaction(alpha.tenant_id) as session:
        tag, read = await TAG_WITH_NOTE.first(session, label="red")
        assert (tag.label, tag.note_id, read.title, read.body) == (
            "red",
            note.id,
            "with a tag",
            "first",
        )
        assert inspect(read).persistent
        assert not session.dirty
        read.body = "changed"  # the unit of work sees a change on the object read
        await session.flush()
        held = await session.get(SampleNote, (alpha.tenant_id, note.id))
        assert held is read  # one object per identity
        await session.execute(
            NOTES.update().where(NOTES.c.id == note.id).values(body="behind its back")
        )
        again = await BY_TITLE.scalar(session, wanted="with a tag")
        assert again is read  # refreshed, as a query would load it
        assert read.body == "behind its back"
        assert not session.dirty
        read.body = "pending"  # not flushed: the read flushes it first, as a query would
        assert (await BY_TITLE.scalar(session, wanted="with a tag")).body == "pending"
        assert not inspect(read).modified
    async with db.tenant_transaction(alpha.tenant_id) as session:
        assert await session.scalar(select(SampleNote.body)) == "pending"


def test_tenant_objects_refuse_a_select_that_is_not_their_tables() -> None:
    with pytest.raises(ValueError, match="every column"):
        TenantObjects((SampleNote,), select(NOTES.c.id, NOTES.c.title))


async def test_write_now_and_insert_now_write_at_once_with_nothing_left_to_flush(
    db: Database, make_tenant
) -> None:
    alpha = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    bravo = await make_tenant("bravo", "sample", owner_email="owner@bravo.test")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        note = await NoteService(session).create("draft")
    async with db.tenant_transaction(alpha.tenant_id) as session:
        note = await session.get(SampleNote, (alpha.tenant_id, note.id))
        assert note is not None
        note.body = "edited first"  # a change the write then covers
        await write_now(session, note, title="final", body="checked")
        assert note.title == "final"  # the object is kept as written...
        assert not session.dirty  # ...and the unit of work has nothing for it
        assert not inspect(note).modified  # (nor does the flush at commit visit it)
        await insert_now(session, SampleNote, title="second", body="")
        stored = await session.execute(
            select(SampleNote.title, SampleNote.tenant_id)
            .where(SampleNote.title.in_(("final", "second")))
            .execution_options(populate_existing=True)
        )
        assert sorted(stored.all()) == [
            ("final", alpha.tenant_id),
            ("second", alpha.tenant_id),
        ]
    async with db.tenant_transaction(bravo.tenant_id) as session:
        await write_now(session, note, title="stolen")  # another workspace's row: untouched
        assert await session.scalar(select(func.count()).select_from(SampleNote)) == 0
    async with db.tenant_transaction(alpha.tenant_id) as session:
        titles = set(await session.scalars(select(SampleNote.title)))
        assert titles == {"final", "second"}
