"""Two tenants, one database: the ORM and row-level security both keep them apart."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from core.db import Database, owner_engine
from core.errors import TenantMismatchError
from core.orm import TENANCY_KEY, Base, uuid7
from tests.sample_module.models import SampleNote, SampleTag
from tests.sample_module.services import NoteService


@pytest.fixture
async def two_tenants(db: Database, make_tenant):
    a = await make_tenant("alpha", "sample", owner_email="owner@alpha.test")
    b = await make_tenant("bravo", "sample", owner_email="owner@bravo.test")
    async with db.tenant_transaction(a.tenant_id) as session:
        for title in ("a-one", "a-two", "a-three"):
            await NoteService(session).create(title, tags=["x"])
    return a, b


async def test_orm_sees_only_its_tenant(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.tenant_transaction(b.tenant_id) as session:
        assert (await session.scalars(select(SampleNote))).all() == []
        assert await NoteService(session).count() == 0
    async with db.tenant_transaction(a.tenant_id) as session:
        query = select(SampleNote).order_by(SampleNote.id).options(selectinload(SampleNote.tags))
        notes = (await session.scalars(query)).all()
        assert [n.title for n in notes] == ["a-one", "a-two", "a-three"]
        assert [t.label for t in notes[0].tags] == ["x"]


async def test_prebuilt_reads_see_only_their_tenant(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.tenant_transaction(b.tenant_id) as session:
        assert await NoteService(session).page() == []
    async with db.tenant_transaction(a.tenant_id) as session:
        page = await NoteService(session).page(limit=2)
        assert [(n.title, n.tags) for n in page] == [("a-one", ["x"]), ("a-two", ["x"])]
        rest = await NoteService(session).page(after=page[-1].id)
        assert [n.title for n in rest] == ["a-three"]
    async with db.global_transaction() as session:
        with pytest.raises(TenantMismatchError):
            await NoteService(session).page()


async def test_prebuilt_reads_run_in_the_sessions_own_transaction(
    db: Database, two_tenants
) -> None:
    """The driver-level read sees the session's uncommitted rows, and nobody else does."""
    a, _b = two_tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        await NoteService(session).create("not yet committed", tags=["new"])
        titles = [n.title for n in await NoteService(session).page()]
        assert "not yet committed" in titles
        async with db.tenant_transaction(a.tenant_id) as other:
            assert "not yet committed" not in [n.title for n in await NoteService(other).page()]
        await session.rollback()
    async with db.tenant_transaction(a.tenant_id) as session:
        assert len(await NoteService(session).page()) == 3


