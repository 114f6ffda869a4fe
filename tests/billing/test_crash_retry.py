"""A crash between Stripe's answer and our commit, then a retry: no second customer, no
second Checkout, no second subscription, no second item. Each service call runs in a
transaction that raises after the provider answered (so nothing of ours commits), then
runs again: the stand-in sees the same Idempotency-Key again and replays its first answer.
A deliberate later call (a module added again after its removal) takes a new key; the
removals job retried after a crash finds the item already gone and finishes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from billing import catalogue, intents, subscriptions
from billing.models import BillingAccount, BillingItem
from billing.provider import BillingProvider, provider_for
from core import roles
from core.context import TenantContext
from core.db import Database
from core.models import Membership
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.tenancy import tenant_context
from tests.billing.stripe_settings import with_stripe
from tests.stripe_standin.fixtures import StripeHarness
from tests.web.test_parties_api import the_test_owner

BASE = "https://atrium.example"


class Crash(Exception):
    """The process dies after Stripe answered, before our transaction commits."""


@pytest.fixture
def provider(settings: Settings, stripe_standin: StripeHarness) -> BillingProvider:
    return provider_for(with_stripe(settings, stripe_standin.api_base))


async def _price(db: Database, registry: ModuleRegistry, provider: BillingProvider, module: str):
    change = catalogue.PriceChange(module, "month", "CNY", Decimal("99"))
    _saved, failure = await catalogue.save_price(db, registry, provider, change, operator_id=None)
    assert failure is None


async def _owner(db: Database, registry: ModuleRegistry, ctx: TenantContext) -> Actor:
    owner = await the_test_owner(db)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == owner.id))
        assert membership is not None
    rights = roles.rights(registry, roles.OWNER, [])
    return Actor(ctx.tenant_id, owner.id, membership.id, permissions=rights.permissions)


async def _subscribe(
    db: Database,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    module: str,
    *,
    crash: bool = False,
) -> subscriptions.Subscribed:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        fresh = await tenant_context(session, ctx.tenant_id)
        done = await subscriptions.subscribe(
            session,
            registry,
            fresh,
            provider,
            actor,
            module,
            interval="month",
            base_url=BASE,
            grace_days=7,
        )
        if crash:
            raise Crash(done)
    return done


async def _crashed(*args, **kwargs) -> subscriptions.Subscribed:
    with pytest.raises(Crash) as crashed:
        await _subscribe(*args, **kwargs, crash=True)
    return crashed.value.args[0]


async def _pay_and_return(
    db: Database,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    actor: Actor,
    standin: StripeHarness,
    checkout_url: str,
) -> None:
    back = urlsplit(standin.pay(checkout_url.rsplit("/", 1)[1]))
    [checkout_id] = parse_qs(back.query)["session_id"]
    async with db.tenant_transaction(ctx.tenant_id) as session:
        fresh = await tenant_context(session, ctx.tenant_id)
        returned = await subscriptions.complete_checkout(
            session, registry, fresh, provider, actor, checkout_id, grace_days=7
        )
    assert returned.paid


async def _removals(
    db: Database,
    registry: ModuleRegistry,
    ctx: TenantContext,
    provider: BillingProvider,
    now: datetime,
    *,
    crash: bool = False,
) -> list[str]:
    """The removals job at ``now`` (crashing after it ran, before the commit, if asked)."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        fresh = await tenant_context(session, ctx.tenant_id)
        removed = await subscriptions.run_removals(
            session, registry, fresh, provider, grace_days=7, now=now
        )
        if crash:
            raise Crash(removed)
    return removed


def _keys(standin: StripeHarness, path: str) -> list[tuple[str, bool]]:
    """(Idempotency-Key, replayed) of every POST to ``path`` the stand-in saw."""
    return [(key, replayed) for seen, key, replayed in standin.idempotency_log if seen == path]


async def _items(db: Database, ctx: TenantContext) -> dict[str, BillingItem]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return {item.module_key: item for item in await session.scalars(select(BillingItem))}


async def _account(db: Database, ctx: TenantContext) -> BillingAccount | None:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await session.scalar(select(BillingAccount))


def _stripe_items(standin: StripeHarness, subscription_id: str) -> list[str]:
    found = standin.client().v1.subscription_items.list(params={"subscription": subscription_id})
    return sorted(item.id for item in found.data)


