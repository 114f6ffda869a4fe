"""Switching CRM on sets up a workspace (numbers, a pipeline, pool rules) once, in the
workspace's language, keeps what the tenant changed, and stays inside its workspace."""

from __future__ import annotations

from sqlalchemy import select

from core import numbering
from core.db import Database
from modules.crm.models import Pipeline, PoolSettings, Stage
from modules.crm.services import setup
from tenants.services import disable_module, enable_module


async def _stages(db: Database, tenant_id) -> list[tuple[str, str, str]]:
    async with db.tenant_transaction(tenant_id) as session:
        rows = await session.execute(
            select(Stage.name, Stage.probability, Stage.kind).order_by(Stage.sequence)
        )
        return [(name, str(chance), kind) for name, chance, kind in rows]


async def test_enabling_crm_sets_up_numbers_a_pipeline_and_pool_rules_in_the_workspaces_language(
    db: Database, make_tenant
) -> None:
    shop = await make_tenant("shop", "crm", locale="zh-CN")
    other = await make_tenant("other", "crm")
    assert await _stages(db, shop.tenant_id) == [
        ("初步接洽", "10.00", "open"),
        ("需求确认", "30.00", "open"),
        ("方案报价", "50.00", "open"),
        ("谈判", "80.00", "open"),
        ("赢单", "100.00", "won"),
        ("输单", "0.00", "lost"),
    ]
    assert next(name for name, _, _ in await _stages(db, other.tenant_id)) == "Initial contact"
    async with db.tenant_transaction(shop.tenant_id) as session:
        assert await numbering.next_number(session, "crm.quote") == "QT-2026-000001"
        pipelines = (await session.scalars(select(Pipeline))).all()
        assert [(p.name, p.is_default) for p in pipelines] == [("销售", True)]  # its own only
        rules = (await session.scalars(select(PoolSettings))).one()
        assert (rules.no_follow_up_days, rules.no_deal_days, rules.claim_limit) == (30, 90, 50)


async def test_enabling_again_keeps_what_the_tenant_changed(
    db: Database, make_tenant, registry
) -> None:
    shop = await make_tenant("shop", "crm")
    async with db.tenant_transaction(shop.tenant_id) as session:
        await numbering.configure(session, "crm.quote", prefix="OFFER")
        stage = await session.scalar(select(Stage).where(Stage.sequence == 1))
        assert stage is not None
        stage.name = "First call"
        (await session.scalars(select(PoolSettings))).one().claim_limit = 10
    async with db.tenant_transaction(shop.tenant_id) as session:
        after = await disable_module(session, registry, shop, "crm")
        await enable_module(session, registry, after, "crm")
        await setup.set_up(session, shop)  # and once more, directly
    async with db.tenant_transaction(shop.tenant_id) as session:
        assert await numbering.next_number(session, "crm.quote") == "OFFER-2026-000001"
        assert (await session.scalars(select(PoolSettings))).one().claim_limit == 10
        assert len((await session.scalars(select(Pipeline))).all()) == 1
    assert (await _stages(db, shop.tenant_id))[0][0] == "First call"
