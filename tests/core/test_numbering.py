"""Document numbering: formats, yearly reset, and 50 concurrent allocations."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import numbering
from core.db import Database
from core.errors import NotFound, ValidationFailed

ON = date(2026, 11, 23)


@pytest.fixture
async def tenants(make_tenant):
    return await make_tenant("numbers"), await make_tenant("others")


@pytest.fixture
async def wide_db(db_url, settings):
    """Room for 50 connections at once, so the allocations really overlap."""
    database = Database.connect(settings, owner=db_url, pool_size=50, max_overflow=0)
    yield database
    await database.dispose()


async def _configure(db: Database, tenant_id, **kwargs) -> None:
    async with db.tenant_transaction(tenant_id) as session:
        await numbering.configure(session, "sales.order", **kwargs)


async def _next(db: Database, tenant_id, on: date = ON) -> str:
    async with db.tenant_transaction(tenant_id) as session:
        return await numbering.next_number(session, "sales.order", on=on)


async def test_numbers_follow_the_pattern(db: Database, tenants) -> None:
    a, _b = tenants
    await _configure(db, a.tenant_id, prefix="SO")
    assert [await _next(db, a.tenant_id) for _ in range(3)] == [
        "SO-2026-000001",
        "SO-2026-000002",
        "SO-2026-000003",
    ]
    await _configure(db, a.tenant_id, prefix="OUT", pattern="{prefix}{year}{month:02d}-{seq:04d}")
    assert await _next(db, a.tenant_id) == "OUT202611-0004"


async def test_counters_reset_each_year_unless_told_not_to(db: Database, tenants) -> None:
    a, b = tenants
    await _configure(db, a.tenant_id, prefix="SO")
    assert await _next(db, a.tenant_id, date(2026, 12, 31)) == "SO-2026-000001"
    assert await _next(db, a.tenant_id, date(2027, 1, 1)) == "SO-2027-000001"
    await _configure(db, b.tenant_id, prefix="PO", yearly_reset=False)
    assert await _next(db, b.tenant_id, date(2026, 12, 31)) == "PO-2026-000001"
    assert await _next(db, b.tenant_id, date(2027, 1, 1)) == "PO-2027-000002"


async def test_each_tenant_counts_on_its_own(db: Database, tenants) -> None:
    a, b = tenants
    await _configure(db, a.tenant_id, prefix="SO")
    await _configure(db, b.tenant_id, prefix="SO")
    await _next(db, a.tenant_id)
    await _next(db, a.tenant_id)
    assert await _next(db, b.tenant_id) == "SO-2026-000001"


async def test_gapless_under_50_concurrent_allocations_with_rollbacks(
    wide_db: Database, tenants
) -> None:
    a, _b = tenants
    await _configure(wide_db, a.tenant_id, prefix="INV", gapless=True)
    start = asyncio.Event()

    async def allocate(i: int) -> str | None:
        async with wide_db.session(a.tenant_id) as session:
            await session.begin()
            await start.wait()
            number = await numbering.next_number(session, "sales.order", on=ON)
            if i % 5 == 0:  # the document fails: its number must come back
                await session.rollback()
                return None
            await session.commit()
            return number

    tasks = [asyncio.create_task(allocate(i)) for i in range(50)]
    await asyncio.sleep(0.2)  # let every task open its transaction before any allocates
    start.set()
    committed = [n for n in await asyncio.gather(*tasks) if n is not None]
    assert len(committed) == 40
    assert sorted(committed) == [f"INV-2026-{i:06d}" for i in range(1, 41)]


async def test_fast_series_under_50_concurrent_allocations_never_repeat(
    wide_db: Database, tenants
) -> None:
    a, _b = tenants
    await _configure(wide_db, a.tenant_id, prefix="Q")
    numbers = await asyncio.gather(*(_next(wide_db, a.tenant_id) for _ in range(50)))
    assert len(set(numbers)) == 50
    assert sorted(numbers) == [f"Q-2026-{i:06d}" for i in range(1, 51)]


async def test_a_fast_series_keeps_its_number_when_the_document_rolls_back(
    db: Database, tenants
) -> None:
    a, _b = tenants
    await _configure(db, a.tenant_id, prefix="Q")
    async with db.session(a.tenant_id) as session:
        await session.begin()
        assert await numbering.next_number(session, "sales.order", on=ON) == "Q-2026-000001"
        await session.rollback()
    assert await _next(db, a.tenant_id) == "Q-2026-000002"  # a gap, and no waiting


async def test_a_gapless_allocation_holds_only_its_own_series(db: Database, tenants) -> None:
    """While A holds a gapless number, B's series goes on; A's own next number waits."""
    a, b = tenants
    await _configure(db, a.tenant_id, prefix="INV", gapless=True)
    await _configure(db, b.tenant_id, prefix="INV", gapless=True)
    async with db.session(a.tenant_id) as holder:
        await holder.begin()
        await numbering.next_number(holder, "sales.order", on=ON)
        async with db.session(b.tenant_id) as other:
            await other.begin()
            await other.execute(text("SET LOCAL lock_timeout = '2s'"))
            assert await numbering.next_number(other, "sales.order", on=ON) == "INV-2026-000001"
            await other.commit()
        async with db.session(a.tenant_id) as same:
            await same.begin()
            await same.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(DBAPIError, match="lock timeout"):
                await numbering.next_number(same, "sales.order", on=ON)
            await same.rollback()
        await holder.rollback()


async def test_bad_patterns_and_unknown_series_are_refused(db: Database, tenants) -> None:
    a, _b = tenants
    for pattern in ("{prefix}-{year}", "{prefix}-{seq}-{customer}", "{prefix}-{seq:Q}", "{"):
        with pytest.raises(ValidationFailed, match="must contain"):
            await _configure(db, a.tenant_id, prefix="SO", pattern=pattern)
    with pytest.raises(ValidationFailed, match="prefix"):
        await _configure(db, a.tenant_id, prefix="")
    with pytest.raises(NotFound, match=r"sales\.order"):
        await _next(db, a.tenant_id)


async def test_ensure_creates_a_missing_series_and_keeps_one_the_tenant_changed(
    db: Database, tenants
) -> None:
    a, b = tenants
    async with db.tenant_transaction(a.tenant_id) as session:
        await numbering.ensure(session, "sales.order", prefix="SO")
    assert await _next(db, a.tenant_id) == "SO-2026-000001"
    await _configure(db, a.tenant_id, prefix="ORD")
    async with db.tenant_transaction(a.tenant_id) as session:
        await numbering.ensure(session, "sales.order", prefix="SO")  # enabled again
    assert await _next(db, a.tenant_id) == "ORD-2026-000002"
    with pytest.raises(NotFound):
        await _next(db, b.tenant_id)  # the other workspace has none