async def test_raw_sql_on_app_role_sees_only_its_tenant(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.tenant_transaction(b.tenant_id) as session:
        assert (await session.execute(text("SELECT count(*) FROM sample_note"))).scalar() == 0
        changed = await session.execute(text("UPDATE sample_note SET title = 'stolen'"))
        assert changed.rowcount == 0
        deleted = await session.execute(text("DELETE FROM sample_tag"))
        assert deleted.rowcount == 0
    async with db.tenant_transaction(a.tenant_id) as session:
        titles = (await session.execute(text("SELECT title FROM sample_note"))).scalars().all()
        assert sorted(titles) == ["a-one", "a-three", "a-two"]


async def test_writing_another_tenants_id_is_rejected_by_orm(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.session(b.tenant_id) as session:
        session.add(SampleNote(tenant_id=a.tenant_id, title="smuggled"))
        with pytest.raises(TenantMismatchError):
            await session.flush()


async def test_writing_another_tenants_id_is_rejected_by_rls(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.session(b.tenant_id) as session:
        await session.begin()
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.execute(
                text(
                    "INSERT INTO sample_note (tenant_id, id, title, body) VALUES (:t, :i, 'x', '')"
                ),
                {"t": a.tenant_id, "i": uuid7()},
            )
        await session.rollback()
    async with db.tenant_transaction(a.tenant_id) as session:
        assert await NoteService(session).count() == 3


async def test_no_tenant_set_every_tenant_table_is_empty(db: Database, two_tenants) -> None:
    tenant_tables = [t.name for t in Base.metadata.sorted_tables if t.info[TENANCY_KEY] == "tenant"]
    assert {"sample_note", "core_outbox", "core_membership", "core_tenant_module"} <= set(
        tenant_tables
    )
    async with db.global_transaction() as session:
        for table in tenant_tables:
            count = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            assert count == 0, f"{table} shows {count} rows with no tenant set"
    # The rows are there: the owner (who bypasses RLS) counts them.
    engine = owner_engine(db.owner)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM sample_note"))).scalar() == 3
        assert (await conn.execute(text("SELECT count(*) FROM core_outbox"))).scalar() == 3
    await engine.dispose()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("ALTER TABLE sample_note DISABLE ROW LEVEL SECURITY", "must be owner"),
        ("ALTER TABLE sample_note NO FORCE ROW LEVEL SECURITY", "must be owner"),
        ("DROP POLICY tenant_isolation ON sample_note", "must be owner"),
        ("SET ROLE postgres", "permission denied"),
        ("SET SESSION AUTHORIZATION postgres", "permission denied"),
        ("ALTER ROLE CURRENT_USER BYPASSRLS", "permission denied|must be superuser"),
    ],
)
async def test_app_role_cannot_escape_rls(db: Database, two_tenants, statement: str, message: str):
    _a, b = two_tenants
    async with db.session(b.tenant_id) as session:
        await session.begin()
        with pytest.raises(DBAPIError, match=message):
            await session.execute(text(statement))
        await session.rollback()


async def test_row_security_off_fails_instead_of_showing_rows(db: Database, two_tenants) -> None:
    _a, b = two_tenants
    async with db.session(b.tenant_id) as session:
        await session.begin()
        await session.execute(text("SET LOCAL row_security = off"))
        with pytest.raises(DBAPIError, match="row-level security"):
            await session.execute(text("SELECT count(*) FROM sample_note"))
        await session.rollback()


async def test_app_role_is_not_privileged(db: Database) -> None:
    async with db.global_transaction() as session:
        row = (
            await session.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                    "WHERE rolname = current_user"
                )
            )
        ).one()
        assert tuple(row) == (False, False, False, False)
        owned = await session.execute(
            text(
                "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles "
                "WHERE rolname = current_user)"
            )
        )
        assert owned.scalar() == 0


async def test_cross_tenant_reference_is_unrepresentable(db: Database, two_tenants) -> None:
    """Even the owner, who bypasses RLS, cannot point B's tag at A's note."""
    a, b = two_tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        note_id = (await NoteService(session).page())[0].id
    engine = owner_engine(db.owner)
    async with engine.connect() as conn:
        with pytest.raises(IntegrityError, match="fk_sample_tag_tenant_id_note_id_sample_note"):
            await conn.execute(
                text(
                    "INSERT INTO sample_tag (tenant_id, id, note_id, label) "
                    "VALUES (:t, :i, :n, 'x')"
                ),
                {"t": b.tenant_id, "i": uuid7(), "n": note_id},
            )
    await engine.dispose()


async def test_relationships_join_on_tenant_and_id(db: Database, two_tenants) -> None:
    a, _b = two_tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        tag = await session.scalar(select(SampleTag).limit(1))
        assert tag is not None
        note = await session.get(SampleNote, (a.tenant_id, tag.note_id))
        assert note is not None
        assert (await tag.awaitable_attrs.note).id == note.id
        assert str(SampleTag.note.property.primaryjoin).count("tenant_id") == 2


async def test_tenant_creation_runs_no_ddl(db: Database, make_tenant) -> None:
    async def relation_count() -> int:
        async with db.global_transaction() as session:
            return (await session.execute(text("SELECT count(*) FROM pg_class"))).scalar()

    before = await relation_count()
    await make_tenant("charlie", "sample", "sampleaddon", owner_email="c@charlie.test")
    assert await relation_count() == before


def test_uuid7_is_strictly_increasing_even_within_a_millisecond() -> None:
    ids = [uuid7() for _ in range(10_000)]  # far more than one per millisecond
    assert all(i.version == 7 for i in ids)
    assert all(i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    stamps = [i.int >> 80 for i in ids]
    assert len(set(stamps)) < len(ids)  # several ids did share a millisecond


async def test_session_tenant_scope_applies_to_count_queries(db: Database, two_tenants) -> None:
    a, b = two_tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        total = await session.scalar(select(func.count(SampleNote.id)))
        assert total == 3
    assert a.tenant_id != b.tenant_id
    assert isinstance(a.tenant_id, uuid.UUID)
