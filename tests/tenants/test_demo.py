"""Demo data on a real database: the company it adds, in the workspace's language, once;
the enabled modules' demo data; tenant isolation; and ``atrium demo``."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from core.context import TenantContext
from core.db import Database
from core.models import AuditEntry, Department, Membership, User
from core.parties.models import Party, PartyContactPoint
from core.plugins.registry import ModuleRegistry
from core.products.models import Currency, Product
from tenants import demo
from tests.conftest import TEST_OWNER_EMAIL
from tests.sample_module.models import SampleNote
from tests.web.test_cli import atrium


async def counts(db: Database, ctx: TenantContext) -> dict[str, int]:
    """How many rows of each kind the workspace has (what demo data adds)."""
    async with db.tenant_transaction(ctx.tenant_id) as session:

        async def count(model: type) -> int:
            return await session.scalar(select(func.count()).select_from(model)) or 0

        return {
            "departments": await count(Department),
            "members": await count(Membership),
            "parties": await count(Party),
            "products": await count(Product),
            "notes": await count(SampleNote),
        }


async def load(db: Database, registry: ModuleRegistry, slug: str) -> demo.DemoResult:
    return await demo.load_by_slug(db, registry, slug)


async def test_demo_data_is_a_small_company_loaded_once(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    acme = await make_tenant("acme", "sample")
    before = await counts(db, acme)
    first = await load(db, registry, "acme")
    assert first == demo.DemoResult(core=True, modules=["sample"])
    after = await counts(db, acme)
    assert {k: after[k] - before[k] for k in after} == {
        "departments": 4,
        "members": 5,
        "parties": 15,
        "products": 12,
        "notes": 3,  # the sample module's demo_data hook
    }
    second = await load(db, registry, "acme")
    assert second == demo.DemoResult(core=False, modules=[])
    assert await counts(db, acme) == after
    async with db.tenant_transaction(acme.tenant_id) as session:
        runs = list(
            await session.scalars(select(AuditEntry.detail).where(AuditEntry.action == demo.LOADED))
        )
    assert runs == [{"core": True, "modules": ["sample"]}]  # the second run recorded nothing


async def test_a_module_enabled_later_gets_its_demo_data_on_the_next_run(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    from tenants.services import enable_module

    acme = await make_tenant("acme")
    assert await load(db, registry, "acme") == demo.DemoResult(core=True, modules=[])
    async with db.tenant_transaction(acme.tenant_id) as session:
        await enable_module(session, registry, acme, "sampleaddon")
    assert await load(db, registry, "acme") == demo.DemoResult(core=False, modules=["sample"])
    assert (await counts(db, acme))["notes"] == 3


async def test_the_company_is_believable_and_in_the_workspaces_language(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    shop = await make_tenant("shop", locale="zh-CN")
    await load(db, registry, "shop")
    async with db.tenant_transaction(shop.tenant_id) as session:
        departments = {d.id: d for d in await session.scalars(select(Department))}
        top = [d for d in departments.values() if d.parent_id is None]
        assert [d.name for d in top] == ["总经办"]
        assert {d.name for d in departments.values() if d.parent_id == top[0].id} == {
            "销售部",
            "采购部",
            "财务部",
        }
        people = (
            await session.execute(
                select(User, Membership)
                .join(Membership, Membership.user_id == User.id)
                .where(User.email.endswith("@shop.demo.atrium.test"))
            )
        ).all()
        assert len(people) == 5
        assert {u.display_name for u, _m in people} >= {"张伟", "李娜"}
        assert all(u.password_hash is None for u, _m in people)  # nobody signs in as them
        assert all(m.department_id in departments for _u, m in people)
        assert sum(m.manager_id is None for _u, m in people) == 1  # all report up to the boss
        parties = list(await session.scalars(select(Party)))
        kinds = Counter(
            "person"
            if p.kind == "person"
            else (
                "both"
                if p.is_customer and p.is_supplier
                else "customer"
                if p.is_customer
                else "supplier"
            )
            for p in parties
        )
        assert kinds["customer"] >= 5
        assert kinds["supplier"] >= 3
        assert kinds["both"] == 1
        assert sum(p.company_id is not None for p in parties) == 3  # contacts of companies
        phones = list(
            await session.scalars(
                select(PartyContactPoint.value_normalised).where(PartyContactPoint.kind == "phone")
            )
        )
        assert phones
        assert all(phone.startswith("+86") for phone in phones)
        base = await session.scalar(select(Currency.code).where(Currency.is_base))
        assert base == "CNY"
        products = list(await session.scalars(select(Product)))
        assert len(products) == 12
        assert all(p.tax_rate_id is not None and p.uom_id is not None for p in products)
        assert {p.kind for p in products} == {"stockable", "consumable", "service"}
        assert any(p.name == "激光打印机" for p in products)


async def test_an_english_workspace_gets_an_english_company(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    acme = await make_tenant("acme")
    await load(db, registry, "acme")
    async with db.tenant_transaction(acme.tenant_id) as session:
        names = set(await session.scalars(select(Department.name)))
        assert names == {"Head office", "Sales", "Purchasing", "Finance"}
        assert await session.scalar(select(Currency.code).where(Currency.is_base)) == "USD"
        assert await session.scalar(
            select(Party.id).where(Party.name == "Northwind Analytics Inc.")
        )


async def test_demo_in_one_workspace_adds_nothing_to_another(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    await make_tenant("acme", "sample")
    other = await make_tenant("other", "sample")
    before = await counts(db, other)
    await load(db, registry, "acme")
    assert await counts(db, other) == before
    # The other workspace loads its own company: the demo people's addresses do not clash.
    assert (await load(db, registry, "other")).core is True
    assert (await counts(db, other))["members"] == before["members"] + 5


async def test_a_failure_leaves_nothing_behind(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    from core.errors import Conflict
    from core.products import services as products

    acme = await make_tenant("acme", seed=True)
    async with db.tenant_transaction(acme.tenant_id) as session:
        # The workspace's own product holds a SKU the demo wants: the run fails at its end.
        unit = await products.unit_by_code(session, "pcs")
        await products.create_product(session, sku="DEMO-012", name="Ours", uom_id=unit.id)
    before = await counts(db, acme)
    with pytest.raises(Conflict):
        await load(db, registry, "acme")
    assert await counts(db, acme) == before


async def test_atrium_demo_command(db: Database, db_url, make_tenant) -> None:
    acme = await make_tenant("acme", owner_email=TEST_OWNER_EMAIL)
    helped = atrium("demo", "--help")
    assert helped.returncode == 0
    assert "SLUG" in helped.stdout
    first = atrium("demo", "acme", database=db_url)
    assert first.returncode == 0, first.stderr
    assert "acme: demo company loaded; module demo data: none new" in first.stdout
    again = atrium("demo", "acme", database=db_url)
    assert "demo company already there" in again.stdout
    assert (await counts(db, acme))["parties"] == 15
    missing = atrium("demo", "nowhere", database=db_url)
    assert missing.returncode == 1
    assert "No workspace at this address." in missing.stderr
