"""The company profile and logo (tenants.settings) and numbering changes (core.numbering),
on the real database: saved, refused whole, audited, kept apart per workspace."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core import numbering
from core.context import TenantContext
from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.models import AuditEntry, Tenant
from core.records.attachments import MIB
from core.records.storage import LocalFileStore
from tenants import settings
from tests.core.test_profile import JPEG, PNG

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
PROFILE = settings.CompanyProfile(
    name="Acme",
    legal_name="上海艾克米贸易有限公司",
    address_line1="88 Century Avenue",
    city="Shanghai",
    region="Shanghai",
    postcode="200120",
    country="cn",
    tax_number="91310000 MA1K-31A1XX",
    phone="+86 21 5555 0100",
    email="hello@acme.cn",
    website="acme.cn",
)


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


async def _tenant(db: Database, ctx: TenantContext) -> Tenant:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await settings.get_tenant(session, ctx)


async def _actions(db: Database, ctx: TenantContext) -> list[str]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


async def test_profile_is_saved_normalised_and_audited(db: Database, acme: TenantContext) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        await settings.update_profile(session, acme, PROFILE)
    saved = await _tenant(db, acme)
    assert (saved.legal_name, saved.country, saved.tax_number, saved.website) == (
        "上海艾克米贸易有限公司",
        "CN",
        "91310000MA1K31A1XX",
        "https://acme.cn",
    )
    assert saved.address_line2 is None  # blank is not given
    assert await _actions(db, acme) == ["core.settings.profile_changed"]

    async with db.tenant_transaction(acme.tenant_id) as session:  # the same again: no entry
        await settings.update_profile(session, acme, PROFILE)
        entry = await session.scalar(select(AuditEntry))
    assert await _actions(db, acme) == ["core.settings.profile_changed"]
    assert entry is not None
    assert entry.detail["after"]["tax_number"] == "91310000MA1K31A1XX"
    assert "phone" in entry.detail["before"]
    assert entry.detail["before"]["phone"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "hello at acme"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": "  "}, "name"),
        ({"tax_number": "12345"}, "tax_number"),  # CN: a credit code has 18 characters
        ({"country": "XX"}, "country"),
        ({"website": "ftp://acme.cn"}, "website"),
        ({"phone": "call us"}, "phone"),
    ],
)
async def test_a_bad_field_is_named_and_nothing_is_written(
    db: Database, acme: TenantContext, change: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        async with db.tenant_transaction(acme.tenant_id) as session:
            await settings.update_profile(session, acme, dataclasses.replace(PROFILE, **change))
    assert refused.value.params["field"] == field
    unchanged = await _tenant(db, acme)
    assert (unchanged.name, unchanged.legal_name) == ("Acme", None)
    assert await _actions(db, acme) == []


def test_a_vat_number_outside_china_is_checked_loosely() -> None:
    values = settings.check_profile(
        dataclasses.replace(PROFILE, country="DE", tax_number="de 123.456.789")
    )
    assert values["tax_number"] == "DE123456789"


async def test_a_logo_is_stored_replaced_served_and_removed(
    db: Database, acme: TenantContext, make_tenant, store: LocalFileStore
) -> None:
    other = await make_tenant("other")
    async with db.tenant_transaction(acme.tenant_id) as session:
        first = await settings.set_logo(session, store, acme, "logo.png", PNG)
    async with db.tenant_transaction(acme.tenant_id) as session:
        second = await settings.set_logo(session, store, acme, "logo.jpg", JPEG)
        content_type, chunks = await settings.open_logo(session, store, acme)
        assert content_type == "image/jpeg"
        assert b"".join([chunk async for chunk in chunks]) == JPEG
    assert second.startswith(f"logos/{acme.tenant_id}/")
    assert not await store.exists(first)
    assert await store.exists(second)

    async with db.tenant_transaction(other.tenant_id) as session:
        with pytest.raises(NotFound):
            await settings.open_logo(session, store, other)

    async with db.tenant_transaction(acme.tenant_id) as session:
        await settings.remove_logo(session, store, acme, actor_id=None)
    assert (await _tenant(db, acme)).logo is None
    assert not await store.exists(second)
    assert await _actions(db, acme) == [
        "core.settings.logo_changed",
        "core.settings.logo_changed",
        "core.settings.logo_removed",
    ]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("logo.png", b"MZ\x90\x00" + bytes(range(256))),  # a program named .png
        ("logo.jpg", PNG),  # a PNG that says it is a JPEG
        ("big.png", PNG + b"\x00" * MIB),
    ],
)
async def test_a_disguised_scripted_or_large_logo_is_refused(
    db: Database, acme: TenantContext, store: LocalFileStore, name: str, data: bytes
) -> None:
    with pytest.raises(ValidationFailed):
        async with db.tenant_transaction(acme.tenant_id) as session:
            await settings.set_logo(session, store, acme, name, data)
    assert (await _tenant(db, acme)).logo is None
    assert [key async for key in store.keys("logos", FAR_FUTURE)] == []


async def test_a_series_pattern_changes_and_its_counter_goes_on(
    db: Database, acme: TenantContext
) -> None:
    day = date(2026, 3, 5)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await numbering.configure(session, "erp.sales_order", prefix="SO")
        assert await numbering.next_number(session, "erp.sales_order", on=day) == "SO-2026-000001"
        series = (await numbering.all_series(session))[0]
        assert await numbering.preview(session, series, on=day) == "SO-2026-000002"
        await numbering.update_series(
            session, "erp.sales_order", prefix="XS", pattern="{prefix}{year}{month:02d}{seq:04d}"
        )
        assert await numbering.preview(session, series, on=day) == "XS2026030002"
        assert await numbering.next_number(session, "erp.sales_order", on=day) == "XS2026030002"
        for pattern in ("{prefix}-{seq:06d}", "{prefix}-{year}", "{seq:0999999999d}{year}"):
            with pytest.raises(ValidationFailed) as refused:
                await numbering.update_series(
                    session, "erp.sales_order", prefix="XS", pattern=pattern
                )
            assert refused.value.params["field"] == "pattern"
        entries = list(await session.scalars(select(AuditEntry)))
    assert [e.action for e in entries] == ["core.number_series.changed"]
    assert entries[0].detail["after"] == {
        "prefix": "XS",
        "pattern": "{prefix}{year}{month:02d}{seq:04d}",
    }
