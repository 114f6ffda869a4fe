"""Per-member pricing over real HTTP to the Stripe stand-in: a per-member module's quantity
follows the active members (an invitation accepted, a member deactivated and reactivated,
the demo people loaded) at Stripe and in ``billing_item``, through core's outbox and
worker; a flat module stays at 1; a burst of joins converges on the final count in one
Stripe write; the quantity never goes below 1; a workspace without a subscription is
skipped; one workspace's members never change another's quantity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import stripe
from sqlalchemy import select, update
from sqlalchemy.engine import URL

from billing import catalogue, state
from billing import members as billing_members
from billing.models import BillingAccount, BillingIntent, BillingItem
from billing.provider import BillingProvider, provider_for
from core import mail
from core.context import TenantContext
from core.db import Database
from core.models import EventDelivery, Membership, OutboxEvent, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.worker import Worker
from tenants import demo, invitations
from tenants import members as tenant_members
from tests.billing.stripe_settings import with_stripe
from tests.core.test_events import drain
from tests.stripe_standin.fixtures import StripeHarness
from tests.web.test_parties_api import the_test_owner

PER_MEMBER = catalogue.PriceChange("sample", "month", "USD", Decimal("10"), per_member=True)
FLAT = catalogue.PriceChange("sampleaddon", "month", "USD", Decimal("5"))
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
HANDLER = "core.follow_members"


@pytest.fixture
async def stripe_db(
    db_url: URL, settings: Settings, stripe_standin: StripeHarness
) -> AsyncIterator[Database]:
    """The test's database, handled with settings that point Stripe at the stand-in: what
    the worker's handler reads its provider from."""
    database = Database.connect(
        with_stripe(settings, stripe_standin.api_base), owner=db_url, pool_size=5, max_overflow=5
    )
    yield database
    await database.dispose()


@pytest.fixture
def provider(stripe_db: Database) -> BillingProvider:
    return provider_for(stripe_db.settings)


async def synced_prices(
    db: Database, registry: ModuleRegistry, provider: BillingProvider
) -> dict[str, str]:
    """The per-member and the flat price, saved and synced to the stand-in: module → id."""
    ids = {}
    for change in (PER_MEMBER, FLAT):
        price, failure = await catalogue.save_price(
            db, registry, provider, change, operator_id=None
        )
        assert failure is None
        assert price.stripe_price_id
        ids[change.module_key] = price.stripe_price_id
    return ids


async def subscribe(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    client: stripe.StripeClient,
    ctx: TenantContext,
    prices: dict[str, str],
) -> str:
    """What subscribing leaves behind, made with the stand-in's client: a customer paying
    by card, one subscription with the per-member item (for the members there are now)
    and the flat one, its ids in ``billing_account``, then ``state.refresh``."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        members = await billing_members.billed_members(session)
    metadata = {"atrium_tenant": str(ctx.tenant_id)}
    customer = client.v1.customers.create(
        params={"email": f"owner@{ctx.slug}.test", "metadata": metadata}
    )
    card = client.v1.payment_methods.create(params={"type": "card", "card": CARD})
    client.v1.payment_methods.attach(card.id, params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    subscription = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": prices["sample"], "quantity": members}],
            "metadata": metadata,
        }
    )
    client.v1.subscription_items.create(
        params={"subscription": subscription.id, "price": prices["sampleaddon"], "quantity": 1}
    )
    async with db.tenant_transaction(ctx.tenant_id) as session:
        account = await state.ensure_account(session)
        account.stripe_customer_id = customer.id
        await state.refresh(session, registry, ctx, provider, subscription.id, grace_days=7)
    return subscription.id


def at_stripe(client: stripe.StripeClient, subscription_id: str, prices: dict[str, str]):
    """module → the item's quantity, as Stripe lists the subscription's items."""
    module_of = {price: module for module, price in prices.items()}
    listed = client.v1.subscription_items.list(params={"subscription": subscription_id}).data
    return {module_of[item.price.id]: item.quantity for item in listed}


async def in_atrium(db: Database, ctx: TenantContext) -> dict[str, int]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return {row.module_key: row.quantity for row in await session.scalars(select(BillingItem))}


async def join(db: Database, ctx: TenantContext, owner: User, email: str) -> Membership:
    """Invite ``email`` and accept as that person: a new active member."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        token, _ = await invitations.invite(
            session, db.settings, mail.DevMailbox(db), ctx, email=email, invited_by=owner.id
        )
    await mail.drain()
    async with db.global_transaction() as session:
        user = User(email=email, display_name=email.split("@")[0])
        session.add(user)
        await session.flush()
        return await invitations.accept(session, token, user)


