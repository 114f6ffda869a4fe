"""Stripe's webhook endpoint over real HTTP, the app on a loopback port and Stripe the stand-in
(localstripe's own events, captured by a receiver and posted by the test in the order it
chooses, or sent by the stand-in straight to the app): a subscription's event turns its
module on and the same event again answers "duplicate" and does nothing; events in reverse
order end with Stripe's current state; a canceled trial subscription's module goes off; a
bad signature, an old timestamp or a body that is not an event is refused with 400 and
changes nothing; no signing secret is a 503; a handler that fails (Stripe unreachable)
answers 500, stores nothing, and the retry succeeds; an unknown customer's event and an
unhandled type are stored as ignored; Checkout links the customer and turns the module on;
two workspaces stay apart."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from billing import catalogue, state
from billing.models import BillingAccount, BillingWebhookEvent
from billing.provider import WORKSPACE_METADATA
from billing.stripe_provider import StripeProvider
from billing.webhooks import ROUTE
from core.context import TenantContext
from core.db import Database
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.billing.stripe_settings import dead_address, with_stripe
from tests.conftest import LiveServer
from tests.stripe_standin import WebhookReceiver, sign
from tests.stripe_standin.fixtures import StripeHarness

SECRET = "whsec_atrium_webhook_tests"
GOOD_CARD = "4242424242424242"
HTML = {"accept": "text/html"}


def app_settings(settings: Settings, api_base: str, folder: Path, secret: str | None = SECRET):
    """The app's settings: Stripe at ``api_base``, signed with ``secret``."""
    configured = with_stripe(settings, api_base)
    stripe = dataclasses.replace(configured.stripe, webhook_secret=secret)
    return dataclasses.replace(configured, stripe=stripe, data_dir=folder)


@pytest.fixture
async def stripe_app(
    settings: Settings,
    db: Database,
    registry: ModuleRegistry,
    tmp_path: Path,
    stripe_standin: StripeHarness,
) -> AsyncIterator[str]:
    """The real app on a loopback port, its Stripe the stand-in, its webhook secret ours."""
    from web.app import create_app

    app = create_app(
        app_settings(settings, stripe_standin.api_base, tmp_path), db=db, registry=registry
    )
    async with LiveServer(app) as base_url:
        yield base_url


@pytest.fixture
async def http(stripe_app: str) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client of that app: Stripe's side of the endpoint."""
    async with httpx.AsyncClient(base_url=stripe_app, timeout=30) as client:
        yield client


class World:
    """Stripe set up the way a subscribed workspace has it, through the stand-in's API."""

    def __init__(
        self, harness: StripeHarness, db: Database, registry: ModuleRegistry, settings: Settings
    ) -> None:
        self.harness, self.db, self.registry = harness, db, registry
        self.client = harness.client()
        self.provider = StripeProvider(with_stripe(settings, harness.api_base).stripe)

    async def price(self, module: str) -> str:
        """The module's monthly price, set in the catalogue and synced to the stand-in."""
        async with self.db.global_transaction() as session:
            change = catalogue.PriceChange(module, "month", "USD", Decimal("10"))
            price = await catalogue.set_price(session, self.registry, change, operator_id=None)
        synced = await catalogue.sync_price(
            self.db, self.registry, self.provider, price.id, operator_id=None
        )
        assert synced.stripe_price_id
        return synced.stripe_price_id

    async def customer(self, ctx: TenantContext | None, card: str = GOOD_CARD) -> str:
        """A customer naming ``ctx``'s workspace (None: naming none), paying by ``card``."""
        metadata = {WORKSPACE_METADATA: str(ctx.tenant_id)} if ctx else {}
        made = await self.client.v1.customers.create_async(
            params={"email": "billing@example.com", "metadata": metadata}
        )
        await self.card(made.id, card)
        return made.id

    async def card(self, customer: str, number: str) -> None:
        """Make ``number`` the customer's default card."""
        method = await self.client.v1.payment_methods.create_async(
            params={
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            }
        )
        await self.client.v1.payment_methods.attach_async(method.id, params={"customer": customer})
        await self.client.v1.customers.update_async(
            customer, params={"invoice_settings": {"default_payment_method": method.id}}
        )

    async def subscribe(self, customer: str, *prices: str, **params: Any) -> str:
        made = await self.client.v1.subscriptions.create_async(
            params={"customer": customer, "items": [{"price": p} for p in prices], **params}
        )
        return made.id


@pytest.fixture
def world(
    stripe_standin: StripeHarness, db: Database, registry: ModuleRegistry, settings: Settings
) -> World:
    return World(stripe_standin, db, registry, settings)


