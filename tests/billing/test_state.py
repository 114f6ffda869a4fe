"""``billing.state.record``: Stripe's current subscription object → our account, items and
every module's access, whatever order it is handed in; a granted module untouched; an
item gone turns its module off, its data kept; two workspaces apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from billing import catalogue, state
from billing.models import BillingAccount, BillingItem, BillingPrice
from core.context import TenantContext
from core.db import Database
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = 7


async def _stripe_price(db: Database, registry: ModuleRegistry, module: str) -> str:
    """A price for ``module`` as if synced to Stripe (its id set)."""
    async with db.global_transaction() as session:
        change = catalogue.PriceChange(module, "month", "USD", Decimal("10"))
        price = await catalogue.set_price(session, registry, change, operator_id=None)
        price_id = f"price_{module}_v{price.version}"
        await session.execute(
            update(BillingPrice).where(BillingPrice.id == price.id).values(stripe_price_id=price_id)
        )
    return price_id


def _subscription(status: str, *prices: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "sub_1",
        "object": "subscription",
        "customer": "cus_1",
        "status": status,
        "current_period_end": int((NOW + timedelta(days=30)).timestamp()),
        "items": {"data": [{"id": f"si_{p}", "price": {"id": p}, "quantity": 1} for p in prices]},
        **extra,
    }


async def _record(
    db: Database, registry: ModuleRegistry, ctx: TenantContext, sub: dict, now: datetime = NOW
) -> list[state.Change]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await state.record(session, registry, ctx, sub, grace_days=GRACE, now=now)


async def _levels(db: Database, ctx: TenantContext, now: datetime = NOW) -> dict[str, str]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(select(TenantModule))
        return {row.module_key: state.level_of(row, now).value for row in rows}


async def test_active_then_past_due_then_canceled(db, registry, make_tenant) -> None:
    ctx = await make_tenant("state-one")
    price = await _stripe_price(db, registry, "sample")

    changes = await _record(db, registry, ctx, _subscription("active", price))
    assert changes == [state.Change("sample", "off", "on")]
    assert (await _levels(db, ctx))["sample"] == "on"
    async with db.tenant_transaction(ctx.tenant_id) as session:
        acct = await session.scalar(select(BillingAccount))
        assert acct is not None
        assert (acct.stripe_subscription_id, acct.stripe_customer_id, acct.status) == (
            "sub_1",
            "cus_1",
            "active",
        )
        item = await session.scalar(select(BillingItem))
        assert item is not None
        assert (item.module_key, item.stripe_item_id) == ("sample", f"si_{price}")

    # The same state again changes nothing; past due stays on through its grace.
    assert await _record(db, registry, ctx, _subscription("active", price)) == []
    assert await _record(db, registry, ctx, _subscription("past_due", price)) == []
    later = NOW + timedelta(days=GRACE)
    assert (await _levels(db, ctx, later))["sample"] == "read_only"
    # Seen again after the grace: read-only already by the clock, now written; paid → on.
    assert await _record(db, registry, ctx, _subscription("past_due", price), later) == []
    async with db.tenant_transaction(ctx.tenant_id) as session:
        row = await session.scalar(select(TenantModule).where(TenantModule.module_key == "sample"))
        assert row is not None
        assert row.access == "read_only"
    changes = await _record(db, registry, ctx, _subscription("active", price), later)
    assert changes == [state.Change("sample", "read_only", "on")]

    changes = await _record(db, registry, ctx, _subscription("canceled", price))
    assert changes == [state.Change("sample", "on", "off")]
    async with db.tenant_transaction(ctx.tenant_id) as session:
        assert await session.scalar(select(BillingItem)) is None


async def test_an_item_gone_turns_its_module_off_and_a_granted_one_stays(
    db, registry, make_tenant
) -> None:
    ctx = await make_tenant("state-two")
    sample, addon = (
        await _stripe_price(db, registry, "sample"),
        await _stripe_price(db, registry, "sampleaddon"),
    )
    await _record(db, registry, ctx, _subscription("active", sample, addon))
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await session.execute(
            update(TenantModule).where(TenantModule.module_key == "sample").values(source="granted")
        )
    # Only the addon left in the subscription: the addon stays on, sample is granted.
    changes = await _record(db, registry, ctx, _subscription("active", addon))
    assert changes == []
    changes = await _record(db, registry, ctx, _subscription("canceled"))
    assert changes == [state.Change("sampleaddon", "on", "off")]
    assert (await _levels(db, ctx))["sample"] == "on"


async def test_two_workspaces_are_apart(db, registry, make_tenant) -> None:
    one, two = await make_tenant("state-a"), await make_tenant("state-b")
    price = await _stripe_price(db, registry, "sample")
    await _record(db, registry, one, _subscription("active", price))
    assert (await _levels(db, one)).get("sample") == "on"
    assert (await _levels(db, two)).get("sample") is None
    async with db.tenant_transaction(two.tenant_id) as session:
        assert await session.scalar(select(BillingAccount)) is None


async def test_an_unpriced_dependency_stays_on_with_its_paid_dependant(
    db, registry, make_tenant
) -> None:
    ctx = await make_tenant("state-deps")
    addon = await _stripe_price(db, registry, "sampleaddon")  # sample itself has no price
    changes = await _record(db, registry, ctx, _subscription("active", addon))
    assert changes == [state.Change("sampleaddon", "off", "on")]  # sample came along
    # Recorded again, the dependency the subscription does not name stays on.
    assert await _record(db, registry, ctx, _subscription("active", addon)) == []
    assert await _levels(db, ctx) == {"sample": "on", "sampleaddon": "on"}
    changes = await _record(db, registry, ctx, _subscription("canceled", addon))
    assert [c.module_key for c in changes] == ["sampleaddon", "sample"]
    assert await _levels(db, ctx) == {"sample": "off", "sampleaddon": "off"}


async def test_a_subscription_renewed_outside_atrium_keeps_its_modules(
    db, registry, make_tenant
) -> None:
    ctx = await make_tenant("state-renewed")
    price = await _stripe_price(db, registry, "sample")
    await _record(db, registry, ctx, _subscription("active", price, cancel_at_period_end=True))
    async with db.tenant_transaction(ctx.tenant_id) as session:
        item = await session.scalar(select(BillingItem))
        assert item is not None
        assert item.ends_at == NOW + timedelta(days=30)
    # The owner renewed it in Stripe's portal: nothing ends any more.
    await _record(db, registry, ctx, _subscription("active", price, cancel_at_period_end=False))
    async with db.tenant_transaction(ctx.tenant_id) as session:
        item = await session.scalar(select(BillingItem))
        assert item is not None
        assert item.ends_at is None
    assert (await _levels(db, ctx, NOW + timedelta(days=40)))["sample"] == "on"


async def test_a_payment_recorded_by_hand_runs_to_its_own_end(db, registry, make_tenant) -> None:
    ctx = await make_tenant("state-manual", "sample")
    until = NOW + timedelta(days=90)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await session.execute(
            update(TenantModule)
            .where(TenantModule.module_key == "sample")
            .values(source="paid", until=until)
        )
    price = await _stripe_price(db, registry, "sampleaddon")
    await _record(db, registry, ctx, _subscription("active", price))
    await _record(db, registry, ctx, _subscription("canceled", price))
    assert (await _levels(db, ctx))["sample"] == "on"