async def quantity_intents(db: Database, ctx: TenantContext) -> dict[str, tuple[int, bool]]:
    """intent → (attempt, done) of every quantity intent the workspace has."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(
            select(BillingIntent).where(BillingIntent.intent.startswith("quantity:"))
        )
        return {row.intent: (row.attempt, row.done_at is not None) for row in rows}


async def test_the_per_member_quantity_follows_joins_and_leaves_and_the_flat_one_stays(
    stripe_db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    db, client = stripe_db, stripe_standin.client()
    ctx = await make_tenant("qty-acme")
    owner = await the_test_owner(db)
    prices = await synced_prices(db, registry, provider)
    subscription = await subscribe(db, registry, provider, client, ctx, prices)
    worker = Worker(db, registry)
    assert at_stripe(client, subscription, prices) == {"sample": 1, "sampleaddon": 1}

    bea = await join(db, ctx, owner, "bea@qty.test")
    assert await drain(worker) == 1
    assert at_stripe(client, subscription, prices) == {"sample": 2, "sampleaddon": 1}
    assert await in_atrium(db, ctx) == {"sample": 2, "sampleaddon": 1}
    assert (
        client.v1.subscription_items.retrieve(
            (await _item(db, ctx, "sample")).stripe_item_id
        ).quantity
        == 2
    )

    async with db.tenant_transaction(ctx.tenant_id) as session:
        await tenant_members.deactivate_member(session, bea.id, by=owner.id)
    await drain(worker)
    assert at_stripe(client, subscription, prices) == {"sample": 1, "sampleaddon": 1}
    assert await in_atrium(db, ctx) == {"sample": 1, "sampleaddon": 1}

    async with db.tenant_transaction(ctx.tenant_id) as session:
        await tenant_members.reactivate_member(session, bea.id, by=owner.id)
    await drain(worker)
    assert at_stripe(client, subscription, prices) == {"sample": 2, "sampleaddon": 1}
    assert await in_atrium(db, ctx) == {"sample": 2, "sampleaddon": 1}

    # Back to 2 after a 2 was set once: a new attempt, so a new idempotency key (a replay
    # of the first answer would not set anything).
    assert await quantity_intents(db, ctx) == {
        "quantity:sample:2": (2, True),
        "quantity:sample:1": (1, True),
    }
    async with db.tenant_transaction(ctx.tenant_id) as session:
        markers = await session.scalars(
            select(EventDelivery.status).where(EventDelivery.handler == HANDLER)
        )
        assert list(markers) == ["done", "done", "done"]


async def _item(db: Database, ctx: TenantContext, module: str) -> BillingItem:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        item = await session.scalar(select(BillingItem).where(BillingItem.module_key == module))
        assert item is not None
        return item


async def test_a_burst_of_joins_converges_in_one_write_and_leaving_never_goes_below_one(
    stripe_db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    db, client = stripe_db, stripe_standin.client()
    ctx = await make_tenant("qty-burst")
    owner = await the_test_owner(db)
    prices = await synced_prices(db, registry, provider)
    subscription = await subscribe(db, registry, provider, client, ctx, prices)
    for name in ("ann", "ben", "cat"):
        await join(db, ctx, owner, f"{name}@burst.test")

    # Three events; the first delivery counts the four members there are by then, the
    # other two find the quantity right already: one Stripe write, never 2 or 3.
    assert await drain(Worker(db, registry)) == 3
    assert at_stripe(client, subscription, prices) == {"sample": 4, "sampleaddon": 1}
    assert await in_atrium(db, ctx) == {"sample": 4, "sampleaddon": 1}
    assert await quantity_intents(db, ctx) == {"quantity:sample:4": (1, True)}

    # Nobody active any more (the rules keep an owner: forced here to reach the floor).
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await session.execute(update(Membership).values(active=False))
        await billing_members.members_changed(session)
    await drain(Worker(db, registry))
    assert at_stripe(client, subscription, prices) == {"sample": 1, "sampleaddon": 1}
    assert await in_atrium(db, ctx) == {"sample": 1, "sampleaddon": 1}


async def test_the_demo_people_are_members_billed_as_such(
    stripe_db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    db, client = stripe_db, stripe_standin.client()
    ctx = await make_tenant("qty-demo", seed=True)
    prices = await synced_prices(db, registry, provider)
    subscription = await subscribe(db, registry, provider, client, ctx, prices)

    result = await demo.load_by_slug(db, registry, ctx.slug)
    assert result.core
    await drain(Worker(db, registry))
    async with db.tenant_transaction(ctx.tenant_id) as session:
        members = await billing_members.billed_members(session)
    assert members > 1
    assert at_stripe(client, subscription, prices)["sample"] == members
    assert (await in_atrium(db, ctx))["sample"] == members


async def test_workspaces_are_apart_and_one_without_a_subscription_is_skipped(
    stripe_db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    db, client = stripe_db, stripe_standin.client()
    acme, globex, initech = (
        await make_tenant("qty-one"),
        await make_tenant("qty-two"),
        await make_tenant("qty-none"),
    )
    owner = await the_test_owner(db)
    prices = await synced_prices(db, registry, provider)
    acme_sub = await subscribe(db, registry, provider, client, acme, prices)
    globex_sub = await subscribe(db, registry, provider, client, globex, prices)

    await join(db, acme, owner, "dan@one.test")
    await join(db, initech, owner, "eve@none.test")
    assert await drain(Worker(db, registry)) == 2

    assert at_stripe(client, acme_sub, prices)["sample"] == 2
    assert at_stripe(client, globex_sub, prices)["sample"] == 1
    assert await in_atrium(db, globex) == {"sample": 1, "sampleaddon": 1}
    assert await quantity_intents(db, globex) == {}
    # No subscription: the event is handled (done) and nothing is made for billing.
    async with db.tenant_transaction(initech.tenant_id) as session:
        assert await session.scalar(select(BillingAccount)) is None
        marker = await session.scalar(
            select(EventDelivery.status).where(EventDelivery.handler == HANDLER)
        )
        assert marker == "done"
    assert await quantity_intents(db, initech) == {}


async def test_the_event_is_written_with_the_change_and_not_without_it(
    db: Database, make_tenant
) -> None:
    ctx = await make_tenant("qty-tx")
    owner = await the_test_owner(db)
    fay = await join(db, ctx, owner, "fay@tx.test")
    assert await _events(db, ctx) == 1
    with pytest.raises(RuntimeError):
        await _deactivate_then_fail(db, ctx, fay, owner)
    assert await _events(db, ctx) == 1


async def _deactivate_then_fail(
    db: Database, ctx: TenantContext, member: Membership, owner: User
) -> None:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await tenant_members.deactivate_member(session, member.id, by=owner.id)
        raise RuntimeError("something after it fails: the deactivation rolls back")


async def _events(db: Database, ctx: TenantContext) -> int:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(
            select(OutboxEvent.id).where(
                OutboxEvent.event_type == billing_members.MembersChanged.type_name
            )
        )
        return len(list(rows))