@pytest.fixture
def captured(stripe_standin: StripeHarness, webhook_receiver: WebhookReceiver) -> WebhookReceiver:
    """Stripe's events go to a receiver, for the test to post to the app itself."""
    stripe_standin.register_webhook(webhook_receiver.url, SECRET)
    return webhook_receiver


@pytest.fixture
def wired(stripe_standin: StripeHarness, stripe_app: str) -> StripeHarness:
    """Stripe's events go straight to the app's endpoint, as in production."""
    stripe_standin.register_webhook(f"{stripe_app}{ROUTE}", SECRET)
    return stripe_standin


# --- helpers -----------------------------------------------------------------------------------


async def post_event(
    http: httpx.AsyncClient,
    payload: bytes,
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
) -> httpx.Response:
    """POST ``payload`` to the endpoint as Stripe does, signed with ``secret``."""
    headers = {"Stripe-Signature": sign(payload, secret, timestamp)}
    return await http.post(ROUTE, content=payload, headers=headers)


async def caught(receiver: WebhookReceiver, event_type: str, index: int = 0) -> bytes:
    """The raw body of the ``index``-th ``event_type`` event the receiver got."""
    while len(receiver.events_of(event_type)) <= index:
        await asyncio.to_thread(receiver.wait_for, event_type, 15)
        if len(receiver.events_of(event_type)) <= index:
            await asyncio.sleep(0.05)
    return receiver.events_of(event_type)[index].payload


async def delivered(harness: StripeHarness, event_type: str, count: int = 1) -> list[int | None]:
    """Wait until the stand-in has sent ``count`` ``event_type`` events to the app (it sends
    localstripe's a moment after the change); their answers' statuses."""
    deadline = time.monotonic() + 20
    while True:
        sent = [d.status for d in harness.deliveries if d.event_type == event_type]
        if len(sent) >= count:
            return sent
        if time.monotonic() > deadline:
            seen = [d.event_type for d in harness.deliveries]
            raise AssertionError(f"no {count} {event_type!r} delivered; delivered: {seen}")
        await asyncio.sleep(0.05)


def with_id(payload: bytes, event_id: str) -> bytes:
    """The same event under another id: what Stripe sends for the next retry or attempt."""
    event = json.loads(payload)
    event["id"] = event_id
    return json.dumps(event).encode()


