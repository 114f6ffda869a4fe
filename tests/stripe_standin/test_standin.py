"""The Stripe stand-in, exercised with the official SDK over real HTTP on loopback."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest
import stripe

from tests.stripe_standin import WebhookReceiver, sign
from tests.stripe_standin.fixtures import StripeHarness

SECRET = "whsec_test_standin"


def _get_json(url: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": "Bearer sk_test_direct"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _monthly(client: stripe.StripeClient, product: str, amount: int, lookup_key: str | None):
    params = {"currency": "usd", "unit_amount": amount, "product": product}
    params["recurring"] = {"interval": "month"}
    if lookup_key:
        params["lookup_key"] = lookup_key
    return client.v1.prices.create(params=params)


def test_customers_and_products_live_in_localstripe(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "owner@example.com", "name": "Ada"})
    product = client.v1.products.create(params={"name": "Atrium CRM"})

    assert customer.id.startswith("cus_")
    assert client.v1.customers.retrieve(customer.id).email == "owner@example.com"
    # Forwarded, not imitated: localstripe itself holds them.
    assert (
        _get_json(f"{stripe_standin.localstripe_url}/v1/customers/{customer.id}")["name"] == "Ada"
    )
    assert _get_json(f"{stripe_standin.localstripe_url}/v1/products/{product.id}")["name"] == (
        "Atrium CRM"
    )


def test_prices_with_lookup_keys_and_filters(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    crm = client.v1.products.create(params={"name": "CRM"}).id
    erp = client.v1.products.create(params={"name": "ERP"}).id
    crm_monthly = _monthly(client, crm, 1900, "crm_monthly")
    erp_monthly = _monthly(client, erp, 2900, "erp_monthly")
    _monthly(client, erp, 2500, None)

    assert crm_monthly.id.startswith("price_")
    assert crm_monthly.object == "price"
    assert (crm_monthly.unit_amount, crm_monthly.currency) == (1900, "usd")
    assert crm_monthly.recurring.interval == "month"
    assert crm_monthly.type == "recurring"
    assert client.v1.prices.retrieve(crm_monthly.id).lookup_key == "crm_monthly"

    by_key = client.v1.prices.list(params={"lookup_keys": ["erp_monthly", "crm_monthly"]})
    assert {p.id for p in by_key.data} == {crm_monthly.id, erp_monthly.id}
    assert len(client.v1.prices.list(params={"product": erp}).data) == 2

    client.v1.prices.update(erp_monthly.id, params={"active": False})
    active_erp = client.v1.prices.list(params={"product": erp, "active": True}).data
    assert erp_monthly.id not in [p.id for p in active_erp]
    assert len(active_erp) == 1

    # A lookup key belongs to one price; moving it needs transfer_lookup_key.
    with pytest.raises(stripe.InvalidRequestError) as taken:
        _monthly(client, crm, 2100, "crm_monthly")
    assert taken.value.http_status == 400
    assert "already uses that lookup key" in taken.value.user_message
    newer = client.v1.prices.create(
        params={
            "currency": "usd",
            "unit_amount": 2100,
            "product": crm,
            "recurring": {"interval": "month"},
            "lookup_key": "crm_monthly",
            "transfer_lookup_key": True,
        }
    )
    assert [p.id for p in client.v1.prices.list(params={"lookup_keys": ["crm_monthly"]}).data] == [
        newer.id
    ]
    assert client.v1.prices.retrieve(crm_monthly.id).lookup_key is None


def test_a_price_has_a_localstripe_plan_of_the_same_id(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "HR"}).id
    price = _monthly(client, product, 990, "hr_monthly")

    plan = _get_json(f"{stripe_standin.localstripe_url}/v1/plans/{price.id}")
    assert (plan["amount"], plan["interval"], plan["product"]) == (990, "month", product)


def test_idempotent_retry_returns_the_same_price(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "Finance"}).id
    params = {"currency": "eur", "unit_amount": 500, "product": product, "lookup_key": "fin"}
    params["recurring"] = {"interval": "year"}
    key = f"price-{uuid.uuid4()}"

    first = client.v1.prices.create(params=params, options={"idempotency_key": key})
    again = client.v1.prices.create(params=params, options={"idempotency_key": key})

    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert [p.id for p in client.v1.prices.list(params={"product": product}).data] == [first.id]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.prices.create(
            params={**params, "unit_amount": 600}, options={"idempotency_key": key}
        )


def test_stripe_shaped_errors(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.retrieve("price_nope")
    assert missing.value.http_status == 404
    assert missing.value.error.type == "invalid_request_error"
    assert missing.value.code == "resource_missing"

    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.checkout.sessions.create(
            params={"mode": "subscription", "line_items": [{"price": "price_nope", "quantity": 1}]}
        )
    assert bad.value.http_status == 400
    assert bad.value.param == "line_items[0][price]"

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.prices.create(params={"currency": "usd", "unit_amount": 1, "colour": "red"})
    assert unknown.value.param == "colour"

    with pytest.raises(stripe.InvalidRequestError) as nowhere:
        client.v1.entitlements.features.list()
    assert nowhere.value.http_status == 404
    assert "Unrecognized request URL" in nowhere.value.user_message

    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "not_a_key", base_addresses={"api": stripe_standin.api_base}, max_network_retries=0
        ).v1.prices.list()


def test_checkout_to_subscription_with_signed_webhook(
    stripe_standin: StripeHarness, webhook_receiver: WebhookReceiver
) -> None:
    client = stripe_standin.client()
    stripe_standin.register_webhook(webhook_receiver.url, SECRET)
    customer = client.v1.customers.create(params={"email": "boss@example.com"})
    crm = client.v1.products.create(params={"name": "CRM"}).id
    erp = client.v1.products.create(params={"name": "ERP"}).id
    crm_price = _monthly(client, crm, 1900, "crm_monthly")
    erp_price = _monthly(client, erp, 2900, "erp_monthly")

    session = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": crm_price.id, "quantity": 3}],
            "success_url": "http://127.0.0.1:9/billing/done?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "http://127.0.0.1:9/billing",
            "client_reference_id": "tenant-42",
            "metadata": {"tenant_id": "tenant-42"},
            "subscription_data": {"trial_period_days": 14},
        }
    )
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status, session.subscription) == (
        "open",
        "unpaid",
        None,
    )
    assert session.amount_total == 3 * 1900
    assert session.url.startswith(stripe_standin.api_base)
    page = _page(session.url)
    assert "id='pay'" in page
    assert "14-day free trial" in page

    location = stripe_standin.pay(session.id)

    assert location == f"http://127.0.0.1:9/billing/done?session={session.id}"
    received = webhook_receiver.wait_for("checkout.session.completed", timeout=5)
    event = stripe.Webhook.construct_event(received.payload, received.signature, SECRET)
    completed = event.data.object
    assert completed.id == session.id
    assert completed.status == "complete"
    assert completed.client_reference_id == "tenant-42"
    assert completed.metadata["tenant_id"] == "tenant-42"
    assert completed.subscription.startswith("sub_")
    assert client.v1.checkout.sessions.retrieve(session.id).subscription == completed.subscription

    subscription = client.v1.subscriptions.retrieve(completed.subscription)
    assert subscription.customer == customer.id
    assert subscription.status == "trialing"
    (item,) = subscription["items"].data
    assert item.plan.id == crm_price.id  # localstripe's own field
    assert item.price.id == crm_price.id  # added by the stand-in, as Stripe returns it
    assert item.quantity == 3

    # A second module: another item on the same subscription, with today's `price`.
    added = client.v1.subscription_items.create(
        params={"subscription": subscription.id, "price": erp_price.id, "quantity": 1}
    )
    assert added.subscription == subscription.id
    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    assert sorted(i.price.id for i in items) == sorted([crm_price.id, erp_price.id])
    listed = client.v1.subscription_items.list(params={"subscription": subscription.id}).data
    assert {i.id for i in listed} == {item.id, added.id}
    stored = _get_json(f"{stripe_standin.localstripe_url}/v1/subscription_items/{added.id}")
    assert stored["plan"]["id"] == erp_price.id  # localstripe holds the item itself
    client.v1.subscription_items.delete(added.id)
    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    assert [i.id for i in items] == [item.id]

    # Paid once: the session cannot be paid again.
    status, _, _ = stripe_standin.post_page(f"/checkout/{session.id}/pay")
    assert status == 400


def test_localstripe_events_reach_the_same_endpoint(
    stripe_standin: StripeHarness, webhook_receiver: WebhookReceiver
) -> None:
    stripe_standin.register_webhook(webhook_receiver.url, SECRET)
    customer = stripe_standin.client().v1.customers.create(params={"email": "a@example.com"})

    received = webhook_receiver.wait_for("customer.created", timeout=10)  # localstripe waits 1 s
    event = stripe.Webhook.construct_event(received.payload, received.signature, SECRET)
    assert event.data.object.id == customer.id


def test_events_from_before_a_reset_are_not_delivered(
    stripe_standin: StripeHarness, webhook_receiver: WebhookReceiver
) -> None:
    stripe_standin.client().v1.customers.create(params={"email": "old@example.com"})
    stripe_standin.reset()  # localstripe would still send customer.created a second later
    stripe_standin.register_webhook(webhook_receiver.url, SECRET)
    time.sleep(2.5)
    assert webhook_receiver.events_of("customer.created") == []


def test_declined_card_leaves_the_session_open(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "late@example.com"}).id
    product = client.v1.products.create(params={"name": "OA"}).id
    price = _monthly(client, product, 700, None)
    session = client.v1.checkout.sessions.create(
        params={"mode": "subscription", "customer": customer, "line_items": [{"price": price.id}]}
    )

    status, _, body = stripe_standin.post_page(
        f"/checkout/{session.id}/pay", card="4000000000000341"
    )

    assert status == 402
    assert "declined" in body
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert client.v1.subscriptions.list(params={"customer": customer}).data == []


def test_portal_session(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    customer = client.v1.customers.create(params={"email": "admin@example.com"}).id
    product = client.v1.products.create(params={"name": "CRM"}).id
    price = _monthly(client, product, 1900, None)
    session = client.v1.checkout.sessions.create(
        params={"mode": "subscription", "customer": customer, "line_items": [{"price": price.id}]}
    )
    stripe_standin.pay(session.id)
    subscription = client.v1.checkout.sessions.retrieve(session.id).subscription

    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer, "return_url": "http://127.0.0.1:9/billing"}
    )

    assert portal.object == "billing_portal.session"
    assert portal.id.startswith("bps_")
    assert portal.customer == customer
    page = _page(portal.url)
    assert subscription in page
    assert "http://127.0.0.1:9/billing" in page
    status, location, _ = stripe_standin.post_page(
        f"/billing_portal/{portal.id}/cancel/{subscription}"
    )
    assert (status, location) == (303, f"/billing_portal/{portal.id}")
    assert client.v1.subscriptions.retrieve(subscription).status == "canceled"


def test_bad_signature_fails_construct_event() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "ping"}).encode()
    good = sign(payload, SECRET)

    assert stripe.Webhook.construct_event(payload, good, SECRET).id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, sign(payload, "whsec_wrong"), SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace(b"ping", b"pong"), good, SECRET)


def test_reset_wipes_both(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "CRM"}).id
    _monthly(client, product, 100, "to_be_wiped")

    stripe_standin.reset()

    assert client.v1.prices.list(params={"lookup_keys": ["to_be_wiped"]}).data == []
    assert client.v1.products.list().data == []