async def test_a_crash_after_checkout_then_a_retry_makes_one_customer_and_one_checkout(
    db: Database, registry, make_tenant, provider, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, provider, "crm")
    actor = await _owner(db, registry, acme)

    first = await _crashed(db, registry, acme, provider, actor, "crm")
    assert first.checkout_url is not None
    acct = await _account(db, acme)
    assert acct is None or acct.stripe_customer_id is None  # nothing of ours committed

    again = await _subscribe(db, registry, acme, provider, actor, "crm")
    assert again.checkout_url == first.checkout_url
    client = stripe_standin.client()
    [customer] = client.v1.customers.list().data
    [checkout] = client.v1.checkout.sessions.list().data
    assert checkout.status == "open"
    customer_key = intents.key(acme.tenant_id, subscriptions.CUSTOMER, 1)
    checkout_key = intents.key(acme.tenant_id, subscriptions.checkout_intent("crm"), 1)
    assert _keys(stripe_standin, "/v1/customers") == [(customer_key, False), (customer_key, True)]
    assert _keys(stripe_standin, "/v1/checkout/sessions") == [
        (checkout_key, False),
        (checkout_key, True),
    ]
    acct = await _account(db, acme)
    assert acct is not None
    assert acct.stripe_customer_id == customer.id

    await _pay_and_return(db, registry, acme, provider, actor, stripe_standin, again.checkout_url)
    assert len(client.v1.subscriptions.list(params={"status": "all"}).data) == 1
    # Subscribing again now adds to that subscription; a new Checkout is never made.
    await _price(db, registry, provider, "sample")
    assert (await _subscribe(db, registry, acme, provider, actor, "sample")).checkout_url is None
    assert len(client.v1.checkout.sessions.list().data) == 1
    assert len(client.v1.subscriptions.list(params={"status": "all"}).data) == 1


async def test_a_crash_after_adding_an_item_then_a_retry_adds_one_item(
    db: Database, registry, make_tenant, provider, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    for module in ("crm", "sample"):
        await _price(db, registry, provider, module)
    actor = await _owner(db, registry, acme)
    started = await _subscribe(db, registry, acme, provider, actor, "crm")
    assert started.checkout_url is not None
    await _pay_and_return(db, registry, acme, provider, actor, stripe_standin, started.checkout_url)
    acct = await _account(db, acme)
    assert acct is not None
    subscription_id = str(acct.stripe_subscription_id)

    await _crashed(db, registry, acme, provider, actor, "sample")
    assert list(await _items(db, acme)) == ["crm"]  # ours rolled back ...
    at_stripe = _stripe_items(stripe_standin, subscription_id)
    assert len(at_stripe) == 2  # ... Stripe's done

    done = await _subscribe(db, registry, acme, provider, actor, "sample")
    assert done.modules == ["sample"]
    assert _stripe_items(stripe_standin, subscription_id) == at_stripe  # no second item
    items = await _items(db, acme)
    assert sorted(items) == ["crm", "sample"]
    assert items["sample"].stripe_item_id in at_stripe
    add_key = intents.key(acme.tenant_id, subscriptions.add_intent("sample"), 1)
    assert _keys(stripe_standin, "/v1/subscription_items") == [(add_key, False), (add_key, True)]
    assert len(stripe_standin.client().v1.subscriptions.list(params={"status": "all"}).data) == 1

    # Removed at the period's end, then added again on purpose: a new attempt, a new key,
    # a new item.
    async with db.tenant_transaction(acme.tenant_id) as session:
        fresh = await tenant_context(session, acme.tenant_id)
        ends_at = await subscriptions.remove(
            session, registry, fresh, provider, actor, "sample", grace_days=7
        )
    assert await _removals(db, registry, acme, provider, ends_at + timedelta(hours=1)) == ["sample"]
    assert len(_stripe_items(stripe_standin, subscription_id)) == 1
    await _subscribe(db, registry, acme, provider, actor, "sample")
    again_key = intents.key(acme.tenant_id, subscriptions.add_intent("sample"), 2)
    assert again_key != add_key
    assert _keys(stripe_standin, "/v1/subscription_items")[-1] == (again_key, False)
    items = await _items(db, acme)
    assert len(_stripe_items(stripe_standin, subscription_id)) == 2
    assert items["sample"].stripe_item_id not in at_stripe


async def test_the_removals_job_retried_after_a_crash_finds_the_item_gone_and_finishes(
    db: Database, registry, make_tenant, provider, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    for module in ("crm", "sample"):
        await _price(db, registry, provider, module)
    actor = await _owner(db, registry, acme)
    started = await _subscribe(db, registry, acme, provider, actor, "crm")
    assert started.checkout_url is not None
    await _pay_and_return(db, registry, acme, provider, actor, stripe_standin, started.checkout_url)
    await _subscribe(db, registry, acme, provider, actor, "sample")
    async with db.tenant_transaction(acme.tenant_id) as session:
        fresh = await tenant_context(session, acme.tenant_id)
        ends_at = await subscriptions.remove(
            session, registry, fresh, provider, actor, "sample", grace_days=7
        )
    after = ends_at + timedelta(hours=1)
    with pytest.raises(Crash):
        await _removals(db, registry, acme, provider, after, crash=True)
    acct = await _account(db, acme)
    assert acct is not None
    assert len(_stripe_items(stripe_standin, str(acct.stripe_subscription_id))) == 1  # gone
    assert sorted(await _items(db, acme)) == ["crm", "sample"]  # ours rolled back

    assert await _removals(db, registry, acme, provider, after) == ["sample"]
    assert list(await _items(db, acme)) == ["crm"]
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert "sample" not in (await tenant_context(session, acme.tenant_id)).enabled