async def levels(db: Database, ctx: TenantContext) -> dict[str, str]:
    """Each module's access now: on, read_only or off (a module never enabled: absent)."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(select(TenantModule))
        return {row.module_key: state.level_of(row, datetime.now(UTC)).value for row in rows}


async def account(db: Database, ctx: TenantContext) -> BillingAccount | None:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await session.scalar(select(BillingAccount))


async def stored(db: Database) -> list[BillingWebhookEvent]:
    async with db.global_transaction() as session:
        found = await session.scalars(
            select(BillingWebhookEvent).order_by(BillingWebhookEvent.created_at)
        )
        return list(found)


async def stored_of(db: Database, payload: bytes) -> list[BillingWebhookEvent]:
    event_id = json.loads(payload)["id"]
    return [row for row in await stored(db) if row.stripe_event_id == event_id]


# --- the tests ---------------------------------------------------------------------------------


async def test_an_event_turns_the_module_on_and_the_same_event_again_does_nothing(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    customer = await world.customer(acme)
    subscription = await world.subscribe(customer, price)
    created = await caught(captured, "customer.subscription.created")

    first = await post_event(http, created)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "outcome": "handled"}
    assert (await levels(db, acme))["sample"] == "on"
    acct = await account(db, acme)
    assert acct is not None
    assert (acct.stripe_customer_id, acct.stripe_subscription_id, acct.status) == (
        customer,
        subscription,
        "active",
    )
    (row,) = await stored_of(db, created)
    assert (row.type, row.outcome, row.workspace_id) == (
        "customer.subscription.created",
        "handled",
        acme.tenant_id,
    )
    assert row.detail["changes"] == [["sample", "off", "on"]]

    again = await post_event(http, created)
    assert again.status_code == 200, again.text
    assert again.json() == {"received": True, "duplicate": True}
    assert len(await stored_of(db, created)) == 1
    later = await account(db, acme)
    assert later is not None
    assert later.synced_at == acct.synced_at


async def test_events_in_reverse_order_end_with_stripes_current_state(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    customer = await world.customer(acme)
    first = await world.subscribe(customer, price)
    await world.client.v1.subscriptions.cancel_async(first)
    second = await world.subscribe(customer, price)
    first_created = await caught(captured, "customer.subscription.created", 0)
    first_deleted = await caught(captured, "customer.subscription.deleted", 0)
    second_created = await caught(captured, "customer.subscription.created", 1)
    assert json.loads(first_created)["data"]["object"]["status"] == "active"  # the event's copy

    # The newest first: on, from the second subscription.
    assert (await post_event(http, second_created)).status_code == 200
    assert (await levels(db, acme))["sample"] == "on"
    # The first one's end, late: the workspace has a live subscription since, so it stays on.
    assert (await post_event(http, first_deleted)).status_code == 200
    assert (await levels(db, acme))["sample"] == "on"
    # The first one's start, later still: its copy says active, Stripe says canceled.
    assert (await post_event(http, first_created)).status_code == 200
    assert (await levels(db, acme))["sample"] == "on"
    acct = await account(db, acme)
    assert acct is not None
    assert (acct.stripe_subscription_id, acct.status) == (second, "active")

    # Deleted before created, for a workspace with no other: off, as Stripe has it now.
    beta = await make_tenant("beta")
    other = await world.customer(beta)
    gone = await world.subscribe(other, price)
    await world.client.v1.subscriptions.cancel_async(gone)
    deleted = await caught(captured, "customer.subscription.deleted", 1)
    created = await caught(captured, "customer.subscription.created", 2)
    assert json.loads(created)["data"]["object"]["id"] == gone
    assert (await post_event(http, deleted)).status_code == 200
    assert (await post_event(http, created)).status_code == 200
    assert (await levels(db, beta)).get("sample", "off") == "off"
    beta_acct = await account(db, beta)
    assert beta_acct is not None
    assert beta_acct.status == "canceled"


async def test_a_trial_subscription_canceled_turns_its_module_off(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    subscription = await world.subscribe(await world.customer(acme), price, trial_period_days=14)
    assert (
        await post_event(http, await caught(captured, "customer.subscription.created"))
    ).is_success
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.scalar(select(TenantModule).where(TenantModule.module_key == "sample"))
        assert row is not None
        assert (row.source, row.enabled) == ("trial", True)  # on Stripe's trial

    await world.client.v1.subscriptions.cancel_async(subscription)
    deleted = await caught(captured, "customer.subscription.deleted")
    assert (await post_event(http, deleted)).json()["outcome"] == "handled"
    assert (await levels(db, acme))["sample"] == "off"


async def test_a_bad_signature_an_old_timestamp_or_no_event_is_refused_and_changes_nothing(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    await world.subscribe(await world.customer(acme), price)
    genuine = await caught(captured, "customer.subscription.created")

    tampered = genuine.replace(b'"active"', b'"canceled"', 1)
    assert tampered != genuine
    refused = [
        await post_event(http, genuine, secret="whsec_someone_else"),
        await post_event(http, genuine, timestamp=int(time.time()) - 301),  # tolerance: 300 s
        await http.post(ROUTE, content=genuine),  # no signature at all
        await http.post(  # changed after it was signed
            ROUTE, content=tampered, headers={"Stripe-Signature": sign(genuine, SECRET)}
        ),
    ]
    for answer in refused:
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "webhook_refused"
        assert error["message"].startswith("The Stripe signature is missing, wrong or too old")
    for body in (b"not json", b"[]", b'{"id": "evt_1", "type": "invoice.paid"}'):
        answer = await post_event(http, body)  # signed, but not an event
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["message"] == "The request's body is not a Stripe event."

    assert await stored(db) == []
    assert await account(db, acme) is None
    assert "sample" not in await levels(db, acme)

    accepted = await post_event(http, genuine)  # the very same event, signed as Stripe signs
    assert accepted.status_code == 200, accepted.text
    assert (await levels(db, acme))["sample"] == "on"


async def test_without_a_signing_secret_the_endpoint_says_so(
    settings: Settings, db: Database, registry: ModuleRegistry, tmp_path: Path, stripe_standin
) -> None:
    from web.app import create_app

    unsigned = app_settings(settings, stripe_standin.api_base, tmp_path, secret=None)
    payload = b'{"id": "evt_1"}'
    app = create_app(unsigned, db=db, registry=registry)
    async with LiveServer(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        answer = await post_event(client, payload)
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "webhooks_not_configured"
    assert "STRIPE_WEBHOOK_SECRET" in error["message"]
    assert await stored(db) == []


async def test_a_handler_failure_stores_nothing_answers_500_and_the_retry_succeeds(
    settings: Settings,
    db: Database,
    registry: ModuleRegistry,
    tmp_path: Path,
    make_tenant,
    world: World,
    captured: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    from web.app import create_app

    acme = await make_tenant("acme")
    price = await world.price("sample")
    await world.subscribe(await world.customer(acme), price)
    created = await caught(captured, "customer.subscription.created")

    # The same app, but Stripe cannot be reached while the event is handled.
    cut_off = app_settings(settings, dead_address(), tmp_path / "cut-off")
    app = create_app(cut_off, db=db, registry=registry)
    async with (
        LiveServer(app) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
    ):
        failed = await post_event(client, created)
    assert failed.status_code == 500, failed.text
    assert failed.json()["error"]["code"] == "internal_error"
    assert await stored(db) == []  # the event's row rolled back with the rest
    assert await account(db, acme) is None
    assert "sample" not in await levels(db, acme)

    retried = await post_event(http, created)  # Stripe's retry, Stripe reachable again
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"received": True, "outcome": "handled"}
    assert (await levels(db, acme))["sample"] == "on"
    assert [row.outcome for row in await stored_of(db, created)] == ["handled"]


async def test_an_unknown_customers_event_and_an_unhandled_type_are_stored_as_ignored(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    stranger = await world.customer(None)  # no workspace in its metadata
    await world.subscribe(stranger, price)
    created = await caught(captured, "customer.subscription.created")
    answer = await post_event(http, created)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": True, "outcome": "ignored"}
    (row,) = await stored_of(db, created)
    assert (row.outcome, row.workspace_id, row.detail) == (
        "ignored",
        None,
        {"reason": "unknown customer", "customer": stranger},
    )

    # A customer naming a workspace that does not exist.
    lost = await world.client.v1.customers.create_async(
        params={"metadata": {WORKSPACE_METADATA: str(uuid.uuid4())}}
    )
    await world.card(lost.id, GOOD_CARD)
    await world.subscribe(lost.id, price)
    second = await caught(captured, "customer.subscription.created", 1)
    assert (await post_event(http, second)).json()["outcome"] == "ignored"
    (row,) = await stored_of(db, second)
    assert row.detail["reason"] == "unknown workspace"

    # A type Atrium does not handle: stored, ignored, 200.
    customer_created = await caught(captured, "customer.created")
    answer = await post_event(http, customer_created)
    assert answer.json() == {"received": True, "outcome": "ignored"}
    (row,) = await stored_of(db, customer_created)
    assert row.detail == {"reason": "not handled"}
    assert await account(db, acme) is None
    assert "sample" not in await levels(db, acme)


async def test_checkout_links_the_customer_and_the_module_is_on_after_its_webhook(
    db: Database, make_tenant, world: World, wired: StripeHarness
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    customer = await world.customer(acme)
    session = await world.client.v1.checkout.sessions.create_async(
        params={
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": "http://127.0.0.1:9/done",
        }
    )
    # The customer pays; the stand-in sends checkout.session.completed before it answers.
    await asyncio.to_thread(wired.pay, session.id)
    assert await delivered(wired, "checkout.session.completed") == [200]
    acct = await account(db, acme)
    assert acct is not None
    assert acct.stripe_customer_id == customer
    assert acct.stripe_subscription_id is not None
    assert acct.status == "active"
    assert (await levels(db, acme))["sample"] == "on"

    # localstripe's own events about the same subscription follow: handled, still on.
    assert await delivered(wired, "customer.subscription.created") == [200]
    assert (await levels(db, acme))["sample"] == "on"
    outcomes = {(row.type, row.outcome) for row in await stored(db)}
    assert ("checkout.session.completed", "handled") in outcomes
    assert ("customer.subscription.created", "handled") in outcomes


async def test_two_workspaces_are_apart(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    price = await world.price("sample")
    acme_customer = await world.customer(acme)
    await world.subscribe(acme_customer, price)
    acme_created = await caught(captured, "customer.subscription.created", 0)
    assert (await post_event(http, acme_created)).status_code == 200
    assert (await levels(db, acme))["sample"] == "on"
    assert "sample" not in await levels(db, beta)
    assert await account(db, beta) is None  # row-level security: beta sees no account

    beta_customer = await world.customer(beta)
    await world.subscribe(beta_customer, price)
    beta_created = await caught(captured, "customer.subscription.created", 1)
    assert (await post_event(http, beta_created)).status_code == 200
    assert (await levels(db, beta))["sample"] == "on"
    acme_acct, beta_acct = await account(db, acme), await account(db, beta)
    assert acme_acct is not None
    assert beta_acct is not None
    assert (acme_acct.stripe_customer_id, beta_acct.stripe_customer_id) == (
        acme_customer,
        beta_customer,
    )

    # Another customer naming acme (a second one, made by mistake): acme keeps its own.
    stray = await world.customer(acme)
    stray_sub = await world.subscribe(stray, price)
    await world.client.v1.subscriptions.cancel_async(stray_sub)
    stray_deleted = await caught(captured, "customer.subscription.deleted")
    answer = await post_event(http, stray_deleted)
    assert answer.json() == {"received": True, "outcome": "ignored"}
    (row,) = await stored_of(db, stray_deleted)
    assert (row.workspace_id, row.detail["reason"]) == (acme.tenant_id, "another customer")
    assert (await levels(db, acme))["sample"] == "on"
    kept = await account(db, acme)
    assert kept is not None
    assert kept.stripe_customer_id == acme_customer
