"""Prebuilt statements on hot paths (core.reads): a TenantStatement carries its own tenant
criterion, so the session adds none, and still sees only its tenant; write_now and
insert_now write at once, in the session's tenant, and leave the unit of work nothing to
flush. Row-level security stays behind all three."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select

from core.db import Database
from core.reads import TenantStatement, insert_now, write_now
from tests.sample_module.models import SampleNote
from tests.sample_module.services import NoteService

BY_TITLE = TenantStatement(
    SampleNote, select(SampleNote).where(SampleNote.title == bindparam("wanted"))
)


async def test_a_tenant_statement_sees_only_the_sessions_tenant(db: Database, make_tenant) -> None:
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
        await write_now(session, note, title="final", body="checked")
        assert note.title == "final"  # the object is kept as written...
        assert not session.dirty  # ...and the unit of work has nothing for it
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
