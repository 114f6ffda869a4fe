"""The Stripe stand-in, exercised with the official SDK over real HTTP on loopback."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
import uuid

import pypdf
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


def _paying_subscription(client: stripe.StripeClient, *prices: str) -> stripe.Subscription:
    """A customer paying by card with one subscription: the first price as its first item
    (quantity 2), the others added as items."""
    customer = client.v1.customers.create(params={"email": "payer@example.com"}).id
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2040, "cvc": "123"}
    pm = client.v1.payment_methods.create(params={"type": "card", "card": card}).id
    client.v1.payment_methods.attach(pm, params={"customer": customer})
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": pm}}
    )
    first, *more = prices
    subscription = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": first, "quantity": 2}]}
    )
    for price in more:
        client.v1.subscription_items.create(
            params={"subscription": subscription.id, "price": price, "quantity": 1}
        )
    return subscription


def test_a_quantity_update_is_an_integer_everywhere(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "HR"}).id
    seats, flat = _monthly(client, product, 500, None), _monthly(client, product, 900, None)
    subscription = _paying_subscription(client, seats.id, flat.id)
    first, added = client.v1.subscription_items.list(params={"subscription": subscription.id}).data

    for item, quantity in ((first, 7), (added, 3)):  # the first item and an added one
        updated = client.v1.subscription_items.update(
            item.id,
            params={"quantity": quantity, "proration_behavior": "create_prorations"},
            options={"idempotency_key": f"quantity-{item.id}-{quantity}"},
        )
        assert updated.quantity == quantity  # an integer, as Stripe answers
        assert client.v1.subscription_items.retrieve(item.id).quantity == quantity
        stored = _get_json(f"{stripe_standin.localstripe_url}/v1/subscription_items/{item.id}")
        assert stored["quantity"] == quantity  # localstripe holds the integer itself

    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    assert {i.id: i.quantity for i in items} == {first.id: 7, added.id: 3}
    listed = client.v1.subscription_items.list(params={"subscription": subscription.id}).data
    assert {i.id: i.quantity for i in listed} == {first.id: 7, added.id: 3}
    assert {i.id: i.price.id for i in listed} == {first.id: seats.id, added.id: flat.id}

    for bad in (
        {"quantity": -1},
        {"quantity": "many"},
        {"proration_behavior": "sometimes"},
        {"price": flat.id},  # not served: localstripe cannot change an item's plan
    ):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.subscription_items.update(first.id, params=bad)
        assert refused.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscription_items.update("si_missing", params={"quantity": 2})
    assert missing.value.http_status == 404
    assert client.v1.subscription_items.retrieve(first.id).quantity == 7


def test_items_are_deleted_as_at_stripe_and_a_subscription_ends_at_its_period_end(
    stripe_standin: StripeHarness,
) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "CRM"}).id
    crm, hr, erp = (_monthly(client, product, amount, None) for amount in (900, 500, 700))
    subscription = _paying_subscription(client, crm.id, hr.id)
    first, added = client.v1.subscription_items.list(params={"subscription": subscription.id}).data
    assert client.v1.subscription_items.retrieve(added.id).id == added.id  # a read keeps it

    # The first item goes (prorations asked for; localstripe makes none): the other stays.
    deleted = client.v1.subscription_items.delete(
        first.id, params={"proration_behavior": "create_prorations"}
    )
    assert (deleted.id, deleted.deleted) == (first.id, True)
    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    assert [i.id for i in items] == [added.id]
    listed = client.v1.subscription_items.list(params={"subscription": subscription.id}).data
    assert [i.id for i in listed] == [added.id]
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.subscription_items.delete(first.id)
    assert gone.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as last:  # as Stripe: cancel it instead
        client.v1.subscription_items.delete(added.id, params={"proration_behavior": "none"})
    assert "at least one active plan" in str(last.value)

    # An item added with prorations, then the whole subscription set to end and back.
    more = client.v1.subscription_items.create(
        params={
            "subscription": subscription.id,
            "price": erp.id,
            "quantity": 1,
            "proration_behavior": "create_prorations",
        }
    )
    items = client.v1.subscriptions.retrieve(subscription.id)["items"].data
    assert sorted(i.id for i in items) == sorted([added.id, more.id])
    for flag in (True, False):
        updated = client.v1.subscriptions.update(
            subscription.id, params={"cancel_at_period_end": flag}
        )
        assert updated.cancel_at_period_end is flag
        assert client.v1.subscriptions.retrieve(subscription.id).cancel_at_period_end is flag


def test_invoices_have_a_number_a_page_and_a_pdf(stripe_standin: StripeHarness) -> None:
    client = stripe_standin.client()
    product = client.v1.products.create(params={"name": "Finance"}).id
    price = _monthly(client, product, 1250, None)
    subscription = _paying_subscription(client, price.id)

    [invoice] = client.v1.invoices.list(params={"customer": subscription.customer}).data
    assert invoice.status == "paid"
    assert invoice.amount_due == invoice.amount_paid == 2 * 1250
    assert invoice.number.endswith("-0001")
    assert client.v1.invoices.retrieve(invoice.id).number == invoice.number  # stable
    assert invoice.hosted_invoice_url == f"{stripe_standin.api_base}/invoices/{invoice.id}"
    assert invoice.invoice_pdf == f"{invoice.hosted_invoice_url}.pdf"

    with urllib.request.urlopen(invoice.invoice_pdf, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/pdf"
        pdf = response.read()
    assert pdf.startswith(b"%PDF-")
    text = pypdf.PdfReader(io.BytesIO(pdf), strict=True).pages[0].extract_text()
    assert invoice.number in text
    assert "25.00 USD" in text
    page = _page(invoice.hosted_invoice_url)
    assert invoice.number in page
    assert f"href='{invoice.invoice_pdf}'" in page
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(f"{stripe_standin.api_base}/invoices/in_missing.pdf", timeout=10)
    assert unknown.value.code == 404


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
